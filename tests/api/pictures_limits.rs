//! What an upload may cost: the per-user hourly limit, the decode memory
//! budget (taken only once the body is read and checked), and the real
//! binary's peak memory under a burst of 16-bit PNG bombs.

use std::io::Write;
use std::time::{Duration, Instant};

use image::ImageFormat;
use reqwest::{StatusCode, multipart};
use serde_json::Value;

use crate::helpers::binary::Server;
use crate::helpers::{Backend, DATA_ENCRYPTION_KEY, JWT_SECRET, assert_problem, header, spawn_app};
use crate::pictures::{Setup, Store, encode, photo, png_header, upload};

fn small_png(seed: u32) -> Vec<u8> {
    encode(&photo(40 + seed, 40), ImageFormat::Png)
}

async fn uploads_past_the_hourly_limit_are_429(backend: Backend) {
    let Some(setup) = Setup::new(backend, Store::Local, |c| c.picture_upload_limit = 2).await
    else {
        return;
    };
    let app = &setup.app;
    let (_, token, _) = app.verified_user("eager@example.com").await;
    let mut last = Value::Null;
    for seed in 0..2 {
        let response = upload(app, "/me/picture", &token, "a.png", small_png(seed)).await;
        assert_eq!(response.status(), StatusCode::OK);
        last = response.json().await.expect("json");
    }

    let refused = upload(app, "/me/picture", &token, "a.png", small_png(2)).await;

    let wait: u64 = header(&refused, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((3500..=3600).contains(&wait), "Retry-After {wait}");
    let body = assert_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["title"], "Too Many Requests");
    let me: Value = app
        .get("/me", Some(&token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        me["profile_picture_url"], last["profile_picture_url"],
        "unchanged"
    );
    assert_eq!(setup.objects().await.len(), 1);
    let (_, other, _) = app.verified_user("patient@example.com").await;
    let theirs = upload(app, "/me/picture", &other, "b.png", small_png(3)).await;
    assert_eq!(theirs.status(), StatusCode::OK, "each user has their own");
}

/// Sends `upload` and returns the answer and how long it took.
async fn timed(upload: impl Future<Output = reqwest::Response>) -> (reqwest::Response, Duration) {
    let start = Instant::now();
    let response = upload.await;
    (response, start.elapsed())
}

async fn a_full_budget_delays_only_uploads_that_were_read_and_checked(backend: Backend) {
    let Some(setup) = Setup::new(backend, Store::Local, |c| {
        c.avatar_max_bytes = 200_000;
        c.picture_decode_budget_mib = 64;
        c.picture_decode_wait = Duration::from_secs(3);
    })
    .await
    else {
        return;
    };
    let app = &setup.app;
    let (_, token, _) = app.verified_user("queued@example.com").await;
    let held = app
        .state
        .decode_budget
        .try_take_mib(64)
        .expect("the whole budget");

    let big = vec![0x89; 300_000];
    let (oversized, took) = timed(upload(app, "/me/picture", &token, "big.png", big)).await;
    assert_problem(oversized, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(took < Duration::from_secs(2), "413 at once, took {took:?}");
    // 4000×4000 RGBA needs 61 MiB decoded, plus the working set: over 64.
    let bomb = png_header(4000, 4000, 16, 6);
    let (never, took) = timed(upload(app, "/me/picture", &token, "bomb.png", bomb)).await;
    let body = assert_problem(never, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "file");
    assert!(took < Duration::from_secs(2), "422 at once, took {took:?}");
    let (busy, took) = timed(upload(app, "/me/picture", &token, "a.png", small_png(0))).await;
    assert_eq!(header(&busy, "retry-after").as_deref(), Some("5"));
    assert_problem(busy, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(took >= Duration::from_millis(2900), "it waited: {took:?}");

    drop(held);
    let (stored, _) = timed(upload(app, "/me/picture", &token, "a.png", small_png(1))).await;
    assert_eq!(stored.status(), StatusCode::OK);
    assert_eq!(app.state.decode_budget.available_mib(), 64, "given back");
    assert_eq!(setup.objects().await.len(), 1);
}

crate::on_both_databases!(
    uploads_past_the_hourly_limit_are_429,
    a_full_budget_delays_only_uploads_that_were_read_and_checked,
);

/// A 16-bit RGBA PNG of `side`² pixels, all one colour: a few hundred
/// KiB that `image` would decode to 8 bytes a pixel.
fn png16_bomb(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().expect("header");
    let mut stream = writer.stream_writer().expect("stream");
    let row: Vec<u8> = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xff, 0xff]
        .into_iter()
        .cycle()
        .take(side as usize * 8)
        .collect();
    for _ in 0..side {
        stream.write_all(&row).expect("row");
    }
    stream.finish().expect("finish");
    writer.finish().expect("finish");
    out
}

/// A `VmRSS` or `VmHWM` line of `/proc/{pid}/status`, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {status}"))
}

const BUDGET_MIB: u64 = 64;
const BOMBS: usize = 4;
const BOMB_SIDE: u32 = 3000;

/// The real binary on `app`'s database, with a `BUDGET_MIB` decode budget.
fn service_on(app: &crate::helpers::TestApp, objects: &std::path::Path) -> Server {
    let storage = format!("file://{}", objects.display());
    let budget = BUDGET_MIB.to_string();
    let env = [
        ("DATABASE_URL", app.config.database_url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("DATA_ENCRYPTION_KEY", DATA_ENCRYPTION_KEY),
        ("PUBLIC_BASE_URL", "http://localhost:8000"),
        ("STORAGE_URL", storage.as_str()),
        ("PICTURE_DECODE_BUDGET_MIB", budget.as_str()),
        ("PICTURE_DECODE_WAIT", "120s"),
        ("PICTURE_UPLOAD_LIMIT", "0"),
        ("REQUEST_TIMEOUT", "120s"),
        ("LOG_FORMAT", "json"),
    ];
    tokio::task::block_in_place(|| Server::start(&env, &[]))
}

async fn put_picture(base: &str, token: &str, bytes: Vec<u8>) -> StatusCode {
    let part = multipart::Part::bytes(bytes).file_name("bomb.png");
    reqwest::Client::new()
        .put(format!("{base}/me/picture"))
        .bearer_auth(token)
        .multipart(multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("request")
        .status()
}

/// Four 16-bit bombs of 3000×3000 at once: decoded by `image` at 16 bits
/// each held 72 MB plus a 36 MB 8-bit copy, two at a time (one per core).
/// Decoded at 8 bits, one at a time in a 64 MiB budget (each needs 59), the
/// service's peak stays within the budget of its resting size.
async fn a_burst_of_16_bit_bombs_stays_within_the_decode_budget(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, token, _) = app.verified_user("bomber@example.com").await;
    let objects = tempfile::tempdir().expect("objects");
    let server = service_on(&app, objects.path());
    let base = server.base();
    let pid = server.pid();
    let bomb = png16_bomb(BOMB_SIDE);
    assert!(bomb.len() < 1 << 20, "a small file: {} bytes", bomb.len());
    let warm_up = put_picture(&base, &token, small_png(0)).await;
    assert_eq!(warm_up, StatusCode::OK);
    // Forget the peak so far (start-up, warm-up): VmHWM restarts from VmRSS.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let resting = memory_kib(pid, "VmRSS");

    let burst = (0..BOMBS).map(|_| put_picture(&base, &token, bomb.clone()));
    let statuses = futures_util::future::join_all(burst).await;

    let peak = memory_kib(pid, "VmHWM");
    eprintln!(
        "{BOMBS} bombs of {} bytes: resting {resting} KiB, peak {peak} KiB, budget {BUDGET_MIB} MiB",
        bomb.len()
    );
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "every bomb was decoded in its turn: {statuses:?}"
    );
    let bound = resting + (BUDGET_MIB + 32) * 1024;
    assert!(
        peak <= bound,
        "peak {peak} KiB over {bound} KiB (resting {resting} KiB + budget + 32 MiB)"
    );
}

crate::on_both_databases!(a_burst_of_16_bit_bombs_stays_within_the_decode_budget);

//! The machine's ceilings for the load scenarios of `bench/run.sh`, as JSON.
//!
//! `cargo bench --bench ceilings` (no criterion: a plain timed loop, because
//! the figure wanted is a rate on all cores, not a per-call distribution):
//!
//! - `argon2_verify_per_sec`, `argon2_hash_per_sec`: what the production
//!   hashing pool (`PasswordHashing::with_defaults()`: Argon2id m=19 MiB,
//!   t=2, p=1, one slot per core) completes per second when every slot is
//!   busy — the ceiling of `POST /login` and `POST /register`;
//! - `pictures_per_sec`: what `pictures::pipeline::process` (decode, crop,
//!   resize to 512×512, encode) completes per second on a 2000×1500 JPEG
//!   with one thread per core — the ceiling of `PUT /me/picture`;
//! - single-call latencies of each, for reference.
//!
//! Environment: `CEILING_SECS` (measurement per figure, default 5),
//! `CEILING_ONLY` (comma-separated subset of `verify,hash,pictures`; the
//! harness measures each ceiling again right before its scenario),
//! `CEILINGS_OUT` (also write the JSON there), `BENCH_JPEG_OUT` (write the
//! sample JPEG there, for the upload scenario to send the same bytes).

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use user_management::auth::hashing::{PasswordHashing, Verdict};
use user_management::pictures::pipeline;

const PASSWORD: &str = "bench-password-0123";

fn secret() -> SecretString {
    SecretString::from(PASSWORD.to_owned())
}

/// Operations per second of `op` on the production pool with every slot
/// busy: twice as many callers as slots, like a login flood.
fn pool_rate<F, Fut>(
    rt: &tokio::runtime::Runtime,
    callers: usize,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let (op, stop, counting, done) = (
                    Arc::clone(&op),
                    Arc::clone(&stop),
                    Arc::clone(&counting),
                    Arc::clone(&done),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        op().await;
                        if counting.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(warmup).await;
        counting.store(true, Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        for task in tasks {
            task.await.expect("caller task");
        }
        done.load(Ordering::Relaxed) as f64 / elapsed
    })
}

/// Mean wall time of `n` sequential calls, in milliseconds.
fn mean_ms(n: u32, mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    started.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
}

/// How long each figure is measured, and which figures are wanted.
struct Run {
    duration: Duration,
    warmup: Duration,
    cores: usize,
    only: String,
}

impl Run {
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.split(',').any(|o| o.trim() == name)
    }
}

fn main() {
    let secs: f64 = std::env::var("CEILING_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let run = Run {
        duration: Duration::from_secs_f64(secs),
        warmup: Duration::from_secs(1),
        cores: support::cores(),
        only: std::env::var("CEILING_ONLY").unwrap_or_default(),
    };
    let mut json = serde_json::json!({
        "cores": run.cores,
        "seconds_per_figure": secs,
    });
    if run.wants("verify") || run.wants("hash") {
        hashing_ceilings(&run, &mut json);
    }
    if run.wants("pictures") {
        picture_ceilings(&run, &mut json);
    }
    let text = json.to_string();
    if let Ok(path) = std::env::var("CEILINGS_OUT") {
        std::fs::write(&path, &text).expect("write CEILINGS_OUT");
    }
    println!("{text}");
}

/// Argon2id verify and hash, single and on the service's pool.
fn hashing_ceilings(run: &Run, json: &mut serde_json::Value) {
    let Run {
        duration,
        warmup,
        cores,
        ..
    } = *run;
    // Same shape as the service: a multi-threaded runtime with one worker
    // per core, the hashing pool beside it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hashing = PasswordHashing::with_defaults().expect("pool");
    let stored = rt.block_on(hashing.hash(secret())).expect("hash");
    assert_eq!(
        rt.block_on(hashing.verify(secret(), stored.clone()))
            .expect("verify"),
        Verdict::Match
    );
    json["argon2_params"] = stored.split('$').nth(3).unwrap_or_default().into();
    if run.wants("verify") {
        json["argon2_verify_ms_single"] = mean_ms(5, || {
            rt.block_on(hashing.verify(secret(), stored.clone()))
                .expect("verify");
        })
        .into();
        eprintln!("ceilings: argon2id verify on {cores} slots for {duration:?} …");
        let (hashing, stored) = (hashing.clone(), stored.clone());
        json["argon2_verify_per_sec"] = pool_rate(&rt, cores * 2, warmup, duration, move || {
            let (hashing, stored) = (hashing.clone(), stored.clone());
            async move {
                hashing.verify(secret(), stored).await.expect("verify");
            }
        })
        .into();
    }
    if run.wants("hash") {
        json["argon2_hash_ms_single"] = mean_ms(5, || {
            rt.block_on(hashing.hash(secret())).expect("hash");
        })
        .into();
        eprintln!("ceilings: argon2id hash on {cores} slots for {duration:?} …");
        json["argon2_hash_per_sec"] = pool_rate(&rt, cores * 2, warmup, duration, move || {
            let hashing = hashing.clone();
            async move {
                hashing.hash(secret()).await.expect("hash");
            }
        })
        .into();
    }
}

/// The picture pipeline on a sample photo, single and on every core.
fn picture_ceilings(run: &Run, json: &mut serde_json::Value) {
    let jpeg = support::sample_jpeg(support::PHOTO_WIDTH, support::PHOTO_HEIGHT);
    if let Ok(path) = std::env::var("BENCH_JPEG_OUT") {
        std::fs::write(&path, &jpeg).expect("write the sample JPEG");
    }
    let processed = pipeline::process(&jpeg).expect("the sample JPEG processes");
    assert_eq!(processed.extension, "jpg");
    json["picture_input"] = serde_json::json!({
        "width": support::PHOTO_WIDTH,
        "height": support::PHOTO_HEIGHT,
        "bytes": jpeg.len(),
    });
    json["picture_ms_single"] = mean_ms(3, || {
        pipeline::process(&jpeg).expect("process");
    })
    .into();
    let cores = run.cores;
    eprintln!(
        "ceilings: picture pipeline on {cores} threads for {:?} …",
        run.duration
    );
    let jpeg = Arc::new(jpeg);
    json["pictures_per_sec"] =
        support::rate_on_threads(cores, run.warmup, run.duration, move || {
            std::hint::black_box(pipeline::process(&jpeg).expect("process"));
        })
        .into();
}

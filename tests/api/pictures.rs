//! Profile pictures against a real S3-compatible server (s3s-fs on
//! loopback, checked with our own S3 client) and the local filesystem.

use std::io::Cursor;

use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb};
use reqwest::{Method, StatusCode, multipart};
use serde_json::Value;

use crate::helpers::{Backend, S3Server, TestApp, assert_problem, path_of, spawn_app_with};

/// Where pictures go in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    Local,
    S3,
}

/// Runs `async fn $name(backend, store)` as `sqlite_local`, `sqlite_s3` and `postgres_s3`.
macro_rules! on_each_store {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::Store;
                use $crate::helpers::Backend;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_local() { super::$name(Backend::Sqlite, Store::Local).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_s3() { super::$name(Backend::Sqlite, Store::S3).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_s3() { super::$name(Backend::Postgres, Store::S3).await }
            }
        )*
    };
}

/// An app with an environment admin, on `store`.
pub(crate) struct Setup {
    pub(crate) app: TestApp,
    s3: Option<S3Server>,
}

impl Setup {
    pub(crate) async fn new(
        backend: Backend,
        store: Store,
        configure: impl FnOnce(&mut user_management::config::Config),
    ) -> Option<Setup> {
        let s3 = match store {
            Store::S3 => Some(S3Server::start().await?),
            Store::Local => None,
        };
        let app = spawn_app_with(backend, |c| {
            c.admin_email = Some(crate::helpers::ADMIN_EMAIL.into());
            c.admin_password = Some(secrecy::SecretString::from(
                crate::helpers::ADMIN_PASSWORD.to_owned(),
            ));
            if let Some(s3) = &s3 {
                s3.configure(c);
            }
            configure(c);
        })
        .await?;
        Some(Setup { app, s3 })
    }

    /// Every stored object key, read from the store itself (not through the service).
    pub(crate) async fn objects(&self) -> Vec<String> {
        match &self.s3 {
            Some(s3) => s3.keys().await,
            None => {
                let root = self
                    .app
                    .config
                    .storage_url
                    .trim_start_matches("file://")
                    .to_owned();
                let mut keys = Vec::new();
                let mut dirs = vec![std::path::PathBuf::from(&root)];
                while let Some(dir) = dirs.pop() {
                    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                        if entry.path().is_dir() {
                            dirs.push(entry.path());
                        } else {
                            let key = entry
                                .path()
                                .strip_prefix(&root)
                                .expect("under root")
                                .to_string_lossy()
                                .into_owned();
                            keys.push(key);
                        }
                    }
                }
                keys.sort();
                keys
            }
        }
    }

    /// Puts an object straight into the store, bypassing the service (as
    /// an upload that lost a race used to leave one behind).
    async fn plant(&self, key: &str, bytes: Vec<u8>) {
        match &self.s3 {
            Some(s3) => {
                use object_store::ObjectStoreExt;
                s3.client()
                    .put(&object_store::path::Path::from(key), bytes.into())
                    .await
                    .expect("put object");
            }
            None => {
                let root = self.app.config.storage_url.trim_start_matches("file://");
                let path = std::path::Path::new(root).join(key);
                std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
                std::fs::write(path, bytes).expect("object file");
            }
        }
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        match &self.s3 {
            Some(s3) => s3.object(key).await,
            None => {
                let root = self.app.config.storage_url.trim_start_matches("file://");
                std::fs::read(std::path::Path::new(root).join(key)).expect("object file")
            }
        }
    }
}

pub(crate) fn photo(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, y| {
        Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
    }))
}

pub(crate) fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), format)
        .expect("encode");
    out
}

/// A JPEG with an EXIF segment carrying GPS coordinates.
fn jpeg_with_gps() -> Vec<u8> {
    let jpeg = encode(&photo(64, 48), ImageFormat::Jpeg);
    let mut payload = b"Exif\0\0MM\0*\0\0\0\x08".to_vec();
    payload.extend_from_slice(b"GPSLatitude=52.5200N;GPSLongitude=13.4050E");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(
        &u16::try_from(payload.len() + 2)
            .expect("small")
            .to_be_bytes(),
    );
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

pub(crate) async fn upload(
    app: &TestApp,
    path: &str,
    token: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let part = multipart::Part::bytes(bytes).file_name(name.to_owned());
    app.request(Method::PUT, path)
        .bearer_auth(token)
        .multipart(multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("request")
}

/// The picture at `url` is served as a cacheable 512×512 JPEG; returns
/// its bytes.
async fn assert_served_as_a_512_jpeg(app: &TestApp, url: &str, format: ImageFormat) -> Vec<u8> {
    let served = app.get(&path_of(url), None).await;
    assert_eq!(served.status(), StatusCode::OK, "{format:?}");
    assert_eq!(
        served.headers()["content-type"],
        "image/jpeg",
        "a photo is stored as JPEG"
    );
    assert!(
        served.headers()["cache-control"]
            .to_str()
            .expect("ascii")
            .contains("max-age=31536000")
    );
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    let etag = served.headers()["etag"].clone();
    let bytes = served.bytes().await.expect("bytes");
    let again = app
        .request(Method::GET, &path_of(url))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        again.headers()["cache-control"],
        "public, max-age=31536000, immutable",
        "a 304 repeats the caching rule"
    );
    let decoded = image::load_from_memory(&bytes).expect("served image decodes");
    assert_eq!(
        (decoded.width(), decoded.height()),
        (512, 512),
        "{format:?}"
    );
    bytes.to_vec()
}

async fn each_format_becomes_a_stored_512_square(backend: Backend, store: Store) {
    let Some(setup) = Setup::new(backend, store, |_| {}).await else {
        return;
    };
    let app = &setup.app;
    let (id, token, _) = app.verified_user("pics@example.com").await;

    for (format, name) in [
        (ImageFormat::Png, "a.png"),
        (ImageFormat::Jpeg, "b.jpg"),
        (ImageFormat::WebP, "c.webp"),
        (ImageFormat::Gif, "d.gif"),
    ] {
        let response = upload(
            app,
            "/me/picture",
            &token,
            name,
            encode(&photo(300, 200), format),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{format:?}");
        let user: Value = response.json().await.expect("json");
        let url = user["profile_picture_url"]
            .as_str()
            .expect("url")
            .to_owned();
        assert!(
            url.starts_with(&format!("http://localhost:8000/pictures/{id}/")),
            "{url}"
        );

        let bytes = assert_served_as_a_512_jpeg(app, &url, format).await;

        let objects = setup.objects().await;
        assert_eq!(
            objects.len(),
            1,
            "the previous picture was deleted: {objects:?}"
        );
        assert!(
            objects[0].starts_with(&format!("avatars/{id}/")),
            "{objects:?}"
        );
        assert_eq!(setup.object(&objects[0]).await, bytes, "served = stored");
    }
}

async fn exif_and_gps_are_removed(backend: Backend, store: Store) {
    let Some(setup) = Setup::new(backend, store, |_| {}).await else {
        return;
    };
    let (_, token, _) = setup.app.verified_user("gps@example.com").await;
    let input = jpeg_with_gps();
    assert!(
        input.windows(11).any(|w| w == b"GPSLatitude"),
        "the fixture carries GPS"
    );

    let response = upload(&setup.app, "/me/picture", &token, "holiday.jpg", input).await;

    assert_eq!(response.status(), StatusCode::OK);
    let objects = setup.objects().await;
    let stored = setup.object(&objects[0]).await;
    assert!(
        !stored.windows(11).any(|w| w == b"GPSLatitude"),
        "GPS data survived"
    );
    assert!(!stored.windows(4).any(|w| w == b"Exif"), "EXIF survived");
}

async fn replacing_deletes_the_old_object_and_url(backend: Backend, store: Store) {
    let Some(setup) = Setup::new(backend, store, |_| {}).await else {
        return;
    };
    let app = &setup.app;
    let (_, token, _) = app.verified_user("swap@example.com").await;
    let first: Value = upload(
        app,
        "/me/picture",
        &token,
        "1.png",
        encode(&photo(100, 100), ImageFormat::Png),
    )
    .await
    .json()
    .await
    .expect("json");
    let first_url = first["profile_picture_url"]
        .as_str()
        .expect("url")
        .to_owned();

    let second: Value = upload(
        app,
        "/me/picture",
        &token,
        "2.png",
        encode(&photo(90, 120), ImageFormat::Png),
    )
    .await
    .json()
    .await
    .expect("json");

    let second_url = second["profile_picture_url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert_ne!(first_url, second_url, "the key follows the content");
    assert_eq!(setup.objects().await.len(), 1);
    assert_eq!(
        app.get(&path_of(&first_url), None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&path_of(&second_url), None).await.status(),
        StatusCode::OK
    );
}

async fn users_without_a_picture_get_their_initials(backend: Backend, store: Store) {
    let Some(setup) = Setup::new(backend, store, |_| {}).await else {
        return;
    };
    let app = &setup.app;
    let (id, token, _) = app.verified_user("initials@example.com").await;
    app.request(Method::PATCH, "/me")
        .bearer_auth(&token)
        .json(&serde_json::json!({"first_name": "Ada", "last_name": "Lovelace"}))
        .send()
        .await
        .expect("patch");

    let me: Value = app
        .get("/me", Some(&token))
        .await
        .json()
        .await
        .expect("json");

    let url = me["profile_picture_url"].as_str().expect("url");
    assert_eq!(
        url,
        format!("http://localhost:8000/pictures/{id}/default.svg")
    );
    let served = app.get(&path_of(url), None).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/svg+xml");
    assert!(served.text().await.expect("svg").contains(">AL</text>"));
    let nickname = me["nickname"].as_str().expect("nickname");
    let profile: Value = app
        .get(&format!("/profiles/{nickname}"), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        profile["profile_picture_url"], url,
        "public profiles show it too"
    );
}

async fn removing_the_picture_deletes_the_object(backend: Backend, store: Store) {
    let Some(setup) = Setup::new(backend, store, |_| {}).await else {
        return;
    };
    let app = &setup.app;
    let (id, token, _) = app.verified_user("remove@example.com").await;
    upload(
        app,
        "/me/picture",
        &token,
        "a.png",
        encode(&photo(50, 50), ImageFormat::Png),
    )
    .await;
    assert_eq!(setup.objects().await.len(), 1);

    let response = app
        .request(Method::DELETE, "/me/picture")
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");

    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.expect("json");
    assert!(
        me["profile_picture_url"]
            .as_str()
            .expect("url")
            .ends_with(&format!("{id}/default.svg"))
    );
    assert!(setup.objects().await.is_empty());
}

/// A JSON body, or a form without a `file` part, is refused.
async fn assert_a_body_without_a_file_is_refused(app: &TestApp, token: &str) {
    let json = app
        .request(Method::PUT, "/me/picture")
        .bearer_auth(token)
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .expect("request");
    assert_problem(json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let no_file = app
        .request(Method::PUT, "/me/picture")
        .bearer_auth(token)
        .multipart(multipart::Form::new().text("other", "x"))
        .send()
        .await
        .expect("request");
    assert_problem(no_file, StatusCode::UNPROCESSABLE_ENTITY).await;
}

async fn bad_uploads_are_refused_and_change_nothing(backend: Backend, store: Store) {
    let Some(setup) = Setup::new(backend, store, |c| c.avatar_max_bytes = 20_000).await else {
        return;
    };
    let app = &setup.app;
    let (_, token, _) = app.verified_user("bad@example.com").await;
    let before: Value = app
        .get("/me", Some(&token))
        .await
        .json()
        .await
        .expect("json");

    let big = vec![0x89; 30_000];
    assert_problem(
        upload(app, "/me/picture", &token, "big.png", big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let text = b"I am not an image, whatever my name says".to_vec();
    assert_problem(
        upload(app, "/me/picture", &token, "fake.png", text).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    let truncated = encode(&photo(100, 100), ImageFormat::Png)[..60].to_vec();
    assert_problem(
        upload(app, "/me/picture", &token, "cut.png", truncated).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    let bomb = png_header_only(100_000, 100_000);
    let body = assert_problem(
        upload(app, "/me/picture", &token, "bomb.png", bomb).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "file");
    assert_a_body_without_a_file_is_refused(app, &token).await;
    let after: Value = app
        .get("/me", Some(&token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(before["profile_picture_url"], after["profile_picture_url"]);
    assert!(setup.objects().await.is_empty());
}

/// A PNG declaring `width × height`, with a token IDAT chunk: what a
/// decompression bomb looks like before anyone inflates it.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    png_header(width, height, 8, 2)
}

/// As [`png_header_only`], at `depth` bits in PNG colour type `color_type`.
pub(crate) fn png_header(width: u32, height: u32, depth: u8, color_type: u8) -> Vec<u8> {
    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        let mut crc = 0xFFFF_FFFFu32;
        for byte in &body {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        let mut out = u32::try_from(data.len())
            .expect("small")
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(&body);
        out.extend_from_slice(&(!crc).to_be_bytes());
        out
    }
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color_type, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// Uploads a small PNG as the picture of user `id`, as `token`.
async fn upload_for(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    let png = encode(&photo(40, 40), ImageFormat::Png);
    upload(app, &format!("/users/{id}/picture"), token, "a.png", png).await
}

async fn staff_upload_for_others_within_reach(backend: Backend, store: Store) {
    let Some(setup) = Setup::new(backend, store, |_| {}).await else {
        return;
    };
    let app = &setup.app;
    let (_, admin) = app.admin().await;
    let (member_id, member) = app
        .user_with_role("member@example.com", "AUTHENTICATED")
        .await;
    let (manager_id, manager) = app.user_with_role("manager@example.com", "MANAGER").await;
    let (other_manager_id, _) = app.user_with_role("manager2@example.com", "MANAGER").await;

    let by_admin = upload_for(app, &admin, &manager_id).await;
    assert_eq!(by_admin.status(), StatusCode::OK);
    let by_manager = upload_for(app, &manager, &member_id).await;
    assert_eq!(by_manager.status(), StatusCode::OK);
    let over_reach = upload_for(app, &manager, &other_manager_id).await;
    assert_problem(over_reach, StatusCode::FORBIDDEN).await;
    let by_member = upload_for(app, &member, &manager_id).await;
    assert_problem(by_member, StatusCode::FORBIDDEN).await;
    assert_eq!(setup.objects().await.len(), 2);

    let removed = app
        .request(Method::DELETE, &format!("/users/{member_id}/picture"))
        .bearer_auth(&manager)
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(setup.objects().await.len(), 1);

    let deleted = app
        .request(Method::DELETE, &format!("/users/{manager_id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete user");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(
        setup.objects().await.is_empty(),
        "deleting a user deletes its pictures"
    );
}

/// The keys under `id`'s prefix.
async fn objects_of(setup: &Setup, id: &str) -> Vec<String> {
    let prefix = format!("avatars/{id}/");
    let mut keys = setup.objects().await;
    keys.retain(|k| k.starts_with(&prefix));
    keys
}

async fn concurrent_uploads_leave_exactly_one_object(backend: Backend, store: Store) {
    let Some(setup) = Setup::new(backend, store, |_| {}).await else {
        return;
    };
    let app = &setup.app;
    let (id, token, _) = app.verified_user("racer@example.com").await;

    let uploads = (0..5u32).map(|i| {
        let png = encode(&photo(60 + 7 * i, 50), ImageFormat::Png);
        upload(app, "/me/picture", &token, "race.png", png)
    });
    let responses = futures_util::future::join_all(uploads).await;

    let mut stored = 0;
    for response in responses {
        if response.status() == StatusCode::OK {
            stored += 1;
        } else {
            let body = assert_problem(response, StatusCode::CONFLICT).await;
            assert!(
                body["detail"].as_str().expect("detail").contains("changed"),
                "{body}"
            );
        }
    }
    assert!(stored >= 1, "one upload wins");
    let objects = objects_of(&setup, &id).await;
    assert_eq!(objects.len(), 1, "the losers removed theirs: {objects:?}");
    let me: Value = app
        .get("/me", Some(&token))
        .await
        .json()
        .await
        .expect("json");
    let url = me["profile_picture_url"].as_str().expect("url");
    let file = objects[0].rsplit('/').next().expect("file");
    assert!(url.ends_with(&format!("/{id}/{file}")), "{url} {objects:?}");
    assert_eq!(app.get(&path_of(url), None).await.status(), StatusCode::OK);
}

/// Uploads a picture for `token`, plants a stray object beside it, checks
/// both are served; returns their paths.
async fn picture_and_stray(setup: &Setup, id: &str, token: &str) -> [String; 2] {
    let app = &setup.app;
    let png = encode(&photo(64, 64), ImageFormat::Png);
    let user: Value = upload(app, "/me/picture", token, "a.png", png)
        .await
        .json()
        .await
        .expect("json");
    let picture = path_of(user["profile_picture_url"].as_str().expect("url"));
    let stray = encode(&photo(32, 32), ImageFormat::Jpeg);
    setup
        .plant(&format!("avatars/{id}/0123456789abcdef.jpg"), stray)
        .await;
    let stray = format!("/pictures/{id}/0123456789abcdef.jpg");
    for path in [&picture, &stray] {
        assert_eq!(app.get(path, None).await.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(objects_of(setup, id).await.len(), 2);
    [picture, stray]
}

async fn assert_gone(setup: &Setup, id: &str, paths: &[String]) {
    assert_eq!(objects_of(setup, id).await, Vec::<String>::new());
    for path in paths {
        let status = setup.app.get(path, None).await.status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} is still served");
    }
}

async fn removal_and_account_deletion_empty_the_users_prefix(backend: Backend, store: Store) {
    let Some(setup) = Setup::new(backend, store, |_| {}).await else {
        return;
    };
    let app = &setup.app;
    let (_, admin) = app.admin().await;
    let (id, token, _) = app.verified_user("sweep@example.com").await;
    let (other, other_token, _) = app.verified_user("neighbour@example.com").await;
    let png = encode(&photo(40, 40), ImageFormat::Png);
    let kept = upload(app, "/me/picture", &other_token, "n.png", png).await;
    assert_eq!(kept.status(), StatusCode::OK);

    let paths = picture_and_stray(&setup, &id, &token).await;
    let removed = app
        .request(Method::DELETE, "/me/picture")
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status(), StatusCode::OK);
    assert_gone(&setup, &id, &paths).await;

    let paths = picture_and_stray(&setup, &id, &token).await;
    let deleted = app.delete_user(&admin, &id).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_gone(&setup, &id, &paths).await;
    assert_eq!(
        objects_of(&setup, &other).await.len(),
        1,
        "another user's picture stays"
    );
}

/// As `on_each_store!`, and `postgres_local` too.
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::Store;
                use $crate::helpers::Backend;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_local() { super::$name(Backend::Sqlite, Store::Local).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_local() { super::$name(Backend::Postgres, Store::Local).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_s3() { super::$name(Backend::Sqlite, Store::S3).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_s3() { super::$name(Backend::Postgres, Store::S3).await }
            }
        )*
    };
}

on_every_store!(
    concurrent_uploads_leave_exactly_one_object,
    removal_and_account_deletion_empty_the_users_prefix,
);

on_each_store!(
    each_format_becomes_a_stored_512_square,
    exif_and_gps_are_removed,
    replacing_deletes_the_old_object_and_url,
    users_without_a_picture_get_their_initials,
    removing_the_picture_deletes_the_object,
    bad_uploads_are_refused_and_change_nothing,
    staff_upload_for_others_within_reach,
);

/// Storage outage: 503 with the user unchanged, `/ready` 503 while `/health`
/// stays 200; recovery without a restart.
/// While the store is down: an upload and a removal answer 503, `/ready`
/// 503 while `/health` stays 200, and the user's picture (`first`) is unchanged.
async fn assert_unavailable_and_unchanged(app: &TestApp, token: &str, first: &Value) {
    let response = upload(
        app,
        "/me/picture",
        token,
        "b.png",
        encode(&photo(70, 50), ImageFormat::Png),
    )
    .await;
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    let removal = app
        .request(Method::DELETE, "/me/picture")
        .bearer_auth(token)
        .send()
        .await
        .expect("delete");
    assert_problem(removal, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        app.get("/ready", None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
    let me: Value = app
        .get("/me", Some(token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        me["profile_picture_url"], first["profile_picture_url"],
        "the row is unchanged"
    );
}

async fn storage_down_is_503_and_changes_nothing(backend: Backend) {
    let Some(setup) = Setup::new(backend, Store::S3, |_| {}).await else {
        return;
    };
    let app = &setup.app;
    let s3 = setup.s3.as_ref().expect("s3");
    let (_, token, _) = app.verified_user("outage@example.com").await;
    let first: Value = upload(
        app,
        "/me/picture",
        &token,
        "a.png",
        encode(&photo(60, 60), ImageFormat::Png),
    )
    .await
    .json()
    .await
    .expect("json");

    s3.stop();
    assert_unavailable_and_unchanged(app, &token, &first).await;
    s3.resume().await;
    assert_eq!(app.get("/ready", None).await.status(), StatusCode::OK);
    let again = upload(
        app,
        "/me/picture",
        &token,
        "b.png",
        encode(&photo(70, 50), ImageFormat::Png),
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        s3.keys().await.len(),
        1,
        "no orphan: the old object went, the new one stayed"
    );
}

async fn a_missing_bucket_stops_the_start_with_the_fix(backend: Backend) {
    let Some(s3) = S3Server::start().await else {
        return;
    };
    let Some(pg) = (match backend {
        Backend::Postgres => crate::helpers::PgDatabase::create_empty().await.map(Some),
        Backend::Sqlite => Some(None),
    }) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let mut config = user_management::config::Config::from_env().expect("config");
    s3.configure(&mut config);
    config.storage_url = "s3://no-such-bucket".into();
    config.port = 0;
    config.data_dir = dir.path().to_owned();
    config.jwt_secret = Some(secrecy::SecretString::from(
        crate::helpers::JWT_SECRET.to_owned(),
    ));
    config.data_encryption_key = Some(secrecy::SecretString::from(
        crate::helpers::DATA_ENCRYPTION_KEY.to_owned(),
    ));
    config.database_url = match &pg {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}/u.db", dir.path().display()),
    };
    if let Some(pg) = &pg {
        let db = user_management::db::connect(&pg.url)
            .await
            .expect("connect");
        user_management::db::migrate(&db).await.expect("migrate");
    }

    let err = user_management::startup::Application::build(config)
        .await
        .err()
        .expect("refused");

    let message = format!("{err:#}");
    assert!(
        message.contains("STORAGE_URL") && message.contains("no-such-bucket"),
        "{message}"
    );
}

crate::on_both_databases!(
    storage_down_is_503_and_changes_nothing,
    a_missing_bucket_stops_the_start_with_the_fix
);

//! The picture on the account page over HTTP: a multipart form that must
//! carry its token, the upload shown on the page it redirects to, the
//! refusals shown by the picture field, and storage down as a 503 page.

use image::ImageFormat;
use reqwest::header::ACCEPT;
use reqwest::{Method, Response, StatusCode, multipart};
use serde_json::Value;

use crate::helpers::{Backend, S3Server, TestApp, path_of, spawn_app, spawn_app_with};
use crate::on_both_databases;
use crate::pages::{Browser, location, signed_in};
use crate::pictures::{encode, photo};

impl Browser<'_> {
    /// Posts the picture form: `csrf` (when given) and `bytes` as the file.
    async fn upload(&mut self, csrf: Option<&str>, bytes: Vec<u8>) -> Response {
        let mut form = multipart::Form::new();
        if let Some(csrf) = csrf {
            form = form.text("csrf", csrf.to_owned());
        }
        let part = multipart::Part::bytes(bytes).file_name("me.png");
        let response = self
            .app
            .request(Method::POST, "/account/picture")
            .header(ACCEPT, "text/html")
            .header("cookie", self.cookie_header())
            .multipart(form.part("picture", part))
            .send()
            .await
            .expect("request");
        self.keep_cookies(&response);
        response
    }
}

fn png() -> Vec<u8> {
    encode(&photo(96, 64), ImageFormat::Png)
}

/// The `src` of the account page's picture (the page escapes its `/`).
fn picture_src(html: &str) -> String {
    html.split("class=\"avatar\" src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the account page shows a picture")
        .replace("&#x2f;", "/")
}

/// The path of the user's picture, as the API tells it.
async fn picture_path(app: &TestApp, access: &str) -> String {
    let me: Value = app
        .get("/me", Some(access))
        .await
        .json()
        .await
        .expect("json");
    path_of(me["profile_picture_url"].as_str().expect("a picture URL"))
}

/// Whether the user's picture is the generated default.
async fn has_default_picture(app: &TestApp, access: &str) -> bool {
    picture_path(app, access).await.ends_with("/default.svg")
}

async fn the_account_page_uploads_shows_and_removes_a_picture(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("portrait@example.com").await;
    let mut browser = signed_in(&app, "portrait@example.com").await;
    let (html, token) = browser.page("/account").await;
    assert!(picture_src(&html).ends_with("/default.svg"));
    assert!(!html.contains("action=\"/account/picture/remove\""));

    let uploaded = browser.upload(Some(&token), png()).await;

    assert_eq!(uploaded.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&uploaded), "/account?done=picture");
    let (html, _) = browser.page("/account?done=picture").await;
    assert!(html.contains("Your picture is updated."));
    let src = picture_src(&html);
    assert!(
        src.starts_with("/pictures/") && src.ends_with(".jpg"),
        "{src}"
    );
    assert_eq!(
        picture_path(&app, &access).await,
        src,
        "the page shows the stored picture"
    );
    let served = app.get(&src, None).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/jpeg");

    assert!(html.contains("action=\"/account/picture/remove\""));
    let removed = browser
        .post("/account/picture/remove", &[("csrf", &token)])
        .await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&removed), "/account?done=picture-removed");
    let (html, _) = browser.page("/account?done=picture-removed").await;
    assert!(html.contains("Your picture is removed."));
    assert!(picture_src(&html).ends_with("/default.svg"));
    assert!(has_default_picture(&app, &access).await);
    assert_eq!(app.get(&src, None).await.status(), StatusCode::NOT_FOUND);
}

async fn the_picture_forms_without_their_token_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("forged@example.com").await;
    let mut browser = signed_in(&app, "forged@example.com").await;
    let (_, token) = browser.page("/account").await;

    for csrf in [None, Some("00"), Some("not-hex")] {
        let refused = browser.upload(csrf, png()).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{csrf:?}");
        let html = refused.text().await.expect("html");
        assert!(html.contains("The form was not accepted"), "{html}");
    }
    let mut stranger = Browser::new(&app);
    let (_, their_token) = stranger.page("/sign-in").await;
    let theirs = browser.upload(Some(&their_token), png()).await;
    assert_eq!(
        theirs.status(),
        StatusCode::FORBIDDEN,
        "another browser's token"
    );
    assert!(has_default_picture(&app, &access).await, "unchanged");

    let not_multipart = browser
        .post("/account/picture", &[("csrf", &token), ("picture", "x")])
        .await;
    assert_eq!(not_multipart.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let removal = browser.post("/account/picture/remove", &[]).await;
    assert_eq!(removal.status(), StatusCode::FORBIDDEN);

    let mut visitor = Browser::new(&app);
    let anonymous = visitor.upload(Some(&token), png()).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&anonymous),
        "/sign-in?return_to=%2Faccount%2Fpicture"
    );
}

async fn bad_pictures_are_shown_by_the_field_and_change_nothing(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.avatar_max_bytes = 50_000).await else {
        return;
    };
    let (_, access, _) = app.verified_user("unlucky@example.com").await;
    let mut browser = signed_in(&app, "unlucky@example.com").await;
    let (_, token) = browser.page("/account").await;
    let noise: Vec<u8> = (0..60_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let cases = [
        (
            b"plain text, not an image".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not a PNG",
        ),
        (noise, StatusCode::PAYLOAD_TOO_LARGE, "at most 50000 bytes"),
        (
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "choose a picture",
        ),
    ];
    for (bytes, status, sentence) in cases {
        let refused = browser.upload(Some(&token), bytes).await;

        assert_eq!(refused.status(), status, "{sentence}");
        let html = refused.text().await.expect("html");
        assert!(
            html.contains("id=\"picture-error\""),
            "by the field: {html}"
        );
        assert!(html.contains(sentence), "{html}");
        assert!(html.contains("<h1>Your account</h1>"), "the account page");
    }
    assert!(has_default_picture(&app, &access).await, "unchanged");
}

async fn storage_down_is_a_503_page_and_changes_nothing(backend: Backend) {
    let Some(s3) = S3Server::start().await else {
        return;
    };
    let Some(app) = spawn_app_with(backend, |c| s3.configure(c)).await else {
        return;
    };
    let (_, access, _) = app.verified_user("outage@example.com").await;
    let mut browser = signed_in(&app, "outage@example.com").await;
    let (_, token) = browser.page("/account").await;

    s3.stop();
    let refused = browser.upload(Some(&token), png()).await;

    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = refused.text().await.expect("html");
    assert!(
        html.contains("role=\"alert\"") && html.contains("briefly unavailable"),
        "{html}"
    );
    assert!(has_default_picture(&app, &access).await, "unchanged");
    s3.resume().await;
    let stored = browser.upload(Some(&token), png()).await;
    assert_eq!(stored.status(), StatusCode::SEE_OTHER, "works again");
    assert_eq!(s3.keys().await.len(), 1);
}

on_both_databases!(
    the_account_page_uploads_shows_and_removes_a_picture,
    the_picture_forms_without_their_token_are_refused,
    bad_pictures_are_shown_by_the_field_and_change_nothing,
    storage_down_is_a_503_page_and_changes_nothing,
);

//! Steps a person takes on the pages, each ending on the page it leads to
//! (checked and photographed by [`Session::step`]).

use std::path::PathBuf;

use image::ImageFormat;

use super::driver::Session;
use crate::helpers::TestApp;
use crate::pictures::{encode, photo};

/// Signs up as `email` with `password`; ends on "Check your inbox".
pub async fn sign_up(s: &mut Session, email: &str, password: &str) {
    s.goto("/sign-up").await;
    s.step("sign-up", "Create an account").await;
    s.fill("email", email).await;
    s.fill("password", password).await;
    s.press("Create account").await;
    s.step("signed-up", "Check your inbox").await;
    assert!(s.main_text().await.contains(email));
}

/// Opens the verification link of the mail to `email` and presses the
/// button; ends on "Your email is verified".
pub async fn confirm_from_mail(s: &mut Session, app: &TestApp, email: &str) {
    let link = app.verification_link(email).await;
    s.open_link(&link).await;
    s.step("confirm-email", "Confirm your email").await;
    s.press("Confirm my email").await;
    s.step("email-confirmed", "Your email is verified").await;
}

/// Signs in from the sign-in page (opened at `path`); ends on the account page.
pub async fn sign_in_at(s: &mut Session, path: &str, email: &str, password: &str) {
    s.goto(path).await;
    s.step("sign-in", "Sign in").await;
    s.fill("email", email).await;
    s.fill("password", password).await;
    s.press("Sign in").await;
    s.step("account", "Your account").await;
    assert!(s.main_text().await.contains(email), "signed in as {email}");
}

/// Signs in from `/sign-in`.
pub async fn sign_in(s: &mut Session, email: &str, password: &str) {
    sign_in_at(s, "/sign-in", email, password).await;
}

/// A PNG photo in the session's scratch directory.
pub fn png_file(s: &Session) -> PathBuf {
    let path = s.scratch().join("me.png");
    std::fs::write(&path, encode(&photo(120, 90), ImageFormat::Png)).expect("write png");
    path
}

/// Uploads `file` from the account page; ends there with the new picture
/// shown (loaded, not the generated default). Returns its `src`.
pub async fn upload_picture(s: &mut Session, file: &std::path::Path) -> String {
    s.choose_file("picture", file).await;
    s.press("Upload").await;
    s.step("picture-uploaded", "Your account").await;
    assert!(s.main_text().await.contains("Your picture is updated."));
    s.wait_until(
        "const i = document.querySelector('img.avatar'); return i.complete && i.naturalWidth === 512",
        "the uploaded picture to show",
    )
    .await;
    let src = s
        .script("return document.querySelector('img.avatar').getAttribute('src')")
        .await;
    let src = src.as_str().expect("src").to_owned();
    assert!(
        src.starts_with("/pictures/") && src.ends_with(".jpg"),
        "{src}"
    );
    src
}

//! The links in mails, opened in a browser: a password reset that works
//! once, a link a mail scanner fetched first that still works for the
//! person, and the typed code for when the link cannot be used.

use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::json;

use super::driver::Session;
use super::steps;
use crate::helpers::{Backend, PASSWORD, path_of, spawn_app};
use crate::on_both_databases;

const NEW_PASSWORD: &str = "a-brand-new-passphrase";

async fn a_reset_link_from_the_mail_sets_a_new_password_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = "forgetful@example.com";
    app.verified_account(email).await;
    let Some(mut s) = Session::start(&app, "reset").await else {
        return;
    };
    s.goto("/sign-in").await;
    s.step("sign-in", "Sign in").await;
    s.follow("Forgot your password?").await;
    s.step("forgot", "Forgot your password?").await;
    s.fill("email", email).await;
    s.press("Send the link").await;
    s.step("link-sent", "Check your inbox").await;

    let link = app.latest_link(email, "/password/reset").await;
    s.open_link(&link).await;
    s.step("reset", "Choose a new password").await;
    s.fill("new_password", NEW_PASSWORD).await;
    s.press("Set the new password").await;
    s.step("password-set", "Your password is changed").await;
    steps::sign_in(&mut s, email, NEW_PASSWORD).await;

    s.open_link(&link).await;
    s.step("reset-again", "Choose a new password").await;
    s.fill("new_password", "yet-another-passphrase").await;
    s.press("Set the new password").await;
    s.step("link-used", "This link is no longer valid").await;
    let offers = s
        .script("return !!document.querySelector('form[action=\"/forgot-password\"] #email')")
        .await;
    assert_eq!(offers, json!(true), "the page offers a new link");
    assert_eq!(
        app.login(email, NEW_PASSWORD).await.status(),
        StatusCode::OK,
        "the used link changed nothing"
    );
    s.finish().await;
}

async fn a_link_a_scanner_fetched_first_still_works_in_the_browser(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = "scanned@example.com";
    let registered = app.register(email, json!({})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let link = app.verification_link(email).await;
    // A mail scanner: a plain GET for anything, following redirects.
    let scanned = reqwest::Client::new()
        .get(format!("{}{}", app.address, path_of(&link)))
        .header(ACCEPT, "*/*")
        .send()
        .await
        .expect("scan");
    assert_eq!(scanned.status(), StatusCode::OK);
    let row = app.user_by_email(email).await.expect("the user");
    assert!(!row.email_verified, "a GET uses nothing");

    let Some(mut s) = Session::start(&app, "scanned").await else {
        return;
    };
    steps::confirm_from_mail(&mut s, &app, email).await;
    steps::sign_in(&mut s, email, PASSWORD).await;
    let row = app.user_by_email(email).await.expect("the user");
    assert!(row.email_verified);
    s.finish().await;
}

async fn the_typed_code_confirms_when_the_link_is_not_used(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = "typist@example.com";
    let registered = app.register(email, json!({})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let code = app.mailed_code(email, "/verify-email/", 1).await;
    let Some(mut s) = Session::start(&app, "typed-code").await else {
        return;
    };
    s.goto("/sign-in").await;
    s.step("sign-in", "Sign in").await;
    s.goto("/confirm-email").await;
    s.step("code-page", "Confirm your email with a code").await;
    s.fill("email", email).await;
    s.fill("code", "ZZZZ-ZZZZ").await;
    s.press("Confirm my email").await;
    s.step("wrong-code", "Confirm your email with a code").await;
    let said = s.main_text().await;
    assert!(said.contains("This code is wrong"), "{said}");
    let wrong = app.user_by_email(email).await.expect("the user");
    assert!(!wrong.email_verified, "a wrong code verifies nothing");

    // Typed as a person would: lower case, with a space for the hyphen.
    s.fill("code", &code.to_lowercase().replace('-', " ")).await;
    s.press("Confirm my email").await;
    s.step("code-confirmed", "Your email is verified").await;
    let row = app.user_by_email(email).await.expect("the user");
    assert!(row.email_verified, "the typed code verified the address");
    steps::sign_in(&mut s, email, PASSWORD).await;
    s.finish().await;
}

on_both_databases!(
    a_reset_link_from_the_mail_sets_a_new_password_once,
    a_link_a_scanner_fetched_first_still_works_in_the_browser,
    the_typed_code_confirms_when_the_link_is_not_used,
);

//! What the pages refuse in a real browser: a form whose token was taken
//! out, and a `return_to` leading off this service.

use serde_json::json;

use super::driver::Session;
use super::steps;
use crate::helpers::{Backend, PASSWORD, spawn_app};
use crate::on_both_databases;

/// Takes the token out of the form posting to `action`.
async fn remove_token(s: &Session, action: &str) {
    let removed = s
        .script(&format!(
            "const t = document.querySelector('form[action=\"{action}\"] input[name=csrf]'); \
             t.remove(); return !document.querySelector('form[action=\"{action}\"] input[name=csrf]')"
        ))
        .await;
    assert_eq!(removed, json!(true), "the token of {action} is gone");
}

async fn forms_without_their_token_are_refused_and_change_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = "guarded@example.com";
    app.verified_account(email).await;
    let before = app.user_by_email(email).await.expect("the user");
    let Some(mut s) = Session::start(&app, "forged").await else {
        return;
    };
    steps::sign_in(&mut s, email, PASSWORD).await;

    s.fill("nickname", "someone-else").await;
    remove_token(&s, "/account").await;
    s.press("Save the profile").await;
    s.step("profile-refused", "The form was not accepted").await;
    assert!(s.main_text().await.contains("did not come from this site"));

    s.goto("/account").await;
    s.step("account", "Your account").await;
    let file = steps::png_file(&s);
    s.choose_file("picture", &file).await;
    remove_token(&s, "/account/picture").await;
    s.press("Upload").await;
    s.step("picture-refused", "The form was not accepted").await;

    let after = app.user_by_email(email).await.expect("the user");
    assert_eq!(after.nickname, before.nickname, "the profile is unchanged");
    assert_eq!(after.picture_key, None, "no picture was stored");
    s.finish().await;
}

async fn a_return_to_off_this_service_is_ignored(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = "homebound@example.com";
    app.verified_account(email).await;
    let Some(mut s) = Session::start(&app, "return-to").await else {
        return;
    };
    let evil = "/sign-in?return_to=https%3A%2F%2Fevil.example%2F";
    steps::sign_in_at(&mut s, evil, email, PASSWORD).await;

    assert_eq!(s.origin().await, s.app_origin(), "still on this service");
    assert_eq!(s.path().await, "/account");
    s.finish().await;
}

on_both_databases!(
    forms_without_their_token_are_refused_and_change_nothing,
    a_return_to_off_this_service_is_ignored,
);

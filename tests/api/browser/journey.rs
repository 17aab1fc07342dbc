//! A newcomer's whole way: sign up, confirm from the mail, sign in, edit
//! the profile, upload a picture, change the password, sign out, sign in
//! again.

use super::driver::Session;
use super::steps;
use crate::helpers::{Backend, PASSWORD, spawn_app};
use crate::on_both_databases;

const NEW_PASSWORD: &str = "a-fresh-long-passphrase";

/// Edits the profile from the account page; ends there with it saved.
async fn edit_profile(s: &mut Session) {
    s.fill("first_name", "Ada").await;
    s.fill("bio", "Counts things.").await;
    s.press("Save the profile").await;
    s.step("profile-saved", "Your account").await;
    assert!(s.main_text().await.contains("Your profile is saved."));
    assert_eq!(s.value("first_name").await, "Ada");
    assert_eq!(s.value("bio").await, "Counts things.");
}

/// Changes the password from the account area; ends on the account page.
async fn change_password(s: &mut Session, current: &str, new: &str) {
    s.follow("Password").await;
    s.step("password", "Change your password").await;
    s.fill("current_password", current).await;
    s.fill("new_password", new).await;
    s.press("Change the password").await;
    s.step("password-changed", "Your account").await;
    assert!(s.main_text().await.contains("Your password is changed"));
}

async fn a_newcomer_signs_up_confirms_edits_uploads_and_changes_the_password(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let Some(mut s) = Session::start(&app, "newcomer").await else {
        return;
    };
    let email = "newcomer@example.com";

    steps::sign_up(&mut s, email, PASSWORD).await;
    steps::confirm_from_mail(&mut s, &app, email).await;
    steps::sign_in(&mut s, email, PASSWORD).await;
    edit_profile(&mut s).await;
    let file = steps::png_file(&s);
    let src = steps::upload_picture(&mut s, &file).await;
    change_password(&mut s, PASSWORD, NEW_PASSWORD).await;
    s.press("Sign out").await;
    s.step("signed-out", "Sign in").await;
    steps::sign_in(&mut s, email, NEW_PASSWORD).await;

    let row = app.user_by_email(email).await.expect("the user");
    assert!(row.email_verified);
    assert_eq!(row.first_name.as_deref(), Some("Ada"));
    let shown = s
        .script("return document.querySelector('img.avatar').getAttribute('src')")
        .await;
    assert_eq!(shown.as_str(), Some(src.as_str()), "the picture stays");
    s.finish().await;
}

on_both_databases!(a_newcomer_signs_up_confirms_edits_uploads_and_changes_the_password);

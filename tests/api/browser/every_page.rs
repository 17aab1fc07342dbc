//! Every page, visited: each is checked as any step is (console clean of
//! policy violations and script errors, a title, a language, labelled
//! inputs), here including the pages no other scenario reaches and the
//! pages with errors by their fields.

use fantoccini::key::Key;
use serde_json::json;

use super::driver::Session;
use super::steps;
use crate::helpers::{Backend, PASSWORD, spawn_app};
use crate::on_both_databases;

/// Pages anyone can open, by path and heading.
const OPEN_PAGES: &[(&str, &str, &str)] = &[
    ("sign-in", "/sign-in", "Sign in"),
    ("sign-up", "/sign-up", "Create an account"),
    ("forgot", "/forgot-password", "Forgot your password?"),
    (
        "reset-with-code",
        "/reset-password",
        "Choose a new password",
    ),
];

/// Pages of the account area (the password page last: its form is sent
/// with a wrong current password).
const ACCOUNT_PAGES: &[(&str, &str, &str)] = &[
    ("account", "/account", "Your account"),
    ("sessions", "/account/sessions", "Your sessions"),
    ("password", "/account/password", "Change your password"),
];

/// Puts an image from another origin on the page (the policy blocks it).
const PROBE: &str = "const i = document.createElement('img'); \
    i.src = 'http://elsewhere.example/probe.png'; document.body.append(i); return null";

async fn every_page_is_clean_titled_and_labelled(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = "visitor@example.com";
    app.verified_account(email).await;
    let Some(mut s) = Session::start(&app, "every-page").await else {
        return;
    };
    for (name, path, heading) in OPEN_PAGES {
        s.goto(path).await;
        s.step(name, heading).await;
    }
    s.goto("/sign-up").await;
    s.step("sign-up", "Create an account").await;
    s.fill("email", "second@example.com").await;
    s.fill("password", "short").await;
    s.press("Create account").await;
    s.step("sign-up-errors", "Create an account").await;
    assert!(
        s.main_text()
            .await
            .contains("Some fields need another look.")
    );

    steps::sign_in(&mut s, email, PASSWORD).await;
    for (name, path, heading) in ACCOUNT_PAGES {
        s.goto(path).await;
        s.step(name, heading).await;
    }
    s.fill("current_password", "not-the-password").await;
    s.fill("new_password", "another-long-passphrase").await;
    s.press("Change the password").await;
    s.step("password-errors", "Change your password").await;
    assert!(
        s.main_text()
            .await
            .contains("Some fields need another look.")
    );

    // The console is really read: an image from elsewhere is a violation it shows.
    s.script(PROBE).await;
    let shown = s.wait_for_console_problem().await;
    assert!(
        shown.iter().any(|p| p.contains("Content Security Policy")),
        "{shown:?}"
    );
    s.finish().await;
}

/// Whether the focused element shows a visible outline, and whether the
/// page is no wider than the window (nothing to scroll sideways).
const FOCUS_AND_WIDTH: &str = "const e = document.activeElement; const st = getComputedStyle(e); \
    return { outlined: st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0, \
    fits: document.documentElement.scrollWidth <= window.innerWidth }";

/// On a phone-width window, with the keyboard alone: Tab reaches each
/// field with a visible focus, Enter signs in, and no page needs sideways
/// scrolling.
async fn a_phone_and_a_keyboard_are_enough(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = "thumbs@example.com";
    app.verified_account(email).await;
    let Some(mut s) = Session::start(&app, "phone").await else {
        return;
    };
    s.resize(390, 844).await;
    s.goto("/sign-in").await;
    s.step("sign-in", "Sign in").await;
    for (id, text) in [("email", email), ("password", PASSWORD)] {
        s.tab_to(id, 12).await;
        let seen = s.script(FOCUS_AND_WIDTH).await;
        assert_eq!(
            seen["outlined"],
            json!(true),
            "#{id} shows its focus: {seen}"
        );
        assert_eq!(
            seen["fits"],
            json!(true),
            "the sign-in page fits a phone: {seen}"
        );
        s.keys(text).await;
    }
    s.keys(&char::from(Key::Enter).to_string()).await;
    s.step("account", "Your account").await;
    for (name, path, heading) in ACCOUNT_PAGES {
        s.goto(path).await;
        s.step(name, heading).await;
        let seen = s.script(FOCUS_AND_WIDTH).await;
        assert_eq!(seen["fits"], json!(true), "{path} fits a phone: {seen}");
    }
    s.finish().await;
}

on_both_databases!(
    every_page_is_clean_titled_and_labelled,
    a_phone_and_a_keyboard_are_enough,
);

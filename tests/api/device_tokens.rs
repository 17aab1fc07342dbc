//! Device tokens (`src/auth/device_tokens.rs`): a lock caused by someone
//! guessing stops the guessing, not the owner. A client that logged in
//! before keeps its sessions, refreshes and logins; its own wrong passwords
//! count against its token alone; a staff lock and a password change end it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    Backend, PASSWORD, TestApp, WRONG, assert_oauth_error, header, spawn_app_with,
    spawn_app_with_admin,
};
use crate::on_both_databases;

const LIMIT: u32 = 3;
const EMAIL: &str = "owner@example.com";

/// A password grant with `device_token` as a form field.
async fn login_with(app: &TestApp, password: &str, device: &str) -> reqwest::Response {
    app.token_request(&[
        ("username", EMAIL),
        ("password", password),
        ("device_token", device),
    ])
    .await
}

/// Logs the owner in; returns (access token, refresh token, device token),
/// checking the device token also comes as an HttpOnly, SameSite cookie.
async fn owner_login(app: &TestApp) -> (String, String, String) {
    let response = app.login(EMAIL, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = header(&response, "set-cookie").expect("a device cookie");
    let body: Value = response.json().await.expect("json");
    let device = body["device_token"]
        .as_str()
        .expect("device_token")
        .to_owned();
    assert!(device.starts_with("umd_"), "{device}");
    assert!(
        cookie.starts_with(&format!("um_device={device};")),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let token = |name: &str| body[name].as_str().expect(name).to_owned();
    (token("access_token"), token("refresh_token"), device)
}

/// An attacker without a device token locks the account.
async fn lock_by_guessing(app: &TestApp) {
    for _ in 0..LIMIT {
        app.login(EMAIL, WRONG).await;
    }
    let locked = app.login(EMAIL, PASSWORD).await;
    assert_oauth_error(locked, StatusCode::LOCKED, "invalid_grant").await;
}

async fn a_guessing_lock_keeps_the_owners_sessions_and_devices(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = LIMIT).await else {
        return;
    };
    app.verified_account(EMAIL).await;
    let (access, refresh, device) = owner_login(&app).await;

    lock_by_guessing(&app).await;

    assert_eq!(app.get("/me", Some(&access)).await.status(), StatusCode::OK);
    assert_eq!(
        app.refresh(&refresh).await.status(),
        StatusCode::OK,
        "refresh too"
    );
    let through_device = login_with(&app, PASSWORD, &device).await;
    assert_eq!(
        through_device.status(),
        StatusCode::OK,
        "the device gets in"
    );
    let by_cookie = app
        .request(reqwest::Method::POST, "/login")
        .header("cookie", format!("um_device={device}"))
        .form(&[("username", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(by_cookie.status(), StatusCode::OK, "a browser's cookie too");
    let forged = login_with(&app, PASSWORD, "umd_forged-token-of-nobody").await;
    assert_oauth_error(forged, StatusCode::LOCKED, "invalid_grant").await;
}

async fn guessing_through_a_device_counts_against_that_device(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = LIMIT).await else {
        return;
    };
    let id = app.verified_account(EMAIL).await;
    let (_, _, device) = owner_login(&app).await;

    for _ in 0..LIMIT {
        let wrong = login_with(&app, WRONG, &device).await;
        assert_oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    }
    let row = app.user_row(&id).await;
    assert!(
        !row.is_locked,
        "the account is not locked by a device's failures"
    );
    assert_eq!(row.failed_login_attempts, 0);
    // The device used up its attempts: it is revoked, and the client is
    // back to the account's own count.
    lock_by_guessing(&app).await;
    let revoked = login_with(&app, PASSWORD, &device).await;
    assert_oauth_error(revoked, StatusCode::LOCKED, "invalid_grant").await;
}

async fn a_staff_lock_ends_sessions_and_devices(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let id = app.verified_account(EMAIL).await;
    let (access, refresh, device) = owner_login(&app).await;
    let (_, admin) = app.admin().await;

    assert_eq!(app.lock_user(&admin, &id).await.status(), StatusCode::OK);

    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&refresh).await.status(),
        StatusCode::BAD_REQUEST
    );
    let suspended = login_with(&app, PASSWORD, &device).await;
    assert_oauth_error(suspended, StatusCode::LOCKED, "invalid_grant").await;
    assert_eq!(app.unlock_user(&admin, &id).await.status(), StatusCode::OK);
    let stale = login_with(&app, PASSWORD, &device).await;
    let body: Value = stale.json().await.expect("json");
    assert_ne!(
        body["device_token"],
        device.as_str(),
        "the old device token died"
    );
}

async fn a_password_change_ends_the_devices(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = LIMIT).await else {
        return;
    };
    app.verified_account(EMAIL).await;
    let (access, _, device) = owner_login(&app).await;
    let changed = app
        .request(reqwest::Method::POST, "/me/password")
        .bearer_auth(&access)
        .json(&serde_json::json!({
            "current_password": PASSWORD,
            "new_password": "another-long-passphrase"
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    for _ in 0..LIMIT {
        app.login(EMAIL, WRONG).await;
    }
    let old_device = app
        .token_request(&[
            ("username", EMAIL),
            ("password", "another-long-passphrase"),
            ("device_token", &device),
        ])
        .await;
    assert_oauth_error(old_device, StatusCode::LOCKED, "invalid_grant").await;
}

/// A client that never sends its token back gets a new one at every login;
/// the account keeps only the newest few.
async fn an_account_keeps_a_bounded_number_of_devices(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    use user_management::db::entities::device_tokens;
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = LIMIT).await else {
        return;
    };
    let id = app.verified_account(EMAIL).await;
    let limit = user_management::auth::device_tokens::MAX_PER_USER;
    for _ in 0..limit + 2 {
        app.tokens(EMAIL, PASSWORD).await;
    }
    let kept = device_tokens::Entity::find()
        .filter(device_tokens::Column::UserId.eq(uuid::Uuid::parse_str(&id).expect("id")))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(kept, limit as u64);
}

on_both_databases!(
    an_account_keeps_a_bounded_number_of_devices,
    a_guessing_lock_keeps_the_owners_sessions_and_devices,
    guessing_through_a_device_counts_against_that_device,
    a_staff_lock_ends_sessions_and_devices,
    a_password_change_ends_the_devices,
);

//! Enrolling an authenticator app (`/me/mfa/…`): a preview behind
//! `MFA_ENROLMENT`; the codes come from an authenticator written here,
//! independently of the service's.

use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use user_management::db::entities::{recovery_codes, totp_factors};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::on_both_databases;

/// RFC 4648 base32, as an authenticator app reads the secret.
fn base32_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.trim_end_matches('=').chars() {
        let value = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .find(c)
            .unwrap_or_else(|| panic!("not base32: {c}"));
        buffer = (buffer << 5) | u32::try_from(value).expect("small");
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).expect("byte"));
        }
    }
    out
}

/// An authenticator app: the RFC 6238 code of `secret` (base32) at `unix`
/// seconds plus `steps` steps of 30 s.
fn authenticator(secret: &str, steps: i64) -> String {
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        &base32_decode(secret),
    );
    let counter = chrono::Utc::now().timestamp() / 30 + steps;
    let mac = aws_lc_rs::hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let at = usize::from(mac[19] & 0x0f);
    let number = (u32::from(mac[at]) & 0x7f) << 24
        | u32::from(mac[at + 1]) << 16
        | u32::from(mac[at + 2]) << 8
        | u32::from(mac[at + 3]);
    format!("{:06}", number % 1_000_000)
}

/// A code no authenticator shows for `secret` now (nor a step either side).
fn wrong_code(secret: &str) -> String {
    let valid: Vec<String> = (-1..=1).map(|s| authenticator(secret, s)).collect();
    (0..10)
        .map(|d| format!("{d}{d}{d}{d}{d}{d}"))
        .find(|c| !valid.contains(c))
        .expect("one of ten")
}

async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.request(Method::POST, path)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn mfa_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |c| c.mfa_enrolment = true).await
}

async fn the_enrolment_routes_are_absent_while_mfa_enrolment_is_off(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, token, _) = app.verified_user("off@example.com").await;
    let start = post(
        &app,
        "/me/mfa/totp",
        &token,
        &json!({ "password": PASSWORD }),
    )
    .await;
    assert_problem(start, StatusCode::NOT_FOUND).await;
    let confirm = post(
        &app,
        "/me/mfa/totp/confirm",
        &token,
        &json!({ "code": "123456" }),
    )
    .await;
    assert_problem(confirm, StatusCode::NOT_FOUND).await;
    let factors = totp_factors::Entity::find()
        .all(&app.db)
        .await
        .expect("rows");
    assert!(factors.is_empty(), "nothing was stored");
    assert_eq!(app.me(&token).await["mfa_enabled"], false);
}

/// Starts enrolment for `email`: checks what comes back and what is stored;
/// returns the secret.
async fn start_and_check(app: &TestApp, token: &str, encoded_email: &str) -> String {
    let started = post(app, "/me/mfa/totp", token, &json!({ "password": PASSWORD })).await;
    assert_eq!(started.status(), StatusCode::OK);
    let started: Value = started.json().await.expect("json");
    let secret = started["secret"].as_str().expect("secret").to_owned();
    assert_eq!(base32_decode(&secret).len(), 20, "{secret}");
    assert_eq!(
        started["otpauth_uri"],
        format!(
            "otpauth://totp/User%20Management:{encoded_email}?secret={secret}\
             &issuer=User%20Management&algorithm=SHA1&digits=6&period=30"
        )
    );
    let svg = started["qr_svg"].as_str().expect("svg");
    assert!(svg.starts_with("<svg ") && svg.contains("</svg>"), "{svg}");
    assert!(!svg.contains("<script") && !svg.contains("href"), "{svg}");

    let stored = totp_factors::Entity::find()
        .all(&app.db)
        .await
        .expect("rows");
    assert_eq!(stored.len(), 1);
    assert!(stored[0].confirmed_at.is_none(), "pending until a code");
    let raw = base32_decode(&secret);
    assert!(
        !stored[0]
            .secret_sealed
            .windows(20)
            .any(|w| w == raw.as_slice())
    );
    assert!(!String::from_utf8_lossy(&stored[0].secret_sealed).contains(&secret));
    secret
}

/// The 10 codes answered are distinct, well-formed and stored only as digests.
async fn check_recovery_codes(app: &TestApp, user_id: &str, confirmed: Value) {
    let codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        codes.iter().collect::<std::collections::HashSet<_>>().len(),
        10
    );
    assert!(
        codes.iter().all(|c| c.len() == 11 && &c[5..6] == "-"),
        "{codes:?}"
    );
    let rows = recovery_codes::Entity::find()
        .filter(recovery_codes::Column::UserId.eq(user_id.parse::<uuid::Uuid>().expect("id")))
        .all(&app.db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 10);
    for row in &rows {
        assert!(row.used_at.is_none());
        assert_eq!(row.code_digest.len(), 64);
        assert!(
            codes
                .iter()
                .all(|c| !row.code_digest.contains(&c.replace('-', "")))
        );
    }
}

async fn enrolment_with_an_authenticator_turns_mfa_on_and_gives_recovery_codes(backend: Backend) {
    let Some(app) = mfa_app(backend).await else {
        return;
    };
    let (id, token, _) = app.verified_user("ann+mfa@example.com").await;
    let wrong = post(
        &app,
        "/me/mfa/totp",
        &token,
        &json!({ "password": "not-it-at-all" }),
    )
    .await;
    let problem = assert_problem(wrong, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(problem.to_string().contains("password"), "{problem}");

    let secret = start_and_check(&app, &token, "ann%2Bmfa%40example.com").await;
    assert_eq!(
        app.me(&token).await["mfa_enabled"],
        false,
        "pending is not on"
    );
    let bad = json!({ "code": wrong_code(&secret) });
    let bad = post(&app, "/me/mfa/totp/confirm", &token, &bad).await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let code = authenticator(&secret, 0);
    let confirmed = post(
        &app,
        "/me/mfa/totp/confirm",
        &token,
        &json!({ "code": code }),
    )
    .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    check_recovery_codes(&app, &id, confirmed.json().await.expect("json")).await;
    assert_eq!(app.me(&token).await["mfa_enabled"], true);

    let again = post(
        &app,
        "/me/mfa/totp",
        &token,
        &json!({ "password": PASSWORD }),
    )
    .await;
    assert_problem(again, StatusCode::CONFLICT).await;
    let replay = post(
        &app,
        "/me/mfa/totp/confirm",
        &token,
        &json!({ "code": code }),
    )
    .await;
    assert_problem(replay, StatusCode::CONFLICT).await;
}

async fn a_restarted_enrolment_takes_only_the_new_secret(backend: Backend) {
    let Some(app) = mfa_app(backend).await else {
        return;
    };
    let (_, token, _) = app.verified_user("restart@example.com").await;
    let none = post(
        &app,
        "/me/mfa/totp/confirm",
        &token,
        &json!({ "code": "123456" }),
    )
    .await;
    assert_problem(none, StatusCode::CONFLICT).await;
    let body = json!({ "password": PASSWORD });
    let start = || post(&app, "/me/mfa/totp", &token, &body);
    let first: Value = start().await.json().await.expect("json");
    let second: Value = start().await.json().await.expect("json");
    let (first, second) = (
        first["secret"].as_str().expect("secret").to_owned(),
        second["secret"].as_str().expect("secret").to_owned(),
    );
    assert_ne!(first, second);
    let old_code = authenticator(&first, 0);
    if (-1..=1).all(|s| authenticator(&second, s) != old_code) {
        let old = post(
            &app,
            "/me/mfa/totp/confirm",
            &token,
            &json!({ "code": old_code }),
        )
        .await;
        assert_problem(old, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let skewed = authenticator(&second, -1);
    let ok = post(
        &app,
        "/me/mfa/totp/confirm",
        &token,
        &json!({ "code": skewed }),
    )
    .await;
    assert_eq!(
        ok.status(),
        StatusCode::OK,
        "a code one step old is accepted"
    );
    let anonymous = app
        .request(Method::POST, "/me/mfa/totp")
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .expect("request");
    assert_problem(anonymous, StatusCode::UNAUTHORIZED).await;
}

on_both_databases!(
    the_enrolment_routes_are_absent_while_mfa_enrolment_is_off,
    enrolment_with_an_authenticator_turns_mfa_on_and_gives_recovery_codes,
    a_restarted_enrolment_takes_only_the_new_secret,
);

//! The client address (and trusted proxies): `X-Forwarded-For` is believed
//! only from a trusted proxy, for the rate limit's buckets and for the
//! address a session records.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, path_of, spawn_app_with};
use crate::on_both_databases;

/// A login through a trusted proxy records the forwarded client in its
/// session.
async fn assert_session_records_the_forwarded_client(proxied: &TestApp) {
    let registered = proxied
        .request(Method::POST, "/register")
        .header("x-forwarded-for", "198.51.100.1")
        .json(&json!({ "email": "proxied@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("request");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let link = proxied.verification_link("proxied@example.com").await;
    assert_eq!(
        proxied.get(&path_of(&link), None).await.status(),
        StatusCode::OK
    );
    let login = proxied
        .request(Method::POST, "/login")
        .header("x-forwarded-for", "198.51.100.7")
        .form(&[("username", "proxied@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(login.status(), StatusCode::OK);
    let tokens: Value = login.json().await.expect("json");
    let sessions: Value = proxied
        .get("/me/sessions", tokens["access_token"].as_str())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(sessions[0]["client_addr"], "198.51.100.7", "{sessions}");
}

async fn forwarded_for_is_believed_only_from_trusted_proxies(backend: Backend) {
    let Some(proxied) = spawn_app_with(backend, |c| {
        c.auth_rate_limit = 2;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await
    else {
        return;
    };
    let Some(direct) = spawn_app_with(backend, |c| c.auth_rate_limit = 2).await else {
        return;
    };
    let (a, b) = (Some("203.0.113.10"), Some("203.0.113.20"));

    let proxied_statuses = [
        proxied.resend_from(a).await.status(),
        proxied.resend_from(a).await.status(),
        proxied.resend_from(a).await.status(),
        proxied.resend_from(b).await.status(),
        proxied.resend_from(None).await.status(),
    ];
    let direct_statuses = [
        direct.resend_from(a).await.status(),
        direct.resend_from(b).await.status(),
        direct.resend_from(None).await.status(),
    ];

    use StatusCode as S;
    assert_eq!(
        proxied_statuses,
        [
            S::ACCEPTED,
            S::ACCEPTED,
            S::TOO_MANY_REQUESTS,
            S::ACCEPTED,
            S::ACCEPTED
        ],
        "behind a trusted proxy each forwarded client has its own bucket"
    );
    assert_eq!(
        direct_statuses,
        [S::ACCEPTED, S::ACCEPTED, S::TOO_MANY_REQUESTS],
        "from an untrusted peer the header is ignored: one bucket"
    );
    // The forwarded client is also the address a session records.
    assert_session_records_the_forwarded_client(&proxied).await;
}

on_both_databases!(forwarded_for_is_believed_only_from_trusted_proxies,);

//! `POST /logout`: the session of the presented token ends at once (its
//! access and refresh tokens), and only that one.

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp, assert_unauthorized, spawn_app};
use crate::on_both_databases;

async fn logout(app: &TestApp, token: Option<&str>) -> Response {
    let mut request = app.request(Method::POST, "/logout");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

async fn logout_ends_the_session_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, refresh) = app.verified_user("bye@example.com").await;
    let other: Value = app
        .login("bye@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let other_access = other["access_token"].as_str().expect("access");

    let response = logout(&app, Some(&access)).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body").is_empty());
    assert_unauthorized(app.get("/me", Some(&access)).await, "after logout").await;
    let refreshed = app
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    let body: Value = refreshed.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    assert_unauthorized(logout(&app, Some(&access)).await, "second logout").await;
    assert_eq!(
        app.get("/me", Some(other_access)).await.status(),
        StatusCode::OK,
        "only the session of that token ended"
    );
    assert_unauthorized(logout(&app, None).await, "logout without a token").await;
}

on_both_databases!(logout_ends_the_session_at_once,);

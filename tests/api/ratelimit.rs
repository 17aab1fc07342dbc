//! The per-address rate limit of the auth routes: a burst of the limit,
//! then a steady refill; a 429 with `Retry-After` in each route's error
//! shape (problem+json, RFC 6749 on the token endpoint); other routes free.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_problem, assert_token_error, header, path_of, spawn_app_with,
};
use crate::on_both_databases;

/// The `Retry-After` seconds of a 429.
fn retry_after(response: &Response) -> u64 {
    let seconds: u64 = header(response, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After is delta-seconds");
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    seconds
}

/// Registers, verifies and logs in `limited@example.com` through the
/// instance at `address`; returns the access token.
async fn verified_through(app: &TestApp, address: &str) -> String {
    let registered = app
        .client
        .post(format!("{address}/register"))
        .json(&json!({ "email": "limited@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("request");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let link = app.verification_link("limited@example.com").await;
    assert_eq!(
        app.get(&path_of(&link), None).await.status(),
        StatusCode::OK
    );
    let tokens: Value = app
        .login_at(address, "limited@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    tokens["access_token"].as_str().expect("access").to_owned()
}

async fn auth_endpoints_are_rate_limited_and_recover(backend: Backend) {
    const PER_MINUTE: u32 = 60;
    let Some(app) = spawn_app_with(backend, |c| c.auth_rate_limit = PER_MINUTE).await else {
        return;
    };
    // Arranged through a second instance: each process counts on its own, so
    // the bucket measured below starts full.
    let sibling = app.sibling().await;
    let access = verified_through(&app, &sibling.address).await;

    let start = Instant::now();
    let mut accepted = 0;
    let refused = loop {
        let response = app.resend_from(None).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            break response;
        }
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        accepted += 1;
        assert!(accepted <= 2 * PER_MINUTE, "never limited");
    };
    let elapsed = start.elapsed();

    // A burst of the limit, then one more per second (60 a minute).
    let refill = u32::try_from(elapsed.as_secs()).expect("seconds");
    assert!(
        (PER_MINUTE..=PER_MINUTE + refill).contains(&accepted),
        "{accepted} accepted in {elapsed:?}"
    );
    retry_after(&refused);
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    for path in ["/register", "/password/forgot"] {
        let response = app
            .post_json(
                path,
                &json!({ "email": "x@example.com", "password": PASSWORD }),
            )
            .await;
        retry_after(&response);
        assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    }
    let token_endpoint = app.login("limited@example.com", PASSWORD).await;
    retry_after(&token_endpoint);
    assert_token_error(token_endpoint, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::OK,
        "other routes are not limited"
    );

    let last = app.login("limited@example.com", PASSWORD).await;
    assert_eq!(last.status(), StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(Duration::from_secs(retry_after(&last))).await;
    assert_eq!(
        app.resend_from(None).await.status(),
        StatusCode::ACCEPTED,
        "after Retry-After the client may go on"
    );
}

on_both_databases!(auth_endpoints_are_rate_limited_and_recover,);

//! The per-address rate limit of the auth routes (those that take a mail's
//! code included): the limit, then a 429
//! with `Retry-After` in each route's error shape (problem+json, RFC 6749
//! on the token endpoint); other routes free. On PostgreSQL every instance
//! counts against one budget, and a failing budget answers 503; on SQLite
//! each instance counts on its own.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_oauth_error, assert_problem, assert_token_error, header,
    path_of, spawn_app_with,
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
    // Arranged through a second instance: on SQLite each process counts on
    // its own; on PostgreSQL they share the budget, which is reset here, so
    // the budget measured below starts full.
    let sibling = app.sibling().await;
    let access = verified_through(&app, &sibling.address).await;
    app.execute("DELETE FROM rate_limit_windows").await;

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

    // The limit at once, then (in memory) one more per second (60 a minute).
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
    assert_code_routes_limited(&app).await;
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

/// The routes that take a mail's code draw on the same budget, so codes
/// cannot be tried faster than passwords: with it spent, both are 429.
async fn assert_code_routes_limited(app: &TestApp) {
    let code = json!({ "email": "x@example.com", "code": "ABCD-EFGH" });
    let with_password =
        json!({ "email": "x@example.com", "code": "ABCD-EFGH", "new_password": PASSWORD });
    for (path, body) in [("/verify-email", code), ("/password/reset", with_password)] {
        let response = app.post_json(path, &body).await;
        retry_after(&response);
        assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    }
}

/// `POST /verify-email/resend` at the instance at `address`.
async fn resend_at(app: &TestApp, address: &str) -> StatusCode {
    app.client
        .post(format!("{address}/verify-email/resend"))
        .json(&json!({ "email": "nobody@example.com" }))
        .send()
        .await
        .expect("request")
        .status()
}

async fn two_instances_share_one_budget_on_postgres(backend: Backend) {
    const PER_MINUTE: u32 = 6;
    let Some(app) = spawn_app_with(backend, |c| c.auth_rate_limit = PER_MINUTE).await else {
        return;
    };
    let sibling = app.sibling().await;
    let instances = [app.address.as_str(), sibling.address.as_str()];

    // Requests alternate between the instances, as a balancer sends them.
    let mut accepted = 0;
    for i in 0..4 * PER_MINUTE {
        let status = resend_at(&app, instances[i as usize % 2]).await;
        if status == StatusCode::ACCEPTED {
            accepted += 1;
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        }
    }

    let login = app
        .login_at(&sibling.address, "limited@example.com", PASSWORD)
        .await;
    match backend {
        Backend::Postgres => {
            assert_eq!(accepted, PER_MINUTE, "one budget for the deployment");
            assert_token_error(login, StatusCode::TOO_MANY_REQUESTS).await;
        }
        // Each instance counts on its own (a refill of one every 10 s aside).
        Backend::Sqlite => {
            assert!(
                (2 * PER_MINUTE..=2 * PER_MINUTE + 2).contains(&accepted),
                "{accepted} accepted"
            );
            assert_token_error(login, StatusCode::TOO_MANY_REQUESTS).await;
        }
    }
}

async fn a_failing_budget_answers_503_on_postgres(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.auth_rate_limit = 2).await else {
        return;
    };
    app.execute("DROP TABLE rate_limit_windows").await;

    let resend = app.resend_from(None).await;
    let login = app.login("someone@example.com", PASSWORD).await;

    match backend {
        Backend::Postgres => {
            assert_problem(resend, StatusCode::SERVICE_UNAVAILABLE).await;
            assert_oauth_error(
                login,
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
            )
            .await;
            let register = app
                .post_json(
                    "/register",
                    &json!({ "email": "new@example.com", "password": PASSWORD }),
                )
                .await;
            assert_problem(register, StatusCode::SERVICE_UNAVAILABLE).await;
            assert_eq!(app.user_count().await, 0, "nothing passed uncounted");
        }
        // The budget is in memory: the database plays no part.
        Backend::Sqlite => {
            assert_eq!(resend.status(), StatusCode::ACCEPTED);
            assert_oauth_error(login, StatusCode::UNAUTHORIZED, "invalid_grant").await;
            assert_eq!(
                app.resend_from(None).await.status(),
                StatusCode::TOO_MANY_REQUESTS
            );
        }
    }
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
}

async fn windows_expire_and_are_deleted(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.auth_rate_limit = 1).await else {
        return;
    };
    assert_eq!(resend_at(&app, &app.address).await, StatusCode::ACCEPTED);
    let refused = app.resend_from(None).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&refused) <= 60);
    let stored = rate_limit_rows(&app).await;
    if backend == Backend::Sqlite {
        assert_eq!(stored, 0, "SQLite keeps its budgets in memory");
        return;
    }
    assert_eq!(stored, 1, "one window per client");

    // The client's window began two minutes ago: it has ended.
    app.execute("UPDATE rate_limit_windows SET window_start = window_start - INTERVAL '2 minutes'")
        .await;
    let deleted =
        user_management::db::rate_limits::forget_expired(&app.db, user_management::time::now())
            .await
            .expect("delete");
    assert_eq!(deleted, 1);
    assert_eq!(rate_limit_rows(&app).await, 0);
    assert_eq!(
        resend_at(&app, &app.address).await,
        StatusCode::ACCEPTED,
        "a new window"
    );
    assert_eq!(
        resend_at(&app, &app.address).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Rows of the shared rate-limit table.
async fn rate_limit_rows(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM rate_limit_windows",
        ))
        .await
        .expect("count")
        .expect("row");
    row.try_get("", "n").expect("n")
}

on_both_databases!(
    auth_endpoints_are_rate_limited_and_recover,
    two_instances_share_one_budget_on_postgres,
    a_failing_budget_answers_503_on_postgres,
    windows_expire_and_are_deleted,
);

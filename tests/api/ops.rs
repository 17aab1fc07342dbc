//! The operations routes: `/health`, `/ready` and the Prometheus
//! `/metrics` (requests, logins and hash timings counted from the start,
//! gauges present, no personal data).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::binary::Server;
use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app};
use crate::on_both_databases;

async fn health_and_ready_answer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let health = app.get("/health", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<Value>().await.expect("json")["status"], "ok");
    let ready = app.get("/ready/", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.expect("json")["checks"]["database"],
        "ok"
    );
}

// ------------------------------------------------------------------ /metrics

/// The sum of the samples of `name` whose labels include every one of
/// `labels`; `None` when there is no such series.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (inside, value) = if let Some(rest) = rest.strip_prefix('{') {
            match rest.split_once("} ") {
                Some(split) => split,
                None => continue,
            }
        } else if let Some(value) = rest.strip_prefix(' ') {
            ("", value)
        } else {
            continue;
        };
        let pairs: Vec<(&str, &str)> = inside
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        if labels.iter().all(|label| pairs.contains(label)) {
            let value: f64 = value.trim().parse().expect("a sample value");
            *total.get_or_insert(0.0) += value;
        }
    }
    total
}

/// `GET /metrics`: 200, Prometheus text; returns the text.
async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("body")
}

const LOGIN_401: [(&str, &str); 3] = [("method", "POST"), ("route", "/login"), ("status", "401")];
const LOGIN_200: [(&str, &str); 3] = [("method", "POST"), ("route", "/login"), ("status", "200")];
const NOT_FOUND: [(&str, &str); 2] = [("route", "unmatched"), ("status", "404")];

/// The sample of `name` with `labels` in `text`, which must be there.
fn count(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} in:\n{text}"))
}

/// The first scrape after a login, a failed login and a 404: each is
/// counted, and the gauges are there.
fn assert_first_scrape(first: &str) {
    assert!(first.contains("http_requests_total{"), "{first}");
    assert!(count(first, "http_requests_total", &LOGIN_401) >= 1.0);
    assert!(count(first, "http_requests_total", &LOGIN_200) >= 1.0);
    assert!(count(first, "http_requests_total", &NOT_FOUND) >= 1.0);
    assert!(
        count(
            first,
            "http_request_duration_seconds_bucket",
            &[("route", "/login"), ("le", "+Inf")]
        ) >= 2.0
    );
    assert!(count(first, "login_attempts_total", &[("outcome", "success")]) >= 1.0);
    assert!(
        count(
            first,
            "login_attempts_total",
            &[("outcome", "bad_credentials")]
        ) >= 1.0
    );
    assert!(
        count(
            first,
            "password_hash_duration_seconds_count",
            &[("op", "hash")]
        ) >= 1.0
    );
    assert!(
        count(
            first,
            "password_hash_duration_seconds_count",
            &[("op", "verify")]
        ) >= 2.0
    );
    assert!(first.contains("password_hash_duration_seconds_bucket"));
    count(first, "mail_messages", &[("state", "pending")]);
    count(first, "db_pool_connections", &[("state", "idle")]);
    count(first, "db_pool_connections", &[("state", "in_use")]);
}

/// Each series the second round of requests touches grew by at least one.
fn assert_every_series_grew(first: &str, second: &str) {
    for (name, labels) in [
        ("http_requests_total", &LOGIN_401[..]),
        ("http_requests_total", &LOGIN_200[..]),
        ("http_requests_total", &NOT_FOUND[..]),
        ("login_attempts_total", &[("outcome", "success")][..]),
        (
            "login_attempts_total",
            &[("outcome", "bad_credentials")][..],
        ),
        (
            "http_request_duration_seconds_count",
            &[("route", "/login")][..],
        ),
        (
            "password_hash_duration_seconds_count",
            &[("op", "verify")][..],
        ),
    ] {
        let before = count(first, name, labels);
        let after = count(second, name, labels);
        assert!(
            after >= before + 1.0,
            "{name} {labels:?} went from {before} to {after}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_logins_without_personal_data() {
    const EMAIL: &str = "metered@example.com";
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    // The recorder is process-wide and installed by the first scrape (see
    // `the_first_scrape_counts_what_happened_before_it`): scrape once so
    // that this test does not depend on which test scrapes first.
    scrape(&app).await;
    let (id, access, refresh) = app.verified_user(EMAIL).await;
    let wrong = app.login(EMAIL, "not-the-right-passphrase").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let missing = app.get(&format!("/no-such-page/{id}"), None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let first = scrape(&app).await;
    assert_first_scrape(&first);

    let (second_access, second_refresh) = app.tokens(EMAIL, PASSWORD).await;
    let wrong = app.login(EMAIL, "still-not-the-passphrase").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let missing = app.get("/no-such-page", None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let second = scrape(&app).await;

    assert_every_series_grew(&first, &second);
    for (what, value) in [
        ("an email address", EMAIL),
        ("an email address", "@example.com"),
        ("a user id", id.as_str()),
        ("an access token", access.as_str()),
        ("an access token", second_access.as_str()),
        ("a refresh token", refresh.as_str()),
        ("a refresh token", second_refresh.as_str()),
    ] {
        assert!(!second.contains(value), "{what} in the metrics:\n{second}");
    }
}

#[test]
fn the_first_scrape_counts_what_happened_before_it() {
    let server = Server::start(&[], &[]);
    for _ in 0..2 {
        assert_eq!(server.get("/health", &[]).0, 200);
    }
    assert_eq!(server.get("/no-such-page", &[]).0, 404);

    let (status, _, text) = server.get("/metrics", &[]);

    assert_eq!(status, 200);
    assert_eq!(
        sample(
            &text,
            "http_requests_total",
            &[("route", "/health"), ("status", "200")]
        ),
        Some(2.0),
        "requests before the first scrape are counted:\n{text}"
    );
    assert_eq!(
        sample(&text, "http_requests_total", &NOT_FOUND),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "mail_messages", &[("state", "pending")]).is_some(),
        "gauges are in the first scrape:\n{text}"
    );
}

on_both_databases!(health_and_ready_answer,);

//! The web edge every route shares (router, layers, error rendering):
//! problem+json for unknown routes and methods, security headers, request
//! ids, CORS, the content security policy, body limits, and request
//! timeouts that keep slow or idle clients from tying up the server.

use std::time::{Duration, Instant};

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PASSWORD, TestApp, assert_oauth_error, assert_problem,
    assert_token_error, header, invalid_fields, spawn_app, spawn_app_with, spawn_app_with_admin,
};
use crate::on_both_databases;

async fn unknown_routes_and_methods_are_problems(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    assert_problem(app.get("/nope", None).await, StatusCode::NOT_FOUND).await;
    let wrong_method = app
        .request(Method::DELETE, "/register")
        .send()
        .await
        .expect("request");
    assert_problem(wrong_method, StatusCode::METHOD_NOT_ALLOWED).await;
}

async fn every_response_carries_security_headers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    for path in ["/health", "/nope", "/docs/", "/openapi.json"] {
        let response = app.get(path, None).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(headers.contains_key("x-request-id"), "{path}");
        assert!(!headers.contains_key("server"), "{path}: no server banner");
    }
}

async fn a_given_request_id_is_echoed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let response = app
        .request(Method::GET, "/health")
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("request");

    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
}

/// A client's request id is kept only if it is at most 64 characters of
/// `[A-Za-z0-9._-]`; anything else is replaced by a fresh UUID.
async fn an_unsafe_request_id_is_replaced(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let longest = format!("{}.A_z-9", "a".repeat(58));
    let with_id = |values: &[&[u8]]| {
        let mut request = app.request(Method::GET, "/health");
        for value in values {
            let value = reqwest::header::HeaderValue::from_bytes(value).expect("header value");
            request = request.header("x-request-id", value);
        }
        request.send()
    };

    let kept = with_id(&[longest.as_bytes()]).await.expect("request");
    assert_eq!(kept.headers()["x-request-id"], longest.as_str());

    let too_long = "a".repeat(65);
    let odd: [&[u8]; 6] = [
        too_long.as_bytes(),
        b"a b",
        b"<script>alert(1)</script>",
        b"id;level=error msg=\"forged\"",
        "caf\u{e9}".as_bytes(),
        b"",
    ];
    for value in odd {
        let replaced = with_id(&[value]).await.expect("request");
        let echoed = replaced.headers()["x-request-id"].to_str().expect("ascii");
        assert!(
            uuid::Uuid::parse_str(echoed).is_ok(),
            "{:?} is replaced by a UUID, not {echoed}",
            String::from_utf8_lossy(value)
        );
    }
    let two = with_id(&[b"first", b"second"]).await.expect("request");
    let echoed = two.headers()["x-request-id"].to_str().expect("ascii");
    assert!(uuid::Uuid::parse_str(echoed).is_ok(), "two ids: {echoed}");
}

/// The security headers every answer carries, whatever layer made it.
fn assert_security_headers(headers: &reqwest::header::HeaderMap, what: &str) {
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert!(headers.contains_key("x-request-id"), "{what}");
}

/// A 408 (request timeout) and a 500 (a panicking handler) come from layers
/// around the routes; they carry the security headers all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_and_panic_answers_carry_the_security_headers() {
    let mut config = user_management::config::Config::from_env().expect("default config");
    config.request_timeout = Duration::from_millis(200);
    let routes = axum::Router::new()
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/boom",
            axum::routing::get(|| async {
                let broken: Option<&str> = std::hint::black_box(None);
                broken.expect("a bug in a handler")
            }),
        );
    let app = user_management::http::router::edge(routes, &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();

    for (path, status) in [
        ("/slow", StatusCode::REQUEST_TIMEOUT),
        ("/boom", StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        let response = client
            .get(format!("http://{address}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), status, "{path}");
        assert_security_headers(response.headers(), path);
    }
}

/// Answers with personal data (and every other API answer) are never
/// stored by a cache; public profiles may be, for a minute.
async fn personal_data_is_never_cached(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (admin_id, admin) = app.admin().await;
    let nickname = app.me(&admin).await["nickname"]
        .as_str()
        .expect("nickname")
        .to_owned();
    let patch = json!({"first_name": "Ada"});
    let answers = [
        app.get("/me", Some(&admin)).await,
        app.call(Method::PATCH, "/me", Some(&admin), Some(&patch))
            .await,
        app.get("/me/sessions", Some(&admin)).await,
        app.get("/users", Some(&admin)).await,
        app.get(&format!("/users/{admin_id}"), Some(&admin)).await,
        app.get("/audit-events", Some(&admin)).await,
        app.get("/me", None).await,
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await,
    ];
    for answer in answers {
        let what = answer.url().path().to_owned();
        assert!(answer.status().as_u16() < 500, "{what}");
        assert_eq!(answer.headers()["cache-control"], "no-store", "{what}");
    }

    let profile = app.get(&format!("/profiles/{nickname}"), None).await;
    assert_eq!(profile.status(), StatusCode::OK);
    assert_eq!(profile.headers()["cache-control"], "public, max-age=60");
    let missing = app.get("/profiles/nobody-here", None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["cache-control"], "no-store");
}

// ------------------------------------------------------------------ NUL bytes

/// A NUL byte (which PostgreSQL text cannot hold) in a query parameter, a
/// path segment or an email is a clear 4xx on both databases, never a 500,
/// and changes nothing.
async fn a_nul_byte_in_any_input_is_a_4xx(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (admin_id, admin) = app.admin().await;
    let audit_before = app.audit_events(&admin, "").await["total"].clone();

    for path in [
        "/users?q=%00",
        "/users?q=ada%00lovelace",
        "/users?sort=email%00",
        "/audit-events?action=%00",
        "/audit-events?action=role_changed%00",
        "/audit-events?act%00ion=x",
    ] {
        let problem = assert_problem(app.get(path, Some(&admin)).await, StatusCode::BAD_REQUEST);
        assert!(
            problem.await["detail"]
                .as_str()
                .expect("detail")
                .contains("NUL"),
            "{path}"
        );
    }
    // Looked up by nickname: no such profile, as for any impossible nickname.
    for path in ["/profiles/%00", "/profiles/abc%00def"] {
        assert_problem(app.get(path, None).await, StatusCode::NOT_FOUND).await;
    }
    let token = format!("/verify-email/{admin_id}/%00");
    let verify = app.get(&token, None).await;
    assert!(verify.status().is_client_error(), "{}", verify.status());

    // An email with a NUL: at login, the answer to any unknown account; for
    // mail requests, a 422 naming the field (their shape check).
    let unknown = app.login("nobody@example.com", ADMIN_PASSWORD).await;
    let unknown = (unknown.status(), unknown.text().await.expect("body"));
    let login = app.login("admin\0@example.com", ADMIN_PASSWORD).await;
    assert_eq!((login.status(), login.text().await.expect("body")), unknown);
    let refresh = app.refresh("\0").await;
    assert_oauth_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;
    for path in ["/password/forgot", "/verify-email/resend"] {
        let body = json!({"email": "admin\u{0}@example.com"});
        let fields = invalid_fields(app.post_json(path, &body).await).await;
        assert_eq!(fields, ["email"], "{path}");
    }
    let reset = json!({"token": "\u{0}", "new_password": "a-brand-new-passphrase"});
    let reset = app.post_json("/password/reset", &reset).await;
    assert!(reset.status().is_client_error(), "{}", reset.status());

    app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let audit_after = app.audit_events(&admin, "").await["total"].clone();
    assert_eq!(audit_after, audit_before, "nothing was recorded");
}

// ------------------------------------------------------------------ CORS, CSP, limits

const ALLOWED_ORIGIN: &str = "https://app.example.com";

async fn preflight(app: &TestApp, origin: &str) -> Response {
    app.request(Method::OPTIONS, "/me")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .expect("request")
}

async fn simple_get(app: &TestApp, origin: &str) -> Response {
    app.request(Method::GET, "/health")
        .header("origin", origin)
        .send()
        .await
        .expect("request")
}

fn cors_headers(response: &Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

/// An allowed preflight: the origin, `GET` and the `Authorization` header
/// are allowed; credentials are not.
fn assert_allows_the_origin(allowed: &Response) {
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        header(allowed, "access-control-allow-origin").as_deref(),
        Some(ALLOWED_ORIGIN)
    );
    let methods = header(allowed, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("GET"), "{methods}");
    let headers = header(allowed, "access-control-allow-headers").unwrap_or_default();
    assert!(
        headers.to_ascii_lowercase().contains("authorization"),
        "{headers}"
    );
    assert_eq!(
        header(allowed, "access-control-allow-credentials"),
        None,
        "bearer tokens need no cookies"
    );
}

async fn cors_allows_only_the_configured_origins(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.cors_allowed_origins = vec![ALLOWED_ORIGIN.into()];
    })
    .await
    else {
        return;
    };
    let Some(unconfigured) = spawn_app(backend).await else {
        return;
    };

    let allowed = preflight(&app, ALLOWED_ORIGIN).await;
    let refused = preflight(&app, "https://evil.example").await;
    let lookalike = preflight(&app, "https://app.example.com.evil.example").await;
    let allowed_get = simple_get(&app, ALLOWED_ORIGIN).await;
    let refused_get = simple_get(&app, "https://evil.example").await;
    let no_config = preflight(&unconfigured, ALLOWED_ORIGIN).await;
    let no_config_get = simple_get(&unconfigured, ALLOWED_ORIGIN).await;

    assert_allows_the_origin(&allowed);
    assert_eq!(
        header(&allowed_get, "access-control-allow-origin").as_deref(),
        Some(ALLOWED_ORIGIN)
    );
    assert!(
        header(&allowed_get, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")),
        "caches keep answers per origin"
    );
    for (what, response) in [
        ("refused preflight", &refused),
        ("look-alike preflight", &lookalike),
        ("refused GET", &refused_get),
    ] {
        assert_eq!(
            header(response, "access-control-allow-origin"),
            None,
            "{what}"
        );
    }
    for (what, response) in [("preflight", &no_config), ("GET", &no_config_get)] {
        assert_eq!(
            cors_headers(response),
            Vec::<String>::new(),
            "no CORS without configured origins: {what}"
        );
    }
}

async fn content_security_policy_fits_each_kind_of_page(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("csp@example.com").await;

    let docs = app.get("/docs/", None).await;
    let json_pages = [
        ("/health", app.get("/health", None).await),
        ("/me", app.get("/me", Some(&access)).await),
        ("/me without token", app.get("/me", None).await),
        ("unknown route", app.get("/nope", None).await),
        ("/login", app.login("csp@example.com", PASSWORD).await),
    ];

    assert_eq!(docs.status(), StatusCode::OK);
    let policy = header(&docs, "content-security-policy").expect("CSP on /docs/");
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    for (what, response) in &json_pages {
        let policy =
            header(response, "content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP"));
        assert!(policy.contains("default-src 'none'"), "{what}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{what}: {policy}"
        );
        assert_eq!(header(response, "x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(header(response, "server"), None, "{what}: no server banner");
        assert_eq!(header(response, "x-powered-by"), None, "{what}");
    }
    assert_eq!(header(&docs, "server"), None, "/docs/: no server banner");
}

async fn oversized_bodies_are_413_in_each_endpoints_shape(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("big@example.com").await;
    let big = "a".repeat(100 * 1024);

    let login = app.login("big@example.com", &big).await;
    let forgot = app
        .post_json("/password/forgot", &json!({ "email": big }))
        .await;
    let reset = app
        .post_json(
            "/password/reset",
            &json!({ "token": big, "new_password": PASSWORD }),
        )
        .await;
    let change = app
        .request(Method::POST, "/me/password")
        .bearer_auth(&access)
        .json(&json!({ "current_password": PASSWORD, "new_password": big }))
        .send()
        .await
        .expect("request");
    let under_the_limit = app.login("big@example.com", &"a".repeat(60 * 1024)).await;

    assert_problem(forgot, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_problem(reset, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_problem(change, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_token_error(under_the_limit, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        app.login("big@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "nothing changed"
    );
    // The token endpoint answers every error in RFC 6749 form, this one too.
    assert_token_error(login, StatusCode::PAYLOAD_TOO_LARGE).await;
}

// ------------------------------------------------------------------ slow clients

/// Sends `POST /register` to `address` with its body a byte at a time
/// (for at most six seconds); the task gives the time taken and the answer.
async fn trickle_registration(address: &str) -> JoinHandle<(Duration, String)> {
    let mut slow = TcpStream::connect(address).await.expect("connect");
    let body = json!({"email": "slow@example.com", "password": PASSWORD}).to_string();
    slow.write_all(
        format!(
            "POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("headers");
    tokio::spawn(async move {
        let started = Instant::now();
        for byte in body.bytes() {
            if slow.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            if started.elapsed() > Duration::from_secs(6) {
                break;
            }
        }
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), slow.read_to_end(&mut answer)).await;
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    })
}

/// A client that trickles its body does not hold the server beyond the
/// request timeout; idle connections do not exhaust it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_do_not_tie_up_the_server() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.request_timeout = Duration::from_secs(2)
    })
    .await
    else {
        return;
    };
    let address = app.address.trim_start_matches("http://").to_owned();

    // 300 connections that never send a byte.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(&address).await.expect("connect"));
    }

    // One client sending its body a byte at a time.
    let trickle = trickle_registration(&address).await;

    // Meanwhile the service answers everyone else promptly.
    for _ in 0..5 {
        let started = Instant::now();
        let health = app.get("/health", None).await;
        assert_eq!(health.status(), StatusCode::OK);
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let registered = app.register("quick@example.com", json!({})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    let (elapsed, answer) = trickle.await.expect("trickle");
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "the slow request times out: {answer}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "cut at the request timeout: {elapsed:?}"
    );
    let me: Value = app
        .login("slow@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        me["error"], "invalid_grant",
        "the timed-out registration wrote nothing"
    );
    drop(idle);
}

on_both_databases!(
    unknown_routes_and_methods_are_problems,
    every_response_carries_security_headers,
    a_given_request_id_is_echoed,
    an_unsafe_request_id_is_replaced,
    personal_data_is_never_cached,
    a_nul_byte_in_any_input_is_a_4xx,
    cors_allows_only_the_configured_origins,
    content_security_policy_fits_each_kind_of_page,
    oversized_bodies_are_413_in_each_endpoints_shape,
);

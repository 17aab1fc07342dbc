//! Account security across the service: tokens of deleted users, imported
//! bcrypt hashes, a lockout shared by two instances, rate limits and trusted
//! proxies, CORS, CSP and body limits — and a scan of the real binary's log
//! and of every response of a whole account's life for secrets.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::{Value, json};
use user_management::auth::jwt::JwtKeys;
use user_management::auth::tokens::digest;
use user_management::db::entities::{audit_events, users};
use uuid::Uuid;

use crate::helpers::{
    Backend, JWT_SECRET, PASSWORD, TestApp, assert_problem, assert_token_error, jwt_claims,
    link_in, path_of, query_param, spawn_app, spawn_app_with,
};
use crate::on_both_databases;
use crate::helpers::smtp::SmtpSink;

const WRONG: &str = "not-the-right-passphrase";
const ISSUER: &str = "http://localhost:8000";

/// A password-grant login at the instance at `address`.
async fn login_at(app: &TestApp, address: &str, email: &str, password: &str) -> Response {
    app.client
        .post(format!("{address}/login"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .expect("request")
}

/// Asserts a 401 that asks for a bearer token.
async fn assert_unauthorized(response: Response, what: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge:?}");
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_owned())
}

// ------------------------------------------------------------------ tokens

async fn tokens_of_a_deleted_user_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, refresh) = app.verified_user("deleted@example.com").await;
    assert_eq!(app.get("/me", Some(&access)).await.status(), StatusCode::OK);
    let claims = jwt_claims(&access);
    let user = Uuid::parse_str(&id).expect("uuid");
    let sid = Uuid::parse_str(claims["sid"].as_str().expect("sid")).expect("uuid");
    // Validly signed, for the deleted user's id and session, even claiming ADMIN.
    let minted = JwtKeys::new(
        &SecretString::from(JWT_SECRET.to_owned()),
        ISSUER.to_owned(),
        Duration::from_secs(900),
    )
    .issue(user, user_management::domain::Role::Admin, sid)
    .expect("issue");

    app.execute("DELETE FROM users WHERE email_norm = 'deleted@example.com'")
        .await;

    let gone = users::Entity::find_by_id(user)
        .one(&app.db)
        .await
        .expect("query users");
    assert!(gone.is_none(), "arranged: the row is deleted");
    assert_unauthorized(app.get("/me", Some(&access)).await, "issued token").await;
    assert_unauthorized(app.get("/me", Some(&minted)).await, "minted token").await;
    assert_token_error(app.refresh(&refresh).await, StatusCode::BAD_REQUEST).await;
    assert_token_error(
        app.login("deleted@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

// ------------------------------------------------------------------ bcrypt import

/// `(m, t, p)` of an Argon2 PHC string.
fn argon2_params(hash: &str) -> (u32, u32, u32) {
    let params = hash.split('$').nth(3).expect("parameter segment");
    let value = |key: &str| {
        params
            .split(',')
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {hash}"))
    };
    (value("m="), value("t="), value("p="))
}

async fn imported_bcrypt_hashes_log_in_and_become_argon2id(backend: Backend) {
    const LEGACY: &str = "legacy-fastapi-passphrase";
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    for (n, prefix) in ["$2b$", "$2a$", "$2y$"].into_iter().enumerate() {
        let email = format!("bcrypt{n}@example.com");
        let id = app.verified_account(&email).await;
        let bcrypt = bcrypt::hash(LEGACY, 4).expect("bcrypt hash");
        let imported = format!("{prefix}{}", bcrypt.strip_prefix("$2b$").expect("2b"));
        app.execute(&format!(
            "UPDATE users SET password_hash = '{imported}' WHERE email_norm = '{email}'"
        ))
        .await;
        assert_eq!(app.user_row(&id).await.password_hash, imported, "arranged");

        let wrong = app.login(&email, WRONG).await;
        let registered = app.login(&email, PASSWORD).await;
        let unchanged = app.user_row(&id).await.password_hash;
        let first = app.login(&email, LEGACY).await;
        let rehashed = app.user_row(&id).await.password_hash;
        let second = app.login(&email, LEGACY).await;

        assert_token_error(wrong, StatusCode::UNAUTHORIZED).await;
        assert_token_error(registered, StatusCode::UNAUTHORIZED).await;
        assert_eq!(unchanged, imported, "{prefix}: failures keep the hash");
        assert_eq!(first.status(), StatusCode::OK, "{prefix}: bcrypt accepted");
        assert!(rehashed.starts_with("$argon2id$"), "{prefix}: {rehashed}");
        let (m, t, p) = argon2_params(&rehashed);
        assert!(
            m >= 19 * 1024 && t >= 2 && p >= 1,
            "{prefix}: weak parameters {rehashed}"
        );
        assert_eq!(second.status(), StatusCode::OK, "{prefix}: still logs in");
        assert_eq!(
            app.user_row(&id).await.password_hash,
            rehashed,
            "{prefix}: an up-to-date hash is kept"
        );
    }
}

// ------------------------------------------------------------------ lockout

const LIMIT: u32 = 4;

async fn lock_audits(app: &TestApp, user_id: &str) -> u64 {
    audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("user_locked"))
        .filter(audit_events::Column::UserId.eq(Uuid::parse_str(user_id).expect("uuid")))
        .count(&app.db)
        .await
        .expect("count audit events")
}

async fn two_instances_share_one_lockout(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = LIMIT).await else {
        return;
    };
    let sibling = app.sibling().await;
    let instances = [app.address.clone(), sibling.address.clone()];
    let id = app.verified_account("shared@example.com").await;

    let mut statuses = Vec::new();
    for attempt in 0..LIMIT as usize {
        let address = &instances[attempt % 2];
        let response = login_at(&app, address, "shared@example.com", WRONG).await;
        statuses.push(response.status());
    }

    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::LOCKED
        ],
        "failures on either instance add up; the one reaching the limit locks"
    );
    let row = app.user_row(&id).await;
    assert!(row.is_locked);
    assert_eq!(row.failed_login_attempts, LIMIT as i32);
    for address in &instances {
        let right = login_at(&app, address, "shared@example.com", PASSWORD).await;
        assert_token_error(right, StatusCode::LOCKED).await;
    }
    let more = login_at(&app, &instances[1], "shared@example.com", WRONG).await;
    assert_token_error(more, StatusCode::LOCKED).await;
    assert_eq!(
        app.user_row(&id).await.failed_login_attempts,
        LIMIT as i32,
        "a locked account counts no further"
    );
    assert_eq!(lock_audits(&app, &id).await, 1);
}

async fn concurrent_failures_on_two_instances_lock_at_exactly_the_limit(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = LIMIT).await else {
        return;
    };
    let sibling = app.sibling().await;
    let id = app.verified_account("storm@example.com").await;
    let attempts = 10;

    let tasks: Vec<_> = (0..attempts)
        .map(|n| {
            let address = if n % 2 == 0 {
                app.address.clone()
            } else {
                sibling.address.clone()
            };
            let client = app.client.clone();
            tokio::spawn(async move {
                client
                    .post(format!("{address}/login"))
                    .form(&[("username", "storm@example.com"), ("password", WRONG)])
                    .send()
                    .await
                    .expect("request")
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }

    let count = |status| statuses.iter().filter(|s| **s == status).count();
    assert_eq!(
        count(StatusCode::UNAUTHORIZED),
        LIMIT as usize - 1,
        "{statuses:?}"
    );
    assert_eq!(
        count(StatusCode::LOCKED),
        attempts - (LIMIT as usize - 1),
        "{statuses:?}"
    );
    let row = app.user_row(&id).await;
    assert!(row.is_locked);
    assert_eq!(row.failed_login_attempts, LIMIT as i32);
    assert_eq!(lock_audits(&app, &id).await, 1, "locked once");
}

// ------------------------------------------------------------------ rate limits

async fn resend_from(app: &TestApp, forwarded_for: Option<&str>) -> Response {
    let mut request = app
        .request(Method::POST, "/verify-email/resend")
        .json(&json!({ "email": "nobody@example.com" }));
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    request.send().await.expect("request")
}

/// The `Retry-After` seconds of a 429.
fn retry_after(response: &Response) -> u64 {
    let seconds: u64 = header(response, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After is delta-seconds");
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    seconds
}

async fn auth_endpoints_are_rate_limited_and_recover(backend: Backend) {
    const PER_MINUTE: u32 = 60;
    let Some(app) = spawn_app_with(backend, |c| c.auth_rate_limit = PER_MINUTE).await else {
        return;
    };
    // Arranged through a second instance: each process counts on its own, so
    // the bucket measured below starts full.
    let sibling = app.sibling().await;
    let registered = app
        .client
        .post(format!("{}/register", sibling.address))
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
    let tokens: Value = login_at(&app, &sibling.address, "limited@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let access = tokens["access_token"].as_str().expect("access");

    let start = Instant::now();
    let mut accepted = 0;
    let refused = loop {
        let response = resend_from(&app, None).await;
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
        app.get("/me", Some(access)).await.status(),
        StatusCode::OK,
        "other routes are not limited"
    );

    let last = app.login("limited@example.com", PASSWORD).await;
    assert_eq!(last.status(), StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(Duration::from_secs(retry_after(&last))).await;
    assert_eq!(
        resend_from(&app, None).await.status(),
        StatusCode::ACCEPTED,
        "after Retry-After the client may go on"
    );
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
        resend_from(&proxied, a).await.status(),
        resend_from(&proxied, a).await.status(),
        resend_from(&proxied, a).await.status(),
        resend_from(&proxied, b).await.status(),
        resend_from(&proxied, None).await.status(),
    ];
    let direct_statuses = [
        resend_from(&direct, a).await.status(),
        resend_from(&direct, b).await.status(),
        resend_from(&direct, None).await.status(),
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

    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        header(&allowed, "access-control-allow-origin").as_deref(),
        Some(ALLOWED_ORIGIN)
    );
    let methods = header(&allowed, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("GET"), "{methods}");
    let headers = header(&allowed, "access-control-allow-headers").unwrap_or_default();
    assert!(
        headers.to_ascii_lowercase().contains("authorization"),
        "{headers}"
    );
    assert_eq!(
        header(&allowed, "access-control-allow-credentials"),
        None,
        "bearer tokens need no cookies"
    );
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

on_both_databases!(
    tokens_of_a_deleted_user_are_refused,
    imported_bcrypt_hashes_log_in_and_become_argon2id,
    two_instances_share_one_lockout,
    concurrent_failures_on_two_instances_lock_at_exactly_the_limit,
    auth_endpoints_are_rate_limited_and_recover,
    forwarded_for_is_believed_only_from_trusted_proxies,
    cors_allows_only_the_configured_origins,
    content_security_policy_fits_each_kind_of_page,
    oversized_bodies_are_413_in_each_endpoints_shape,
);

// ------------------------------------------------------------------ log scan

const BIN: &str = env!("CARGO_BIN_EXE_user-management");
/// The JWT secret of the scanned binary.
const LOG_SCAN_SECRET: &str = "log-scan-jwt-secret-0123456789-abcdefghij";

/// The real binary in a temp dir, its stdout and stderr captured line by
/// line; killed when dropped.
struct Binary {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    base: String,
    _dir: tempfile::TempDir,
}

impl Binary {
    fn start(smtp_url: &str) -> Binary {
        let dir = tempfile::tempdir().expect("dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = Command::new(BIN)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("RUST_LOG", "debug")
            .env("LOG_FORMAT", "json")
            .env("SMTP_URL", smtp_url)
            .env("JWT_SECRET", LOG_SCAN_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        let readers = streams
            .into_iter()
            .map(|stream| {
                let lines = Arc::clone(&lines);
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        lines.lock().expect("log lines").push(line);
                    }
                })
            })
            .collect();
        Binary {
            child,
            lines,
            readers,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("log lines").clone()
    }

    async fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.lines().iter().any(|l| l.contains("listening on")) {
            assert!(
                Instant::now() < deadline,
                "the binary did not start:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process and returns everything it wrote.
    fn stop(&mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.lines()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every response of the flow, and the secrets it handled.
struct Flow {
    client: reqwest::Client,
    base: String,
    smtp: SmtpSink,
    responses: Vec<Seen>,
    /// (what, value, index of the one response allowed to carry it).
    secrets: Vec<(String, String, Option<usize>)>,
}

struct Seen {
    what: String,
    request_id: String,
    body: String,
}

impl Flow {
    fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(format!("{}{path}", self.base))
    }

    /// Sends, records the body and request id, checks the status.
    async fn send(&mut self, what: &str, request: RequestBuilder, expected: StatusCode) -> Value {
        let response = request.send().await.expect("request");
        let status = response.status();
        let request_id = header(&response, "x-request-id").expect("x-request-id");
        let body = response.text().await.expect("body");
        assert_eq!(status, expected, "{what}: {body}");
        self.responses.push(Seen {
            what: what.to_owned(),
            request_id,
            body: body.clone(),
        });
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    fn secret(&mut self, what: &str, value: &str, issued_by_last_response: bool) {
        let issued = issued_by_last_response.then(|| self.responses.len() - 1);
        self.secrets
            .push((what.to_owned(), value.to_owned(), issued));
    }

    /// Logs in (or refreshes) and records the tokens as secrets of that response.
    async fn tokens(&mut self, what: &str, form: &[(&str, &str)]) -> (String, String) {
        let request = self.post("/login").form(form);
        let body = self.send(what, request, StatusCode::OK).await;
        let access = body["access_token"].as_str().expect("access").to_owned();
        let refresh = body["refresh_token"].as_str().expect("refresh").to_owned();
        let signature = access.rsplit('.').next().expect("signature").to_owned();
        self.secret(&format!("{what}: access token"), &access, true);
        self.secret(&format!("{what}: its signature"), &signature, true);
        self.secret(&format!("{what}: refresh token"), &refresh, true);
        self.secret(&format!("{what}: refresh digest"), &digest(&refresh), false);
        (access, refresh)
    }

    /// The newest link containing `marker` in mail to `to`.
    async fn mailed_link(&self, to: &str, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .smtp
                .messages()
                .into_iter()
                .rev()
                .filter(|m| m.to.iter().any(|t| t == to))
                .find_map(|m| link_in(&m.text(), marker));
            if let Some(link) = found {
                return link;
            }
            assert!(Instant::now() < deadline, "no {marker} mail to {to}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Registers and verifies `email`.
    async fn verified(&mut self, email: &str, password: &str) {
        let request = self
            .post("/register")
            .json(&json!({ "email": email, "password": password }));
        self.send(&format!("register {email}"), request, StatusCode::CREATED)
            .await;
        let path = path_of(&self.mailed_link(email, "/verify-email/").await);
        let token = path.rsplit('/').next().expect("token").to_owned();
        self.secret(&format!("verification token of {email}"), &token, false);
        self.secret(&format!("its digest ({email})"), &digest(&token), false);
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(&format!("verify {email}"), request, StatusCode::OK)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_or_another_response() {
    const EMAIL: &str = "log.scan@example.com";
    const OTHER: &str = "bystander@example.com";
    const FIRST: &str = "first-secret-passphrase";
    const SECOND: &str = "second-secret-passphrase";
    const THIRD: &str = "third-secret-passphrase";
    const BAD: &str = "wrong-secret-passphrase";
    const OTHERS: &str = "bystander-secret-passphrase";
    let smtp = SmtpSink::start().await;
    let mut binary = Binary::start(&smtp.url());
    binary.wait_until_listening().await;
    let mut flow = Flow {
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        base: binary.base.clone(),
        smtp: smtp.clone(),
        responses: Vec::new(),
        secrets: Vec::new(),
    };

    // The whole life of an account, beside another user's.
    flow.verified(EMAIL, FIRST).await;
    flow.verified(OTHER, OTHERS).await;
    let (_, first_refresh) = flow
        .tokens("login", &[("username", EMAIL), ("password", FIRST)])
        .await;
    flow.tokens(
        "bystander login",
        &[("username", OTHER), ("password", OTHERS)],
    )
    .await;
    let (access, _) = flow
        .tokens(
            "refresh",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &first_refresh),
            ],
        )
        .await;
    let me = flow
        .client
        .get(format!("{}/me", flow.base))
        .bearer_auth(&access);
    flow.send("/me", me, StatusCode::OK).await;
    let sessions = flow
        .client
        .get(format!("{}/me/sessions", flow.base))
        .bearer_auth(&access);
    flow.send("/me/sessions", sessions, StatusCode::OK).await;
    let forgot = flow
        .post("/password/forgot")
        .json(&json!({ "email": EMAIL }));
    flow.send("forgot", forgot, StatusCode::ACCEPTED).await;
    let link = flow.mailed_link(EMAIL, "/password/reset").await;
    let reset_token = query_param(&link, "token").expect("token in the reset link");
    flow.secret("reset token", &reset_token, false);
    flow.secret("reset digest", &digest(&reset_token), false);
    let reset = flow
        .post("/password/reset")
        .json(&json!({ "token": reset_token, "new_password": SECOND }));
    flow.send("reset", reset, StatusCode::NO_CONTENT).await;
    let (access, _) = flow
        .tokens(
            "login after reset",
            &[("username", EMAIL), ("password", SECOND)],
        )
        .await;
    let change = flow
        .post("/me/password")
        .bearer_auth(&access)
        .json(&json!({ "current_password": SECOND, "new_password": THIRD }));
    flow.send("change password", change, StatusCode::NO_CONTENT)
        .await;
    let logout = flow.post("/logout").bearer_auth(&access);
    flow.send("logout", logout, StatusCode::NO_CONTENT).await;
    let failed = flow
        .post("/login")
        .form(&[("username", EMAIL), ("password", BAD)]);
    flow.send("failed login", failed, StatusCode::UNAUTHORIZED)
        .await;
    flow.tokens(
        "login after change",
        &[("username", EMAIL), ("password", THIRD)],
    )
    .await;
    let log = binary.stop();

    assert!(!log.is_empty(), "the log is empty");
    for line in &log {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(
            parsed.is_ok_and(|v| v.is_object()),
            "LOG_FORMAT=json: {line}"
        );
    }
    for seen in &flow.responses {
        assert!(
            log.iter().any(|line| line.contains(&seen.request_id)),
            "no log line for the request {} ({}): the scan would miss it",
            seen.what,
            seen.request_id
        );
    }
    let mut forbidden: Vec<(String, String)> = flow
        .secrets
        .iter()
        .map(|(what, value, _)| (what.clone(), value.clone()))
        .collect();
    for (what, value) in [
        ("a password", FIRST),
        ("a password", SECOND),
        ("a password", THIRD),
        ("a wrong password", BAD),
        ("the bystander's password", OTHERS),
        ("the JWT secret", LOG_SCAN_SECRET),
        ("a password hash", "$argon2"),
        ("the email address", EMAIL),
        ("the bystander's email address", OTHER),
    ] {
        forbidden.push((what.to_owned(), value.to_owned()));
    }
    for line in &log {
        for (what, value) in &forbidden {
            assert!(!line.contains(value.as_str()), "{what} in the log: {line}");
        }
    }
    let never_in_a_body = [
        "$argon2",
        "$2b$",
        LOG_SCAN_SECRET,
        FIRST,
        SECOND,
        THIRD,
        BAD,
        OTHERS,
    ];
    for (index, seen) in flow.responses.iter().enumerate() {
        for value in never_in_a_body {
            assert!(!seen.body.contains(value), "{}: {}", seen.what, seen.body);
        }
        for (what, value, issued) in &flow.secrets {
            if *issued != Some(index) {
                assert!(
                    !seen.body.contains(value.as_str()),
                    "{what} in the response to {}: {}",
                    seen.what,
                    seen.body
                );
            }
        }
    }
}

//! What the service writes to its log (`LOG_FORMAT=json`): one line per
//! request naming its id, route template (never the raw path), status and
//! latency; and, over the whole life of an account, no secret in the log
//! nor in any response but the one that issued it.

use std::time::{Duration, Instant};

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use user_management::auth::tokens::digest;

use crate::helpers::binary::{Server, header_in};
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{header, link_in, path_of, query_param};

/// Every value of `key` anywhere in `value`.
fn values_of<'a>(value: &'a Value, key: &str, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    found.push(v);
                }
                values_of(v, key, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| values_of(v, key, found)),
        _ => {}
    }
}

fn field<'a>(line: &'a Value, key: &str) -> Vec<&'a Value> {
    let mut found = Vec::new();
    values_of(line, key, &mut found);
    found
}

/// The "finished processing request" JSON line of request `id`.
fn finished_line(server: &Server, id: &str) -> Value {
    let line = server.wait_for_line(&format!("request {id} finished"), |l| {
        l.contains(id) && l.contains("finished processing request")
    });
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn a_request_id_is_echoed_and_names_the_request_log_line() {
    const SECRET_PATH: &str = "no-such-nickname-7f3a9c";
    let server = Server::start(&[("LOG_FORMAT", "json")], &["serve"]);

    let (status, head, _) = server.get("/health", &[("X-Request-Id", "trace-me-42")]);
    assert_eq!(status, 200);
    assert_eq!(
        header_in(&head, "x-request-id").as_deref(),
        Some("trace-me-42")
    );
    let (missing, head, _) = server.get(
        &format!("/profiles/{SECRET_PATH}"),
        &[("X-Request-Id", "trace-me-43")],
    );
    assert_eq!(
        header_in(&head, "x-request-id").as_deref(),
        Some("trace-me-43")
    );

    let line = finished_line(&server, "trace-me-42");
    assert!(
        field(&line, "request_id").contains(&&json!("trace-me-42")),
        "{line}"
    );
    assert!(field(&line, "route").contains(&&json!("/health")), "{line}");
    assert!(field(&line, "method").contains(&&json!("GET")), "{line}");
    assert_eq!(field(&line, "status"), [&json!(200)], "{line}");
    let latency = field(&line, "latency_ms");
    assert!(
        latency
            .first()
            .is_some_and(|l| l.as_f64().is_some_and(|ms| ms >= 0.0)),
        "the latency is a number of milliseconds: {line}"
    );

    let line = finished_line(&server, "trace-me-43");
    assert!(
        field(&line, "route").contains(&&json!("/profiles/{nickname}")),
        "the route template, not the path: {line}"
    );
    assert_eq!(field(&line, "status"), [&json!(missing)], "{line}");
    let finished = server
        .lines()
        .iter()
        .filter(|l| l.contains("finished processing request"))
        .count();
    assert!(finished >= 2);
    assert!(
        !server.log().contains(SECRET_PATH),
        "the raw path is not logged:\n{}",
        server.log()
    );
    for line in server.lines() {
        assert!(
            serde_json::from_str::<Value>(&line).is_ok_and(|v| v.is_object()),
            "LOG_FORMAT=json: {line}"
        );
    }
}

#[test]
fn tokens_in_page_links_never_reach_the_log() {
    const TOKEN: &str = "umr_page-link-secret-5b1e0c";
    let server = Server::start(&[("LOG_FORMAT", "json")], &["serve"]);
    let user = "0190f5c2-7e6a-7cc0-8a5b-3d2f4e6a8b9c";
    let links = [
        (format!("/password/reset?token={TOKEN}"), "/password/reset"),
        (format!("/reset-password?token={TOKEN}"), "/reset-password"),
        (
            format!("/verify-email/{user}/{TOKEN}"),
            "/verify-email/{user_id}/{token}",
        ),
        (
            format!("/confirm-email/{user}/{TOKEN}"),
            "/confirm-email/{user_id}/{token}",
        ),
        (format!("/email/confirm?token={TOKEN}"), "/email/confirm"),
        (
            format!("/confirm-new-email?token={TOKEN}"),
            "/confirm-new-email",
        ),
    ];
    for (n, (path, route)) in links.iter().enumerate() {
        let id = format!("page-link-{n}");
        let (status, head, _) = server.get(path, &[("Accept", "text/html"), ("X-Request-Id", &id)]);
        assert!(matches!(status, 200 | 303), "{path}: {status}");
        if status == 303 {
            // The redirect carries the token on to its page, never elsewhere.
            let to = header_in(&head, "location").unwrap_or_default();
            assert!(to.starts_with('/'), "{path} -> {to}");
        }
        let line = finished_line(&server, &id);
        assert!(field(&line, "route").contains(&&json!(route)), "{line}");
    }
    assert!(
        !server.log().contains(TOKEN),
        "a link's token is in the log:\n{}",
        server.log()
    );
}

// ------------------------------------------------------------------ log scan

/// The JWT secret of the scanned binary.
const LOG_SCAN_SECRET: &str = "log-scan-jwt-secret-0123456789-abcdefghij";

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
        let request = self
            .client
            .get(format!("{}{path}", self.base))
            .header("accept", "application/json");
        self.send(&format!("verify {email}"), request, StatusCode::OK)
            .await;
    }
}

/// The account whose life is scanned, and a bystander beside it.
const EMAIL: &str = "log.scan@example.com";
const OTHER: &str = "bystander@example.com";
/// The passwords the account has in turn, a wrong one, the bystander's.
const FIRST: &str = "first-secret-passphrase";
const SECOND: &str = "second-secret-passphrase";
const THIRD: &str = "third-secret-passphrase";
const BAD: &str = "wrong-secret-passphrase";
const OTHERS: &str = "bystander-secret-passphrase";

/// The life of an account, in two acts.
impl Flow {
    fn new(base: String, smtp: SmtpSink) -> Flow {
        Flow {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base,
            smtp,
            responses: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// Registration and verification of both users, their logins, a
    /// refresh, `/me` and `/me/sessions`.
    async fn sign_up_and_look_around(&mut self) {
        self.verified(EMAIL, FIRST).await;
        self.verified(OTHER, OTHERS).await;
        let (_, first_refresh) = self
            .tokens("login", &[("username", EMAIL), ("password", FIRST)])
            .await;
        self.tokens(
            "bystander login",
            &[("username", OTHER), ("password", OTHERS)],
        )
        .await;
        let (access, _) = self
            .tokens(
                "refresh",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &first_refresh),
                ],
            )
            .await;
        let me = self
            .client
            .get(format!("{}/me", self.base))
            .bearer_auth(&access);
        self.send("/me", me, StatusCode::OK).await;
        let sessions = self
            .client
            .get(format!("{}/me/sessions", self.base))
            .bearer_auth(&access);
        self.send("/me/sessions", sessions, StatusCode::OK).await;
    }

    /// A password reset, a password change, a logout, a failed login and a
    /// last login.
    async fn reset_change_and_leave(&mut self) {
        let forgot = self
            .post("/password/forgot")
            .json(&json!({ "email": EMAIL }));
        self.send("forgot", forgot, StatusCode::ACCEPTED).await;
        let link = self.mailed_link(EMAIL, "/password/reset").await;
        let reset_token = query_param(&link, "token").expect("token in the reset link");
        self.secret("reset token", &reset_token, false);
        self.secret("reset digest", &digest(&reset_token), false);
        let reset = self
            .post("/password/reset")
            .json(&json!({ "token": reset_token, "new_password": SECOND }));
        self.send("reset", reset, StatusCode::NO_CONTENT).await;
        let (access, _) = self
            .tokens(
                "login after reset",
                &[("username", EMAIL), ("password", SECOND)],
            )
            .await;
        let change = self
            .post("/me/password")
            .bearer_auth(&access)
            .json(&json!({ "current_password": SECOND, "new_password": THIRD }));
        self.send("change password", change, StatusCode::NO_CONTENT)
            .await;
        let logout = self.post("/logout").bearer_auth(&access);
        self.send("logout", logout, StatusCode::NO_CONTENT).await;
        let failed = self
            .post("/login")
            .form(&[("username", EMAIL), ("password", BAD)]);
        self.send("failed login", failed, StatusCode::UNAUTHORIZED)
            .await;
        self.tokens(
            "login after change",
            &[("username", EMAIL), ("password", THIRD)],
        )
        .await;
    }
}

/// Every line of the log is a JSON object, and every request of the flow
/// has a line (so the scan sees it).
fn assert_json_lines_for_every_request(log: &[String], flow: &Flow) {
    for line in log {
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
}

/// No secret of the flow, no password, no hash and no email address is in
/// the log.
fn assert_no_secret_in_the_log(log: &[String], flow: &Flow) {
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
    for line in log {
        for (what, value) in &forbidden {
            assert!(!line.contains(value.as_str()), "{what} in the log: {line}");
        }
    }
}

/// No response carries a password, a hash or the JWT secret, and each
/// token is only in the response that issued it.
fn assert_no_secret_in_another_response(flow: &Flow) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_or_another_response() {
    let smtp = SmtpSink::start().await;
    let smtp_url = smtp.url();
    let env = [
        ("RUST_LOG", "debug"),
        ("LOG_FORMAT", "json"),
        ("SMTP_URL", smtp_url.as_str()),
        ("JWT_SECRET", LOG_SCAN_SECRET),
    ];
    let mut server = tokio::task::block_in_place(|| Server::start(&env, &[]));
    let mut flow = Flow::new(server.base(), smtp.clone());

    // The whole life of an account, beside another user's.
    flow.sign_up_and_look_around().await;
    flow.reset_change_and_leave().await;
    let log = server.kill();

    assert!(!log.is_empty(), "the log is empty");
    assert_json_lines_for_every_request(&log, &flow);
    assert_no_secret_in_the_log(&log, &flow);
    assert_no_secret_in_another_response(&flow);
}

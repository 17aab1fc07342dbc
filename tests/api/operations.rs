//! Operations: the administration CLI against a temporary database on both
//! backends, Prometheus metrics, the per-request log line, graceful shutdown
//! of the real binary on SIGTERM, and two instances serving one database.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use user_management::db::entities::{audit_events, users};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PASSWORD, TestApp, spawn_app, spawn_app_with_admin,
};
use crate::on_both_databases;
use crate::startup::{binary, cli, cli_with_stdin};

/// The columns of a users CSV, in the export's order.
const CSV_HEADER: &str = "email,nickname,first_name,last_name,bio,profile_picture_url,\
linkedin_profile_url,github_profile_url,role,is_professional,email_verified,hashed_password";

/// The password behind the bcrypt hashes of the "FastAPI project".
const LEGACY: &str = "legacy-fastapi-passphrase";

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a subcommand that must fail; returns (stdout, stderr).
fn cli_failing(app: &TestApp, args: &[&str]) -> (String, String) {
    let output = cli_with_stdin(app, args, "");
    assert!(
        !output.status.success(),
        "{args:?} should fail; stdout: {}",
        stdout_of(&output)
    );
    (stdout_of(&output), stderr_of(&output))
}

/// Logs in over HTTP with a fresh password grant and returns `GET /me`.
async fn me_after_login(app: &TestApp, email: &str, password: &str) -> Value {
    let (access, _) = app.tokens(email, password).await;
    let me = app.get("/me", Some(&access)).await;
    assert_eq!(me.status(), StatusCode::OK, "/me of {email}");
    me.json().await.expect("json")
}

/// The stored row of `email`, if any.
async fn row_of(app: &TestApp, email: &str) -> Option<users::Model> {
    users::Entity::find()
        .filter(users::Column::EmailNorm.eq(email.to_lowercase()))
        .one(&app.db)
        .await
        .expect("query users")
}

async fn user_count(app: &TestApp) -> u64 {
    users::Entity::find()
        .count(&app.db)
        .await
        .expect("count users")
}

/// `path` as an argument of the binary.
fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// The header and the data rows of a CSV file, rows sorted (the order of
/// an export is creation order, which an import does not keep).
fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).expect("open CSV");
    let header = reader
        .headers()
        .expect("CSV header")
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("CSV record").iter().map(str::to_owned).collect())
        .collect();
    rows.sort();
    (header, rows)
}

/// A `$2b$` bcrypt hash of `password`, as passlib stores them.
fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt hash")
}

/// Writes `contents` to a new file in `dir`.
fn write_file(dir: &Path, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write CSV");
    path
}

// ------------------------------------------------------------ create-admin

async fn create_admin_makes_a_verified_admin_once_and_checks_the_password(backend: Backend) {
    const EMAIL: &str = "boss@example.com";
    const SECRET: &str = "cli-admin-passphrase";
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let args = ["create-admin", "--email", EMAIL, "--password-stdin"];

    let created = cli_with_stdin(&app, &args, &format!("{SECRET}\n"));
    assert!(created.status.success(), "{}", stderr_of(&created));
    assert!(
        stdout_of(&created).contains("created administrator"),
        "{}",
        stdout_of(&created)
    );
    let me = me_after_login(&app, EMAIL, SECRET).await;
    assert_eq!(me["role"], "ADMIN");
    assert_eq!(me["email_verified"], true);

    let again = cli_with_stdin(&app, &args, "another-admin-passphrase\n");
    assert!(again.status.success(), "{}", stderr_of(&again));
    assert!(
        stdout_of(&again).contains("already"),
        "reports the existing administrator: {}",
        stdout_of(&again)
    );
    assert_eq!(user_count(&app).await, 1, "nothing more created");
    me_after_login(&app, EMAIL, SECRET).await;

    let weak = cli_with_stdin(
        &app,
        &[
            "create-admin",
            "--email",
            "weak@example.com",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!weak.status.success(), "a weak password is refused");
    let message = stderr_of(&weak);
    assert!(
        message.contains("password") && message.contains("at least 8 characters"),
        "names the password rule: {message}"
    );
    assert!(row_of(&app, "weak@example.com").await.is_none());
}

// ------------------------------------------------------------ users set-role

async fn set_role_from_the_cli_is_audited_ends_sessions_and_emails(backend: Backend) {
    const EMAIL: &str = "staffer@example.com";
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user(EMAIL).await;

    let out = cli(&app, &["users", "set-role", EMAIL, "MANAGER"]);
    assert!(out.contains(EMAIL) && out.contains("MANAGER"), "{out}");

    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old access token is revoked"
    );
    let me = me_after_login(&app, EMAIL, PASSWORD).await;
    assert_eq!(me["role"], "MANAGER");

    let events = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("role_changed"))
        .filter(audit_events::Column::UserId.eq(uuid::Uuid::parse_str(&id).expect("uuid")))
        .all(&app.db)
        .await
        .expect("query audit events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].actor_id, None, "no actor for the CLI");
    assert_eq!(events[0].details["via"], "cli", "{:?}", events[0].details);
    assert_eq!(
        events[0].details["to"], "MANAGER",
        "{:?}",
        events[0].details
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mailed = app.smtp.messages().into_iter().any(|m| {
            m.to.iter().any(|t| t.eq_ignore_ascii_case(EMAIL)) && m.subject().contains("MANAGER")
        });
        if mailed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no role-changed email reached the SMTP sink"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (_, message) = cli_failing(
        &app,
        &["users", "set-role", "nobody@example.com", "MANAGER"],
    );
    assert!(
        message.contains("no user with email nobody@example.com"),
        "{message}"
    );
}

// ------------------------------------------------------------ users list

async fn users_list_filters_by_role_and_by_lock(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, admin) = app.admin().await;
    app.create_user_as(&admin, "manager@example.com", "MANAGER", json!({}))
        .await;
    let locked = app
        .create_user_as(&admin, "locked@example.com", "AUTHENTICATED", json!({}))
        .await;
    app.create_user_as(&admin, "plain@example.com", "AUTHENTICATED", json!({}))
        .await;
    let id = locked["id"].as_str().expect("id");
    let response = app
        .call(
            Method::POST,
            &format!("/users/{id}/lock"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "lock");
    let everyone = [
        ADMIN_EMAIL,
        "manager@example.com",
        "locked@example.com",
        "plain@example.com",
    ];
    let listed = |out: &str| -> Vec<&'static str> {
        everyone
            .into_iter()
            .filter(|email| out.lines().any(|l| l.contains(email)))
            .collect()
    };

    let admins = cli(&app, &["users", "list", "--role", "ADMIN"]);
    assert_eq!(listed(&admins), [ADMIN_EMAIL], "{admins}");
    assert!(admins.contains("1 of 1 user(s)"), "{admins}");

    let managers = cli(&app, &["users", "list", "--role", "MANAGER"]);
    assert_eq!(listed(&managers), ["manager@example.com"], "{managers}");

    let locked = cli(&app, &["users", "list", "--locked"]);
    assert_eq!(listed(&locked), ["locked@example.com"], "{locked}");
    assert!(
        locked
            .lines()
            .any(|l| l.contains("locked@example.com") && l.contains(id) && l.contains("locked ")),
        "{locked}"
    );
    assert!(locked.contains("1 of 1 user(s)"), "{locked}");

    let all = cli(&app, &["users", "list"]);
    assert_eq!(listed(&all), everyone, "{all}");
    assert!(all.contains("4 of 4 user(s)"), "{all}");
}

// ------------------------------------------------------------ export / import

async fn export_then_import_round_trips_users_and_their_passwords(backend: Backend) {
    let Some(source) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, admin) = source.admin().await;
    let profile = json!({
        "nickname": "ada_l",
        "first_name": "Ada",
        "last_name": "Lovelace, Countess",
        "bio": "Wrote \"the first program\", and notes.",
        "github_profile_url": "https://github.com/ada",
        "linkedin_profile_url": "https://www.linkedin.com/in/ada",
    });
    let ada = source
        .create_user_as(&admin, "ada@example.com", "MANAGER", profile)
        .await;
    let id = ada["id"].as_str().expect("id");
    let professional = source
        .call(
            Method::PUT,
            &format!("/users/{id}/professional"),
            Some(&admin),
            Some(&json!({ "is_professional": true })),
        )
        .await;
    assert_eq!(professional.status(), StatusCode::OK, "professional");
    source.verified_account("plain@example.com").await;
    let unverified = source.register("unverified@example.com", json!({})).await;
    assert_eq!(unverified.status(), StatusCode::CREATED);

    let dir = tempfile::tempdir().expect("dir");
    let first = dir.path().join("users.csv");
    cli(&source, &["users", "export", arg(&first)]);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first)
            .expect("export")
            .permissions()
            .mode();
        assert_eq!(
            format!("{:o}", mode & 0o777),
            "600",
            "the export holds hashes"
        );
    }
    let (header, rows) = csv_rows(&first);
    assert_eq!(header.join(","), CSV_HEADER);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let exported = std::fs::read_to_string(&first).expect("read export");
    assert!(exported.contains("$argon2id$"), "hashes are exported");
    assert!(exported.contains("Lovelace, Countess"), "{exported}");

    let Some(target) = spawn_app(backend).await else {
        return;
    };
    let imported = cli(&target, &["users", "import", arg(&first)]);
    assert!(
        imported.contains("created 4, skipped 0 existing, refused 0"),
        "{imported}"
    );
    let second = dir.path().join("again.csv");
    cli(&target, &["users", "export", arg(&second)]);
    assert_eq!(
        csv_rows(&second),
        (header, rows),
        "the second database exports the same users"
    );

    for (email, password) in [
        (ADMIN_EMAIL, ADMIN_PASSWORD),
        ("ada@example.com", PASSWORD),
        ("plain@example.com", PASSWORD),
    ] {
        let me = me_after_login(&target, email, password).await;
        assert_eq!(me["email"], email);
    }
    let me = me_after_login(&target, "ada@example.com", PASSWORD).await;
    assert_eq!(me["role"], "MANAGER");
    assert_eq!(me["nickname"], "ada_l");
    assert_eq!(me["last_name"], "Lovelace, Countess");
    assert_eq!(me["bio"], "Wrote \"the first program\", and notes.");
    assert_eq!(me["is_professional"], true);
    assert_eq!(me["email_verified"], true);
    assert_ne!(
        target
            .login("unverified@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK,
        "an unverified user stays unverified"
    );

    let again = cli(&target, &["users", "import", arg(&first)]);
    assert!(
        again.contains("created 0, skipped 4 existing, refused 0"),
        "idempotent: {again}"
    );
    assert_eq!(user_count(&target).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_over_an_existing_file_makes_it_private() {
    use std::os::unix::fs::PermissionsExt;
    let Some(app) = spawn_app_with_admin(Backend::Sqlite).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let path = write_file(dir.path(), "users.csv", "stale\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    cli(&app, &["users", "export", arg(&path)]);

    let contents = std::fs::read_to_string(&path).expect("read export");
    assert!(contents.starts_with("email,"), "overwritten: {contents}");
    assert!(contents.contains("$argon2id$"));
    let mode = std::fs::metadata(&path)
        .expect("export")
        .permissions()
        .mode();
    assert_eq!(
        format!("{:o}", mode & 0o777),
        "600",
        "password hashes left in a file others can read"
    );
}

async fn import_reports_bad_rows_by_line_and_writes_only_good_ones(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let hash = bcrypt_hash(LEGACY);
    let csv = format!(
        "{CSV_HEADER}\n\
         good.one@example.com,,,,,,,,AUTHENTICATED,false,true,{hash}\n\
         not-an-email,,,,,,,,AUTHENTICATED,false,true,{hash}\n\
         bad.role@example.com,,,,,,,,SUPERUSER,false,true,{hash}\n\
         plain.text@example.com,,,,,,,,AUTHENTICATED,false,true,hunter2-in-clear\n\
         good.two@example.com,,,,,,,,MANAGER,true,true,{hash}\n"
    );
    let dir = tempfile::tempdir().expect("dir");
    let path = write_file(dir.path(), "bad.csv", &csv);

    let (out, err) = cli_failing(&app, &["users", "import", arg(&path)]);

    assert!(
        out.contains("created 2, skipped 0 existing, refused 3"),
        "{out}"
    );
    assert_eq!(user_count(&app).await, 2, "only the good rows are written");
    assert!(row_of(&app, "good.one@example.com").await.is_some());
    let two = row_of(&app, "good.two@example.com")
        .await
        .expect("good.two");
    assert_eq!(two.role, user_management::domain::Role::Manager);
    assert!(two.is_professional);
    for bad in ["bad.role@example.com", "plain.text@example.com"] {
        assert!(row_of(&app, bad).await.is_none(), "{bad} written");
    }
    let audited = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("user_created"))
        .count(&app.db)
        .await
        .expect("count audit events");
    assert_eq!(audited, 2, "one audit event per created user");

    // Each refused row is reported with its line in the file (the header is line 1).
    let reported: Vec<&str> = err.lines().filter(|l| l.starts_with("line ")).collect();
    for (line, field) in [(3, "email"), (4, "role"), (5, "hashed_password")] {
        let prefix = format!("line {line}: ");
        assert!(
            reported
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(field)),
            "line {line} reported for {field}: {err}"
        );
    }
    for good in [2, 6] {
        assert!(
            !reported
                .iter()
                .any(|l| l.starts_with(&format!("line {good}: "))),
            "good line {good} reported: {err}"
        );
    }
    assert!(
        !err.contains("hunter2-in-clear"),
        "the refused value is not echoed: {err}"
    );
}

async fn bcrypt_hashes_import_log_in_and_become_argon2id(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let b = bcrypt_hash(LEGACY);
    let a = format!("$2a${}", b.strip_prefix("$2b$").expect("$2b$"));
    let csv = format!(
        "{CSV_HEADER}\n\
         legacy.b@example.com,legacy_b,Grace,Hopper,,,,,AUTHENTICATED,false,true,{b}\n\
         legacy.a@example.com,,,,,,,,MANAGER,false,true,{a}\n"
    );
    let dir = tempfile::tempdir().expect("dir");
    let path = write_file(dir.path(), "fastapi.csv", &csv);

    let out = cli(&app, &["users", "import", arg(&path)]);
    assert!(
        out.contains("created 2, skipped 0 existing, refused 0"),
        "{out}"
    );

    for (email, imported) in [("legacy.b@example.com", &b), ("legacy.a@example.com", &a)] {
        let before = row_of(&app, email).await.expect("imported");
        assert_eq!(&before.password_hash, imported, "the hash is kept as is");
        let me = me_after_login(&app, email, LEGACY).await;
        assert_eq!(me["email"], email);
        let after = row_of(&app, email).await.expect("row").password_hash;
        assert!(after.starts_with("$argon2id$"), "{email}: {after}");
        me_after_login(&app, email, LEGACY).await;
    }
    let me = me_after_login(&app, "legacy.b@example.com", LEGACY).await;
    assert_eq!(me["nickname"], "legacy_b");
    assert_eq!(me["first_name"], "Grace");
}

// ------------------------------------------------------------ healthcheck, help

/// `user-management healthcheck` against `127.0.0.1:port`.
async fn healthcheck(port: u16) -> Output {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("dir");
        binary(dir.path())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .arg("healthcheck")
            .output()
            .expect("run healthcheck")
    })
    .await
    .expect("join")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_zero_only_when_the_service_answers() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let port: u16 = app
        .address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");

    let healthy = healthcheck(port).await;
    assert!(healthy.status.success(), "{}", stderr_of(&healthy));
    assert!(stdout_of(&healthy).contains("healthy"));

    let closed = healthcheck(free_port()).await;
    assert!(!closed.status.success(), "a closed port is unhealthy");
    assert!(
        stderr_of(&closed).contains("cannot reach"),
        "{}",
        stderr_of(&closed)
    );
}

#[test]
fn every_subcommand_has_help_and_flags_name_their_variables() {
    const SECRET: &str = "help-must-not-show-this-secret-0123456789";
    let commands: [&[&str]; 14] = [
        &[],
        &["serve"],
        &["migrate"],
        &["mail"],
        &["mail", "test"],
        &["mail", "status"],
        &["mail", "retry"],
        &["create-admin"],
        &["users"],
        &["users", "set-role"],
        &["users", "list"],
        &["users", "export"],
        &["users", "import"],
        &["healthcheck"],
    ];
    let dir = tempfile::tempdir().expect("dir");
    for command in commands {
        let output = binary(dir.path())
            .env("JWT_SECRET", SECRET)
            .args(command)
            .arg("--help")
            .output()
            .expect("run --help");
        let help = stdout_of(&output);
        assert!(
            output.status.success(),
            "{command:?} --help: {}",
            stderr_of(&output)
        );
        let usage = ["Usage: user-management"]
            .into_iter()
            .chain(command.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(help.contains(&usage), "{command:?}: {help}");
        assert!(!help.contains(SECRET), "{command:?} shows a secret: {help}");
    }

    let top = binary(dir.path())
        .arg("--help")
        .output()
        .expect("run --help");
    let help = stdout_of(&top);
    for name in [
        "serve",
        "migrate",
        "mail",
        "create-admin",
        "users",
        "healthcheck",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} listed: {help}"
        );
    }
    for variable in [
        "DATABASE_URL",
        "SMTP_URL",
        "JWT_SECRET",
        "HOST",
        "PORT",
        "LOG_FORMAT",
        "SHUTDOWN_TIMEOUT",
        "ADMIN_PASSWORD",
    ] {
        assert!(
            help.contains(&format!("env: {variable}")),
            "{variable} named: {help}"
        );
    }
}

on_both_databases!(
    create_admin_makes_a_verified_admin_once_and_checks_the_password,
    set_role_from_the_cli_is_audited_ends_sessions_and_emails,
    users_list_filters_by_role_and_by_lock,
    export_then_import_round_trips_users_and_their_passwords,
    import_reports_bad_rows_by_line_and_writes_only_good_ones,
    bcrypt_hashes_import_log_in_and_become_argon2id,
    two_instances_serve_one_user,
);

// ------------------------------------------------------------ metrics

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
    let count = |text: &str, name: &str, labels: &[(&str, &str)]| {
        sample(text, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} in:\n{text}"))
    };
    assert!(first.contains("http_requests_total{"), "{first}");
    assert!(count(&first, "http_requests_total", &LOGIN_401) >= 1.0);
    assert!(count(&first, "http_requests_total", &LOGIN_200) >= 1.0);
    assert!(count(&first, "http_requests_total", &NOT_FOUND) >= 1.0);
    assert!(
        count(
            &first,
            "http_request_duration_seconds_bucket",
            &[("route", "/login"), ("le", "+Inf")]
        ) >= 2.0
    );
    assert!(count(&first, "login_attempts_total", &[("outcome", "success")]) >= 1.0);
    assert!(
        count(
            &first,
            "login_attempts_total",
            &[("outcome", "bad_credentials")]
        ) >= 1.0
    );
    assert!(
        count(
            &first,
            "password_hash_duration_seconds_count",
            &[("op", "hash")]
        ) >= 1.0
    );
    assert!(
        count(
            &first,
            "password_hash_duration_seconds_count",
            &[("op", "verify")]
        ) >= 2.0
    );
    assert!(first.contains("password_hash_duration_seconds_bucket"));
    count(&first, "mail_messages", &[("state", "pending")]);
    count(&first, "db_pool_connections", &[("state", "idle")]);
    count(&first, "db_pool_connections", &[("state", "in_use")]);

    let (second_access, second_refresh) = app.tokens(EMAIL, PASSWORD).await;
    let wrong = app.login(EMAIL, "still-not-the-passphrase").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let missing = app.get("/no-such-page", None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let second = scrape(&app).await;

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
        let before = count(&first, name, labels);
        let after = count(&second, name, labels);
        assert!(
            after >= before + 1.0,
            "{name} {labels:?} went from {before} to {after}"
        );
    }
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

// ------------------------------------------------------------ the real binary

/// The real binary on a free port in a temp dir (SQLite), its stdout and
/// stderr captured line by line; killed when dropped.
struct Server {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(env: &[(&str, &str)], args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let mut command = binary(dir.path());
        command
            .env("PORT", port.to_string())
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start the binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for stream in streams {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().expect("log lines").push(line);
                }
            });
        }
        let server = Server {
            child,
            lines,
            port,
            _dir: dir,
        };
        server.wait_for_line("the start-up banner", |l| l.contains("listening on"));
        server
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("log lines").clone()
    }

    fn log(&self) -> String {
        self.lines().join("\n")
    }

    /// The first output line matching `wanted`, waiting up to thirty seconds.
    fn wait_for_line(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| wanted(l)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no line with {what} in the output:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM");
    }

    /// The exit status, waiting at most `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(stream)
    }

    /// A one-shot HTTP/1.1 GET; returns (status, head, body).
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
        let mut stream = self.connect().expect("connect");
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read the response");
        parse_response(&raw)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (status, head, body) of a raw HTTP/1.1 response.
fn parse_response(raw: &str) -> (u16, String, String) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head}"));
    (status, head.to_owned(), body.to_owned())
}

/// The value of header `name` in a response head.
fn header_in(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
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

// ------------------------------------------------------------ graceful shutdown

const LATE_BODY: &str = r#"{"email":"late@example.com","password":"plenty-long-passphrase"}"#;

/// Opens a connection and sends a `POST /register` whose body stops halfway.
fn half_sent_registration(server: &Server) -> TcpStream {
    let mut stream = server.connect().expect("connect");
    let (half, _) = LATE_BODY.split_at(LATE_BODY.len() / 2);
    let head = format!(
        "POST /register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{half}",
        LATE_BODY.len()
    );
    stream.write_all(head.as_bytes()).expect("send");
    stream.flush().expect("flush");
    // Let the server read the head and start the handler.
    std::thread::sleep(Duration::from_millis(300));
    stream
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let mut server = Server::start(&[("SHUTDOWN_TIMEOUT", "10s")], &[]);
    let mut stream = half_sent_registration(&server);

    server.sigterm();
    std::thread::sleep(Duration::from_millis(300));

    assert!(
        server.child.try_wait().expect("try_wait").is_none(),
        "the process waits for the in-flight request:\n{}",
        server.log()
    );
    let refused = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], server.port)),
        Duration::from_secs(2),
    );
    assert!(
        refused.is_err(),
        "a new connection after SIGTERM is refused"
    );
    let (_, rest) = LATE_BODY.split_at(LATE_BODY.len() / 2);
    stream.write_all(rest.as_bytes()).expect("send the rest");
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .expect("read the response to the end");
    let (status, _, body) = parse_response(&raw);
    assert_eq!(status, 201, "{raw}");
    let user: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(user["email"], "late@example.com");

    let exit = server
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("did not exit:\n{}", server.log()));
    assert_eq!(exit.code(), Some(0), "{}", server.log());
}

#[test]
fn shutdown_timeout_bounds_the_wait_for_a_request_that_never_finishes() {
    let mut server = Server::start(&[("SHUTDOWN_TIMEOUT", "1s")], &[]);
    let _stream = half_sent_registration(&server);

    let signalled = Instant::now();
    server.sigterm();
    let exit = server.wait_exit(Duration::from_secs(10));
    let took = signalled.elapsed();

    assert!(exit.is_some(), "did not exit:\n{}", server.log());
    assert!(
        took < Duration::from_millis(3500),
        "exited {took:?} after SIGTERM with SHUTDOWN_TIMEOUT=1s"
    );
    assert!(
        server.log().contains("SHUTDOWN_TIMEOUT reached"),
        "{}",
        server.log()
    );
}

// ------------------------------------------------------------ two instances

async fn two_instances_serve_one_user(backend: Backend) {
    const EMAIL: &str = "roaming@example.com";
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let sibling = app.sibling().await;
    let (id, access, _) = app.verified_user(EMAIL).await;
    let at = |address: &str, method: Method, path: &str, token: &str| {
        app.client
            .request(method, format!("{address}{path}"))
            .bearer_auth(token)
            .send()
    };

    let me = at(&sibling.address, Method::GET, "/me", &access)
        .await
        .expect("request");
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "a token of one is good on the other"
    );
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["id"], id.as_str());

    let tokens = app
        .client
        .post(format!("{}/login", sibling.address))
        .form(&[("username", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(tokens.status(), StatusCode::OK);
    let tokens: Value = tokens.json().await.expect("json");
    let from_sibling = tokens["access_token"].as_str().expect("access");
    assert_eq!(
        app.get("/me", Some(from_sibling)).await.status(),
        StatusCode::OK,
        "and the other way round"
    );

    let logout = at(&sibling.address, Method::POST, "/logout", &access)
        .await
        .expect("request");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED,
        "a logout on one instance revokes the token on the other at once"
    );
    assert_eq!(
        at(&sibling.address, Method::GET, "/me", &access)
            .await
            .expect("request")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/me", Some(from_sibling)).await.status(),
        StatusCode::OK,
        "the other session is untouched"
    );
}

//! Starting the service: the zero-setup embedded default, the `migrate`
//! command on both databases, configuration refusals, the admin bootstrap.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use user_management::config::Config;
use user_management::startup::Application;

use crate::helpers::{Backend, PgDatabase, spawn_app_with};
use crate::on_both_databases;

const BIN: &str = env!("CARGO_BIN_EXE_user-management");

/// A command for the binary with a clean environment (no inherited settings).
pub(crate) fn binary(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[test]
fn the_binary_runs_with_zero_setup() {
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = binary(dir.path())
        .env("PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let stderr = child.stderr.take().expect("stderr");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(stderr) as Box<dyn std::io::Read + Send>,
        Box::new(stdout),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut banner = None;
    let mut seen = Vec::new();
    while Instant::now() < deadline && banner.is_none() {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains("listening on") {
                banner = Some(line.clone());
            }
            seen.push(line);
        }
    }
    let health = reqwest::blocking_get(&format!("http://127.0.0.1:{port}/health"));
    let _ = child.kill();
    let _ = child.wait();
    let banner =
        banner.unwrap_or_else(|| panic!("no start-up banner; output:\n{}", seen.join("\n")));
    assert!(banner.contains(&format!("127.0.0.1:{port}")), "{banner}");
    assert!(banner.contains("/docs"), "{banner}");
    assert!(banner.contains("SQLite"), "{banner}");
    assert!(banner.contains("outbox"), "mail backend named: {banner}");
    assert!(
        seen.iter().any(|l| l.contains("JWT_SECRET is not set")),
        "warns about the generated secret"
    );
    assert_eq!(health, Some(200));
    assert!(
        dir.path().join("data/users.db").exists(),
        "SQLite under data/"
    );
    let secret = std::fs::read_to_string(dir.path().join("data/jwt_secret")).expect("secret kept");
    assert!(secret.trim().len() >= 32);
    assert!(
        !seen.iter().any(|l| l.contains(secret.trim())),
        "the generated secret is never logged"
    );
}

/// A tiny blocking GET, so this test needs no runtime.
mod reqwest {
    pub use ::reqwest::*;

    pub fn blocking_get(url: &str) -> Option<u16> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async { ::reqwest::get(url).await.ok().map(|r| r.status().as_u16()) })
    }
}

fn migrate(dir: &std::path::Path, database_url: &str, args: &[&str]) -> String {
    let output = binary(dir)
        .env("DATABASE_URL", database_url)
        .env("JWT_SECRET", crate::helpers::JWT_SECRET)
        .arg("migrate")
        .args(args)
        .output()
        .expect("run migrate");
    assert!(
        output.status.success(),
        "migrate {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn migrate_up_down_and_status(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, _pg) = match backend {
        Backend::Sqlite => (format!("sqlite://{}/m.db", dir.path().display()), None),
        Backend::Postgres => {
            let Some(pg) = PgDatabase::create_empty().await else {
                return;
            };
            (pg.url.clone(), Some(pg))
        }
    };
    let status = migrate(dir.path(), &url, &["status"]);
    assert!(status.lines().all(|l| l.starts_with("pending")), "{status}");
    assert_eq!(status.lines().count(), 7, "{status}");

    migrate(dir.path(), &url, &["up"]);
    let status = migrate(dir.path(), &url, &["status"]);
    assert!(status.lines().all(|l| l.starts_with("applied")), "{status}");

    migrate(dir.path(), &url, &["down", "--steps", "7", "--yes"]);
    let status = migrate(dir.path(), &url, &["status"]);
    assert!(
        status.lines().all(|l| l.starts_with("pending")),
        "every migration reverts: {status}"
    );

    migrate(dir.path(), &url, &["up"]);
    let status = migrate(dir.path(), &url, &["status"]);
    assert!(
        status.lines().all(|l| l.starts_with("applied")),
        "re-applies cleanly: {status}"
    );
}

async fn admin_from_the_environment_is_created_once(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.admin_email = Some("root@example.com".into());
        c.admin_password = Some(SecretString::from("admin-pass-phrase".to_owned()));
    })
    .await
    else {
        return;
    };

    let tokens = app.login("root@example.com", "admin-pass-phrase").await;
    assert_eq!(tokens.status(), StatusCode::OK);
    let token = tokens.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let me: Value = app
        .get("/me", Some(&token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["role"], "ADMIN");
    assert_eq!(me["email_verified"], true);
}

#[tokio::test]
async fn non_embedded_database_requires_a_long_jwt_secret() {
    let mut config = Config::from_env().expect("config");
    config.database_url = "postgres://nobody@127.0.0.1:1/none".into();
    config.jwt_secret = None;
    let err = Application::build(config.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("JWT_SECRET"), "{err}");

    config.jwt_secret = Some(SecretString::from("too-short".to_owned()));
    let err = Application::build(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("JWT_SECRET") && err.contains("32"), "{err}");
}

#[tokio::test]
async fn an_unmigrated_postgres_database_is_refused_with_the_fix() {
    let Some(pg) = PgDatabase::create_empty().await else {
        return;
    };
    let mut config = Config::from_env().expect("config");
    config.database_url = pg.url.clone();
    config.jwt_secret = Some(SecretString::from(crate::helpers::JWT_SECRET.to_owned()));
    config.port = 0;

    let err = Application::build(config).await.err().expect("refused");

    assert!(format!("{err:#}").contains("migrate up"), "{err:#}");
}

on_both_databases!(
    migrate_up_down_and_status,
    admin_from_the_environment_is_created_once
);

/// Runs the binary's subcommand `args` against `app`'s database and SMTP
/// sink; panics with its output unless it succeeds; returns stdout.
pub fn cli(app: &crate::helpers::TestApp, args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = binary(dir.path());
    cmd.env("DATABASE_URL", &app.config.database_url)
        .env("JWT_SECRET", crate::helpers::JWT_SECRET)
        .env("SMTP_URL", app.smtp.url())
        .args(args);
    let output = cmd.output().expect("run the binary");
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// As [`cli`], with `stdin` written to the subcommand's standard input; it
/// returns the whole output whatever the exit status, for the caller to check.
pub fn cli_with_stdin(
    app: &crate::helpers::TestApp,
    args: &[&str],
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("dir");
    let mut child = binary(dir.path())
        .env("DATABASE_URL", &app.config.database_url)
        .env("JWT_SECRET", crate::helpers::JWT_SECRET)
        .env("SMTP_URL", app.smtp.url())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    if let Some(mut input) = child.stdin.take() {
        // A command that exits without reading its input closes the pipe;
        // its exit status then tells the story.
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("wait for the binary")
}

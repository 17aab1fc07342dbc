//! Configuration: every setting is documented where a newcomer looks, and
//! settings that cannot work stop the start with the variable to fix.

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;
use user_management::config::Config;
use user_management::startup::Application;

use crate::helpers::binary::{Server, free_port, mail_in, mode, run, text, word_after};
use crate::helpers::{Backend, DATA_ENCRYPTION_KEY, JWT_SECRET, PgDatabase};
use crate::on_both_databases;

/// The environment variable of every setting, read from the command-line
/// definition (each setting is a flag with an `env`).
fn settings() -> Vec<String> {
    let command = user_management::cli::command();
    let names: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    assert!(names.len() >= 30, "settings found: {names:?}");
    names
}

fn read(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The rows of the Markdown tables in `text`.
fn table_rows(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('|'))
        .collect()
}

#[test]
fn every_setting_is_in_env_example_and_both_settings_tables() {
    let example = read(".env.example");
    let readme = read("README.md");
    let deployment = read("docs/deployment.md");
    let mut missing = Vec::new();
    for name in settings() {
        let in_example = example.lines().any(|line| {
            let line = line.trim_start_matches('#').trim_start();
            line.starts_with(&format!("{name}="))
        });
        if !in_example {
            missing.push(format!("{name} in .env.example"));
        }
        for (file, text) in [("README.md", &readme), ("docs/deployment.md", &deployment)] {
            let quoted = format!("`{name}`");
            if !table_rows(text).iter().any(|row| row.contains(&quoted)) {
                missing.push(format!("{name} in the settings table of {file}"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented settings: {missing:#?}");
}

fn s3_config(dir: &std::path::Path) -> Config {
    let mut config = Config::from_env().expect("config");
    config.database_url = format!("sqlite://{}/u.db", dir.display());
    config.data_dir = dir.to_owned();
    config.port = 0;
    config.storage_url = "s3://avatars".into();
    config.s3_endpoint = Some("http://127.0.0.1:9".into());
    config.s3_access_key_id = Some("key".into());
    config.s3_secret_access_key = Some(SecretString::from("secret".to_owned()));
    config
}

#[tokio::test]
async fn an_s3_bucket_without_its_settings_names_the_missing_variable() {
    let dir = tempfile::tempdir().expect("dir");
    type Unset = fn(&mut Config);
    let cases: [(&str, Unset); 3] = [
        ("S3_ENDPOINT", |c| c.s3_endpoint = None),
        ("S3_ACCESS_KEY_ID", |c| c.s3_access_key_id = None),
        ("S3_SECRET_ACCESS_KEY", |c| c.s3_secret_access_key = None),
    ];
    for (variable, unset) in cases {
        let mut config = s3_config(dir.path());
        unset(&mut config);
        let err = Application::build(config).await.err().expect("refused");
        let message = format!("{err:#}");
        assert!(message.starts_with(variable), "{variable}: {message}");
        assert!(
            !message.contains("169.254"),
            "no metadata address: {message}"
        );
    }
}

#[tokio::test]
async fn host_localhost_is_listened_on() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = Config::from_env().expect("config");
    config.database_url = format!("sqlite://{}/u.db", dir.path().display());
    config.storage_url = format!("file://{}/objects", dir.path().display());
    config.data_dir = dir.path().to_owned();
    config.host = "localhost".into();
    config.port = 0;
    let app = Application::build(config)
        .await
        .expect("HOST=localhost builds");
    assert_ne!(app.port(), 0);
    assert!(
        app.banner()
            .contains(&format!("public URL: http://localhost:{}", app.port()))
    );
}

// ------------------------------------------------- PUBLIC_BASE_URL, banner, files

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_port_alone_moves_the_links_and_the_docs_with_it() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let server = Server::start_in(dir.path(), port, &[], &["serve"]);
    let banner = server.wait_for_line("the start-up banner", |l| l.contains("listening on"));
    let docs = word_after(&banner, "docs at ");
    assert_eq!(docs, format!("http://127.0.0.1:{port}/docs/"), "{banner}");
    assert!(
        banner.contains(&format!("public URL: http://localhost:{port}")),
        "{banner}"
    );
    let client = reqwest::Client::new();
    let page = client.get(docs).send().await.expect("docs");
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "the banner's docs URL answers"
    );

    let registered = client
        .post(format!("http://127.0.0.1:{port}/register"))
        .json(&json!({ "email": "walker@example.com", "password": crate::helpers::PASSWORD }))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let outbox = dir.path().join("data/outbox");
    let (txt, body) = mail_in(&outbox, "/verify-email/");
    let link = crate::helpers::link_in(&body, "/verify-email/").expect("a link");
    assert!(
        link.starts_with(&format!("http://localhost:{port}/verify-email/")),
        "the mailed link uses PORT: {link}"
    );
    let path = crate::helpers::path_of(&link);
    let verified = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .expect("verify");
    assert_eq!(verified.status(), StatusCode::OK);

    #[cfg(unix)]
    {
        let data = dir.path().join("data");
        assert_eq!(mode(&data), 0o700, "the data directory");
        for file in [
            "users.db",
            "users.db-wal",
            "users.db-shm",
            "jwt_secret",
            "data_encryption_key",
        ] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
        assert_eq!(mode(&txt), 0o600, "the mail's text");
        assert_eq!(mode(&txt.with_extension("eml")), 0o600, "the mail");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_zero_links_to_the_port_actually_bound() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start_in(dir.path(), 0, &[], &["serve"]);
    let banner = server.wait_for_line("the start-up banner", |l| l.contains("listening on"));
    let listening = word_after(&banner, "listening on ");
    let port = listening.rsplit(':').next().expect("port");
    assert_ne!(port, "0", "{banner}");
    assert!(
        banner.contains(&format!("public URL: http://localhost:{port}")),
        "{banner}"
    );
    let docs = word_after(&banner, "docs at ");
    let page = reqwest::get(docs).await.expect("docs");
    assert_eq!(page.status(), StatusCode::OK, "{banner}");
}

#[test]
fn host_may_be_a_name_and_flags_follow_the_subcommand() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port().to_string();
    let _server = Server::start_in(
        dir.path(),
        port.parse().expect("port"),
        &[("HOST", "localhost")],
        &["serve"],
    );
    _server.wait_for_line("the start-up banner", |l| l.contains("listening on"));

    let healthy = run(
        dir.path(),
        &[("HOST", "localhost")],
        &["healthcheck", "--port", &port],
    );
    assert!(healthy.status.success(), "{}", text(&healthy.stderr));
    assert_eq!(text(&healthy.stdout).trim(), "healthy");

    let closed = free_port().to_string();
    let unhealthy = run(dir.path(), &[], &["healthcheck", "--port", &closed]);
    assert!(!unhealthy.status.success());
    assert!(
        text(&unhealthy.stderr).contains(&format!(":{closed}")),
        "the flag after the subcommand is used: {}",
        text(&unhealthy.stderr)
    );

    let other = dir.path().join("other/u.db");
    let url = format!("sqlite://{}", other.display());
    let listed = run(dir.path(), &[], &["users", "list", "--database-url", &url]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(
        other.exists(),
        "--database-url after the subcommand is used"
    );

    let junk = run(dir.path(), &[("HOST", "not a host")], &["serve"]);
    assert!(!junk.status.success());
    assert!(
        text(&junk.stderr).contains("HOST"),
        "{}",
        text(&junk.stderr)
    );
}

#[test]
fn subcommand_help_lists_the_configuration() {
    let dir = tempfile::tempdir().expect("dir");
    for command in [
        &["healthcheck"][..],
        &["users", "list"],
        &["migrate", "down"],
        &["mail", "status"],
    ] {
        let help = run(dir.path(), &[], &[command, &["--help"]].concat());
        let help = text(&help.stdout);
        for flag in [
            "--port",
            "--database-url",
            "--public-base-url",
            "--log-format",
        ] {
            assert!(
                help.contains(flag),
                "{command:?} --help lists {flag}: {help}"
            );
        }
        assert!(help.contains("env: DATABASE_URL"), "{command:?}: {help}");
    }
}

// ------------------------------------------------------------------ link templates

async fn a_bad_link_template_stops_the_start(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, _pg) = match backend {
        Backend::Sqlite => (format!("sqlite://{}/u.db", dir.path().display()), None),
        Backend::Postgres => {
            let Some(pg) = PgDatabase::create_empty().await else {
                return;
            };
            (pg.url.clone(), Some(pg))
        }
    };
    let good = "https://app.example.com/verify?uid={user_id}&t={token}";
    for (variable, value, says) in [
        (
            "VERIFY_LINK_TEMPLATE",
            "https://app.example.com/verify?uid={user_id}",
            "{token}",
        ),
        (
            "RESET_LINK_TEMPLATE",
            "/reset?t={token}",
            "absolute http(s) URL",
        ),
        (
            "VERIFY_LINK_TEMPLATE",
            "https://app.example.com/{token}?u={id}",
            "placeholders",
        ),
    ] {
        let env = [
            ("DATABASE_URL", url.as_str()),
            ("JWT_SECRET", JWT_SECRET),
            ("DATA_ENCRYPTION_KEY", DATA_ENCRYPTION_KEY),
            ("PORT", "0"),
            ("VERIFY_LINK_TEMPLATE", good),
            (variable, value),
        ];
        let output = run(dir.path(), &env, &["serve"]);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{variable}={value} started");
        assert!(
            stderr.contains(variable) && stderr.contains(says),
            "{variable}={value}: {stderr}"
        );
    }
}

on_both_databases!(a_bad_link_template_stops_the_start);

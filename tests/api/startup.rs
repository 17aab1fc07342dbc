//! Starting the service: the zero-setup embedded default, configuration
//! refusals, the admin bootstrap.

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use user_management::config::Config;
use user_management::startup::Application;

use crate::helpers::binary::Server;
use crate::helpers::{Backend, DATA_ENCRYPTION_KEY, JWT_SECRET, PgDatabase, spawn_app_with};
use crate::on_both_databases;

#[test]
fn the_binary_runs_with_zero_setup() {
    let server = Server::start(&[], &[]);
    let (health, _, _) = server.get("/health", &[]);
    let port = server.port;
    let seen = server.lines();
    let banner = server.wait_for_line("the start-up banner", |l| l.contains("listening on"));
    let dir = server.dir();

    assert!(banner.contains(&format!("127.0.0.1:{port}")), "{banner}");
    assert!(banner.contains("/docs"), "{banner}");
    assert!(banner.contains("SQLite"), "{banner}");
    assert!(banner.contains("outbox"), "mail backend named: {banner}");
    assert!(
        seen.iter().any(|l| l.contains("JWT_SECRET is not set")),
        "warns about the generated secret"
    );
    assert_eq!(health, 200);
    assert!(dir.join("data/users.db").exists(), "SQLite under data/");
    let secret = std::fs::read_to_string(dir.join("data/jwt_secret")).expect("secret kept");
    assert!(secret.trim().len() >= 32);
    assert!(
        !seen.iter().any(|l| l.contains(secret.trim())),
        "the generated secret is never logged"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("DATA_ENCRYPTION_KEY is not set")),
        "warns about the generated key"
    );
    let key = std::fs::read_to_string(dir.join("data/data_encryption_key")).expect("key kept");
    assert!(
        user_management::crypto::parse_key(&key).is_ok(),
        "a 32-byte key"
    );
    assert!(
        !seen.iter().any(|l| l.contains(key.trim())),
        "the generated key is never logged"
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
async fn non_embedded_database_requires_a_32_byte_data_encryption_key() {
    let mut config = Config::from_env().expect("config");
    config.database_url = "postgres://nobody@127.0.0.1:1/none".into();
    config.jwt_secret = Some(SecretString::from(JWT_SECRET.to_owned()));
    config.data_encryption_key = None;
    let err = Application::build(config.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("DATA_ENCRYPTION_KEY") && err.contains("must be set"),
        "{err}"
    );

    config.data_encryption_key = Some(SecretString::from("dG9vLXNob3J0".to_owned()));
    let err = Application::build(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("DATA_ENCRYPTION_KEY") && err.contains("32 bytes"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unmigrated_postgres_database_is_refused_with_the_fix() {
    let Some(pg) = PgDatabase::create_empty().await else {
        return;
    };
    let mut config = Config::from_env().expect("config");
    config.database_url = pg.url.clone();
    config.jwt_secret = Some(SecretString::from(JWT_SECRET.to_owned()));
    config.data_encryption_key = Some(SecretString::from(DATA_ENCRYPTION_KEY.to_owned()));
    config.port = 0;

    let err = Application::build(config).await.err().expect("refused");

    assert!(format!("{err:#}").contains("migrate up"), "{err:#}");
}

on_both_databases!(admin_from_the_environment_is_created_once,);

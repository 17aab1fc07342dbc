//! Password hashing: bcrypt hashes imported from the FastAPI project log
//! in and are replaced by Argon2id with today's parameters on first use.

use reqwest::StatusCode;

use crate::helpers::{Backend, PASSWORD, WRONG, assert_token_error, spawn_app};
use crate::on_both_databases;

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

on_both_databases!(imported_bcrypt_hashes_log_in_and_become_argon2id,);

//! The test harness: the real application on port 0, against a fresh
//! database (SQLite file or PostgreSQL database) per test, with a real SMTP
//! sink on loopback; and what the tests share to drive and inspect it.
//!
//! - [`app`]: [`TestApp`] and how it is started (one instance or two);
//! - [`postgres`]: a throwaway PostgreSQL database per test;
//! - [`s3`]: a real S3-compatible server for the picture store;
//! - [`smtp`]: the SMTP sink the service delivers to;
//! - [`requests`]: requests to the app and checks of the answers' shapes;
//! - [`accounts`]: registering, verifying and logging in users, staff calls;
//! - [`mail`]: links and tokens out of the mail that arrived;
//! - [`rows`]: stored rows, for what the API does not show;
//! - [`binary`]: the real binary as a process (server or CLI command);
//! - [`proxy`]: a TCP forwarder that can cut a connection to simulate an outage.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (a server URL whose user may
//! create databases), else from a throwaway cluster started with the local
//! `initdb`/`pg_ctl` (not as root), else its tests are skipped with a
//! message — except under `CI=true`, where a missing PostgreSQL fails.

pub mod accounts;
pub mod app;
pub mod binary;
pub mod mail;
pub mod postgres;
pub mod proxy;
pub mod requests;
pub mod rows;
pub mod s3;
pub mod smtp;

pub use accounts::jwt_claims;
pub use app::{
    ADMIN_EMAIL, ADMIN_PASSWORD, DATA_ENCRYPTION_KEY, ISSUER, JWT_SECRET, PASSWORD, TestApp, WRONG,
    spawn_app, spawn_app_with, spawn_app_with_admin,
};
pub use mail::{link_in, path_of, query_param};
pub use postgres::PgDatabase;
pub use requests::{
    assert_oauth_error, assert_problem, assert_token_error, assert_tokens, assert_unauthorized,
    count_of, header, invalid_fields, ok_json, timestamp,
};
pub use s3::S3Server;

/// The two databases every data test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `async fn $name(backend: Backend)` as two tests, `$name::sqlite`
/// and `$name::postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

/// Whether the suite runs under CI, where a missing service fails instead
/// of skipping its tests.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

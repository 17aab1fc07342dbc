//! Black-box tests of the whole service: real HTTP on port 0, real SQLite
//! and PostgreSQL, a real SMTP server on loopback.
//!
//! Each file is named after the module it tests (`src/http/ratelimit.rs` →
//! `ratelimit.rs`, `src/users/admin/crud.rs` → `admin_crud.rs`, a CLI
//! subcommand `src/cli/users.rs` → `cli/users.rs`); the harness they share
//! is in `helpers/`.

mod helpers;

mod admin_actions;
mod admin_crud;
mod admin_listing;
mod admin_permissions;
mod audit;
mod auth_extractor;
mod browser;
mod cli;
mod client_address;
mod codes;
mod config;
mod db;
mod db_indexes;
mod deferred_mail;
mod device_tokens;
mod email;
mod email_change;
mod hashing;
mod http;
mod lockout;
mod logout;
mod me;
mod mfa;
mod openapi;
mod ops;
mod pages;
mod pages_picture;
mod paging;
mod password_reset;
mod pictures;
mod pictures_limits;
mod public_profile;
mod ratelimit;
mod registration;
mod serve;
mod session_routes;
mod sessions;
mod shutdown;
mod startup;
mod telemetry;
mod token_endpoint;
mod unknown_logins;
mod verification;

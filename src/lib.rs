//! user-management: accounts, login and roles as one small, fast service.
//!
//! The binary's subcommands live in [`cli`]; the HTTP application is built
//! by [`startup::Application`] around the router in [`http`]. See `README.md` and `../docs/`.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod email;
pub mod error;
pub mod http;
pub mod metrics;
#[path = "../migrations/mod.rs"]
pub mod migrations;
pub mod pages;
pub mod pictures;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod time;
pub mod users;
pub mod workers;

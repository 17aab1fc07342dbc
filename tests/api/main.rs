//! Black-box tests of the whole service: real HTTP on port 0, real SQLite
//! and PostgreSQL, a real SMTP server on loopback.

mod helpers;

mod admin;
mod auth_extractor;
mod contract;
mod docs;
mod explain;
mod faults;
mod listing;
mod hashing;
mod lockout;
mod logout;
mod mail;
mod me;
mod operations;
mod password_reset;
mod permissions;
mod pictures;
mod profiles;
mod registration;
mod security;
mod sessions;
mod startup;
mod token_endpoint;
mod verification;

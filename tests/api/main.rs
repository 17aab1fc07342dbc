//! Black-box tests of the whole service: real HTTP on port 0, real SQLite
//! and PostgreSQL, a real SMTP server on loopback.

mod helpers;

mod admin;
mod contract;
mod docs;
mod explain;
mod faults;
mod listing;
mod login;
mod mail;
mod me;
mod operations;
mod password;
mod permissions;
mod pictures;
mod profiles;
mod registration;
mod security;
mod sessions;
mod startup;
mod verification;

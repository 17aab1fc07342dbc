//! Black-box tests of the whole service: real HTTP on port 0, real SQLite
//! and PostgreSQL, a real SMTP server on loopback.

mod helpers;
mod smtp;

mod docs;
mod login;
mod me;
mod registration;
mod startup;
mod verification;

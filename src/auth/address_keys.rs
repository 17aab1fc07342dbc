//! The keys under which failed logins of unknown addresses are counted: an
//! HMAC of the normalised address, so the table names nobody.

use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::Email;

/// Derives the row key of an address.
#[derive(Clone)]
pub struct AddressKeys {
    key: hmac::Key,
}

impl AddressKeys {
    /// Keys derived from the service secret (one label, so the key differs
    /// from the one that signs access tokens).
    pub fn new(secret: &SecretString) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
        let derived = hmac::sign(&root, b"user-management unknown-login-failures v1");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// The row key of `email`: the hex HMAC of its normalised form.
    pub fn key(&self, email: &Email) -> String {
        hex::encode(hmac::sign(&self.key, email.normalized().as_bytes()))
    }
}

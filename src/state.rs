//! The state every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use tokio::sync::Notify;

use crate::auth::hashing::PasswordHashing;
use crate::auth::jwt::JwtKeys;
use crate::config::Config;
use crate::db::Db;
use crate::http::client::TrustedProxies;
use crate::http::ratelimit::AuthRateLimit;
use crate::storage::Storage;

/// Cloned into every request: one reference count, whatever it holds.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state around `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler can reach, behind [`AppState`].
pub struct Shared {
    /// The database pool.
    pub db: Db,
    /// Connections reserved for the per-request session lookup (PostgreSQL).
    pub lookup: crate::db::lookup::Lookup,
    /// The configuration.
    pub config: Arc<Config>,
    /// Access token keys.
    pub jwt: JwtKeys,
    /// The password hashing pool.
    pub hashing: PasswordHashing,
    /// Keys the failed-login counts of addresses without an account.
    pub address_keys: crate::auth::address_keys::AddressKeys,
    /// Seal and open secrets at rest (`DATA_ENCRYPTION_KEY`).
    pub data_keys: crate::crypto::DataKeys,
    /// Keys the digests of the short codes in link mails.
    pub code_keys: crate::users::codes::CodeKeys,
    /// Wakes the mail worker after a transaction queued mail.
    pub mail_wake: Arc<Notify>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// The authentication endpoints' rate limit.
    pub auth_rate_limit: AuthRateLimit,
    /// Object storage for pictures.
    pub storage: Storage,
    /// Worker threads for image decoding (one per core).
    pub image_workers: crate::workers::Workers,
    /// The memory picture decodes may hold together: an upload takes its
    /// share once its body is read and checked, so memory under a flood of
    /// uploads is bounded by this, not by the number of clients or cores.
    pub decode_budget: crate::pictures::limits::DecodeBudget,
    /// Picture uploads per user per hour.
    pub upload_limit: crate::pictures::limits::UploadLimit,
    /// The pages' templates, theme and form key.
    pub site: crate::pages::site::Site,
}

impl Shared {
    /// Tells the mail worker that a committed transaction queued mail.
    pub fn mail_queued(&self) {
        self.mail_wake.notify_one();
    }
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl FromRef<AppState> for JwtKeys {
    fn from_ref(state: &AppState) -> Self {
        state.jwt.clone()
    }
}

impl FromRef<AppState> for TrustedProxies {
    fn from_ref(state: &AppState) -> Self {
        state.trusted_proxies.clone()
    }
}

impl FromRef<AppState> for AuthRateLimit {
    fn from_ref(state: &AppState) -> Self {
        state.auth_rate_limit.clone()
    }
}

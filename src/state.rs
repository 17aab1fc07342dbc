//! The state every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use tokio::sync::Notify;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHashing;
use crate::config::Config;
use crate::db::Db;
use crate::ratelimit::{AuthRateLimit, TrustedProxies};
use crate::storage::Storage;

/// Cloned into every request; everything inside is cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub db: Db,
    /// The configuration.
    pub config: Arc<Config>,
    /// Access token keys.
    pub jwt: JwtKeys,
    /// The password hashing pool.
    pub hashing: PasswordHashing,
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
}

impl AppState {
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

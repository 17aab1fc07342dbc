//! Per-client rate limits on the authentication endpoints: one budget per
//! client address, shared by every limited route. Each route group renders
//! a rejection in its own format (problem+json here; the token endpoint
//! its RFC 6749 error, in `auth`).
//!
//! An IPv4 client is one address; an IPv6 client is its network prefix
//! (`RATE_LIMIT_IPV6_PREFIX` bits, a /64 by default: one host usually holds
//! the whole /64 and could otherwise take a fresh budget per address); an
//! IPv4-mapped IPv6 address counts as its IPv4 address.
//!
//! Where the budgets live: on PostgreSQL in the database, so the limit holds
//! for the whole deployment however many instances serve it (a window per
//! client that opens at its first request and lasts a minute; see
//! `db::rate_limits`); on SQLite, which one instance serves, in this
//! process (a token bucket: a burst of the limit, then a steady refill).
//! When the database cannot count a request, the request is refused with a
//! 503 rather than let through uncounted or failed as a bug.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sea_orm::DbBackend;

use super::client::{ClientAddr, canonical};
use crate::db::{self, Db, rate_limits};
use crate::error::AppError;
use crate::time;

/// The default IPv6 prefix length a budget covers.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The per-address limiter of the authentication endpoints.
#[derive(Clone)]
pub struct AuthRateLimit {
    budgets: Budgets,
    ipv6_prefix: u8,
}

/// Where the budgets are kept.
#[derive(Clone)]
enum Budgets {
    /// The limit is disabled.
    Off,
    /// In this process.
    Local(Arc<DefaultKeyedRateLimiter<IpAddr>>),
    /// In the database, shared by every instance.
    Shared {
        /// The pool.
        db: Db,
        /// Requests per window.
        per_minute: u32,
    },
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the limit: the seconds to wait (at least 1).
    Wait(u64),
    /// The budget could not be read: the database is failing.
    Unavailable,
}

impl AuthRateLimit {
    /// `per_minute` requests per minute per client (bursts up to that many),
    /// counted in this process, an IPv6 client being its first
    /// `ipv6_prefix` bits (at most 128); 0 disables.
    pub fn new(per_minute: u32, ipv6_prefix: u8) -> Self {
        let budgets = NonZeroU32::new(per_minute).map_or(Budgets::Off, |n| {
            Budgets::Local(Arc::new(RateLimiter::keyed(Quota::per_minute(n))))
        });
        Self {
            budgets,
            ipv6_prefix: ipv6_prefix.min(128),
        }
    }

    /// As [`new`](Self::new), but on PostgreSQL the budgets are kept in
    /// `db`, shared with every other instance on it.
    pub fn for_database(db: &Db, per_minute: u32, ipv6_prefix: u8) -> Self {
        let mut limit = Self::new(per_minute, ipv6_prefix);
        if per_minute > 0 && db::backend(db) == DbBackend::Postgres {
            limit.budgets = Budgets::Shared {
                db: db.clone(),
                per_minute,
            };
        }
        limit
    }

    /// Counts a request of `client`; refused when it is over its limit, or
    /// when the shared budget cannot be read.
    pub async fn check(&self, client: IpAddr) -> Result<(), Refusal> {
        let key = budget_key(client, self.ipv6_prefix);
        match &self.budgets {
            Budgets::Off => Ok(()),
            Budgets::Local(limiter) => limiter.check_key(&key).map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Refusal::Wait(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
            }),
            Budgets::Shared { db, per_minute } => {
                let now = time::now();
                let window = rate_limits::hit(db, &key.to_string(), *per_minute, now)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "rate limit: the shared budget cannot be read");
                        Refusal::Unavailable
                    })?;
                if window.count <= i64::from(*per_minute) {
                    return Ok(());
                }
                let left = (window.end() - now).num_milliseconds();
                let seconds = u64::try_from(left).unwrap_or(0).div_ceil(1000);
                Err(Refusal::Wait(seconds.max(1)))
            }
        }
    }

    /// Forgets idle budgets; call periodically so memory (or the table)
    /// stays bounded.
    pub async fn forget_idle(&self) {
        match &self.budgets {
            Budgets::Off => {}
            Budgets::Local(limiter) => {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
            Budgets::Shared { db, .. } => {
                if let Err(e) = rate_limits::forget_expired(db, time::now()).await {
                    tracing::warn!(error = %e, "rate limit: expired windows not deleted");
                }
            }
        }
    }

    /// Runs `forget_idle` every minute until the process ends.
    pub fn spawn_janitor(&self) {
        if matches!(self.budgets, Budgets::Off) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                this.forget_idle().await;
            }
        });
    }
}

/// The budget `client` counts against: an IPv4 address as it is (an
/// IPv4-mapped one in its IPv4 form), an IPv6 address with every bit past
/// the first `ipv6_prefix` cleared.
pub fn budget_key(client: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match canonical(client) {
        IpAddr::V6(v6) => {
            let bits = u32::from(ipv6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        v4 => v4,
    }
}

/// Runs `request` if `client` has budget left; else why not. Requests
/// without a known address are not limited.
pub async fn admit(
    limit: &AuthRateLimit,
    client: Option<IpAddr>,
    request: Request,
    next: Next,
) -> Result<Response, Refusal> {
    if let Some(client) = client {
        limit.check(client).await?;
    }
    Ok(next.run(request).await)
}

/// Middleware: the shared budget, rejections as problem+json (429, or 503
/// when the budget cannot be read).
pub async fn limit(
    State(limit): State<AuthRateLimit>,
    ClientAddr(client): ClientAddr,
    request: Request,
    next: Next,
) -> Response {
    admit(&limit, client, request, next)
        .await
        .unwrap_or_else(|refusal| refused(refusal).into_response())
}

/// A refusal as the error the rest of the service answers with.
pub fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::Wait(seconds) => AppError::RateLimited(seconds),
        Refusal::Unavailable => {
            AppError::Unavailable("the rate limit cannot be checked; try again shortly".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[tokio::test]
    async fn limit_counts_per_address() {
        let limit = AuthRateLimit::new(2, DEFAULT_IPV6_PREFIX);
        assert!(limit.check(ip("1.2.3.4")).await.is_ok());
        assert!(limit.check(ip("1.2.3.4")).await.is_ok());
        let refusal = limit
            .check(ip("1.2.3.4"))
            .await
            .expect_err("third is limited");
        assert!(
            matches!(refusal, Refusal::Wait(wait) if (1..=30).contains(&wait)),
            "{refusal:?}"
        );
        assert!(
            limit.check(ip("5.6.7.8")).await.is_ok(),
            "another address has its own bucket"
        );
        assert!(
            AuthRateLimit::new(0, DEFAULT_IPV6_PREFIX)
                .check(ip("1.2.3.4"))
                .await
                .is_ok()
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_on_their_prefix() {
        for (client, prefix, key) in [
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::"),
            ("2001:db8:1:2::1", 64, "2001:db8:1:2::"),
            ("2001:db8:1:2:aaaa::1", 48, "2001:db8:1::"),
            ("2001:db8:1:2:aaaa::1", 56, "2001:db8:1::"),
            ("2001:db8:1:2ff:aaaa::1", 56, "2001:db8:1:200::"),
            ("2001:db8:1:2:aaaa::1", 128, "2001:db8:1:2:aaaa::1"),
            ("2001:db8:1:2:aaaa::1", 32, "2001:db8::"),
            ("::1", 64, "::"),
            ("203.0.113.9", 64, "203.0.113.9"),
            ("203.0.113.9", 32, "203.0.113.9"),
            ("::ffff:203.0.113.9", 64, "203.0.113.9"),
            ("::ffff:203.0.113.9", 128, "203.0.113.9"),
        ] {
            assert_eq!(
                budget_key(ip(client), prefix),
                ip(key),
                "{client} on /{prefix}"
            );
        }
    }

    #[tokio::test]
    async fn one_ipv6_network_shares_one_budget() {
        let limit = AuthRateLimit::new(2, DEFAULT_IPV6_PREFIX);
        assert!(limit.check(ip("2001:db8:1:2::1")).await.is_ok());
        assert!(limit.check(ip("2001:db8:1:2::2")).await.is_ok());
        assert!(
            limit.check(ip("2001:db8:1:2:ffff::3")).await.is_err(),
            "same /64"
        );
        assert!(limit.check(ip("2001:db8:1:3::1")).await.is_ok(), "next /64");
        assert!(limit.check(ip("::ffff:198.51.100.1")).await.is_ok());
        assert!(limit.check(ip("198.51.100.1")).await.is_ok());
        assert!(
            limit.check(ip("198.51.100.1")).await.is_err(),
            "a mapped address spends its IPv4 budget"
        );
        let per_address = AuthRateLimit::new(1, 128);
        assert!(per_address.check(ip("2001:db8:1:2::1")).await.is_ok());
        assert!(
            per_address.check(ip("2001:db8:1:2::2")).await.is_ok(),
            "/128"
        );
    }
}

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
//! Buckets live in this process: behind a load balancer each instance
//! counts on its own (see the deployment guide).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::client::{ClientAddr, canonical};
use crate::error::AppError;

/// The default IPv6 prefix length a budget covers.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The per-address limiter of the authentication endpoints; `None` when disabled.
#[derive(Clone)]
pub struct AuthRateLimit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    ipv6_prefix: u8,
}

impl AuthRateLimit {
    /// `per_minute` requests per minute per client (bursts up to that many),
    /// an IPv6 client being its first `ipv6_prefix` bits (at most 128); 0 disables.
    pub fn new(per_minute: u32, ipv6_prefix: u8) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute)
                .map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n)))),
            ipv6_prefix: ipv6_prefix.min(128),
        }
    }

    /// `Err(seconds to wait)` when `client` is over its limit.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let key = budget_key(client, self.ipv6_prefix);
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets idle buckets; call periodically so memory stays bounded.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Runs `forget_idle` every minute until the process ends.
    pub fn spawn_janitor(&self) {
        if self.limiter.is_none() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                this.forget_idle();
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

/// Runs `request` if `client` has budget left; else the seconds to wait
/// (at least 1). Requests without a known address are not limited.
pub async fn admit(
    limit: &AuthRateLimit,
    client: Option<IpAddr>,
    request: Request,
    next: Next,
) -> Result<Response, u64> {
    match client.map(|client| limit.check(client)) {
        Some(Err(wait)) => Err(wait.max(1)),
        _ => Ok(next.run(request).await),
    }
}

/// Middleware: the shared budget, rejections as problem+json 429.
pub async fn limit(
    State(limit): State<AuthRateLimit>,
    ClientAddr(client): ClientAddr,
    request: Request,
    next: Next,
) -> Response {
    admit(&limit, client, request, next)
        .await
        .unwrap_or_else(|wait| AppError::RateLimited(wait).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn limit_counts_per_address() {
        let limit = AuthRateLimit::new(2, DEFAULT_IPV6_PREFIX);
        assert!(limit.check(ip("1.2.3.4")).is_ok());
        assert!(limit.check(ip("1.2.3.4")).is_ok());
        let wait = limit.check(ip("1.2.3.4")).expect_err("third is limited");
        assert!((1..=30).contains(&wait), "{wait}");
        assert!(
            limit.check(ip("5.6.7.8")).is_ok(),
            "another address has its own bucket"
        );
        assert!(
            AuthRateLimit::new(0, DEFAULT_IPV6_PREFIX)
                .check(ip("1.2.3.4"))
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

    #[test]
    fn one_ipv6_network_shares_one_budget() {
        let limit = AuthRateLimit::new(2, DEFAULT_IPV6_PREFIX);
        assert!(limit.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(limit.check(ip("2001:db8:1:2::2")).is_ok());
        assert!(limit.check(ip("2001:db8:1:2:ffff::3")).is_err(), "same /64");
        assert!(limit.check(ip("2001:db8:1:3::1")).is_ok(), "next /64");
        assert!(limit.check(ip("::ffff:198.51.100.1")).is_ok());
        assert!(limit.check(ip("198.51.100.1")).is_ok());
        assert!(
            limit.check(ip("198.51.100.1")).is_err(),
            "a mapped address spends its IPv4 budget"
        );
        let per_address = AuthRateLimit::new(1, 128);
        assert!(per_address.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(per_address.check(ip("2001:db8:1:2::2")).is_ok(), "/128");
    }
}

//! Per-client rate limits on the authentication endpoints: one budget per
//! client address, shared by every limited route. Each route group renders
//! a rejection in its own format (problem+json here; the token endpoint
//! its RFC 6749 error, in `auth`).
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

use super::client::ClientAddr;
use crate::error::AppError;

/// The per-address limiter of the authentication endpoints; `None` when disabled.
#[derive(Clone)]
pub struct AuthRateLimit(Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>);

impl AuthRateLimit {
    /// `per_minute` requests per minute per address (bursts up to that many); 0 disables.
    pub fn new(per_minute: u32) -> Self {
        Self(
            NonZeroU32::new(per_minute).map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n)))),
        )
    }

    /// `Err(seconds to wait)` when `client` is over its limit.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets idle buckets; call periodically so memory stays bounded.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.0 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Runs `forget_idle` every minute until the process ends.
    pub fn spawn_janitor(&self) {
        if self.0.is_none() {
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
        let limit = AuthRateLimit::new(2);
        assert!(limit.check(ip("1.2.3.4")).is_ok());
        assert!(limit.check(ip("1.2.3.4")).is_ok());
        let wait = limit.check(ip("1.2.3.4")).expect_err("third is limited");
        assert!((1..=30).contains(&wait), "{wait}");
        assert!(
            limit.check(ip("5.6.7.8")).is_ok(),
            "another address has its own bucket"
        );
        assert!(AuthRateLimit::new(0).check(ip("1.2.3.4")).is_ok());
    }
}

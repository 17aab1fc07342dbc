//! Prometheus metrics (rendered at `/metrics` by `http::ops`). Labels carry routes, methods, statuses
//! and outcomes only — never a user, address or token.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `method`, `route`, `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `route` |
//! | `login_attempts_total` | counter | `outcome` (success, bad_credentials, locked, unverified) |
//! | `password_hash_duration_seconds` | histogram | `op` (hash, verify) |
//! | `password_hash_queue_depth` | gauge | |
//! | `mail_messages` | gauge | `state` (pending, sent, failed) |
//! | `db_pool_connections` | gauge | `state` (in_use, idle) |

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder, installed on first use (several applications
/// in one process, as in tests, share it).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &LATENCY_BUCKETS,
                )
                .and_then(|b| b.install_recorder())
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// Records a password login's outcome.
pub fn login_outcome(outcome: &'static str) {
    metrics::counter!("login_attempts_total", "outcome" => outcome).increment(1);
}

/// Records how long one hash or verification took, and the queue behind it.
pub fn hashing(op: &'static str, seconds: f64, queue_depth: usize) {
    metrics::histogram!("password_hash_duration_seconds", "op" => op).record(seconds);
    metrics::gauge!("password_hash_queue_depth").set(queue_depth as f64);
}

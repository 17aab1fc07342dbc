//! Prometheus metrics at `/metrics`. Labels carry routes, methods, statuses
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
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

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

/// Middleware: counts and times each request by its matched route.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
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

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus metrics", body = String, content_type = "text/plain")))]
pub async fn render(State(state): State<AppState>) -> Response {
    if let Ok(counts) = crate::email::outbox::counts(&state.db).await {
        metrics::gauge!("mail_messages", "state" => "pending").set(counts.pending as f64);
        metrics::gauge!("mail_messages", "state" => "sent").set(counts.sent as f64);
        metrics::gauge!("mail_messages", "state" => "failed").set(counts.failed as f64);
    }
    let (in_use, idle) = crate::db::pool_usage(&state.db);
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("password_hash_queue_depth").set(state.hashing.queue_depth() as f64);
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

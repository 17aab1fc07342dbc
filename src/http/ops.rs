//! Operations routes: liveness, readiness, Prometheus metrics, and the
//! middleware that counts every request.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Health or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Per dependency (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Checks>,
}

/// Dependency checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    /// `ok` or `unavailable`.
    pub database: &'static str,
    /// `ok` or `unavailable`.
    pub storage: &'static str,
}

/// Liveness: answers without touching any dependency.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, description = "The process is up", body = StatusResponse)))]
pub async fn health() -> axum::Json<StatusResponse> {
    axum::Json(StatusResponse {
        status: "ok",
        checks: None,
    })
}

/// Readiness: the database and object storage answer.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses(
        (status = 200, description = "Ready to serve", body = StatusResponse),
        (status = 503, description = "A dependency is unavailable", body = StatusResponse),
    ))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, axum::Json<StatusResponse>) {
    let database = match tokio::time::timeout(
        std::time::Duration::from_secs(3),
        crate::db::ping(&state.db),
    )
    .await
    {
        Ok(Ok(())) => "ok",
        _ => "unavailable",
    };
    let storage = match tokio::time::timeout(
        std::time::Duration::from_secs(3),
        state.storage.check(),
    )
    .await
    {
        Ok(Ok(())) => "ok",
        _ => "unavailable",
    };
    let ok = database == "ok" && storage == "ok";
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        axum::Json(StatusResponse {
            status: if ok { "ok" } else { "unavailable" },
            checks: Some(Checks { database, storage }),
        }),
    )
}

/// Routes of `/health`, `/ready` and `/metrics`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(render))
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
    let body = crate::metrics::handle()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

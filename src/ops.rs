//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
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

/// Routes of `/health` and `/ready`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(crate::metrics::render))
}

//! `GET /audit-events` (admin): the audit trail, newest first.

use axum::extract::State;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::extractor::Admin;
use crate::db::entities::audit_events;
use crate::error::{AppError, Problem, Result};
use crate::extract::Query;
use crate::state::AppState;
use crate::users::dto::Link;
use crate::users::listing::{DEFAULT_LIMIT, MAX_LIMIT, MAX_SKIP};

/// Filters of `GET /audit-events`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events about this user.
    pub user_id: Option<Uuid>,
    /// Events by this actor.
    pub actor_id: Option<Uuid>,
    /// Only this action (e.g. `role_changed`).
    pub action: Option<String>,
    /// Rows to skip.
    #[param(minimum = 0, maximum = 1_000_000_000_000_u64)]
    pub skip: Option<u64>,
    /// Page size (default 10, at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventResponse {
    /// Id.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who acted (`null`: the system, e.g. a lockout).
    pub actor_id: Option<Uuid>,
    /// Whom it concerns.
    pub user_id: Option<Uuid>,
    /// What happened.
    pub action: String,
    /// Details (e.g. `{"from": "AUTHENTICATED", "to": "MANAGER"}`).
    pub details: serde_json::Value,
}

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Events of this page.
    pub items: Vec<AuditEventResponse>,
    /// Events matching the filters.
    pub total: u64,
    /// Page number, from 1.
    pub page: u64,
    /// Page size.
    pub size: u64,
    /// `self`, `first`, `last`, `next`, `prev`.
    pub links: Vec<Link>,
}

/// The audit trail, newest first.
#[utoipa::path(
    get,
    path = "/audit-events",
    tag = "audit",
    security(("oauth2" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "Unparseable query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Out-of-range limit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_audit_events(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<AuditPage>> {
    use audit_events::Column as C;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let skip = query.skip.unwrap_or(0);
    if skip > MAX_SKIP {
        return Err(AppError::field(
            "skip",
            format!("must be at most {MAX_SKIP}"),
        ));
    }
    let mut select = audit_events::Entity::find();
    if let Some(id) = query.user_id {
        select = select.filter(C::UserId.eq(id));
    }
    if let Some(id) = query.actor_id {
        select = select.filter(C::ActorId.eq(id));
    }
    if let Some(action) = &query.action {
        select = select.filter(C::Action.eq(action.as_str()));
    }
    let total = select.clone().count(&state.db).await?;
    let rows = select
        .order_by_desc(C::At)
        .order_by_desc(C::Id)
        .offset(skip)
        .limit(limit)
        .all(&state.db)
        .await?;
    let base = state.config.base_url();
    let href = |skip: u64| {
        let mut pairs: Vec<(&str, String)> =
            vec![("skip", skip.to_string()), ("limit", limit.to_string())];
        if let Some(id) = query.user_id {
            pairs.push(("user_id", id.to_string()));
        }
        if let Some(id) = query.actor_id {
            pairs.push(("actor_id", id.to_string()));
        }
        if let Some(action) = &query.action {
            pairs.push(("action", action.clone()));
        }
        format!(
            "{base}/audit-events?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let link = |rel, skip| Link {
        rel,
        href: href(skip),
        method: "GET",
    };
    let mut links = vec![
        link("self", skip),
        link("first", 0),
        link("last", total.saturating_sub(1) / limit * limit),
    ];
    if skip + limit < total {
        links.push(link("next", skip + limit));
    }
    if skip > 0 {
        links.push(link("prev", skip.saturating_sub(limit)));
    }
    Ok(axum::Json(AuditPage {
        items: rows
            .into_iter()
            .map(|e| AuditEventResponse {
                id: e.id,
                at: e.at,
                actor_id: e.actor_id,
                user_id: e.user_id,
                action: e.action,
                details: e.details,
            })
            .collect(),
        total,
        page: skip / limit + 1,
        size: limit,
        links,
    }))
}

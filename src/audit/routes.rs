//! `GET /audit-events` (admin): the audit trail, newest first.

use axum::extract::State;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use sea_orm::DbErr;

use crate::auth::extractor::Admin;
use crate::db::{Db, entities::audit_events};
use crate::error::{AppError, Result};
use crate::http::extract::Query;
use crate::http::openapi::responses;
use crate::http::paging::{self, Link, Window};
use crate::state::AppState;

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
    #[param(pattern = r"^[^\u0000]*$")]
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
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn list_audit_events(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<AuditPage>> {
    let window = Window::parse(query.skip, query.limit).map_err(AppError::Validation)?;
    let (rows, total) = query.run(&state.db, window).await?;
    let base = state.config.base_url();
    let filters = [
        ("user_id", query.user_id.map(|id| id.to_string())),
        ("actor_id", query.actor_id.map(|id| id.to_string())),
        ("action", query.action.clone()),
    ];
    let links = window.links(total, |skip| {
        paging::href(base, "/audit-events", skip, window.limit, &filters)
    });
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
        page: window.number(),
        size: window.limit,
        links,
    }))
}

impl AuditQuery {
    /// The events of `window` matching the filters, newest first, and how
    /// many match in all.
    async fn run(&self, db: &Db, window: Window) -> Result<(Vec<audit_events::Model>, u64), DbErr> {
        use audit_events::Column as C;
        let mut select = audit_events::Entity::find();
        if let Some(id) = self.user_id {
            select = select.filter(C::UserId.eq(id));
        }
        if let Some(id) = self.actor_id {
            select = select.filter(C::ActorId.eq(id));
        }
        if let Some(action) = &self.action {
            select = select.filter(C::Action.eq(action.as_str()));
        }
        let total = select.clone().count(db).await?;
        let rows = select
            .order_by_desc(C::At)
            .order_by_desc(C::Id)
            .offset(window.skip)
            .limit(window.limit)
            .all(db)
            .await?;
        Ok((rows, total))
    }
}

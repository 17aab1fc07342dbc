//! The audit trail: events are written inside the caller's transaction, so
//! an audited change and its event commit or roll back together.

pub mod routes;

use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::db::entities::audit_events;

/// Audited actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A user verified their email.
    EmailVerified,
    /// An account was locked (details say manual or failed logins).
    UserLocked,
    /// An account was unlocked.
    UserUnlocked,
    /// A role changed.
    RoleChanged,
    /// Professional status changed.
    ProfessionalStatusChanged,
    /// Staff created a user.
    UserCreated,
    /// Staff deleted a user.
    UserDeleted,
    /// A password was reset by email.
    PasswordReset,
    /// An account's address changed (details: from, to, by staff or owner).
    EmailChanged,
}

impl Action {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::EmailVerified => "email_verified",
            Action::UserLocked => "user_locked",
            Action::UserUnlocked => "user_unlocked",
            Action::RoleChanged => "role_changed",
            Action::ProfessionalStatusChanged => "professional_status_changed",
            Action::UserCreated => "user_created",
            Action::UserDeleted => "user_deleted",
            Action::PasswordReset => "password_reset",
            Action::EmailChanged => "email_changed",
        }
    }
}

/// Records an event. `actor` is `None` when the system acted (e.g. a lockout).
pub async fn record(
    conn: &impl ConnectionTrait,
    actor: Option<Uuid>,
    user: Option<Uuid>,
    action: Action,
    details: serde_json::Value,
) -> Result<(), sea_orm::DbErr> {
    let event = audit_events::ActiveModel {
        id: Set(Uuid::now_v7()),
        at: Set(crate::time::now()),
        actor_id: Set(actor),
        user_id: Set(user),
        action: Set(action.as_str().to_owned()),
        details: Set(details),
    };
    audit_events::Entity::insert(event)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// `GET /audit-events`.
pub fn router() -> utoipa_axum::router::OpenApiRouter<crate::state::AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(routes::list_audit_events))
}

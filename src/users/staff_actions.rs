//! Staff actions on a user: role, lock, unlock, professional status. Each
//! is audited in the transaction that makes it; a role change and a lock
//! end the user's sessions at once.

use axum::extract::{Path, State};
use serde_json::json;

use super::dto::{ProfessionalRequest, RoleRequest, UserResponse};
use super::permissions::{self, Act};
use super::repo;
use super::staff::staff_view;
use crate::audit::{self, Action};
use crate::auth::extractor::{Admin, Staff};
use crate::auth::sessions;
use crate::db::{self, Db, entities::users};
use crate::domain::Role;
use crate::email::{self, MailKind};
use crate::error::{AppError, Problem, Result};
use crate::extract::Json;
use crate::state::AppState;
use uuid::Uuid;

/// Changes a user's role (admin). The user's sessions are revoked and they
/// are told by email. The last active ADMIN cannot be demoted (409).
#[utoipa::path(
    put,
    path = "/users/{id}/role",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = RoleRequest,
    responses(
        (status = 200, description = "Role set", body = UserResponse),
        (status = 400, description = "Unparseable body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last administrator", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown role", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn set_role(
    State(state): State<AppState>,
    Admin(viewer): Admin,
    Path(id): Path<String>,
    Json(request): Json<RoleRequest>,
) -> Result<axum::Json<UserResponse>> {
    let user = repo::find_target(&state.db, &id).await?;
    let updated = change_role(&state.db, Some(viewer.id()), user, request.role).await?;
    state.mail_queued();
    Ok(axum::Json(staff_view(&state, &viewer, updated)))
}

/// Sets `user`'s role: audited (actor `None` for the CLI), the user's
/// sessions revoked and an email queued, in one transaction. Demoting the
/// last active ADMIN is refused (409). Setting the same role changes nothing.
pub async fn change_role(
    db: &Db,
    actor: Option<Uuid>,
    user: users::Model,
    role: Role,
) -> Result<users::Model> {
    let tx = db::begin(db).await?;
    // Re-read inside the transaction: the decision must see the current row.
    let user = repo::find_by_id(&tx, user.id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
    let old = repo::role_of(&user);
    if old != role {
        if role < old {
            repo::ensure_not_last_admin(&tx, &user).await?;
        }
        repo::set_role(&tx, user.id, role).await?;
        sessions::revoke_all(&tx, user.id, None).await?;
        audit::record(
            &tx,
            actor,
            Some(user.id),
            Action::RoleChanged,
            json!({ "from": old, "to": role, "via": if actor.is_some() { "api" } else { "cli" } }),
        )
        .await?;
        email::enqueue(
            &tx,
            &user.email,
            MailKind::RoleChanged,
            json!({ "nickname": user.nickname, "old_role": old, "new_role": role }),
        )
        .await?;
    }
    let updated = repo::find_by_id(&tx, user.id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
    tx.commit().await?;
    Ok(updated)
}

/// Locks an account until it is unlocked; its sessions end at once.
#[utoipa::path(
    post,
    path = "/users/{id}/lock",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Locked", body = UserResponse),
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for this user", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last administrator", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn lock_user(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<String>,
) -> Result<axum::Json<UserResponse>> {
    set_lock(state, viewer, id, true).await
}

/// Unlocks an account and resets its failed-login count.
#[utoipa::path(
    post,
    path = "/users/{id}/unlock",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Unlocked", body = UserResponse),
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for this user", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn unlock_user(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<String>,
) -> Result<axum::Json<UserResponse>> {
    set_lock(state, viewer, id, false).await
}

async fn set_lock(
    state: AppState,
    viewer: crate::auth::extractor::AuthUser,
    id: String,
    lock: bool,
) -> Result<axum::Json<UserResponse>> {
    let tx = db::begin(&state.db).await?;
    let user = repo::find_target(&tx, &id).await?;
    permissions::check(
        viewer.role,
        Act::Lock,
        repo::role_of(&user),
        user.id == viewer.id(),
    )?;
    if lock {
        repo::ensure_not_last_admin(&tx, &user).await?;
    }
    if user.is_locked != lock || (!lock && user.failed_login_attempts > 0) {
        repo::set_locked(&tx, user.id, lock).await?;
        let action = if lock {
            Action::UserLocked
        } else {
            Action::UserUnlocked
        };
        audit::record(
            &tx,
            Some(viewer.id()),
            Some(user.id),
            action,
            json!({ "reason": "manual" }),
        )
        .await?;
    }
    if lock {
        sessions::revoke_all(&tx, user.id, None).await?;
    }
    let updated = repo::find_target(&tx, &id).await?;
    tx.commit().await?;
    Ok(axum::Json(staff_view(&state, &viewer, updated)))
}

/// Sets professional status; stamps `professional_status_updated_at` and
/// emails the user when it changes.
#[utoipa::path(
    put,
    path = "/users/{id}/professional",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = ProfessionalRequest,
    responses(
        (status = 200, description = "Set", body = UserResponse),
        (status = 400, description = "Unparseable body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn set_professional(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<String>,
    Json(request): Json<ProfessionalRequest>,
) -> Result<axum::Json<UserResponse>> {
    let tx = db::begin(&state.db).await?;
    let user = repo::find_target(&tx, &id).await?;
    permissions::check(
        viewer.role,
        Act::SetProfessional,
        repo::role_of(&user),
        user.id == viewer.id(),
    )?;
    let changed = user.is_professional != request.is_professional;
    if changed {
        repo::set_professional(&tx, user.id, request.is_professional).await?;
        audit::record(
            &tx,
            Some(viewer.id()),
            Some(user.id),
            Action::ProfessionalStatusChanged,
            json!({ "from": user.is_professional, "to": request.is_professional }),
        )
        .await?;
        email::enqueue(
            &tx,
            &user.email,
            MailKind::ProfessionalStatus,
            json!({ "nickname": user.nickname, "is_professional": request.is_professional }),
        )
        .await?;
    }
    let updated = repo::find_target(&tx, &id).await?;
    tx.commit().await?;
    if changed {
        state.mail_queued();
    }
    Ok(axum::Json(staff_view(&state, &viewer, updated)))
}

//! Staff actions on a user: role, lock, unlock, professional status and
//! deletion. Each is a feature function shared by the HTTP handlers and
//! the CLI, audited in the transaction that makes it; a role change and a
//! lock end the user's sessions at once.

use axum::extract::State;
use serde_json::json;
use uuid::Uuid;

use super::permissions::{self, Act};
use crate::audit::{self, Action};
use crate::auth::extractor::{Admin, AuthUser, Staff};
use crate::auth::{device_tokens, sessions};
use crate::db::{self, Db, entities::users};
use crate::domain::{Role, UserId};
use crate::email::{self, MailKind};
use crate::error::Result;
use crate::http::extract::{Json, Path};
use crate::http::openapi::responses;
use crate::state::AppState;
use crate::storage::Storage;
use crate::users::one_time_tokens;
use crate::users::repo;
use crate::users::requests::{ProfessionalRequest, RoleRequest};
use crate::users::views::{UserResponse, staff_view};

/// Who performs a staff action: a signed-in staff member, held to the
/// permission table, or the operator at the command line, who may do
/// anything the table allows an ADMIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A staff member, by id and role.
    Staff {
        /// Their id.
        id: Uuid,
        /// Their role.
        role: Role,
    },
    /// `user-management users …`.
    Cli,
}

impl Actor {
    /// The actor's id for the audit trail (`None`: the command line).
    pub fn id(self) -> Option<Uuid> {
        match self {
            Self::Staff { id, .. } => Some(id),
            Self::Cli => None,
        }
    }

    /// Where the action came from, for audit details.
    pub fn via(self) -> &'static str {
        match self {
            Self::Staff { .. } => "api",
            Self::Cli => "cli",
        }
    }

    /// `Ok` if this actor may do `act` to `target`, else 403.
    pub fn check(self, act: Act, target: &users::Model) -> Result<()> {
        match self {
            Self::Staff { id, role } => permissions::check(role, act, target.role, id == target.id),
            Self::Cli => permissions::check(Role::Admin, act, target.role, false),
        }
    }
}

impl From<&AuthUser> for Actor {
    fn from(user: &AuthUser) -> Self {
        Self::Staff {
            id: user.id(),
            role: user.role,
        }
    }
}

/// Changes a user's role (admin). The user's sessions are revoked and they
/// are told by email. The last active ADMIN cannot be demoted (409).
#[utoipa::path(
    put,
    path = "/users/{id}/role",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id; one that is not a UUID is 404")),
    request_body = RoleRequest,
    responses(
        (status = 200, description = "Role set", body = UserResponse),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn set_role(
    State(state): State<AppState>,
    Admin(viewer): Admin,
    Path(id): Path<UserId>,
    Json(request): Json<RoleRequest>,
) -> Result<axum::Json<UserResponse>> {
    let updated = change_role(&state.db, (&viewer).into(), id, request.role).await?;
    state.mail_queued();
    Ok(axum::Json(staff_view(&state, &viewer, updated)))
}

/// Sets a user's role: audited, the user's sessions revoked and an email
/// queued, in one transaction. Demoting the last active ADMIN is refused
/// (409). Setting the same role changes nothing.
pub async fn change_role(db: &Db, actor: Actor, id: UserId, role: Role) -> Result<users::Model> {
    let tx = db::begin(db).await?;
    let user = repo::find_target(&tx, id).await?;
    actor.check(Act::ChangeRole, &user)?;
    let old = user.role;
    if old != role {
        if role < old {
            repo::ensure_not_last_admin(&tx, &user).await?;
        }
        repo::set_role(&tx, user.id, role).await?;
        sessions::revoke_all(&tx, user.id, None).await?;
        let details = json!({ "from": old, "to": role, "via": actor.via() });
        audit::record(&tx, actor.id(), Some(user.id), Action::RoleChanged, details).await?;
        email::enqueue(
            &tx,
            &user.email,
            MailKind::RoleChanged,
            json!({ "nickname": user.nickname, "old_role": old, "new_role": role }),
        )
        .await?;
    }
    let updated = repo::find_target(&tx, id).await?;
    db::commit(tx).await?;
    Ok(updated)
}

/// Locks an account until it is unlocked; its sessions end at once.
#[utoipa::path(
    post,
    path = "/users/{id}/lock",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id; one that is not a UUID is 404")),
    responses(
        (status = 200, description = "Locked", body = UserResponse),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn lock_user(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<UserId>,
) -> Result<axum::Json<UserResponse>> {
    let updated = set_lock(&state.db, (&viewer).into(), id, true).await?;
    Ok(axum::Json(staff_view(&state, &viewer, updated)))
}

/// Unlocks an account and resets its failed-login count.
#[utoipa::path(
    post,
    path = "/users/{id}/unlock",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id; one that is not a UUID is 404")),
    responses(
        (status = 200, description = "Unlocked", body = UserResponse),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn unlock_user(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<UserId>,
) -> Result<axum::Json<UserResponse>> {
    let updated = set_lock(&state.db, (&viewer).into(), id, false).await?;
    Ok(axum::Json(staff_view(&state, &viewer, updated)))
}

/// Locks (ending the user's sessions, devices and outstanding links) or
/// unlocks (resetting the failed-login count) an account, audited. Locking
/// the last active ADMIN is refused (409).
pub async fn set_lock(db: &Db, actor: Actor, id: UserId, lock: bool) -> Result<users::Model> {
    let tx = db::begin(db).await?;
    let user = repo::find_target(&tx, id).await?;
    actor.check(Act::Lock, &user)?;
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
        let details = json!({ "reason": "manual", "via": actor.via() });
        audit::record(&tx, actor.id(), Some(user.id), action, details).await?;
    }
    if lock {
        sessions::revoke_all(&tx, user.id, None).await?;
        device_tokens::revoke_all(&tx, user.id).await?;
        one_time_tokens::retire_every_link(&tx, user.id).await?;
    }
    let updated = repo::find_target(&tx, id).await?;
    db::commit(tx).await?;
    Ok(updated)
}

/// Sets professional status; stamps `professional_status_updated_at` and
/// emails the user when it changes.
#[utoipa::path(
    put,
    path = "/users/{id}/professional",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id; one that is not a UUID is 404")),
    request_body = ProfessionalRequest,
    responses(
        (status = 200, description = "Set", body = UserResponse),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn set_professional(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<UserId>,
    Json(request): Json<ProfessionalRequest>,
) -> Result<axum::Json<UserResponse>> {
    let actor = (&viewer).into();
    let updated = change_professional(&state.db, actor, id, request.is_professional).await?;
    state.mail_queued();
    Ok(axum::Json(staff_view(&state, &viewer, updated)))
}

/// Sets professional status; when it changes, stamps
/// `professional_status_updated_at`, audits and emails the user.
pub async fn change_professional(
    db: &Db,
    actor: Actor,
    id: UserId,
    value: bool,
) -> Result<users::Model> {
    let tx = db::begin(db).await?;
    let user = repo::find_target(&tx, id).await?;
    actor.check(Act::SetProfessional, &user)?;
    if user.is_professional != value {
        repo::set_professional(&tx, user.id, value).await?;
        let details = json!({ "from": user.is_professional, "to": value });
        let action = Action::ProfessionalStatusChanged;
        audit::record(&tx, actor.id(), Some(user.id), action, details).await?;
        email::enqueue(
            &tx,
            &user.email,
            MailKind::ProfessionalStatus,
            json!({ "nickname": user.nickname, "is_professional": value }),
        )
        .await?;
    }
    let updated = repo::find_target(&tx, id).await?;
    db::commit(tx).await?;
    Ok(updated)
}

/// Deletes a user with their sessions and stored pictures, audited. The
/// last active ADMIN cannot be deleted (409). Objects go first: with storage
/// down this is a 503 and nothing is deleted; once the row is gone, what an
/// upload in flight stored meanwhile is swept too.
pub async fn delete_user(db: &Db, storage: &Storage, actor: Actor, id: UserId) -> Result<()> {
    let tx = db::begin(db).await?;
    let user = repo::find_target(&tx, id).await?;
    actor.check(Act::Delete, &user)?;
    repo::ensure_not_last_admin(&tx, &user).await?;
    crate::pictures::store::delete_objects(storage, &user).await?;
    repo::delete(&tx, user.id).await?;
    let details = json!({ "nickname": user.nickname, "role": user.role, "via": actor.via() });
    audit::record(&tx, actor.id(), Some(user.id), Action::UserDeleted, details).await?;
    db::commit(tx).await?;
    crate::pictures::store::delete_leftovers(storage, user.id).await;
    Ok(())
}

//! The caller's own account as feature functions: the profile and the
//! password, shared by `/me` and the account pages.

use super::one_time_tokens::{self, Purpose};
use super::profile_fields::Errors;
use super::repo;
use super::requests::{ChangePasswordRequest, UpdateProfileRequest};
use crate::auth::{device_tokens, lockout, sessions};
use crate::db;
use crate::db::entities::users;
use crate::domain::Password;
use crate::error::{AppError, Result};
use crate::state::AppState;
use secrecy::SecretString;
use uuid::Uuid;

/// Updates `user`'s own profile fields: all checked first, each mistake
/// named by its field; a taken nickname is a conflict.
pub async fn update_profile(
    state: &AppState,
    user: users::Model,
    request: &UpdateProfileRequest,
) -> Result<users::Model> {
    let mut errors = Errors::default();
    let changes = request.raw_profile().parse(&mut errors);
    errors.finish()?;
    repo::update_profile(&state.db, user, changes)
        .await
        .map_err(repo::conflict_or)
}

/// Changes `user`'s password when the current one is right, and ends every
/// other session, device token and reset link of theirs (`keep` is the
/// session making the change). A wrong current password counts as a failed
/// login.
pub async fn set_own_password(
    state: &AppState,
    user: &users::Model,
    keep: Uuid,
    request: &ChangePasswordRequest,
) -> Result<()> {
    let new = Password::parse(
        &request.new_password,
        Some(&user.email),
        Some(&user.nickname),
    )
    .map_err(|e| AppError::field("new_password", e.to_string()))?;
    let current = SecretString::from(request.current_password.clone());
    let verdict = state
        .hashing
        .verify(current, user.password_hash.clone())
        .await?;
    if !verdict.is_match() {
        lockout::record_failure(state, user).await?;
        return Err(AppError::field(
            "current_password",
            "the current password is incorrect",
        ));
    }
    let hash = state
        .hashing
        .hash(SecretString::from(new.expose().to_owned()))
        .await?;
    let tx = db::begin(&state.db).await?;
    repo::set_password(&tx, user.id, hash).await?;
    sessions::revoke_all(&tx, user.id, Some(keep)).await?;
    device_tokens::revoke_all(&tx, user.id).await?;
    one_time_tokens::retire_all(&tx, user.id, Purpose::ResetPassword).await?;
    db::commit(tx).await?;
    Ok(())
}

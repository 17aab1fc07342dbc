//! What the link or the short code of a verification or reset mail does,
//! as feature functions shared by the API (`verification`,
//! `password_reset`) and the pages: verify the address, set a new password.
//!
//! A wrong link is one 400 whatever is wrong with it; so is a wrong code,
//! whether the address has an account or not (see `codes`).

use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::codes::{self, Matched};
use super::one_time_tokens::{self, Purpose, consume_token};
use super::repo;
use crate::audit::{self, Action};
use crate::auth::{device_tokens, sessions};
use crate::db::{self, Db, entities::users};
use crate::domain::{Email, Password};
use crate::error::{AppError, Result};
use crate::state::AppState;

/// The answer to a code that is not (or no longer) the live code of a link
/// mailed to the address, and to an address without an account.
pub const WRONG_CODE: &str = "the code is wrong or has expired";

fn wrong_code() -> AppError {
    AppError::BadRequest(WRONG_CODE.into())
}

fn parse_email(email: &str) -> Result<Email> {
    Email::parse(email).map_err(|e| AppError::field("email", e.to_string()))
}

/// Verifies the email of `user_id` with `token`. Any mismatch (unknown user,
/// wrong, used or expired token) is one 400, so the link reveals nothing.
pub async fn confirm(db: &Db, user_id: &str, token: &str) -> Result<()> {
    let invalid = || AppError::BadRequest("the verification link is invalid or has expired".into());
    let user_id = Uuid::parse_str(user_id).map_err(|_| invalid())?;
    let tx = db::begin(db).await?;
    match consume_token(&tx, token, Purpose::VerifyEmail).await? {
        Some(owner) if owner == user_id => {}
        _ => {
            db::rollback(tx).await?;
            return Err(invalid());
        }
    }
    mark_verified(&tx, user_id).await?;
    db::commit(tx).await?;
    Ok(())
}

/// Verifies the address `email` with the code of its verification mail.
/// The code is used (and so is its link); a wrong one counts against the
/// user's live codes, and is answered as an address without an account is.
pub async fn confirm_code(state: &AppState, email: &str, code: &str) -> Result<()> {
    let email = parse_email(email)?;
    let tx = db::begin(&state.db).await?;
    let matched = codes::check(&tx, &state.code_keys, &email, code, Purpose::VerifyEmail).await?;
    let used = match &matched {
        Some(matched) => codes::use_matched(&tx, matched).await?,
        None => false,
    };
    match matched {
        Some(matched) if used => mark_verified(&tx, matched.user.id).await?,
        _ => {
            // A wrong code's count stands.
            db::commit(tx).await?;
            return Err(wrong_code());
        }
    }
    db::commit(tx).await?;
    Ok(())
}

async fn mark_verified(tx: &db::Tx, user_id: Uuid) -> Result<()> {
    repo::mark_email_verified(tx, user_id).await?;
    audit::record(
        tx,
        Some(user_id),
        Some(user_id),
        Action::EmailVerified,
        json!({}),
    )
    .await?;
    Ok(())
}

/// How confirming a link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// The address is verified now.
    Now,
    /// The link was used before by its owner, who is verified.
    Already,
}

/// Confirms a verification link. A link its owner already used, on an
/// account that is verified, is [`Confirmed::Already`] rather than an error:
/// whoever holds the link learns only what the link's own mail told them.
pub async fn confirm_link(db: &Db, user_id: &str, token: &str) -> Result<Confirmed> {
    match confirm(db, user_id, token).await {
        Ok(()) => Ok(Confirmed::Now),
        Err(AppError::BadRequest(message)) => {
            let owner = Uuid::parse_str(user_id).ok();
            let verified = match owner {
                Some(owner)
                    if one_time_tokens::was_issued_to(db, token, Purpose::VerifyEmail, owner)
                        .await? =>
                {
                    repo::find_by_id(db, owner)
                        .await?
                        .is_some_and(|u| u.email_verified)
                }
                _ => false,
            };
            if verified {
                Ok(Confirmed::Already)
            } else {
                Err(AppError::BadRequest(message))
            }
        }
        Err(err) => Err(err),
    }
}

/// What a new password is set with.
enum Proof<'a> {
    /// The token of a reset link.
    Token(&'a str),
    /// A code that matched.
    Code(&'a Matched),
}

/// Sets a new password with a reset token: the token is consumed only if
/// the new password passes the policy; the user's sessions, devices and
/// other reset links end; a failed-login lock (not a suspension) is lifted.
pub async fn reset_with_token(state: &AppState, token: &str, new_password: &str) -> Result<()> {
    // Look before consuming: a new password that breaks the policy must not burn the token.
    let user = one_time_tokens::live_owner(&state.db, token, Purpose::ResetPassword)
        .await?
        .ok_or_else(invalid_reset_link)?;
    set_password(state, &user, new_password, Proof::Token(token)).await
}

fn invalid_reset_link() -> AppError {
    AppError::BadRequest("the reset token is invalid or has expired".into())
}

/// Sets a new password with the code of a reset mail to `email`, as
/// [`reset_with_token`] does. A wrong code counts against the user's live
/// codes and is answered as an address without an account is; a right
/// code with a new password that breaks the policy stays unused.
pub async fn reset_with_code(
    state: &AppState,
    email: &str,
    code: &str,
    new_password: &str,
) -> Result<()> {
    let email = parse_email(email)?;
    let tx = db::begin(&state.db).await?;
    let matched = codes::check(&tx, &state.code_keys, &email, code, Purpose::ResetPassword).await?;
    // Nothing is used yet; a wrong code's count stands.
    db::commit(tx).await?;
    let matched = matched.ok_or_else(wrong_code)?;
    set_password(state, &matched.user, new_password, Proof::Code(&matched)).await
}

/// Checks and hashes `new_password` for `user`, then uses `proof` and sets
/// it in one transaction, ending the user's sessions, devices and reset links.
async fn set_password(
    state: &AppState,
    user: &users::Model,
    new_password: &str,
    proof: Proof<'_>,
) -> Result<()> {
    let password = Password::parse(new_password, Some(&user.email), Some(&user.nickname))
        .map_err(|e| AppError::field("new_password", e.to_string()))?;
    let hash = state
        .hashing
        .hash(SecretString::from(password.expose().to_owned()))
        .await?;
    let tx = db::begin(&state.db).await?;
    let (used, refusal) = match &proof {
        Proof::Token(token) => {
            let owner = one_time_tokens::consume_token(&tx, token, Purpose::ResetPassword).await?;
            (owner == Some(user.id), invalid_reset_link())
        }
        Proof::Code(matched) => (codes::use_matched(&tx, matched).await?, wrong_code()),
    };
    if !used {
        db::rollback(tx).await?;
        return Err(refusal);
    }
    repo::set_password_after_reset(&tx, user, hash).await?;
    sessions::revoke_all(&tx, user.id, None).await?;
    device_tokens::revoke_all(&tx, user.id).await?;
    one_time_tokens::retire_all(&tx, user.id, Purpose::ResetPassword).await?;
    let details = json!({ "was_locked": user.is_locked });
    audit::record(
        &tx,
        Some(user.id),
        Some(user.id),
        Action::PasswordReset,
        details,
    )
    .await?;
    db::commit(tx).await?;
    Ok(())
}

//! The two grants of the token endpoint as feature functions: the password
//! grant (lockout after repeated failures, equal answers and timing for
//! unknown emails and wrong passwords) and the refresh-token grant.

use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;

use super::hashing::Verdict;
use super::lockout::{self, FailureOutcome};
use super::oauth_error::OAuthError;
use super::sessions::{self, Origin, Rotation};
use crate::db::{self, entities::users};
use crate::domain::email::Email;
use crate::state::AppState;
use crate::users::repo;

/// A successful token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT access token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The opaque refresh token (rotated on every use).
    pub refresh_token: String,
}

/// How a password grant ended: one value names both the metric label and,
/// for a failure, the OAuth error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Tokens issued.
    Success,
    /// Unknown email or wrong password (one answer for both).
    BadCredentials,
    /// The account is locked.
    Locked,
    /// Right password, email not verified.
    Unverified,
}

impl LoginOutcome {
    /// The `outcome` label of `login_attempts_total` and of the log line.
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::BadCredentials => "bad_credentials",
            Self::Locked => "locked",
            Self::Unverified => "unverified",
        }
    }

    /// Counts and logs the outcome; a failure becomes its OAuth error.
    fn record(self) -> OAuthError {
        crate::telemetry::login_outcome(self.label());
        match self {
            Self::BadCredentials | Self::Success => OAuthError::bad_credentials(),
            Self::Locked => OAuthError::locked(),
            Self::Unverified => OAuthError::unverified(),
        }
    }
}

/// The password grant: `username` is the email.
pub async fn password_grant(
    state: &AppState,
    username: &str,
    password: SecretString,
    origin: Origin,
) -> Result<TokenResponse, OAuthError> {
    let user = match Email::parse(username) {
        Ok(email) => repo::find_by_email(&state.db, &email).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        state.hashing.verify_dummy(password).await?;
        return Err(LoginOutcome::BadCredentials.record());
    };
    let user = match unlocked(state, user).await? {
        Some(user) => user,
        None => {
            // Spend the same time, and answer the same, whatever the password.
            state.hashing.verify_dummy(password).await?;
            return Err(LoginOutcome::Locked.record());
        }
    };
    let verdict = state
        .hashing
        .verify(password.clone(), user.password_hash.clone())
        .await?;
    if !verdict.is_match() {
        return Err(match lockout::record_failure(state, &user).await? {
            FailureOutcome::Counted => LoginOutcome::BadCredentials,
            FailureOutcome::Locked => LoginOutcome::Locked,
        }
        .record());
    }
    if !user.email_verified {
        return Err(LoginOutcome::Unverified.record());
    }
    let new_hash = match verdict {
        Verdict::MatchNeedsRehash => Some(state.hashing.hash(password).await?),
        _ => None,
    };
    let tx = db::begin(&state.db).await?;
    lockout::record_success(&tx, user.id, new_hash).await?;
    let (session, refresh_token) =
        sessions::create(&tx, user.id, origin, state.config.refresh_token_ttl).await?;
    tx.commit().await?;
    crate::telemetry::login_outcome(LoginOutcome::Success.label());
    issue(state, &user, session.id, refresh_token)
}

/// The user, with an expired lock lifted; `None` while a lock holds.
async fn unlocked(
    state: &AppState,
    user: users::Model,
) -> Result<Option<users::Model>, sea_orm::DbErr> {
    if user.is_locked {
        lockout::lift_if_expired(&state.db, user).await
    } else {
        Ok(Some(user))
    }
}

/// The refresh-token grant: rotates the token; a reused one revokes its session.
pub async fn refresh_grant(state: &AppState, presented: &str) -> Result<TokenResponse, OAuthError> {
    let tx = db::begin(&state.db).await?;
    let rotation = sessions::rotate(&tx, presented, state.config.refresh_token_ttl).await?;
    let Rotation::Rotated {
        session_id,
        user_id,
        refresh_token,
    } = rotation
    else {
        tx.commit().await?;
        return Err(OAuthError::bad_refresh_token());
    };
    let user = repo::find_by_id(&tx, user_id).await?;
    let Some(user) = user.filter(|u| !u.is_locked) else {
        tx.rollback().await?;
        return Err(OAuthError::bad_refresh_token());
    };
    tx.commit().await?;
    issue(state, &user, session_id, refresh_token)
}

fn issue(
    state: &AppState,
    user: &users::Model,
    session_id: uuid::Uuid,
    refresh_token: String,
) -> Result<TokenResponse, OAuthError> {
    let access_token = state.jwt.issue(user.id, user.role, session_id)?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: state.jwt.ttl().as_secs(),
        refresh_token,
    })
}

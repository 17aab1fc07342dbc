//! The two grants of the token endpoint as feature functions: the password
//! grant (lockout after repeated failures, equal answers and timing for
//! unknown emails and wrong passwords) and the refresh-token grant.

use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;

use super::device_tokens;
use super::hashing::Verdict;
use super::lockout::{self, FailureOutcome};
use super::oauth_error::OAuthError;
use super::sessions::{self, Origin, Rotation};
use super::unknown_logins;
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
    /// Password grant only: this client's device token. Send it back as the
    /// `device_token` form field of later password grants to keep logging in
    /// while the account is locked against password guessing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
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

/// A password grant as the token endpoint received it.
#[derive(Debug)]
pub struct PasswordLogin {
    /// The email.
    pub username: String,
    /// The password.
    pub password: SecretString,
    /// A device token from an earlier successful login, if the client has one.
    pub device_token: Option<String>,
    /// Who is asking (for the session row).
    pub origin: Origin,
}

/// The password grant. A failed-login lock stops password guessing, not the
/// owner: a client with a device token of this account still gets in (its
/// wrong passwords count against that token only), and so does the correct
/// password of an administrator no unlocked administrator could stand in
/// for; everyone else sees the lock (423), after a delay that grows with
/// each attempt, the same for every account.
pub async fn password_grant(
    state: &AppState,
    login: PasswordLogin,
) -> Result<TokenResponse, OAuthError> {
    let email = Email::parse(&login.username).ok();
    let user = match &email {
        Some(email) => repo::find_by_email(&state.db, email).await?,
        None => None,
    };
    let Some(user) = user else {
        return Err(unknown_address(state, email.as_ref(), login.password)
            .await?
            .record());
    };
    let user = lockout::lift_if_expired(&state.db, user).await?;
    let device = match &login.device_token {
        Some(token) => device_tokens::find(&state.db, token, user.id).await?,
        None => None,
    };
    let suspended = repo::is_suspended(&user);
    let guarded = user.is_locked && device.is_none();
    let let_through = guarded && !suspended && lockout::is_sole_admin(&state.db, &user).await?;
    if suspended || (guarded && !let_through) {
        return Err(locked_out(state, &user, login.password, suspended).await?);
    }
    let verdict = state
        .hashing
        .verify(login.password.clone(), user.password_hash.clone())
        .await?;
    if let_through {
        lockout::hold_back(state, &user).await?;
    }
    if !verdict.is_match() {
        return Err(wrong_password(state, &user, device.as_ref(), guarded).await?);
    }
    if !user.email_verified {
        return Err(LoginOutcome::Unverified.record());
    }
    let new_hash = match verdict {
        Verdict::MatchNeedsRehash => Some(state.hashing.hash(login.password).await?),
        _ => None,
    };
    let (session_id, refresh_token, device_token) = open_session(
        state,
        &user,
        new_hash,
        device,
        login.device_token,
        login.origin,
    )
    .await?;
    crate::telemetry::login_outcome(LoginOutcome::Success.label());
    let mut tokens = issue(state, &user, session_id, refresh_token)?;
    tokens.device_token = Some(device_token);
    Ok(tokens)
}

/// An attempt the lock stops: held back, then answered 423. Only the
/// account's correct password learns which lock it is; every other caller
/// (an unknown address included) gets one text, after the same work.
async fn locked_out(
    state: &AppState,
    user: &users::Model,
    password: SecretString,
    suspended: bool,
) -> Result<OAuthError, OAuthError> {
    lockout::hold_back(state, user).await?;
    let verdict = state
        .hashing
        .verify(password, user.password_hash.clone())
        .await?;
    let locked = LoginOutcome::Locked.record();
    Ok(if !verdict.is_match() {
        locked
    } else if suspended {
        OAuthError::suspended()
    } else {
        OAuthError::locked_by_failed_logins()
    })
}

/// An address without an account: counted, locked, held back and answered
/// exactly as an account with that many wrong passwords would be, after
/// the same work. A username that is no email address is never an account
/// and is only answered as a wrong password.
async fn unknown_address(
    state: &AppState,
    email: Option<&Email>,
    password: SecretString,
) -> Result<LoginOutcome, OAuthError> {
    let Some(email) = email else {
        state.hashing.verify_dummy(password).await?;
        return Ok(LoginOutcome::BadCredentials);
    };
    let key = state.address_keys.key(email);
    let row = unknown_logins::lift_if_expired(&state.db, &key).await?;
    if let Some(row) = row.as_ref().filter(|row| row.is_locked) {
        unknown_logins::hold_back(state, row).await?;
        state.hashing.verify_dummy(password).await?;
        return Ok(LoginOutcome::Locked);
    }
    state.hashing.verify_dummy(password).await?;
    Ok(
        match unknown_logins::record_failure(state, &key, row.is_none()).await? {
            FailureOutcome::Counted => LoginOutcome::BadCredentials,
            FailureOutcome::Locked => LoginOutcome::Locked,
        },
    )
}

/// Records the success, starts a session and keeps (or issues) the
/// client's device token, in one transaction.
async fn open_session(
    state: &AppState,
    user: &users::Model,
    new_hash: Option<String>,
    device: Option<device_tokens::Device>,
    presented: Option<String>,
    origin: Origin,
) -> Result<(uuid::Uuid, String, String), OAuthError> {
    let tx = db::begin(&state.db).await?;
    lockout::record_success(&tx, user.id, new_hash).await?;
    let device_token = match (&device, presented) {
        (Some(device), Some(token)) => {
            device_tokens::record_success(&tx, device).await?;
            token
        }
        _ => device_tokens::issue(&tx, user.id).await?,
    };
    let (session, refresh_token) =
        sessions::create(&tx, user.id, origin, state.config.refresh_token_ttl).await?;
    db::commit(tx).await?;
    Ok((session.id, refresh_token, device_token))
}

/// A wrong password: counted against the device token that came with it,
/// else against the account (which it may lock); the answer is the one any
/// account gives at that point.
async fn wrong_password(
    state: &AppState,
    user: &users::Model,
    device: Option<&device_tokens::Device>,
    guarded: bool,
) -> Result<OAuthError, OAuthError> {
    if let Some(device) = device {
        device_tokens::record_failure(&state.db, device, state.config.max_login_attempts).await?;
        return Ok(LoginOutcome::BadCredentials.record());
    }
    if guarded {
        return Ok(LoginOutcome::Locked.record());
    }
    Ok(match lockout::record_failure(state, user).await? {
        FailureOutcome::Counted => LoginOutcome::BadCredentials,
        FailureOutcome::Locked => LoginOutcome::Locked,
    }
    .record())
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
        db::commit(tx).await?;
        return Err(OAuthError::bad_refresh_token());
    };
    let user = repo::find_by_id(&tx, user_id).await?;
    let Some(user) = user.filter(|u| !repo::is_suspended(u)) else {
        db::rollback(tx).await?;
        return Err(OAuthError::bad_refresh_token());
    };
    db::commit(tx).await?;
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
        device_token: None,
    })
}

//! `POST /login` (alias `/token`): the OAuth2 token endpoint, with the
//! password and refresh-token grants, lockout after repeated failures, and
//! equal answers (and timing) for unknown emails and wrong passwords.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;

use super::lockout::{self, FailureOutcome};
use super::oauth_error::{OAuthError, OAuthErrorBody};
use super::password::Verdict;
use super::sessions::{self, Origin, Rotation};
use crate::db::{self, entities::users};
use crate::domain::email::Email;
use axum::extract::rejection::BytesRejection;

use crate::extract::{ClientAddr, UserAgent, body_rejection, has_content_type};
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

/// The form of the token endpoint (documented for OpenAPI; parsed by hand so
/// every failure is an RFC 6749 error).
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only")]
pub struct TokenRequest {
    /// `password` (default) or `refresh_token`.
    #[schema(pattern = "^(password|refresh_token)$")]
    grant_type: Option<String>,
    /// The email (password grant).
    username: Option<String>,
    /// The password (password grant).
    #[schema(format = Password)]
    password: Option<String>,
    /// The refresh token (refresh grant).
    refresh_token: Option<String>,
    /// Ignored.
    scope: Option<String>,
}

/// Issues tokens for the password or refresh-token grant.
#[utoipa::path(
    post,
    path = "/login",
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        (status = 400, description = "Missing field, bad grant type, or invalid refresh token", body = OAuthErrorBody),
        (status = 401, description = "Unknown email or wrong password", body = OAuthErrorBody),
        (status = 403, description = "Email not verified", body = OAuthErrorBody),
        (status = 413, description = "Body too large", body = OAuthErrorBody),
        (status = 415, description = "Not a form body", body = OAuthErrorBody),
        (status = 423, description = "Account locked", body = OAuthErrorBody),
        (status = 429, description = "Rate limited", body = OAuthErrorBody),
        (status = 503, description = "Database unavailable", body = OAuthErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    UserAgent(user_agent): UserAgent,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let body = body.map_err(|rejection| OAuthError::from_app(body_rejection(rejection)))?;
    if !has_content_type(&headers, "application/x-www-form-urlencoded") {
        return Err(OAuthError::wrong_media_type());
    }
    let form = parse_form(&body)?;
    let origin = Origin {
        user_agent,
        client_addr: client_addr.map(|a| a.to_string()),
    };
    let tokens = match form.get("grant_type").map(String::as_str) {
        None | Some("password") => password_grant(&state, &form, origin).await?,
        Some("refresh_token") => refresh_grant(&state, &form).await?,
        Some(_) => return Err(OAuthError::unsupported_grant_type()),
    };
    let mut response = axum::Json(tokens).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Same handler, documented under its alias.
#[utoipa::path(
    post,
    path = "/token",
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        (status = 400, description = "Missing field, bad grant type, or invalid refresh token", body = OAuthErrorBody),
        (status = 401, description = "Unknown email or wrong password", body = OAuthErrorBody),
        (status = 403, description = "Email not verified", body = OAuthErrorBody),
        (status = 413, description = "Body too large", body = OAuthErrorBody),
        (status = 415, description = "Not a form body", body = OAuthErrorBody),
        (status = 423, description = "Account locked", body = OAuthErrorBody),
        (status = 429, description = "Rate limited", body = OAuthErrorBody),
        (status = 503, description = "Database unavailable", body = OAuthErrorBody),
    )
)]
pub async fn token(
    state: State<AppState>,
    user_agent: UserAgent,
    client_addr: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    login(state, user_agent, client_addr, headers, body).await
}

/// Parses the form; a repeated parameter is an error (RFC 6749 §3.2).
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the form body cannot be parsed"))?;
    let mut form = HashMap::with_capacity(pairs.len());
    for (key, value) in pairs {
        if form.insert(key.clone(), value).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {key} is repeated"
            )));
        }
    }
    Ok(form)
}

fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

async fn password_grant(
    state: &AppState,
    form: &HashMap<String, String>,
    origin: Origin,
) -> Result<TokenResponse, OAuthError> {
    let username = required(form, "username")?;
    let password = SecretString::from(required(form, "password")?.to_owned());
    let user = match Email::parse(username) {
        Ok(email) => repo::find_by_email(&state.db, &email).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        state.hashing.verify_dummy(password).await?;
        crate::telemetry::login_outcome("bad_credentials");
        return Err(OAuthError::bad_credentials());
    };
    let user = if user.is_locked {
        match lockout::lift_if_expired(&state.db, user).await? {
            Some(user) => user,
            None => {
                // Spend the same time, and answer the same, whatever the password.
                state.hashing.verify_dummy(password).await?;
                crate::telemetry::login_outcome("locked");
                return Err(OAuthError::locked());
            }
        }
    } else {
        user
    };
    let verdict = state
        .hashing
        .verify(password.clone(), user.password_hash.clone())
        .await?;
    if !verdict.is_match() {
        let outcome = lockout::record_failure(state, &user).await?;
        return Err(match outcome {
            FailureOutcome::Counted => {
                crate::telemetry::login_outcome("bad_credentials");
                OAuthError::bad_credentials()
            }
            FailureOutcome::Locked => {
                crate::telemetry::login_outcome("locked");
                OAuthError::locked()
            }
        });
    }
    if !user.email_verified {
        crate::telemetry::login_outcome("unverified");
        return Err(OAuthError::unverified());
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
    crate::telemetry::login_outcome("success");
    issue(state, &user, session.id, refresh_token)
}

async fn refresh_grant(
    state: &AppState,
    form: &HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    let presented = required(form, "refresh_token")?;
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
    let access_token = state.jwt.issue(user.id, &user.role, session_id)?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: state.jwt.ttl().as_secs(),
        refresh_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse_and_refuse_repeats() {
        let form = parse_form(b"username=a%40b.io&password=p+w&grant_type=password").expect("form");
        assert_eq!(form["username"], "a@b.io");
        assert_eq!(form["password"], "p w");
        let err = parse_form(b"username=a&username=b").expect_err("repeat");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn empty_values_are_missing() {
        let form = parse_form(b"username=&password=x").expect("form");
        assert!(required(&form, "username").is_err());
        assert!(required(&form, "password").is_ok());
        assert!(required(&form, "refresh_token").is_err());
    }
}

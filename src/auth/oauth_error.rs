//! RFC 6749 §5.2 errors of the token endpoint, with `detail` beside
//! `error_description` for clients of the original project.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The error body of `/login` and `/token`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// RFC 6749 error code.
    pub error: &'static str,
    /// Human sentence.
    pub error_description: String,
    /// The same sentence.
    pub detail: String,
}

/// A token endpoint failure.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    /// 400 invalid_request.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 400 unsupported_grant_type.
    pub fn unsupported_grant_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be password or refresh_token",
        )
    }

    /// 401 invalid_grant: unknown email or wrong password (one text for both).
    pub fn bad_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "Incorrect email or password",
        )
    }

    /// 403 invalid_grant: right password, email not verified.
    pub fn unverified() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Email not verified; follow the link in the verification email",
        )
    }

    /// 423 invalid_grant: the account is locked. The one text for every
    /// caller that did not give the account's password: it names no kind
    /// of lock, so it says nothing an unknown address would not.
    pub fn locked() -> Self {
        Self::new(StatusCode::LOCKED, "invalid_grant", "Account locked")
    }

    /// 423 invalid_grant, to the correct password only: locked after too
    /// many failed logins.
    pub fn locked_by_failed_logins() -> Self {
        Self::new(
            StatusCode::LOCKED,
            "invalid_grant",
            "Account locked after too many failed logins; try later or reset the password",
        )
    }

    /// 423 invalid_grant, to the correct password only: suspended by staff.
    pub fn suspended() -> Self {
        Self::new(
            StatusCode::LOCKED,
            "invalid_grant",
            "Account suspended by staff; contact an administrator",
        )
    }

    /// 400 invalid_grant: a refresh token that is expired, revoked, unknown or reused.
    pub fn bad_refresh_token() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The refresh token is invalid, expired or revoked",
        )
    }

    /// 415 invalid_request.
    pub fn wrong_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
    }

    /// 429 with Retry-After.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request",
                "too many requests; slow down",
            )
        }
    }

    /// A backing service failed: 503 (or 500 for a bug), RFC 6749-shaped.
    pub fn from_app(err: crate::error::AppError) -> Self {
        let status = err.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = ?err, "internal error at the token endpoint");
            return Self::new(status, "server_error", "an internal error occurred");
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(status, "invalid_request", err.to_string());
        }
        Self::new(status, "temporarily_unavailable", err.to_string())
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human sentence.
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl From<sea_orm::DbErr> for OAuthError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::from_app(err.into())
    }
}

impl From<anyhow::Error> for OAuthError {
    fn from(err: anyhow::Error) -> Self {
        Self::from_app(err.into())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = OAuthErrorBody {
            error: self.code,
            error_description: self.description.clone(),
            detail: self.description,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

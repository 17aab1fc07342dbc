//! `/me/mfa/…`: enrolling an authenticator app (preview: answered only with
//! `MFA_ENROLMENT=on`, since sign-in does not ask for the second factor yet).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extractor::AuthUser;
use super::mfa;
use crate::error::{AppError, Result};
use crate::http::extract::Json;
use crate::http::openapi::responses;
use crate::state::AppState;

/// The password, to start enrolment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartEnrolmentRequest {
    /// The caller's current password.
    pub password: String,
}

/// What the authenticator app needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentResponse {
    /// The secret in base32 (RFC 4648), to type in.
    pub secret: String,
    /// `otpauth://totp/…` with issuer, SHA1, 6 digits, period 30.
    pub otpauth_uri: String,
    /// The URI as a QR code: an `<svg>` element of shapes only, safe to place inline.
    pub qr_svg: String,
}

/// A code from the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEnrolmentRequest {
    /// The 6-digit code shown now.
    pub code: String,
}

/// Single-use recovery codes, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// 10 codes like `ABCDE-FGHJK`; each works once.
    pub recovery_codes: Vec<String>,
}

/// 404 on every enrolment route unless `MFA_ENROLMENT` is on.
pub async fn enabled(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.config.mfa_enrolment {
        let detail = "two-factor enrolment is not enabled on this service (MFA_ENROLMENT)";
        return AppError::NotFound(detail.into()).into_response();
    }
    next.run(request).await
}

/// Starts (or restarts) enrolling an authenticator app. Preview: answers
/// 404 unless `MFA_ENROLMENT` is on (sign-in does not ask for the code yet).
#[utoipa::path(
    post,
    path = "/me/mfa/totp",
    tag = "me",
    security(("oauth2" = [])),
    request_body = StartEnrolmentRequest,
    responses(
        (status = 200, description = "A pending enrolment", body = EnrolmentResponse),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn start_totp(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(request): Json<StartEnrolmentRequest>,
) -> Result<axum::Json<EnrolmentResponse>> {
    let enrolment = mfa::start_enrolment(&state, &auth.user, &request.password).await?;
    Ok(axum::Json(EnrolmentResponse {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg: enrolment.qr_svg,
    }))
}

/// Confirms the pending enrolment with a code from the app; answers the
/// recovery codes, shown only this once. Preview: 404 unless `MFA_ENROLMENT` is on.
#[utoipa::path(
    post,
    path = "/me/mfa/totp/confirm",
    tag = "me",
    security(("oauth2" = [])),
    request_body = ConfirmEnrolmentRequest,
    responses(
        (status = 200, description = "Confirmed", body = RecoveryCodesResponse),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(request): Json<ConfirmEnrolmentRequest>,
) -> Result<axum::Json<RecoveryCodesResponse>> {
    let recovery_codes = mfa::confirm_enrolment(&state, &auth.user, &request.code).await?;
    Ok(axum::Json(RecoveryCodesResponse { recovery_codes }))
}

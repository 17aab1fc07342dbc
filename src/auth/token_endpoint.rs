//! `POST /login` (alias `/token`): the OAuth2 token endpoint. The form is
//! parsed once into a [`Grant`]; the grants themselves are in `grants`.
//! Its rate limit answers with an RFC 6749 error, drawing on the budget the
//! other authentication routes share.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use utoipa::ToSchema;

use super::device_tokens;
use super::grants::{self, PasswordLogin, TokenResponse};
use super::oauth_error::{OAuthError, OAuthErrorBody};
use super::sessions::Origin;
use crate::http::client::ClientAddr;
use crate::http::extract::{UserAgent, body_rejection, has_content_type};
use crate::http::ratelimit::{self, AuthRateLimit, Refusal};
use crate::state::AppState;

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
    /// Password grant: the device token of an earlier successful login
    /// (browsers send it as the `um_device` cookie instead).
    device_token: Option<String>,
    /// Ignored.
    scope: Option<String>,
}

/// A parsed token request.
#[derive(Debug)]
pub enum Grant {
    /// `grant_type=password` (the default).
    Password {
        /// The email.
        username: String,
        /// The password.
        password: SecretString,
        /// The client's device token, if it sent one.
        device_token: Option<String>,
    },
    /// `grant_type=refresh_token`.
    RefreshToken(String),
}

impl Grant {
    /// Parses the form. A parameter without a value counts as omitted, a
    /// repeated one is an error (RFC 6749 §3.2).
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::invalid_request("the form body cannot be parsed"))?;
        let mut form: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            if form.iter().any(|(k, _)| *k == key) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {key} is repeated"
                )));
            }
            form.push((key, value));
        }
        let get = |name: &str| {
            form.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let required = |name: &str| {
            get(name).ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
        };
        match get("grant_type").as_deref() {
            None | Some("password") => Ok(Self::Password {
                username: required("username")?,
                password: SecretString::from(required("password")?),
                device_token: get("device_token"),
            }),
            Some("refresh_token") => Ok(Self::RefreshToken(required("refresh_token")?)),
            Some(_) => Err(OAuthError::unsupported_grant_type()),
        }
    }
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
    let tokens = match Grant::parse(&body)? {
        Grant::Password {
            username,
            password,
            device_token,
        } => {
            let login = PasswordLogin {
                username,
                password,
                device_token: device_token.or_else(|| {
                    crate::http::cookies::get(&headers, device_tokens::COOKIE).map(str::to_owned)
                }),
                origin: Origin {
                    user_agent,
                    client_addr: client_addr.map(|a| a.to_string()),
                },
            };
            grants::password_grant(&state, login).await?
        }
        Grant::RefreshToken(token) => grants::refresh_grant(&state, &token).await?,
    };
    Ok(token_response(&state, tokens))
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

/// Tokens as the answer of the token endpoint: never cached, and a browser
/// keeps its device token in a cookie.
fn token_response(state: &AppState, tokens: TokenResponse) -> Response {
    let secure = state.config.base_url().starts_with("https://");
    let cookie = tokens
        .device_token
        .as_deref()
        .and_then(|token| device_tokens::cookie(token, secure));
    let mut response = axum::Json(tokens).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Some(cookie) = cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Middleware of the token endpoint: the shared per-address budget, a
/// rejection as the RFC 6749 error (429 with `Retry-After`, or 503 when the
/// budget cannot be read).
pub async fn limit(
    State(limit): State<AuthRateLimit>,
    ClientAddr(client): ClientAddr,
    request: Request,
    next: Next,
) -> Response {
    ratelimit::admit(&limit, client, request, next)
        .await
        .unwrap_or_else(|refusal| match refusal {
            Refusal::Wait(wait) => OAuthError::rate_limited(wait).into_response(),
            Refusal::Unavailable => {
                OAuthError::from_app(ratelimit::refused(refusal)).into_response()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Grant, OAuthError> {
        Grant::parse(body.as_bytes())
    }

    #[test]
    fn forms_parse_and_refuse_repeats() {
        let grant = parse("username=a%40b.io&password=p+w&grant_type=password").expect("form");
        assert!(matches!(grant, Grant::Password { username, .. } if username == "a@b.io"));
        let err = parse("username=a&username=b&password=x").expect_err("repeat");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn empty_values_count_as_omitted() {
        assert!(parse("username=&password=x").is_err());
        assert!(matches!(
            parse("grant_type=&username=a&password=x"),
            Ok(Grant::Password { .. })
        ));
        assert!(matches!(
            parse("grant_type=refresh_token&refresh_token=r"),
            Ok(Grant::RefreshToken(t)) if t == "r"
        ));
        assert!(parse("grant_type=refresh_token").is_err());
        let err = parse("grant_type=code").expect_err("unsupported");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }
}

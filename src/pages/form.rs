//! `PageForm<T>`: a form post whose token matches the browser's form
//! cookie, parsed into `T`. Anything else is refused before the handler
//! runs: a form without its token (or from another site) with 403, a body
//! that is not a form with 415.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::view::View;
use super::visitor::FORM_COOKIE;
use crate::http::cookies;
use crate::http::extract::has_content_type;
use crate::state::AppState;

/// A checked form post.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

/// The form field that carries the token.
pub const TOKEN_FIELD: &str = "csrf";

fn refused(state: &AppState, status: StatusCode, sentence: &str) -> Response {
    View::message(
        "The form was not accepted",
        &[sentence],
        Some(("/", "Start again")),
    )
    .status(status)
    .render_bare(state)
}

/// Whether the request's form token matches its form cookie.
pub fn token_matches(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    token: Option<&str>,
) -> bool {
    match (cookies::get(headers, FORM_COOKIE), token) {
        (Some(cookie), Some(token)) => state.site.form_token_matches(cookie, token),
        _ => false,
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        if !has_content_type(request.headers(), "application/x-www-form-urlencoded") {
            return Err(refused(
                state,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "This address takes form posts only.",
            ));
        }
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await.map_err(|_| {
            refused(
                state,
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is too large.",
            )
        })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| {
            refused(
                state,
                StatusCode::BAD_REQUEST,
                "The form could not be read.",
            )
        })?;
        let token = pairs
            .iter()
            .find(|(k, _)| k == TOKEN_FIELD)
            .map(|(_, v)| v.as_str());
        if !token_matches(state, &headers, token) {
            return Err(refused(
                state,
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            ));
        }
        let fields: Vec<&(String, String)> =
            pairs.iter().filter(|(k, _)| k != TOKEN_FIELD).collect();
        let encoded = serde_urlencoded::to_string(&fields).unwrap_or_default();
        serde_urlencoded::from_str(&encoded)
            .map(PageForm)
            .map_err(|_| {
                refused(
                    state,
                    StatusCode::BAD_REQUEST,
                    "The form is missing a field.",
                )
            })
    }
}

/// A form with no fields but its token (sign out, end a session).
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

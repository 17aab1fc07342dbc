//! `PageForm<T>`: a form post whose token matches the browser's form
//! cookie, parsed into `T`; `PageUpload`: the same for a multipart form
//! carrying one file. Anything else is refused before the handler runs: a
//! form without its token (or from another site) with 403, a body that is
//! not a form with 415.

use axum::body::Bytes;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::view::View;
use super::visitor::FORM_COOKIE;
use crate::error::AppError;
use crate::http::cookies;
use crate::http::extract::has_content_type;
use crate::pictures::upload::too_large;
use crate::state::AppState;

/// A checked form post.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

/// The form field that carries the token.
pub const TOKEN_FIELD: &str = "csrf";

/// The sentence of a refused token.
const FORGED: &str =
    "This form has expired or did not come from this site. Go back, reload the page and try again.";

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
            return Err(refused(state, StatusCode::FORBIDDEN, FORGED));
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

/// The file field of an upload form.
pub const FILE_FIELD: &str = "picture";

/// A checked multipart form post (`multipart/form-data`) with one file in
/// [`FILE_FIELD`], read up to `AVATAR_MAX_BYTES`. The token is checked
/// before the file is used; a file that is missing, too large or cut short
/// is left for the handler to show by its field.
#[derive(Debug)]
pub struct PageUpload {
    /// The file's bytes, or why there are none.
    pub file: Result<Vec<u8>, AppError>,
}

/// Reads `field`, refusing it as soon as it passes `max` bytes.
async fn read_file(mut field: Field<'_>, max: usize) -> Result<Vec<u8>, AppError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| unreadable(&e, max))? {
        if bytes.len() + chunk.len() > max {
            return Err(too_large(max));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(AppError::field(FILE_FIELD, "choose a picture to upload"));
    }
    Ok(bytes)
}

/// A body cut short: past the body limit (too large), or malformed.
fn unreadable(e: &MultipartError, max: usize) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max)
    } else {
        AppError::BadRequest("the form could not be read".into())
    }
}

impl FromRequest<AppState> for PageUpload {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let headers = request.headers().clone();
        let mut form = Multipart::from_request(request, state).await.map_err(|_| {
            refused(
                state,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "This address takes file uploads only.",
            )
        })?;
        let max = state.config.avatar_max_bytes;
        let (mut token, mut file) = (None, None);
        loop {
            match form.next_field().await {
                Ok(Some(field)) if field.name() == Some(TOKEN_FIELD) => {
                    token = field.text().await.ok();
                }
                Ok(Some(field)) if field.name() == Some(FILE_FIELD) && file.is_none() => {
                    file = Some(read_file(field, max).await);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    file = Some(Err(unreadable(&e, max)));
                    break;
                }
            }
        }
        if !token_matches(state, &headers, token.as_deref()) {
            return Err(refused(state, StatusCode::FORBIDDEN, FORGED));
        }
        let file =
            file.unwrap_or_else(|| Err(AppError::field(FILE_FIELD, "choose a picture to upload")));
        if let Err(AppError::BadRequest(_)) = &file {
            return Err(refused(
                state,
                StatusCode::BAD_REQUEST,
                "The form could not be read.",
            ));
        }
        Ok(Self { file })
    }
}

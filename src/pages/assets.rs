//! The pages' own files: the stylesheet, the theme (accent colour) and the
//! logo, all from the binary or the settings, cacheable for an hour.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

fn asset(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    response
}

/// `GET /assets/style.css`.
pub async fn style(State(state): State<AppState>) -> Response {
    asset(
        "text/css; charset=utf-8",
        state.site.templates.style().as_bytes().to_vec(),
    )
}

/// `GET /assets/theme.css`: the accent colour.
pub async fn theme(State(state): State<AppState>) -> Response {
    asset(
        "text/css; charset=utf-8",
        state.site.theme_css.clone().into_bytes(),
    )
}

/// `GET /assets/logo`: the configured logo, or 404.
pub async fn logo(State(state): State<AppState>) -> Response {
    match &state.site.logo {
        Some(logo) => asset(logo.content_type, logo.bytes.clone()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

//! Who is looking at a page: the browser's form cookie (made on its first
//! visit) and, when it has one, its signed-in page session.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::view::{View, Viewer, see_other};
use crate::auth::browser_sessions::{self, BrowserSession};
use crate::auth::tokens;
use crate::config::percent_encode;
use crate::http::cookies::{self, SameSite};
use crate::state::AppState;

/// The cookie whose HMAC every form carries (see `Site::form_token`).
pub const FORM_COOKIE: &str = "um_form";

/// A browser on a page.
#[derive(Debug)]
pub struct Visitor {
    form_cookie: String,
    new_form_cookie: bool,
    /// The page session, when the browser is signed in.
    pub signed_in: Option<BrowserSession>,
    /// The session cookie to send again (the session was extended).
    renewed: Option<String>,
}

impl Viewer for Visitor {
    fn form_token(&self, state: &AppState) -> String {
        state.site.form_token(&self.form_cookie)
    }

    fn user(&self) -> Option<serde_json::Value> {
        self.signed_in
            .as_ref()
            .map(|s| serde_json::json!({"email": s.user.email, "nickname": s.user.nickname}))
    }

    /// A new form cookie, a renewed session.
    fn add_cookies(&self, state: &AppState, response: &mut Response) {
        let secure = state.site.secure;
        let mut set = Vec::new();
        if self.new_form_cookie {
            set.push(cookies::set(
                FORM_COOKIE,
                &self.form_cookie,
                None,
                SameSite::Strict,
                secure,
            ));
        }
        if let Some(token) = &self.renewed {
            set.push(session_cookie(state, token));
        }
        for value in set.into_iter().flatten() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// The cookie of a page session, living as long as a refresh token.
pub fn session_cookie(state: &AppState, token: &str) -> Option<axum::http::HeaderValue> {
    cookies::set(
        browser_sessions::COOKIE,
        token,
        Some(state.config.refresh_token_ttl),
        SameSite::Lax,
        state.site.secure,
    )
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let (form_cookie, new_form_cookie) = match cookies::get(&parts.headers, FORM_COOKIE) {
            Some(value) => (value.to_owned(), false),
            None => (tokens::random_token_string(32), true),
        };
        let unavailable = |err: sea_orm::DbErr| {
            View::message("Service unavailable", &[], None)
                .failed(err.into())
                .render_bare(state)
        };
        let mut visitor = Self {
            form_cookie,
            new_form_cookie,
            signed_in: None,
            renewed: None,
        };
        if let Some(token) = cookies::get(&parts.headers, browser_sessions::COOKIE) {
            visitor.signed_in = browser_sessions::find(&state.db, token)
                .await
                .map_err(unavailable)?;
            if let Some(session) = &visitor.signed_in {
                let ttl = state.config.refresh_token_ttl;
                if browser_sessions::renew(&state.db, &session.session, ttl)
                    .await
                    .map_err(unavailable)?
                {
                    visitor.renewed = Some(token.to_owned());
                }
            }
        }
        Ok(visitor)
    }
}

/// A visitor who is signed in; anyone else is sent to the sign-in page,
/// which brings them back here afterwards.
#[derive(Debug)]
pub struct SignedIn {
    /// The visitor (for rendering).
    pub visitor: Visitor,
    /// Their page session and user.
    pub session: BrowserSession,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        if let Some(session) = visitor.signed_in.clone() {
            return Ok(Self { visitor, session });
        }
        let back = parts.uri.path();
        let location = format!("/sign-in?return_to={}", percent_encode(back));
        let mut response = see_other(state, &location);
        visitor.add_cookies(state, &mut response);
        Err(response.into_response())
    }
}

//! `GET /` for browsers, signing in and out. Signing in is the password
//! grant of the API (same lockout, device tokens, delays and answers); the
//! session it opens is kept in a cookie instead of handed out as tokens.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::form::{NoFields, PageForm};
use super::view::{View, see_other};
use super::visitor::{SignedIn, Visitor, session_cookie};
use crate::auth::browser_sessions;
use crate::auth::device_tokens;
use crate::auth::grants::{self, PasswordLogin};
use crate::auth::sessions::{self, Origin};
use crate::error::AppError;
use crate::http::client::ClientAddr;
use crate::http::cookies;
use crate::http::extract::UserAgent;
use crate::http::ratelimit::{self, Refusal};
use crate::state::AppState;

/// Whether the client asks for a page (a browser) rather than JSON.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// `GET /`: a browser goes to its account, or to the sign-in page; API
/// clients get the 404 they always got.
pub async fn home(State(state): State<AppState>, headers: HeaderMap, visitor: Visitor) -> Response {
    if !wants_html(&headers) {
        return AppError::NotFound("no such resource".into()).into_response();
    }
    let target = if visitor.signed_in.is_some() {
        "/account"
    } else {
        "/sign-in"
    };
    see_other(&state, target)
}

/// Where to go after signing in.
#[derive(Debug, Deserialize)]
pub struct ReturnTo {
    /// A path on this service, or a URL on an allowed origin.
    return_to: Option<String>,
}

/// The sign-in page (a signed-in visitor goes straight on).
pub async fn sign_in_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<ReturnTo>,
) -> Response {
    if visitor.signed_in.is_some() {
        return see_other(&state, &state.site.return_to(query.return_to.as_deref()));
    }
    View::new("sign_in.html", "Sign in")
        .with("return_to", query.return_to)
        .render(&state, &visitor)
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    return_to: Option<String>,
}

/// Signs in: on success the session cookie is set and the browser goes
/// where it came from; otherwise the form again, with the API's answer.
pub async fn sign_in(
    State(state): State<AppState>,
    visitor: Visitor,
    UserAgent(user_agent): UserAgent,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<SignInForm>,
) -> Response {
    let login = PasswordLogin {
        username: form.email.clone(),
        password: SecretString::from(form.password),
        device_token: cookies::get(&headers, device_tokens::COOKIE).map(str::to_owned),
        origin: Origin {
            user_agent,
            client_addr: client_addr.map(|a| a.to_string()),
        },
    };
    match grants::password_grant(&state, login).await {
        Ok(tokens) => {
            let target = state.site.return_to(form.return_to.as_deref());
            let mut response = see_other(&state, &target);
            let device = tokens
                .device_token
                .as_deref()
                .and_then(|token| device_tokens::cookie(token, state.site.secure));
            for cookie in [session_cookie(&state, &tokens.refresh_token), device]
                .into_iter()
                .flatten()
            {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(err) => View::new("sign_in.html", "Sign in")
            .with("return_to", form.return_to)
            .values(json!({ "email": form.email }))
            .error(err.description())
            .status(err.status())
            .render(&state, &visitor),
    }
}

/// Signs out: the session ends (everywhere its cookie is), the cookie goes.
pub async fn sign_out(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(NoFields {}): PageForm<NoFields>,
) -> Response {
    if let Err(err) = sessions::revoke(&state.db, signed_in.session.session.id).await {
        return View::message("Sign out", &[], None)
            .failed(err.into())
            .render(&state, &signed_in.visitor);
    }
    let mut response = see_other(&state, "/sign-in");
    if let Some(clear) = cookies::clear(browser_sessions::COOKIE, state.site.secure) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response.into_response()
}

/// An answer for a refused request: too many attempts from one network
/// (429 with `Retry-After`), or a budget that cannot be read (503).
pub fn rate_limited(state: &AppState, refusal: Refusal) -> Response {
    let wait = match refusal {
        Refusal::Wait(wait) => Some(wait),
        Refusal::Unavailable => None,
    };
    let error = ratelimit::refused(refusal);
    let mut response = View::message("Too many attempts", &[], Some(("/", "Back")))
        .failed(error)
        .render_bare(state);
    if let Some(value) = wait.and_then(|wait| wait.to_string().parse().ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

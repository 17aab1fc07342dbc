//! The pages: sign in and out, sign up, the landing pages of the links in
//! mails, and the account area (profile, picture, password, sessions).
//! Server-rendered from templates embedded in the binary (overridable from
//! `PAGE_TEMPLATES_DIR`), no script, every form carrying a token tied to
//! the browser's form cookie. They are a second face of the features the
//! API serves: every action calls the same feature function.

pub mod account;
pub mod assets;
pub mod email_links;
pub mod form;
pub mod picture;
pub mod sessions;
pub mod sign_in;
pub mod sign_up;
pub mod site;
pub mod templates;
pub mod view;
pub mod visitor;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};

use crate::http::client::ClientAddr;
use crate::http::ratelimit;
use crate::state::AppState;

/// Every page route. The forms that sign in, sign up or send mail draw on
/// the per-address budget of the API's authentication routes.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(sign_in::home))
        .route(
            "/sign-in",
            get(sign_in::sign_in_page).merge(limited(&state, sign_in::sign_in)),
        )
        .route("/sign-out", post(sign_in::sign_out))
        .route(
            "/sign-up",
            get(sign_up::sign_up_page).merge(limited(&state, sign_up::sign_up)),
        )
        .route(
            "/forgot-password",
            get(email_links::forgot_page).merge(limited(&state, email_links::forgot)),
        )
        .route(
            "/reset-password",
            get(email_links::reset_page).merge(limited(&state, email_links::reset)),
        )
        .route(
            "/confirm-email",
            get(email_links::code_page).merge(limited(&state, email_links::confirm_code)),
        )
        .route(
            "/confirm-email/{user_id}/{token}",
            get(email_links::confirm_page).merge(limited(&state, email_links::confirm)),
        )
        .route(
            "/confirm-new-email",
            get(email_links::new_email_page).merge(limited(&state, email_links::confirm_new_email)),
        )
        .route(
            "/account",
            get(account::account_page).post(account::save_profile),
        )
        .route(
            "/account/password",
            get(account::password_page).post(account::change_password),
        )
        .route(
            "/account/picture",
            post(picture::upload_picture).layer(DefaultBodyLimit::max(
                state.config.avatar_max_bytes.saturating_add(64 * 1024),
            )),
        )
        .route("/account/picture/remove", post(picture::remove_picture))
        .route("/account/sessions", get(sessions::sessions_page))
        .route("/account/sessions/{id}/end", post(sessions::end_session))
        .route(
            "/account/sessions/end-others",
            post(sessions::end_other_sessions),
        )
        .route("/assets/style.css", get(assets::style))
        .route("/assets/theme.css", get(assets::theme))
        .route("/assets/logo", get(assets::logo))
}

/// `POST` to `handler`, within the per-address budget.
fn limited<H, T>(state: &AppState, handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    post(handler).route_layer(axum::middleware::from_fn_with_state(state.clone(), limit))
}

/// The shared per-address budget; past it, a page that says when to retry.
async fn limit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    request: Request,
    next: Next,
) -> Response {
    ratelimit::admit(&state.auth_rate_limit, client, request, next)
        .await
        .unwrap_or_else(|wait| sign_in::rate_limited(&state, wait))
}

//! `GET/POST /sign-up`: registration as `POST /register` does it (same
//! checks, same verification mail), then a page that says what comes next.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::form::PageForm;
use super::view::{View, see_other};
use super::visitor::Visitor;
use crate::error::AppError;
use crate::state::AppState;
use crate::users::accounts::{self as registration, Origin};
use crate::users::requests::RegisterRequest;

/// `GET /sign-up` (a signed-in visitor goes to their account).
pub async fn sign_up_page(State(state): State<AppState>, visitor: Visitor) -> Response {
    if visitor.signed_in.is_some() {
        return see_other(&state, "/account");
    }
    View::new("sign_up.html", "Create an account").render(&state, &visitor)
}

/// The sign-up form; an empty nickname is made up.
#[derive(Debug, Deserialize)]
pub struct SignUpForm {
    email: String,
    nickname: String,
    password: String,
}

/// `POST /sign-up`.
pub async fn sign_up(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<SignUpForm>,
) -> Response {
    let nickname = form.nickname.trim();
    let request = RegisterRequest {
        email: form.email.clone(),
        password: form.password,
        nickname: (!nickname.is_empty()).then(|| Some(nickname.to_owned())),
        ..RegisterRequest::default()
    };
    match registration::create_account(&state.db, &state.hashing, request, Origin::SelfRegistered)
        .await
    {
        Ok(user) => {
            state.mail_queued();
            View::message(
                "Check your inbox",
                &[
                    &format!("We sent a link to {} to confirm the address.", user.email),
                    "Open it to finish, or type the code it shows at /confirm-email; then sign in.",
                ],
                Some(("/sign-in", "Go to sign in")),
            )
            .status(StatusCode::CREATED)
            .render(&state, &visitor)
        }
        Err(err) => {
            let err = match err {
                AppError::Conflict(message) => AppError::field("email", message),
                other => other,
            };
            View::new("sign_up.html", "Create an account")
                .values(json!({ "email": form.email, "nickname": form.nickname }))
                .failed(err)
                .render(&state, &visitor)
        }
    }
}

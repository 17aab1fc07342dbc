//! Where the links in mails land, and where their short codes are typed.
//! Opening a link (GET) only shows a page; the page's form (POST) uses the
//! token. So a mail scanner that opens every link burns nothing, and the
//! page looks the same for valid, used and unknown tokens. A wrong code is
//! shown next to the code field, alike for an address without an account.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::form::{NoFields, PageForm};
use super::view::View;
use super::visitor::Visitor;
use crate::config::percent_encode;
use crate::email::MailKind;
use crate::error::{AppError, FieldError};
use crate::state::AppState;
use crate::users::{deferred_mail, email_change, mail_links};

/// `GET /confirm-email/{user_id}/{token}`: a button that confirms.
pub async fn confirm_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((user_id, token)): Path<(String, String)>,
) -> Response {
    let action = format!(
        "/confirm-email/{}/{}",
        percent_encode(&user_id),
        percent_encode(&token)
    );
    View::new("confirm_email.html", "Confirm your email")
        .with("action", action)
        .render(&state, &visitor)
}

/// `POST /confirm-email/{user_id}/{token}`: confirms. A link its owner
/// already used says they are verified, not that it failed.
pub async fn confirm(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((user_id, token)): Path<(String, String)>,
    PageForm(NoFields {}): PageForm<NoFields>,
) -> Response {
    match mail_links::confirm_link(&state.db, &user_id, &token).await {
        Ok(_) => verified().render(&state, &visitor),
        Err(AppError::BadRequest(_)) => View::message(
            "This link is no longer valid",
            &["The link has expired or is not valid. Sign in to have a new one sent, or use the code from the email."],
            Some(("/confirm-email", "Enter a code")),
        )
        .status(StatusCode::BAD_REQUEST)
        .render(&state, &visitor),
        Err(err) => View::message("Confirm your email", &[], None).failed(err).render(&state, &visitor),
    }
}

/// `GET /confirm-email`: the form that takes the address and the code.
pub async fn code_page(State(state): State<AppState>, visitor: Visitor) -> Response {
    View::new("enter_code.html", "Confirm your email with a code").render(&state, &visitor)
}

/// The code form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    email: String,
    code: String,
}

/// `POST /confirm-email`: confirms with the code; a wrong one is shown
/// next to the code field.
pub async fn confirm_code(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<CodeForm>,
) -> Response {
    match mail_links::confirm_code(&state, &form.email, &form.code).await {
        Ok(()) => verified().render(&state, &visitor),
        Err(err) => View::new("enter_code.html", "Confirm your email with a code")
            .values(json!({ "email": form.email }))
            .failed(code_error(err))
            .render(&state, &visitor),
    }
}

/// A wrong code as an error of the code field.
fn code_error(err: AppError) -> AppError {
    match err {
        AppError::BadRequest(_) => AppError::Validation(vec![FieldError::new(
            "code",
            "This code is wrong or has expired. Check it, or ask for a new email.",
        )]),
        other => other,
    }
}

fn verified() -> View {
    View::message(
        "Your email is verified",
        &["You can sign in now."],
        Some(("/sign-in", "Sign in")),
    )
}

/// `GET /forgot-password`.
pub async fn forgot_page(State(state): State<AppState>, visitor: Visitor) -> Response {
    View::new("forgot_password.html", "Forgot your password?").render(&state, &visitor)
}

/// The forgot-password form.
#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// `POST /forgot-password`: the same answer whether or not the address
/// has an account, as `POST /password/forgot` gives.
pub async fn forgot(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<ForgotForm>,
) -> Response {
    match deferred_mail::queue_request(&state, &form.email, MailKind::PasswordResetRequest).await {
        Ok(()) => View::message(
            "Check your inbox",
            &["If that address belongs to an account, a link to choose a new password is on its way."],
            None,
        )
        .render(&state, &visitor),
        Err(err) => View::new("forgot_password.html", "Forgot your password?")
            .values(json!({ "email": form.email }))
            .failed(err)
            .render(&state, &visitor),
    }
}

/// The token of a reset link.
#[derive(Debug, Deserialize)]
pub struct ResetLink {
    token: Option<String>,
}

/// `GET /reset-password?token=…`: the new-password form.
pub async fn reset_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(link): Query<ResetLink>,
) -> Response {
    View::new("reset_password.html", "Choose a new password")
        .with("token", link.token)
        .render(&state, &visitor)
}

/// The reset form: the token of the link, or the address and the code.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    token: Option<String>,
    email: Option<String>,
    code: Option<String>,
    new_password: String,
}

/// `POST /reset-password`: sets the password. With a link, a used or
/// expired one ends on the page that sends a new one; with a code, a wrong
/// one is shown next to the code field.
pub async fn reset(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<ResetForm>,
) -> Response {
    let result = match &form.token {
        Some(token) => mail_links::reset_with_token(&state, token, &form.new_password).await,
        None => {
            let (email, code) = (form.email.as_deref(), form.code.as_deref());
            let (email, code) = (email.unwrap_or_default(), code.unwrap_or_default());
            mail_links::reset_with_code(&state, email, code, &form.new_password)
                .await
                .map_err(code_error)
        }
    };
    match result {
        Ok(()) => View::message(
            "Your password is changed",
            &["Every session of the account was signed out. Sign in with the new password."],
            Some(("/sign-in", "Sign in")),
        )
        .render(&state, &visitor),
        Err(AppError::BadRequest(_)) => {
            View::new("forgot_password.html", "This link is no longer valid")
                .error("The link has expired or was already used. Ask for a new one here.")
                .status(StatusCode::BAD_REQUEST)
                .render(&state, &visitor)
        }
        Err(err) => View::new("reset_password.html", "Choose a new password")
            .with("token", form.token)
            .values(json!({ "email": form.email, "code": form.code }))
            .failed(err)
            .render(&state, &visitor),
    }
}

/// `GET /confirm-new-email?token=…`: a button that confirms a new address.
pub async fn new_email_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(link): Query<ResetLink>,
) -> Response {
    View::new("confirm_new_email.html", "Confirm your new email")
        .with("token", link.token.unwrap_or_default())
        .render(&state, &visitor)
}

/// The confirmation form of a new address.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    token: String,
}

/// `POST /confirm-new-email`: the account moves to the new address.
pub async fn confirm_new_email(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<TokenForm>,
) -> Response {
    match email_change::confirm_change(&state.db, &form.token).await {
        Ok(user) => {
            state.mail_queued();
            View::message(
                "Your new email is confirmed",
                &[&format!("Your account now uses {}.", user.email)],
                Some(("/account", "Go to your account")),
            )
            .render(&state, &visitor)
        }
        Err(err) => View::message("Confirm your new email", &[], None)
            .failed(err)
            .render(&state, &visitor),
    }
}

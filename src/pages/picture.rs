//! The picture on the account page: upload and removal. They call the same
//! feature functions as `PUT /me/picture` and `DELETE /me/picture`, with
//! the same limits (size, pixels, uploads per hour, decode budget).

use axum::extract::State;
use axum::response::Response;

use super::account::account_view;
use super::form::{FILE_FIELD, NoFields, PageForm, PageUpload};
use super::view::see_other;
use super::visitor::SignedIn;
use crate::error::AppError;
use crate::pictures::{store, upload};
use crate::state::AppState;

/// `POST /account/picture`: stores the upload and shows the account page
/// with it, or the account page with the reason by the picture field (too
/// large, not an image) or above it (too many uploads, storage down).
pub async fn upload_picture(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageUpload { file }: PageUpload,
) -> Response {
    let user = &signed_in.session.user;
    let read = async { file };
    match upload::upload(&state, user.id, user, FILE_FIELD, read).await {
        Ok(_) => see_other(&state, "/account?done=picture"),
        Err(err) => failed(&state, &signed_in, err),
    }
}

/// `POST /account/picture/remove`: back to the generated picture.
pub async fn remove_picture(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(NoFields {}): PageForm<NoFields>,
) -> Response {
    match store::remove_picture(&state, &signed_in.session.user).await {
        Ok(_) => see_other(&state, "/account?done=picture-removed"),
        Err(err) => failed(&state, &signed_in, err),
    }
}

/// The account page after a failed picture action, answered with the
/// failure's status; a refusal of the file itself sits by its field.
fn failed(state: &AppState, signed_in: &SignedIn, err: AppError) -> Response {
    let status = err.status();
    let err = match err {
        AppError::PayloadTooLarge(why) | AppError::UnsupportedMediaType(why) => {
            AppError::field(FILE_FIELD, why)
        }
        other => other,
    };
    account_view(state, &signed_in.session.user)
        .failed(err)
        .status(status)
        .render(state, &signed_in.visitor)
}

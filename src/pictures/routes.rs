//! Picture endpoints: upload and remove (own and staff), serve, default.

use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::default;
use super::pipeline;
use super::store::{self, object_key};
use super::upload;
use crate::auth::extractor::{AuthUser, Staff};
use crate::db::entities::users;
use crate::domain::UserId;
use crate::error::{AppError, Result};
use crate::http::extract::Path;
use crate::http::openapi::responses;
use crate::state::AppState;
use crate::users::admin::permissions::{self, Act};
use crate::users::repo;
use crate::users::views::{UserResponse, Viewer, staff_view};

/// The multipart form of an upload (documentation).
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "documentation only")]
pub struct PictureUpload {
    /// PNG, JPEG, WebP or GIF, at most `AVATAR_MAX_BYTES`.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// Reads the `file` field, refusing it as soon as it passes `max` bytes.
async fn read_file(mut form: Multipart, max: usize) -> Result<Vec<u8>> {
    let form_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            upload::too_large(max)
        } else {
            AppError::BadRequest(format!("unreadable multipart body: {}", e.body_text()))
        }
    };
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(form_error)? {
            if bytes.len() + chunk.len() > max {
                return Err(upload::too_large(max));
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes);
    }
    Err(AppError::field(
        "file",
        "a multipart field named `file` is required",
    ))
}

/// Uploads the body's `file` as `user`'s picture, for `uploader`.
async fn upload_form(
    state: &AppState,
    uploader: Uuid,
    user: &users::Model,
    form: Multipart,
) -> Result<users::Model> {
    let read = read_file(form, state.config.avatar_max_bytes);
    upload::upload(state, uploader, user, "file", read).await
}

/// Uploads the caller's picture (multipart field `file`).
#[utoipa::path(
    put,
    path = "/me/picture",
    tag = "pictures",
    security(("oauth2" = [])),
    request_body(content = PictureUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Stored; `profile_picture_url` points at it", body = UserResponse),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 409, response = responses::Conflict),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 429, response = responses::TooManyRequests),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn upload_my_picture(
    State(state): State<AppState>,
    auth: AuthUser,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<axum::Json<UserResponse>> {
    let form = form.map_err(multipart_rejection)?;
    let user = upload_form(&state, auth.user.id, &auth.user, form).await?;
    Ok(axum::Json(UserResponse::new(
        user,
        Viewer::Owner,
        state.config.base_url(),
    )))
}

/// Removes the caller's picture; the default one is shown again.
#[utoipa::path(
    delete,
    path = "/me/picture",
    tag = "pictures",
    security(("oauth2" = [])),
    responses(
        (status = 200, description = "Removed", body = UserResponse),
        (status = 401, response = responses::Unauthorized),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn delete_my_picture(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<axum::Json<UserResponse>> {
    let user = store::remove_picture(&state, &auth.user).await?;
    Ok(axum::Json(UserResponse::new(
        user,
        Viewer::Owner,
        state.config.base_url(),
    )))
}

/// Uploads another user's picture (staff, within their reach).
#[utoipa::path(
    put,
    path = "/users/{id}/picture",
    tag = "pictures",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body(content = PictureUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Stored", body = UserResponse),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 429, response = responses::TooManyRequests),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn upload_user_picture(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<UserId>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<axum::Json<UserResponse>> {
    let user = repo::find_target(&state.db, id).await?;
    permissions::check(viewer.role, Act::Picture, user.role, user.id == viewer.id())?;
    let form = form.map_err(multipart_rejection)?;
    let user = upload_form(&state, viewer.id(), &user, form).await?;
    Ok(axum::Json(staff_view(&state, &viewer, user)))
}

/// Removes another user's picture (staff, within their reach).
#[utoipa::path(
    delete,
    path = "/users/{id}/picture",
    tag = "pictures",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Removed", body = UserResponse),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn delete_user_picture(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<UserId>,
) -> Result<axum::Json<UserResponse>> {
    let user = repo::find_target(&state.db, id).await?;
    permissions::check(viewer.role, Act::Picture, user.role, user.id == viewer.id())?;
    let user = store::remove_picture(&state, &user).await?;
    Ok(axum::Json(staff_view(&state, &viewer, user)))
}

fn multipart_rejection(rejection: axum::extract::multipart::MultipartRejection) -> AppError {
    AppError::UnsupportedMediaType(format!(
        "expected multipart/form-data: {}",
        rejection.body_text()
    ))
}

/// Serves a stored picture (immutable: its name is its content hash) or
/// the generated default (`default.svg`).
#[utoipa::path(
    get,
    path = "/pictures/{user_id}/{file}",
    tag = "pictures",
    params(
        ("user_id" = String, Path, description = "User id"),
        ("file" = String, Path, description = "`{digest}.jpg`, `{digest}.png` or `default.svg`"),
    ),
    responses(
        (status = 200, description = "The image", content_type = "image/*"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, response = responses::NotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn serve_picture(
    State(state): State<AppState>,
    Path((user_id, file)): Path<(UserId, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    if file == "default.svg" {
        serve_default(&state, user_id).await
    } else {
        serve_stored(&state, user_id, &file, &headers).await
    }
}

fn no_such_picture() -> AppError {
    AppError::NotFound("no such picture".into())
}

/// The generated picture: the user's initials on a colour of their own.
async fn serve_default(state: &AppState, user_id: UserId) -> Result<Response> {
    let user = repo::find_by_id(&state.db, user_id.uuid())
        .await?
        .ok_or_else(no_such_picture)?;
    let initials = default::initials(
        user.first_name.as_deref(),
        user.last_name.as_deref(),
        &user.nickname,
    );
    let body = default::svg(&initials, user.id.as_bytes());
    let headers = [
        (header::CONTENT_TYPE, "image/svg+xml"),
        (header::CACHE_CONTROL, "public, max-age=300"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ),
    ];
    Ok((headers.map(|(k, v)| (k, HeaderValue::from_static(v))), body).into_response())
}

/// The caching of a stored picture: its name is its digest.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A stored picture, `{digest}.{extension}`: immutable, so cached for a
/// year and answered 304 when the client has it.
async fn serve_stored(
    state: &AppState,
    user_id: UserId,
    file: &str,
    headers: &HeaderMap,
) -> Result<Response> {
    let (digest, extension) = file.split_once('.').ok_or_else(no_such_picture)?;
    let content_type = pipeline::content_type(extension).ok_or_else(no_such_picture)?;
    let is_digest = digest.len() == 16
        && digest
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    if !is_digest {
        return Err(no_such_picture());
    }
    let etag = format!("\"{digest}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        // A 304 refreshes the stored headers: it repeats the caching rule.
        let caching = [(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE))];
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)], caching).into_response());
    }
    let object = state
        .storage
        .get(&object_key(user_id.uuid(), digest, extension))
        .await?;
    let length = object.meta.size;
    let body = Body::from_stream(object.into_stream());
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
            (header::CONTENT_LENGTH, HeaderValue::from(length)),
        ],
        [(header::ETAG, etag)],
        body,
    )
        .into_response())
}

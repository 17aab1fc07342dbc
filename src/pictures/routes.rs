//! Picture endpoints: upload and remove (own and staff), serve, default.

use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::default;
use super::pipeline::{self, PipelineError, Processed};
use crate::auth::extractor::{AuthUser, Staff};
use crate::db::entities::users;
use crate::error::{AppError, Problem, Result};
use crate::state::AppState;
use crate::time;
use crate::users::dto::{UserResponse, Viewer};
use crate::users::permissions::{self, Act};
use crate::users::repo;
use crate::users::staff::staff_view;

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
    let too_large =
        || AppError::PayloadTooLarge(format!("the picture must be at most {max} bytes"));
    let form_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
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
                return Err(too_large());
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

/// Runs the pipeline on an image worker thread.
async fn process(state: &AppState, bytes: Vec<u8>) -> Result<Processed> {
    let result = state
        .image_workers
        .run(move || pipeline::process(&bytes))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    result.map_err(|e| match e {
        PipelineError::Unsupported => AppError::UnsupportedMediaType(e.to_string()),
        PipelineError::TooLarge { .. } => AppError::field("file", e.to_string()),
    })
}

/// Stores the picture, points the user at it, then removes the old object.
/// Storage down → 503 and the row unchanged; a failed row update removes
/// the new object, so nothing is left behind.
async fn replace_picture(
    state: &AppState,
    user: &users::Model,
    form: Multipart,
) -> Result<users::Model> {
    let slot = state
        .upload_slots
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let bytes = read_file(form, state.config.avatar_max_bytes).await?;
    let picture = process(state, bytes).await?;
    drop(slot);
    let key = format!(
        "avatars/{}/{}.{}",
        user.id, picture.digest, picture.extension
    );
    let url = format!(
        "{}/pictures/{}/{}.{}",
        state.config.base_url(),
        user.id,
        picture.digest,
        picture.extension
    );
    state.storage.put(&key, picture.bytes.into()).await?;
    if let Err(err) = set_picture(state, user.id, Some(key.clone()), Some(url)).await {
        if let Err(cleanup) = state.storage.delete(&key).await {
            tracing::warn!(error = %cleanup, "could not remove a picture whose update failed");
        }
        return Err(err);
    }
    if let Some(old) = user.picture_key.as_deref().filter(|old| *old != key)
        && let Err(err) = state.storage.delete(old).await
    {
        tracing::warn!(error = %err, "could not remove a replaced picture");
    }
    repo::find_target(&state.db, &user.id.to_string()).await
}

/// Removes the stored object (503 if storage is down: nothing changes),
/// then the reference; the user is back to the default picture.
async fn remove_picture(state: &AppState, user: &users::Model) -> Result<users::Model> {
    if let Some(key) = &user.picture_key {
        state.storage.delete(key).await?;
    }
    set_picture(state, user.id, None, None).await?;
    repo::find_target(&state.db, &user.id.to_string()).await
}

async fn set_picture(
    state: &AppState,
    id: Uuid,
    key: Option<String>,
    url: Option<String>,
) -> Result<()> {
    use users::Column as C;
    users::Entity::update_many()
        .col_expr(C::PictureKey, Expr::value(key))
        .col_expr(C::ProfilePictureUrl, Expr::value(url))
        .col_expr(C::UpdatedAt, Expr::value(time::now()))
        .filter(C::Id.eq(id))
        .exec(&state.db)
        .await?;
    Ok(())
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
        (status = 400, description = "Unreadable multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than AVATAR_MAX_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PNG, JPEG, WebP or GIF image", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No `file` field, or over 40 megapixels", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Object storage or database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload_my_picture(
    State(state): State<AppState>,
    auth: AuthUser,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<axum::Json<UserResponse>> {
    let form = form.map_err(multipart_rejection)?;
    let user = replace_picture(&state, &auth.user, form).await?;
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
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Object storage or database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_my_picture(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<axum::Json<UserResponse>> {
    let user = remove_picture(&state, &auth.user).await?;
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
        (status = 400, description = "Unreadable multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for this user", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than AVATAR_MAX_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PNG, JPEG, WebP or GIF image", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No `file` field, or over 40 megapixels", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Object storage or database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload_user_picture(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<axum::Json<UserResponse>> {
    let user = repo::find_target(&state.db, &id).await?;
    permissions::check(
        viewer.role,
        Act::Picture,
        repo::role_of(&user),
        user.id == viewer.id(),
    )?;
    let form = form.map_err(multipart_rejection)?;
    let user = replace_picture(&state, &user, form).await?;
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
        (status = 401, description = "Missing, invalid or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for this user", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Object storage or database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_user_picture(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<String>,
) -> Result<axum::Json<UserResponse>> {
    let user = repo::find_target(&state.db, &id).await?;
    permissions::check(
        viewer.role,
        Act::Picture,
        repo::role_of(&user),
        user.id == viewer.id(),
    )?;
    let user = remove_picture(&state, &user).await?;
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
        (status = 404, description = "No such picture", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Object storage unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn serve_picture(
    State(state): State<AppState>,
    Path((user_id, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let not_found = || AppError::NotFound("no such picture".into());
    let user_id = Uuid::parse_str(&user_id).map_err(|_| not_found())?;
    if file == "default.svg" {
        let user = repo::find_by_id(&state.db, user_id)
            .await?
            .ok_or_else(not_found)?;
        let initials = default::initials(
            user.first_name.as_deref(),
            user.last_name.as_deref(),
            &user.nickname,
        );
        let body = default::svg(&initials, user.id.as_bytes());
        return Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("image/svg+xml"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
                ),
            ],
            body,
        )
            .into_response());
    }
    let (digest, extension) = file.split_once('.').ok_or_else(not_found)?;
    let content_type = pipeline::content_type(extension).ok_or_else(not_found)?;
    if digest.len() != 16
        || !digest
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        return Err(not_found());
    }
    let etag = format!("\"{digest}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let object = state
        .storage
        .get(&format!("avatars/{user_id}/{digest}.{extension}"))
        .await?;
    let length = object.meta.size;
    let body = Body::from_stream(object.into_stream());
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(length)),
        ],
        [(header::ETAG, etag)],
        body,
    )
        .into_response())
}

/// The URL of `user`'s picture: the stored one, or the generated default.
pub fn picture_url(user: &users::Model, base: &str) -> String {
    user.profile_picture_url
        .clone()
        .unwrap_or_else(|| format!("{base}/pictures/{}/default.svg", user.id))
}

/// Deletes the stored picture of a user about to be deleted.
pub async fn delete_for_user(state: &AppState, user: &users::Model) -> Result<()> {
    if let Some(key) = &user.picture_key {
        state.storage.delete(key).await?;
    }
    Ok(())
}

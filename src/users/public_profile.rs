//! `GET /profiles/{nickname}`: public profiles, never an email or account state.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::views::PublicProfile;
use crate::db::entities::users;
use crate::domain::Nickname;
use crate::error::{AppError, Result};
use crate::http::openapi::responses;
use crate::state::AppState;

/// How long a public profile may be cached, by anyone: it holds nothing
/// private, and a change shows everywhere within a minute.
const PROFILE_CACHE: &str = "public, max-age=60";

/// A user's public profile by nickname (case-insensitive).
#[utoipa::path(
    get,
    path = "/profiles/{nickname}",
    tag = "profiles",
    params(("nickname" = String, Path, description = "Nickname")),
    responses(
        (status = 200, description = "The public profile", body = PublicProfile),
        (status = 404, response = responses::NotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn get_profile(
    State(state): State<AppState>,
    Path(nickname): Path<String>,
) -> Result<impl IntoResponse> {
    let not_found = || AppError::NotFound("no such profile".into());
    let nickname = Nickname::parse(&nickname).map_err(|_| not_found())?;
    let user = users::Entity::find()
        .filter(users::Column::NicknameNorm.eq(nickname.normalized()))
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    let profile = PublicProfile::new(user, state.config.base_url());
    let caching = [(
        header::CACHE_CONTROL,
        HeaderValue::from_static(PROFILE_CACHE),
    )];
    Ok((caching, axum::Json(profile)))
}

//! `GET /profiles/{nickname}`: public profiles, never an email or account state.

use axum::extract::{Path, State};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::views::PublicProfile;
use crate::db::entities::users;
use crate::domain::Nickname;
use crate::error::{AppError, Result};
use crate::http::openapi::responses;
use crate::state::AppState;

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
) -> Result<axum::Json<PublicProfile>> {
    let not_found = || AppError::NotFound("no such profile".into());
    let nickname = Nickname::parse(&nickname).map_err(|_| not_found())?;
    let user = users::Entity::find()
        .filter(users::Column::NicknameNorm.eq(nickname.normalized()))
        .one(&state.db)
        .await?
        .ok_or_else(not_found)?;
    Ok(axum::Json(PublicProfile::new(
        user,
        state.config.base_url(),
    )))
}

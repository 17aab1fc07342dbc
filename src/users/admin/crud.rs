//! Staff administration of users: browse, read, edit, add, delete
//! (`/users`, `/users/{id}`). Who may do what is `permissions`' business.

use axum::extract::State;
use axum::http::StatusCode;

use super::actions::{self, Actor};
use super::listing::{ListQuery, Listing, UserPage};
use super::permissions::{self, Act};
use crate::auth::extractor::{Admin, Staff};
use crate::db::{self, Db, entities::users};
use crate::domain::{Email, Role, UserId};
use crate::error::{AppError, Result};
use crate::http::extract::{Json, Path, Query};
use crate::http::openapi::responses;
use crate::state::AppState;
use crate::users::email_change;
use crate::users::profile_fields::Errors;
use crate::users::registration::{Origin, create_account};
use crate::users::repo;
use crate::users::requests::{CreateUserRequest, StaffUpdateRequest};
use crate::users::views::{UserResponse, staff_view};

/// Lists users with filters, sorting and paging.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    security(("oauth2" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<UserPage>> {
    let listing = Listing::parse(query)?;
    let (rows, total) = listing.run(&state.db).await?;
    let (page, size) = listing.page();
    Ok(axum::Json(UserPage {
        links: listing.links(state.config.base_url(), total),
        items: rows
            .into_iter()
            .map(|u| staff_view(&state, &viewer, u))
            .collect(),
        total,
        page,
        size,
    }))
}

/// Creates a user, verified, with a role the caller may give.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    security(("oauth2" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserResponse),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Json(request): Json<CreateUserRequest>,
) -> Result<(StatusCode, axum::Json<UserResponse>)> {
    let (role, request) = request.split();
    let role = role.unwrap_or(Role::Authenticated);
    if !permissions::may_create(viewer.role, role) {
        return Err(AppError::Forbidden(format!(
            "a {} may not create a {role}",
            viewer.role
        )));
    }
    let origin = Origin::Staff {
        actor: viewer.id(),
        role,
    };
    let user = create_account(&state.db, &state.hashing, request, origin).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(staff_view(&state, &viewer, user)),
    ))
}

/// Reads any user.
#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<UserId>,
) -> Result<axum::Json<UserResponse>> {
    let user = repo::find_target(&state.db, id).await?;
    Ok(axum::Json(staff_view(&state, &viewer, user)))
}

/// Updates profile fields and email (partial; `PUT` is the same). Only an
/// ADMIN changes an address: the user must verify the new one, the old one
/// is told, and the user's outstanding links die.
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = StaffUpdateRequest,
    responses(
        (status = 200, description = "Updated", body = UserResponse),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    Staff(viewer): Staff,
    Path(id): Path<UserId>,
    Json(request): Json<StaffUpdateRequest>,
) -> Result<axum::Json<UserResponse>> {
    let (updated, mailed) = staff_update(&state.db, (&viewer).into(), id, request).await?;
    if mailed {
        state.mail_queued();
    }
    Ok(axum::Json(staff_view(&state, &viewer, updated)))
}

/// Staff edit of a user's profile fields and email, in one transaction: all
/// of it or nothing. A change of address is an ADMIN's (see
/// `email_change::staff_change`). Returns the user and whether mail was queued.
pub async fn staff_update(
    db: &Db,
    actor: Actor,
    id: UserId,
    request: StaffUpdateRequest,
) -> Result<(users::Model, bool)> {
    let tx = db::begin(db).await?;
    let user = repo::find_target(&tx, id).await?;
    actor.check(Act::Update, &user)?;
    let profile = request.raw_profile();
    let mut errors = Errors::default();
    let email = request
        .email
        .and_then(|e| errors.check("email", Email::parse(&e)));
    let changes = profile.parse(&mut errors);
    errors.finish()?;
    let mailed = match &email {
        Some(email) => email_change::staff_change(&tx, actor, &user, email).await?,
        None => false,
    };
    let fresh = repo::find_target(&tx, id).await?;
    let updated = repo::update_profile(&tx, fresh, changes)
        .await
        .map_err(repo::conflict_or)?;
    db::commit(tx).await?;
    Ok((updated, mailed))
}

/// `PUT /users/{id}`: the same partial update as `PATCH`.
#[utoipa::path(
    put,
    path = "/users/{id}",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = StaffUpdateRequest,
    responses(
        (status = 200, description = "Updated", body = UserResponse),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Unprocessable),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn replace_user(
    state: State<AppState>,
    viewer: Staff,
    id: Path<UserId>,
    request: Json<StaffUpdateRequest>,
) -> Result<axum::Json<UserResponse>> {
    update_user(state, viewer, id, request).await
}

/// Deletes a user, with their sessions (and, later, stored pictures).
#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    security(("oauth2" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 503, response = responses::Unavailable),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    Admin(viewer): Admin,
    Path(id): Path<UserId>,
) -> Result<StatusCode> {
    actions::delete_user(&state.db, &state.storage, (&viewer).into(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

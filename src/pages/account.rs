//! The account pages: the profile (names, bio, links; email, role and
//! professional status shown) and the password. They call the same feature
//! functions as `PATCH /me` and `POST /me/password`.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::form::PageForm;
use super::view::{View, see_other};
use super::visitor::SignedIn;
use crate::db::entities::users;
use crate::state::AppState;
use crate::users::own_account as me;
use crate::users::requests::{ChangePasswordRequest, UpdateProfileRequest};

/// What was just done, for the sentence on top of the page.
#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

fn done_sentence(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "profile" => Some("Your profile is saved."),
        "password" => Some("Your password is changed; your other sessions are signed out."),
        "picture" => Some("Your picture is updated."),
        "picture-removed" => Some("Your picture is removed."),
        _ => None,
    }
}

/// The picture as this service serves it (a relative URL, so the page's
/// policy allows it): the upload, else the generated default.
fn own_picture(state: &AppState, user: &users::Model) -> String {
    let uploaded = user
        .picture_key
        .as_ref()
        .and(user.profile_picture_url.as_deref())
        .and_then(|url| url.strip_prefix(state.config.base_url()));
    uploaded.map_or_else(
        || format!("/pictures/{}/default.svg", user.id),
        str::to_owned,
    )
}

fn profile_values(user: &users::Model) -> serde_json::Value {
    json!({
        "nickname": user.nickname,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "bio": user.bio,
        "linkedin_profile_url": user.linkedin_profile_url,
        "github_profile_url": user.github_profile_url,
    })
}

/// The account page of `user`.
pub fn account_view(state: &AppState, user: &users::Model) -> View {
    View::new("account.html", "Your account")
        .with(
            "account",
            json!({
                "email": user.email,
                "email_verified": user.email_verified,
                "role": user.role.to_string(),
                "is_professional": user.is_professional,
            }),
        )
        .with("picture_url", own_picture(state, user))
        .with("has_picture", user.picture_key.is_some())
        .values(profile_values(user))
}

/// `GET /account`.
pub async fn account_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(done): Query<Done>,
) -> Response {
    let mut view = account_view(&state, &signed_in.session.user);
    if let Some(sentence) = done_sentence(done.done.as_deref()) {
        view = view.notice(sentence);
    }
    view.render(&state, &signed_in.visitor)
}

/// The profile form: an empty field clears it (the nickname is kept).
#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    nickname: String,
    first_name: String,
    last_name: String,
    bio: String,
    linkedin_profile_url: String,
    github_profile_url: String,
}

impl ProfileForm {
    fn request(&self) -> UpdateProfileRequest {
        let clearable = |value: &str| {
            let value = value.trim();
            Some((!value.is_empty()).then(|| value.to_owned()))
        };
        UpdateProfileRequest {
            nickname: (!self.nickname.trim().is_empty())
                .then(|| Some(self.nickname.trim().to_owned())),
            first_name: clearable(&self.first_name),
            last_name: clearable(&self.last_name),
            bio: clearable(&self.bio),
            linkedin_profile_url: clearable(&self.linkedin_profile_url),
            github_profile_url: clearable(&self.github_profile_url),
            ..UpdateProfileRequest::default()
        }
    }
}

/// `POST /account`: saves the profile, or shows each mistake by its field.
pub async fn save_profile(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<ProfileForm>,
) -> Response {
    let user = signed_in.session.user.clone();
    match me::update_profile(&state, user, &form.request()).await {
        Ok(_) => see_other(&state, "/account?done=profile"),
        Err(err) => account_view(&state, &signed_in.session.user)
            .values(json!({
                "nickname": form.nickname, "first_name": form.first_name,
                "last_name": form.last_name, "bio": form.bio,
                "linkedin_profile_url": form.linkedin_profile_url,
                "github_profile_url": form.github_profile_url,
            }))
            .failed(err)
            .render(&state, &signed_in.visitor),
    }
}

/// `GET /account/password`.
pub async fn password_page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    View::new("change_password.html", "Change your password").render(&state, &signed_in.visitor)
}

/// `POST /account/password`: this session stays signed in, every other ends.
pub async fn change_password(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<ChangePasswordRequest>,
) -> Response {
    let session = &signed_in.session;
    match me::set_own_password(&state, &session.user, session.session.id, &form).await {
        Ok(()) => see_other(&state, "/account?done=password"),
        Err(err) => View::new("change_password.html", "Change your password")
            .failed(err)
            .render(&state, &signed_in.visitor),
    }
}

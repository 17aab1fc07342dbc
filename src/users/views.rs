//! Response bodies of the user endpoints: a user as its owner and staff
//! see it (with the links the viewer may follow), a public profile, and a
//! message.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::extractor::AuthUser;
use crate::db::entities::users;
use crate::domain::Role;
use crate::http::paging::Link;
use crate::pictures::store::picture_url;
use crate::state::AppState;

/// A user, as its owner and staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// Id.
    pub id: Uuid,
    /// Email (domain lower-cased).
    pub email: String,
    /// Public nickname.
    pub nickname: String,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Bio.
    pub bio: Option<String>,
    /// Picture URL.
    pub profile_picture_url: Option<String>,
    /// LinkedIn profile.
    pub linkedin_profile_url: Option<String>,
    /// GitHub profile.
    pub github_profile_url: Option<String>,
    /// Role.
    pub role: Role,
    /// Professional status.
    pub is_professional: bool,
    /// When professional status last changed.
    pub professional_status_updated_at: Option<DateTime<Utc>>,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// Whether the account is locked.
    pub is_locked: bool,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last updated.
    pub updated_at: DateTime<Utc>,
    /// What the viewer can do next.
    pub links: Vec<Link>,
}

/// The caller's own user, with what only they see.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// The user.
    #[serde(flatten)]
    pub user: UserResponse,
    /// Whether sign-in asks for a code from an authenticator app.
    pub mfa_enabled: bool,
}

/// Whose eyes a user response is for; decides its links.
#[derive(Debug, Clone, Copy)]
pub enum Viewer {
    /// Someone who just registered (not logged in).
    Registrant,
    /// The user themself.
    Owner,
    /// A MANAGER or ADMIN looking at a user through `/users`.
    Staff {
        /// The viewer's role.
        role: Role,
        /// Whether the viewer is the user.
        is_self: bool,
    },
}

impl UserResponse {
    /// The response for `user` as `viewer` sees it.
    pub fn new(user: users::Model, viewer: Viewer, base: &str) -> Self {
        let link = |rel, method, path: &str| Link {
            rel,
            href: format!("{base}{path}"),
            method,
        };
        let links = match viewer {
            Viewer::Registrant => vec![
                link("self", "GET", "/me"),
                link("login", "POST", "/login"),
                link("resend_verification", "POST", "/verify-email/resend"),
            ],
            Viewer::Owner => vec![
                link("self", "GET", "/me"),
                link("update", "PATCH", "/me"),
                link("logout", "POST", "/logout"),
                link(
                    "public_profile",
                    "GET",
                    &format!("/profiles/{}", user.nickname),
                ),
            ],
            Viewer::Staff { role, is_self } => staff_links(&user, role, is_self, base),
        };
        let picture = picture_url(&user, base);
        Self {
            id: user.id,
            email: user.email,
            nickname: user.nickname,
            first_name: user.first_name,
            last_name: user.last_name,
            bio: user.bio,
            profile_picture_url: Some(picture),
            linkedin_profile_url: user.linkedin_profile_url,
            github_profile_url: user.github_profile_url,
            role: user.role,
            is_professional: user.is_professional,
            professional_status_updated_at: user.professional_status_updated_at,
            email_verified: user.email_verified,
            is_locked: user.is_locked,
            last_login_at: user.last_login_at,
            created_at: user.created_at,
            updated_at: user.updated_at,
            links,
        }
    }
}

/// The links a staff member gets: only actions the permission table allows them.
fn staff_links(user: &users::Model, viewer: Role, is_self: bool, base: &str) -> Vec<Link> {
    use super::admin::permissions::{Act, may};
    let target = user.role;
    let path = format!("/users/{}", user.id);
    let link = |rel, method, suffix: &str| Link {
        rel,
        href: format!("{base}{path}{suffix}"),
        method,
    };
    let mut links = vec![link("self", "GET", "")];
    if may(viewer, Act::Update, target, is_self) {
        links.push(link("update", "PATCH", ""));
    }
    if may(viewer, Act::Delete, target, is_self) {
        links.push(link("delete", "DELETE", ""));
    }
    if may(viewer, Act::Lock, target, is_self) {
        if user.is_locked {
            links.push(link("unlock", "POST", "/unlock"));
        } else {
            links.push(link("lock", "POST", "/lock"));
        }
    }
    if may(viewer, Act::ChangeRole, target, is_self) {
        links.push(link("role", "PUT", "/role"));
    }
    if may(viewer, Act::SetProfessional, target, is_self) {
        links.push(link("professional", "PUT", "/professional"));
    }
    links
}

/// A plain message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    /// What happened.
    pub message: String,
}

/// A public profile: no email, no account state.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProfile {
    /// Nickname.
    pub nickname: String,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Bio.
    pub bio: Option<String>,
    /// Picture URL.
    pub profile_picture_url: Option<String>,
    /// LinkedIn profile.
    pub linkedin_profile_url: Option<String>,
    /// GitHub profile.
    pub github_profile_url: Option<String>,
    /// Professional status.
    pub is_professional: bool,
}

impl PublicProfile {
    /// The public profile of `u`.
    pub fn new(u: users::Model, base: &str) -> Self {
        Self {
            profile_picture_url: Some(picture_url(&u, base)),
            nickname: u.nickname,
            first_name: u.first_name,
            last_name: u.last_name,
            bio: u.bio,
            linkedin_profile_url: u.linkedin_profile_url,
            github_profile_url: u.github_profile_url,
            is_professional: u.is_professional,
        }
    }
}

/// The staff view of `user` for `viewer`.
pub fn staff_view(state: &AppState, viewer: &AuthUser, user: users::Model) -> UserResponse {
    let is_self = user.id == viewer.id();
    UserResponse::new(
        user,
        Viewer::Staff {
            role: viewer.role,
            is_self,
        },
        state.config.base_url(),
    )
}

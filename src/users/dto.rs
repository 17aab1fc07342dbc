//! Request and response bodies of the user endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::profile::{Patch, RawProfile, patch};
use crate::db::entities::users;
use crate::domain::role::Role;

/// A hypermedia link.
#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    /// Relation name (`self`, `update`, `delete`, …).
    pub rel: &'static str,
    /// Absolute URL.
    pub href: String,
    /// HTTP method.
    pub method: &'static str,
}

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
        let picture = crate::pictures::routes::picture_url(&user, base);
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
            role: user.role.parse().unwrap_or(Role::Anonymous),
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
    use super::permissions::{Act, may};
    let target: Role = user.role.parse().unwrap_or(Role::Anonymous);
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

/// `POST /register`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email address; unique, case-insensitively.
    #[schema(
        example = "jane.doe@example.com",
        pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,32}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,24}$",
        max_length = 254
    )]
    pub email: String,
    /// 8–128 characters, not a common password, not the email or nickname.
    #[schema(example = "correct horse battery staple", format = Password, min_length = 8, max_length = 128)]
    pub password: String,
    /// 3–50 of `[A-Za-z0-9_-]`; generated when omitted.
    #[schema(example = "jane_doe", pattern = r"^[A-Za-z0-9_-]{3,50}$")]
    pub nickname: Option<String>,
    /// At most 100 characters.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", max_length = 100)]
    pub first_name: Option<String>,
    /// At most 100 characters.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", max_length = 100)]
    pub last_name: Option<String>,
    /// At most 500 characters.
    #[schema(
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        max_length = 500
    )]
    pub bio: Option<String>,
    /// http(s) URL, at most 255 characters.
    #[schema(
        pattern = r"^(https?://[A-Za-z0-9.-]+(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$",
        max_length = 255
    )]
    pub profile_picture_url: Option<String>,
    /// https URL on linkedin.com.
    #[schema(
        pattern = r"^(https?://([A-Za-z0-9-]+\.)*linkedin\.com(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$",
        max_length = 255
    )]
    pub linkedin_profile_url: Option<String>,
    /// https URL on github.com.
    #[schema(
        pattern = r"^(https?://(www\.)?github\.com(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$",
        max_length = 255
    )]
    pub github_profile_url: Option<String>,
}

impl RegisterRequest {
    /// A request with only email and password.
    pub fn new(email: &str, password: &str) -> Self {
        Self {
            email: email.to_owned(),
            password: password.to_owned(),
            nickname: None,
            first_name: None,
            last_name: None,
            bio: None,
            profile_picture_url: None,
            linkedin_profile_url: None,
            github_profile_url: None,
        }
    }

    /// The profile part of the request.
    pub fn raw_profile(&self) -> RawProfile {
        let some = |v: &Option<String>| v.clone().map(Some);
        RawProfile {
            nickname: some(&self.nickname),
            first_name: some(&self.first_name),
            last_name: some(&self.last_name),
            bio: some(&self.bio),
            profile_picture_url: some(&self.profile_picture_url),
            linkedin_profile_url: some(&self.linkedin_profile_url),
            github_profile_url: some(&self.github_profile_url),
        }
    }
}

/// `PATCH /me`: every field optional; `null` clears (except the nickname).
/// Email, role, lock and professional flags are not fields here.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// New nickname.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = String, pattern = r"^[A-Za-z0-9_-]{3,50}$")]
    pub nickname: Patch<String>,
    /// First name.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", max_length = 100)]
    pub first_name: Patch<String>,
    /// Last name.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", max_length = 100)]
    pub last_name: Patch<String>,
    /// Bio.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$", max_length = 500)]
    pub bio: Patch<String>,
    /// Picture URL.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^(https?://[A-Za-z0-9.-]+(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$", max_length = 255)]
    pub profile_picture_url: Patch<String>,
    /// LinkedIn URL.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^(https?://([A-Za-z0-9-]+\.)*linkedin\.com(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$", max_length = 255)]
    pub linkedin_profile_url: Patch<String>,
    /// GitHub URL.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^(https?://(www\.)?github\.com(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$", max_length = 255)]
    pub github_profile_url: Patch<String>,
}

impl From<UpdateProfileRequest> for RawProfile {
    fn from(r: UpdateProfileRequest) -> Self {
        RawProfile {
            nickname: r.nickname,
            first_name: r.first_name,
            last_name: r.last_name,
            bio: r.bio,
            profile_picture_url: r.profile_picture_url,
            linkedin_profile_url: r.linkedin_profile_url,
            github_profile_url: r.github_profile_url,
        }
    }
}

/// `POST /verify-email/resend`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    /// The address the account was registered with.
    #[schema(
        pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,32}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,24}$",
        max_length = 254
    )]
    pub email: String,
}

/// A plain message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    /// What happened.
    pub message: String,
}

/// `POST /users`: a registration made by staff, with an optional role.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Email address; unique, case-insensitively.
    #[schema(
        pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,32}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,24}$",
        max_length = 254
    )]
    pub email: String,
    /// Initial password (same policy as registration).
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: String,
    /// Role (default AUTHENTICATED; a MANAGER may give at most AUTHENTICATED).
    pub role: Option<Role>,
    /// Nickname; generated when omitted.
    #[schema(pattern = r"^[A-Za-z0-9_-]{3,50}$")]
    pub nickname: Option<String>,
    /// First name.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", max_length = 100)]
    pub first_name: Option<String>,
    /// Last name.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", max_length = 100)]
    pub last_name: Option<String>,
    /// Bio.
    #[schema(
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        max_length = 500
    )]
    pub bio: Option<String>,
    /// Picture URL.
    #[schema(
        pattern = r"^(https?://[A-Za-z0-9.-]+(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$",
        max_length = 255
    )]
    pub profile_picture_url: Option<String>,
    /// LinkedIn URL.
    #[schema(
        pattern = r"^(https?://([A-Za-z0-9-]+\.)*linkedin\.com(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$",
        max_length = 255
    )]
    pub linkedin_profile_url: Option<String>,
    /// GitHub URL.
    #[schema(
        pattern = r"^(https?://(www\.)?github\.com(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$",
        max_length = 255
    )]
    pub github_profile_url: Option<String>,
}

impl CreateUserRequest {
    /// The role asked for, and the rest as a registration.
    pub fn split(self) -> (Option<Role>, RegisterRequest) {
        (
            self.role,
            RegisterRequest {
                email: self.email,
                password: self.password,
                nickname: self.nickname,
                first_name: self.first_name,
                last_name: self.last_name,
                bio: self.bio,
                profile_picture_url: self.profile_picture_url,
                linkedin_profile_url: self.linkedin_profile_url,
                github_profile_url: self.github_profile_url,
            },
        )
    }
}

/// `PATCH`/`PUT /users/{id}`: profile fields and email; `null` clears an
/// optional field. Role, lock and professional status have their own endpoints.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct StaffUpdateRequest {
    /// New email (unique, case-insensitively).
    #[schema(
        pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,32}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,24}$",
        max_length = 254
    )]
    pub email: Option<String>,
    /// New nickname.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = String, pattern = r"^[A-Za-z0-9_-]{3,50}$")]
    pub nickname: Patch<String>,
    /// First name.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", max_length = 100)]
    pub first_name: Patch<String>,
    /// Last name.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", max_length = 100)]
    pub last_name: Patch<String>,
    /// Bio.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$", max_length = 500)]
    pub bio: Patch<String>,
    /// Picture URL.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^(https?://[A-Za-z0-9.-]+(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$", max_length = 255)]
    pub profile_picture_url: Patch<String>,
    /// LinkedIn URL.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^(https?://([A-Za-z0-9-]+\.)*linkedin\.com(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$", max_length = 255)]
    pub linkedin_profile_url: Patch<String>,
    /// GitHub URL.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, pattern = r"^(https?://(www\.)?github\.com(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$", max_length = 255)]
    pub github_profile_url: Patch<String>,
}

impl StaffUpdateRequest {
    /// The new email, and the profile part.
    pub fn split(self) -> (Option<String>, RawProfile) {
        (
            self.email,
            RawProfile {
                nickname: self.nickname,
                first_name: self.first_name,
                last_name: self.last_name,
                bio: self.bio,
                profile_picture_url: self.profile_picture_url,
                linkedin_profile_url: self.linkedin_profile_url,
                github_profile_url: self.github_profile_url,
            },
        )
    }
}

/// `PUT /users/{id}/role`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// The new role.
    pub role: Role,
}

/// `PUT /users/{id}/professional`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfessionalRequest {
    /// Whether the user is a professional.
    pub is_professional: bool,
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
            profile_picture_url: Some(crate::pictures::routes::picture_url(&u, base)),
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

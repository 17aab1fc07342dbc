//! Request bodies of the user endpoints. Field rules are documented by the
//! domain types that check them (`schema_with`), once.

use serde::Deserialize;
use utoipa::ToSchema;

use super::profile_fields::{Patch, RawProfile, patch};
use crate::domain::Role;

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

/// `POST /password/reset`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token from the reset link (`token=` in its query).
    pub token: String,
    /// The new password (same policy as registration).
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// `POST /me/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password in use now.
    #[schema(format = Password)]
    pub current_password: String,
    /// The new password (same policy as registration).
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
}

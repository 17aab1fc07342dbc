//! Request bodies of the user endpoints. Each field's rule is written once,
//! by the type that checks it (`schema_with` points at it), and the profile
//! fields are declared once, by [`with_profile_fields`].

use serde::Deserialize;
use utoipa::ToSchema;

use super::profile_fields::{self, Patch, RawProfile, patch};
use crate::domain::{Role, email, nickname, password, profile_url};
use crate::error::{AppError, FieldError};

/// Declares a request body with its own fields followed by the profile
/// fields. Each profile field is a [`Patch`]: omitted leaves it as it is,
/// `null` clears it (the nickname cannot be cleared). `$nickname` is the
/// schema of the nickname field (nullable where omitting it means "generate").
macro_rules! with_profile_fields {
    (
        $(#[$meta:meta])*
        pub struct $name:ident (nickname: $nickname:path) {
            $($(#[$field_meta:meta])* pub $field:ident: $type:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Deserialize, ToSchema, Default)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $type,)*
            /// Public nickname.
            #[serde(default, deserialize_with = "patch")]
            #[schema(schema_with = $nickname)]
            pub nickname: Patch<String>,
            /// First name.
            #[serde(default, deserialize_with = "patch")]
            #[schema(schema_with = profile_fields::name_schema)]
            pub first_name: Patch<String>,
            /// Last name.
            #[serde(default, deserialize_with = "patch")]
            #[schema(schema_with = profile_fields::name_schema)]
            pub last_name: Patch<String>,
            /// Bio.
            #[serde(default, deserialize_with = "patch")]
            #[schema(schema_with = profile_fields::bio_schema)]
            pub bio: Patch<String>,
            /// Picture URL given by the client (an upload sets its own).
            #[serde(default, deserialize_with = "patch")]
            #[schema(schema_with = profile_url::any_schema)]
            pub profile_picture_url: Patch<String>,
            /// LinkedIn profile.
            #[serde(default, deserialize_with = "patch")]
            #[schema(schema_with = profile_url::linkedin_schema)]
            pub linkedin_profile_url: Patch<String>,
            /// GitHub profile.
            #[serde(default, deserialize_with = "patch")]
            #[schema(schema_with = profile_url::github_schema)]
            pub github_profile_url: Patch<String>,
        }

        impl $name {
            /// The profile fields, as given.
            pub fn raw_profile(&self) -> RawProfile {
                RawProfile {
                    nickname: self.nickname.clone(),
                    first_name: self.first_name.clone(),
                    last_name: self.last_name.clone(),
                    bio: self.bio.clone(),
                    profile_picture_url: self.profile_picture_url.clone(),
                    linkedin_profile_url: self.linkedin_profile_url.clone(),
                    github_profile_url: self.github_profile_url.clone(),
                }
            }
        }
    };
}

with_profile_fields! {
    /// `POST /register`.
    pub struct RegisterRequest (nickname: nickname::nullable_schema) {
        /// Email address; unique, case-insensitively.
        #[schema(schema_with = email::schema)]
        pub email: String,
        /// The password.
        #[schema(schema_with = password::schema)]
        pub password: String,
    }
}

impl RegisterRequest {
    /// A request with only email and password.
    pub fn new(email: &str, password: &str) -> Self {
        Self {
            email: email.to_owned(),
            password: password.to_owned(),
            ..Self::default()
        }
    }
}

with_profile_fields! {
    /// `PATCH /me`: every field optional; `null` clears (except the nickname).
    /// Email, role, lock and professional flags are not fields here.
    pub struct UpdateProfileRequest (nickname: nickname::schema) {}
}

/// `POST /verify-email/resend`, `POST /password/forgot`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    /// The address the account was registered with.
    #[schema(schema_with = email::schema)]
    pub email: String,
}

with_profile_fields! {
    /// `POST /users`: a registration made by staff, with an optional role.
    pub struct CreateUserRequest (nickname: nickname::nullable_schema) {
        /// Email address; unique, case-insensitively.
        #[schema(schema_with = email::schema)]
        pub email: String,
        /// Initial password (same policy as registration).
        #[schema(schema_with = password::schema)]
        pub password: String,
        /// Role (default AUTHENTICATED; a MANAGER may give at most AUTHENTICATED).
        pub role: Option<Role>,
    }
}

impl CreateUserRequest {
    /// The role asked for, and the rest as a registration.
    pub fn split(self) -> (Option<Role>, RegisterRequest) {
        let profile = self.raw_profile();
        let mut registration = RegisterRequest::new(&self.email, &self.password);
        registration.nickname = profile.nickname;
        registration.first_name = profile.first_name;
        registration.last_name = profile.last_name;
        registration.bio = profile.bio;
        registration.profile_picture_url = profile.profile_picture_url;
        registration.linkedin_profile_url = profile.linkedin_profile_url;
        registration.github_profile_url = profile.github_profile_url;
        (self.role, registration)
    }
}

with_profile_fields! {
    /// `PATCH`/`PUT /users/{id}`: profile fields and email; `null` clears an
    /// optional field. Role, lock and professional status have their own endpoints.
    pub struct StaffUpdateRequest (nickname: nickname::schema) {
        /// New email (unique, case-insensitively).
        #[schema(schema_with = email::nullable_schema)]
        pub email: Option<String>,
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

/// `POST /password/reset` as sent: the reset link's token, or the address
/// and the short code from the mail; sorted out by [`ResetPasswordRequest`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordBody {
    token: Option<String>,
    email: Option<String>,
    code: Option<String>,
    new_password: String,
}

/// `POST /password/reset`: a new password, with the token of the reset
/// link or with the address and the code its mail shows.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum ResetPasswordRequest {
    /// With the reset link.
    Link(ResetWithLink),
    /// With the code of the reset mail.
    Code(ResetWithCode),
}

/// A new password with the reset link.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetWithLink {
    /// The token from the reset link (`token=` in its query).
    pub token: String,
    /// The new password (same policy as registration).
    #[schema(schema_with = password::schema)]
    pub new_password: String,
}

/// A new password with the code of the reset mail.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetWithCode {
    /// The address the mail went to.
    #[schema(schema_with = email::schema)]
    pub email: String,
    /// The code from the mail.
    #[schema(schema_with = code_schema)]
    pub code: String,
    /// The new password (same policy as registration).
    #[schema(schema_with = password::schema)]
    pub new_password: String,
}

impl TryFrom<ResetPasswordBody> for ResetPasswordRequest {
    type Error = AppError;

    fn try_from(body: ResetPasswordBody) -> Result<Self, AppError> {
        let link = [("token", &body.token)];
        let code = [("email", &body.email), ("code", &body.code)];
        Ok(match proof(&link, &code)? {
            Proof::Link => Self::Link(ResetWithLink {
                token: body.token.unwrap_or_default(),
                new_password: body.new_password,
            }),
            Proof::Code => Self::Code(ResetWithCode {
                email: body.email.unwrap_or_default(),
                code: body.code.unwrap_or_default(),
                new_password: body.new_password,
            }),
        })
    }
}

/// `POST /me/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password in use now.
    #[schema(format = Password)]
    pub current_password: String,
    /// The new password (same policy as registration).
    #[schema(schema_with = password::schema)]
    pub new_password: String,
}

/// `POST /verify-email` as sent: the parts of the verification link, or
/// the address and the short code from the mail; sorted out by
/// [`VerifyEmailRequest`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailBody {
    user_id: Option<String>,
    token: Option<String>,
    email: Option<String>,
    code: Option<String>,
}

/// `POST /verify-email`: the two parts of the verification link, or the
/// address and the code its mail shows.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum VerifyEmailRequest {
    /// With the verification link.
    Link(VerifyWithLink),
    /// With the code of the verification mail.
    Code(VerifyWithCode),
}

/// The two parts of the verification link.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyWithLink {
    /// The user id from the link.
    pub user_id: String,
    /// The token from the link.
    pub token: String,
}

/// The address and the code of the verification mail.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyWithCode {
    /// The address the mail went to.
    #[schema(schema_with = email::schema)]
    pub email: String,
    /// The code from the mail.
    #[schema(schema_with = code_schema)]
    pub code: String,
}

impl TryFrom<VerifyEmailBody> for VerifyEmailRequest {
    type Error = AppError;

    fn try_from(body: VerifyEmailBody) -> Result<Self, AppError> {
        let link = [("user_id", &body.user_id), ("token", &body.token)];
        let code = [("email", &body.email), ("code", &body.code)];
        Ok(match proof(&link, &code)? {
            Proof::Link => Self::Link(VerifyWithLink {
                user_id: body.user_id.unwrap_or_default(),
                token: body.token.unwrap_or_default(),
            }),
            Proof::Code => Self::Code(VerifyWithCode {
                email: body.email.unwrap_or_default(),
                code: body.code.unwrap_or_default(),
            }),
        })
    }
}

/// What a body proves itself with.
enum Proof {
    /// Every field of the link.
    Link,
    /// The address and the code.
    Code,
}

/// Which of the two sets of fields a body gives, whole: the link's (`link`)
/// or the address and code (`code`). A missing field of the set begun, or
/// fields of both, is a 422 naming the fields.
fn proof(
    link: &[(&str, &Option<String>)],
    code: &[(&str, &Option<String>)],
) -> Result<Proof, AppError> {
    let given = |set: &[(&str, &Option<String>)]| set.iter().any(|(_, v)| v.is_some());
    let names = |set: &[(&str, &Option<String>)]| {
        set.iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let (kind, set, other) = match (given(link), given(code)) {
        (true, true) => {
            let either = format!("give {} or {}, not both", names(link), names(code));
            let errors = code
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(n, _)| FieldError::new(*n, either.clone()))
                .collect();
            return Err(AppError::Validation(errors));
        }
        (false, true) => (Proof::Code, code, link),
        _ => (Proof::Link, link, code),
    };
    let missing: Vec<FieldError> = set
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| FieldError::new(*n, format!("field required (or give {})", names(other))))
        .collect();
    if missing.is_empty() {
        Ok(kind)
    } else {
        Err(AppError::Validation(missing))
    }
}

/// The schema of a short code as a person types it.
fn code_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "The code from the mail: 8 of `ABCDEFGHJKMNPQRSTVWXYZ23456789`; case, hyphens and spaces do not matter",
        ))
        .examples([serde_json::json!("ABCD-EFGH")])
        .build()
}

/// `POST /me/email`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    /// The address to move to; it becomes the account's once confirmed
    /// from the mail sent to it.
    #[schema(schema_with = email::schema)]
    pub new_email: String,
    /// The caller's password.
    #[schema(format = Password)]
    pub password: String,
}

/// `POST /email/confirm`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEmailChangeRequest {
    /// The token from the confirmation link (`token=` in its query).
    pub token: String,
}

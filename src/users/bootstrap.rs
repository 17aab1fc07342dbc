//! Creating the first administrator: from `ADMIN_EMAIL`/`ADMIN_PASSWORD` at
//! start, and by `user-management create-admin`.

use secrecy::{ExposeSecret, SecretString};

use super::registration::{Origin, create_account};
use super::repo;
use super::requests::RegisterRequest;
use crate::auth::hashing::PasswordHashing;
use crate::db::{Db, entities::users};
use crate::domain::Email;
use crate::error::{AppError, Result};

/// What `ensure_admin` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new administrator was created.
    Created,
    /// An account with that email already exists; it was left alone.
    AlreadyExists,
}

/// Creates a verified ADMIN with `email` and `password` unless an account
/// with that email exists. The password must pass the usual policy.
pub async fn ensure_admin(
    db: &Db,
    hashing: &PasswordHashing,
    email: &str,
    password: &SecretString,
    via: &'static str,
) -> Result<(Outcome, users::Model)> {
    let parsed = Email::parse(email).map_err(|e| AppError::field("email", e.to_string()))?;
    if let Some(existing) = repo::find_by_email(db, &parsed).await? {
        return Ok((Outcome::AlreadyExists, existing));
    }
    let request = RegisterRequest::new(email, password.expose_secret());
    let user = create_account(db, hashing, request, Origin::Bootstrap { via }).await?;
    Ok((Outcome::Created, user))
}

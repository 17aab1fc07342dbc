//! Creating the first administrator: from `ADMIN_EMAIL`/`ADMIN_PASSWORD` at
//! start, and by `user-management create-admin`.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::profile::ProfileChanges;
use super::repo::{self, NewUser};
use crate::audit::{self, Action};
use crate::auth::password::PasswordHashing;
use crate::db::{self, Db, entities::users};
use crate::domain::{Email, Nickname, Password, Role};
use crate::error::{AppError, Result};

/// What `ensure_admin` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new administrator was created.
    Created,
    /// An account with that email already exists; it was left alone.
    AlreadyExists,
}

/// Creates an ADMIN (verified) with `email` and `password` unless an account
/// with that email exists. The password must pass the usual policy.
pub async fn ensure_admin(
    db: &Db,
    hashing: &PasswordHashing,
    email: &str,
    password: &SecretString,
    via: &str,
) -> Result<(Outcome, users::Model)> {
    let email = Email::parse(email).map_err(|e| AppError::field("email", e.to_string()))?;
    if let Some(existing) = repo::find_by_email(db, &email).await? {
        return Ok((Outcome::AlreadyExists, existing));
    }
    let nickname = Nickname::parse(email.local_part())
        .ok()
        .unwrap_or_else(Nickname::generate);
    let checked = Password::parse(
        password.expose_secret(),
        Some(email.as_str()),
        Some(nickname.as_str()),
    )
    .map_err(|e| AppError::field("password", e.to_string()))?;
    let hash = hashing
        .hash(SecretString::from(checked.expose().to_owned()))
        .await?;
    for attempt in 0..8 {
        let nickname = if attempt == 0 {
            nickname.clone()
        } else {
            Nickname::generate()
        };
        let tx = db::begin(db).await?;
        let inserted = repo::insert(
            &tx,
            NewUser {
                email: email.clone(),
                nickname,
                password_hash: hash.clone(),
                role: Role::Admin,
                email_verified: true,
                profile: ProfileChanges::default(),
            },
        )
        .await;
        match inserted {
            Ok(user) => {
                audit::record(
                    &tx,
                    None,
                    Some(user.id),
                    Action::UserCreated,
                    json!({ "role": "ADMIN", "via": via }),
                )
                .await?;
                tx.commit().await?;
                return Ok((Outcome::Created, user));
            }
            Err(err) => {
                tx.rollback().await?;
                match repo::conflict_or(err) {
                    AppError::Conflict(msg) if msg.contains("nickname") => continue,
                    other => return Err(other),
                }
            }
        }
    }
    Err(AppError::Conflict("could not find a free nickname".into()))
}

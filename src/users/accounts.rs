//! Creating accounts, as self-registration, staff, the bootstrap and the
//! sign-up page do it.

use super::profile_fields::{Errors, ProfileChanges};
use super::repo::{self, NewUser};
use super::requests::RegisterRequest;
use super::verification;
use crate::audit::{self, Action};
use crate::auth::hashing::PasswordHashing;
use crate::db::{self, Db, entities::users};
use crate::domain::{Email, Nickname, Password, Role};
use crate::error::{AppError, Result};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

/// How a new account comes to be, which decides its role, whether its
/// email counts as verified, and what is recorded.
#[derive(Debug, Clone, Copy)]
pub enum Origin {
    /// `POST /register`: ANONYMOUS, unverified, a verification email queued.
    SelfRegistered,
    /// `POST /users` by staff: created verified with `role`, audited.
    Staff {
        /// Who created it.
        actor: Uuid,
        /// Its role.
        role: Role,
    },
    /// `ADMIN_EMAIL` or `create-admin`: a verified ADMIN, audited.
    Bootstrap {
        /// What created it, for the audit trail.
        via: &'static str,
    },
}

/// Validates, hashes and stores a new account; its verification email or
/// audit event is written in the same transaction.
pub async fn create_account(
    db: &Db,
    hashing: &PasswordHashing,
    request: RegisterRequest,
    origin: Origin,
) -> Result<users::Model> {
    let mut errors = Errors::default();
    let email = errors.check("email", Email::parse(&request.email));
    // At creation an explicit null nickname means "generate one", as omitting it does.
    let mut raw = request.raw_profile();
    raw.nickname = raw.nickname.flatten().map(Some);
    let nickname = raw.nickname.clone().flatten();
    let profile = raw.parse(&mut errors);
    let password = errors.check(
        "password",
        Password::parse(&request.password, Some(&request.email), nickname.as_deref()),
    );
    errors.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };
    if repo::find_by_email(db, &email).await?.is_some() {
        return Err(AppError::Conflict(
            "an account with this email already exists".into(),
        ));
    }
    let hash = hashing
        .hash(SecretString::from(password.expose().to_owned()))
        .await?;
    insert_with_nickname(db, email, hash, profile, origin).await
}

/// Inserts the user; a generated nickname that collides is generated again.
async fn insert_with_nickname(
    db: &Db,
    email: Email,
    password_hash: String,
    profile: ProfileChanges,
    origin: Origin,
) -> Result<users::Model> {
    let (role, email_verified) = match origin {
        Origin::SelfRegistered => (Role::Anonymous, false),
        Origin::Staff { role, .. } => (role, true),
        Origin::Bootstrap { .. } => (Role::Admin, true),
    };
    let chosen = profile.nickname.clone();
    for _ in 0..8 {
        let nickname = chosen.clone().unwrap_or_else(Nickname::generate);
        let tx = db::begin(db).await?;
        let inserted = repo::insert(
            &tx,
            NewUser {
                email: email.clone(),
                nickname,
                password_hash: password_hash.clone(),
                role,
                email_verified,
                profile: profile.clone(),
            },
        )
        .await;
        match inserted {
            Ok(user) => {
                record_creation(&tx, &user, origin).await?;
                db::commit(tx).await?;
                return Ok(user);
            }
            Err(err) => {
                db::rollback(tx).await?;
                match repo::conflict_or(err) {
                    AppError::Conflict(msg) if msg.contains("nickname") && chosen.is_none() => {
                        continue;
                    }
                    other => return Err(other),
                }
            }
        }
    }
    Err(AppError::Conflict(
        "could not generate a free nickname; choose one".into(),
    ))
}

/// What follows a new account in its transaction: the verification email
/// for a self-registration, an audit event for a staff or bootstrap creation.
async fn record_creation(
    conn: &impl sea_orm::ConnectionTrait,
    user: &users::Model,
    origin: Origin,
) -> Result<()> {
    match origin {
        Origin::SelfRegistered => verification::queue_verification(conn, user).await?,
        Origin::Staff { actor, role } => {
            let details = json!({ "role": role });
            audit::record(
                conn,
                Some(actor),
                Some(user.id),
                Action::UserCreated,
                details,
            )
            .await?;
        }
        Origin::Bootstrap { via } => {
            let details = json!({ "role": Role::Admin, "via": via });
            audit::record(conn, None, Some(user.id), Action::UserCreated, details).await?;
        }
    }
    Ok(())
}

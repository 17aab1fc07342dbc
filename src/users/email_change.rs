//! Changing an account's address.
//!
//! - By its owner: `POST /me/email` (with the password) only records a
//!   pending change and queues a deferred confirmation mail to the new
//!   address; the old address stays the login and reset address until the
//!   link in that mail is used (`POST /email/confirm`). The mail worker
//!   composes the mail (and mints the link, see `deferred_mail`) only if the
//!   change still stands and no account uses the address, so the answer
//!   never tells whether an address is registered, and nobody takes over an
//!   address this way.
//! - By an ADMIN (`PATCH /users/{id}`, see [`staff_change`]): at once, the
//!   address left unverified and a verification mail sent to it.
//!
//! Either way the change is audited with both addresses, the old address is
//! told, and every outstanding link of the account (reset, verification,
//! other pending changes) dies.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::admin::actions::Actor;
use super::admin::permissions::Act;
use super::one_time_tokens;
use super::repo;
use super::verification;
use crate::audit::{self, Action};
use crate::auth::{lockout, tokens};
use crate::db::{
    self, Db,
    entities::{email_changes, users},
};
use crate::domain::Email;
use crate::email::{self, MailKind};
use crate::error::{AppError, Result};
use crate::state::AppState;
use crate::time;

/// Who made a change, for the audit trail and the notice.
#[derive(Debug, Clone, Copy)]
enum ChangedBy {
    /// The owner, through the confirmation link.
    Owner,
    /// Staff (or the command line).
    Staff(Actor),
}

/// Records a pending change of `user`'s address to `new_email` (replacing
/// an older pending one) and queues its confirmation mail, once `password`
/// proved the caller. A wrong password is the 422 of `/me/password` and
/// counts as a failed login.
pub async fn request_change(
    state: &AppState,
    user: &users::Model,
    new_email: &str,
    password: &str,
) -> Result<()> {
    let email = Email::parse(new_email).map_err(|e| AppError::field("new_email", e.to_string()))?;
    let verdict = state
        .hashing
        .verify(
            SecretString::from(password.to_owned()),
            user.password_hash.clone(),
        )
        .await?;
    if !verdict.is_match() {
        lockout::record_failure(state, user).await?;
        return Err(AppError::field(
            "password",
            "the current password is incorrect",
        ));
    }
    let now = time::now();
    let id = Uuid::now_v7();
    let tx = db::begin(&state.db).await?;
    retire_pending(&tx, user.id).await?;
    email_changes::Entity::insert(email_changes::ActiveModel {
        id: Set(id),
        user_id: Set(user.id),
        new_email: Set(email.as_str().to_owned()),
        new_email_norm: Set(email.normalized()),
        token_hash: Set(None),
        created_at: Set(now),
        expires_at: Set(time::after(now, state.config.email_verification_ttl)),
        used_at: Set(None),
    })
    .exec_without_returning(&tx)
    .await?;
    // Queued the same whether or not the address is free: the worker decides.
    let payload = json!({ "change_id": id });
    email::enqueue(
        &tx,
        &email.normalized(),
        MailKind::EmailChangeRequest,
        payload,
    )
    .await?;
    db::commit(tx).await?;
    state.mail_queued();
    Ok(())
}

/// Uses a confirmation token: the pending change it belongs to is applied
/// (address switched and verified, audited, the old address told, every
/// other link retired). Any unknown, used, replaced or expired token is one
/// 400; an address taken since the request is a 409 and leaves the token.
pub async fn confirm_change(db: &Db, token: &str) -> Result<users::Model> {
    use email_changes::Column as C;
    let invalid = || AppError::BadRequest("the confirmation link is invalid or has expired".into());
    let tx = db::begin(db).await?;
    let change = email_changes::Entity::find()
        .filter(C::TokenHash.eq(tokens::digest(token)))
        .filter(C::UsedAt.is_null())
        .filter(C::ExpiresAt.gt(time::now()))
        .one(&tx)
        .await?;
    let Some(change) = change else {
        db::rollback(tx).await?;
        return Err(invalid());
    };
    let used = email_changes::Entity::update_many()
        .col_expr(C::UsedAt, Expr::value(time::now()))
        .filter(C::Id.eq(change.id))
        .filter(C::UsedAt.is_null())
        .exec(&tx)
        .await?;
    let user = repo::find_by_id(&tx, change.user_id).await?;
    let email = Email::parse(&change.new_email).ok();
    let (Some(user), Some(email), 1) = (user, email, used.rows_affected) else {
        db::rollback(tx).await?;
        return Err(invalid());
    };
    apply(&tx, &user, &email, ChangedBy::Owner).await?;
    repo::mark_email_verified(&tx, user.id).await?;
    let updated = repo::find_by_id(&tx, user.id).await?.ok_or_else(invalid)?;
    db::commit(tx).await?;
    Ok(updated)
}

/// Staff set `user`'s address to `email`, inside the caller's transaction.
/// Another spelling of the same address is a plain edit. A real change is
/// for an ADMIN only (403 otherwise, before anything is written): the
/// address is left unverified and a verification mail goes to it. Returns
/// whether mail was queued.
pub async fn staff_change(
    conn: &impl ConnectionTrait,
    actor: Actor,
    user: &users::Model,
    email: &Email,
) -> Result<bool> {
    if email.normalized() == user.email_norm {
        repo::set_email(conn, user, email)
            .await
            .map_err(repo::conflict_or)?;
        return Ok(false);
    }
    actor.check(Act::ChangeEmail, user)?;
    apply(conn, user, email, ChangedBy::Staff(actor)).await?;
    repo::mark_email_unverified(conn, user.id).await?;
    let changed = repo::find_by_id(conn, user.id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
    verification::queue_verification(conn, &changed).await?;
    Ok(true)
}

/// What every change of address does: the new address stored (409 if
/// another account has it), every outstanding link retired, the change
/// audited with both addresses and the old address told.
async fn apply(
    conn: &impl ConnectionTrait,
    user: &users::Model,
    email: &Email,
    by: ChangedBy,
) -> Result<()> {
    repo::set_email(conn, user, email)
        .await
        .map_err(repo::conflict_or)?;
    one_time_tokens::retire_every_link(conn, user.id).await?;
    let (actor, via) = match by {
        ChangedBy::Owner => (Some(user.id), "self"),
        ChangedBy::Staff(actor) => (actor.id(), actor.via()),
    };
    let details = json!({ "from": user.email, "to": email.as_str(), "via": via });
    audit::record(conn, actor, Some(user.id), Action::EmailChanged, details).await?;
    email::enqueue(
        conn,
        &user.email,
        MailKind::EmailChanged,
        json!({
            "nickname": user.nickname,
            "new_email": masked(email),
            "by_staff": matches!(by, ChangedBy::Staff(_)),
        }),
    )
    .await?;
    Ok(())
}

/// Retires `user_id`'s pending changes (a newer request replaces them).
async fn retire_pending(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<(), DbErr> {
    use email_changes::Column as C;
    email_changes::Entity::update_many()
        .col_expr(C::UsedAt, Expr::value(time::now()))
        .filter(C::UserId.eq(user_id))
        .filter(C::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// The new address as the notice to the old one shows it: enough for the
/// owner to recognise, not the whole address for whoever reads the old
/// mailbox now.
fn masked(email: &Email) -> String {
    let first: String = email.local_part().chars().take(1).collect();
    format!("{first}…@{}", email.domain())
}

//! Lockout after `MAX_LOGIN_ATTEMPTS` consecutive failures. The count lives
//! in the database and is updated atomically, so every instance of the
//! service sees one count and concurrent wrong passwords lock at exactly the
//! limit.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action};
use crate::db::{self, Db, entities::users};
use crate::email::{self, MailKind};
use crate::state::AppState;
use crate::time;

/// What a failed login did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; not (yet) locked.
    Counted,
    /// Locked, now or by a concurrent attempt.
    Locked,
}

/// Counts a failure; the attempt that reaches the limit locks the account,
/// revokes its sessions, writes the audit event and queues the "account locked" email, all in
/// one transaction.
pub async fn record_failure(
    state: &AppState,
    user: &users::Model,
) -> Result<FailureOutcome, DbErr> {
    use users::Column as C;
    let config = &state.config;
    let tx = db::begin(&state.db).await?;
    let counted = users::Entity::update_many()
        .col_expr(
            C::FailedLoginAttempts,
            Expr::col(C::FailedLoginAttempts).add(1),
        )
        .filter(C::Id.eq(user.id))
        .filter(C::IsLocked.eq(false))
        .exec(&tx)
        .await?;
    if counted.rows_affected == 0 {
        tx.commit().await?;
        return Ok(FailureOutcome::Locked);
    }
    let limit = i32::try_from(config.max_login_attempts).unwrap_or(i32::MAX);
    let now = time::now();
    let until =
        (!config.lockout_duration.is_zero()).then(|| time::after(now, config.lockout_duration));
    let locked = users::Entity::update_many()
        .col_expr(C::IsLocked, Expr::value(true))
        .col_expr(C::LockedUntil, Expr::value(until))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(user.id))
        .filter(C::IsLocked.eq(false))
        .filter(C::FailedLoginAttempts.gte(limit))
        .exec(&tx)
        .await?;
    if locked.rows_affected == 0 {
        tx.commit().await?;
        return Ok(FailureOutcome::Counted);
    }
    super::sessions::revoke_all(&tx, user.id, None).await?;
    audit::record(
        &tx,
        None,
        Some(user.id),
        Action::UserLocked,
        json!({ "reason": "failed_logins", "attempts": limit, "until": until }),
    )
    .await?;
    email::enqueue(
        &tx,
        &user.email,
        MailKind::AccountLocked,
        json!({
            "nickname": user.nickname,
            "until": until.map(|t| t.to_rfc3339()),
            "reset_link": format!("{}/password/forgot", config.base_url()),
        }),
    )
    .await?;
    tx.commit().await?;
    state.mail_queued();
    tracing::warn!(user_id = %user.id, "account locked after failed logins");
    Ok(FailureOutcome::Locked)
}

/// Lifts a temporary lock whose time is up. `Some(user)` (unlocked, count
/// reset) if it was lifted; `None` if the account stays locked.
pub async fn lift_if_expired(db: &Db, user: users::Model) -> Result<Option<users::Model>, DbErr> {
    use users::Column as C;
    let now = time::now();
    match user.locked_until {
        Some(until) if until <= now => {}
        _ => return Ok(None),
    }
    let lifted = users::Entity::update_many()
        .col_expr(C::IsLocked, Expr::value(false))
        .col_expr(
            C::LockedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(C::FailedLoginAttempts, Expr::value(0))
        .filter(C::Id.eq(user.id))
        .filter(C::IsLocked.eq(true))
        .filter(C::LockedUntil.lte(now))
        .exec(db)
        .await?;
    Ok((lifted.rows_affected == 1).then_some(users::Model {
        is_locked: false,
        locked_until: None,
        failed_login_attempts: 0,
        ..user
    }))
}

/// A successful login: resets the count, stamps `last_login_at`, and stores
/// a re-hashed password when the old hash was bcrypt or outdated.
pub async fn record_success(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    new_hash: Option<String>,
) -> Result<(), DbErr> {
    use users::Column as C;
    let mut update = users::Entity::update_many()
        .col_expr(C::FailedLoginAttempts, Expr::value(0))
        .col_expr(C::LastLoginAt, Expr::value(time::now()));
    if let Some(hash) = new_hash {
        update = update.col_expr(C::PasswordHash, Expr::value(hash));
    }
    update.filter(C::Id.eq(user_id)).exec(conn).await?;
    Ok(())
}

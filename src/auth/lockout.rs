//! Lockout after `MAX_LOGIN_ATTEMPTS` consecutive failures. The count lives
//! in the database and is updated atomically, so every instance of the
//! service sees one count and concurrent wrong passwords lock at exactly the
//! limit.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action};
use crate::db::{self, Db, entities::users};
use crate::domain::{LockReason, Role};
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

/// Counts a failure; the attempt that reaches the limit locks the account
/// against password guessing (its sessions and trusted devices keep
/// working), writes the audit event and queues the "account locked" email,
/// all in one transaction.
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
        db::commit(tx).await?;
        return Ok(FailureOutcome::Locked);
    }
    let limit = i32::try_from(config.max_login_attempts).unwrap_or(i32::MAX);
    let now = time::now();
    let until =
        (!config.lockout_duration.is_zero()).then(|| time::after(now, config.lockout_duration));
    let locked = users::Entity::update_many()
        .col_expr(C::IsLocked, Expr::value(true))
        .col_expr(C::LockedUntil, Expr::value(until))
        .col_expr(C::LockReason, Expr::value(LockReason::FailedLogins))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(user.id))
        .filter(C::IsLocked.eq(false))
        .filter(C::FailedLoginAttempts.gte(limit))
        .exec(&tx)
        .await?;
    if locked.rows_affected == 0 {
        db::commit(tx).await?;
        return Ok(FailureOutcome::Counted);
    }
    // Guessing stops here; the owner's sessions and devices keep working.
    announce_lock(&tx, state, user, until).await?;
    db::commit(tx).await?;
    state.mail_queued();
    tracing::warn!(user_id = %user.id, "account locked after failed logins");
    Ok(FailureOutcome::Locked)
}

/// The audit event of a failed-login lock, and the mail telling the owner
/// (unless their address had its hourly share of account mails).
async fn announce_lock(
    conn: &impl ConnectionTrait,
    state: &AppState,
    user: &users::Model,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), DbErr> {
    let config = &state.config;
    let details = json!({
        "reason": "failed_logins",
        "attempts": config.max_login_attempts,
        "until": until,
    });
    audit::record(conn, None, Some(user.id), Action::UserLocked, details).await?;
    if crate::users::deferred_mail::over_limit(conn, config, user).await? {
        return Ok(());
    }
    email::enqueue(
        conn,
        &user.email,
        MailKind::AccountLocked,
        json!({
            "nickname": user.nickname,
            "until": until.map(|t| t.to_rfc3339()),
            "reset_link": format!("{}/forgot-password", config.base_url()),
        }),
    )
    .await?;
    Ok(())
}

/// The user, with a temporary lock lifted if its time is up (unlocked,
/// count reset); as it is otherwise.
pub async fn lift_if_expired(db: &Db, user: users::Model) -> Result<users::Model, DbErr> {
    use users::Column as C;
    let now = time::now();
    match user.locked_until {
        Some(until) if user.is_locked && until <= now => {}
        _ => return Ok(user),
    }
    let lifted = users::Entity::update_many()
        .col_expr(C::IsLocked, Expr::value(false))
        .col_expr(
            C::LockedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(C::FailedLoginAttempts, Expr::value(0))
        .col_expr(C::LockReason, Expr::value(Option::<LockReason>::None))
        .filter(C::Id.eq(user.id))
        .filter(C::IsLocked.eq(true))
        .filter(C::LockedUntil.lte(now))
        .exec(db)
        .await?;
    if lifted.rows_affected == 0 {
        return Ok(user);
    }
    Ok(users::Model {
        is_locked: false,
        locked_until: None,
        lock_reason: None,
        failed_login_attempts: 0,
        ..user
    })
}

/// Whether `user` is an ADMIN and no other ADMIN is unlocked: such an
/// account is never hard-locked by failed logins (its correct password still
/// gets in), or guessing could lock every administrator out.
pub async fn is_sole_admin(db: &Db, user: &users::Model) -> Result<bool, DbErr> {
    use sea_orm::PaginatorTrait;
    use users::Column as C;
    if user.role != Role::Admin {
        return Ok(false);
    }
    let others = users::Entity::find()
        .filter(C::Role.eq(Role::Admin))
        .filter(C::IsLocked.eq(false))
        .filter(C::Id.ne(user.id))
        .count(db)
        .await?;
    Ok(others == 0)
}

/// Longest wait [`hold_back`] imposes.
const MAX_HOLD_BACK: Duration = Duration::from_secs(4);

/// An attempt on a locked account: counted, then answered only after a
/// delay that doubles with each attempt during the lock (250 ms, 500 ms, …,
/// at most 4 s). Every locked account is held back alike, so the delay says
/// nothing about which account it is.
pub async fn hold_back(state: &AppState, user: &users::Model) -> Result<(), DbErr> {
    use users::Column as C;
    users::Entity::update_many()
        .col_expr(
            C::FailedLoginAttempts,
            Expr::col(C::FailedLoginAttempts).add(1),
        )
        .filter(C::Id.eq(user.id))
        .exec(&state.db)
        .await?;
    let delay = hold_back_delay(user.failed_login_attempts, state.config.max_login_attempts);
    tokio::time::sleep(delay).await;
    Ok(())
}

/// The wait of an attempt on a locked account whose count was `failed`
/// before it (unknown addresses wait alike).
pub fn hold_back_delay(failed: i32, max_login_attempts: u32) -> Duration {
    let beyond = (i64::from(failed) - i64::from(max_login_attempts)).clamp(0, 4);
    Duration::from_millis(250 << beyond).min(MAX_HOLD_BACK)
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

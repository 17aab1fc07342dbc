//! Failed logins for addresses without an account. An unknown address is
//! counted, locked, held back and unlocked exactly like an account, so the
//! answers to a run of guesses say nothing about whether it has one.
//!
//! The count lives in the database (every instance shares it), keyed by
//! HMAC-SHA256 of the normalised address under a key derived from
//! `JWT_SECRET`, so the table names nobody. A row is forgotten when its
//! lock ends, [`RETENTION`] after its last failure when it is not locked,
//! and, beyond `UNKNOWN_LOGIN_ROWS` rows, oldest first.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::lockout::{self, FailureOutcome};
use crate::db::{self, Db, entities::unknown_login_failures as rows};
use crate::state::AppState;
use crate::time;

/// How long the count of an unknown address that is not locked is kept
/// after its last failure.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The row of `key` with an ended lock (or a stale count) forgotten, as a
/// lapsed lock of an account is lifted: `None` when nothing is counted.
pub async fn lift_if_expired(db: &Db, key: &str) -> Result<Option<rows::Model>, DbErr> {
    use rows::Column as C;
    let Some(row) = rows::Entity::find_by_id(key.to_owned()).one(db).await? else {
        return Ok(None);
    };
    let now = time::now();
    let lapsed = match (row.is_locked, row.locked_until) {
        (true, Some(until)) => until <= now,
        (true, None) => false,
        (false, _) => time::after(row.last_failed_at, RETENTION) <= now,
    };
    if !lapsed {
        return Ok(Some(row));
    }
    rows::Entity::delete_many()
        .filter(C::KeyHash.eq(key))
        .filter(lapsed_at(now))
        .exec(db)
        .await?;
    Ok(None)
}

/// An attempt while the address is "locked": counted, then held back as
/// long as an account with that count would be.
pub async fn hold_back(state: &AppState, row: &rows::Model) -> Result<(), DbErr> {
    use rows::Column as C;
    rows::Entity::update_many()
        .col_expr(C::FailedAttempts, Expr::col(C::FailedAttempts).add(1))
        .col_expr(C::LastFailedAt, Expr::value(time::now()))
        .filter(C::KeyHash.eq(row.key_hash.as_str()))
        .exec(&state.db)
        .await?;
    let delay = lockout::hold_back_delay(row.failed_attempts, state.config.max_login_attempts);
    tokio::time::sleep(delay).await;
    Ok(())
}

/// Counts a failure for `key`, atomically as for an account: the attempt
/// that reaches `MAX_LOGIN_ATTEMPTS` locks it for `LOCKOUT_DURATION`.
/// `first` says the address had no row: the table is then trimmed.
pub async fn record_failure(
    state: &AppState,
    key: &str,
    first: bool,
) -> Result<FailureOutcome, DbErr> {
    use rows::Column as C;
    let config = &state.config;
    let now = time::now();
    let tx = db::begin(&state.db).await?;
    let counted = rows::Entity::insert(rows::ActiveModel {
        key_hash: Set(key.to_owned()),
        failed_attempts: Set(1),
        is_locked: Set(false),
        locked_until: Set(None),
        last_failed_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(C::KeyHash)
            .value(
                C::FailedAttempts,
                Expr::col((rows::Entity, C::FailedAttempts)).add(1),
            )
            .value(C::LastFailedAt, Expr::value(now))
            .action_and_where(Expr::col((rows::Entity, C::IsLocked)).eq(false))
            .to_owned(),
    )
    .exec_without_returning(&tx)
    .await?;
    if counted == 0 {
        db::commit(tx).await?;
        return Ok(FailureOutcome::Locked);
    }
    let limit = i32::try_from(config.max_login_attempts).unwrap_or(i32::MAX);
    let until =
        (!config.lockout_duration.is_zero()).then(|| time::after(now, config.lockout_duration));
    let locked = rows::Entity::update_many()
        .col_expr(C::IsLocked, Expr::value(true))
        .col_expr(C::LockedUntil, Expr::value(until))
        .filter(C::KeyHash.eq(key))
        .filter(C::IsLocked.eq(false))
        .filter(C::FailedAttempts.gte(limit))
        .exec(&tx)
        .await?;
    if first {
        trim(&tx, config.unknown_login_rows).await?;
    }
    db::commit(tx).await?;
    Ok(if locked.rows_affected == 0 {
        FailureOutcome::Counted
    } else {
        FailureOutcome::Locked
    })
}

/// The rows with nothing left to count at `now`: their lock has ended, or,
/// not locked, their last failure is older than [`RETENTION`].
fn lapsed_at(now: chrono::DateTime<chrono::Utc>) -> Condition {
    use rows::Column as C;
    let stale = now - chrono::Duration::from_std(RETENTION).unwrap_or(chrono::Duration::MAX);
    Condition::any()
        .add(C::IsLocked.eq(true).and(C::LockedUntil.lte(now)))
        .add(C::IsLocked.eq(false).and(C::LastFailedAt.lte(stale)))
}

/// Forgets lapsed rows, then the oldest beyond `cap`.
async fn trim(conn: &impl sea_orm::ConnectionTrait, cap: u64) -> Result<(), DbErr> {
    use rows::Column as C;
    rows::Entity::delete_many()
        .filter(lapsed_at(time::now()))
        .exec(conn)
        .await?;
    let total = rows::Entity::find().count(conn).await?;
    if total <= cap {
        return Ok(());
    }
    let oldest: Vec<String> = rows::Entity::find()
        .select_only()
        .column(C::KeyHash)
        .order_by_asc(C::LastFailedAt)
        .order_by_asc(C::KeyHash)
        .limit(total - cap)
        .into_tuple()
        .all(conn)
        .await?;
    rows::Entity::delete_many()
        .filter(C::KeyHash.is_in(oldest))
        .exec(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {

    use crate::auth::address_keys::AddressKeys;
    use crate::domain::Email;
    use secrecy::SecretString;

    fn keys(secret: &str) -> AddressKeys {
        AddressKeys::new(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn the_key_is_keyed_and_follows_the_normalised_address() {
        let email = |s: &str| Email::parse(s).expect("email");
        let one = keys("one-secret-one-secret-one-secret-0");
        let key = one.key(&email("Someone@Example.com"));
        assert_eq!(key.len(), 64);
        assert_eq!(key, one.key(&email("someone@example.com")));
        assert_ne!(key, one.key(&email("other@example.com")));
        assert_ne!(
            key,
            keys("two-secret-two-secret-two-secret-0").key(&email("someone@example.com")),
            "another secret, another key"
        );
        assert!(!key.contains("someone"));
    }
}

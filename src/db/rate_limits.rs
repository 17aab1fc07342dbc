//! Rate-limit windows kept in PostgreSQL, so every instance of a deployment
//! counts against one budget per client. A window opens at a client's first
//! request and lasts [`WINDOW`]; one atomic upsert counts a request and
//! reads the window back, so concurrent requests on any instance never
//! lose a count. Keys are stored as SHA-256 digests, not addresses.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use sha2::{Digest, Sha256};

use crate::time;

/// How long one window lasts.
pub const WINDOW: Duration = Duration::from_secs(60);

/// A window after counting one more request in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When the window began.
    pub start: DateTime<Utc>,
    /// Requests counted in it, this one included (capped just above the limit).
    pub count: i64,
}

impl Window {
    /// When the window ends.
    pub fn end(&self) -> DateTime<Utc> {
        time::after(self.start, WINDOW)
    }
}

/// Counts one request of `key` against `limit`: opens a new window if the
/// last one ended, and never counts past `limit + 1`.
pub async fn hit(
    db: &impl ConnectionTrait,
    key: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Window, DbErr> {
    const SQL: &str = "INSERT INTO rate_limit_windows (key, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
         window_start = CASE WHEN rate_limit_windows.window_start <= $3 \
             THEN EXCLUDED.window_start ELSE rate_limit_windows.window_start END, \
         count = CASE WHEN rate_limit_windows.window_start <= $3 \
             THEN 1 ELSE LEAST(rate_limit_windows.count + 1, $4) END \
         RETURNING window_start, count";
    let expired_before = now - chrono::Duration::from_std(WINDOW).unwrap_or_default();
    let cap = i32::try_from(limit)
        .unwrap_or(i32::MAX - 1)
        .saturating_add(1);
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SQL,
        [
            digest(key).into(),
            now.into(),
            expired_before.into(),
            cap.into(),
        ],
    );
    let row = db
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the upsert returned no row".into()))?;
    let start: DateTime<Utc> = row.try_get_by_index(0)?;
    let count: i32 = row.try_get_by_index(1)?;
    Ok(Window {
        start,
        count: i64::from(count),
    })
}

/// Deletes the windows that ended before `now`; returns how many.
pub async fn forget_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let expired_before = now - chrono::Duration::from_std(WINDOW).unwrap_or_default();
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM rate_limit_windows WHERE window_start <= $1",
        [expired_before.into()],
    );
    Ok(db.execute_raw(statement).await?.rows_affected())
}

/// The stored form of a key.
fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

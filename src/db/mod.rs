//! Database access: one connection pool for SQLite (embedded) or PostgreSQL
//! (production), the entity definitions shared by both, and the migrator.

pub mod entities;
pub mod lookup;
pub mod open;
pub mod rate_limits;
mod tx;

pub use tx::Tx;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr,
};
use sea_orm_migration::MigratorTrait;

pub use crate::migrations::Migrator;

/// The pool type used everywhere.
pub type Db = DatabaseConnection;

/// How long a request waits for a pooled connection before it answers 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle for longer than this is pinged before use.
pub const IDLE_CHECK_AFTER: Duration = Duration::from_secs(1);

/// The file of a `sqlite://` URL (`None` for other databases and in-memory ones).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("sqlite://")?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// Creates the SQLite file, readable by its owner only, and its directory
/// (0700) if they are missing; SQLite gives the `-wal` and `-shm` files the
/// database file's permissions.
fn create_sqlite_file(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        crate::config::create_private_dir(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens the pool for `url`, creating the SQLite file (and its directory) if needed.
pub async fn connect(url: &str) -> Result<Db, DbErr> {
    let url = if let Some(path) = sqlite_file(url) {
        create_sqlite_file(&path)
            .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", path.display())))?;
        if url.contains("mode=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        }
    } else {
        url.to_owned()
    };
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(if is_sqlite_url(options.get_url()) {
            4
        } else {
            10
        })
        .min_connections(1)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A round trip before every query would double the cost of a light
        // request; a connection idle this long is still checked first, so
        // one broken by a database restart is replaced, not handed out.
        .test_before_acquire_if_idle_for(IDLE_CHECK_AFTER)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    Database::connect(options).await
}

fn is_sqlite_url(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Applies every pending migration.
pub async fn migrate(db: &Db) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Begins a transaction. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of
/// failing when one upgrades a read lock. See [`Tx`] for why it cannot be
/// cut half way.
pub async fn begin(db: &Db) -> Result<Tx, DbErr> {
    tx::begin(db).await
}

/// Commits `tx`: once called, the `COMMIT` completes even if the caller is
/// dropped.
pub async fn commit(tx: Tx) -> Result<(), DbErr> {
    tx.commit().await
}

/// Rolls `tx` back (dropping it does the same, a moment later).
pub async fn rollback(tx: Tx) -> Result<(), DbErr> {
    tx.rollback().await
}

/// Checks that the database answers (for `/ready`).
pub async fn ping(db: &Db) -> Result<(), DbErr> {
    db.ping().await
}

/// The backend behind the pool.
pub fn backend(db: &impl ConnectionTrait) -> DbBackend {
    db.get_database_backend()
}

/// The unique constraint a write violated, if that is why it failed.
///
/// PostgreSQL names the constraint; SQLite names the column. Both contain
/// the column name, which is what callers match on.
pub fn unique_violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}

/// True when the error means the database is unreachable or overloaded,
/// as opposed to a bug in a query.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            use sea_orm::sqlx::Error;
            match e.as_ref() {
                Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::Tls(_) => true,
                Error::Protocol(_) | Error::WorkerCrashed => true,
                Error::Database(db) => {
                    // PostgreSQL admin shutdown / cannot connect now / too many connections,
                    // SQLite busy or locked beyond the busy timeout.
                    matches!(
                        db.code().as_deref(),
                        Some("57P01" | "57P02" | "57P03" | "53300" | "08006" | "08003" | "5" | "6")
                    )
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Connections of the pool in use and idle (a metric).
pub fn pool_usage(db: &Db) -> (u32, u32) {
    let (size, idle) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX);
    (size.saturating_sub(idle), idle)
}

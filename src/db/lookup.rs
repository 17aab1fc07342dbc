//! Connections reserved for the one query every authenticated request
//! makes on PostgreSQL: the session lookup.
//!
//! sqlx's pool pings a connection (a `Sync` round trip) each time it is
//! given back, so a request whose only query is this lookup made two round
//! trips instead of one; measured, that ping cost more service and database
//! CPU than the lookup itself (`bench/RESULTS.md`). These connections are
//! checked the way the main pool checks on acquire: only after they sat
//! idle for a while. A connection that fails a query is dropped, not reused,
//! and the request gets the same 503 as any other database failure.
//!
//! On SQLite there is nothing to save (its ping does nothing), so the
//! lookup goes through the main pool.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sea_orm::sqlx::{self, Connection};
use sea_orm::{DbBackend, DbErr, RuntimeErr};
use tokio::sync::Semaphore;

use super::{ACQUIRE_TIMEOUT, Db, IDLE_CHECK_AFTER};

/// Connections kept for lookups (opened on demand, never more).
pub const MAX_CONNECTIONS: usize = 8;

/// Connections reserved for the per-request session lookup; empty on SQLite.
#[derive(Clone, Default)]
pub struct Lookup {
    postgres: Option<Arc<PgLookup>>,
}

/// The PostgreSQL side: idle connections and the permits that bound them.
pub struct PgLookup {
    options: Arc<PgConnectOptions>,
    idle: Mutex<Vec<Idle>>,
    permits: Semaphore,
}

struct Idle {
    connection: PgConnection,
    since: Instant,
}

impl Lookup {
    /// Lookup connections beside `db`'s pool, with its connect options, if
    /// it is PostgreSQL; none otherwise. Nothing is opened until the first
    /// lookup.
    pub fn beside(db: &Db) -> Self {
        if super::backend(db) != DbBackend::Postgres {
            return Self::default();
        }
        Self {
            postgres: Some(Arc::new(PgLookup {
                options: db.get_postgres_connection_pool().connect_options(),
                idle: Mutex::new(Vec::with_capacity(MAX_CONNECTIONS)),
                permits: Semaphore::new(MAX_CONNECTIONS),
            })),
        }
    }

    /// The PostgreSQL connections, if the database is PostgreSQL.
    pub fn postgres(&self) -> Option<&PgLookup> {
        self.postgres.as_deref()
    }
}

impl PgLookup {
    /// Runs `sql` with one UUID parameter and returns its row, if any.
    pub async fn fetch_optional(
        &self,
        sql: &'static str,
        key: uuid::Uuid,
    ) -> Result<Option<PgRow>, DbErr> {
        let _permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))?
            .map_err(|_| DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed))?;
        let mut connection = self.checked_out().await?;
        // If this future is dropped mid-query, the connection goes with it
        // (closed, not returned): the next lookup opens a fresh one.
        let row = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&mut connection)
            .await
            .map_err(sqlx_error(DbErr::Query))?;
        self.give_back(connection);
        Ok(row)
    }

    /// Idle connections now (for tests).
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map(|idle| idle.len()).unwrap_or(0)
    }

    /// An idle connection (pinged first if it sat idle too long), or a new one.
    async fn checked_out(&self) -> Result<PgConnection, DbErr> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        if let Some(Idle {
            mut connection,
            since,
        }) = idle
        {
            if since.elapsed() < IDLE_CHECK_AFTER {
                return Ok(connection);
            }
            let pinged = tokio::time::timeout(ACQUIRE_TIMEOUT, connection.ping()).await;
            if matches!(pinged, Ok(Ok(()))) {
                return Ok(connection);
            }
            tracing::debug!("a lookup connection failed its check; opening a new one");
        }
        tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&*self.options))
            .await
            .map_err(|_| DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))?
            .map_err(sqlx_error(DbErr::Conn))
    }

    fn give_back(&self, connection: PgConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }
}

/// Wraps a sqlx error the way sea-orm does, so callers classify it alike.
fn sqlx_error(kind: fn(RuntimeErr) -> DbErr) -> impl Fn(sqlx::Error) -> DbErr {
    move |err| kind(RuntimeErr::SqlxError(Arc::new(err)))
}

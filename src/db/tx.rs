//! Transactions that a dropped request cannot cut half way.
//!
//! A request future is dropped when its client hangs up or its time runs
//! out. Dropped in the middle of `BEGIN`, `COMMIT` or a statement of a
//! transaction, a pooled connection goes back to the pool in a state its
//! driver does not know (inside a transaction it thinks closed, or the
//! reverse): later requests then log "there is already a transaction in
//! progress", run inside a stranger's transaction, or keep a lock.
//!
//! So a [`Tx`] owns no connection: a task of its own holds the transaction
//! and runs the statements sent to it, in order. A statement, once sent,
//! finishes; `COMMIT` and `ROLLBACK` too; and when the [`Tx`] is dropped
//! without either, the task rolls back at once. The caller can vanish at
//! any point and the transaction is still applied whole or not at all.

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::Db;

/// An open transaction, run by its own task (see the module documentation).
pub struct Tx {
    backend: DbBackend,
    ops: mpsc::UnboundedSender<Op>,
}

/// What the transaction's task is asked to do.
enum Op {
    Execute(Statement, oneshot::Sender<Result<ExecResult, DbErr>>),
    ExecuteUnprepared(String, oneshot::Sender<Result<ExecResult, DbErr>>),
    QueryOne(
        Statement,
        oneshot::Sender<Result<Option<QueryResult>, DbErr>>,
    ),
    QueryAll(Statement, oneshot::Sender<Result<Vec<QueryResult>, DbErr>>),
    Commit(oneshot::Sender<Result<(), DbErr>>),
    Rollback(oneshot::Sender<Result<(), DbErr>>),
}

/// Begins a transaction in a task of its own (`BEGIN IMMEDIATE` on SQLite).
pub async fn begin(db: &Db) -> Result<Tx, DbErr> {
    let backend = db.get_database_backend();
    let (ops, queue) = mpsc::unbounded_channel();
    let (begun, ready) = oneshot::channel();
    let db = db.clone();
    tokio::spawn(async move {
        #[expect(clippy::disallowed_methods, reason = "the one place that begins")]
        let started = db
            .begin_with_options(TransactionOptions {
                isolation_level: None,
                access_mode: None,
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            })
            .await;
        match started {
            // If the caller is gone, so is its sender: `run` rolls back.
            Ok(tx) => {
                let _ = begun.send(Ok(()));
                run(tx, queue).await;
            }
            Err(e) => {
                let _ = begun.send(Err(e));
            }
        }
    });
    ready.await.map_err(|_| gone())??;
    Ok(Tx { backend, ops })
}

/// The transaction's task: runs what it is sent, in order, until a commit
/// or rollback; rolls back if its [`Tx`] is dropped first.
async fn run(tx: DatabaseTransaction, mut queue: mpsc::UnboundedReceiver<Op>) {
    while let Some(op) = queue.recv().await {
        match op {
            Op::Execute(statement, reply) => {
                let _ = reply.send(tx.execute_raw(statement).await);
            }
            Op::ExecuteUnprepared(sql, reply) => {
                let _ = reply.send(tx.execute_unprepared(&sql).await);
            }
            Op::QueryOne(statement, reply) => {
                let _ = reply.send(tx.query_one_raw(statement).await);
            }
            Op::QueryAll(statement, reply) => {
                let _ = reply.send(tx.query_all_raw(statement).await);
            }
            Op::Commit(reply) => {
                #[expect(clippy::disallowed_methods, reason = "the one place that commits")]
                let _ = reply.send(tx.commit().await);
                return;
            }
            Op::Rollback(reply) => {
                #[expect(clippy::disallowed_methods, reason = "the one place that rolls back")]
                let _ = reply.send(tx.rollback().await);
                return;
            }
        }
    }
    #[expect(clippy::disallowed_methods, reason = "the one place that rolls back")]
    if let Err(e) = tx.rollback().await {
        tracing::warn!(error = %e, "rolling back an abandoned transaction failed");
    }
}

/// The task ended without an answer (it panicked, or the runtime is ending).
fn gone() -> DbErr {
    DbErr::Custom("the transaction's task ended".into())
}

impl Tx {
    /// Sends `op` (built around the reply channel) and waits for its answer.
    async fn ask<T>(&self, op: impl FnOnce(oneshot::Sender<T>) -> Op) -> Result<T, DbErr> {
        let (reply, answer) = oneshot::channel();
        self.ops.send(op(reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())
    }

    /// Commits; completes even if the caller is dropped meanwhile.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.ask(Op::Commit).await?
    }

    /// Rolls back; completes even if the caller is dropped meanwhile.
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.ask(Op::Rollback).await?
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        self.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.ask(|reply| Op::Execute(stmt, reply)).await?
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let sql = sql.to_owned();
        self.ask(|reply| Op::ExecuteUnprepared(sql, reply)).await?
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.ask(|reply| Op::QueryOne(stmt, reply)).await?
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.ask(|reply| Op::QueryAll(stmt, reply)).await?
    }
}

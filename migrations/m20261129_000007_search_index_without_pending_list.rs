//! The trigram index of the staff search is written through (`fastupdate`
//! off) instead of collecting new entries in a pending list.
//!
//! Every login rewrites its user row (`last_login_at`, which the listing
//! sorts on, is indexed, so the update cannot be HOT), and each rewrite
//! adds the row's trigrams to the index. With a pending list those entries
//! pile up unsorted until a vacuum merges them, and every search scans them
//! all: measured, a thousand logins made a search cost PostgreSQL almost
//! twice as much CPU (`bench/RESULTS.md`). Writing them through costs each
//! login a little more and keeps search cost where the index puts it.
//!
//! Nothing to do where the index does not exist (SQLite, or PostgreSQL
//! without `pg_trgm`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "ix_users_search_text_trgm";

/// Runs `statement` only if the trigram index exists.
async fn if_index_exists(manager: &SchemaManager<'_>, statement: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "DO $$ BEGIN IF to_regclass('{INDEX}') IS NOT NULL THEN {statement}; END IF; END $$"
        ))
        .await
        .map(|_| ())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if_index_exists(
            manager,
            &format!("ALTER INDEX {INDEX} SET (fastupdate = off)"),
        )
        .await?;
        // Entries already pending are merged now rather than at the next vacuum.
        if_index_exists(
            manager,
            &format!("PERFORM gin_clean_pending_list('{INDEX}'::regclass)"),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if_index_exists(manager, &format!("ALTER INDEX {INDEX} RESET (fastupdate)")).await
    }
}

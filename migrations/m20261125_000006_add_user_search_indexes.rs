//! The staff listing: a `search_text` column (lower-cased email, nickname,
//! first and last name, kept by the application so both databases compare
//! the same text), b-tree indexes for the filters and sorts, and on
//! PostgreSQL a trigram (GIN) index that serves the substring search `q`.
//! `pg_trgm` needs the right to create extensions; without it the migration
//! still succeeds and search scans.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const BTREE: [(&str, &[&str]); 4] = [
    ("ix_users_role_created_at", &["role", "created_at"]),
    ("ix_users_last_login_at", &["last_login_at"]),
    ("ix_users_updated_at", &["updated_at"]),
    (
        "ix_users_is_locked_created_at",
        &["is_locked", "created_at"],
    ),
];

const TRIGRAM: [(&str, &str); 1] = [("ix_users_search_text_trgm", "search_text")];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(ColumnDef::new("search_text").text().not_null().default(""))
                    .to_owned(),
            )
            .await?;
        // Rows that exist already (new rows get it from the application).
        let separator = match manager.get_database_backend() {
            DbBackend::Postgres => "chr(31)",
            _ => "char(31)",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE users SET search_text = email_norm || {separator} || nickname_norm || {separator} \
                 || lower(coalesce(first_name, '')) || {separator} || lower(coalesce(last_name, ''))"
            ))
            .await?;
        for (name, columns) in BTREE {
            let mut index = Index::create();
            index.name(name).table("users");
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(
                "DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm; \
                 EXCEPTION WHEN insufficient_privilege THEN \
                 RAISE NOTICE 'pg_trgm unavailable: user search will scan'; END $$",
            )
            .await?;
            for (name, expression) in TRIGRAM {
                db.execute_unprepared(&format!(
                    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN \
                     CREATE INDEX IF NOT EXISTS {name} ON users USING gin (({expression}) gin_trgm_ops); \
                     END IF; END $$"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            for (name, _) in TRIGRAM {
                manager
                    .get_connection()
                    .execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                    .await?;
            }
        }
        for (name, _) in BTREE {
            manager
                .drop_index(Index::drop().name(name).table("users").to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .drop_column("search_text")
                    .to_owned(),
            )
            .await
    }
}

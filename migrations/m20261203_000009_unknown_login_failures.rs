//! Failed logins for addresses without an account, so that an unknown
//! address locks, is held back and unlocks exactly like an account. Rows
//! are keyed by a keyed hash of the address (the table names nobody),
//! expire, and are capped by the service (the oldest go first).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(unknown_login_failures()).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_unknown_login_failures_last_failed_at")
                    .table("unknown_login_failures")
                    .col("last_failed_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("unknown_login_failures").to_owned())
            .await
    }
}

fn unknown_login_failures() -> TableCreateStatement {
    Table::create()
        .table("unknown_login_failures")
        .col(
            ColumnDef::new("key_hash")
                .string_len(64)
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new("failed_attempts")
                .integer()
                .not_null()
                .default(0),
        )
        .col(
            ColumnDef::new("is_locked")
                .boolean()
                .not_null()
                .default(false),
        )
        .col(
            ColumnDef::new("locked_until")
                .timestamp_with_time_zone()
                .null(),
        )
        .col(
            ColumnDef::new("last_failed_at")
                .timestamp_with_time_zone()
                .not_null(),
        )
        .to_owned()
}

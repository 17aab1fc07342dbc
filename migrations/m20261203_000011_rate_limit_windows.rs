//! Rate-limit windows shared by every instance on PostgreSQL (one row per
//! client budget: when its window began and how many requests it counted),
//! and the digest of each session's previous refresh token, so only a token
//! the server really issued counts as reuse.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("sessions")
                    .add_column(
                        ColumnDef::new("previous_refresh_token_hash")
                            .string_len(64)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("rate_limit_windows")
                    .col(
                        ColumnDef::new("key")
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new("window_start")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new("count").integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_rate_limit_windows_window_start")
                    .table("rate_limit_windows")
                    .col("window_start")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("rate_limit_windows").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("sessions")
                    .drop_column("previous_refresh_token_hash")
                    .to_owned(),
            )
            .await
    }
}

//! Pending email changes: the address a user asked to move to, waiting for
//! the confirmation link sent there. The link's token is minted when the
//! mail goes out and stored only as its SHA-256 digest.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(email_changes()).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_email_changes_user_id")
                    .table("email_changes")
                    .col("user_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("email_changes").to_owned())
            .await
    }
}

/// One requested change; it dies with its user.
fn email_changes() -> TableCreateStatement {
    Table::create()
        .table("email_changes")
        .col(ColumnDef::new("id").uuid().not_null().primary_key())
        .col(ColumnDef::new("user_id").uuid().not_null())
        .col(ColumnDef::new("new_email").string_len(254).not_null())
        .col(ColumnDef::new("new_email_norm").string_len(254).not_null())
        .col(
            ColumnDef::new("token_hash")
                .string_len(64)
                .null()
                .unique_key(),
        )
        .col(
            ColumnDef::new("created_at")
                .timestamp_with_time_zone()
                .not_null(),
        )
        .col(
            ColumnDef::new("expires_at")
                .timestamp_with_time_zone()
                .not_null(),
        )
        .col(ColumnDef::new("used_at").timestamp_with_time_zone().null())
        .foreign_key(
            ForeignKey::create()
                .name("fk_email_changes_user")
                .from("email_changes", "user_id")
                .to("users", "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

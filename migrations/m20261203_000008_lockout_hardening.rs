//! Lockout that cannot be turned against the owner: why an account is
//! locked (`lock_reason`: a failed-login lock keeps the owner's sessions and
//! trusted devices working, a staff lock does not), and the device tokens of
//! clients that logged in before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(
                        ColumnDef::new("lock_reason")
                            .string_len(16)
                            .null()
                            .check(Expr::col("lock_reason").is_in(["failed_logins", "manual"])),
                    )
                    .to_owned(),
            )
            .await?;
        // Existing locks: a timed one came from failed logins; the others are
        // taken as staff locks (the safer reading).
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE users SET lock_reason = CASE WHEN locked_until IS NULL \
                 THEN 'manual' ELSE 'failed_logins' END WHERE is_locked",
            )
            .await?;
        manager.create_table(device_tokens()).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_device_tokens_user_id")
                    .table("device_tokens")
                    .col("user_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("device_tokens").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .drop_column("lock_reason")
                    .to_owned(),
            )
            .await
    }
}

/// Device tokens, stored as digests; they die with their user.
fn device_tokens() -> TableCreateStatement {
    Table::create()
        .table("device_tokens")
        .col(
            ColumnDef::new("token_hash")
                .string_len(64)
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new("user_id").uuid().not_null())
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
        .col(
            ColumnDef::new("failed_attempts")
                .integer()
                .not_null()
                .default(0),
        )
        .foreign_key(
            ForeignKey::create()
                .from("device_tokens", "user_id")
                .to("users", "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

//! The second factor: a user's TOTP authenticator (its secret sealed under
//! `DATA_ENCRYPTION_KEY`, pending until a first code confirms it, with the
//! last time step accepted so a code is good once) and their single-use
//! recovery codes, stored only as keyed digests.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(totp_factors()).await?;
        manager.create_table(recovery_codes()).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_recovery_codes_user_id")
                    .table("recovery_codes")
                    .col("user_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["recovery_codes", "totp_factors"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// One authenticator per user; it dies with its user.
fn totp_factors() -> TableCreateStatement {
    Table::create()
        .table("totp_factors")
        .col(ColumnDef::new("user_id").uuid().not_null().primary_key())
        .col(ColumnDef::new("secret_sealed").binary().not_null())
        .col(
            ColumnDef::new("confirmed_at")
                .timestamp_with_time_zone()
                .null(),
        )
        .col(ColumnDef::new("last_used_step").big_integer().null())
        .col(
            ColumnDef::new("created_at")
                .timestamp_with_time_zone()
                .not_null(),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_totp_factors_user")
                .from("totp_factors", "user_id")
                .to("users", "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

/// One recovery code; a new set replaces the old one.
fn recovery_codes() -> TableCreateStatement {
    Table::create()
        .table("recovery_codes")
        .col(ColumnDef::new("id").uuid().not_null().primary_key())
        .col(ColumnDef::new("user_id").uuid().not_null())
        .col(
            ColumnDef::new("code_digest")
                .string_len(64)
                .not_null()
                .unique_key(),
        )
        .col(ColumnDef::new("used_at").timestamp_with_time_zone().null())
        .col(
            ColumnDef::new("created_at")
                .timestamp_with_time_zone()
                .not_null(),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_recovery_codes_user")
                .from("recovery_codes", "user_id")
                .to("users", "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

//! The audit trail. No foreign keys: events outlive the users they name.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("audit_events")
                    .col(ColumnDef::new("id").uuid().not_null().primary_key())
                    .col(ColumnDef::new("at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("actor_id").uuid().null())
                    .col(ColumnDef::new("user_id").uuid().null())
                    .col(ColumnDef::new("action").string_len(64).not_null())
                    .col(ColumnDef::new("details").json().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_audit_events_user_id", "user_id"),
            ("ix_audit_events_actor_id", "actor_id"),
            ("ix_audit_events_at", "at"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("audit_events")
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("audit_events").to_owned())
            .await
    }
}

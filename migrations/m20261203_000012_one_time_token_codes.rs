//! Short codes beside one-time links: the keyed digest of the code a mail
//! carries with its link (`code_digest`, none on links minted before), and
//! the wrong codes typed while it was live (`code_failures`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table("one_time_tokens")
                    .add_column(ColumnDef::new("code_digest").string_len(64).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("one_time_tokens")
                    .add_column(
                        ColumnDef::new("code_failures")
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["code_failures", "code_digest"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("one_time_tokens")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

//! Users, with case-insensitive unique email and nickname (through the
//! lower-cased `*_norm` columns, portable to both databases).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(ColumnDef::new("id").uuid().not_null().primary_key())
                    .col(ColumnDef::new("email").string_len(254).not_null())
                    .col(ColumnDef::new("email_norm").string_len(254).not_null())
                    .col(ColumnDef::new("nickname").string_len(50).not_null())
                    .col(ColumnDef::new("nickname_norm").string_len(50).not_null())
                    .col(ColumnDef::new("first_name").string_len(100).null())
                    .col(ColumnDef::new("last_name").string_len(100).null())
                    .col(ColumnDef::new("bio").string_len(500).null())
                    .col(ColumnDef::new("profile_picture_url").string_len(255).null())
                    .col(ColumnDef::new("picture_key").string_len(255).null())
                    .col(
                        ColumnDef::new("linkedin_profile_url")
                            .string_len(255)
                            .null(),
                    )
                    .col(ColumnDef::new("github_profile_url").string_len(255).null())
                    .col(ColumnDef::new("role").string_len(16).not_null().check(
                        Expr::col("role").is_in(["ANONYMOUS", "AUTHENTICATED", "MANAGER", "ADMIN"]),
                    ))
                    .col(
                        ColumnDef::new("is_professional")
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new("professional_status_updated_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new("email_verified")
                            .boolean()
                            .not_null()
                            .default(false),
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
                        ColumnDef::new("failed_login_attempts")
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new("password_hash").string_len(255).not_null())
                    .col(
                        ColumnDef::new("last_login_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new("created_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new("updated_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column, unique) in [
            ("uq_users_email_norm", "email_norm", true),
            ("uq_users_nickname_norm", "nickname_norm", true),
            ("ix_users_created_at", "created_at", false),
            ("ix_users_role", "role", false),
        ] {
            let mut index = Index::create();
            index.name(name).table("users").col(column);
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("users").to_owned())
            .await
    }
}

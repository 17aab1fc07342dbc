//! Users, with case-insensitive unique email and nickname (through the
//! lower-cased `*_norm` columns, portable to both databases).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(users_table()).await?;
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

/// The `users` table (its indexes are created beside it).
fn users_table() -> TableCreateStatement {
    let mut table = Table::create();
    table.table("users");
    for column in profile_columns().iter_mut().chain(&mut account_columns()) {
        table.col(column);
    }
    table.to_owned()
}

/// Identity and profile columns.
fn profile_columns() -> Vec<ColumnDef> {
    vec![
        ColumnDef::new("id")
            .uuid()
            .not_null()
            .primary_key()
            .to_owned(),
        ColumnDef::new("email")
            .string_len(254)
            .not_null()
            .to_owned(),
        ColumnDef::new("email_norm")
            .string_len(254)
            .not_null()
            .to_owned(),
        ColumnDef::new("nickname")
            .string_len(50)
            .not_null()
            .to_owned(),
        ColumnDef::new("nickname_norm")
            .string_len(50)
            .not_null()
            .to_owned(),
        ColumnDef::new("first_name")
            .string_len(100)
            .null()
            .to_owned(),
        ColumnDef::new("last_name")
            .string_len(100)
            .null()
            .to_owned(),
        ColumnDef::new("bio").string_len(500).null().to_owned(),
        ColumnDef::new("profile_picture_url")
            .string_len(255)
            .null()
            .to_owned(),
        ColumnDef::new("picture_key")
            .string_len(255)
            .null()
            .to_owned(),
        ColumnDef::new("linkedin_profile_url")
            .string_len(255)
            .null()
            .to_owned(),
        ColumnDef::new("github_profile_url")
            .string_len(255)
            .null()
            .to_owned(),
    ]
}

/// Role, verification, lock and login-state columns.
fn account_columns() -> Vec<ColumnDef> {
    vec![
        ColumnDef::new("role")
            .string_len(16)
            .not_null()
            .check(Expr::col("role").is_in(["ANONYMOUS", "AUTHENTICATED", "MANAGER", "ADMIN"]))
            .to_owned(),
        ColumnDef::new("is_professional")
            .boolean()
            .not_null()
            .default(false)
            .to_owned(),
        ColumnDef::new("professional_status_updated_at")
            .timestamp_with_time_zone()
            .null()
            .to_owned(),
        ColumnDef::new("email_verified")
            .boolean()
            .not_null()
            .default(false)
            .to_owned(),
        ColumnDef::new("is_locked")
            .boolean()
            .not_null()
            .default(false)
            .to_owned(),
        ColumnDef::new("locked_until")
            .timestamp_with_time_zone()
            .null()
            .to_owned(),
        ColumnDef::new("failed_login_attempts")
            .integer()
            .not_null()
            .default(0)
            .to_owned(),
        ColumnDef::new("password_hash")
            .string_len(255)
            .not_null()
            .to_owned(),
        ColumnDef::new("last_login_at")
            .timestamp_with_time_zone()
            .null()
            .to_owned(),
        ColumnDef::new("created_at")
            .timestamp_with_time_zone()
            .not_null()
            .to_owned(),
        ColumnDef::new("updated_at")
            .timestamp_with_time_zone()
            .not_null()
            .to_owned(),
    ]
}

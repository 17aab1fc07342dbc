//! Versioned, reversible schema migrations, one per file, shared by SQLite
//! and PostgreSQL. Applied by `user-management migrate up` (and at start on
//! the embedded default). Never edit a released migration: add a new one.

use sea_orm_migration::prelude::*;

mod m20261125_000001_create_users;
mod m20261125_000002_create_sessions;
mod m20261125_000003_create_one_time_tokens;
mod m20261125_000004_create_audit_events;
mod m20261125_000005_create_email_outbox;
mod m20261125_000006_add_user_search_indexes;
mod m20261129_000007_search_index_without_pending_list;
mod m20261203_000008_lockout_hardening;
mod m20261203_000009_unknown_login_failures;
mod m20261203_000010_pending_email_change;
mod m20261203_000011_rate_limit_windows;
mod m20261203_000012_one_time_token_codes;
mod m20261203_000013_second_factor;

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_users::Migration),
            Box::new(m20261125_000002_create_sessions::Migration),
            Box::new(m20261125_000003_create_one_time_tokens::Migration),
            Box::new(m20261125_000004_create_audit_events::Migration),
            Box::new(m20261125_000005_create_email_outbox::Migration),
            Box::new(m20261125_000006_add_user_search_indexes::Migration),
            Box::new(m20261129_000007_search_index_without_pending_list::Migration),
            Box::new(m20261203_000008_lockout_hardening::Migration),
            Box::new(m20261203_000009_unknown_login_failures::Migration),
            Box::new(m20261203_000010_pending_email_change::Migration),
            Box::new(m20261203_000011_rate_limit_windows::Migration),
            Box::new(m20261203_000012_one_time_token_codes::Migration),
            Box::new(m20261203_000013_second_factor::Migration),
        ]
    }
}

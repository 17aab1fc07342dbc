//! The database as the administration commands open it (see `db::open`).

use crate::config::Config;
use crate::db::{self, Db};

/// Connects to `DATABASE_URL`; the error names the variable and the cause once.
pub async fn connect(config: &Config) -> anyhow::Result<Db> {
    db::open::connect(&config.database_url, config.is_embedded()).await
}

/// Connects for a command that reads or writes data: the embedded default is
/// migrated, as the service would; any other database must be migrated
/// already, else the error says to run `migrate up`.
pub async fn open(config: &Config) -> anyhow::Result<Db> {
    db::open::open(&config.database_url, config.is_embedded()).await
}

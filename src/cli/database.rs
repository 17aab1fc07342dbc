//! The database as the administration commands open it.

use sea_orm_migration::MigratorTrait;

use super::errors::db_message;
use crate::config::Config;
use crate::db::{self, Db, Migrator};

/// Connects to `DATABASE_URL`; the error names the variable and the cause once.
pub async fn connect(config: &Config) -> anyhow::Result<Db> {
    match db::connect(&config.database_url).await {
        Ok(db) => Ok(db),
        Err(e) => {
            // A pool that timed out does not say why; the server's address does.
            let probed = if config.is_embedded() {
                None
            } else {
                unreachable(&config.database_url).await
            };
            let cause = probed.unwrap_or_else(|| db_message(&e));
            anyhow::bail!("DATABASE_URL: cannot connect to the database: {cause}")
        }
    }
}

/// Why the server of a network database URL cannot be reached, if it cannot.
async fn unreachable(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port().unwrap_or(5432);
    let probe = tokio::net::TcpStream::connect((host, port));
    match tokio::time::timeout(std::time::Duration::from_secs(3), probe).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("cannot reach {host}:{port}: {e}")),
        Err(_) => Some(format!("cannot reach {host}:{port}: no answer within 3 s")),
    }
}

/// Connects for a command that reads or writes data: the embedded SQLite
/// default is migrated, as the service would; any other database must be
/// migrated already, else the error says to run `migrate up`.
pub async fn open(config: &Config) -> anyhow::Result<Db> {
    let db = connect(config).await?;
    if config.is_embedded() {
        db::migrate(&db)
            .await
            .map_err(|e| anyhow::anyhow!("applying migrations: {}", db_message(&e)))?;
    } else {
        require_migrated(&db).await?;
    }
    Ok(db)
}

/// Fails, with the fix, unless every migration is applied.
pub async fn require_migrated(db: &Db) -> anyhow::Result<()> {
    let pending = Migrator::get_pending_migrations_read_only(db)
        .await
        .map_err(|e| anyhow::anyhow!("reading the migration status: {}", db_message(&e)))?;
    if pending.is_empty() {
        return Ok(());
    }
    let total = Migrator::migrations().len();
    if pending.len() == total {
        anyhow::bail!("the database has no schema yet: run `user-management migrate up` first");
    }
    anyhow::bail!(
        "the database has {} pending migration(s): run `user-management migrate up` first",
        pending.len()
    )
}

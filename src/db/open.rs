//! Opening the database with errors a person can act on: the cause said
//! once in the database's own words, an unreachable server named, and an
//! unmigrated schema answered with the command that fixes it. Used by the
//! service at start and by every administration command.

use sea_orm::{DbErr, RuntimeErr};
use sea_orm_migration::MigratorTrait;

use super::{Db, Migrator};

/// Connects to `DATABASE_URL`; the error names the variable and the cause once.
pub async fn connect(url: &str, embedded: bool) -> anyhow::Result<Db> {
    match super::connect(url).await {
        Ok(db) => Ok(db),
        Err(e) => {
            // A pool that timed out does not say why; the server's address does.
            let probed = if embedded {
                None
            } else {
                unreachable(url).await
            };
            let cause = probed.unwrap_or_else(|| message(&e));
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
pub async fn open(url: &str, embedded: bool) -> anyhow::Result<Db> {
    let db = connect(url, embedded).await?;
    if embedded {
        super::migrate(&db)
            .await
            .map_err(|e| anyhow::anyhow!("applying migrations: {}", message(&e)))?;
    } else {
        require_migrated(&db).await?;
    }
    Ok(db)
}

/// Fails, with the fix, unless every migration is applied.
pub async fn require_migrated(db: &Db) -> anyhow::Result<()> {
    let pending = Migrator::get_pending_migrations_read_only(db)
        .await
        .map_err(|e| anyhow::anyhow!("reading the migration status: {}", message(&e)))?;
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

/// What went wrong with the database, in the database's words.
pub fn message(err: &DbErr) -> String {
    match err {
        DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime) => match runtime {
            RuntimeErr::SqlxError(e) => sqlx_message(e),
            RuntimeErr::Internal(text) => text.clone(),
        },
        DbErr::Custom(text) => text.clone(),
        other => other.to_string(),
    }
}

/// What went wrong in the driver, in its innermost words.
pub fn sqlx_message(err: &sea_orm::sqlx::Error) -> String {
    use sea_orm::sqlx::Error;
    match err {
        // PostgreSQL's message; its `Display` adds the server's source line.
        Error::Database(db) => db.message().to_owned(),
        Error::Io(io) => io.to_string(),
        other => {
            // The innermost cause is the one worth reading ("Connection refused").
            let mut deepest: &dyn std::error::Error = other;
            while let Some(next) = deepest.source() {
                deepest = next;
            }
            deepest.to_string()
        }
    }
}

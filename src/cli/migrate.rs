//! `user-management migrate [up|down|status]`: manage the schema.
//!
//! `migrate` alone means `migrate up`. `status` only reads: it never creates
//! a database (a missing SQLite file stays missing) nor the migration table.
//! `down` drops tables and their data, so it asks for `--yes` (or a typed
//! confirmation on a terminal).

use std::io::{BufRead, IsTerminal, Write};

use sea_orm_migration::{MigrationStatus, MigratorTrait};

use super::database;
use crate::config::Config;
use crate::db::open::message as db_message;
use crate::db::{self, Db, Migrator};

/// Arguments of `migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do (default: up).
    #[command(subcommand)]
    pub action: Option<Action>,
}

/// Migration actions.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum Action {
    /// Apply every pending migration (the default).
    Up,
    /// Revert the last `--steps` applied migrations, dropping their tables and data.
    Down {
        /// How many migrations to revert.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
        /// Do not ask for confirmation (required when standard input is not a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// List the migrations and whether each is applied; changes nothing.
    Status,
}

/// Runs the migration action against `DATABASE_URL`.
pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let action = args.action.unwrap_or(Action::Up);
    if !matches!(action, Action::Up)
        && let Some(path) = db::sqlite_file(&config.database_url)
        && !path.exists()
    {
        return without_database(action, &path);
    }
    let db = database::connect(&config).await?;
    match action {
        Action::Up => up(&db).await,
        Action::Down { steps, yes } => down(&db, steps, yes).await,
        Action::Status => status(&db).await,
    }
}

/// `status` or `down` when the SQLite file does not exist: nothing to read
/// or revert, and nothing is created.
fn without_database(action: Action, path: &std::path::Path) -> anyhow::Result<()> {
    if let Action::Status = action {
        for migration in Migrator::migrations() {
            println!("{:8} {}", "pending", migration.name());
        }
    }
    eprintln!(
        "there is no database at {} yet: `user-management migrate up` creates it",
        path.display()
    );
    Ok(())
}

fn failed(what: &str) -> impl FnOnce(sea_orm::DbErr) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {}", db_message(&e))
}

async fn applied_names(db: &Db) -> anyhow::Result<Vec<String>> {
    Ok(Migrator::get_applied_migrations_read_only(db)
        .await
        .map_err(failed("reading the migration status"))?
        .iter()
        .map(|m| m.name().to_owned())
        .collect())
}

async fn up(db: &Db) -> anyhow::Result<()> {
    let before = applied_names(db).await?;
    Migrator::up(db, None)
        .await
        .map_err(failed("applying migrations"))?;
    let after = applied_names(db).await?;
    let new: Vec<&String> = after.iter().filter(|m| !before.contains(m)).collect();
    if new.is_empty() {
        println!("already up to date ({} migration(s) applied)", after.len());
    } else {
        for name in &new {
            println!("applied  {name}");
        }
        println!("applied {} migration(s)", new.len());
    }
    Ok(())
}

async fn down(db: &Db, steps: u32, yes: bool) -> anyhow::Result<()> {
    let before = applied_names(db).await?;
    if before.is_empty() {
        println!("nothing to revert: no migration is applied");
        return Ok(());
    }
    let count = before
        .len()
        .min(usize::try_from(steps).unwrap_or(usize::MAX));
    let doomed: Vec<&String> = before.iter().rev().take(count).collect();
    if !yes {
        confirm(&doomed)?;
    }
    let steps = u32::try_from(count).unwrap_or(steps);
    Migrator::down(db, Some(steps))
        .await
        .map_err(failed("reverting migrations"))?;
    let after = applied_names(db).await?;
    for name in before.iter().rev().filter(|m| !after.contains(m)) {
        println!("reverted {name}");
    }
    println!(
        "reverted {} migration(s)",
        before.len().saturating_sub(after.len())
    );
    Ok(())
}

/// Asks on a terminal; refuses otherwise (the caller must pass `--yes`).
fn confirm(doomed: &[&String]) -> anyhow::Result<()> {
    let list = doomed
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to revert {} migration(s) ({list}) without --yes: reverting drops their tables and data",
            doomed.len()
        );
    }
    eprint!(
        "This reverts {} migration(s) ({list}), dropping their tables and data.\nType yes to go on: ",
        doomed.len()
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        anyhow::bail!("not confirmed: nothing reverted");
    }
    Ok(())
}

async fn status(db: &Db) -> anyhow::Result<()> {
    for migration in Migrator::get_migration_with_status_read_only(db)
        .await
        .map_err(failed("reading the migration status"))?
    {
        let state = match migration.status() {
            MigrationStatus::Applied => "applied",
            MigrationStatus::Pending => "pending",
        };
        println!("{state:8} {}", migration.name());
    }
    Ok(())
}

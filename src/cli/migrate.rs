//! `user-management migrate [up|down|status]`: manage the schema.

use anyhow::Context;
use sea_orm_migration::{MigrationStatus, MigratorTrait};

use crate::config::Config;
use crate::db::{self, Migrator};

/// Arguments of `migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[arg(value_enum, default_value = "up")]
    pub action: Action,
    /// How many migrations to revert (`down` only).
    #[arg(long, default_value_t = 1)]
    pub steps: u32,
}

/// Migration actions.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Action {
    /// Apply every pending migration.
    Up,
    /// Revert the last `--steps` migrations.
    Down,
    /// List migrations and whether each is applied.
    Status,
}

/// Runs the migration action against `DATABASE_URL`.
pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let db = db::connect(&config.database_url)
        .await
        .context("DATABASE_URL: cannot connect to the database")?;
    match args.action {
        Action::Up => {
            Migrator::up(&db, None).await?;
            println!("migrations applied");
        }
        Action::Down => {
            Migrator::down(&db, Some(args.steps)).await?;
            println!("reverted {} migration(s)", args.steps);
        }
        Action::Status => {
            for migration in Migrator::get_migration_with_status(&db).await? {
                let state = match migration.status() {
                    MigrationStatus::Applied => "applied",
                    MigrationStatus::Pending => "pending",
                };
                println!("{state:8} {}", migration.name());
            }
        }
    }
    Ok(())
}

//! `user-management users …`: roles, listing, CSV export and import.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;
use crate::db;
use crate::domain::{Email, Role};
use crate::users::admin::actions::{self, Actor};
use crate::users::admin::csv;
use crate::users::admin::listing::{ListQuery, Listing};
use crate::users::repo;

/// Arguments of `users`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// User subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Change a user's role (audited; the user's sessions end; they get an email).
    SetRole {
        /// The user's email.
        email: String,
        /// ANONYMOUS, AUTHENTICATED, MANAGER or ADMIN.
        role: Role,
    },
    /// List users (newest first, at most 100).
    List {
        /// Only this role.
        #[arg(long)]
        role: Option<Role>,
        /// Only locked accounts.
        #[arg(long)]
        locked: bool,
    },
    /// Write every user as CSV (with password hashes: keep the file private).
    Export {
        /// Output file (standard output if omitted).
        file: Option<PathBuf>,
    },
    /// Create users from CSV (the export's columns). Existing emails are
    /// skipped; a bad row is reported with its line number and not written.
    Import {
        /// Input file.
        file: PathBuf,
    },
}

/// Runs a users subcommand.
pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let db = db::connect(&config.database_url)
        .await
        .context("DATABASE_URL: cannot connect to the database")?;
    if config.is_embedded() {
        db::migrate(&db).await?;
    }
    match args.command {
        Command::SetRole { email, role } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("email: {e}"))?;
            let user = repo::find_by_email(&db, &email)
                .await?
                .with_context(|| format!("no user with email {email}"))?;
            let updated = actions::change_role(&db, Actor::Cli, user.id.into(), role)
                .await
                .map_err(|e| anyhow::anyhow!(e.one_line()))?;
            println!("{} is now {}", updated.email, updated.role);
        }
        Command::List { role, locked } => {
            let listing = Listing::parse(ListQuery {
                role,
                is_locked: locked.then_some(true),
                limit: Some(100),
                ..Default::default()
            })
            .map_err(super::describe)?;
            let (users, total) = listing.run(&db).await?;
            for u in &users {
                println!(
                    "{}  {:<13} {}{}  {}",
                    u.id,
                    u.role,
                    if u.is_locked { "locked " } else { "" },
                    u.email,
                    u.nickname
                );
            }
            println!("{} of {total} user(s)", users.len());
        }
        Command::Export { file } => {
            let count = match file {
                Some(path) => {
                    let out = private_file(&path)?;
                    csv::export(&db, out).await?
                }
                None => csv::export(&db, std::io::stdout().lock()).await?,
            };
            eprintln!("exported {count} user(s)");
        }
        Command::Import { file } => {
            let input = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let report = csv::import(&db, input).await?;
            for (line, message) in &report.errors {
                eprintln!("line {line}: {message}");
            }
            println!(
                "created {}, skipped {} existing, refused {}",
                report.created,
                report.skipped,
                report.errors.len()
            );
            if !report.errors.is_empty() {
                anyhow::bail!("{} row(s) refused", report.errors.len());
            }
        }
    }
    Ok(())
}

/// A new file only its owner can read (it holds password hashes).
fn private_file(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // `mode` only applies to a new file; an existing one is made private too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", path.display()))?;
    }
    Ok(file)
}

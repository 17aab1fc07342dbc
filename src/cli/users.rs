//! `user-management users …`: roles, listing, CSV export and import.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;
use crate::db::Db;
use crate::db::entities::users;
use crate::domain::{Email, Role};
use crate::http::paging::MAX_LIMIT;
use crate::users::admin::actions::{self, Actor};
use crate::users::admin::csv::{self, ImportOptions, ImportReport};
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
    /// Lock an account (audited; its sessions end at once).
    Lock {
        /// The user's email.
        email: String,
    },
    /// Unlock an account and reset its failed-login count (audited).
    Unlock {
        /// The user's email.
        email: String,
    },
    /// Delete a user with their sessions and stored picture (audited).
    Delete {
        /// The user's email.
        email: String,
        /// Confirm the deletion (it cannot be undone).
        #[arg(long)]
        yes: bool,
    },
    /// List users, newest first, as a table.
    List(ListArgs),
    /// Write every user as CSV, header first. A cell that a spreadsheet would
    /// run as a formula is written behind a single quote (import takes it off).
    Export {
        /// Output file, readable by its owner only (standard output if omitted).
        file: Option<PathBuf>,
        /// Fill the hashed_password column (empty without): an import then
        /// keeps everyone's password. Keep such a file private.
        #[arg(long)]
        with_hashes: bool,
    },
    /// Create users from CSV (the export's columns). Existing emails are
    /// skipped; a bad row is reported with its line number and not written.
    /// A row with an empty hashed_password gets an account without a usable
    /// password: its owner sets one with a password reset.
    Import {
        /// Input file.
        file: PathBuf,
        /// Check every row and report what would happen, writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Arguments of `users list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this role.
    #[arg(long)]
    pub role: Option<Role>,
    /// Only locked accounts.
    #[arg(long)]
    pub locked: bool,
    /// Case-insensitive substring of email, nickname, first or last name (as `GET /users?q=`).
    #[arg(long)]
    pub q: Option<String>,
    /// How many users to show (1 to 100).
    #[arg(long, default_value_t = MAX_LIMIT)]
    pub limit: u64,
    /// How many users to pass over first.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
}

/// Runs a users subcommand.
pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let db = super::database::open(&config).await?;
    match args.command {
        Command::SetRole { email, role } => set_role(&db, &email, role).await,
        Command::Lock { email } => set_lock(&db, &email, true).await,
        Command::Unlock { email } => set_lock(&db, &email, false).await,
        Command::Delete { email, yes } => delete(&db, &config, &email, yes).await,
        Command::List(list) => self::list(&db, list).await,
        Command::Export { file, with_hashes } => {
            let count = match file {
                Some(path) => csv::export(&db, private_file(&path)?, with_hashes).await?,
                None => csv::export(&db, std::io::stdout().lock(), with_hashes).await?,
            };
            eprintln!("exported {count} user(s)");
            Ok(())
        }
        Command::Import { file, dry_run } => import(&db, &file, dry_run).await,
    }
}

/// The user with `email`, or an error naming it.
async fn user_by_email(db: &Db, email: &str) -> anyhow::Result<users::Model> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("email: {e}"))?;
    repo::find_by_email(db, &email)
        .await?
        .with_context(|| format!("no user with email {email}"))
}

async fn set_lock(db: &Db, email: &str, lock: bool) -> anyhow::Result<()> {
    let user = user_by_email(db, email).await?;
    let updated = actions::set_lock(db, Actor::Cli, user.id.into(), lock)
        .await
        .map_err(super::describe)?;
    let state = if updated.is_locked {
        "locked"
    } else {
        "unlocked"
    };
    println!("{} is {state}", updated.email);
    Ok(())
}

async fn delete(db: &Db, config: &Config, email: &str, yes: bool) -> anyhow::Result<()> {
    if !yes {
        anyhow::bail!("deleting {email} cannot be undone: add --yes to confirm");
    }
    let user = user_by_email(db, email).await?;
    let storage = crate::storage::Storage::from_config(config)?;
    actions::delete_user(db, &storage, Actor::Cli, user.id.into())
        .await
        .map_err(super::describe)?;
    println!("deleted {}", user.email);
    Ok(())
}

async fn set_role(db: &Db, email: &str, role: Role) -> anyhow::Result<()> {
    let user = user_by_email(db, email).await?;
    let updated = actions::change_role(db, Actor::Cli, user.id.into(), role)
        .await
        .map_err(super::describe)?;
    println!("{} is now {}", updated.email, updated.role);
    Ok(())
}

async fn list(db: &Db, args: ListArgs) -> anyhow::Result<()> {
    let listing = Listing::parse(ListQuery {
        role: args.role,
        is_locked: args.locked.then_some(true),
        q: args.q,
        limit: Some(args.limit),
        skip: Some(args.offset),
        ..Default::default()
    })
    .map_err(super::describe)?;
    let (users, total) = listing.run(db).await?;
    print!("{}", table(&users));
    println!("{} of {total} user(s)", users.len());
    Ok(())
}

/// Users as a table with a header row, each column as wide as its widest cell.
pub fn table(users: &[users::Model]) -> String {
    let header = [
        "ID", "EMAIL", "NICKNAME", "ROLE", "STATUS", "VERIFIED", "CREATED",
    ];
    let rows: Vec<[String; 7]> = users
        .iter()
        .map(|u| {
            [
                u.id.to_string(),
                u.email.clone(),
                u.nickname.clone(),
                u.role.as_str().to_owned(),
                if u.is_locked { "locked" } else { "active" }.to_owned(),
                if u.email_verified { "yes" } else { "no" }.to_owned(),
                u.created_at.format("%Y-%m-%d %H:%M").to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

async fn import(db: &Db, file: &std::path::Path, dry_run: bool) -> anyhow::Result<()> {
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let on_terminal = std::io::stderr().is_terminal();
    let options = ImportOptions {
        dry_run,
        progress: Box::new(move |report, total| {
            if on_terminal {
                show_progress(report, total);
            }
        }),
        ..Default::default()
    };
    let report = csv::import(db, input, options).await?;
    if on_terminal && report.rows() > 0 {
        eprintln!();
    }
    for (line, message) in &report.errors {
        eprintln!("line {line}: {message}");
    }
    println!("{}", summary(&report, dry_run));
    if !report.errors.is_empty() {
        anyhow::bail!("{} row(s) refused", report.errors.len());
    }
    Ok(())
}

/// One line rewritten in place on the terminal.
fn show_progress(report: &ImportReport, total: u64) {
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\rrow {}/{total}: created {}, skipped {}, refused {}",
        report.rows(),
        report.created,
        report.skipped,
        report.errors.len()
    );
    let _ = err.flush();
}

fn summary(report: &ImportReport, dry_run: bool) -> String {
    let counts = format!(
        "created {}, skipped {} existing, refused {}",
        report.created,
        report.skipped,
        report.errors.len()
    );
    if dry_run {
        format!("dry run, nothing written: would have {counts}")
    } else {
        counts
    }
}

/// A new file only its owner can read (it holds personal data, and maybe
/// password hashes).
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

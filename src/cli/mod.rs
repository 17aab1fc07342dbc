//! Command-line interface: one binary, one file per subcommand.

pub mod create_admin;
pub mod healthcheck;
pub mod mail;
pub mod migrate;
pub mod serve;
pub mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// User management service and its administration commands.
#[derive(Debug, Parser)]
#[command(name = "user-management", version, about, long_about = None)]
pub struct Cli {
    /// Configuration (flags or environment variables).
    #[command(flatten)]
    pub config: Config,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply, revert or list schema migrations.
    Migrate(migrate::Args),
    /// Send a test email; inspect or retry the outbox.
    Mail(mail::Args),
    /// Create a verified administrator.
    CreateAdmin(create_admin::Args),
    /// Manage users: roles, listing, CSV export and import.
    Users(users::Args),
    /// Exit 0 if the service on HOST:PORT answers /health (for containers).
    Healthcheck,
}

/// An error of a feature function as one line for the terminal.
pub fn describe(err: crate::error::AppError) -> anyhow::Error {
    match err {
        crate::error::AppError::Validation(fields) => anyhow::anyhow!(
            "{}",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(cli.config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve::run(cli.config).await,
            Command::Migrate(args) => migrate::run(cli.config, args).await,
            Command::Mail(args) => mail::run(cli.config, args).await,
            Command::CreateAdmin(args) => create_admin::run(cli.config, args).await,
            Command::Users(args) => users::run(cli.config, args).await,
            Command::Healthcheck => healthcheck::run(cli.config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

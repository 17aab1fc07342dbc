//! Command-line interface: one binary, one file per subcommand.

pub mod create_admin;
pub mod database;
pub mod errors;
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
    anyhow::anyhow!(err.one_line())
}

/// The command-line definition, every configuration flag global so it is
/// accepted (and listed in `--help`) after any subcommand too.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().mut_args(|arg| {
        if arg.get_env().is_some() {
            arg.global(true).help_heading("Configuration")
        } else {
            arg
        }
    })
}

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> ExitCode {
    use clap::FromArgMatches;
    let mut matches = command().get_matches();
    let cli = match Cli::from_arg_matches_mut(&mut matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let config = cli.config.resolved();
    let command = cli.command.unwrap_or(Command::Serve);
    let stream = match command {
        Command::Serve => crate::telemetry::Stream::Stdout,
        _ => crate::telemetry::Stream::Stderr,
    };
    crate::telemetry::init(config.log_format, stream);
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
        match command {
            Command::Serve => serve::run(config).await,
            Command::Migrate(args) => migrate::run(config, args).await,
            Command::Mail(args) => mail::run(config, args).await,
            Command::CreateAdmin(args) => create_admin::run(config, args).await,
            Command::Users(args) => users::run(config, args).await,
            Command::Healthcheck => healthcheck::run(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", errors::one_line(&err));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn configuration_flags_work_after_a_subcommand() {
        use clap::FromArgMatches;
        let parse = |args: &[&str]| {
            let mut matches = command()
                .try_get_matches_from(args)
                .expect("the command line parses");
            Cli::from_arg_matches_mut(&mut matches).expect("into Cli")
        };
        let cli = parse(&["um", "healthcheck", "--port", "18080"]);
        assert_eq!(cli.config.port, 18080);
        assert!(matches!(cli.command, Some(Command::Healthcheck)));
        let cli = parse(&["um", "users", "list", "--database-url", "sqlite://x.db"]);
        assert_eq!(cli.config.database_url, "sqlite://x.db");
        let cli = parse(&["um", "--port", "1", "mail", "status"]);
        assert_eq!(cli.config.port, 1, "before the subcommand too");
    }
}

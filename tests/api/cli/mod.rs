//! The administration CLI (`src/cli/`), one file per subcommand, run as the
//! real binary against a test app's database and SMTP sink; here, what all
//! subcommands share: `--help`, and flags that name their variables.

mod create_admin;
mod healthcheck;
mod mail;
mod migrate;
mod users;

use std::path::Path;

use crate::helpers::binary::{binary, stderr_of, stdout_of};

const SECRET: &str = "help-must-not-show-this-secret-0123456789";

/// Each subcommand's `--help` succeeds, shows its usage line, and no secret
/// from the environment.
fn assert_every_subcommand_has_help(dir: &Path) {
    let commands: [&[&str]; 14] = [
        &[],
        &["serve"],
        &["migrate"],
        &["mail"],
        &["mail", "test"],
        &["mail", "status"],
        &["mail", "retry"],
        &["create-admin"],
        &["users"],
        &["users", "set-role"],
        &["users", "list"],
        &["users", "export"],
        &["users", "import"],
        &["healthcheck"],
    ];
    for command in commands {
        let output = binary(dir)
            .env("JWT_SECRET", SECRET)
            .args(command)
            .arg("--help")
            .output()
            .expect("run --help");
        let help = stdout_of(&output);
        assert!(
            output.status.success(),
            "{command:?} --help: {}",
            stderr_of(&output)
        );
        let usage = ["Usage: user-management"]
            .into_iter()
            .chain(command.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(help.contains(&usage), "{command:?}: {help}");
        assert!(!help.contains(SECRET), "{command:?} shows a secret: {help}");
    }
}

/// The top-level `--help` lists every subcommand and names the variable
/// behind each flag.
fn assert_top_level_help_names_variables(dir: &Path) {
    let top = binary(dir).arg("--help").output().expect("run --help");
    let help = stdout_of(&top);
    for name in [
        "serve",
        "migrate",
        "mail",
        "create-admin",
        "users",
        "healthcheck",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} listed: {help}"
        );
    }
    for variable in [
        "DATABASE_URL",
        "SMTP_URL",
        "JWT_SECRET",
        "HOST",
        "PORT",
        "LOG_FORMAT",
        "SHUTDOWN_TIMEOUT",
        "ADMIN_PASSWORD",
    ] {
        assert!(
            help.contains(&format!("env: {variable}")),
            "{variable} named: {help}"
        );
    }
}

#[test]
fn every_subcommand_has_help_and_flags_name_their_variables() {
    let dir = tempfile::tempdir().expect("dir");
    assert_every_subcommand_has_help(dir.path());
    assert_top_level_help_names_variables(dir.path());
}

//! The administration CLI (`src/cli/`), one file per subcommand, run as the
//! real binary against a test app's database and SMTP sink; here, what all
//! subcommands share: `--help`, and flags that name their variables.

mod create_admin;
mod healthcheck;
mod mail;
mod migrate;
mod serve;
mod users;

use std::path::Path;

use crate::helpers::binary::{binary, stderr_of, stdout_of};
use crate::helpers::binary::{free_port, run, text};
use crate::helpers::{DATA_ENCRYPTION_KEY, JWT_SECRET, PgDatabase};
use migrate::has_migration_table;
use users::HEADER;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_an_unmigrated_postgres_says_to_migrate() {
    let Some(pg) = PgDatabase::create_empty().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, format!("{HEADER}\n")).expect("csv");
    let csv = csv.to_str().expect("utf-8");
    let env = [
        ("DATABASE_URL", pg.url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("DATA_ENCRYPTION_KEY", DATA_ENCRYPTION_KEY),
    ];
    for command in [
        &["create-admin", "--email", "boss@example.com"][..],
        &["users", "list"],
        &["users", "export"],
        &["users", "import", csv],
        &["users", "set-role", "a@example.com", "ADMIN"],
        &["mail", "status"],
        &["mail", "retry"],
    ] {
        let out = run(
            dir.path(),
            &[&env[..], &[("ADMIN_PASSWORD", "admin-pass-phrase")]].concat(),
            command,
        );
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{command:?}");
        assert!(
            err.contains("run `user-management migrate up`"),
            "{command:?}: {err}"
        );
        assert!(
            !err.contains("at line") && !err.contains("relation"),
            "{command:?}: {err}"
        );
    }
    assert!(!has_migration_table(&pg.url).await, "nothing was written");
}

// ------------------------------------------------------------ logs and errors

#[test]
fn command_logs_go_to_stderr_uncoloured_and_output_stays_clean() {
    let dir = tempfile::tempdir().expect("dir");
    for format in ["pretty", "json"] {
        let out = run(
            dir.path(),
            &[("LOG_FORMAT", format)],
            &["mail", "test", "--to", "someone@example.com"],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert_eq!(
            stdout.lines().count(),
            1,
            "{format}: only the result: {stdout}"
        );
        assert!(
            stdout.starts_with("test message sent to someone@example.com"),
            "{stdout}"
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("mail written to the outbox directory"),
            "{format}: {stderr}"
        );
        assert!(
            !stderr.contains('\u{1b}'),
            "{format}: colours off a terminal: {stderr:?}"
        );
    }
}

#[test]
fn an_unreachable_database_is_named_once() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let url = format!("postgres://nobody@127.0.0.1:{port}/none");
    // The service at start and a command say the same, once.
    for command in [&["users", "list"][..], &["serve", "--port", "0"][..]] {
        let out = run(
            dir.path(),
            &[
                ("DATABASE_URL", &url),
                ("JWT_SECRET", JWT_SECRET),
                ("DATA_ENCRYPTION_KEY", DATA_ENCRYPTION_KEY),
            ],
            command,
        );
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{command:?}");
        let line = err
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("{command:?}: no error line in {err}"));
        assert!(
            line.starts_with("error: DATABASE_URL: cannot connect to the database: "),
            "{command:?}: {line}"
        );
        assert_eq!(line.matches("cannot connect").count(), 1, "{line}");
        assert!(line.contains("refused"), "{command:?}: the cause: {line}");
        if command[0] == "users" {
            assert_eq!(err.lines().count(), 1, "only the error: {err}");
        }
    }
}

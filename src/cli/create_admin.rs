//! `user-management create-admin --email E [--password-stdin]`.

use std::io::BufRead;

use anyhow::Context;
use secrecy::SecretString;

use crate::auth::hashing::PasswordHashing;
use crate::config::Config;
use crate::users::bootstrap::{Outcome, ensure_admin};

/// Arguments of `create-admin`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The administrator's email.
    #[arg(long)]
    pub email: String,
    /// Read the password from the first line of standard input (else `ADMIN_PASSWORD`).
    #[arg(long)]
    pub password_stdin: bool,
}

/// Creates a verified ADMIN, unless the email already has an account.
pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        config.admin_password.clone().context(
            "give the password on standard input with --password-stdin, or set ADMIN_PASSWORD",
        )?
    };
    let db = super::database::open(&config).await?;
    let hashing = PasswordHashing::with_defaults()?;
    let (outcome, user) = ensure_admin(&db, &hashing, &args.email, &password, "create-admin")
        .await
        .map_err(super::describe)?;
    match outcome {
        Outcome::Created => println!("created administrator {} ({})", user.email, user.id),
        Outcome::AlreadyExists if user.role == crate::domain::Role::Admin => {
            println!("{} is already an administrator", user.email)
        }
        Outcome::AlreadyExists => anyhow::bail!(
            "{} already has an account with role {}; use `user-management users set-role {} ADMIN`",
            user.email,
            user.role,
            user.email
        ),
    }
    Ok(())
}

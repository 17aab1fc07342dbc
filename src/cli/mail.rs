//! `user-management mail …`: check the mail setup and the outbox.

use anyhow::Context;

use crate::config::Config;
use crate::db;
use crate::email::outbox;
use crate::email::templates::{Templates, build_message};
use crate::email::transport::Transport;

/// Arguments of `mail`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Mail subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Send the test message now, straight through SMTP_URL (or to the
    /// outbox directory), and report the outcome.
    Test {
        /// Recipient.
        #[arg(long)]
        to: String,
    },
    /// Count pending, sent and failed messages; list the latest failures.
    Status,
    /// Put every failed message back in the queue.
    Retry,
}

/// Runs a mail subcommand.
pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Test { to } => {
            let templates = Templates::load(config.email_templates_dir.as_deref())?;
            let rendered = templates.render(
                "test",
                &serde_json::json!({ "sent_at": chrono::Utc::now().to_rfc3339() }),
            )?;
            let message = build_message(&config.mail_from, &to, &rendered)?;
            let transport =
                Transport::from_config(config.smtp_url.as_ref(), config.data_dir.join("outbox"))?;
            transport
                .send(uuid::Uuid::now_v7(), message, &rendered.text)
                .await
                .with_context(|| format!("sending through {}", transport.describe()))?;
            println!("test message sent to {to} through {}", transport.describe());
        }
        Command::Status => {
            let db = connect(&config).await?;
            let counts = outbox::counts(&db).await?;
            println!(
                "pending {}  sent {}  failed {}",
                counts.pending, counts.sent, counts.failed
            );
            for row in outbox::failed(&db, 20).await? {
                println!(
                    "failed {} {} attempts={} error={}",
                    row.id,
                    row.template,
                    row.attempts,
                    row.last_error.unwrap_or_default()
                );
            }
        }
        Command::Retry => {
            let db = connect(&config).await?;
            let n = outbox::requeue_failed(&db).await?;
            println!("{n} failed message(s) queued again");
        }
    }
    Ok(())
}

async fn connect(config: &Config) -> anyhow::Result<db::Db> {
    super::database::open(config).await
}

//! The delivery worker: claims due messages from the outbox, renders and
//! sends them, retries with exponential backoff up to a cap.

use std::sync::Arc;
use std::time::Duration;

use crate::shutdown::Shutdown;
use tokio::sync::Notify;

use super::outbox;
use super::templates::{Templates, build_message};
use super::transport::{SendError, Transport};
use crate::db::{Db, entities::email_outbox};

/// How often the worker looks for due messages when nobody wakes it.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A message ready to render: recipient, template and its variables.
#[derive(Debug, Clone)]
pub struct Composed {
    /// The recipient address.
    pub to: String,
    /// The template name.
    pub template: String,
    /// The template variables.
    pub payload: serde_json::Value,
}

/// Turns an outbox row into a message. Most rows carry their message
/// already; deferred requests (`*_request`) are resolved here, at delivery,
/// which may find nobody to send to (`None`).
#[async_trait::async_trait]
pub trait Compose: Send + Sync {
    /// Composes the message of `row`.
    async fn compose(&self, row: &email_outbox::Model) -> Result<Option<Composed>, sea_orm::DbErr>;
}

/// Every row as it is: no deferred requests.
pub struct AsQueued;

#[async_trait::async_trait]
impl Compose for AsQueued {
    async fn compose(&self, row: &email_outbox::Model) -> Result<Option<Composed>, sea_orm::DbErr> {
        Ok(Some(Composed {
            to: row.recipient.clone(),
            template: row.template.clone(),
            payload: row.payload.clone(),
        }))
    }
}

/// Everything the worker needs.
pub struct Worker {
    /// The database holding the outbox.
    pub db: Db,
    /// Where mail goes.
    pub transport: Transport,
    /// Message templates.
    pub templates: Templates,
    /// The sender address.
    pub from: String,
    /// Woken when a transaction queued mail.
    pub wake: Arc<Notify>,
    /// Resolves rows into messages.
    pub composer: Arc<dyn Compose>,
    /// Attempts before giving up.
    pub max_attempts: i32,
    /// Delay before the first retry.
    pub retry_delay: Duration,
}

/// Delay before attempt `attempts + 1`: `first`, then doubling, capped at one hour.
pub fn backoff(first: Duration, attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    first
        .saturating_mul(2u32.saturating_pow(exp))
        .min(Duration::from_secs(3600))
}

impl Worker {
    /// Runs until `shutdown` fires, finishing the message in hand first.
    pub async fn run(self, mut shutdown: Shutdown) {
        loop {
            match self.deliver_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "mail worker: outbox unavailable"),
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
            if shutdown.is_triggered() {
                return;
            }
        }
    }

    /// Delivers the next due message; `Ok(false)` when none was due.
    pub async fn deliver_one(&self) -> Result<bool, sea_orm::DbErr> {
        let Some(row) = outbox::claim_next(&self.db).await? else {
            return Ok(false);
        };
        let Some(message) = self.composer.compose(&row).await? else {
            tracing::debug!(mail_id = %row.id, "deferred mail request has no recipient; discarded");
            outbox::discard(&self.db, &row).await?;
            return Ok(true);
        };
        let result = match self.templates.render(&message.template, &message.payload) {
            Ok(rendered) => match build_message(&self.from, &message.to, &rendered) {
                Ok(message) => self.transport.send(row.id, message, &rendered.text).await,
                Err(e) => Err(SendError::Permanent(e.to_string())),
            },
            Err(e) => Err(SendError::Permanent(e.to_string())),
        };
        match result {
            Ok(()) => {
                tracing::info!(mail_id = %row.id, template = %row.template, "mail delivered");
                outbox::mark_sent(&self.db, &row).await?;
            }
            Err(err) => {
                let retry = match &err {
                    SendError::Transient(_) if row.attempts < self.max_attempts => {
                        Some(backoff(self.retry_delay, row.attempts))
                    }
                    _ => None,
                };
                tracing::warn!(
                    mail_id = %row.id,
                    template = %row.template,
                    attempts = row.attempts,
                    retry_in = ?retry,
                    error = %err,
                    "mail delivery failed"
                );
                outbox::mark_failed(&self.db, &row, &err.to_string(), retry).await?;
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let first = Duration::from_secs(5);
        assert_eq!(backoff(first, 1), Duration::from_secs(5));
        assert_eq!(backoff(first, 2), Duration::from_secs(10));
        assert_eq!(backoff(first, 4), Duration::from_secs(40));
        assert_eq!(backoff(first, 30), Duration::from_secs(3600));
    }
}

//! Logging: one subscriber for the process, compact for a terminal or JSON
//! lines for a collector; `RUST_LOG` filters, with SQL statement logs quiet.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber (once; later calls are ignored, which tests rely on).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("sqlx=warn".parse().unwrap_or_default())
        .add_directive("sea_orm=warn".parse().unwrap_or_default())
        .add_directive("sea_orm_migration=warn".parse().unwrap_or_default());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// Records the outcome of a password login (no personal data): a log
/// event and the `login_attempts_total` metric.
pub fn login_outcome(outcome: &'static str) {
    tracing::info!(outcome, "login attempt");
    crate::metrics::login_outcome(outcome);
}

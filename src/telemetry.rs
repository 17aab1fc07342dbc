//! Logging: one subscriber for the process, compact for a terminal or JSON
//! lines for a collector; `RUST_LOG` filters, with SQL statement logs quiet.
//!
//! The service logs to standard output; the administration commands log to
//! standard error, so their output on standard output stays clean. Colours
//! only when the log stream is a terminal and `NO_COLOR` is unset.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (the service).
    Stdout,
    /// Standard error (commands whose output is on standard output).
    Stderr,
}

impl Stream {
    fn is_terminal(self) -> bool {
        match self {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// Whether to colour: only on a terminal, and not when `NO_COLOR` is set
/// to a non-empty value (<https://no-color.org>).
pub fn use_colour(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber (once; later calls are ignored, which tests rely on).
pub fn init(format: LogFormat, stream: Stream) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("sqlx=warn".parse().unwrap_or_default())
        .add_directive("sea_orm=warn".parse().unwrap_or_default())
        .add_directive("sea_orm_migration=warn".parse().unwrap_or_default());
    let ansi = use_colour(
        stream.is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let _ = match (format, stream) {
        (LogFormat::Json, Stream::Stdout) => builder.json().flatten_event(true).try_init(),
        (LogFormat::Json, Stream::Stderr) => builder
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .try_init(),
        (LogFormat::Pretty, Stream::Stdout) => builder.compact().try_init(),
        (LogFormat::Pretty, Stream::Stderr) => {
            builder.compact().with_writer(std::io::stderr).try_init()
        }
    };
}

/// Records the outcome of a password login (no personal data): a log
/// event and the `login_attempts_total` metric.
pub fn login_outcome(outcome: &'static str) {
    tracing::info!(outcome, "login attempt");
    crate::metrics::login_outcome(outcome);
}

#[cfg(test)]
mod tests {
    use super::use_colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(
            use_colour(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
        assert!(!use_colour(false, Some(OsStr::new("1"))));
    }
}

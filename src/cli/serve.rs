//! `user-management serve`: run the HTTP service.
//!
//! On the embedded default (SQLite), the service holds an exclusive lock
//! on a file in the data directory for as long as it runs, so a second
//! `serve` on the same data refuses to start. Other commands do not take
//! the lock: they run beside the service.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};

use anyhow::Context;

use crate::config::Config;
use crate::startup::Application;

/// The lock file in the data directory.
pub const LOCK_FILE: &str = "serve.lock";

/// Builds and runs the application until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // A bad setting is reported as such, not as a lock held by another service.
    config.validate()?;
    let _lock = if config.is_embedded() {
        Some(lock_data_dir(&config)?)
    } else {
        None
    };
    let app = Application::build(config).await?;
    tracing::info!("{}", app.banner());
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Takes the data directory's lock (released when the file is closed, at
/// the latest when the process ends) and writes this process's id in it.
fn lock_data_dir(config: &Config) -> anyhow::Result<File> {
    config.prepare_data_dir()?;
    let path = config.data_dir.join(LOCK_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("DATA_DIR: cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            anyhow::bail!(
                "another user-management service{holder} is already running on the data directory {} \
                 (it holds {}): stop it first, or give this one its own DATA_DIR and DATABASE_URL",
                config.data_dir.display(),
                path.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("DATA_DIR: cannot lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(file)
}

//! `user-management serve`: run the HTTP service.

use crate::config::Config;
use crate::startup::Application;

/// Builds and runs the application until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    tracing::info!("{}", app.banner());
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

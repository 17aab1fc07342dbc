//! Building the application (state, router, listener, workers) apart from
//! running it, so tests start the real thing on port 0.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::auth::hashing::PasswordHashing;
use crate::auth::jwt::JwtKeys;
use crate::config::Config;
use crate::email::templates::Templates;
use crate::email::transport::Transport;
use crate::email::worker::Worker;
use crate::http::client::TrustedProxies;
use crate::http::ratelimit::AuthRateLimit;
use crate::http::serve::Limits;
use crate::pictures::limits::{DecodeBudget, UPLOAD_WINDOW, UploadLimit};
use crate::shutdown::{self, Shutdown};
use crate::state::{AppState, Shared};
use crate::storage::Storage;
use crate::{db, users};

/// A built application: listening, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    worker: Worker,
    state: AppState,
}

impl Application {
    /// Connects to the database (migrating it on the embedded default), builds
    /// the state and binds the listener. Fails with a message naming the
    /// setting at fault.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_hashing(config, PasswordHashing::with_defaults()?).await
    }

    /// As [`Application::build`], with a given hashing pool.
    pub async fn build_with_hashing(
        mut config: Config,
        hashing: PasswordHashing,
    ) -> anyhow::Result<Self> {
        config.validate()?;
        config.prepare_data_dir()?;
        // Install the recorder before anything is counted.
        crate::metrics::handle();
        let db = db::open::open(&config.database_url, config.is_embedded()).await?;
        let transport =
            Transport::from_config(config.smtp_url.as_ref(), config.data_dir.join("outbox"))?;
        let storage = Storage::from_config(&config)?;
        storage.check().await.map_err(|e| {
            anyhow::anyhow!(
                "STORAGE_URL: {} is unreachable or does not exist (create the bucket first): {e}",
                storage.describe()
            )
        })?;
        let templates = Templates::load(config.email_templates_dir.as_deref())
            .context("EMAIL_TEMPLATES_DIR: cannot load the email templates")?;
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| {
                format!(
                    "HOST/PORT: cannot listen on {}:{}",
                    config.host, config.port
                )
            })?;
        config.resolve_base_url(listener.local_addr()?.port());
        let mail_wake = Arc::new(Notify::new());
        let state = shared_state(config, db.clone(), hashing, storage, Arc::clone(&mail_wake))?;
        let config = Arc::clone(&state.config);
        ensure_configured_admin(&state).await?;
        // Failed logins are padded to what a legacy hash costs: learn it now.
        for legacy in users::repo::costliest_legacy_hashes(&state.db).await? {
            state.hashing.calibrate(legacy).await?;
        }
        let worker = Worker {
            db,
            transport,
            templates,
            from: config.mail_from.clone(),
            wake: mail_wake,
            composer: Arc::new(users::deferred_mail::Composer {
                db: state.db.clone(),
                config: Arc::clone(&config),
                code_keys: state.code_keys.clone(),
            }),
            max_attempts: config.mail_max_attempts,
            retry_delay: config.mail_retry_delay,
        };
        Ok(Self {
            router: crate::http::router::router(state.clone()),
            listener,
            worker,
            state,
        })
    }

    /// The bound port (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The shared state (tests use its pool).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A one-paragraph description of where things are, for the start-up log.
    pub fn banner(&self) -> String {
        let config = &self.state.config;
        let local = self.listener.local_addr().ok();
        let addr = local.map(|a| a.to_string()).unwrap_or_default();
        // The docs as this machine reaches them: a wildcard address answers on loopback.
        let docs = local.map_or_else(String::new, |mut a| {
            if a.ip().is_unspecified() {
                a.set_ip(match a.ip() {
                    std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            format!("http://{a}/docs/")
        });
        let database = if config.is_embedded() {
            format!("SQLite ({})", config.database_url)
        } else {
            "PostgreSQL".to_owned()
        };
        format!(
            "listening on http://{addr} — docs at {docs} — public URL: {base} — database: {database} — storage: {storage} — mail: {mail}",
            base = config.base_url(),
            storage = self.state.storage.describe(),
            mail = self.worker.transport.describe(),
        )
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (trigger, shutdown) = shutdown::channel();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            trigger.fire();
        });
        self.serve(shutdown).await
    }

    /// Serves until `shutdown` fires, then lets in-flight requests and the
    /// message in hand of the mail worker finish.
    pub async fn serve(self, shutdown: Shutdown) -> std::io::Result<()> {
        self.state.auth_rate_limit.spawn_janitor();
        self.state.upload_limit.spawn_janitor();
        let grace = self.state.config.shutdown_timeout;
        let worker = tokio::spawn(self.worker.run(shutdown.clone()));
        let server_shutdown = shutdown.clone();
        let limits = Limits {
            header_read_timeout: self.state.config.header_read_timeout,
            max_connections: self.state.config.max_connections,
        };
        let server = async move {
            crate::http::serve::serve(self.listener, self.router, limits, server_shutdown).await;
            Ok(())
        };
        let mut deadline = shutdown.clone();
        let result = tokio::select! {
            result = server => result,
            () = async move {
                deadline.wait().await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(?grace, "SHUTDOWN_TIMEOUT reached: dropping unfinished requests");
                Ok(())
            }
        };
        let _ = tokio::time::timeout(grace, worker).await;
        result
    }
}

/// The state every handler reaches.
fn shared_state(
    config: Config,
    db: db::Db,
    hashing: PasswordHashing,
    storage: Storage,
    mail_wake: Arc<Notify>,
) -> anyhow::Result<AppState> {
    let secret = config.jwt_secret()?;
    let site = crate::pages::site::Site::new(&config, &secret)?;
    let jwt = JwtKeys::new(
        &secret,
        config.base_url().to_owned(),
        config.access_token_ttl,
    );
    let address_keys = crate::auth::address_keys::AddressKeys::new(&secret);
    let code_keys = users::codes::CodeKeys::new(&secret);
    let data_keys = config.data_encryption_keys()?;
    let trusted_proxies = TrustedProxies::parse(&config.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("TRUSTED_PROXIES: {e}"))?;
    let decode_budget =
        DecodeBudget::new(config.picture_decode_budget_mib, config.picture_decode_wait);
    let upload_limit = UploadLimit::new(config.picture_upload_limit, UPLOAD_WINDOW);
    let auth_rate_limit =
        AuthRateLimit::for_database(&db, config.auth_rate_limit, config.rate_limit_ipv6_prefix);
    Ok(AppState::new(Shared {
        lookup: db::lookup::Lookup::beside(&db),
        db,
        auth_rate_limit,
        config: Arc::new(config),
        jwt,
        address_keys,
        code_keys,
        data_keys,
        hashing,
        mail_wake,
        trusted_proxies,
        storage,
        image_workers: crate::workers::Workers::per_core("images")?,
        decode_budget,
        upload_limit,
        site,
    }))
}

/// The ADMIN named by `ADMIN_EMAIL`/`ADMIN_PASSWORD`, created if absent.
async fn ensure_configured_admin(state: &AppState) -> anyhow::Result<()> {
    let config = &state.config;
    let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) else {
        return Ok(());
    };
    let (outcome, _) =
        users::bootstrap::ensure_admin(&state.db, &state.hashing, email, password, "ADMIN_EMAIL")
            .await
            .map_err(|e| anyhow::anyhow!("ADMIN_EMAIL/ADMIN_PASSWORD: {}", e.one_line()))?;
    if outcome == users::bootstrap::Outcome::Created {
        tracing::info!("created the administrator named by ADMIN_EMAIL");
    }
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

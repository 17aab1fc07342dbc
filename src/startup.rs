//! Building the application (state, router, listener, workers) apart from
//! running it, so tests start the real thing on port 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::Layer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHashing;
use crate::config::Config;
use crate::email::templates::Templates;
use crate::email::transport::Transport;
use crate::email::worker::Worker;
use crate::error::{AppError, problem_response};
use crate::shutdown::{self, Shutdown};
use crate::state::{AppState, Shared};
use crate::storage::Storage;
use crate::{auth, db, openapi, ops, users};

/// The docs page: own scripts and styles only (Swagger UI sets inline
/// styles), no framing, requests only to this service.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// Largest JSON or form body.
const BODY_LIMIT: usize = 64 * 1024;

/// The API routes and their OpenAPI document.
pub fn api(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let limited = OpenApiRouter::new()
        .merge(auth::limited_router())
        .merge(users::limited_router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::limit,
        ));
    let (router, api) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(ops::router())
        .merge(limited)
        .merge(auth::router())
        .merge(users::router())
        .merge(crate::audit::router())
        .merge(crate::pictures::router())
        .merge(
            crate::pictures::upload_router().layer(axum::extract::DefaultBodyLimit::max(
                state.config.avatar_max_bytes.saturating_add(64 * 1024),
            )),
        )
        .split_for_parts();
    let router = router
        .fallback(|| async { AppError::NotFound("no such resource".into()) })
        .method_not_allowed_fallback(|| async {
            problem_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "this method is not allowed on this resource".into(),
                None,
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state);
    (router, api)
}

/// The whole HTTP application: API (trailing slashes trimmed), docs, and
/// the cross-cutting layers.
pub fn router(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let (api_router, api_doc) = api(state);
    // Swagger's own routes redirect /docs to /docs/, so they stay outside
    // the trailing-slash normalisation.
    // JSON answers load nothing; the docs page loads only its own bundled assets.
    let api_router = api_router.layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ));
    let normalized = NormalizePathLayer::trim_trailing_slash().layer(api_router);
    // No validator badge: it would call an external service from the browser.
    let docs_config = utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none");
    let docs: Router = Router::from(
        SwaggerUi::new("/docs")
            .url("/openapi.json", api_doc)
            .config(docs_config),
    )
    .layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    ));
    let mut app = docs
        .fallback_service(normalized)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ));
    if let Some(cors) = cors(&config.cors_allowed_origins) {
        app = app.layer(cors);
    }
    let request_id = HeaderName::from_static("x-request-id");
    // A panic is a bug; still, the client gets a problem+json 500, not a cut connection.
    app.layer(tower_http::catch_panic::CatchPanicLayer::custom(
        |_: Box<dyn std::any::Any + Send>| {
            tracing::error!("a request handler panicked");
            problem_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "an internal error occurred".into(),
                None,
            )
        },
    ))
    .layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        config.request_timeout,
    ))
    .layer(PropagateRequestIdLayer::new(request_id.clone()))
    .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The span of one request. It names the matched route template, never the
/// raw path: paths can carry tokens (`/verify-email/{user_id}/{token}`).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %request.method(), route, request_id = %id)
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| !o.trim().is_empty())
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(600)),
    )
}

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
        let jwt_secret = config.jwt_secret()?;
        let db = db::connect(&config.database_url)
            .await
            .context("DATABASE_URL: cannot connect to the database")?;
        if config.is_embedded() {
            db::migrate(&db).await.context("applying migrations")?;
        } else {
            check_migrated(&db).await?;
        }
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
        let jwt = JwtKeys::new(
            &jwt_secret,
            config.base_url().to_owned(),
            config.access_token_ttl,
        );
        let config = Arc::new(config);
        let state = AppState::new(Shared {
            db: db.clone(),
            lookup: db::lookup::Lookup::beside(&db),
            config: Arc::clone(&config),
            jwt,
            hashing,
            mail_wake: Arc::clone(&mail_wake),
            trusted_proxies: crate::ratelimit::TrustedProxies::parse(&config.trusted_proxies)
                .map_err(|e| anyhow::anyhow!("TRUSTED_PROXIES: {e}"))?,
            auth_rate_limit: crate::ratelimit::AuthRateLimit::new(config.auth_rate_limit),
            storage,
            image_workers: crate::workers::Workers::per_core("images")?,
            upload_slots: Arc::new(tokio::sync::Semaphore::new(
                2 * crate::workers::Workers::cores(),
            )),
        });
        if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) {
            let (outcome, _) =
                users::bootstrap::ensure_admin(&db, &state.hashing, email, password, "ADMIN_EMAIL")
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("ADMIN_EMAIL/ADMIN_PASSWORD: {}", crate::cli::describe(e))
                    })?;
            if outcome == users::bootstrap::Outcome::Created {
                tracing::info!("created the administrator named by ADMIN_EMAIL");
            }
        }
        let worker = Worker {
            db,
            transport,
            templates,
            from: config.mail_from.clone(),
            wake: mail_wake,
            composer: Arc::new(users::recovery::Composer {
                db: state.db.clone(),
                config: Arc::clone(&config),
            }),
            max_attempts: config.mail_max_attempts,
            retry_delay: config.mail_retry_delay,
        };
        Ok(Self {
            router: router(state.clone()),
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
        let grace = self.state.config.shutdown_timeout;
        let worker = tokio::spawn(self.worker.run(shutdown.clone()));
        let mut server_shutdown = shutdown.clone();
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(self.listener, service)
            .with_graceful_shutdown(async move { server_shutdown.wait().await })
            .into_future();
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

async fn check_migrated(db: &db::Db) -> anyhow::Result<()> {
    use sea_orm_migration::MigratorTrait;
    let pending = db::Migrator::get_pending_migrations_read_only(db)
        .await
        .context("reading the migration status")?;
    if !pending.is_empty() {
        anyhow::bail!(
            "the database has {} pending migration(s): run `user-management migrate up` first",
            pending.len()
        );
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

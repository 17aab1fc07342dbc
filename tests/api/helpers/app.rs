//! [`TestApp`]: the real application on port 0 with a fresh database and
//! its own SMTP sink; a [`Sibling`] instance on the same database.

use sea_orm::ConnectionTrait;
use secrecy::SecretString;
use user_management::config::Config;
use user_management::db::Db;
use user_management::shutdown::{self, Trigger};
use user_management::startup::Application;
use user_management::state::AppState;

use super::Backend;
use super::postgres::PgDatabase;
use super::smtp::SmtpSink;

/// The JWT secret of every test app.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// The data encryption key of test services (32 bytes, base64).
pub const DATA_ENCRYPTION_KEY: &str = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktMDEyMzQ=";

/// A password that passes the policy.
pub const PASSWORD: &str = "plenty-long-passphrase";

/// A password that is not the user's.
pub const WRONG: &str = "not-the-right-passphrase";

/// The issuer of the tokens of every test app (its default public base URL).
pub const ISSUER: &str = "http://localhost:8000";

/// The administrator [`spawn_app_with_admin`] creates from the environment.
pub const ADMIN_EMAIL: &str = "root@example.com";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-pass-phrase";

/// A running application and handles to what it talks to.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client that does not follow redirects.
    pub client: reqwest::Client,
    /// The application's database, for arrange and assert.
    pub db: Db,
    /// The SMTP server the application delivers to.
    pub smtp: SmtpSink,
    /// Which database this is.
    pub backend: Backend,
    /// The configuration it runs with.
    pub config: Config,
    /// Its shared state (to hold a budget or read a setting in a test).
    pub state: AppState,
    trigger: Trigger,
    _data_dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.trigger.fire();
    }
}

/// Starts the application on `backend`; `None` when PostgreSQL is
/// unavailable outside CI (the test then returns early).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the application with `ADMIN_EMAIL`/`ADMIN_PASSWORD` set, so it
/// creates that administrator at start.
pub async fn spawn_app_with_admin(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |c| {
        c.admin_email = Some(ADMIN_EMAIL.into());
        c.admin_password = Some(SecretString::from(ADMIN_PASSWORD.to_owned()));
    })
    .await
}

/// As [`spawn_app`], after `configure` adjusts the configuration.
pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
) -> Option<TestApp> {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (database_url, pg) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", data_dir.path().join("users.db").display()),
            None,
        ),
        Backend::Postgres => {
            let pg = PgDatabase::create_empty().await?;
            (pg.url.clone(), Some(pg))
        }
    };
    let smtp = SmtpSink::start().await;
    let mut config = Config::from_env().expect("default config");
    config.database_url = database_url;
    config.storage_url = format!("file://{}", data_dir.path().join("objects").display());
    config.data_dir = data_dir.path().to_owned();
    config.smtp_url = Some(SecretString::from(smtp.url()));
    config.jwt_secret = Some(SecretString::from(JWT_SECRET.to_owned()));
    config.data_encryption_key = Some(SecretString::from(DATA_ENCRYPTION_KEY.to_owned()));
    config.host = "127.0.0.1".parse().expect("ip");
    config.port = 0;
    // Fixed, so links and the token issuer do not depend on the port drawn.
    config.public_base_url = Some("http://localhost:8000".into());
    config.auth_rate_limit = 0;
    configure(&mut config);
    if backend == Backend::Postgres {
        migrate(&config.database_url).await;
    }
    let app = Application::build(config.clone())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    let state = app.state().clone();
    let (trigger, shutdown) = shutdown::channel();
    tokio::spawn(app.serve(shutdown));
    Some(TestApp {
        // API clients name JSON; the page tests ask for HTML themselves.
        client: reqwest::Client::builder()
            .default_headers(reqwest::header::HeaderMap::from_iter([(
                reqwest::header::ACCEPT,
                reqwest::header::HeaderValue::from_static("application/json"),
            )]))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        address,
        db,
        smtp,
        backend,
        config,
        state,
        trigger,
        _data_dir: data_dir,
        _pg: pg,
    })
}

/// Applies every migration to the database at `url`.
pub async fn migrate(url: &str) {
    let db = user_management::db::connect(url)
        .await
        .expect("connect to migrate");
    user_management::db::migrate(&db)
        .await
        .expect("migrations apply");
    db.close().await.expect("close");
}

/// A second instance of the service on the same database and SMTP sink
/// (another port), as a load balancer would run it. Dropped with its handle.
pub struct Sibling {
    /// `http://127.0.0.1:PORT` of the second instance.
    pub address: String,
    trigger: Trigger,
}

impl Drop for Sibling {
    fn drop(&mut self) {
        self.trigger.fire();
    }
}

impl TestApp {
    /// Starts another instance on this app's database.
    pub async fn sibling(&self) -> Sibling {
        let app = Application::build(self.config.clone())
            .await
            .expect("second instance builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let (trigger, shutdown) = shutdown::channel();
        tokio::spawn(app.serve(shutdown));
        Sibling { address, trigger }
    }

    /// The port the app listens on.
    pub fn port(&self) -> u16 {
        self.address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    /// Runs one SQL statement (test arrangement only).
    pub async fn execute(&self, sql: &str) {
        self.db.execute_unprepared(sql).await.expect("sql");
    }
}

//! The test harness: the real application on port 0, against a fresh
//! database (SQLite file or PostgreSQL database) per test, with a real SMTP
//! sink on loopback.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (a server URL whose user may
//! create databases), else from a throwaway cluster started with the local
//! `initdb`/`pg_ctl` (not as root), else its tests are skipped with a
//! message — except under `CI=true`, where a missing PostgreSQL fails.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use secrecy::SecretString;
use serde_json::{Value, json};
use user_management::config::Config;
use user_management::db::Db;
use user_management::shutdown::{self, Trigger};
use user_management::startup::Application;

use crate::smtp::SmtpSink;

/// The two databases every data test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `async fn $name(backend: Backend)` as two tests, `$name::sqlite`
/// and `$name::postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A running application and handles to what it talks to.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client that does not follow redirects.
    pub client: Client,
    /// The application's database, for arrange and assert.
    pub db: Db,
    /// The SMTP server the application delivers to.
    pub smtp: SmtpSink,
    /// Which database this is.
    pub backend: Backend,
    /// The configuration it runs with.
    pub config: Config,
    trigger: Trigger,
    _data_dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.trigger.fire();
    }
}

/// The JWT secret of every test app.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// A password that passes the policy.
pub const PASSWORD: &str = "plenty-long-passphrase";

/// Starts the application on `backend`; `None` when PostgreSQL is
/// unavailable outside CI (the test then returns early).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
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
            let pg = PgDatabase::create().await?;
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
    let port = app.port();
    let address = format!("http://127.0.0.1:{port}");
    let db = app.state().db.clone();
    let (trigger, shutdown) = shutdown::channel();
    tokio::spawn(app.serve(shutdown));
    Some(TestApp {
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        address,
        db,
        smtp,
        backend,
        config,
        trigger,
        _data_dir: data_dir,
        _pg: pg,
    })
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
}

async fn migrate(url: &str) {
    let db = user_management::db::connect(url)
        .await
        .expect("connect to migrate");
    user_management::db::migrate(&db)
        .await
        .expect("migrations apply");
    db.close().await.expect("close");
}

impl TestApp {
    /// A request to `path` (relative to the app).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    /// POST JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// GET with an optional bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.request(Method::GET, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    /// POST a form to the token endpoint.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> Response {
        self.request(Method::POST, "/login")
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// Password-grant login.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.token_request(&[("username", email), ("password", password)])
            .await
    }

    /// Registers `email` (with `extra` fields merged into the body).
    pub async fn register(&self, email: &str, extra: Value) -> Response {
        let mut body = json!({ "email": email, "password": PASSWORD });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                body.insert(k.clone(), v.clone());
            }
        }
        self.post_json("/register", &body).await
    }

    /// The verification link from the latest verification email to `email`.
    pub async fn verification_link(&self, email: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .smtp
                .messages()
                .into_iter()
                .rev()
                .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
                .find_map(|m| link_in(&m.text(), "/verify-email/"));
            if let Some(link) = found {
                return link;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no verification email to {email} arrived"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Registers, verifies and logs in a user; returns (user id, access token, refresh token).
    pub async fn verified_user(&self, email: &str) -> (String, String, String) {
        let response = self.register(email, json!({})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
        let user: Value = response.json().await.expect("json");
        let link = self.verification_link(email).await;
        let path = path_of(&link);
        let verified = self.get(&path, None).await;
        assert_eq!(verified.status(), StatusCode::OK, "verify {email}");
        let tokens = self.login(email, PASSWORD).await;
        assert_eq!(tokens.status(), StatusCode::OK, "login {email}");
        let tokens: Value = tokens.json().await.expect("json");
        (
            user["id"].as_str().expect("id").to_owned(),
            tokens["access_token"].as_str().expect("access").to_owned(),
            tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        )
    }

    /// Runs one SQL statement (test arrangement only).
    pub async fn execute(&self, sql: &str) {
        self.db.execute_unprepared(sql).await.expect("sql");
    }
}

/// The first URL in `text` containing `marker`.
pub fn link_in(text: &str, marker: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '<' || c == '>')
        .find(|word| word.starts_with("http") && word.contains(marker))
        .map(str::to_owned)
}

/// The path (and query) of an absolute URL.
pub fn path_of(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("url");
    match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    }
}

/// Asserts a problem+json answer with `status`; returns the body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail: {body}"
    );
    body
}

/// The fields named by a 422 problem.
pub async fn invalid_fields(response: Response) -> Vec<String> {
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
}

// ---------------------------------------------------------------- PostgreSQL

/// A database created for one test and dropped after it.
pub struct PgDatabase {
    /// Its URL.
    pub url: String,
    name: String,
    server: String,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The server URL (without database), found once per test process.
fn pg_server() -> Option<&'static str> {
    static SERVER: OnceLock<Option<String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
                return Some(url);
            }
            match throwaway_cluster() {
                Ok(url) => Some(url),
                Err(why) => {
                    eprintln!("PostgreSQL tests skipped: {why}; set TEST_DATABASE_URL to run them");
                    None
                }
            }
        })
        .as_deref()
}

/// Starts a private PostgreSQL with the local initdb/pg_ctl; stopped at exit
/// only by the OS cleaning its temp dir (it is small and idles).
fn throwaway_cluster() -> Result<String, String> {
    let which = |tool: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let (Some(initdb), Some(pg_ctl)) = (which("initdb"), which("pg_ctl")) else {
        return Err("TEST_DATABASE_URL is unset and initdb/pg_ctl are not on PATH".into());
    };
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if uid == "0" {
        return Err("initdb refuses to run as root".into());
    }
    let dir = std::env::temp_dir().join(format!("um-pg-{}", std::process::id()));
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        listener.local_addr().map_err(|e| e.to_string())?.port()
    };
    let ok = |cmd: &mut std::process::Command| {
        cmd.output().map_err(|e| e.to_string()).and_then(|o| {
            if o.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&o.stderr).into_owned())
            }
        })
    };
    ok(std::process::Command::new(&initdb)
        .args(["-D"])
        .arg(&dir)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]))?;
    ok(std::process::Command::new(&pg_ctl)
        .arg("-D")
        .arg(&dir)
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            dir.display()
        ))
        .args(["-w", "start", "-l"])
        .arg(dir.join("log")))?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

impl PgDatabase {
    /// A new, empty database (`None` when PostgreSQL is unavailable outside CI).
    pub async fn create_empty() -> Option<PgDatabase> {
        Self::create().await
    }

    async fn create() -> Option<PgDatabase> {
        let Some(server) = pg_server() else {
            assert!(
                !in_ci(),
                "CI=true but PostgreSQL is unavailable: set TEST_DATABASE_URL"
            );
            return None;
        };
        let name = format!("um_test_{}", uuid::Uuid::new_v4().simple());
        let admin = connect_admin(server).await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.expect("close");
        let url = with_database(server, &name);
        Some(PgDatabase {
            url,
            name,
            server: server.to_owned(),
        })
    }
}

async fn connect_admin(server: &str) -> DatabaseConnection {
    let mut options = sea_orm::ConnectOptions::new(server.to_owned());
    options.max_connections(1).sqlx_logging(false);
    Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to TEST_DATABASE_URL PostgreSQL: {e}"))
}

/// `server` with its database path replaced by `name`.
pub fn with_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // The test's runtime is going away; drop the database from a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let admin = connect_admin(&server).await;
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                let _ = admin.close().await;
            });
        })
        .join();
    }
}

// ------------------------------------------------------------ more helpers

impl TestApp {
    /// Registers and verifies `email` without logging in; returns the user id.
    pub async fn verified_account(&self, email: &str) -> String {
        let response = self.register(email, json!({})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
        let user: Value = response.json().await.expect("json");
        let link = self.verification_link(email).await;
        let verified = self.get(&path_of(&link), None).await;
        assert_eq!(verified.status(), StatusCode::OK, "verify {email}");
        user["id"].as_str().expect("id").to_owned()
    }

    /// The stored row of user `id` (for assertions the API does not expose).
    pub async fn user_row(&self, id: &str) -> user_management::db::entities::users::Model {
        use sea_orm::EntityTrait;
        let id = uuid::Uuid::parse_str(id).expect("user id");
        user_management::db::entities::users::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .expect("query users")
            .expect("user row exists")
    }
}

/// The payload of a JWT, decoded without checking the signature.
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has a payload part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

// ------------------------------------------------------- account security

impl TestApp {
    /// A password-grant login that must succeed; returns (access token, refresh token).
    pub async fn tokens(&self, email: &str, password: &str) -> (String, String) {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login {email}");
        let tokens: Value = response.json().await.expect("json");
        (
            tokens["access_token"].as_str().expect("access").to_owned(),
            tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        )
    }

    /// Presents `refresh_token` at the token endpoint (refresh grant).
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// The token of the `nth` (1-based) password reset email to `email`,
    /// waiting up to ten seconds for it to arrive.
    pub async fn reset_token(&self, email: &str, nth: usize) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let links: Vec<String> = self
                .smtp
                .messages()
                .into_iter()
                .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
                .filter_map(|m| link_in(&m.text(), "/password/reset"))
                .collect();
            if let Some(link) = links.get(nth.saturating_sub(1)) {
                return query_param(link, "token")
                    .unwrap_or_else(|| panic!("reset link without a token: {link}"));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "reset email #{nth} to {email} did not arrive ({} did)",
                links.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the mail worker has dealt with every queued row for
    /// `recipient` that it discards (a deferred request for nobody), i.e.
    /// until the outbox holds no unsent row for that address.
    pub async fn outbox_settled_for(&self, recipient: &str) {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        use user_management::db::entities::email_outbox;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let pending = email_outbox::Entity::find()
                .filter(email_outbox::Column::Recipient.eq(recipient))
                .filter(email_outbox::Column::SentAt.is_null())
                .filter(email_outbox::Column::FailedAt.is_null())
                .count(&self.db)
                .await
                .expect("count outbox");
            if pending == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{pending} outbox row(s) for {recipient} still pending"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The value of query parameter `name` in the absolute URL `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Asserts an RFC 6749 error answer of the token endpoint with `status`
/// (`error`, `error_description` and the same text in `detail`); returns the body.
pub async fn assert_token_error(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/json", "RFC 6749 errors are JSON");
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "error: {body}"
    );
    let description = body["error_description"]
        .as_str()
        .unwrap_or_else(|| panic!("error_description: {body}"));
    assert!(!description.is_empty(), "{body}");
    assert_eq!(
        body["detail"], description,
        "detail repeats error_description"
    );
    body
}

// ------------------------------------------------------------ administration

/// The administrator [`spawn_app_with_admin`] creates from the environment.
pub const ADMIN_EMAIL: &str = "root@example.com";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-pass-phrase";

/// Starts the application with `ADMIN_EMAIL`/`ADMIN_PASSWORD` set, so it
/// creates that administrator at start.
pub async fn spawn_app_with_admin(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |c| {
        c.admin_email = Some(ADMIN_EMAIL.into());
        c.admin_password = Some(SecretString::from(ADMIN_PASSWORD.to_owned()));
    })
    .await
}

impl TestApp {
    /// Logs in as the environment administrator; returns (id, access token).
    pub async fn admin(&self) -> (String, String) {
        let (access, _) = self.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let id = jwt_claims(&access)["sub"].as_str().expect("sub").to_owned();
        (id, access)
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.request(method, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    /// Creates a user through `POST /users` as `staff_token` (password
    /// [`PASSWORD`], `role`, with `extra` fields merged); returns the user.
    pub async fn create_user_as(
        &self,
        staff_token: &str,
        email: &str,
        role: &str,
        extra: Value,
    ) -> Value {
        let mut body = json!({ "email": email, "password": PASSWORD, "role": role });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                body.insert(k.clone(), v.clone());
            }
        }
        let response = self
            .call(Method::POST, "/users", Some(staff_token), Some(&body))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "create {email}");
        response.json().await.expect("json")
    }

    /// Creates a user with `role` as `staff_token` and logs in as them;
    /// returns (id, access token).
    pub async fn user_with_role_as(
        &self,
        staff_token: &str,
        email: &str,
        role: &str,
    ) -> (String, String) {
        let user = self
            .create_user_as(staff_token, email, role, json!({}))
            .await;
        let (access, _) = self.tokens(email, PASSWORD).await;
        (user["id"].as_str().expect("id").to_owned(), access)
    }

    /// Creates a user with `role` (as the environment administrator) and
    /// logs in as them; returns (id, access token).
    pub async fn user_with_role(&self, email: &str, role: &str) -> (String, String) {
        let (_, admin) = self.admin().await;
        self.user_with_role_as(&admin, email, role).await
    }

    /// `GET /audit-events?{query}` as `admin_token`; must answer 200.
    pub async fn audit_events(&self, admin_token: &str, query: &str) -> Value {
        let response = self
            .get(&format!("/audit-events?{query}"), Some(admin_token))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "audit-events?{query}");
        response.json().await.expect("json")
    }
}

// ---------------------------------------------------------------------- S3

/// A real S3-compatible server (`s3s-fs`) on loopback, with one bucket,
/// started for one test; `stop`/`start` simulate an outage.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket name.
    pub bucket: String,
    port: u16,
    root: tempfile::TempDir,
    child: std::sync::Mutex<Option<std::process::Child>>,
}

/// The S3 test server's credentials.
pub const S3_ACCESS_KEY: &str = "test-access-key";
/// The S3 test server's secret.
pub const S3_SECRET_KEY: &str = "test-secret-key-123";

fn s3s_fs_binary() -> Option<String> {
    if let Ok(path) = std::env::var("S3S_FS_BIN") {
        return Some(path);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = [format!("{home}/.cargo/bin/s3s-fs"), "s3s-fs".to_owned()];
    candidates.into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

impl S3Server {
    /// Starts the server; `None` (with a message) when `s3s-fs` is not
    /// installed, except under `CI=true`, where that fails the test.
    pub async fn start() -> Option<S3Server> {
        let Some(_) = s3s_fs_binary() else {
            assert!(
                !in_ci(),
                "CI=true but s3s-fs is not installed: run .ci/services.sh"
            );
            eprintln!(
                "S3 tests skipped: install s3s-fs (`cargo install s3s-fs@0.14.1 --features binary --locked`)"
            );
            return None;
        };
        let root = tempfile::tempdir().expect("s3 root");
        let bucket = "avatars".to_owned();
        std::fs::create_dir(root.path().join(&bucket)).expect("bucket dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
            port,
            root,
            child: std::sync::Mutex::new(None),
        };
        server.resume().await;
        Some(server)
    }

    /// Starts (again) on the same port and data.
    pub async fn resume(&self) {
        let binary = s3s_fs_binary().expect("s3s-fs");
        let child = std::process::Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(self.root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        *self.child.lock().expect("lock") = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(std::time::Instant::now() < deadline, "s3s-fs did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server (an outage).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().expect("lock").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Points `config` at this server.
    pub fn configure(&self, config: &mut Config) {
        config.storage_url = format!("s3://{}", self.bucket);
        config.s3_endpoint = Some(self.endpoint.clone());
        config.s3_region = "us-east-1".into();
        config.s3_access_key_id = Some(S3_ACCESS_KEY.into());
        config.s3_secret_access_key = Some(SecretString::from(S3_SECRET_KEY.to_owned()));
    }

    /// An S3 client of our own (not the service) on the bucket.
    pub fn client(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(S3_ACCESS_KEY)
            .with_secret_access_key(S3_SECRET_KEY)
            .with_virtual_hosted_style_request(false)
            .build()
            .expect("s3 client")
    }

    /// Keys of every object in the bucket, via our own S3 client.
    pub async fn keys(&self) -> Vec<String> {
        use futures_util::StreamExt;
        use object_store::ObjectStore;
        let client = self.client();
        let mut keys: Vec<String> = client
            .list(None)
            .map(|meta| meta.expect("list").location.to_string())
            .collect()
            .await;
        keys.sort();
        keys
    }

    /// The bytes of one object, via our own S3 client.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        use object_store::ObjectStoreExt;
        self.client()
            .get(&object_store::path::Path::from(key))
            .await
            .expect("get object")
            .bytes()
            .await
            .expect("bytes")
            .to_vec()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

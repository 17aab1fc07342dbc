//! The database connection: PostgreSQL going away mid-traffic answers 503
//! in bounded time, loses nothing acknowledged, and the service recovers
//! without a restart.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use user_management::db::entities::users;

use crate::helpers::app::migrate;
use crate::helpers::proxy::Proxy;
use crate::helpers::{Backend, PASSWORD, PgDatabase, TestApp, assert_problem, spawn_app_with};

/// A proxy in front of the PostgreSQL server of `url`, and `url` through it.
async fn proxy_in_front_of(url: &str) -> (Proxy, String) {
    let upstream = url::Url::parse(url).expect("url");
    let proxy = Proxy::start(format!(
        "{}:{}",
        upstream.host_str().expect("host"),
        upstream.port().unwrap_or(5432)
    ))
    .await;
    let mut through_proxy = upstream.clone();
    through_proxy.set_port(Some(proxy.port)).expect("port");
    (proxy, through_proxy.to_string())
}

/// A migrated PostgreSQL database, a proxy in front of it, and an app that
/// reaches the database through the proxy.
async fn app_behind_proxy() -> Option<(PgDatabase, Proxy, TestApp)> {
    let pg = PgDatabase::create_empty().await?;
    migrate(&pg.url).await;
    let (proxy, through_proxy) = proxy_in_front_of(&pg.url).await;
    let app = spawn_app_with(Backend::Sqlite, |c| c.database_url = through_proxy).await?;
    Some((pg, proxy, app))
}

/// During the outage: registration and login answer 503 (in bounded
/// time), `/ready` 503, `/health` 200.
async fn assert_unavailable(app: &TestApp) {
    let started = Instant::now();
    let during = app.register("during@example.com", json!({})).await;
    assert_problem(during, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "503 comes in bounded time"
    );
    let login = app.login("before0@example.com", PASSWORD).await;
    assert_eq!(
        login.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "token endpoint too"
    );
    assert_eq!(
        app.get("/ready", None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
}

/// How many users with `email` the database at `url` holds.
async fn stored(url: &str, email: &str) -> u64 {
    let db = user_management::db::connect(url)
        .await
        .expect("connect directly");
    users::Entity::find()
        .filter(users::Column::EmailNorm.eq(email))
        .count(&db)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers_without_restart() {
    let Some((pg, proxy, app)) = app_behind_proxy().await else {
        return;
    };
    let mut acknowledged = Vec::new();
    for i in 0..3 {
        let email = format!("before{i}@example.com");
        assert_eq!(
            app.register(&email, json!({})).await.status(),
            StatusCode::CREATED
        );
        acknowledged.push(email);
    }

    proxy.cut().await;
    assert_unavailable(&app).await;

    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get("/ready", None).await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "the service did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = app.register("after@example.com", json!({})).await;
    assert_eq!(after.status(), StatusCode::CREATED);
    acknowledged.push("after@example.com".into());
    for email in &acknowledged {
        let found = stored(&pg.url, email).await;
        assert_eq!(found, 1, "{email} was acknowledged and must exist");
    }
    let refused = stored(&pg.url, "during@example.com").await;
    assert_eq!(refused, 0, "a 503 wrote nothing");
}

/// `/ready` tells the truth after an outage: once requests are served
/// again, it answers 200 within a few seconds, even when polled throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_recovers_with_the_database() {
    let Some((_pg, proxy, app)) = app_behind_proxy().await else {
        return;
    };
    assert_eq!(app.get("/ready", None).await.status(), StatusCode::OK);
    proxy.cut().await;
    // Polled during the outage, as an orchestrator does.
    for _ in 0..5 {
        assert_eq!(
            app.get("/ready", None).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.register("back@example.com", json!({})).await.status() != StatusCode::CREATED {
        assert!(Instant::now() < deadline, "requests are not served again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let served_again = Instant::now();
    while app.get("/ready", None).await.status() != StatusCode::OK {
        assert!(
            served_again.elapsed() < Duration::from_secs(3),
            "/ready still 503 while requests are served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------- requests cut mid-flight

/// How many rows `sql` (a `SELECT COUNT(*) AS n ...`) counts.
async fn count(app: &TestApp, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let statement = Statement::from_string(app.db.get_database_backend(), sql);
    let row = app.db.query_one_raw(statement).await.expect("count");
    row.expect("row").try_get("", "n").expect("n")
}

/// Sends `request`, giving up after `patience` (the connection is then
/// closed under the running request); the status if an answer came.
async fn cut_after(request: reqwest::RequestBuilder, patience: Duration) -> Option<StatusCode> {
    match tokio::time::timeout(patience, request.send()).await {
        Ok(response) => Some(response.expect("request").status()),
        Err(_) => None,
    }
}

/// Registrations and logins, each given up after 1 to 250 ms (at every
/// stage: hashing, `BEGIN`, the writes, `COMMIT`), eight at a time.
/// Returns the emails whose registration was answered 201, and the number
/// of logins answered 200.
async fn storm(app: &TestApp, login_emails: &[String]) -> (Vec<String>, usize) {
    let mut registered = Vec::new();
    let mut logged_in = 0;
    for round in 0..8_u64 {
        let mut tasks = Vec::new();
        for i in 0..8_u64 {
            let n = round * 8 + i;
            let patience = Duration::from_millis(1 + (n * 37) % 250);
            let email = format!("cut{n}@example.com");
            let register = app
                .client
                .post(format!("{}/register", app.address))
                .json(&json!({ "email": email, "password": PASSWORD }));
            let login = app.client.post(format!("{}/login", app.address)).form(&[
                ("username", login_emails[(n % 4) as usize].as_str()),
                ("password", PASSWORD),
            ]);
            tasks.push(tokio::spawn(async move {
                let (registration, login) =
                    tokio::join!(cut_after(register, patience), cut_after(login, patience));
                (email, registration, login)
            }));
        }
        for task in tasks {
            let (email, registration, login) = task.await.expect("task");
            if registration == Some(StatusCode::CREATED) {
                registered.push(email);
            }
            logged_in += usize::from(login == Some(StatusCode::OK));
        }
    }
    (registered, logged_in)
}

/// The server log lines of database `name` warning of a transaction in a
/// state its client did not expect; `None` when the log cannot be read.
async fn transaction_warnings(app: &TestApp, from: i64) -> Option<Vec<String>> {
    use sea_orm::{ConnectionTrait, Statement};
    let name = current_database(app).await;
    let sql = format!(
        "SELECT pg_read_file(f, {from}, 100000000, true) AS log FROM \
         (SELECT COALESCE(pg_current_logfile(), '/var/log/postgresql/postgresql-' || \
         current_setting('server_version_num')::int / 10000 || '-main.log') AS f) l"
    );
    let statement = Statement::from_string(app.db.get_database_backend(), sql);
    let row = app.db.query_one_raw(statement).await.ok()??;
    let log: Option<String> = row.try_get("", "log").ok()?;
    let lines = log?
        .lines()
        .filter(|l| l.contains(&format!("@{name} ")) && l.contains("transaction in progress"))
        .map(str::to_owned)
        .collect();
    Some(lines)
}

/// The size of the server log now (0 when it cannot be read).
async fn log_size(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = "SELECT COALESCE((pg_stat_file(f, true)).size, 0) AS n FROM \
         (SELECT COALESCE(pg_current_logfile(), '/var/log/postgresql/postgresql-' || \
         current_setting('server_version_num')::int / 10000 || '-main.log') AS f) l";
    let statement = Statement::from_string(app.db.get_database_backend(), sql);
    match app.db.query_one_raw(statement).await {
        Ok(Some(row)) => row.try_get("", "n").unwrap_or(0),
        _ => 0,
    }
}

async fn current_database(app: &TestApp) -> String {
    use sea_orm::{ConnectionTrait, Statement};
    let statement = Statement::from_string(
        app.db.get_database_backend(),
        "SELECT current_database() AS d",
    );
    let row = app.db.query_one_raw(statement).await.expect("query");
    row.expect("row").try_get("", "d").expect("d")
}

async fn requests_cut_mid_transaction_lose_nothing_and_leave_nothing_open(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.max_login_attempts = 10_000;
        // Hashing left behind by the cut requests delays the later ones.
        c.request_timeout = Duration::from_secs(120);
    })
    .await
    else {
        return;
    };
    let mut login_emails = Vec::new();
    for i in 0..4 {
        let email = format!("steady{i}@example.com");
        app.verified_account(&email).await;
        login_emails.push(email);
    }
    let log_start = if backend == Backend::Postgres {
        log_size(&app).await
    } else {
        0
    };

    let (registered, logged_in) = storm(&app, &login_emails).await;
    // Requests cut mid-way finish or roll back on their own; let them.
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_all_or_nothing(&app, &registered, logged_in).await;
    if backend == Backend::Postgres {
        assert_no_transaction_left_open(&app, log_start).await;
    }
    // Every pooled connection is sound: a burst that needs them all works
    // (on SQLite a lock left behind would make it wait and fail).
    let answers: Vec<_> = (0..12)
        .map(|i| {
            let request = app
                .client
                .post(format!("{}/register", app.address))
                .json(&json!({ "email": format!("after{i}@example.com"), "password": PASSWORD }));
            tokio::spawn(async move { request.send().await.expect("request").status() })
        })
        .collect();
    for answer in answers {
        assert_eq!(answer.await.expect("task"), StatusCode::CREATED);
    }
    let after = count(
        &app,
        "SELECT COUNT(*) AS n FROM users WHERE email_norm LIKE 'after%'",
    )
    .await;
    assert_eq!(after, 12, "every acknowledged write is visible to others");
    if backend == Backend::Postgres {
        assert_no_transaction_left_open(&app, log_start).await;
    }
}

/// Answered registrations exist once, each with its mail; none exists
/// without its mail; each session came with its device token.
async fn assert_all_or_nothing(app: &TestApp, registered: &[String], logged_in: usize) {
    for email in registered {
        let sql = format!("SELECT COUNT(*) AS n FROM users WHERE email_norm = '{email}'");
        assert_eq!(count(app, &sql).await, 1, "{email} exists once");
    }
    let users = count(
        app,
        "SELECT COUNT(*) AS n FROM users WHERE email_norm LIKE 'cut%'",
    )
    .await;
    let mails = count(
        app,
        "SELECT COUNT(*) AS n FROM email_outbox WHERE recipient LIKE 'cut%'",
    )
    .await;
    assert_eq!(users, mails, "a user and its verification mail, or neither");
    assert!(users >= i64::try_from(registered.len()).expect("len"));
    let sessions = count(app, "SELECT COUNT(*) AS n FROM sessions").await;
    let devices = count(app, "SELECT COUNT(*) AS n FROM device_tokens").await;
    assert_eq!(
        sessions, devices,
        "a session and its device token, or neither"
    );
    assert!(sessions >= i64::try_from(logged_in).expect("len"));
}

/// No connection of this database idles inside a transaction, and the
/// server logged no `BEGIN` inside one nor `COMMIT`/`ROLLBACK` outside one.
async fn assert_no_transaction_left_open(app: &TestApp, log_start: i64) {
    let idle = count(
        app,
        "SELECT COUNT(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND state LIKE 'idle in transaction%' \
         AND state_change < now() - INTERVAL '1 second'",
    )
    .await;
    assert_eq!(idle, 0, "connections idle in a transaction");
    match transaction_warnings(app, log_start).await {
        Some(warnings) => assert!(warnings.is_empty(), "{warnings:#?}"),
        None => eprintln!("the server log cannot be read: checked pg_stat_activity only"),
    }
}

crate::on_both_databases!(requests_cut_mid_transaction_lose_nothing_and_leave_nothing_open);

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

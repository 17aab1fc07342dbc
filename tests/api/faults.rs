//! Fault injection against real services on loopback: the database goes
//! away mid-traffic, the process is killed mid-burst, clients are slow or
//! idle. Nothing acknowledged is lost; nothing crashes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use user_management::db::entities::{email_outbox, users};

use crate::helpers::{Backend, PASSWORD, PgDatabase, assert_problem, spawn_app_with};

/// A TCP forwarder in front of PostgreSQL that can be cut (every connection
/// dropped, new ones refused) and restored on the same port: an outage
/// without touching the shared server.
struct Proxy {
    port: u16,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let proxy = Proxy {
            port,
            upstream,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.serve(listener).await;
        proxy
    }

    async fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().await.push(pipe);
            }
        });
        self.tasks.lock().await.push(accept);
    }

    /// Drops every connection and stops listening.
    async fn cut(&self) {
        for task in self.tasks.lock().await.drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    async fn restore(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot re-bind the proxy: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.serve(listener).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers_without_restart() {
    let Some(pg) = PgDatabase::create_empty().await else {
        return;
    };
    let db = user_management::db::connect(&pg.url)
        .await
        .expect("connect");
    user_management::db::migrate(&db).await.expect("migrate");
    db.close().await.expect("close");
    let upstream = url::Url::parse(&pg.url).expect("url");
    let proxy = Proxy::start(format!(
        "{}:{}",
        upstream.host_str().expect("host"),
        upstream.port().unwrap_or(5432)
    ))
    .await;
    let mut through_proxy = upstream.clone();
    through_proxy.set_port(Some(proxy.port)).expect("port");
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.database_url = through_proxy.to_string()
    })
    .await
    else {
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

    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get("/ready", None).await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "the service did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = app.register("after@example.com", json!({})).await;
    assert_eq!(after.status(), StatusCode::CREATED);
    acknowledged.push("after@example.com".into());

    let db = user_management::db::connect(&pg.url)
        .await
        .expect("connect directly");
    for email in &acknowledged {
        let found = users::Entity::find()
            .filter(users::Column::EmailNorm.eq(email.as_str()))
            .count(&db)
            .await
            .expect("count");
        assert_eq!(found, 1, "{email} was acknowledged and must exist");
    }
    let refused = users::Entity::find()
        .filter(users::Column::EmailNorm.eq("during@example.com"))
        .count(&db)
        .await
        .expect("count");
    assert_eq!(refused, 0, "a 503 wrote nothing");
}

/// SIGKILL in the middle of a burst of registrations: after a restart every
/// registration that was answered 201 exists, with its queued email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_loses_no_acknowledged_registration() {
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let start = || {
        crate::startup::binary(dir.path())
            .env("PORT", port.to_string())
            .env("AUTH_RATE_LIMIT", "0")
            .env("SMTP_URL", "smtp://127.0.0.1:1?tls=none")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start")
    };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let wait_healthy = |client: reqwest::Client, base: String| async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.get(format!("{base}/health")).send().await.is_err() {
            assert!(Instant::now() < deadline, "did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut child = start();
    wait_healthy(client.clone(), base.clone()).await;

    let (answered, mut first_answer) = tokio::sync::mpsc::unbounded_channel();
    let mut burst = Vec::new();
    for i in 0..40 {
        let (client, base, answered) = (client.clone(), base.clone(), answered.clone());
        burst.push(tokio::spawn(async move {
            let email = format!("burst{i}@example.com");
            let response = client
                .post(format!("{base}/register"))
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await;
            let status = response.map(|r| r.status()).ok();
            if status == Some(StatusCode::CREATED) {
                let _ = answered.send(());
            }
            (email, status)
        }));
    }
    // Kill mid-burst: as soon as the first registration is acknowledged.
    let _ = tokio::time::timeout(Duration::from_secs(30), first_answer.recv()).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let mut acknowledged = Vec::new();
    for task in burst {
        let (email, status) = task.await.expect("task");
        if status == Some(StatusCode::CREATED) {
            acknowledged.push(email);
        }
    }

    assert!(
        !acknowledged.is_empty(),
        "the kill came before any answer: nothing was tested"
    );
    let mut child = start();
    wait_healthy(client.clone(), base.clone()).await;
    let db =
        user_management::db::connect(&format!("sqlite://{}/data/users.db", dir.path().display()))
            .await
            .expect("open the database");
    for email in &acknowledged {
        let user = users::Entity::find()
            .filter(users::Column::EmailNorm.eq(email.as_str()))
            .one(&db)
            .await
            .expect("query");
        assert!(user.is_some(), "{email} was answered 201 but is gone");
        let queued = email_outbox::Entity::find()
            .filter(email_outbox::Column::Recipient.eq(email.as_str()))
            .count(&db)
            .await
            .expect("query");
        assert_eq!(queued, 1, "{email} has its verification email queued");
    }
    // Nothing half-written: every user row has its queued email.
    let users = users::Entity::find().count(&db).await.expect("count");
    let mails = email_outbox::Entity::find()
        .count(&db)
        .await
        .expect("count");
    assert_eq!(
        users, mails,
        "each stored registration has exactly one queued email"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// A client that trickles its body does not hold the server beyond the
/// request timeout; idle connections do not exhaust it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_do_not_tie_up_the_server() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.request_timeout = Duration::from_secs(2)
    })
    .await
    else {
        return;
    };
    let address = app.address.trim_start_matches("http://").to_owned();

    // 300 connections that never send a byte.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(&address).await.expect("connect"));
    }

    // One client sending its body a byte at a time.
    let mut slow = TcpStream::connect(&address).await.expect("connect");
    let body = json!({"email": "slow@example.com", "password": PASSWORD}).to_string();
    slow.write_all(
        format!(
            "POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("headers");
    let trickle = tokio::spawn(async move {
        let started = Instant::now();
        for byte in body.bytes() {
            if slow.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            if started.elapsed() > Duration::from_secs(6) {
                break;
            }
        }
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), slow.read_to_end(&mut answer)).await;
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    });

    // Meanwhile the service answers everyone else promptly.
    for _ in 0..5 {
        let started = Instant::now();
        let health = app.get("/health", None).await;
        assert_eq!(health.status(), StatusCode::OK);
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let registered = app.register("quick@example.com", json!({})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    let (elapsed, answer) = trickle.await.expect("trickle");
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "the slow request times out: {answer}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "cut at the request timeout: {elapsed:?}"
    );
    let me: Value = app
        .login("slow@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        me["error"], "invalid_grant",
        "the timed-out registration wrote nothing"
    );
    drop(idle);
}

/// `/ready` tells the truth after an outage: once requests are served
/// again, it answers 200 within a few seconds, even when polled throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_recovers_with_the_database() {
    let Some(pg) = PgDatabase::create_empty().await else {
        return;
    };
    let db = user_management::db::connect(&pg.url)
        .await
        .expect("connect");
    user_management::db::migrate(&db).await.expect("migrate");
    db.close().await.expect("close");
    let upstream = url::Url::parse(&pg.url).expect("url");
    let proxy = Proxy::start(format!(
        "{}:{}",
        upstream.host_str().expect("host"),
        upstream.port().unwrap_or(5432)
    ))
    .await;
    let mut through_proxy = upstream.clone();
    through_proxy.set_port(Some(proxy.port)).expect("port");
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.database_url = through_proxy.to_string()
    })
    .await
    else {
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

//! The connection loop (`src/http/serve.rs`): a half-sent header and an idle
//! kept-alive connection are closed after `HEADER_READ_TIMEOUT`, at most
//! `MAX_CONNECTIONS` are served at once, and request headers past 16 KiB
//! are answered 431.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::binary::{header_in, parse_response};
use crate::helpers::{Backend, TestApp, spawn_app_with};

fn address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads until the peer closes (or `limit` passes); `None` if it did not close.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let deadline = Instant::now() + limit;
    let mut chunk = [0_u8; 4096];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One request on a fresh connection that the server closes after it.
async fn exchange(app: &TestApp, request: &str) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(address(app)).await.expect("connect");
    stream.write_all(request.as_bytes()).await.ok()?;
    let raw = read_until_closed(&mut stream, Duration::from_secs(10)).await?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    raw.contains("\r\n\r\n").then(|| parse_response(&raw))
}

fn get_health_with_header(bytes: usize) -> String {
    format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(bytes)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_header_is_closed_after_the_header_read_timeout() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.header_read_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let mut slow = TcpStream::connect(address(&app)).await.expect("connect");
    let started = Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("send part of a header");

    let received = read_until_closed(&mut slow, Duration::from_secs(10)).await;

    let elapsed = started.elapsed();
    assert!(
        received.is_some_and(|r| r.is_empty()),
        "closed without an answer"
    );
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "closed at the header read timeout: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.header_read_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let mut kept = TcpStream::connect(address(&app)).await.expect("connect");
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut chunk = [0_u8; 4096];
    for _ in 0..2 {
        // Within the limit, the connection serves one request after another.
        kept.write_all(request).await.expect("send");
        let n = kept.read(&mut chunk).await.expect("answer");
        assert!(String::from_utf8_lossy(&chunk[..n]).starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let idle_since = Instant::now();

    let received = read_until_closed(&mut kept, Duration::from_secs(10)).await;

    assert_eq!(received, Some(vec![]), "closed without a word");
    assert!(
        idle_since.elapsed() < Duration::from_secs(3),
        "closed after about a second idle: {:?}",
        idle_since.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_slot() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| c.max_connections = 3).await else {
        return;
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(address(&app)).await.expect("connect"));
    }
    // Let the server accept the three before the fourth arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fourth = TcpStream::connect(address(&app)).await.expect("connect");
    fourth
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut chunk = [0_u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(1), fourth.read(&mut chunk)).await;
    assert!(early.is_err(), "not served while three are open");

    drop(held.pop());

    let answer = read_until_closed(&mut fourth, Duration::from_secs(5))
        .await
        .expect("served once a slot is free");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_past_16_kib_are_431() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else {
        return;
    };

    let (fits, _, _) = exchange(&app, &get_health_with_header(15 * 1024))
        .await
        .expect("an answer");
    assert_eq!(fits, 200, "a 15 KiB header is fine");

    let (status, head, body) = exchange(&app, &get_health_with_header(20 * 1024))
        .await
        .expect("an answer");
    assert_eq!(status, 431);
    assert!(body.contains("16384"), "{body}");
    assert_eq!(
        header_in(&head, "content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(
        header_in(&head, "x-content-type-options").as_deref(),
        Some("nosniff")
    );

    // Far past the limit, the server stops reading: 431 or a closed connection,
    // never an answer from the route.
    let huge = exchange(&app, &get_health_with_header(200 * 1024)).await;
    assert!(
        huge.as_ref().is_none_or(|(status, _, _)| *status == 431),
        "{huge:?}"
    );
}

//! Graceful shutdown of the real binary on SIGTERM: new connections are
//! refused, a request in flight finishes, the exit status is 0; and
//! `SHUTDOWN_TIMEOUT` bounds the wait for a request that never finishes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::binary::{Server, parse_response};

const LATE_BODY: &str = r#"{"email":"late@example.com","password":"plenty-long-passphrase"}"#;

/// Opens a connection and sends a `POST /register` whose body stops halfway.
fn half_sent_registration(server: &Server) -> TcpStream {
    let mut stream = server.connect().expect("connect");
    let (half, _) = LATE_BODY.split_at(LATE_BODY.len() / 2);
    let head = format!(
        "POST /register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{half}",
        LATE_BODY.len()
    );
    stream.write_all(head.as_bytes()).expect("send");
    stream.flush().expect("flush");
    // Let the server read the head and start the handler.
    std::thread::sleep(Duration::from_millis(300));
    stream
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let mut server = Server::start(&[("SHUTDOWN_TIMEOUT", "10s")], &[]);
    let mut stream = half_sent_registration(&server);

    server.sigterm();
    std::thread::sleep(Duration::from_millis(300));

    assert!(
        server.exited().is_none(),
        "the process waits for the in-flight request:\n{}",
        server.log()
    );
    let refused = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], server.port)),
        Duration::from_secs(2),
    );
    assert!(
        refused.is_err(),
        "a new connection after SIGTERM is refused"
    );
    let (_, rest) = LATE_BODY.split_at(LATE_BODY.len() / 2);
    stream.write_all(rest.as_bytes()).expect("send the rest");
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .expect("read the response to the end");
    let (status, _, body) = parse_response(&raw);
    assert_eq!(status, 201, "{raw}");
    let user: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(user["email"], "late@example.com");

    let exit = server
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("did not exit:\n{}", server.log()));
    assert_eq!(exit.code(), Some(0), "{}", server.log());
}

#[test]
fn shutdown_timeout_bounds_the_wait_for_a_request_that_never_finishes() {
    let mut server = Server::start(&[("SHUTDOWN_TIMEOUT", "1s")], &[]);
    let _stream = half_sent_registration(&server);

    let signalled = Instant::now();
    server.sigterm();
    let exit = server.wait_exit(Duration::from_secs(10));
    let took = signalled.elapsed();

    assert!(exit.is_some(), "did not exit:\n{}", server.log());
    assert!(
        took < Duration::from_millis(3500),
        "exited {took:?} after SIGTERM with SHUTDOWN_TIMEOUT=1s"
    );
    assert!(
        server.log().contains("SHUTDOWN_TIMEOUT reached"),
        "{}",
        server.log()
    );
}

//! `user-management healthcheck`: exit status 0 only when the service
//! answers on the configured address.

use std::process::Output;

use crate::helpers::binary::{binary, free_port, stderr_of, stdout_of};
use crate::helpers::{Backend, spawn_app};

/// `user-management healthcheck` against `127.0.0.1:port`.
async fn healthcheck(port: u16) -> Output {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("dir");
        binary(dir.path())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .arg("healthcheck")
            .output()
            .expect("run healthcheck")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_zero_only_when_the_service_answers() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let healthy = healthcheck(app.port()).await;
    assert!(healthy.status.success(), "{}", stderr_of(&healthy));
    assert!(stdout_of(&healthy).contains("healthy"));

    let closed = healthcheck(free_port()).await;
    assert!(!closed.status.success(), "a closed port is unhealthy");
    assert!(
        stderr_of(&closed).contains("cannot reach"),
        "{}",
        stderr_of(&closed)
    );
}

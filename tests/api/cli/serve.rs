//! `user-management serve`: one service per data directory, with the
//! administration commands still running beside it.

use crate::helpers::binary::{Server, run, text, word_after};

// ------------------------------------------------------------ the data-directory lock

#[test]
fn a_second_service_on_the_same_data_refuses_while_commands_still_run() {
    let dir = tempfile::tempdir().expect("dir");
    let first = Server::start_in(dir.path(), 0, &[], &["serve"]);
    first.wait_for_line("the start-up banner", |l| l.contains("listening on"));

    let second = run(dir.path(), &[("PORT", "0")], &["serve"]);
    let err = text(&second.stderr);
    assert!(!second.status.success(), "the second service started");
    assert!(err.contains("already running"), "{err}");
    assert!(err.contains("serve.lock"), "{err}");

    for command in [
        &["users", "list"][..],
        &["mail", "status"],
        &["migrate", "status"],
    ] {
        let out = run(dir.path(), &[], command);
        assert!(
            out.status.success(),
            "{command:?} beside the service: {}",
            text(&out.stderr)
        );
    }
    let port = word_after(
        &first.wait_for_line("the start-up banner", |l| l.contains("listening on")),
        "listening on ",
    )
    .rsplit(':')
    .next()
    .expect("port")
    .to_owned();
    let healthy = run(dir.path(), &[("PORT", &port)], &["healthcheck"]);
    assert!(
        healthy.status.success(),
        "the first one still serves: {}",
        first.log()
    );
}

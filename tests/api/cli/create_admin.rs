//! `user-management create-admin`: a verified administrator, created once,
//! with the password from standard input held to the password policy.

use crate::helpers::binary::{cli_with_stdin, stderr_of, stdout_of};
use crate::helpers::{Backend, spawn_app};
use crate::on_both_databases;

async fn create_admin_makes_a_verified_admin_once_and_checks_the_password(backend: Backend) {
    const EMAIL: &str = "boss@example.com";
    const SECRET: &str = "cli-admin-passphrase";
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let args = ["create-admin", "--email", EMAIL, "--password-stdin"];

    let created = cli_with_stdin(&app, &args, &format!("{SECRET}\n"));
    assert!(created.status.success(), "{}", stderr_of(&created));
    assert!(
        stdout_of(&created).contains("created administrator"),
        "{}",
        stdout_of(&created)
    );
    let me = app.me_after_login(EMAIL, SECRET).await;
    assert_eq!(me["role"], "ADMIN");
    assert_eq!(me["email_verified"], true);

    let again = cli_with_stdin(&app, &args, "another-admin-passphrase\n");
    assert!(again.status.success(), "{}", stderr_of(&again));
    assert!(
        stdout_of(&again).contains("already"),
        "reports the existing administrator: {}",
        stdout_of(&again)
    );
    assert_eq!(app.user_count().await, 1, "nothing more created");
    app.me_after_login(EMAIL, SECRET).await;

    let weak = cli_with_stdin(
        &app,
        &[
            "create-admin",
            "--email",
            "weak@example.com",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!weak.status.success(), "a weak password is refused");
    let message = stderr_of(&weak);
    assert!(
        message.contains("password") && message.contains("at least 8 characters"),
        "names the password rule: {message}"
    );
    assert!(app.user_by_email("weak@example.com").await.is_none());
}

on_both_databases!(create_admin_makes_a_verified_admin_once_and_checks_the_password,);

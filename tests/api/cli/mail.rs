//! `user-management mail test`: a test message through the configured SMTP
//! server. (`mail status` and `mail retry` are tested with the attempt cap,
//! in `email.rs`.)

use std::time::Duration;

use crate::helpers::binary::cli;
use crate::helpers::{Backend, spawn_app_with};
use crate::on_both_databases;

const PATIENCE: Duration = Duration::from_secs(20);

async fn the_mail_test_command_sends_through_smtp(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };

    let output = cli(&app, &["mail", "test", "--to", "ops@example.com"]);

    assert!(
        output.contains("test message sent to ops@example.com"),
        "{output}"
    );
    let mail = app.smtp.wait_for(1, PATIENCE).await.remove(0);
    assert_eq!(mail.to, ["ops@example.com"]);
    assert!(mail.text().contains("User Management"));
}

on_both_databases!(the_mail_test_command_sends_through_smtp,);

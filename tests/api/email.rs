//! Email delivery through the durable outbox, against a real SMTP server on
//! loopback: outages delay mail but lose none, several instances deliver
//! each message once, failing messages stop at the attempt cap (and `mail
//! status`/`mail retry` see them); templates, multipart messages, the codes
//! and the link templates of link mails, and the outbox directory when no
//! SMTP server is configured.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use user_management::db::entities::email_outbox;

use crate::helpers::binary::cli;
use crate::helpers::{Backend, link_in, query_param, spawn_app_with};
use crate::on_both_databases;

const PATIENCE: Duration = Duration::from_secs(20);

fn recipients(app: &crate::helpers::TestApp) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for message in app.smtp.messages() {
        for to in message.to {
            *seen.entry(to).or_insert(0) += 1;
        }
    }
    seen
}

async fn an_smtp_outage_delays_mail_and_loses_none(backend: Backend) {
    let Some(app) =
        spawn_app_with(backend, |c| c.mail_retry_delay = Duration::from_millis(100)).await
    else {
        return;
    };
    app.smtp.stop().await;

    for i in 0..5 {
        let started = Instant::now();
        let response = app
            .register(&format!("outage{i}@example.com"), json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "registration does not wait for SMTP"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.smtp.messages().is_empty());

    app.smtp.restart().await;
    app.smtp.wait_for(5, PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let seen = recipients(&app);
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(
        seen.values().all(|n| *n == 1),
        "each message arrives once: {seen:?}"
    );
}

async fn two_instances_deliver_each_message_once(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let sibling = app.sibling().await;
    let client = reqwest::Client::new();

    for i in 0..20 {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            sibling.address.clone()
        };
        let response = client
            .post(format!("{base}/register"))
            .json(&json!({"email": format!("twice{i}@example.com"), "password": crate::helpers::PASSWORD}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    app.smtp.wait_for(20, PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let seen = recipients(&app);
    assert_eq!(seen.len(), 20, "{seen:?}");
    assert!(
        seen.values().all(|n| *n == 1),
        "no message delivered twice: {seen:?}"
    );
}

async fn a_failing_message_stops_at_the_attempt_cap_and_can_be_retried(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.mail_max_attempts = 3;
        c.mail_retry_delay = Duration::from_millis(50);
    })
    .await
    else {
        return;
    };
    app.smtp.fail_next(1000);

    app.register("doomed@example.com", json!({})).await;

    let deadline = Instant::now() + PATIENCE;
    let failed = loop {
        let row = email_outbox::Entity::find()
            .filter(email_outbox::Column::FailedAt.is_not_null())
            .one(&app.db)
            .await
            .expect("query");
        if let Some(row) = row {
            break row;
        }
        assert!(Instant::now() < deadline, "the message was never given up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed.attempts, 3);
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("451")),
        "{failed:?}"
    );
    assert!(app.smtp.messages().is_empty());

    let status = cli(&app, &["mail", "status"]);
    assert!(status.contains("failed 1"), "{status}");
    assert!(status.contains("attempts=3"), "{status}");

    app.smtp.fail_next(0);
    let retry = cli(&app, &["mail", "retry"]);
    assert!(
        retry.contains("1 failed message(s) queued again"),
        "{retry}"
    );
    // The running service picks it up on its next poll.
    let delivered = app.smtp.wait_for(1, PATIENCE).await;
    assert_eq!(delivered[0].to, ["doomed@example.com"]);
}

async fn messages_are_multipart_with_header_footer_and_link(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };

    app.register("parts@example.com", json!({})).await;
    let mail = app.smtp.wait_for(1, PATIENCE).await.remove(0);

    let link = app.verification_link("parts@example.com").await;
    for (part, body) in [("text", mail.text()), ("html", mail.html())] {
        assert!(body.contains("User Management"), "{part}: header");
        assert!(body.contains("automated message"), "{part}: footer");
        assert!(body.contains(&link), "{part}: link");
    }
    assert!(mail.html().contains(&format!("href=\"{link}\"")));
    assert!(
        mail.header("content-type")
            .is_some_and(|c| c.contains("multipart/alternative"))
    );
    assert!(mail.subject().to_lowercase().contains("verify"));
}

async fn operators_can_override_templates(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("verify_email.md"),
        "Subject: Welcome aboard, {{ nickname }}\n\nConfirm here: {{ link }} (valid {{ expires_in }})\n",
    )
    .expect("template");
    let templates = dir.path().to_owned();
    let Some(app) = spawn_app_with(backend, move |c| c.email_templates_dir = Some(templates)).await
    else {
        return;
    };

    app.register("custom@example.com", json!({"nickname": "customer"}))
        .await;

    let mail = app.smtp.wait_for(1, PATIENCE).await.remove(0);
    assert_eq!(mail.subject(), "Welcome aboard, customer");
    assert!(
        mail.text()
            .contains("Confirm here: http://localhost:8000/verify-email/")
    );
    assert!(
        mail.text().contains("automated message"),
        "the shared footer stays"
    );
}

async fn without_smtp_mail_lands_in_the_outbox_directory(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.smtp_url = None).await else {
        return;
    };
    let outbox = app.config.data_dir.join("outbox");

    app.register("files@example.com", json!({})).await;

    let deadline = Instant::now() + PATIENCE;
    let text = loop {
        let found = std::fs::read_dir(&outbox)
            .ok()
            .and_then(|entries| {
                entries
                    .filter_map(Result::ok)
                    .find(|e| e.path().extension().is_some_and(|x| x == "txt"))
            })
            .map(|e| std::fs::read_to_string(e.path()).expect("read"));
        if let Some(text) = found {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "nothing written to {}",
            outbox.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(text.contains("/verify-email/"), "{text}");
    let emls = std::fs::read_dir(&outbox)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .count();
    assert_eq!(emls, 1);
}

async fn link_mails_carry_a_code_and_the_page_to_type_it(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };

    app.register("coded@example.com", json!({})).await;
    let code = app
        .mailed_code("coded@example.com", "/verify-email/", 1)
        .await;
    let forgot = app
        .post_json("/password/forgot", &json!({ "email": "coded@example.com" }))
        .await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let reset_code = app
        .mailed_code("coded@example.com", "/password/reset", 1)
        .await;

    let mails = app.smtp.wait_for(2, PATIENCE).await;
    for (mail, code, page) in [
        (&mails[0], &code, "http://localhost:8000/confirm-email"),
        (
            &mails[1],
            &reset_code,
            "http://localhost:8000/reset-password",
        ),
    ] {
        assert_eq!(code.len(), 9, "ABCD-EFGH: {code}");
        assert!(mail.text().contains(page), "{}", mail.text());
        let html = mail.html();
        assert!(html.contains(&format!("<strong>{code}</strong>")), "{html}");
        assert!(html.contains(page), "{html}");
    }
    assert_ne!(code, reset_code);
}

async fn link_templates_shape_the_mailed_links(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.verify_link_template =
            Some("https://app.example.com/verify?uid={user_id}&t={token}".into());
        c.reset_link_template = Some("https://app.example.com/reset/{token}?u={user_id}".into());
    })
    .await
    else {
        return;
    };

    let registered = app.register("shaped@example.com", json!({})).await;
    let user: Value = registered.json().await.expect("json");
    let id = user["id"].as_str().expect("id");
    let mail = app.smtp.wait_for(1, PATIENCE).await.remove(0);
    let link = link_in(&mail.text(), "app.example.com/verify").expect("the templated link");
    assert!(
        link.starts_with(&format!("https://app.example.com/verify?uid={id}&t=umv_")),
        "{link}"
    );
    assert!(
        mail.html()
            .contains(&format!("href=\"{}\"", link.replace('&', "&amp;")))
    );
    let token = query_param(&link, "t").expect("t");
    let verified = app
        .post_json("/verify-email", &json!({ "user_id": id, "token": token }))
        .await;
    assert_eq!(
        verified.status(),
        StatusCode::OK,
        "the templated link's token works"
    );

    let forgot = app
        .post_json(
            "/password/forgot",
            &json!({ "email": "shaped@example.com" }),
        )
        .await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let mail = app.smtp.wait_for(2, PATIENCE).await.remove(1);
    let link = link_in(&mail.text(), "app.example.com/reset").expect("the templated link");
    assert_eq!(query_param(&link, "u").as_deref(), Some(id), "{link}");
    let path = url::Url::parse(&link).expect("url").path().to_owned();
    let token = path.trim_start_matches("/reset/");
    assert!(token.starts_with("umr_"), "{link}");
    let body = json!({ "token": token, "new_password": "a-brand-new-passphrase" });
    let reset = app.post_json("/password/reset", &body).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
}

on_both_databases!(
    an_smtp_outage_delays_mail_and_loses_none,
    two_instances_deliver_each_message_once,
    a_failing_message_stops_at_the_attempt_cap_and_can_be_retried,
    messages_are_multipart_with_header_footer_and_link,
    operators_can_override_templates,
    without_smtp_mail_lands_in_the_outbox_directory,
    link_mails_carry_a_code_and_the_page_to_type_it,
    link_templates_shape_the_mailed_links,
);

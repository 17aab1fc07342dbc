//! `GET /verify-email/{user_id}/{token}` and `POST /verify-email/resend`:
//! single-use, expiring links; a resend that reveals nothing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_problem, invalid_fields, path_of, spawn_app,
};
use crate::on_both_databases;

const MAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// Registers `email`; returns its id and the path of its verification link.
async fn registered(app: &TestApp, email: &str) -> (String, String) {
    let response = app.register(email, json!({})).await;
    assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
    let user: Value = response.json().await.expect("json");
    let link = app.verification_link(email).await;
    (user["id"].as_str().expect("id").to_owned(), path_of(&link))
}

/// The token at the end of a verification path.
fn token_of(path: &str) -> &str {
    path.rsplit('/').next().expect("token segment")
}

async fn following_the_link_verifies_the_email(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, path) = registered(&app, "follow@example.com").await;
    assert_eq!(
        app.login("follow@example.com", PASSWORD).await.status(),
        StatusCode::FORBIDDEN,
        "not verified yet"
    );

    let response = app.get(&path, None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        !body.to_string().contains(token_of(&path)),
        "the token is not echoed"
    );
    let me = app.me_after_login("follow@example.com", PASSWORD).await;
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["role"], "AUTHENTICATED");
    assert_eq!(
        app.audit_count("email_verified", &id).await,
        1,
        "the verification is audited"
    );
}

async fn the_link_works_only_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, path) = registered(&app, "once@example.com").await;
    assert_eq!(app.get(&path, None).await.status(), StatusCode::OK);

    let again = app.get(&path, None).await;

    let body = assert_problem(again, StatusCode::BAD_REQUEST).await;
    assert!(!body.to_string().contains(token_of(&path)), "{body}");
}

async fn concurrent_uses_of_one_link_verify_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, path) = registered(&app, "race@example.com").await;
    let url = format!("{}{path}", app.address);

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (app.client.clone(), url.clone());
            tokio::spawn(async move { client.get(url).send().await.expect("request").status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }

    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!((ok, refused), (1, 3), "{statuses:?}");
    assert_eq!(
        app.audit_count("email_verified", &id).await,
        1,
        "verified once"
    );
}

async fn an_expired_link_is_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, path) = registered(&app, "expired@example.com").await;
    // RFC 3339 text: what SQLite stores, and a timestamptz literal to PostgreSQL.
    app.execute("UPDATE one_time_tokens SET expires_at = '2000-01-01T00:00:00+00:00'")
        .await;

    let response = app.get(&path, None).await;

    assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.login("expired@example.com", PASSWORD).await.status(),
        StatusCode::FORBIDDEN,
        "still unverified"
    );
}

async fn a_token_under_another_users_id_is_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, alice_path) = registered(&app, "alice@example.com").await;
    let (bob_id, _) = registered(&app, "bob@example.com").await;

    let response = app
        .get(
            &format!("/verify-email/{bob_id}/{}", token_of(&alice_path)),
            None,
        )
        .await;

    assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.login("bob@example.com", PASSWORD).await.status(),
        StatusCode::FORBIDDEN,
        "bob was not verified by alice's token"
    );
    assert_eq!(
        app.get(&alice_path, None).await.status(),
        StatusCode::OK,
        "the refused attempt did not use up alice's token"
    );
}

async fn garbage_tokens_and_ids_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, path) = registered(&app, "garbage@example.com").await;
    let token = token_of(&path);
    let almost = format!("{}x", &token[..token.len() - 1]);

    for bad in [
        format!("/verify-email/{id}/garbage"),
        format!("/verify-email/{id}/{almost}"),
        format!("/verify-email/{id}/umv_"),
        format!("/verify-email/not-a-uuid/{token}"),
        format!("/verify-email/{}/{token}", uuid::Uuid::new_v4()),
    ] {
        let response = app.get(&bad, None).await;
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        app.get(&path, None).await.status(),
        StatusCode::OK,
        "the real link still works after the bad ones"
    );
}

async fn resend_answers_alike_and_mails_only_the_unverified(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("done@example.com").await;
    registered(&app, "pending@example.com").await;
    app.smtp.wait_for(2, MAIL_TIMEOUT).await;

    let mut answers = Vec::new();
    for email in [
        "nobody@example.com",
        "done@example.com",
        "pending@example.com",
    ] {
        let response = app
            .post_json("/verify-email/resend", &json!({ "email": email }))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{email}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_eq!(content_type, "application/json", "{email}");
        answers.push(response.text().await.expect("body"));
    }

    assert_eq!(answers[0], answers[1], "unknown and verified answer alike");
    assert_eq!(
        answers[1], answers[2],
        "verified and unverified answer alike"
    );
    let body: Value = serde_json::from_str(&answers[0]).expect("json");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    app.smtp.wait_for(3, MAIL_TIMEOUT).await;
    assert_eq!(app.delivered_to("pending@example.com"), 2);
    assert_eq!(app.delivered_to("done@example.com"), 1);
    // Requests are resolved in order, so by now the earlier two are done:
    // nothing is kept for an address without an account.
    assert_eq!(app.outbox_rows("nobody@example.com").await, 0);
    assert_eq!(
        app.outbox_rows("done@example.com").await,
        1,
        "only the registration mail"
    );
    assert_eq!(
        app.outbox_rows("pending@example.com").await,
        2,
        "a new verification mail"
    );
    assert_eq!(app.delivered_to("nobody@example.com"), 0);
}

async fn a_resend_keeps_the_old_link_working(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, old_path) = registered(&app, "again@example.com").await;

    let response = app
        .post_json(
            "/verify-email/resend",
            &json!({"email": "AGAIN@Example.com"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.smtp.wait_for(2, MAIL_TIMEOUT).await;
    let new_path = path_of(&app.verification_link("again@example.com").await);
    assert_ne!(new_path, old_path, "a fresh token");
    assert_eq!(
        app.get(&old_path, None).await.status(),
        StatusCode::OK,
        "asking again never breaks the link the owner already holds"
    );
    assert_eq!(
        app.me_after_login("again@example.com", PASSWORD).await["email_verified"],
        true
    );
}

async fn resend_with_an_invalid_email_is_422(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    for body in [
        json!({"email": "not-an-email"}),
        json!({"email": ""}),
        json!({"email": 42}),
        json!({}),
    ] {
        let response = app.post_json("/verify-email/resend", &body).await;
        assert_eq!(invalid_fields(response).await, ["email"], "body {body}");
    }
    let unknown_field = app
        .post_json(
            "/verify-email/resend",
            &json!({"email": "x@example.com", "role": "ADMIN"}),
        )
        .await;
    assert_eq!(invalid_fields(unknown_field).await, ["role"]);
}

async fn trailing_slash_variants_work(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, path) = registered(&app, "slashes@example.com").await;

    let resent = app
        .post_json(
            "/verify-email/resend/",
            &json!({"email": "slashes@example.com"}),
        )
        .await;
    assert_eq!(resent.status(), StatusCode::ACCEPTED);
    app.smtp.wait_for(2, MAIL_TIMEOUT).await;
    let new_path = path_of(&app.verification_link("slashes@example.com").await);
    assert_ne!(new_path, path);

    let verified = app.get(&format!("{new_path}/"), None).await;

    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(
        app.me_after_login("slashes@example.com", PASSWORD).await["email_verified"],
        true
    );
}

on_both_databases!(
    following_the_link_verifies_the_email,
    the_link_works_only_once,
    concurrent_uses_of_one_link_verify_once,
    an_expired_link_is_refused,
    a_token_under_another_users_id_is_refused,
    garbage_tokens_and_ids_are_refused,
    resend_answers_alike_and_mails_only_the_unverified,
    a_resend_keeps_the_old_link_working,
    resend_with_an_invalid_email_is_422,
    trailing_slash_variants_work,
);

//! `POST /register`: validation, uniqueness, the verification email; and
//! that a registration answered 201 survives the process being killed.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use user_management::db::Db;
use user_management::db::entities::{email_outbox, users};

use crate::helpers::binary::{Server, free_port};
use crate::helpers::{Backend, PASSWORD, assert_problem, invalid_fields, spawn_app};
use crate::on_both_databases;

async fn register_creates_an_anonymous_user_and_mails_a_link(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let response = app
        .register(
            "Jane.Doe@Example.COM",
            json!({"first_name": "Jane", "nickname": "jane_doe"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let text = response.text().await.expect("body");
    assert!(
        !text.contains(PASSWORD) && !text.contains("argon2") && !text.contains("hash"),
        "{text}"
    );
    let user: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        user["email"], "Jane.Doe@example.com",
        "domain lower-cased, local part kept"
    );
    assert_eq!(user["role"], "ANONYMOUS");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["nickname"], "jane_doe");
    assert!(user["links"].as_array().is_some_and(|l| !l.is_empty()));
    let id = user["id"].as_str().expect("id");

    let mail = app
        .smtp
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(mail[0].to, ["Jane.Doe@example.com"]);
    let link = app.verification_link("Jane.Doe@example.com").await;
    assert!(
        link.starts_with(&format!("http://localhost:8000/verify-email/{id}/umv_")),
        "{link}"
    );
    assert!(
        mail[0].html().contains(&link),
        "the HTML part carries the link too"
    );
}

async fn nickname_is_generated_when_omitted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let user: Value = app
        .register("gen@example.com", json!({}))
        .await
        .json()
        .await
        .expect("json");

    let nickname = user["nickname"].as_str().expect("nickname");
    let parts: Vec<&str> = nickname.split('_').collect();
    assert_eq!(parts.len(), 3, "adjective_animal_123: {nickname}");
    assert!(parts[2].parse::<u16>().is_ok(), "{nickname}");
}

/// One field set to a value its rule refuses, and the field named.
fn field_rule_cases() -> Vec<(Value, &'static str)> {
    let long = |n: usize| "a".repeat(n);
    vec![
        (json!({"email": "not-an-email"}), "email"),
        (json!({"email": "a@b"}), "email"),
        (json!({"nickname": "ab"}), "nickname"),
        (json!({"nickname": long(51)}), "nickname"),
        (json!({"nickname": "has space"}), "nickname"),
        (json!({"nickname": "ünïcode"}), "nickname"),
        (json!({"first_name": long(101)}), "first_name"),
        (json!({"last_name": long(101)}), "last_name"),
        (json!({"bio": long(501)}), "bio"),
        (
            json!({"profile_picture_url": "ftp://example.com/a.png"}),
            "profile_picture_url",
        ),
        (
            json!({"profile_picture_url": format!("https://example.com/{}", long(250))}),
            "profile_picture_url",
        ),
        (
            json!({"github_profile_url": "https://gitlab.com/jane"}),
            "github_profile_url",
        ),
        (
            json!({"linkedin_profile_url": "https://example.com/in/jane"}),
            "linkedin_profile_url",
        ),
        (
            json!({"linkedin_profile_url": "javascript:alert(1)"}),
            "linkedin_profile_url",
        ),
        (json!({"password": "short7!"}), "password"),
        (json!({"password": long(129)}), "password"),
        (json!({"password": "password123"}), "password"),
        (json!({"password": "rules@example.com"}), "password"),
        (
            json!({"password": "my_nickname", "nickname": "my_nickname"}),
            "password",
        ),
        (json!({"role": "ADMIN"}), "role"),
        (json!({"is_locked": false}), "is_locked"),
        (json!({"email": 42}), "email"),
    ]
}

async fn each_field_rule_is_a_422_naming_the_field(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let cases = field_rule_cases();
    for (overrides, field) in cases {
        let mut body = json!({"email": "rules@example.com", "password": PASSWORD});
        for (k, v) in overrides.as_object().expect("object") {
            body[k] = v.clone();
        }
        let response = app.post_json("/register", &body).await;
        let fields = invalid_fields(response).await;
        assert_eq!(fields, [field], "body {body}");
    }
    let missing = app
        .post_json("/register", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(invalid_fields(missing).await, ["email"]);
    assert_eq!(
        app.login("rules@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "no invalid request created an account"
    );
}

async fn boundary_values_are_accepted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let response = app
        .post_json(
            "/register",
            &json!({
                "email": "edge@example.com",
                "password": "x".repeat(7) + "é",
                "nickname": "abc",
                "first_name": "é".repeat(100),
                "last_name": "L".repeat(100),
                "bio": "b".repeat(500),
                "github_profile_url": "https://github.com/edge",
                "linkedin_profile_url": "https://www.linkedin.com/in/edge",
                "profile_picture_url": "https://cdn.example.com/edge.png",
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let longest = app
        .post_json(
            "/register",
            &json!({"email": "edge2@example.com", "password": "y".repeat(128), "nickname": "n".repeat(50)}),
        )
        .await;
    assert_eq!(longest.status(), StatusCode::CREATED);
}

async fn email_and_nickname_are_unique_case_insensitively(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = app
        .register("dup@example.com", json!({"nickname": "Dupe"}))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);

    let same_email = app.register("DUP@Example.com", json!({})).await;
    let body = assert_problem(same_email, StatusCode::CONFLICT).await;
    assert!(body["detail"].as_str().expect("detail").contains("email"));

    let same_nickname = app
        .register("other@example.com", json!({"nickname": "dUPE"}))
        .await;
    let body = assert_problem(same_nickname, StatusCode::CONFLICT).await;
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("nickname")
    );

    assert_eq!(
        app.login("other@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "the refused registration left nothing behind"
    );
}

async fn malformed_bodies_are_400_and_415(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let broken = app
        .request(reqwest::Method::POST, "/register")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("request");
    assert_problem(broken, StatusCode::BAD_REQUEST).await;

    let form = app
        .request(reqwest::Method::POST, "/register")
        .form(&[("email", "x@example.com")])
        .send()
        .await
        .expect("request");
    assert_problem(form, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let huge = app
        .request(reqwest::Method::POST, "/register")
        .header("content-type", "application/json")
        .body(format!("{{\"email\": \"{}\"}}", "a".repeat(100_000)))
        .send()
        .await
        .expect("request");
    assert_problem(huge, StatusCode::PAYLOAD_TOO_LARGE).await;
}

async fn trailing_slash_is_the_same_resource(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let response = app
        .post_json(
            "/register/",
            &json!({"email": "slash@example.com", "password": PASSWORD}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
}

on_both_databases!(
    register_creates_an_anonymous_user_and_mails_a_link,
    nickname_is_generated_when_omitted,
    each_field_rule_is_a_422_naming_the_field,
    boundary_values_are_accepted,
    email_and_nickname_are_unique_case_insensitively,
    malformed_bodies_are_400_and_415,
    trailing_slash_is_the_same_resource,
);

// ------------------------------------------------------------------ durability

/// The killed binary's settings: no rate limit, and mail to a closed port
/// (it stays queued).
const BURST_ENV: [(&str, &str); 2] = [
    ("AUTH_RATE_LIMIT", "0"),
    ("SMTP_URL", "smtp://127.0.0.1:1?tls=none"),
];

/// Sends a burst of registrations to `server` and kills it (SIGKILL) as
/// soon as the first is acknowledged; returns the emails answered 201.
async fn burst_then_kill(server: &mut Server) -> Vec<String> {
    let (base, client) = (server.base(), reqwest::Client::new());
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
    server.kill();
    let mut acknowledged = Vec::new();
    for task in burst {
        let (email, status) = task.await.expect("task");
        if status == Some(StatusCode::CREATED) {
            acknowledged.push(email);
        }
    }
    acknowledged
}

/// Asserts that each of `acknowledged` is stored with its queued email, and
/// that nothing is half-written.
async fn assert_stored_with_mail(db: &Db, acknowledged: &[String]) {
    for email in acknowledged {
        let user = users::Entity::find()
            .filter(users::Column::EmailNorm.eq(email.as_str()))
            .one(db)
            .await
            .expect("query");
        assert!(user.is_some(), "{email} was answered 201 but is gone");
        let queued = email_outbox::Entity::find()
            .filter(email_outbox::Column::Recipient.eq(email.as_str()))
            .count(db)
            .await
            .expect("query");
        assert_eq!(queued, 1, "{email} has its verification email queued");
    }
    // Nothing half-written: every user row has its queued email.
    let users = users::Entity::find().count(db).await.expect("count");
    let mails = email_outbox::Entity::find().count(db).await.expect("count");
    assert_eq!(
        users, mails,
        "each stored registration has exactly one queued email"
    );
}

/// SIGKILL in the middle of a burst of registrations: after a restart every
/// registration that was answered 201 exists, with its queued email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_loses_no_acknowledged_registration() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let start = || Server::start_in(dir.path(), port, &BURST_ENV, &[]);
    let mut server = tokio::task::block_in_place(start);

    let acknowledged = burst_then_kill(&mut server).await;

    assert!(
        !acknowledged.is_empty(),
        "the kill came before any answer: nothing was tested"
    );
    let _restarted = tokio::task::block_in_place(start);
    let db =
        user_management::db::connect(&format!("sqlite://{}/data/users.db", dir.path().display()))
            .await
            .expect("open the database");
    assert_stored_with_mail(&db, &acknowledged).await;
}

//! The short codes of link mails (`src/users/codes.rs`), through
//! `POST /verify-email` and `POST /password/reset`: typed with the address
//! instead of following the link, single use both ways, bound to the
//! address, expiring with the link; five wrong codes void the codes, never
//! the links; a wrong code and an unknown address answer alike; only a
//! keyed digest is stored.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_problem, invalid_fields, path_of, spawn_app, spawn_app_with,
};
use crate::on_both_databases;

const NEW_PASSWORD: &str = "a-brand-new-passphrase";

/// Registers `email`; returns its id, the path of its verification link
/// and the code of that mail.
async fn registered(app: &TestApp, email: &str) -> (String, String, String) {
    let response = app.register(email, json!({})).await;
    assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
    let user: Value = response.json().await.expect("json");
    let link = app.verification_link(email).await;
    let code = app.mailed_code(email, "/verify-email/", 1).await;
    let id = user["id"].as_str().expect("id").to_owned();
    (id, path_of(&link), code)
}

/// Asks for a reset of `email`; returns the token and the code of the
/// `nth` reset mail.
async fn reset_mail(app: &TestApp, email: &str, nth: usize) -> (String, String) {
    let forgot = app
        .post_json("/password/forgot", &json!({ "email": email }))
        .await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let token = app.reset_token(email, nth).await;
    let code = app.mailed_code(email, "/password/reset", nth).await;
    (token, code)
}

async fn verify_with_code(app: &TestApp, email: &str, code: &str) -> Response {
    app.post_json("/verify-email", &json!({ "email": email, "code": code }))
        .await
}

async fn reset_with_code(app: &TestApp, email: &str, code: &str, password: &str) -> Response {
    let body = json!({ "email": email, "code": code, "new_password": password });
    app.post_json("/password/reset", &body).await
}

async fn reset_with_token(app: &TestApp, token: &str, password: &str) -> Response {
    let body = json!({ "token": token, "new_password": password });
    app.post_json("/password/reset", &body).await
}

/// `code` as a person might type it: lower case, a space for the hyphen.
fn typed(code: &str) -> String {
    format!(" {} ", code.to_lowercase().replace('-', " "))
}

/// A well-formed code that is not `code`.
fn other_than(code: &str) -> String {
    let first = if code.starts_with('A') { "B" } else { "A" };
    format!("{first}{}", &code[1..])
}

/// Status, content type and body: everything a client can compare.
async fn answer(response: Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = crate::helpers::header(&response, "content-type").unwrap_or_default();
    (status, content_type, response.text().await.expect("body"))
}

async fn a_mailed_code_verifies_its_address_and_uses_the_link(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, link, code) = registered(&app, "coded@example.com").await;

    let response = verify_with_code(&app, "Coded@Example.com", &typed(&code)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.expect("body");
    assert!(body.contains("message") && !body.contains(&code), "{body}");
    let me = app.me_after_login("coded@example.com", PASSWORD).await;
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["role"], "AUTHENTICATED");
    assert_eq!(app.audit_count("email_verified", &id).await, 1);
    let link_after = app.get(&link, None).await;
    assert_problem(link_after, StatusCode::BAD_REQUEST).await;
    let again = verify_with_code(&app, "coded@example.com", &code).await;
    assert_problem(again, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.audit_count("email_verified", &id).await, 1);
}

async fn using_the_link_ends_the_code(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, link, code) = registered(&app, "linked@example.com").await;
    assert_eq!(app.get(&link, None).await.status(), StatusCode::OK);

    let verify = verify_with_code(&app, "linked@example.com", &code).await;
    assert_problem(verify, StatusCode::BAD_REQUEST).await;

    let (token, code) = reset_mail(&app, "linked@example.com", 1).await;
    let reset = reset_with_token(&app, &token, NEW_PASSWORD).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let by_code =
        reset_with_code(&app, "linked@example.com", &code, "yet-another-passphrase").await;
    assert_problem(by_code, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.login("linked@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK,
        "the code changed nothing"
    );
}

async fn a_code_resets_the_password_once_and_ends_the_sessions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("resetter@example.com").await;
    let (token, code) = reset_mail(&app, "resetter@example.com", 1).await;

    let weak = reset_with_code(&app, "resetter@example.com", &code, "short").await;
    assert_eq!(invalid_fields(weak).await, ["new_password"]);
    let reset = reset_with_code(&app, "RESETTER@example.com", &typed(&code), NEW_PASSWORD).await;

    assert_eq!(
        reset.status(),
        StatusCode::NO_CONTENT,
        "a weak password burnt nothing"
    );
    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("resetter@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(app.audit_count("password_reset", &id).await, 1);
    let again = reset_with_code(
        &app,
        "resetter@example.com",
        &code,
        "yet-another-passphrase",
    )
    .await;
    assert_problem(again, StatusCode::BAD_REQUEST).await;
    let link = reset_with_token(&app, &token, "yet-another-passphrase").await;
    assert_problem(link, StatusCode::BAD_REQUEST).await;
}

async fn a_code_works_only_for_its_address(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, _, alices) = registered(&app, "alice@example.com").await;
    registered(&app, "bob@example.com").await;

    let as_bob = verify_with_code(&app, "bob@example.com", &alices).await;

    assert_problem(as_bob, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.login("bob@example.com", PASSWORD).await.status(),
        StatusCode::FORBIDDEN,
        "bob is not verified by alice's code"
    );
    let as_alice = verify_with_code(&app, "alice@example.com", &alices).await;
    assert_eq!(as_alice.status(), StatusCode::OK);
}

async fn five_wrong_codes_void_the_codes_but_never_the_links(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.mail_recipient_limit = 0).await else {
        return;
    };
    let id = app.verified_account("guessed@example.com").await;
    let (first_token, _) = reset_mail(&app, "guessed@example.com", 1).await;
    let (_, code) = reset_mail(&app, "guessed@example.com", 2).await;
    let wrong = other_than(&code);
    for _ in 0..4 {
        let response = reset_with_code(&app, "guessed@example.com", &wrong, NEW_PASSWORD).await;
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let counted: Vec<i32> = live_resets(&app, &id)
        .await
        .iter()
        .map(|r| r.code_failures)
        .collect();
    assert_eq!(counted, [4, 4], "each live code counts the wrong ones");

    let fifth = reset_with_code(&app, "guessed@example.com", &wrong, NEW_PASSWORD).await;
    assert_problem(fifth, StatusCode::BAD_REQUEST).await;

    assert!(
        live_resets(&app, &id)
            .await
            .iter()
            .all(|r| r.code_digest.is_none()),
        "every live code of the user is void"
    );
    let right = reset_with_code(&app, "guessed@example.com", &code, NEW_PASSWORD).await;
    assert_problem(right, StatusCode::BAD_REQUEST).await;
    let link = reset_with_token(&app, &first_token, NEW_PASSWORD).await;
    assert_eq!(
        link.status(),
        StatusCode::NO_CONTENT,
        "the links still work"
    );
    let (_, fresh) = reset_mail(&app, "guessed@example.com", 3).await;
    let renewed = reset_with_code(
        &app,
        "guessed@example.com",
        &fresh,
        "yet-another-passphrase",
    )
    .await;
    assert_eq!(
        renewed.status(),
        StatusCode::NO_CONTENT,
        "a new mail's code works"
    );
}

/// The unused reset rows of user `id`.
async fn live_resets(
    app: &TestApp,
    id: &str,
) -> Vec<user_management::db::entities::one_time_tokens::Model> {
    let mut rows: Vec<_> = app
        .link_rows(id)
        .await
        .into_iter()
        .filter(|r| r.purpose == "reset_password" && r.used_at.is_none())
        .collect();
    rows.sort_by_key(|r| r.created_at);
    rows
}

async fn concurrent_wrong_codes_are_counted_one_by_one(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let id = app.verified_account("raced@example.com").await;
    let (token, code) = reset_mail(&app, "raced@example.com", 1).await;
    let body = json!({ "email": "raced@example.com", "code": other_than(&code), "new_password": NEW_PASSWORD });
    let url = format!("{}/password/reset", app.address);

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, body) = (app.client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let response = client.post(url).json(&body).send().await.expect("request");
                response.status()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task"), StatusCode::BAD_REQUEST);
    }

    let rows = live_resets(&app, &id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].code_failures, 5,
        "no guess past the cap was compared"
    );
    assert!(rows[0].code_digest.is_none());
    let right = reset_with_code(&app, "raced@example.com", &code, NEW_PASSWORD).await;
    assert_problem(right, StatusCode::BAD_REQUEST).await;
    let link = reset_with_token(&app, &token, NEW_PASSWORD).await;
    assert_eq!(link.status(), StatusCode::NO_CONTENT);
}

async fn a_wrong_code_and_an_unknown_address_answer_alike(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("known@example.com").await;
    let (_, _, code) = registered(&app, "pending@example.com").await;
    let (_, reset_code) = reset_mail(&app, "known@example.com", 1).await;

    let unknown = answer(verify_with_code(&app, "ghost@example.com", &code).await).await;
    assert_eq!(unknown.0, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.1, "application/problem+json");
    for (email, tried) in [
        ("pending@example.com", other_than(&code)),
        ("pending@example.com", "not a code".to_owned()),
        ("known@example.com", code.clone()),
    ] {
        let response = verify_with_code(&app, email, &tried).await;
        assert_eq!(answer(response).await, unknown, "{email} {tried}");
    }

    let unknown =
        answer(reset_with_code(&app, "ghost@example.com", &reset_code, NEW_PASSWORD).await).await;
    assert_eq!(unknown.0, StatusCode::BAD_REQUEST);
    for (email, tried) in [
        ("known@example.com", other_than(&reset_code)),
        ("pending@example.com", reset_code.clone()),
        ("known@example.com", String::new()),
    ] {
        let response = reset_with_code(&app, email, &tried, NEW_PASSWORD).await;
        assert_eq!(answer(response).await, unknown, "{email} {tried}");
    }
    assert_eq!(
        app.login("known@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "nothing changed"
    );
}

async fn an_expired_code_is_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, _, code) = registered(&app, "late@example.com").await;
    // RFC 3339 text: what SQLite stores, and a timestamptz literal to PostgreSQL.
    app.execute("UPDATE one_time_tokens SET expires_at = '2000-01-01T00:00:00+00:00'")
        .await;

    let response = verify_with_code(&app, "late@example.com", &code).await;

    assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.login("late@example.com", PASSWORD).await.status(),
        StatusCode::FORBIDDEN,
        "still unverified"
    );
}

async fn only_a_keyed_digest_of_the_code_is_stored(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, _, code) = registered(&app, "stored@example.com").await;

    let rows = app.link_rows(&id).await;

    assert_eq!(rows.len(), 1);
    let digest = rows[0].code_digest.clone().expect("a code digest");
    assert_eq!(digest.len(), 64);
    assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{digest}");
    let plain = code.replace('-', "");
    for unkeyed in [&code, &plain] {
        assert_ne!(digest, user_management::auth::tokens::digest(unkeyed));
    }
    let row = format!("{:?}", rows[0]);
    assert!(!row.contains(&plain) && !row.contains(&code), "{row}");
    assert_eq!(rows[0].code_failures, 0);
}

async fn the_body_gives_the_link_or_the_code_whole(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let verify = [
        (json!({}), vec!["user_id", "token"]),
        (json!({"user_id": "x"}), vec!["token"]),
        (json!({"email": "a@example.com"}), vec!["code"]),
        (json!({"code": "ABCD-EFGH"}), vec!["email"]),
        (
            json!({"user_id": "x", "token": "t", "email": "a@example.com"}),
            vec!["email"],
        ),
        (
            json!({"token": "t", "email": "a@example.com", "code": "C"}),
            vec!["email", "code"],
        ),
        (
            json!({"email": "not-an-email", "code": "ABCD-EFGH"}),
            vec!["email"],
        ),
        (
            json!({"email": "a@example.com", "code": "ABCD-EFGH", "role": "ADMIN"}),
            vec!["role"],
        ),
    ];
    for (body, fields) in verify {
        let response = app.post_json("/verify-email", &body).await;
        assert_eq!(invalid_fields(response).await, fields, "{body}");
    }
    let reset = [
        (json!({"new_password": NEW_PASSWORD}), vec!["token"]),
        (
            json!({"email": "a@example.com", "new_password": NEW_PASSWORD}),
            vec!["code"],
        ),
        (
            json!({"email": "a@example.com", "code": "ABCD-EFGH"}),
            vec!["new_password"],
        ),
        (
            json!({"token": "t", "code": "C", "new_password": NEW_PASSWORD}),
            vec!["code"],
        ),
        (
            json!({"user_id": "x", "token": "t", "new_password": NEW_PASSWORD}),
            vec!["user_id"],
        ),
    ];
    for (body, fields) in reset {
        let response = app.post_json("/password/reset", &body).await;
        assert_eq!(invalid_fields(response).await, fields, "{body}");
    }
}

on_both_databases!(
    a_mailed_code_verifies_its_address_and_uses_the_link,
    using_the_link_ends_the_code,
    a_code_resets_the_password_once_and_ends_the_sessions,
    a_code_works_only_for_its_address,
    five_wrong_codes_void_the_codes_but_never_the_links,
    concurrent_wrong_codes_are_counted_one_by_one,
    a_wrong_code_and_an_unknown_address_answer_alike,
    an_expired_code_is_refused,
    only_a_keyed_digest_of_the_code_is_stored,
    the_body_gives_the_link_or_the_code_whole,
);

//! Changing an address (`src/users/email_change.rs`): the owner's change
//! (`POST /me/email`) waits for the link sent to the new address
//! (`POST /email/confirm`), never reveals or takes over another account's
//! address, and a newer request replaces an older one; a staff change is an
//! ADMIN's, audited, told to the old address and verified anew. Every change
//! ends the account's outstanding links.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use user_management::db::entities::email_changes;

use crate::helpers::{
    Backend, PASSWORD, TestApp, WRONG, assert_problem, assert_token_error, invalid_fields, link_in,
    ok_json, path_of, query_param, spawn_app, spawn_app_with, spawn_app_with_admin,
};
use crate::on_both_databases;

/// How long a test waits for a confirmation mail.
const MAIL_WAIT: Duration = Duration::from_secs(10);

async fn request_change(app: &TestApp, access: &str, new_email: &str, password: &str) -> Response {
    app.request(Method::POST, "/me/email")
        .bearer_auth(access)
        .json(&json!({ "new_email": new_email, "password": password }))
        .send()
        .await
        .expect("request")
}

async fn confirm(app: &TestApp, token: &str) -> Response {
    app.post_json("/email/confirm", &json!({ "token": token }))
        .await
}

async fn forgot(app: &TestApp, email: &str) -> Response {
    app.post_json("/password/forgot", &json!({ "email": email }))
        .await
}

async fn reset(app: &TestApp, token: &str) -> StatusCode {
    app.post_json(
        "/password/reset",
        &json!({ "token": token, "new_password": "a-later-long-passphrase" }),
    )
    .await
    .status()
}

/// Status, content type and body of an answer.
async fn answer(response: Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

/// The confirmation links in the mail to `email`, waiting for at least `n`.
async fn confirmation_links(app: &TestApp, email: &str, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + MAIL_WAIT;
    loop {
        let links: Vec<String> = app
            .smtp
            .messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
            .filter_map(|m| link_in(&m.text(), "/email/confirm"))
            .collect();
        if links.len() >= n {
            return links;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} confirmation mail(s) to {email} did not arrive ({} did)",
            links.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The token of the `nth` confirmation mail to `email`.
async fn confirmation_token(app: &TestApp, email: &str, nth: usize) -> String {
    let links = confirmation_links(app, email, nth).await;
    let link = &links[nth - 1];
    assert!(
        link.starts_with("http://localhost:8000/email/confirm?token="),
        "under PUBLIC_BASE_URL: {link}"
    );
    query_param(link, "token").expect("token in the link")
}

// ------------------------------------------------------------------ the owner

async fn a_change_waits_for_the_link_sent_to_the_new_address(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("before@example.com").await;

    let response = request_change(&app, &access, "After@Example.org", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let token = confirmation_token(&app, "After@example.org", 1).await;
    assert!(token.starts_with("ume_"), "{token}");
    assert_eq!(app.me(&access).await["email"], "before@example.com");
    assert_eq!(
        app.login("before@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "the old address stays the login until the change is confirmed"
    );
    assert_token_error(
        app.login("after@example.org", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(app.audit_details("email_changed", &id).await.is_empty());

    let confirmed = ok_json(confirm(&app, &token).await, "confirm").await;

    assert_eq!(confirmed["id"], id.as_str());
    assert_eq!(confirmed["email"], "After@example.org");
    assert_eq!(confirmed["email_verified"], true);
    assert_eq!(
        app.login("after@example.org", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_token_error(
        app.login("before@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let audits = app.audit_details("email_changed", &id).await;
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0]["from"], "before@example.com");
    assert_eq!(audits[0]["to"], "After@example.org");
    assert_eq!(audits[0]["via"], "self");
    let notice = app
        .mail_to("before@example.com", "address of your", 1)
        .await;
    assert!(
        notice[0].text().contains("A…@example.org"),
        "{}",
        notice[0].text()
    );
    let again = confirm(&app, &token).await;
    assert_problem(again, StatusCode::BAD_REQUEST).await;
}

async fn a_wrong_password_is_the_422_of_a_password_change(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = 2).await else {
        return;
    };
    let (id, access, _) = app.verified_user("guarded@example.com").await;

    let wrong = request_change(&app, &access, "thief@example.org", WRONG).await;
    let malformed = request_change(&app, &access, "not-an-address", PASSWORD).await;

    assert_eq!(invalid_fields(wrong).await, ["password"]);
    assert_eq!(invalid_fields(malformed).await, ["new_email"]);
    assert_eq!(app.user_row(&id).await.failed_login_attempts, 1);
    let changes = email_changes::Entity::find()
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(changes, 0, "nothing pending");
    assert_eq!(app.outbox_rows("thief@example.org").await, 0);
    let unauthenticated = app
        .post_json(
            "/me/email",
            &json!({ "new_email": "x@example.org", "password": PASSWORD }),
        )
        .await;
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}

async fn a_taken_address_answers_alike_and_gets_no_link(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("asker@example.com").await;
    let owner_id = app.verified_account("owner@example.com").await;
    let mails_to_owner = app.delivered_to("owner@example.com");

    let free = answer(request_change(&app, &access, "free@example.org", PASSWORD).await).await;
    // Each request replaces the pending one: the free address's link is
    // awaited before the next request retires it.
    confirmation_links(&app, "free@example.org", 1).await;
    let taken = answer(request_change(&app, &access, "OWNER@example.com", PASSWORD).await).await;
    let own = answer(request_change(&app, &access, "asker@example.com", PASSWORD).await).await;

    assert_eq!(free.0, StatusCode::ACCEPTED);
    assert_eq!(taken, free, "a taken address answers as a free one");
    assert_eq!(own, free);
    app.outbox_settled_for("owner@example.com").await;
    app.outbox_settled_for("asker@example.com").await;
    assert_eq!(
        app.delivered_to("owner@example.com"),
        mails_to_owner,
        "no confirmation for an address another account has"
    );
    assert_eq!(app.user_row(&id).await.email, "asker@example.com");
    assert_eq!(app.user_row(&owner_id).await.email, "owner@example.com");
}

async fn a_newer_request_replaces_the_older_one(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("mover@example.com").await;
    request_change(&app, &access, "first@example.org", PASSWORD).await;
    let first = confirmation_token(&app, "first@example.org", 1).await;
    request_change(&app, &access, "second@example.org", PASSWORD).await;
    let second = confirmation_token(&app, "second@example.org", 1).await;

    let stale = confirm(&app, &first).await;

    assert_problem(stale, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.user_row(&id).await.email, "mover@example.com");
    let confirmed = ok_json(confirm(&app, &second).await, "the newer link").await;
    assert_eq!(confirmed["email"], "second@example.org");
}

async fn expired_garbage_and_foreign_tokens_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("late@example.com").await;
    request_change(&app, &access, "later@example.org", PASSWORD).await;
    let token = confirmation_token(&app, "later@example.org", 1).await;
    forgot(&app, "late@example.com").await;
    let reset_token = app.reset_token("late@example.com", 1).await;
    app.execute("UPDATE email_changes SET expires_at = '2000-01-01T00:00:00+00:00'")
        .await;

    for (what, token) in [
        ("expired", token.as_str()),
        ("a reset token", reset_token.as_str()),
        ("garbage", "ume_garbage"),
        ("empty", ""),
    ] {
        let response = confirm(&app, token).await;
        let body = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert!(
            token.is_empty() || !body.to_string().contains(token),
            "{what}: {body}"
        );
    }
    assert_eq!(app.user_row(&id).await.email, "late@example.com");
    assert_eq!(reset(&app, &reset_token).await, StatusCode::NO_CONTENT);
}

async fn an_address_taken_before_the_link_is_used_is_409(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("slow@example.com").await;
    request_change(&app, &access, "contested@example.org", PASSWORD).await;
    let token = confirmation_token(&app, "contested@example.org", 1).await;
    app.verified_account("contested@example.org").await;

    let response = confirm(&app, &token).await;

    assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(app.user_row(&id).await.email, "slow@example.com");
    assert!(app.audit_details("email_changed", &id).await.is_empty());
}

// ------------------------------------------------------------------ staff

async fn a_manager_cannot_change_an_address(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, root) = app.admin().await;
    let (_, manager) = app
        .user_with_role_as(&root, "manager@example.com", "MANAGER")
        .await;
    let target = app
        .create_user_as(&root, "victim@example.com", "AUTHENTICATED", json!({}))
        .await;
    let target_id = target["id"].as_str().expect("id");
    let mails_before = app.smtp.messages().len();

    let response = app
        .patch_user(
            &manager,
            target_id,
            &json!({ "email": "manager.mailbox@example.com", "first_name": "Taken" }),
        )
        .await;

    assert_problem(response, StatusCode::FORBIDDEN).await;
    let row = app.user_row(target_id).await;
    assert_eq!(row.email, "victim@example.com");
    assert_eq!(row.first_name, None, "nothing of the request was kept");
    assert!(row.email_verified);
    assert!(
        app.audit_details("email_changed", target_id)
            .await
            .is_empty()
    );
    assert_eq!(app.outbox_rows("manager.mailbox@example.com").await, 0);
    assert_eq!(app.smtp.messages().len(), mails_before);
    let profile_only = app
        .patch_user(&manager, target_id, &json!({ "first_name": "Kept" }))
        .await;
    assert_eq!(
        ok_json(profile_only, "profile fields").await["first_name"],
        "Kept"
    );
}

/// A registered, unverified user with a verification link and a reset
/// link in hand; returns (id, verification path, reset token).
async fn user_with_links(app: &TestApp, email: &str) -> (String, String, String) {
    let registered = app.register(email, json!({})).await;
    let user: Value = ok_json_created(registered).await;
    let verify_path = path_of(&app.verification_link(email).await);
    forgot(app, email).await;
    let reset_token = app.reset_token(email, 1).await;
    (
        user["id"].as_str().expect("id").to_owned(),
        verify_path,
        reset_token,
    )
}

async fn ok_json_created(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("json")
}

async fn an_admin_change_is_audited_told_and_verified_anew(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (root_id, root) = app.admin().await;
    let (id, old_verify_path, old_reset) = user_with_links(&app, "moved@example.com").await;

    let response = app
        .patch_user(&root, &id, &json!({ "email": "Moved@New.example.org" }))
        .await;

    let body = ok_json(response, "admin email change").await;
    assert_eq!(body["email"], "Moved@new.example.org");
    assert_eq!(body["email_verified"], false);
    let audits = app.audit_rows("email_changed", &id).await;
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].actor_id.map(|a| a.to_string()), Some(root_id));
    assert_eq!(audits[0].details["from"], "moved@example.com");
    assert_eq!(audits[0].details["to"], "Moved@new.example.org");
    assert_eq!(audits[0].details["via"], "api");
    let notice = app.mail_to("moved@example.com", "address of your", 1).await;
    assert!(notice[0].text().contains("An administrator changed"));
    assert_eq!(reset(&app, &old_reset).await, StatusCode::BAD_REQUEST);
    let old_verify = app.get(&old_verify_path, None).await;
    assert_problem(old_verify, StatusCode::BAD_REQUEST).await;
    assert!(
        !app.user_row(&id).await.email_verified,
        "the old link verified nothing"
    );
    let new_link = app.verification_link("Moved@new.example.org").await;
    assert_eq!(
        app.get(&path_of(&new_link), None).await.status(),
        StatusCode::OK
    );
    assert!(app.user_row(&id).await.email_verified);
    assert_eq!(
        app.login("moved@new.example.org", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn a_confirmed_change_ends_the_other_links(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("linked@example.com").await;
    forgot(&app, "linked@example.com").await;
    let reset_token = app.reset_token("linked@example.com", 1).await;
    request_change(&app, &access, "relinked@example.org", PASSWORD).await;
    let token = confirmation_token(&app, "relinked@example.org", 1).await;

    assert_eq!(confirm(&app, &token).await.status(), StatusCode::OK);

    assert_eq!(
        reset(&app, &reset_token).await,
        StatusCode::BAD_REQUEST,
        "a reset link sent to the old address is dead"
    );
    let pending = email_changes::Entity::find()
        .filter(email_changes::Column::UsedAt.is_null())
        .filter(email_changes::Column::UserId.eq(uuid::Uuid::parse_str(&id).expect("id")))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(pending, 0);
}

on_both_databases!(
    a_change_waits_for_the_link_sent_to_the_new_address,
    a_wrong_password_is_the_422_of_a_password_change,
    a_taken_address_answers_alike_and_gets_no_link,
    a_newer_request_replaces_the_older_one,
    expired_garbage_and_foreign_tokens_are_refused,
    an_address_taken_before_the_link_is_used_is_409,
    a_manager_cannot_change_an_address,
    an_admin_change_is_audited_told_and_verified_anew,
    a_confirmed_change_ends_the_other_links,
);

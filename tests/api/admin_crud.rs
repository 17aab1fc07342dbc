//! Staff CRUD of users (`POST /users`, `GET|PATCH|PUT|DELETE
//! /users/{id}`): staff-created users are verified and audited, a deleted
//! user is gone but its audit trail stays, staff edits keep uniqueness and
//! refuse privileged fields, and unknown or malformed ids are 404.

use reqwest::{Method, StatusCode};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use user_management::db::entities::users;
use user_management::domain::Role;

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_problem, assert_token_error, assert_unauthorized,
    invalid_fields, jwt_claims, ok_json, path_of, spawn_app_with_admin,
};
use crate::on_both_databases;

async fn staff_created_users_are_verified_and_audited(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, root) = app.admin().await;
    let (manager_id, manager) = app
        .user_with_role_as(&root, "manager@example.com", "MANAGER")
        .await;

    let response = app
        .call(
            Method::POST,
            "/users",
            Some(&manager),
            Some(&json!({"email": "New.Hire@EXAMPLE.com", "password": PASSWORD, "first_name": "New"})),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.expect("json");
    let id = user["id"].as_str().expect("id").to_owned();
    assert_eq!(user["email"], "New.Hire@example.com");
    assert_eq!(user["role"], "AUTHENTICATED", "the default role");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["first_name"], "New");
    let (token, _) = app.tokens("new.hire@example.com", PASSWORD).await;
    assert_eq!(jwt_claims(&token)["role"], "AUTHENTICATED");
    let events = app.audit_items(&root, &format!("user_id={id}")).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "user_created");
    assert_eq!(events[0]["actor_id"], manager_id.as_str());
    assert_eq!(events[0]["details"]["role"], "AUTHENTICATED");
    assert_eq!(
        app.smtp
            .messages()
            .iter()
            .filter(|m| m
                .to
                .iter()
                .any(|t| t.eq_ignore_ascii_case("new.hire@example.com")))
            .count(),
        0,
        "no verification email for a staff-created user"
    );
    let duplicate = app
        .call(
            Method::POST,
            "/users",
            Some(&root),
            Some(&json!({"email": "NEW.HIRE@example.com", "password": PASSWORD})),
        )
        .await;
    assert_problem(duplicate, StatusCode::CONFLICT).await;
}

async fn a_deleted_user_is_gone_but_its_audit_trail_stays(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (root_id, root) = app.admin().await;
    let (user_id, user_token) = app
        .user_with_role_as(&root, "leaving@example.com", "AUTHENTICATED")
        .await;
    ok_json(app.lock_user(&root, &user_id).await, "lock").await;
    ok_json(app.unlock_user(&root, &user_id).await, "unlock").await;
    let (user_token_2, _) = app.tokens("leaving@example.com", PASSWORD).await;

    let response = app.delete_user(&root, &user_id).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body").is_empty());
    assert!(app.find_user(&user_id).await.is_none());
    let gone = app.get(&format!("/users/{user_id}"), Some(&root)).await;
    assert_problem(gone, StatusCode::NOT_FOUND).await;
    assert_unauthorized(
        app.get("/me", Some(&user_token)).await,
        "token of a deleted user",
    )
    .await;
    assert_unauthorized(
        app.get("/me", Some(&user_token_2)).await,
        "other token of a deleted user",
    )
    .await;
    let login = app.login("leaving@example.com", PASSWORD).await;
    assert_token_error(login, StatusCode::UNAUTHORIZED).await;
    let events = app.audit_items(&root, &format!("user_id={user_id}")).await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "user_deleted",
            "user_unlocked",
            "user_locked",
            "user_created"
        ],
        "newest first, and the older events survived"
    );
    assert_eq!(events[0]["actor_id"], root_id.as_str());
    assert_eq!(events[0]["details"]["role"], "AUTHENTICATED");
    let again = app.delete_user(&root, &user_id).await;
    assert_problem(again, StatusCode::NOT_FOUND).await;
    let reused = app
        .create_user_as(&root, "leaving@example.com", "AUTHENTICATED", json!({}))
        .await;
    assert_ne!(reused["id"], user_id.as_str(), "the address is free again");
}

/// Creates an AUTHENTICATED user `email` with `nickname` as `root`;
/// returns its id.
async fn nicknamed(app: &TestApp, root: &str, email: &str, nickname: &str) -> String {
    let user = app
        .create_user_as(
            root,
            email,
            "AUTHENTICATED",
            json!({ "nickname": nickname }),
        )
        .await;
    user["id"].as_str().expect("id").to_owned()
}

/// The staff edit (`body`) of `target_id` is stored, and the user logs in
/// with the new email only, once verified.
async fn assert_stored_and_renamed(app: &TestApp, root: &str, target_id: &str, body: &Value) {
    let read = ok_json(
        app.get(&format!("/users/{target_id}"), Some(root)).await,
        "read",
    )
    .await;
    for field in [
        "email",
        "nickname",
        "first_name",
        "last_name",
        "bio",
        "github_profile_url",
    ] {
        assert_eq!(read[field], body[field], "stored {field}");
    }
    let unverified = app.login("renamed.user@example.org", PASSWORD).await;
    assert_token_error(unverified, StatusCode::FORBIDDEN).await;
    let link = app.verification_link("renamed.user@example.org").await;
    assert_eq!(
        app.get(&path_of(&link), None).await.status(),
        StatusCode::OK
    );
    app.tokens("renamed.user@example.org", PASSWORD).await;
    let old = app.login("target@example.com", PASSWORD).await;
    assert_token_error(old, StatusCode::UNAUTHORIZED).await;
}

/// Another user's email or nickname (any case) is a 409, and nothing of the
/// refused update of `other_id` is kept.
async fn assert_taken_email_and_nickname_refused(app: &TestApp, root: &str, other_id: &str) {
    let other_before = app.find_user(other_id).await.expect("other");
    let taken = app
        .patch_user(
            root,
            other_id,
            &json!({"email": "RENAMED.user@example.ORG", "first_name": "Nope"}),
        )
        .await;
    let taken_body = assert_problem(taken, StatusCode::CONFLICT).await;
    assert!(
        taken_body["detail"]
            .as_str()
            .expect("detail")
            .contains("email"),
        "{taken_body}"
    );
    let nick_taken = app
        .patch_user(root, other_id, &json!({"nickname": "renamed_NICK"}))
        .await;
    assert_problem(nick_taken, StatusCode::CONFLICT).await;
    let other_after = app.find_user(other_id).await.expect("other");
    assert_eq!(other_after.email, other_before.email);
    assert_eq!(other_after.nickname, other_before.nickname);
    assert_eq!(
        other_after.first_name, None,
        "nothing of a refused update is kept"
    );
}

/// A user may change the case of their own email; a PUT is a partial
/// update where null clears.
async fn assert_case_change_and_partial_put(app: &TestApp, root: &str, target_id: &str) {
    let own_case = app
        .patch_user(
            root,
            target_id,
            &json!({"email": "renamed.user@example.org"}),
        )
        .await;
    assert_eq!(
        ok_json(own_case, "case of its own email").await["email"],
        "renamed.user@example.org"
    );
    let put = app
        .call(
            Method::PUT,
            &format!("/users/{target_id}"),
            Some(root),
            Some(&json!({"bio": null, "last_name": "Smith"})),
        )
        .await;
    let put = ok_json(put, "PUT is a partial update").await;
    assert_eq!(put["bio"], Value::Null, "null clears");
    assert_eq!(put["last_name"], "Smith");
    assert_eq!(put["first_name"], "Ren", "absent fields are kept");
    assert_eq!(put["nickname"], "Renamed_Nick");
}

/// Invalid fields are 422 naming each, privileged fields are refused, and
/// nothing of it is stored.
async fn assert_invalid_and_privileged_fields_refused(app: &TestApp, root: &str, target_id: &str) {
    let invalid = app
        .patch_user(
            root,
            target_id,
            &json!({"email": "not-an-address", "first_name": "x".repeat(101)}),
        )
        .await;
    let mut fields = invalid_fields(invalid).await;
    fields.sort();
    assert_eq!(fields, ["email", "first_name"]);
    for (body, field) in [
        (json!({"role": "ADMIN"}), "role"),
        (json!({"is_locked": true}), "is_locked"),
        (json!({"is_professional": true}), "is_professional"),
        (json!({"password": PASSWORD}), "password"),
    ] {
        let response = app.patch_user(root, target_id, &body).await;
        assert_eq!(invalid_fields(response).await, [field], "{body}");
    }
    let stored = app.find_user(target_id).await.expect("target");
    assert_eq!(stored.email, "renamed.user@example.org");
    assert_eq!(stored.role, Role::Authenticated);
    assert!(!stored.is_locked && !stored.is_professional);
}

async fn staff_edit_profile_fields_and_email(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, root) = app.admin().await;
    let (_, manager) = app
        .user_with_role_as(&root, "manager@example.com", "MANAGER")
        .await;
    let target_id = nicknamed(&app, &root, "target@example.com", "target_nick").await;
    let other_id = nicknamed(&app, &root, "other@example.com", "other_nick").await;

    let response = app
        .patch_user(
            &manager,
            &target_id,
            &json!({
                "nickname": "Renamed_Nick",
                "first_name": "Ren",
                "last_name": "Amed",
                "bio": "Edited by staff.",
                "github_profile_url": "https://github.com/renamed",
                "linkedin_profile_url": "https://www.linkedin.com/in/renamed",
            }),
        )
        .await;
    let renamed = app
        .patch_user(
            &root,
            &target_id,
            &json!({ "email": "Renamed.User@EXAMPLE.org" }),
        )
        .await;

    let body = ok_json(response, "staff patch").await;
    assert_eq!(body["nickname"], "Renamed_Nick");
    assert_eq!(body["first_name"], "Ren");
    assert_eq!(body["last_name"], "Amed");
    assert_eq!(body["bio"], "Edited by staff.");
    assert_eq!(body["github_profile_url"], "https://github.com/renamed");
    assert_eq!(body["role"], "AUTHENTICATED");
    let body = ok_json(renamed, "an admin changes the email").await;
    assert_eq!(body["email"], "Renamed.User@example.org");
    assert_eq!(body["first_name"], "Ren", "the profile edit stays");
    assert_stored_and_renamed(&app, &root, &target_id, &body).await;

    assert_taken_email_and_nickname_refused(&app, &root, &other_id).await;
    assert_case_change_and_partial_put(&app, &root, &target_id).await;
    assert_invalid_and_privileged_fields_refused(&app, &root, &target_id).await;
}

/// Every staff call on user `id`: method, path and body.
fn staff_calls_on(id: &str) -> [(Method, String, Option<Value>); 8] {
    [
        (Method::GET, format!("/users/{id}"), None),
        (
            Method::PATCH,
            format!("/users/{id}"),
            Some(json!({"first_name": "X"})),
        ),
        (
            Method::PUT,
            format!("/users/{id}"),
            Some(json!({"first_name": "X"})),
        ),
        (Method::DELETE, format!("/users/{id}"), None),
        (
            Method::PUT,
            format!("/users/{id}/role"),
            Some(json!({"role": "MANAGER"})),
        ),
        (Method::POST, format!("/users/{id}/lock"), None),
        (Method::POST, format!("/users/{id}/unlock"), None),
        (
            Method::PUT,
            format!("/users/{id}/professional"),
            Some(json!({"is_professional": true})),
        ),
    ]
}

async fn unknown_or_malformed_ids_are_404(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, root) = app.admin().await;
    let (_, manager) = app.user_with_role("manager@example.com", "MANAGER").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let users_before = users::Entity::find()
        .count(&app.db)
        .await
        .expect("count users");

    for id in [
        unknown.as_str(),
        "not-a-uuid",
        "123",
        "00000000-0000-0000-0000-00000000000g",
    ] {
        let calls = staff_calls_on(id);
        for (method, path, body) in calls {
            let response = app
                .call(method.clone(), &path, Some(&root), body.as_ref())
                .await;
            let problem = assert_problem(response, StatusCode::NOT_FOUND).await;
            assert!(
                !problem["detail"].as_str().expect("detail").contains("uuid"),
                "{method} {path}: no parser message leaks: {problem}"
            );
        }
        let as_manager = app.get(&format!("/users/{id}"), Some(&manager)).await;
        assert_problem(as_manager, StatusCode::NOT_FOUND).await;
    }
    assert_eq!(
        users::Entity::find().count(&app.db).await.expect("count"),
        users_before
    );
}

on_both_databases!(
    staff_created_users_are_verified_and_audited,
    a_deleted_user_is_gone_but_its_audit_trail_stays,
    staff_edit_profile_fields_and_email,
    unknown_or_malformed_ids_are_404,
);

//! Staff administration: last-admin protection, role changes, locks,
//! professional status, staff creation and deletion, the audit log, staff
//! edits of a user, and that nobody raises their own role.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, Response, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use user_management::db::entities::{email_outbox, users};
use user_management::domain::Role;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PASSWORD, TestApp, assert_problem, assert_token_error,
    invalid_fields, jwt_claims, path_of, spawn_app_with_admin,
};
use crate::on_both_databases;
use crate::helpers::smtp::Captured;

// ------------------------------------------------------------------ helpers

async fn put_role(app: &TestApp, token: &str, id: &str, role: &str) -> Response {
    app.call(
        Method::PUT,
        &format!("/users/{id}/role"),
        Some(token),
        Some(&json!({ "role": role })),
    )
    .await
}

async fn lock(app: &TestApp, token: &str, id: &str) -> Response {
    app.call(
        Method::POST,
        &format!("/users/{id}/lock"),
        Some(token),
        None,
    )
    .await
}

async fn unlock(app: &TestApp, token: &str, id: &str) -> Response {
    app.call(
        Method::POST,
        &format!("/users/{id}/unlock"),
        Some(token),
        None,
    )
    .await
}

async fn delete(app: &TestApp, token: &str, id: &str) -> Response {
    app.call(Method::DELETE, &format!("/users/{id}"), Some(token), None)
        .await
}

async fn set_professional(app: &TestApp, token: &str, id: &str, value: bool) -> Response {
    app.call(
        Method::PUT,
        &format!("/users/{id}/professional"),
        Some(token),
        Some(&json!({ "is_professional": value })),
    )
    .await
}

async fn patch_user(app: &TestApp, token: &str, id: &str, body: &Value) -> Response {
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(token),
        Some(body),
    )
    .await
}

async fn ok_json(response: Response, what: &str) -> Value {
    assert_eq!(response.status(), StatusCode::OK, "{what}");
    response.json().await.expect("json")
}

/// The stored row of `id`, if it exists.
async fn row(app: &TestApp, id: &str) -> Option<users::Model> {
    users::Entity::find_by_id(uuid::Uuid::parse_str(id).expect("uuid"))
        .one(&app.db)
        .await
        .expect("query users")
}

/// ADMINs that are not locked.
async fn active_admins(app: &TestApp) -> u64 {
    users::Entity::find()
        .filter(users::Column::Role.eq("ADMIN"))
        .filter(users::Column::IsLocked.eq(false))
        .count(&app.db)
        .await
        .expect("count admins")
}

/// The items of `GET /audit-events?{query}`.
async fn audit_items(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    app.audit_events(admin, query).await["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// The messages to `email` whose subject contains `subject` (any case),
/// waiting up to ten seconds for at least `n`.
async fn mail_to(app: &TestApp, email: &str, subject: &str, n: usize) -> Vec<Captured> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<Captured> = app
            .smtp
            .messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
            .filter(|m| m.subject().to_lowercase().contains(&subject.to_lowercase()))
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} email(s) about {subject:?} to {email} did not arrive ({} did)",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Rows ever queued for `email` in the outbox.
async fn outbox_rows(app: &TestApp, email: &str) -> u64 {
    email_outbox::Entity::find()
        .filter(email_outbox::Column::Recipient.eq(email))
        .count(&app.db)
        .await
        .expect("count outbox")
}

async fn assert_401(app: &TestApp, token: &str, what: &str) {
    let response = app.get("/me", Some(token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
}

fn timestamp(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp: {value}"))
        .parse()
        .expect("RFC 3339")
}

// ------------------------------------------------------ last-admin protection

async fn the_last_admin_cannot_be_demoted_locked_or_deleted(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (root_id, root) = app.admin().await;
    // A locked second admin does not count: it cannot act.
    let (locked_admin, _) = app
        .user_with_role_as(&root, "locked-admin@example.com", "ADMIN")
        .await;
    ok_json(
        lock(&app, &root, &locked_admin).await,
        "lock the other admin",
    )
    .await;
    let before = row(&app, &root_id).await.expect("root");

    let demotions = [
        put_role(&app, &root, &root_id, "MANAGER").await,
        put_role(&app, &root, &root_id, "AUTHENTICATED").await,
        put_role(&app, &root, &root_id, "ANONYMOUS").await,
    ];
    let locked = lock(&app, &root, &root_id).await;
    let deleted = delete(&app, &root, &root_id).await;

    for response in demotions {
        let body = assert_problem(response, StatusCode::CONFLICT).await;
        assert!(
            body["detail"].as_str().expect("detail").contains("last"),
            "{body}"
        );
    }
    assert_problem(locked, StatusCode::CONFLICT).await;
    assert_problem(deleted, StatusCode::CONFLICT).await;
    let after = row(&app, &root_id).await.expect("root still exists");
    assert_eq!(after.role, Role::Admin);
    assert!(!after.is_locked);
    assert_eq!(after.updated_at, before.updated_at, "nothing was written");
    assert_eq!(
        app.get("/me", Some(&root)).await.status(),
        StatusCode::OK,
        "the admin's session survived"
    );
    let events = audit_items(&app, &root, &format!("user_id={root_id}")).await;
    assert!(
        events.iter().all(|e| e["action"] == "user_created"),
        "no refused action was audited: {events:?}"
    );
    let same = put_role(&app, &root, &root_id, "ADMIN").await;
    assert_eq!(
        ok_json(same, "ADMIN to ADMIN is no change").await["role"],
        "ADMIN"
    );
}

async fn with_two_admins_one_can_demote_the_other(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (root_id, root) = app.admin().await;
    let (second_id, second) = app
        .user_with_role_as(&root, "second-admin@example.com", "ADMIN")
        .await;

    let demoted = put_role(&app, &second, &root_id, "MANAGER").await;

    let body = ok_json(demoted, "second demotes root").await;
    assert_eq!(body["role"], "MANAGER");
    assert_eq!(row(&app, &root_id).await.expect("root").role, Role::Manager);
    assert_eq!(active_admins(&app).await, 1);
    let now_last = put_role(&app, &second, &second_id, "MANAGER").await;
    assert_problem(now_last, StatusCode::CONFLICT).await;
    let lock_last = lock(&app, &second, &second_id).await;
    assert_problem(lock_last, StatusCode::CONFLICT).await;
    assert_eq!(
        row(&app, &second_id).await.expect("second").role,
        Role::Admin
    );
    let (root_again, _) = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let refused = put_role(&app, &root_again, &root_id, "ADMIN").await;
    assert_problem(refused, StatusCode::FORBIDDEN).await;
}

#[derive(Debug, Clone, Copy)]
enum Removal {
    Demote,
    Lock,
    Delete,
}

struct Account {
    id: String,
    email: String,
    password: String,
}

async fn two_admins_removing_each_other_at_once_leave_one(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (root_id, root) = app.admin().await;
    let second = app
        .create_user_as(&root, "pair-0@example.com", "ADMIN", json!({}))
        .await;
    let mut pair = [
        Account {
            id: root_id,
            email: ADMIN_EMAIL.into(),
            password: ADMIN_PASSWORD.into(),
        },
        Account {
            id: second["id"].as_str().expect("id").into(),
            email: "pair-0@example.com".into(),
            password: PASSWORD.into(),
        },
    ];
    let rounds = [
        Removal::Demote,
        Removal::Lock,
        Removal::Delete,
        Removal::Demote,
        Removal::Lock,
        Removal::Delete,
    ];

    for (round, removal) in rounds.into_iter().enumerate() {
        assert_eq!(active_admins(&app).await, 2, "round {round}: arranged");
        let (a, _) = app.tokens(&pair[0].email, &pair[0].password).await;
        let (b, _) = app.tokens(&pair[1].email, &pair[1].password).await;
        let act = |token: String, id: String| {
            let app = &app;
            async move {
                match removal {
                    Removal::Demote => put_role(app, &token, &id, "MANAGER").await,
                    Removal::Lock => lock(app, &token, &id).await,
                    Removal::Delete => delete(app, &token, &id).await,
                }
            }
        };

        let (first, second) = tokio::join!(act(a, pair[1].id.clone()), act(b, pair[0].id.clone()));

        let statuses = [first.status(), second.status()];
        let won: Vec<usize> = (0..2).filter(|&i| statuses[i].is_success()).collect();
        assert_eq!(
            won.len(),
            1,
            "round {round} ({removal:?}): exactly one succeeds: {statuses:?}"
        );
        for status in statuses.iter().filter(|s| !s.is_success()) {
            assert!(
                [StatusCode::CONFLICT, StatusCode::UNAUTHORIZED].contains(status),
                "round {round} ({removal:?}): the other is refused, not failed: {statuses:?}"
            );
        }
        assert_eq!(
            active_admins(&app).await,
            1,
            "round {round} ({removal:?}): one ADMIN remains"
        );
        // Restore two active admins for the next round.
        let winner = won[0];
        let loser = 1 - winner;
        let (token, _) = app
            .tokens(&pair[winner].email, &pair[winner].password)
            .await;
        match removal {
            Removal::Demote => {
                let back = put_role(&app, &token, &pair[loser].id, "ADMIN").await;
                ok_json(back, "promote back").await;
            }
            Removal::Lock => {
                ok_json(unlock(&app, &token, &pair[loser].id).await, "unlock").await;
            }
            Removal::Delete => {
                let email = format!("pair-{}@example.com", round + 1);
                let created = app.create_user_as(&token, &email, "ADMIN", json!({})).await;
                pair[loser] = Account {
                    id: created["id"].as_str().expect("id").into(),
                    email,
                    password: PASSWORD.into(),
                };
            }
        }
    }
}

// ------------------------------------------------------------ staff actions

async fn a_role_change_ends_sessions_emails_and_is_audited(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (root_id, root) = app.admin().await;
    let (user_id, old_token) = app
        .user_with_role_as(&root, "promoted@example.com", "AUTHENTICATED")
        .await;
    let (_, refresh) = app.tokens("promoted@example.com", PASSWORD).await;

    let response = put_role(&app, &root, &user_id, "MANAGER").await;

    let body = ok_json(response, "role change").await;
    assert_eq!(body["id"], user_id.as_str());
    assert_eq!(body["role"], "MANAGER");
    assert_eq!(row(&app, &user_id).await.expect("user").role, Role::Manager);
    assert_401(&app, &old_token, "old access token").await;
    assert_token_error(app.refresh(&refresh).await, StatusCode::BAD_REQUEST).await;
    let (new_token, _) = app.tokens("promoted@example.com", PASSWORD).await;
    assert_eq!(jwt_claims(&new_token)["role"], "MANAGER");
    assert_eq!(
        app.get("/users", Some(&new_token)).await.status(),
        StatusCode::OK,
        "the new role is in force"
    );
    let mail = mail_to(&app, "promoted@example.com", "role", 1).await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].subject().contains("MANAGER"),
        "{}",
        mail[0].subject()
    );
    let text = mail[0].text();
    assert!(
        text.contains("AUTHENTICATED") && text.contains("MANAGER"),
        "{text}"
    );
    let events = audit_items(
        &app,
        &root,
        &format!("user_id={user_id}&action=role_changed"),
    )
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor_id"], root_id.as_str());
    assert_eq!(events[0]["user_id"], user_id.as_str());
    assert_eq!(events[0]["details"]["from"], "AUTHENTICATED");
    assert_eq!(events[0]["details"]["to"], "MANAGER");

    let unchanged = put_role(&app, &root, &user_id, "MANAGER").await;
    ok_json(unchanged, "same role again").await;
    assert_eq!(
        app.get("/me", Some(&new_token)).await.status(),
        StatusCode::OK,
        "setting the same role ends no session"
    );
    assert_eq!(
        audit_items(
            &app,
            &root,
            &format!("user_id={user_id}&action=role_changed")
        )
        .await
        .len(),
        1,
        "no change, no event"
    );
    assert_eq!(
        outbox_rows(&app, "promoted@example.com").await,
        1,
        "no second email"
    );
    let bad = put_role(&app, &root, &user_id, "SUPERUSER").await;
    assert_eq!(invalid_fields(bad).await, ["role"]);
}

async fn a_lock_ends_sessions_and_refuses_login_until_unlocked(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, root) = app.admin().await;
    let (manager_id, manager) = app
        .user_with_role_as(&root, "manager@example.com", "MANAGER")
        .await;
    let (user_id, user_token) = app
        .user_with_role_as(&root, "locked@example.com", "AUTHENTICATED")
        .await;

    let locked = lock(&app, &manager, &user_id).await;

    let body = ok_json(locked, "lock").await;
    assert_eq!(body["is_locked"], true);
    assert!(row(&app, &user_id).await.expect("user").is_locked);
    assert_401(&app, &user_token, "token of a locked user").await;
    let login = app.login("locked@example.com", PASSWORD).await;
    assert_token_error(login, StatusCode::LOCKED).await;
    let again = lock(&app, &manager, &user_id).await;
    assert_eq!(ok_json(again, "lock again").await["is_locked"], true);
    let events = audit_items(
        &app,
        &root,
        &format!("user_id={user_id}&action=user_locked"),
    )
    .await;
    assert_eq!(events.len(), 1, "locked once: {events:?}");
    assert_eq!(events[0]["actor_id"], manager_id.as_str());
    assert_eq!(events[0]["user_id"], user_id.as_str());
    assert_eq!(events[0]["details"]["reason"], "manual");

    let unlocked = unlock(&app, &manager, &user_id).await;

    assert_eq!(ok_json(unlocked, "unlock").await["is_locked"], false);
    assert!(!row(&app, &user_id).await.expect("user").is_locked);
    let (fresh, _) = app.tokens("locked@example.com", PASSWORD).await;
    assert_eq!(app.get("/me", Some(&fresh)).await.status(), StatusCode::OK);
    let events = audit_items(
        &app,
        &root,
        &format!("user_id={user_id}&action=user_unlocked"),
    )
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor_id"], manager_id.as_str());
    assert_eq!(events[0]["details"]["reason"], "manual");
}

async fn professional_status_is_stamped_emailed_and_audited(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, root) = app.admin().await;
    let (manager_id, manager) = app
        .user_with_role_as(&root, "manager@example.com", "MANAGER")
        .await;
    let created = app
        .create_user_as(
            &root,
            "pro@example.com",
            "AUTHENTICATED",
            json!({"nickname": "the_pro"}),
        )
        .await;
    let user_id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["is_professional"], false);
    assert_eq!(created["professional_status_updated_at"], Value::Null);
    let start = Utc::now() - chrono::Duration::seconds(1);

    let response = set_professional(&app, &manager, &user_id, true).await;

    let body = ok_json(response, "professional").await;
    let end = Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(body["is_professional"], true);
    let stamped = timestamp(&body["professional_status_updated_at"]);
    assert!(start <= stamped && stamped <= end, "{stamped}");
    let stored = row(&app, &user_id).await.expect("user");
    assert!(stored.is_professional);
    assert_eq!(stored.professional_status_updated_at, Some(stamped));
    let mail = mail_to(&app, "pro@example.com", "professional", 1).await;
    assert!(
        mail[0]
            .text()
            .to_lowercase()
            .contains("now has professional status"),
        "{}",
        mail[0].text()
    );
    let events = audit_items(
        &app,
        &root,
        &format!("user_id={user_id}&action=professional_status_changed"),
    )
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor_id"], manager_id.as_str());
    assert_eq!(events[0]["details"]["from"], false);
    assert_eq!(events[0]["details"]["to"], true);
    let profile = app.get("/profiles/the_pro", None).await;
    assert_eq!(ok_json(profile, "profile").await["is_professional"], true);

    tokio::time::sleep(Duration::from_millis(20)).await;
    let revoked = ok_json(set_professional(&app, &root, &user_id, false).await, "off").await;
    assert_eq!(revoked["is_professional"], false);
    assert!(timestamp(&revoked["professional_status_updated_at"]) > stamped);
    let mail = mail_to(&app, "pro@example.com", "professional", 2).await;
    assert!(
        mail[1].text().to_lowercase().contains("no longer"),
        "{}",
        mail[1].text()
    );
    let unchanged = ok_json(set_professional(&app, &root, &user_id, false).await, "same").await;
    assert_eq!(
        unchanged["professional_status_updated_at"], revoked["professional_status_updated_at"],
        "no change, no new stamp"
    );
    assert_eq!(
        outbox_rows(&app, "pro@example.com").await,
        2,
        "no third email"
    );
    assert_eq!(
        audit_items(
            &app,
            &root,
            &format!("user_id={user_id}&action=professional_status_changed")
        )
        .await
        .len(),
        2
    );
    let not_bool = app
        .call(
            Method::PUT,
            &format!("/users/{user_id}/professional"),
            Some(&root),
            Some(&json!({"is_professional": "yes"})),
        )
        .await;
    assert_eq!(invalid_fields(not_bool).await, ["is_professional"]);
}

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
    let events = audit_items(&app, &root, &format!("user_id={id}")).await;
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
    ok_json(lock(&app, &root, &user_id).await, "lock").await;
    ok_json(unlock(&app, &root, &user_id).await, "unlock").await;
    let (user_token_2, _) = app.tokens("leaving@example.com", PASSWORD).await;

    let response = delete(&app, &root, &user_id).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body").is_empty());
    assert!(row(&app, &user_id).await.is_none());
    let gone = app.get(&format!("/users/{user_id}"), Some(&root)).await;
    assert_problem(gone, StatusCode::NOT_FOUND).await;
    assert_401(&app, &user_token, "token of a deleted user").await;
    assert_401(&app, &user_token_2, "other token of a deleted user").await;
    let login = app.login("leaving@example.com", PASSWORD).await;
    assert_token_error(login, StatusCode::UNAUTHORIZED).await;
    let events = audit_items(&app, &root, &format!("user_id={user_id}")).await;
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
    let again = delete(&app, &root, &user_id).await;
    assert_problem(again, StatusCode::NOT_FOUND).await;
    let reused = app
        .create_user_as(&root, "leaving@example.com", "AUTHENTICATED", json!({}))
        .await;
    assert_ne!(reused["id"], user_id.as_str(), "the address is free again");
}

// ---------------------------------------------------------------- audit log

async fn the_audit_log_filters_and_pages(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (root_id, root) = app.admin().await;
    let (manager_id, manager) = app
        .user_with_role_as(&root, "manager@example.com", "MANAGER")
        .await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let user = app
            .create_user_as(
                &root,
                &format!("u{n}@example.com"),
                "AUTHENTICATED",
                json!({}),
            )
            .await;
        ids.push(user["id"].as_str().expect("id").to_owned());
    }
    ok_json(lock(&app, &manager, &ids[0]).await, "lock").await;
    ok_json(unlock(&app, &manager, &ids[0]).await, "unlock").await;
    ok_json(put_role(&app, &root, &ids[1], "MANAGER").await, "role").await;
    ok_json(set_professional(&app, &manager, &ids[2], true).await, "pro").await;

    let about_u1 = app
        .audit_events(&root, &format!("user_id={}", ids[0]))
        .await;
    let by_manager = app
        .audit_events(&root, &format!("actor_id={manager_id}"))
        .await;
    let created_by_root = app
        .audit_events(&root, &format!("action=user_created&actor_id={root_id}"))
        .await;
    let role_changes = app.audit_events(&root, "action=role_changed").await;

    let actions = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["action"].as_str().expect("action").to_owned())
            .collect()
    };
    assert_eq!(
        actions(&about_u1),
        ["user_unlocked", "user_locked", "user_created"]
    );
    assert_eq!(about_u1["total"], 3);
    assert_eq!(
        actions(&by_manager),
        [
            "professional_status_changed",
            "user_unlocked",
            "user_locked"
        ]
    );
    assert!(
        by_manager["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| e["actor_id"] == manager_id.as_str())
    );
    assert_eq!(created_by_root["total"], 4, "the manager and u1..u3");
    assert_eq!(role_changes["total"], 1);
    let bootstrap = audit_items(&app, &root, &format!("user_id={root_id}")).await;
    assert_eq!(bootstrap.len(), 1, "{bootstrap:?}");
    assert_eq!(bootstrap[0]["action"], "user_created");
    assert_eq!(
        bootstrap[0]["actor_id"],
        Value::Null,
        "the environment admin was created by the system"
    );
    assert_eq!(bootstrap[0]["details"]["role"], "ADMIN");
    let event = &role_changes["items"][0];
    for field in ["id", "at", "actor_id", "user_id", "action", "details"] {
        assert!(!event[field].is_null(), "{field} in {event}");
    }
    assert_eq!(event["user_id"], ids[1].as_str());
    timestamp(&event["at"]);

    // Paging: five user_created events (root's bootstrap included), two per page.
    let mut path = "/audit-events?action=user_created&limit=2".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = ok_json(app.get(&path, Some(&root)).await, &path).await;
        pages += 1;
        assert_eq!(page["total"], 5, "{path}");
        assert_eq!(page["size"], 2);
        assert_eq!(page["page"], pages);
        let links = page["links"].as_array().expect("links");
        let rels: Vec<&str> = links
            .iter()
            .map(|l| l["rel"].as_str().expect("rel"))
            .collect();
        for l in links {
            let href = l["href"].as_str().expect("href");
            assert!(
                href.contains("action=user_created"),
                "keeps the filter: {href}"
            );
            assert!(href.contains("limit=2"), "keeps the size: {href}");
        }
        assert!(rels.contains(&"self") && rels.contains(&"first") && rels.contains(&"last"));
        assert_eq!(rels.contains(&"prev"), pages > 1, "{rels:?}");
        for e in page["items"].as_array().expect("items") {
            assert_eq!(e["action"], "user_created");
            seen.push(e["id"].as_str().expect("id").to_owned());
        }
        match links.iter().find(|l| l["rel"] == "next") {
            Some(next) => path = path_of(next["href"].as_str().expect("href")),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "every event exactly once: {seen:?}");
    let third = ok_json(
        app.get(
            "/audit-events?action=user_created&limit=2&skip=4",
            Some(&root),
        )
        .await,
        "skip",
    )
    .await;
    assert_eq!(third["page"], 3);
    assert_eq!(third["items"].as_array().expect("items").len(), 1);

    for query in ["limit=0", "limit=101"] {
        let response = app
            .get(&format!("/audit-events?{query}"), Some(&root))
            .await;
        assert_eq!(invalid_fields(response).await, ["limit"], "{query}");
    }
    for query in ["user_id=not-a-uuid", "colour=blue", "skip=-1"] {
        let response = app
            .get(&format!("/audit-events?{query}"), Some(&root))
            .await;
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let refused = app.get("/audit-events", Some(&manager)).await;
    assert_problem(refused, StatusCode::FORBIDDEN).await;
}

// -------------------------------------------------------- no self-escalation

async fn nobody_raises_their_own_role(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, root) = app.admin().await;
    let (user_id, user) = app
        .user_with_role_as(&root, "user@example.com", "AUTHENTICATED")
        .await;
    let (manager_id, manager) = app
        .user_with_role_as(&root, "manager@example.com", "MANAGER")
        .await;

    let patch_me = app
        .call(
            Method::PATCH,
            "/me",
            Some(&user),
            Some(&json!({"role": "ADMIN"})),
        )
        .await;
    let register = app
        .register("climber@example.com", json!({"role": "ADMIN"}))
        .await;
    let manager_patch = patch_user(
        &app,
        &manager,
        &manager_id,
        &json!({"role": "ADMIN", "first_name": "Boss"}),
    )
    .await;
    let manager_put = app
        .call(
            Method::PUT,
            &format!("/users/{manager_id}"),
            Some(&manager),
            Some(&json!({"role": "ADMIN"})),
        )
        .await;
    let manager_role = put_role(&app, &manager, &manager_id, "ADMIN").await;
    let user_role = put_role(&app, &user, &user_id, "MANAGER").await;
    let manager_creates_admin = app
        .call(
            Method::POST,
            "/users",
            Some(&manager),
            Some(&json!({"email": "friend@example.com", "password": PASSWORD, "role": "ADMIN"})),
        )
        .await;

    assert_eq!(invalid_fields(patch_me).await, ["role"]);
    assert_eq!(invalid_fields(register).await, ["role"]);
    assert_eq!(invalid_fields(manager_patch).await, ["role"]);
    assert_eq!(invalid_fields(manager_put).await, ["role"]);
    assert_problem(manager_role, StatusCode::FORBIDDEN).await;
    assert_problem(user_role, StatusCode::FORBIDDEN).await;
    assert_problem(manager_creates_admin, StatusCode::FORBIDDEN).await;
    let user_row = row(&app, &user_id).await.expect("user");
    let manager_row = row(&app, &manager_id).await.expect("manager");
    assert_eq!(user_row.role, Role::Authenticated);
    assert_eq!(manager_row.role, Role::Manager);
    assert_eq!(
        manager_row.first_name, None,
        "a refused body changes nothing"
    );
    assert_eq!(
        ok_json(app.get("/me", Some(&user)).await, "me").await["role"],
        "AUTHENTICATED"
    );
    assert_eq!(
        ok_json(app.get("/me", Some(&manager)).await, "me").await["role"],
        "MANAGER"
    );
    assert!(
        users::Entity::find()
            .filter(users::Column::EmailNorm.is_in(["climber@example.com", "friend@example.com"]))
            .one(&app.db)
            .await
            .expect("query")
            .is_none(),
        "no account came of the refused requests"
    );
    let audit = app.audit_events(&root, "action=role_changed").await;
    assert_eq!(audit["total"], 0);
}

// ------------------------------------------------------------- staff edits

async fn staff_edit_profile_fields_and_email(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, root) = app.admin().await;
    let (_, manager) = app
        .user_with_role_as(&root, "manager@example.com", "MANAGER")
        .await;
    let target = app
        .create_user_as(
            &root,
            "target@example.com",
            "AUTHENTICATED",
            json!({"nickname": "target_nick"}),
        )
        .await;
    let target_id = target["id"].as_str().expect("id").to_owned();
    let other = app
        .create_user_as(
            &root,
            "other@example.com",
            "AUTHENTICATED",
            json!({"nickname": "other_nick"}),
        )
        .await;
    let other_id = other["id"].as_str().expect("id").to_owned();

    let response = patch_user(
        &app,
        &manager,
        &target_id,
        &json!({
            "email": "Renamed.User@EXAMPLE.org",
            "nickname": "Renamed_Nick",
            "first_name": "Ren",
            "last_name": "Amed",
            "bio": "Edited by staff.",
            "github_profile_url": "https://github.com/renamed",
            "linkedin_profile_url": "https://www.linkedin.com/in/renamed",
        }),
    )
    .await;

    let body = ok_json(response, "staff patch").await;
    assert_eq!(body["email"], "Renamed.User@example.org");
    assert_eq!(body["nickname"], "Renamed_Nick");
    assert_eq!(body["first_name"], "Ren");
    assert_eq!(body["last_name"], "Amed");
    assert_eq!(body["bio"], "Edited by staff.");
    assert_eq!(body["github_profile_url"], "https://github.com/renamed");
    assert_eq!(body["role"], "AUTHENTICATED");
    let read = ok_json(
        app.get(&format!("/users/{target_id}"), Some(&root)).await,
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
    app.tokens("renamed.user@example.org", PASSWORD).await;
    let old = app.login("target@example.com", PASSWORD).await;
    assert_token_error(old, StatusCode::UNAUTHORIZED).await;

    let other_before = row(&app, &other_id).await.expect("other");
    let taken = patch_user(
        &app,
        &root,
        &other_id,
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
    let nick_taken = patch_user(&app, &root, &other_id, &json!({"nickname": "renamed_NICK"})).await;
    assert_problem(nick_taken, StatusCode::CONFLICT).await;
    let other_after = row(&app, &other_id).await.expect("other");
    assert_eq!(other_after.email, other_before.email);
    assert_eq!(other_after.nickname, other_before.nickname);
    assert_eq!(
        other_after.first_name, None,
        "nothing of a refused update is kept"
    );

    let own_case = patch_user(
        &app,
        &root,
        &target_id,
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
            Some(&root),
            Some(&json!({"bio": null, "last_name": "Smith"})),
        )
        .await;
    let put = ok_json(put, "PUT is a partial update").await;
    assert_eq!(put["bio"], Value::Null, "null clears");
    assert_eq!(put["last_name"], "Smith");
    assert_eq!(put["first_name"], "Ren", "absent fields are kept");
    assert_eq!(put["nickname"], "Renamed_Nick");

    let invalid = patch_user(
        &app,
        &root,
        &target_id,
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
        let response = patch_user(&app, &root, &target_id, &body).await;
        assert_eq!(invalid_fields(response).await, [field], "{body}");
    }
    let stored = row(&app, &target_id).await.expect("target");
    assert_eq!(stored.email, "renamed.user@example.org");
    assert_eq!(stored.role, Role::Authenticated);
    assert!(!stored.is_locked && !stored.is_professional);
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
        let calls = [
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
        ];
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
    the_last_admin_cannot_be_demoted_locked_or_deleted,
    with_two_admins_one_can_demote_the_other,
    two_admins_removing_each_other_at_once_leave_one,
    a_role_change_ends_sessions_emails_and_is_audited,
    a_lock_ends_sessions_and_refuses_login_until_unlocked,
    professional_status_is_stamped_emailed_and_audited,
    staff_created_users_are_verified_and_audited,
    a_deleted_user_is_gone_but_its_audit_trail_stays,
    the_audit_log_filters_and_pages,
    nobody_raises_their_own_role,
    staff_edit_profile_fields_and_email,
    unknown_or_malformed_ids_are_404,
);

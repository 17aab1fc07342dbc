//! Staff actions on a user (`PUT /users/{id}/role`, `POST
//! /users/{id}/lock|unlock`, `PUT /users/{id}/professional`): each ends
//! sessions where it must, is mailed and audited, changes nothing when
//! nothing changes; and the last active administrator cannot be removed,
//! even by two administrators removing each other at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use user_management::db::entities::users;
use user_management::domain::Role;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PASSWORD, TestApp, assert_problem, assert_token_error,
    assert_unauthorized, invalid_fields, jwt_claims, ok_json, spawn_app_with_admin, timestamp,
};
use crate::on_both_databases;

/// ADMINs that are not locked.
async fn active_admins(app: &TestApp) -> u64 {
    users::Entity::find()
        .filter(users::Column::Role.eq("ADMIN"))
        .filter(users::Column::IsLocked.eq(false))
        .count(&app.db)
        .await
        .expect("count admins")
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
        app.lock_user(&root, &locked_admin).await,
        "lock the other admin",
    )
    .await;
    let before = app.find_user(&root_id).await.expect("root");

    let demotions = [
        app.put_role(&root, &root_id, "MANAGER").await,
        app.put_role(&root, &root_id, "AUTHENTICATED").await,
        app.put_role(&root, &root_id, "ANONYMOUS").await,
    ];
    let locked = app.lock_user(&root, &root_id).await;
    let deleted = app.delete_user(&root, &root_id).await;

    for response in demotions {
        let body = assert_problem(response, StatusCode::CONFLICT).await;
        assert!(
            body["detail"].as_str().expect("detail").contains("last"),
            "{body}"
        );
    }
    assert_problem(locked, StatusCode::CONFLICT).await;
    assert_problem(deleted, StatusCode::CONFLICT).await;
    let after = app.find_user(&root_id).await.expect("root still exists");
    assert_eq!(after.role, Role::Admin);
    assert!(!after.is_locked);
    assert_eq!(after.updated_at, before.updated_at, "nothing was written");
    assert_eq!(
        app.get("/me", Some(&root)).await.status(),
        StatusCode::OK,
        "the admin's session survived"
    );
    let events = app.audit_items(&root, &format!("user_id={root_id}")).await;
    assert!(
        events.iter().all(|e| e["action"] == "user_created"),
        "no refused action was audited: {events:?}"
    );
    let same = app.put_role(&root, &root_id, "ADMIN").await;
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

    let demoted = app.put_role(&second, &root_id, "MANAGER").await;

    let body = ok_json(demoted, "second demotes root").await;
    assert_eq!(body["role"], "MANAGER");
    assert_eq!(
        app.find_user(&root_id).await.expect("root").role,
        Role::Manager
    );
    assert_eq!(active_admins(&app).await, 1);
    let now_last = app.put_role(&second, &second_id, "MANAGER").await;
    assert_problem(now_last, StatusCode::CONFLICT).await;
    let lock_last = app.lock_user(&second, &second_id).await;
    assert_problem(lock_last, StatusCode::CONFLICT).await;
    assert_eq!(
        app.find_user(&second_id).await.expect("second").role,
        Role::Admin
    );
    let (root_again, _) = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let refused = app.put_role(&root_again, &root_id, "ADMIN").await;
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

/// Each of `pair` removes the other at the same moment; returns the two
/// statuses.
async fn remove_each_other(
    app: &TestApp,
    pair: &[Account; 2],
    removal: Removal,
) -> [StatusCode; 2] {
    let (a, _) = app.tokens(&pair[0].email, &pair[0].password).await;
    let (b, _) = app.tokens(&pair[1].email, &pair[1].password).await;
    let act = |token: String, id: String| async move {
        match removal {
            Removal::Demote => app.put_role(&token, &id, "MANAGER").await,
            Removal::Lock => app.lock_user(&token, &id).await,
            Removal::Delete => app.delete_user(&token, &id).await,
        }
    };

    let (first, second) = tokio::join!(act(a, pair[1].id.clone()), act(b, pair[0].id.clone()));
    [first.status(), second.status()]
}

/// Makes the loser of a round an active ADMIN again, as the `winner`
/// (demoted: promoted back; locked: unlocked; deleted: a new admin).
async fn restore_pair(
    app: &TestApp,
    pair: &mut [Account; 2],
    winner: usize,
    removal: Removal,
    round: usize,
) {
    let loser = 1 - winner;
    let (token, _) = app
        .tokens(&pair[winner].email, &pair[winner].password)
        .await;
    match removal {
        Removal::Demote => {
            let back = app.put_role(&token, &pair[loser].id, "ADMIN").await;
            ok_json(back, "promote back").await;
        }
        Removal::Lock => {
            ok_json(app.unlock_user(&token, &pair[loser].id).await, "unlock").await;
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
        let statuses = remove_each_other(&app, &pair, removal).await;

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
        restore_pair(&app, &mut pair, won[0], removal, round).await;
    }
}

// ------------------------------------------------------------ staff actions

/// The role change of `user_id` (AUTHENTICATED to MANAGER, by the admin
/// (id, token)) was mailed to the user and audited.
async fn assert_role_change_mailed_and_audited(
    app: &TestApp,
    (root_id, root): (&str, &str),
    user_id: &str,
) {
    let mail = app.mail_to("promoted@example.com", "role", 1).await;
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
    let events = app
        .audit_items(root, &format!("user_id={user_id}&action=role_changed"))
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor_id"], root_id);
    assert_eq!(events[0]["user_id"], user_id);
    assert_eq!(events[0]["details"]["from"], "AUTHENTICATED");
    assert_eq!(events[0]["details"]["to"], "MANAGER");
}

/// Setting the role `user_id` already has ends no session, audits and
/// mails nothing.
async fn assert_same_role_changes_nothing(
    app: &TestApp,
    root: &str,
    user_id: &str,
    new_token: &str,
) {
    let unchanged = app.put_role(root, user_id, "MANAGER").await;
    ok_json(unchanged, "same role again").await;
    assert_eq!(
        app.get("/me", Some(new_token)).await.status(),
        StatusCode::OK,
        "setting the same role ends no session"
    );
    assert_eq!(
        app.audit_items(root, &format!("user_id={user_id}&action=role_changed"))
            .await
            .len(),
        1,
        "no change, no event"
    );
    assert_eq!(
        app.outbox_rows("promoted@example.com").await,
        1,
        "no second email"
    );
}

async fn a_role_change_ends_sessions_emails_and_is_audited(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (root_id, root) = app.admin().await;
    let (user_id, old_token) = app
        .user_with_role_as(&root, "promoted@example.com", "AUTHENTICATED")
        .await;
    let (_, refresh) = app.tokens("promoted@example.com", PASSWORD).await;

    let response = app.put_role(&root, &user_id, "MANAGER").await;

    let body = ok_json(response, "role change").await;
    assert_eq!(body["id"], user_id.as_str());
    assert_eq!(body["role"], "MANAGER");
    assert_eq!(
        app.find_user(&user_id).await.expect("user").role,
        Role::Manager
    );
    assert_unauthorized(app.get("/me", Some(&old_token)).await, "old access token").await;
    assert_token_error(app.refresh(&refresh).await, StatusCode::BAD_REQUEST).await;
    let (new_token, _) = app.tokens("promoted@example.com", PASSWORD).await;
    assert_eq!(jwt_claims(&new_token)["role"], "MANAGER");
    assert_eq!(
        app.get("/users", Some(&new_token)).await.status(),
        StatusCode::OK,
        "the new role is in force"
    );
    assert_role_change_mailed_and_audited(&app, (&root_id, &root), &user_id).await;

    assert_same_role_changes_nothing(&app, &root, &user_id, &new_token).await;
    let bad = app.put_role(&root, &user_id, "SUPERUSER").await;
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

    let locked = app.lock_user(&manager, &user_id).await;

    let body = ok_json(locked, "lock").await;
    assert_eq!(body["is_locked"], true);
    assert!(app.find_user(&user_id).await.expect("user").is_locked);
    assert_unauthorized(
        app.get("/me", Some(&user_token)).await,
        "token of a locked user",
    )
    .await;
    let login = app.login("locked@example.com", PASSWORD).await;
    assert_token_error(login, StatusCode::LOCKED).await;
    let again = app.lock_user(&manager, &user_id).await;
    assert_eq!(ok_json(again, "lock again").await["is_locked"], true);
    let events = app
        .audit_items(&root, &format!("user_id={user_id}&action=user_locked"))
        .await;
    assert_eq!(events.len(), 1, "locked once: {events:?}");
    assert_eq!(events[0]["actor_id"], manager_id.as_str());
    assert_eq!(events[0]["user_id"], user_id.as_str());
    assert_eq!(events[0]["details"]["reason"], "manual");

    let unlocked = app.unlock_user(&manager, &user_id).await;

    assert_eq!(ok_json(unlocked, "unlock").await["is_locked"], false);
    assert!(!app.find_user(&user_id).await.expect("user").is_locked);
    let (fresh, _) = app.tokens("locked@example.com", PASSWORD).await;
    assert_eq!(app.get("/me", Some(&fresh)).await.status(), StatusCode::OK);
    let events = app
        .audit_items(&root, &format!("user_id={user_id}&action=user_unlocked"))
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor_id"], manager_id.as_str());
    assert_eq!(events[0]["details"]["reason"], "manual");
}

/// Professional status granted to `user_id` (`the_pro`) by `manager_id`
/// was mailed, audited and shows on the public profile.
async fn assert_grant_mailed_audited_and_public(
    app: &TestApp,
    root: &str,
    manager_id: &str,
    user_id: &str,
) {
    let mail = app.mail_to("pro@example.com", "professional", 1).await;
    assert!(
        mail[0]
            .text()
            .to_lowercase()
            .contains("now has professional status"),
        "{}",
        mail[0].text()
    );
    let events = app
        .audit_items(
            root,
            &format!("user_id={user_id}&action=professional_status_changed"),
        )
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor_id"], manager_id);
    assert_eq!(events[0]["details"]["from"], false);
    assert_eq!(events[0]["details"]["to"], true);
    let profile = app.get("/profiles/the_pro", None).await;
    assert_eq!(ok_json(profile, "profile").await["is_professional"], true);
}

/// Revoking professional status stamps it anew and mails; revoking it again
/// changes, mails and audits nothing.
async fn assert_revocation_restamped_once(
    app: &TestApp,
    root: &str,
    user_id: &str,
    stamped: DateTime<Utc>,
) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let revoked = ok_json(app.set_professional(root, user_id, false).await, "off").await;
    assert_eq!(revoked["is_professional"], false);
    assert!(timestamp(&revoked["professional_status_updated_at"]) > stamped);
    let mail = app.mail_to("pro@example.com", "professional", 2).await;
    assert!(
        mail[1].text().to_lowercase().contains("no longer"),
        "{}",
        mail[1].text()
    );
    let unchanged = ok_json(app.set_professional(root, user_id, false).await, "same").await;
    assert_eq!(
        unchanged["professional_status_updated_at"], revoked["professional_status_updated_at"],
        "no change, no new stamp"
    );
    assert_eq!(
        app.outbox_rows("pro@example.com").await,
        2,
        "no third email"
    );
    assert_eq!(
        app.audit_items(
            root,
            &format!("user_id={user_id}&action=professional_status_changed")
        )
        .await
        .len(),
        2
    );
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

    let response = app.set_professional(&manager, &user_id, true).await;

    let body = ok_json(response, "professional").await;
    let end = Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(body["is_professional"], true);
    let stamped = timestamp(&body["professional_status_updated_at"]);
    assert!(start <= stamped && stamped <= end, "{stamped}");
    let stored = app.find_user(&user_id).await.expect("user");
    assert!(stored.is_professional);
    assert_eq!(stored.professional_status_updated_at, Some(stamped));
    assert_grant_mailed_audited_and_public(&app, &root, &manager_id, &user_id).await;

    assert_revocation_restamped_once(&app, &root, &user_id, stamped).await;
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

on_both_databases!(
    the_last_admin_cannot_be_demoted_locked_or_deleted,
    with_two_admins_one_can_demote_the_other,
    two_admins_removing_each_other_at_once_leave_one,
    a_role_change_ends_sessions_emails_and_is_audited,
    a_lock_ends_sessions_and_refuses_login_until_unlocked,
    professional_status_is_stamped_emailed_and_audited,
);

//! The audit log, `GET /audit-events`: staff actions recorded with actor,
//! subject and details; filters by user, actor and action; paging with
//! links that keep the filters; admins only.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_problem, invalid_fields, ok_json, path_of, spawn_app_with_admin,
    timestamp,
};
use crate::on_both_databases;

/// The items' actions of an audit page.
fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

/// Three users u1..u3, then as the manager a lock and unlock of u1 and
/// professional status for u3, as root a role change of u2; returns the
/// ids of u1..u3.
async fn arrange_staff_actions(app: &TestApp, root: &str, manager: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 1..=3 {
        let user = app
            .create_user_as(
                root,
                &format!("u{n}@example.com"),
                "AUTHENTICATED",
                json!({}),
            )
            .await;
        ids.push(user["id"].as_str().expect("id").to_owned());
    }
    ok_json(app.lock_user(manager, &ids[0]).await, "lock").await;
    ok_json(app.unlock_user(manager, &ids[0]).await, "unlock").await;
    ok_json(app.put_role(root, &ids[1], "MANAGER").await, "role").await;
    ok_json(app.set_professional(manager, &ids[2], true).await, "pro").await;
    ids
}

/// The filters by user, by actor, by action and actor, and by action give
/// the events of the arranged actions; returns the role changes.
async fn assert_filters(
    app: &TestApp,
    root: &str,
    (root_id, manager_id): (&str, &str),
    ids: &[String],
) -> Value {
    let about_u1 = app.audit_events(root, &format!("user_id={}", ids[0])).await;
    let by_manager = app
        .audit_events(root, &format!("actor_id={manager_id}"))
        .await;
    let created_by_root = app
        .audit_events(root, &format!("action=user_created&actor_id={root_id}"))
        .await;
    let role_changes = app.audit_events(root, "action=role_changed").await;

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
            .all(|e| e["actor_id"] == manager_id)
    );
    assert_eq!(created_by_root["total"], 4, "the manager and u1..u3");
    assert_eq!(role_changes["total"], 1);
    role_changes
}

/// The environment admin's creation was audited (by the system), and an
/// event (the role change of `changed`) has every field.
async fn assert_bootstrap_and_event_fields(
    app: &TestApp,
    (root_id, root): (&str, &str),
    role_changes: &Value,
    changed: &str,
) {
    let bootstrap = app.audit_items(root, &format!("user_id={root_id}")).await;
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
    assert_eq!(event["user_id"], changed);
    timestamp(&event["at"]);
}

/// Following `next` through the `user_created` events two at a time visits
/// every event once, with links that keep the filter and the size.
async fn assert_paging_keeps_the_filter(app: &TestApp, root: &str) {
    let mut path = "/audit-events?action=user_created&limit=2".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = ok_json(app.get(&path, Some(root)).await, &path).await;
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
            Some(root),
        )
        .await,
        "skip",
    )
    .await;
    assert_eq!(third["page"], 3);
    assert_eq!(third["items"].as_array().expect("items").len(), 1);
}

/// Bad parameters are refused, and a manager may not read the log.
async fn assert_bad_queries_refused(app: &TestApp, root: &str, manager: &str) {
    for query in ["limit=0", "limit=101"] {
        let response = app.get(&format!("/audit-events?{query}"), Some(root)).await;
        assert_eq!(invalid_fields(response).await, ["limit"], "{query}");
    }
    for query in ["user_id=not-a-uuid", "colour=blue", "skip=-1"] {
        let response = app.get(&format!("/audit-events?{query}"), Some(root)).await;
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let refused = app.get("/audit-events", Some(manager)).await;
    assert_problem(refused, StatusCode::FORBIDDEN).await;
}

async fn the_audit_log_filters_and_pages(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (root_id, root) = app.admin().await;
    let (manager_id, manager) = app
        .user_with_role_as(&root, "manager@example.com", "MANAGER")
        .await;
    let ids = arrange_staff_actions(&app, &root, &manager).await;

    let role_changes = assert_filters(&app, &root, (&root_id, &manager_id), &ids).await;
    assert_bootstrap_and_event_fields(&app, (&root_id, &root), &role_changes, &ids[1]).await;

    // Paging: five user_created events (root's bootstrap included), two per page.
    assert_paging_keeps_the_filter(&app, &root).await;

    assert_bad_queries_refused(&app, &root, &manager).await;
}

on_both_databases!(the_audit_log_filters_and_pages,);

//! `GET /me/sessions` and `DELETE /me/sessions/{id}`: each login is listed
//! with where it came from, and revoking one ends it at once — but only
//! one's own.

use std::collections::BTreeSet;

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_problem, assert_token_error, jwt_claims, spawn_app,
};
use crate::on_both_databases;

/// What a session object shows, and nothing more (no token, no hash).
const FIELDS: [&str; 7] = [
    "client_addr",
    "created_at",
    "current",
    "expires_at",
    "id",
    "last_used_at",
    "user_agent",
];

/// Logs in with a `User-Agent` (and extra headers); returns (access, refresh, sid).
async fn login_as(
    app: &TestApp,
    email: &str,
    user_agent: &str,
    headers: &[(&str, &str)],
) -> (String, String, String) {
    let mut request = app
        .request(Method::POST, "/login")
        .header("user-agent", user_agent)
        .form(&[("username", email), ("password", PASSWORD)]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK, "login {email}");
    let tokens: Value = response.json().await.expect("json");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let sid = jwt_claims(&access)["sid"].as_str().expect("sid").to_owned();
    (
        access,
        tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
        sid,
    )
}

/// The caller's sessions (the request must succeed).
async fn sessions(app: &TestApp, access: &str) -> Vec<Value> {
    let response = app.get("/me/sessions", Some(access)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("json array")
}

async fn revoke(app: &TestApp, access: Option<&str>, id: &str) -> Response {
    let mut request = app.request(Method::DELETE, &format!("/me/sessions/{id}"));
    if let Some(access) = access {
        request = request.bearer_auth(access);
    }
    request.send().await.expect("request")
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("session {id} listed: {list:?}"))
}

fn ids(list: &[Value]) -> BTreeSet<String> {
    list.iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn each_login_is_listed_with_its_origin(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("many@example.com").await;
    app.verified_user("bystander@example.com").await;
    let (first, _, first_sid) = login_as(&app, "many@example.com", "agent-one/1.0", &[]).await;
    // A client cannot choose the address recorded for it.
    let spoofed = [("x-forwarded-for", "203.0.113.9")];
    let (second, _, second_sid) =
        login_as(&app, "many@example.com", "agent-two/2.0", &spoofed).await;

    let seen_by_first = sessions(&app, &first).await;
    let seen_by_second = sessions(&app, &second).await;

    assert_eq!(
        ids(&seen_by_first),
        BTreeSet::from([first_sid.clone(), second_sid.clone()]),
        "both logins, and only this user's: {seen_by_first:?}"
    );
    let one = find(&seen_by_first, &first_sid);
    let two = find(&seen_by_first, &second_sid);
    assert_eq!(one["current"], true);
    assert_eq!(two["current"], false);
    assert_eq!(one["user_agent"], "agent-one/1.0");
    assert_eq!(two["user_agent"], "agent-two/2.0");
    assert_eq!(one["client_addr"], "127.0.0.1");
    assert_eq!(
        two["client_addr"], "127.0.0.1",
        "X-Forwarded-For from an untrusted peer is ignored"
    );
    for session in &seen_by_first {
        let keys: BTreeSet<&str> = session
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(FIELDS), "{session}");
        for stamp in ["created_at", "last_used_at", "expires_at"] {
            let text = session[stamp].as_str().expect("timestamp");
            chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339");
        }
    }
    assert_eq!(find(&seen_by_second, &first_sid)["current"], false);
    assert_eq!(find(&seen_by_second, &second_sid)["current"], true);
}

async fn revoking_a_session_ends_it_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("revoke@example.com").await;
    let (keep, keep_refresh, keep_sid) = login_as(&app, "revoke@example.com", "keep", &[]).await;
    let (gone, gone_refresh, gone_sid) = login_as(&app, "revoke@example.com", "gone", &[]).await;
    assert_eq!(
        app.get("/me", Some(&gone)).await.status(),
        StatusCode::OK,
        "arranged: works before"
    );

    let response = revoke(&app, Some(&keep), &gone_sid).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body").is_empty());
    assert_eq!(
        app.get("/me", Some(&gone)).await.status(),
        StatusCode::UNAUTHORIZED,
        "its access token stops at once"
    );
    assert_token_error(app.refresh(&gone_refresh).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        ids(&sessions(&app, &keep).await),
        BTreeSet::from([keep_sid.clone()]),
        "a revoked session is no longer listed"
    );
    assert_eq!(app.get("/me", Some(&keep)).await.status(), StatusCode::OK);
    assert_eq!(app.refresh(&keep_refresh).await.status(), StatusCode::OK);
    assert_problem(
        revoke(&app, Some(&keep), &gone_sid).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn only_ones_own_sessions_can_be_revoked(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, mine, _) = app.verified_user("mine@example.com").await;
    let (_, theirs, _) = app.verified_user("theirs@example.com").await;
    let their_sid = jwt_claims(&theirs)["sid"].as_str().expect("sid").to_owned();

    let other_users = revoke(&app, Some(&mine), &their_sid).await;
    let unknown = revoke(&app, Some(&mine), &uuid::Uuid::new_v4().to_string()).await;
    let malformed = revoke(&app, Some(&mine), "not-a-uuid").await;
    let anonymous = revoke(&app, None, &their_sid).await;

    let other_users = assert_problem(other_users, StatusCode::NOT_FOUND).await;
    let unknown = assert_problem(unknown, StatusCode::NOT_FOUND).await;
    assert_problem(malformed, StatusCode::NOT_FOUND).await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        other_users, unknown,
        "another user's session looks like no session"
    );
    assert_eq!(
        app.get("/me", Some(&theirs)).await.status(),
        StatusCode::OK,
        "their session is untouched"
    );
    assert_problem(
        app.get("/me/sessions", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

on_both_databases!(
    each_login_is_listed_with_its_origin,
    revoking_a_session_ends_it_at_once,
    only_ones_own_sessions_can_be_revoked,
);

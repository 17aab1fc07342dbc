//! The session store behind every bearer token: the per-request lookup
//! reads the whole user row and survives a database restart, and two
//! instances on one database see each other's sessions (and logouts) at once.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, jwt_claims, spawn_app};
use crate::on_both_databases;

/// The per-request session lookup decodes its row by position: it must give
/// back exactly the user row sea-orm reads, every column in its place, and
/// nothing for another user's id or an ended session.
async fn the_session_lookup_reads_the_whole_user_row(backend: Backend) {
    use sea_orm::EntityTrait;
    use user_management::auth::sessions::find_active;
    use user_management::db::entities::users;
    use user_management::db::lookup::Lookup;
    use uuid::Uuid;

    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = "lookup@example.com";
    let id = app.verified_account(email).await;
    // Every nullable column set, each to a value no other column has.
    app.execute(&format!(
        "UPDATE users SET first_name = 'Ada', last_name = 'Lovelace', bio = 'engine notes', \
         profile_picture_url = 'http://pictures.test/a.jpg', picture_key = 'avatars/a.jpg', \
         linkedin_profile_url = 'https://www.linkedin.com/in/ada', \
         github_profile_url = 'https://github.com/ada', is_professional = true, \
         professional_status_updated_at = created_at, failed_login_attempts = 2 \
         WHERE email_norm = '{email}'"
    ))
    .await;
    let (access, _) = app.tokens(email, PASSWORD).await;
    let claims = jwt_claims(&access);
    let sid = Uuid::parse_str(claims["sid"].as_str().expect("sid")).expect("uuid");
    let uid = Uuid::parse_str(&id).expect("uuid");
    let lookup = Lookup::beside(&app.db);
    assert_eq!(
        lookup.postgres().is_some(),
        backend == Backend::Postgres,
        "reserved connections on PostgreSQL only"
    );

    let (session, user) = find_active(&app.db, &lookup, sid, uid)
        .await
        .expect("lookup query")
        .expect("the session is live");
    let expected = users::Entity::find_by_id(uid)
        .one(&app.db)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(user, expected);
    assert_eq!(session.id, sid);
    assert!(user.last_login_at.is_some() && user.first_name.as_deref() == Some("Ada"));

    let other = find_active(&app.db, &lookup, sid, Uuid::new_v4()).await;
    assert!(other.expect("query").is_none(), "another user's id");
    let logout = app
        .request(Method::POST, "/logout")
        .bearer_auth(&access)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let ended = find_active(&app.db, &lookup, sid, uid).await;
    assert!(ended.expect("query").is_none(), "a revoked session");
    if let Some(postgres) = lookup.postgres() {
        assert!(postgres.idle_count() >= 1, "connections are kept for reuse");
        assert!(postgres.idle_count() <= user_management::db::lookup::MAX_CONNECTIONS);
    }
}

/// The reserved lookup connections survive a database restart: once they
/// have sat idle past the check interval, a broken one is replaced before
/// use instead of failing the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_connections_broken_by_a_restart_are_replaced() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let email = "restart@example.com";
    app.verified_account(email).await;
    let (access, _) = app.tokens(email, PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(app.get("/me", Some(&access)).await.status(), StatusCode::OK);
    }
    // What a restart does to the service's connections: every backend of
    // this database but the one asking is terminated.
    app.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    tokio::time::sleep(
        user_management::db::IDLE_CHECK_AFTER + std::time::Duration::from_millis(300),
    )
    .await;
    for _ in 0..3 {
        let me = app.get("/me", Some(&access)).await;
        assert_eq!(me.status(), StatusCode::OK, "after the restart");
    }
}

async fn two_instances_serve_one_user(backend: Backend) {
    const EMAIL: &str = "roaming@example.com";
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let sibling = app.sibling().await;
    let (id, access, _) = app.verified_user(EMAIL).await;
    let at = |address: &str, method: Method, path: &str, token: &str| {
        app.client
            .request(method, format!("{address}{path}"))
            .bearer_auth(token)
            .send()
    };

    let me = at(&sibling.address, Method::GET, "/me", &access)
        .await
        .expect("request");
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "a token of one is good on the other"
    );
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["id"], id.as_str());

    let tokens = app
        .client
        .post(format!("{}/login", sibling.address))
        .form(&[("username", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(tokens.status(), StatusCode::OK);
    let tokens: Value = tokens.json().await.expect("json");
    let from_sibling = tokens["access_token"].as_str().expect("access");
    assert_eq!(
        app.get("/me", Some(from_sibling)).await.status(),
        StatusCode::OK,
        "and the other way round"
    );

    let logout = at(&sibling.address, Method::POST, "/logout", &access)
        .await
        .expect("request");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED,
        "a logout on one instance revokes the token on the other at once"
    );
    assert_eq!(
        at(&sibling.address, Method::GET, "/me", &access)
            .await
            .expect("request")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/me", Some(from_sibling)).await.status(),
        StatusCode::OK,
        "the other session is untouched"
    );
}

on_both_databases!(
    the_session_lookup_reads_the_whole_user_row,
    two_instances_serve_one_user,
);

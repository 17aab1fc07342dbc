//! Bearer authentication (the `AuthUser` extractor), seen through `/me`:
//! no token, a malformed header and every kind of bad token answer 401 with
//! a `Bearer` challenge; so do the tokens of a deleted user, even a validly
//! signed one claiming ADMIN.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use secrecy::SecretString;
use serde_json::json;
use user_management::auth::jwt::{Claims, JwtKeys};
use user_management::db::entities::users;
use user_management::domain::Role;
use uuid::Uuid;

use crate::helpers::{
    Backend, ISSUER, JWT_SECRET, PASSWORD, assert_token_error, assert_unauthorized, jwt_claims,
    spawn_app,
};
use crate::on_both_databases;

fn keys(secret: &str, issuer: &str) -> JwtKeys {
    JwtKeys::new(
        &SecretString::from(secret.to_owned()),
        issuer.to_owned(),
        Duration::from_secs(900),
    )
}

async fn me_without_a_token_is_401(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("anon@example.com").await;

    assert_unauthorized(app.get("/me", None).await, "no header").await;
    for header in [
        format!("Basic {access}"),
        access.clone(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
    ] {
        let response = app
            .request(Method::GET, "/me")
            .header("authorization", &header)
            .send()
            .await
            .expect("request");
        assert_unauthorized(response, &header).await;
    }
    let patch = app
        .request(Method::PATCH, "/me")
        .json(&json!({"first_name": "Nobody"}))
        .send()
        .await
        .expect("request");
    assert_unauthorized(patch, "PATCH without a token").await;
}

/// A token for `user` and session `sid`, signed right but expired.
fn expired_token(user: Uuid, sid: Uuid) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &Claims {
            sub: user,
            role: "AUTHENTICATED".into(),
            sid,
            iat: now - 1000,
            exp: now - 100,
            jti: Uuid::new_v4(),
            iss: ISSUER.into(),
        },
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("encode")
}

/// Every kind of bad token, each made from the genuine `access` (of `user`
/// in session `sid`) by changing one thing; `other` is another user.
fn bad_tokens(access: &str, user: Uuid, sid: Uuid, other: Uuid) -> Vec<(&'static str, String)> {
    let claims = jwt_claims(access);
    let parts: Vec<&str> = access.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let admin_payload =
        URL_SAFE_NO_PAD.encode(claims.to_string().replace("\"AUTHENTICATED\"", "\"ADMIN\""));
    let genuine = keys(JWT_SECRET, ISSUER);
    vec![
        ("garbage", "garbage".to_owned()),
        ("truncated", access[..access.len() - 4].to_owned()),
        (
            "another secret",
            keys("another-secret-another-secret-another", ISSUER)
                .issue(user, Role::Authenticated, sid)
                .expect("issue"),
        ),
        (
            "another issuer",
            keys(JWT_SECRET, "http://evil.example")
                .issue(user, Role::Authenticated, sid)
                .expect("issue"),
        ),
        ("alg none", format!("{none_header}.{}.", parts[1])),
        (
            "alg none with signature",
            format!("{none_header}.{}.{}", parts[1], parts[2]),
        ),
        (
            "tampered role",
            format!("{}.{admin_payload}.{}", parts[0], parts[2]),
        ),
        ("expired", expired_token(user, sid)),
        (
            "unknown session",
            genuine
                .issue(user, Role::Authenticated, Uuid::new_v4())
                .expect("issue"),
        ),
        (
            "someone else's session",
            genuine
                .issue(other, Role::Authenticated, sid)
                .expect("issue"),
        ),
    ]
}

async fn every_kind_of_bad_token_is_401(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("tokens@example.com").await;
    let (other_id, _, _) = app.verified_user("other@example.com").await;
    let claims = jwt_claims(&access);
    let user = Uuid::parse_str(&id).expect("uuid");
    let sid = Uuid::parse_str(claims["sid"].as_str().expect("sid")).expect("uuid");
    let genuine = keys(JWT_SECRET, ISSUER);
    // Control: a token built here the way the service builds its own works,
    // so each refusal below is down to the one thing changed.
    let control = genuine
        .issue(user, Role::Authenticated, sid)
        .expect("issue");
    assert_eq!(
        app.get("/me", Some(&control)).await.status(),
        StatusCode::OK
    );

    let other = Uuid::parse_str(&other_id).expect("uuid");
    let cases = bad_tokens(&access, user, sid, other);

    for (what, token) in cases {
        assert_unauthorized(app.get("/me", Some(&token)).await, what).await;
    }
}

async fn tokens_of_a_deleted_user_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, refresh) = app.verified_user("deleted@example.com").await;
    assert_eq!(app.get("/me", Some(&access)).await.status(), StatusCode::OK);
    let claims = jwt_claims(&access);
    let user = Uuid::parse_str(&id).expect("uuid");
    let sid = Uuid::parse_str(claims["sid"].as_str().expect("sid")).expect("uuid");
    // Validly signed, for the deleted user's id and session, even claiming ADMIN.
    let minted = JwtKeys::new(
        &SecretString::from(JWT_SECRET.to_owned()),
        ISSUER.to_owned(),
        Duration::from_secs(900),
    )
    .issue(user, user_management::domain::Role::Admin, sid)
    .expect("issue");

    app.execute("DELETE FROM users WHERE email_norm = 'deleted@example.com'")
        .await;

    let gone = users::Entity::find_by_id(user)
        .one(&app.db)
        .await
        .expect("query users");
    assert!(gone.is_none(), "arranged: the row is deleted");
    assert_unauthorized(app.get("/me", Some(&access)).await, "issued token").await;
    assert_unauthorized(app.get("/me", Some(&minted)).await, "minted token").await;
    assert_token_error(app.refresh(&refresh).await, StatusCode::BAD_REQUEST).await;
    assert_token_error(
        app.login("deleted@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

on_both_databases!(
    me_without_a_token_is_401,
    every_kind_of_bad_token_is_401,
    tokens_of_a_deleted_user_are_refused,
);

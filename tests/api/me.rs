//! `GET /me`, `PATCH /me` and `POST /logout`: bearer authentication that
//! refuses every kind of bad token, revocation that takes effect at once,
//! and a profile update that cannot touch privileged fields.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use user_management::auth::jwt::{Claims, JwtKeys};
use user_management::domain::Role;
use uuid::Uuid;

use crate::helpers::{
    Backend, JWT_SECRET, PASSWORD, TestApp, assert_problem, invalid_fields, jwt_claims, spawn_app,
};
use crate::on_both_databases;

const ISSUER: &str = "http://localhost:8000";

fn keys(secret: &str, issuer: &str) -> JwtKeys {
    JwtKeys::new(
        &SecretString::from(secret.to_owned()),
        issuer.to_owned(),
        Duration::from_secs(900),
    )
}

/// Asserts a 401 problem that asks for a bearer token.
async fn assert_unauthorized(response: Response, what: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer"),
        "{what}: WWW-Authenticate {challenge:?}"
    );
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
}

async fn patch_me(app: &TestApp, token: &str, body: &Value) -> Response {
    app.request(Method::PATCH, "/me")
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app.get("/me", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

async fn logout(app: &TestApp, token: Option<&str>) -> Response {
    let mut request = app.request(Method::POST, "/logout");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

async fn me_returns_the_caller(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("me@example.com").await;

    let response = app.get("/me", Some(&access)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.expect("body");
    let lower = text.to_lowercase();
    assert!(
        !lower.contains("password") && !lower.contains("hash"),
        "{text}"
    );
    assert!(!text.contains("$argon2"), "{text}");
    let user: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(user["id"], id.as_str());
    assert_eq!(user["email"], "me@example.com");
    assert_eq!(user["role"], "AUTHENTICATED");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["is_locked"], false);
    assert!(
        user["links"].as_array().is_some_and(|l| !l.is_empty()),
        "{user}"
    );
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

    let parts: Vec<&str> = access.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let admin_payload =
        URL_SAFE_NO_PAD.encode(claims.to_string().replace("\"AUTHENTICATED\"", "\"ADMIN\""));
    let now = chrono::Utc::now().timestamp();
    let expired = jsonwebtoken::encode(
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
    .expect("encode");
    let cases = [
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
        ("expired", expired),
        (
            "unknown session",
            genuine
                .issue(user, Role::Authenticated, Uuid::new_v4())
                .expect("issue"),
        ),
        (
            "someone else's session",
            genuine
                .issue(
                    Uuid::parse_str(&other_id).expect("uuid"),
                    Role::Authenticated,
                    sid,
                )
                .expect("issue"),
        ),
    ];

    for (what, token) in cases {
        assert_unauthorized(app.get("/me", Some(&token)).await, what).await;
    }
}

async fn logout_ends_the_session_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, refresh) = app.verified_user("bye@example.com").await;
    let other: Value = app
        .login("bye@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let other_access = other["access_token"].as_str().expect("access");

    let response = logout(&app, Some(&access)).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body").is_empty());
    assert_unauthorized(app.get("/me", Some(&access)).await, "after logout").await;
    let refreshed = app
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    let body: Value = refreshed.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    assert_unauthorized(logout(&app, Some(&access)).await, "second logout").await;
    assert_eq!(
        app.get("/me", Some(other_access)).await.status(),
        StatusCode::OK,
        "only the session of that token ended"
    );
    assert_unauthorized(logout(&app, None).await, "logout without a token").await;
}

async fn patch_me_updates_only_the_given_fields(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("patch@example.com").await;
    let before = me(&app, &access).await;

    let response = patch_me(
        &app,
        &access,
        &json!({
            "nickname": "New_Nick",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "bio": "Wrote the first program.\nLiked engines.",
            "github_profile_url": "https://github.com/ada",
            "linkedin_profile_url": "https://www.linkedin.com/in/ada",
            "profile_picture_url": "https://cdn.example.com/ada.png",
        }),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.expect("json");
    assert_eq!(updated["nickname"], "New_Nick");
    assert_eq!(updated["first_name"], "Ada");
    assert_eq!(updated["last_name"], "Lovelace");
    assert_eq!(updated["bio"], "Wrote the first program.\nLiked engines.");
    assert_eq!(updated["github_profile_url"], "https://github.com/ada");
    assert_eq!(
        updated["linkedin_profile_url"],
        "https://www.linkedin.com/in/ada"
    );
    assert_eq!(
        updated["profile_picture_url"],
        "https://cdn.example.com/ada.png"
    );
    assert_eq!(updated["email"], before["email"]);
    assert_eq!(updated["role"], "AUTHENTICATED");
    assert_eq!(me(&app, &access).await, updated, "stored as answered");

    let cleared = patch_me(
        &app,
        &access,
        &json!({"bio": null, "github_profile_url": null}),
    )
    .await;
    assert_eq!(cleared.status(), StatusCode::OK);
    let stored = me(&app, &access).await;
    assert_eq!(stored["bio"], Value::Null, "null clears");
    assert_eq!(stored["github_profile_url"], Value::Null);
    for kept in [
        "nickname",
        "first_name",
        "last_name",
        "linkedin_profile_url",
        "profile_picture_url",
    ] {
        assert_eq!(stored[kept], updated[kept], "absent {kept} is unchanged");
    }

    let nothing = patch_me(&app, &access, &json!({})).await;
    assert_eq!(nothing.status(), StatusCode::OK);
    let unchanged = me(&app, &access).await;
    assert_eq!(unchanged["first_name"], "Ada");
    assert_eq!(unchanged["nickname"], "New_Nick");
}

async fn patch_me_refuses_privileged_fields(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("sneaky@example.com").await;
    let before = me(&app, &access).await;

    for (body, field) in [
        (json!({"role": "ADMIN"}), "role"),
        (json!({"email": "boss@example.com"}), "email"),
        (json!({"is_locked": true}), "is_locked"),
        (json!({"is_professional": true}), "is_professional"),
        (json!({"email_verified": false}), "email_verified"),
        (json!({"first_name": "Sneaky", "role": "ADMIN"}), "role"),
    ] {
        let response = patch_me(&app, &access, &body).await;
        assert_eq!(invalid_fields(response).await, [field], "{body}");
    }

    let after = me(&app, &access).await;
    assert_eq!(after["role"], "AUTHENTICATED");
    assert_eq!(after["email"], "sneaky@example.com");
    assert_eq!(after["is_locked"], false);
    assert_eq!(after["is_professional"], false);
    assert_eq!(
        after["first_name"],
        Value::Null,
        "a refused body changes nothing"
    );
    assert_eq!(after, before);
}

async fn a_nickname_taken_case_insensitively_is_409(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, alice, _) = app.verified_user("alice@example.com").await;
    let (_, bob, _) = app.verified_user("bob@example.com").await;
    let renamed = patch_me(&app, &alice, &json!({"nickname": "Taken_Nick"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let bob_before = me(&app, &bob).await;

    let response = patch_me(
        &app,
        &bob,
        &json!({"nickname": "tAKEN_nICK", "bio": "mine now"}),
    )
    .await;

    let body = assert_problem(response, StatusCode::CONFLICT).await;
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("nickname"),
        "{body}"
    );
    assert_eq!(
        me(&app, &bob).await,
        bob_before,
        "nothing of the refused update was kept"
    );
    let own_case = patch_me(&app, &alice, &json!({"nickname": "taken_nick"})).await;
    assert_eq!(
        own_case.status(),
        StatusCode::OK,
        "alice may change the case of her own"
    );
    assert_eq!(me(&app, &alice).await["nickname"], "taken_nick");
}

async fn invalid_fields_are_422_naming_each(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("invalid@example.com").await;
    let before = me(&app, &access).await;

    let response = patch_me(
        &app,
        &access,
        &json!({
            "nickname": "no spaces allowed",
            "first_name": "f".repeat(101),
            "last_name": "l".repeat(101),
            "bio": "b".repeat(501),
            "profile_picture_url": "ftp://example.com/a.png",
            "linkedin_profile_url": "https://example.com/in/x",
            "github_profile_url": "https://gitlab.com/x",
        }),
    )
    .await;

    let mut fields = invalid_fields(response).await;
    fields.sort();
    assert_eq!(
        fields,
        [
            "bio",
            "first_name",
            "github_profile_url",
            "last_name",
            "linkedin_profile_url",
            "nickname",
            "profile_picture_url"
        ]
    );
    for (body, field) in [
        (json!({"nickname": null}), "nickname"),
        (json!({"nickname": "ab"}), "nickname"),
        (json!({"first_name": 5}), "first_name"),
        (json!({"bio": ["a"]}), "bio"),
    ] {
        let response = patch_me(&app, &access, &body).await;
        assert_eq!(invalid_fields(response).await, [field], "{body}");
    }
    assert_eq!(me(&app, &access).await, before, "nothing changed");
}

async fn trailing_slash_is_the_same_resource(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("slash@example.com").await;

    let got = app.get("/me/", Some(&access)).await;
    let patched = app
        .request(Method::PATCH, "/me/")
        .bearer_auth(&access)
        .json(&json!({"first_name": "Slash"}))
        .send()
        .await
        .expect("request");

    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.json::<Value>().await.expect("json")["id"], id.as_str());
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(me(&app, &access).await["first_name"], "Slash");
    assert_unauthorized(app.get("/me/", None).await, "/me/ without a token").await;
}

on_both_databases!(
    me_returns_the_caller,
    me_without_a_token_is_401,
    every_kind_of_bad_token_is_401,
    logout_ends_the_session_at_once,
    patch_me_updates_only_the_given_fields,
    patch_me_refuses_privileged_fields,
    a_nickname_taken_case_insensitively_is_409,
    invalid_fields_are_422_naming_each,
    trailing_slash_is_the_same_resource,
);

//! The token endpoint, `POST /login` (and `/token`): the RFC 6749 error
//! table, the password and refresh grants, refresh-token rotation with
//! reuse detection (of issued tokens only, not forged ones), and equal timing for unknown emails and wrong passwords.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use user_management::auth::tokens::new_refresh_token;
use user_management::db::entities::sessions;
use uuid::Uuid;

use crate::helpers::{
    Backend, ISSUER, PASSWORD, WRONG, assert_oauth_error, assert_tokens, count_of, jwt_claims,
    spawn_app, spawn_app_with,
};
use crate::on_both_databases;

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access_token")
}

fn refresh(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().expect("refresh_token")
}

fn uuid_claim(claims: &Value, name: &str) -> Uuid {
    let text = claims[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} claim: {claims}"));
    Uuid::parse_str(text).unwrap_or_else(|_| panic!("{name} is a UUID: {claims}"))
}

// ------------------------------------------------------------------ errors

async fn unknown_email_and_wrong_password_answer_alike(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("known@example.com").await;

    let unknown = app.login("unknown@example.com", PASSWORD).await;
    let wrong = app.login("known@example.com", WRONG).await;
    let not_an_email = app.login("not-an-email", PASSWORD).await;

    let unknown = assert_oauth_error(unknown, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let wrong = assert_oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let not_an_email =
        assert_oauth_error(not_an_email, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    assert_eq!(unknown, wrong, "the answer does not tell which was wrong");
    assert_eq!(unknown, not_an_email);
}

async fn unverified_user_with_the_right_password_is_403(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let registered = app.register("unverified@example.com", json!({})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    let right = app.login("unverified@example.com", PASSWORD).await;
    let wrong = app.login("unverified@example.com", WRONG).await;

    let right = assert_oauth_error(right, StatusCode::FORBIDDEN, "invalid_grant").await;
    let wrong = assert_oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    assert_ne!(right["error_description"], wrong["error_description"]);
}

async fn missing_fields_are_invalid_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("fields@example.com").await;
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("password", PASSWORD)], "username"),
        (&[("username", "fields@example.com")], "password"),
        (&[("username", ""), ("password", PASSWORD)], "username"),
        (&[], "username"),
        (&[("grant_type", "refresh_token")], "refresh_token"),
        (
            &[
                ("username", "fields@example.com"),
                ("password", PASSWORD),
                ("password", WRONG),
            ],
            "password",
        ),
    ];

    for (form, field) in cases {
        let response = app.token_request(form).await;
        let body = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains(field)),
            "{form:?}: {body}"
        );
    }
}

async fn other_grant_types_are_unsupported(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("grants@example.com").await;

    for grant in ["client_credentials", "authorization_code", "PASSWORD"] {
        let response = app
            .token_request(&[
                ("grant_type", grant),
                ("username", "grants@example.com"),
                ("password", PASSWORD),
            ])
            .await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    }
}

/// RFC 6749 §3.2: a parameter without a value is treated as omitted, so an
/// empty `grant_type` is the default (password) grant.
async fn an_empty_grant_type_counts_as_omitted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("empty-grant@example.com").await;
    let response = app
        .token_request(&[
            ("grant_type", ""),
            ("username", "empty-grant@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_tokens(response).await;
    let missing = app
        .token_request(&[("grant_type", ""), ("username", "empty-grant@example.com")])
        .await;
    assert_oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn a_json_body_is_415(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("json@example.com").await;

    let response = app
        .post_json(
            "/login",
            &json!({"username": "json@example.com", "password": PASSWORD}),
        )
        .await;

    assert_oauth_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
    )
    .await;
}

// ------------------------------------------------------------------ password grant

async fn login_issues_a_bearer_jwt_and_a_refresh_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let id = app.verified_account("jwt@example.com").await;
    assert!(
        app.user_row(&id).await.last_login_at.is_none(),
        "never logged in yet"
    );
    let before = chrono::Utc::now().timestamp();

    let tokens = assert_tokens(app.login("jwt@example.com", PASSWORD).await).await;

    let after = chrono::Utc::now().timestamp();
    let claims = jwt_claims(access(&tokens));
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["role"], "AUTHENTICATED");
    assert_eq!(claims["iss"], ISSUER);
    let iat = claims["iat"].as_i64().expect("iat");
    assert!(
        (before - 1..=after + 1).contains(&iat),
        "iat {iat} in [{before}, {after}]"
    );
    assert_eq!(claims["exp"].as_i64(), Some(iat + 900));
    uuid_claim(&claims, "jti");
    let sid = uuid_claim(&claims, "sid");
    let session = sessions::Entity::find_by_id(sid)
        .one(&app.db)
        .await
        .expect("query sessions")
        .expect("sid names a stored session");
    assert_eq!(session.user_id.to_string(), id);
    assert!(
        !session.refresh_token_hash.contains(refresh(&tokens)),
        "stored as a hash only"
    );

    let me: Value = app
        .get("/me", Some(access(&tokens)))
        .await
        .json()
        .await
        .expect("json");
    let last_login = me["last_login_at"].as_str().expect("last_login_at is set");
    let last_login = chrono::DateTime::parse_from_rfc3339(last_login).expect("RFC 3339");
    assert!(
        (before - 1..=after + 1).contains(&last_login.timestamp()),
        "{last_login}"
    );

    let second = assert_tokens(app.login("jwt@example.com", PASSWORD).await).await;
    let second = jwt_claims(access(&second));
    assert_ne!(second["sid"], claims["sid"], "each login is a new session");
    assert_ne!(second["jti"], claims["jti"]);
}

async fn token_is_an_alias_and_grant_type_password_may_be_explicit(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let id = app.verified_account("alias@example.com").await;

    for path in ["/token", "/login", "/token/", "/login/"] {
        let response = app
            .request(Method::POST, path)
            .form(&[
                ("grant_type", "password"),
                ("username", "alias@example.com"),
                ("password", PASSWORD),
                ("scope", "ignored anything"),
            ])
            .send()
            .await
            .expect("request");
        let tokens = assert_tokens(response).await;
        assert_eq!(jwt_claims(access(&tokens))["sub"], id.as_str(), "{path}");
    }
    let wrong = app
        .request(Method::POST, "/token")
        .form(&[("username", "alias@example.com"), ("password", WRONG)])
        .send()
        .await
        .expect("request");
    assert_oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_grant").await;
}

// ------------------------------------------------------------------ refresh grant

async fn refresh_rotates_both_tokens(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, first_access, first_refresh) = app.verified_user("rotate@example.com").await;

    let rotated = assert_tokens(app.refresh(&first_refresh).await).await;

    assert_ne!(access(&rotated), first_access);
    assert_ne!(refresh(&rotated), first_refresh);
    let claims = jwt_claims(access(&rotated));
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(
        claims["sid"],
        jwt_claims(&first_access)["sid"],
        "same session"
    );
    let me = app.get("/me", Some(access(&rotated))).await;
    assert_eq!(me.status(), StatusCode::OK);
    let again = assert_tokens(app.refresh(refresh(&rotated)).await).await;
    assert_ne!(refresh(&again), refresh(&rotated), "rotated on every use");
}

async fn reusing_a_rotated_refresh_token_revokes_the_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, first_access, first_refresh) = app.verified_user("reuse@example.com").await;
    let other = assert_tokens(app.login("reuse@example.com", PASSWORD).await).await;
    let rotated = assert_tokens(app.refresh(&first_refresh).await).await;

    let replay = app.refresh(&first_refresh).await;

    assert_oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let newest = app.refresh(refresh(&rotated)).await;
    assert_oauth_error(newest, StatusCode::BAD_REQUEST, "invalid_grant").await;
    for token in [access(&rotated), first_access.as_str()] {
        let me = app.get("/me", Some(token)).await;
        assert_eq!(
            me.status(),
            StatusCode::UNAUTHORIZED,
            "the session's access tokens stop"
        );
    }
    assert_eq!(
        app.get("/me", Some(access(&other))).await.status(),
        StatusCode::OK,
        "the user's other session is untouched"
    );
    assert_tokens(app.refresh(refresh(&other)).await).await;
}

async fn unknown_forged_and_expired_refresh_tokens_are_invalid_grant(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access_token, refresh_token) = app.verified_user("forged@example.com").await;
    let sid = uuid_claim(&jwt_claims(&access_token), "sid");

    for bad in [
        "garbage".to_owned(),
        "umt_garbage".to_owned(),
        access_token.clone(),
        new_refresh_token(Uuid::new_v4(), 0),
        // The right session and generation, but not its secret: forged, not reused.
        new_refresh_token(sid, 0),
    ] {
        let response = app.refresh(&bad).await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    assert_eq!(
        app.get("/me", Some(&access_token)).await.status(),
        StatusCode::OK,
        "a forged token does not let a stranger end the session"
    );
    app.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00+00:00'")
        .await;
    let expired = app.refresh(&refresh_token).await;
    assert_oauth_error(expired, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn a_forged_older_generation_does_not_revoke_the_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access_token, first) = app.verified_user("victim@example.com").await;
    let sid = uuid_claim(&jwt_claims(&access_token), "sid");
    let second = assert_tokens(app.refresh(&first).await).await;
    let third = assert_tokens(app.refresh(refresh(&second)).await).await;
    let before = sessions::Entity::find_by_id(sid)
        .one(&app.db)
        .await
        .expect("query")
        .expect("session");
    assert_eq!(before.generation, 2);

    // Someone who knows the session id (it is in every access token) forges
    // tokens of every older generation, and of the current one.
    for generation in [0, 1, 2, -1, i32::MIN] {
        let forged = new_refresh_token(sid, generation);
        let response = app.refresh(&forged).await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }

    let after = sessions::Entity::find_by_id(sid)
        .one(&app.db)
        .await
        .expect("query")
        .expect("session");
    assert_eq!(after, before, "forged tokens change nothing");
    assert_eq!(
        app.get("/me", Some(access(&third))).await.status(),
        StatusCode::OK,
        "the victim's session is alive"
    );
    // A token the server really issued, two rotations ago, is just invalid.
    let stale = app.refresh(&first).await;
    assert_oauth_error(stale, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        app.get("/me", Some(access(&third))).await.status(),
        StatusCode::OK
    );
    // The previous token, replayed for real, still revokes the session.
    let replay = app.refresh(refresh(&second)).await;
    assert_oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        app.get("/me", Some(access(&third))).await.status(),
        StatusCode::UNAUTHORIZED,
        "a genuine replay revokes the session"
    );
    let current = app.refresh(refresh(&third)).await;
    assert_oauth_error(current, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn concurrent_refreshes_with_one_token_succeed_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, _, refresh_token) = app.verified_user("race@example.com").await;

    let statuses = app
        .concurrent_token_requests(
            &[&app.address],
            6,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
        )
        .await;

    assert_eq!(count_of(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(
        count_of(&statuses, StatusCode::BAD_REQUEST),
        5,
        "{statuses:?}"
    );
}

// ------------------------------------------------------------------ timing

async fn unknown_email_and_wrong_password_take_alike_long(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = 1000).await else {
        return;
    };
    app.verified_account("timed@example.com").await;
    let timed = |email: &'static str| {
        let app = &app;
        async move {
            let start = Instant::now();
            let response = app.login(email, WRONG).await;
            let elapsed = start.elapsed();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            elapsed
        }
    };
    for _ in 0..2 {
        timed("ghost@example.com").await;
        timed("timed@example.com").await;
    }

    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        unknown.push(timed("ghost@example.com").await);
        wrong.push(timed("timed@example.com").await);
    }

    // Other tests load the two cores at random moments; noise only ever adds
    // time, so the fastest of interleaved samples is the cost of the work itself.
    let fastest = |samples: Vec<Duration>| samples.into_iter().min().expect("samples");
    let (unknown, wrong) = (fastest(unknown), fastest(wrong));
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    let context = format!("{:?}: unknown {unknown:?}, wrong {wrong:?}", app.backend);
    assert!((0.5..2.0).contains(&ratio), "{context}");
    assert!(
        unknown >= Duration::from_millis(5),
        "a real hash is verified: {context}"
    );
    assert!(wrong >= Duration::from_millis(5), "{context}");
}

on_both_databases!(
    unknown_email_and_wrong_password_answer_alike,
    unverified_user_with_the_right_password_is_403,
    missing_fields_are_invalid_request,
    other_grant_types_are_unsupported,
    an_empty_grant_type_counts_as_omitted,
    a_json_body_is_415,
    login_issues_a_bearer_jwt_and_a_refresh_token,
    token_is_an_alias_and_grant_type_password_may_be_explicit,
    refresh_rotates_both_tokens,
    reusing_a_rotated_refresh_token_revokes_the_session,
    unknown_forged_and_expired_refresh_tokens_are_invalid_grant,
    a_forged_older_generation_does_not_revoke_the_session,
    concurrent_refreshes_with_one_token_succeed_once,
    unknown_email_and_wrong_password_take_alike_long,
);

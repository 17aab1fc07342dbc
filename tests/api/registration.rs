//! `POST /register`: validation, uniqueness, the verification email.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, assert_problem, invalid_fields, spawn_app};
use crate::on_both_databases;

async fn register_creates_an_anonymous_user_and_mails_a_link(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let response = app
        .register(
            "Jane.Doe@Example.COM",
            json!({"first_name": "Jane", "nickname": "jane_doe"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let text = response.text().await.expect("body");
    assert!(
        !text.contains(PASSWORD) && !text.contains("argon2") && !text.contains("hash"),
        "{text}"
    );
    let user: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        user["email"], "Jane.Doe@example.com",
        "domain lower-cased, local part kept"
    );
    assert_eq!(user["role"], "ANONYMOUS");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["nickname"], "jane_doe");
    assert!(user["links"].as_array().is_some_and(|l| !l.is_empty()));
    let id = user["id"].as_str().expect("id");

    let mail = app
        .smtp
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(mail[0].to, ["Jane.Doe@example.com"]);
    let link = app.verification_link("Jane.Doe@example.com").await;
    assert!(
        link.starts_with(&format!("http://localhost:8000/verify-email/{id}/umv_")),
        "{link}"
    );
    assert!(
        mail[0].html().contains(&link),
        "the HTML part carries the link too"
    );
}

async fn nickname_is_generated_when_omitted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let user: Value = app
        .register("gen@example.com", json!({}))
        .await
        .json()
        .await
        .expect("json");

    let nickname = user["nickname"].as_str().expect("nickname");
    let parts: Vec<&str> = nickname.split('_').collect();
    assert_eq!(parts.len(), 3, "adjective_animal_123: {nickname}");
    assert!(parts[2].parse::<u16>().is_ok(), "{nickname}");
}

async fn each_field_rule_is_a_422_naming_the_field(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let long = |n: usize| "a".repeat(n);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"email": "not-an-email"}), "email"),
        (json!({"email": "a@b"}), "email"),
        (json!({"nickname": "ab"}), "nickname"),
        (json!({"nickname": long(51)}), "nickname"),
        (json!({"nickname": "has space"}), "nickname"),
        (json!({"nickname": "ünïcode"}), "nickname"),
        (json!({"first_name": long(101)}), "first_name"),
        (json!({"last_name": long(101)}), "last_name"),
        (json!({"bio": long(501)}), "bio"),
        (
            json!({"profile_picture_url": "ftp://example.com/a.png"}),
            "profile_picture_url",
        ),
        (
            json!({"profile_picture_url": format!("https://example.com/{}", long(250))}),
            "profile_picture_url",
        ),
        (
            json!({"github_profile_url": "https://gitlab.com/jane"}),
            "github_profile_url",
        ),
        (
            json!({"linkedin_profile_url": "https://example.com/in/jane"}),
            "linkedin_profile_url",
        ),
        (
            json!({"linkedin_profile_url": "javascript:alert(1)"}),
            "linkedin_profile_url",
        ),
        (json!({"password": "short7!"}), "password"),
        (json!({"password": long(129)}), "password"),
        (json!({"password": "password123"}), "password"),
        (json!({"password": "rules@example.com"}), "password"),
        (
            json!({"password": "my_nickname", "nickname": "my_nickname"}),
            "password",
        ),
        (json!({"role": "ADMIN"}), "role"),
        (json!({"is_locked": false}), "is_locked"),
        (json!({"email": 42}), "email"),
    ];
    for (overrides, field) in cases {
        let mut body = json!({"email": "rules@example.com", "password": PASSWORD});
        for (k, v) in overrides.as_object().expect("object") {
            body[k] = v.clone();
        }
        let response = app.post_json("/register", &body).await;
        let fields = invalid_fields(response).await;
        assert_eq!(fields, [field], "body {body}");
    }
    let missing = app
        .post_json("/register", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(invalid_fields(missing).await, ["email"]);
    assert_eq!(
        app.login("rules@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "no invalid request created an account"
    );
}

async fn boundary_values_are_accepted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let response = app
        .post_json(
            "/register",
            &json!({
                "email": "edge@example.com",
                "password": "x".repeat(7) + "é",
                "nickname": "abc",
                "first_name": "é".repeat(100),
                "last_name": "L".repeat(100),
                "bio": "b".repeat(500),
                "github_profile_url": "https://github.com/edge",
                "linkedin_profile_url": "https://www.linkedin.com/in/edge",
                "profile_picture_url": "https://cdn.example.com/edge.png",
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let longest = app
        .post_json(
            "/register",
            &json!({"email": "edge2@example.com", "password": "y".repeat(128), "nickname": "n".repeat(50)}),
        )
        .await;
    assert_eq!(longest.status(), StatusCode::CREATED);
}

async fn email_and_nickname_are_unique_case_insensitively(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = app
        .register("dup@example.com", json!({"nickname": "Dupe"}))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);

    let same_email = app.register("DUP@Example.com", json!({})).await;
    let body = assert_problem(same_email, StatusCode::CONFLICT).await;
    assert!(body["detail"].as_str().expect("detail").contains("email"));

    let same_nickname = app
        .register("other@example.com", json!({"nickname": "dUPE"}))
        .await;
    let body = assert_problem(same_nickname, StatusCode::CONFLICT).await;
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("nickname")
    );

    assert_eq!(
        app.login("other@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "the refused registration left nothing behind"
    );
}

async fn malformed_bodies_are_400_and_415(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let broken = app
        .request(reqwest::Method::POST, "/register")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("request");
    assert_problem(broken, StatusCode::BAD_REQUEST).await;

    let form = app
        .request(reqwest::Method::POST, "/register")
        .form(&[("email", "x@example.com")])
        .send()
        .await
        .expect("request");
    assert_problem(form, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let huge = app
        .request(reqwest::Method::POST, "/register")
        .header("content-type", "application/json")
        .body(format!("{{\"email\": \"{}\"}}", "a".repeat(100_000)))
        .send()
        .await
        .expect("request");
    assert_problem(huge, StatusCode::PAYLOAD_TOO_LARGE).await;
}

async fn trailing_slash_is_the_same_resource(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let response = app
        .post_json(
            "/register/",
            &json!({"email": "slash@example.com", "password": PASSWORD}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
}

on_both_databases!(
    register_creates_an_anonymous_user_and_mails_a_link,
    nickname_is_generated_when_omitted,
    each_field_rule_is_a_422_naming_the_field,
    boundary_values_are_accepted,
    email_and_nickname_are_unique_case_insensitively,
    malformed_bodies_are_400_and_415,
    trailing_slash_is_the_same_resource,
);

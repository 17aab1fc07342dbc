//! `GET /profiles/{nickname}`: public, case-insensitive, and nothing of the
//! account behind it but the public fields.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app_with_admin};
use crate::on_both_databases;

/// The fields a public profile has, and no others.
const PUBLIC_FIELDS: [&str; 8] = [
    "bio",
    "first_name",
    "github_profile_url",
    "is_professional",
    "last_name",
    "linkedin_profile_url",
    "nickname",
    "profile_picture_url",
];

/// A verified, professional, fully described user called `Public_Person`,
/// made by the environment admin; returns (app, admin token, user id).
async fn arrange(backend: Backend) -> Option<(TestApp, String, String)> {
    let app = spawn_app_with_admin(backend).await?;
    let (_, admin) = app.admin().await;
    let user = app
        .create_user_as(
            &admin,
            "Public.Person@Example.com",
            "MANAGER",
            json!({
                "nickname": "Public_Person",
                "first_name": "Pat",
                "last_name": "Person",
                "bio": "Builds things.",
                "profile_picture_url": "https://cdn.example.com/pat.png",
                "github_profile_url": "https://github.com/pat",
                "linkedin_profile_url": "https://www.linkedin.com/in/pat",
            }),
        )
        .await;
    let id = user["id"].as_str().expect("id").to_owned();
    let pro = app
        .call(
            Method::PUT,
            &format!("/users/{id}/professional"),
            Some(&admin),
            Some(&json!({"is_professional": true})),
        )
        .await;
    assert_eq!(pro.status(), StatusCode::OK);
    Some((app, admin, id))
}

async fn a_profile_shows_only_public_fields(backend: Backend) {
    let Some((app, _, id)) = arrange(backend).await else {
        return;
    };

    let response = app.get("/profiles/Public_Person", None).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.expect("body");
    let profile: Value = serde_json::from_str(&text).expect("json");
    let keys: BTreeSet<&str> = profile
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(PUBLIC_FIELDS), "{profile}");
    assert_eq!(profile["nickname"], "Public_Person");
    assert_eq!(profile["first_name"], "Pat");
    assert_eq!(profile["last_name"], "Person");
    assert_eq!(profile["bio"], "Builds things.");
    assert_eq!(
        profile["profile_picture_url"],
        "https://cdn.example.com/pat.png"
    );
    assert_eq!(profile["github_profile_url"], "https://github.com/pat");
    assert_eq!(
        profile["linkedin_profile_url"],
        "https://www.linkedin.com/in/pat"
    );
    assert_eq!(profile["is_professional"], true);
    let lower = text.to_lowercase();
    for secret in [
        "public.person@",
        "example.com\"",
        "@",
        "manager",
        "role",
        "email",
        "locked",
        "verified",
        "password",
        "last_login",
        "created_at",
        id.as_str(),
    ] {
        assert!(!lower.contains(secret), "{secret:?} leaked: {text}");
    }
}

async fn nicknames_match_case_insensitively(backend: Backend) {
    let Some((app, admin, _)) = arrange(backend).await else {
        return;
    };

    let lower = app.get("/profiles/public_person", None).await;
    let upper = app.get("/profiles/PUBLIC_PERSON", None).await;
    let with_token = app.get("/profiles/pUbLiC_pErSoN", Some(&admin)).await;
    let slash = app.get("/profiles/public_person/", None).await;

    for response in [lower, upper, with_token, slash] {
        assert_eq!(response.status(), StatusCode::OK);
        let profile: Value = response.json().await.expect("json");
        assert_eq!(
            profile["nickname"], "Public_Person",
            "as the user spells it"
        );
    }
}

async fn unknown_or_invalid_nicknames_are_404(backend: Backend) {
    let Some((app, _, _)) = arrange(backend).await else {
        return;
    };

    for nickname in [
        "nobody_here",
        "Public_Person2",
        "Public",
        "ab",
        "a%20b",
        "bad!name",
        "%C3%A9mile",
        &"x".repeat(51),
        "public_person%00",
        "Public.Person@Example.com",
    ] {
        let response = app.get(&format!("/profiles/{nickname}"), None).await;

        let problem = assert_problem(response, StatusCode::NOT_FOUND).await;
        let text = problem.to_string().to_lowercase();
        assert!(!text.contains("nickname must"), "{nickname}: {problem}");
    }
    let known = app.get("/profiles/Public_Person", None).await;
    assert_eq!(known.status(), StatusCode::OK, "the control case exists");
}

async fn a_profile_reflects_later_changes(backend: Backend) {
    let Some((app, admin, id)) = arrange(backend).await else {
        return;
    };
    let renamed = app
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(&admin),
            Some(&json!({"nickname": "Renamed_Person", "bio": null})),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);

    let old = app.get("/profiles/Public_Person", None).await;
    let new = app.get("/profiles/renamed_person", None).await;

    assert_problem(old, StatusCode::NOT_FOUND).await;
    assert_eq!(new.status(), StatusCode::OK);
    let profile: Value = new.json().await.expect("json");
    assert_eq!(profile["nickname"], "Renamed_Person");
    assert_eq!(profile["bio"], Value::Null);
    assert_eq!(profile["first_name"], "Pat");
}

on_both_databases!(
    a_profile_shows_only_public_fields,
    nicknames_match_case_insensitively,
    unknown_or_invalid_nicknames_are_404,
    a_profile_reflects_later_changes,
);

//! The caller's own account: `GET /me`, `PATCH /me` (a profile update
//! that cannot touch privileged fields) and `POST /me/password` (needs the
//! current password, ends the other sessions).

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, WRONG, assert_problem, assert_token_error, assert_unauthorized,
    invalid_fields, spawn_app, spawn_app_with, spawn_app_with_admin,
};
use crate::on_both_databases;

const NEW_PASSWORD: &str = "a-brand-new-passphrase";

async fn patch_me(app: &TestApp, token: &str, body: &Value) -> Response {
    app.request(Method::PATCH, "/me")
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn change(app: &TestApp, access: &str, current: &str, new: &str) -> Response {
    app.request(Method::POST, "/me/password")
        .bearer_auth(access)
        .json(&json!({ "current_password": current, "new_password": new }))
        .send()
        .await
        .expect("request")
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

/// A PATCH with `null` clears those fields and keeps the absent ones as
/// they were (`updated`).
async fn assert_null_clears_and_absent_fields_stay(app: &TestApp, access: &str, updated: &Value) {
    let cleared = patch_me(
        app,
        access,
        &json!({"bio": null, "github_profile_url": null}),
    )
    .await;
    assert_eq!(cleared.status(), StatusCode::OK);
    let stored = app.me(access).await;
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
}

async fn patch_me_updates_only_the_given_fields(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("patch@example.com").await;
    let before = app.me(&access).await;

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
    assert_eq!(app.me(&access).await, updated, "stored as answered");

    assert_null_clears_and_absent_fields_stay(&app, &access, &updated).await;
    let nothing = patch_me(&app, &access, &json!({})).await;
    assert_eq!(nothing.status(), StatusCode::OK);
    let unchanged = app.me(&access).await;
    assert_eq!(unchanged["first_name"], "Ada");
    assert_eq!(unchanged["nickname"], "New_Nick");
}

async fn patch_me_refuses_privileged_fields(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("sneaky@example.com").await;
    let before = app.me(&access).await;

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

    let after = app.me(&access).await;
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
    let bob_before = app.me(&bob).await;

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
        app.me(&bob).await,
        bob_before,
        "nothing of the refused update was kept"
    );
    let own_case = patch_me(&app, &alice, &json!({"nickname": "taken_nick"})).await;
    assert_eq!(
        own_case.status(),
        StatusCode::OK,
        "alice may change the case of her own"
    );
    assert_eq!(app.me(&alice).await["nickname"], "taken_nick");
}

async fn invalid_fields_are_422_naming_each(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("invalid@example.com").await;
    let before = app.me(&access).await;

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
    assert_eq!(app.me(&access).await, before, "nothing changed");
}

/// Bidirectional controls (a name that displays as another, "Trojan
/// Source") and line/paragraph separators are refused in names and bio,
/// by `PATCH /me`, registration and staff alike; nothing is changed.
async fn names_refuse_bidi_controls_and_separators(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("bidi@example.com").await;
    let before = app.me(&access).await;
    for c in [
        '\u{202E}', '\u{2066}', '\u{200F}', '\u{061C}', '\u{2028}', '\u{2029}',
    ] {
        let body = json!({
            "first_name": format!("Ada{c}nimda"),
            "last_name": format!("Love{c}lace"),
            "bio": format!("one\ntwo{c}three"),
        });
        let fields = invalid_fields(patch_me(&app, &access, &body).await).await;
        assert_eq!(
            fields,
            ["first_name", "last_name", "bio"],
            "U+{:04X}",
            u32::from(c)
        );
    }
    assert_eq!(app.me(&access).await, before, "nothing changed");

    let registered = app
        .register(
            "rtl@example.com",
            json!({"first_name": "evil\u{202E}gpj.exe"}),
        )
        .await;
    assert_eq!(invalid_fields(registered).await, ["first_name"]);
    let (_, admin) = app.admin().await;
    let staff = app
        .patch_user(&admin, &id, &json!({"last_name": "x\u{2067}y"}))
        .await;
    assert_eq!(invalid_fields(staff).await, ["last_name"]);
    assert_eq!(app.me(&access).await, before, "nothing changed");
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
    assert_eq!(app.me(&access).await["first_name"], "Slash");
    assert_unauthorized(app.get("/me/", None).await, "/me/ without a token").await;
}

// ------------------------------------------------------------------ /me/password

async fn a_wrong_current_password_is_422_and_counts_as_a_failed_login(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = 2).await else {
        return;
    };
    let (id, access, _) = app.verified_user("wrong@example.com").await;
    let hash_before = app.user_row(&id).await.password_hash;

    let response = change(&app, &access, WRONG, NEW_PASSWORD).await;

    assert_eq!(invalid_fields(response).await, ["current_password"]);
    let row = app.user_row(&id).await;
    assert_eq!(row.failed_login_attempts, 1);
    assert_eq!(row.password_hash, hash_before, "nothing changed");
    let second = change(&app, &access, WRONG, NEW_PASSWORD).await;
    assert_eq!(second.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let row = app.user_row(&id).await;
    assert!(row.is_locked, "the limit of failed logins locks");
    assert_eq!(row.password_hash, hash_before);
    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::OK,
        "a failed-login lock stops guessing, it does not end the owner's session"
    );
}

async fn a_policy_breaking_new_password_is_422(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user("weak@example.com").await;
    let hash_before = app.user_row(&id).await.password_hash;

    let short = change(&app, &access, PASSWORD, "short").await;
    let common = change(&app, &access, PASSWORD, "password123").await;

    assert_eq!(invalid_fields(short).await, ["new_password"]);
    assert_eq!(invalid_fields(common).await, ["new_password"]);
    let row = app.user_row(&id).await;
    assert_eq!(row.password_hash, hash_before);
    assert_eq!(
        row.failed_login_attempts, 0,
        "the current password was right"
    );
}

async fn a_password_change_keeps_only_the_current_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, refresh) = app.verified_user("change@example.com").await;
    let (other_access, other_refresh) = app.tokens("change@example.com", PASSWORD).await;

    let response = change(&app, &access, PASSWORD, NEW_PASSWORD).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body").is_empty());
    assert_eq!(
        app.get("/me", Some(&other_access)).await.status(),
        StatusCode::UNAUTHORIZED,
        "the other session ended at once"
    );
    assert_token_error(app.refresh(&other_refresh).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::OK,
        "the current session goes on"
    );
    assert_eq!(app.refresh(&refresh).await.status(), StatusCode::OK);
    assert_eq!(
        app.login("change@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("change@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn a_password_change_ends_outstanding_reset_links(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, access, _) = app.verified_user("relinked@example.com").await;
    let forgot = app
        .post_json(
            "/password/forgot",
            &json!({ "email": "relinked@example.com" }),
        )
        .await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let token = app.reset_token("relinked@example.com", 1).await;

    let response = change(&app, &access, PASSWORD, NEW_PASSWORD).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let reset = app
        .post_json(
            "/password/reset",
            &json!({ "token": token, "new_password": "someone-elses-passphrase" }),
        )
        .await;
    assert_problem(reset, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.login("relinked@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK,
        "the changed password stands"
    );
}

on_both_databases!(
    a_password_change_ends_outstanding_reset_links,
    names_refuse_bidi_controls_and_separators,
    me_returns_the_caller,
    patch_me_updates_only_the_given_fields,
    patch_me_refuses_privileged_fields,
    a_nickname_taken_case_insensitively_is_409,
    invalid_fields_are_422_naming_each,
    trailing_slash_is_the_same_resource,
    a_wrong_current_password_is_422_and_counts_as_a_failed_login,
    a_policy_breaking_new_password_is_422,
    a_password_change_keeps_only_the_current_session,
);

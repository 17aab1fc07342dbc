//! `POST /password/forgot` and `POST /password/reset`: a "forgot" answer
//! (and timing) that reveals nothing, single-use expiring reset links that
//! unlock the account and end every session.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, WRONG, assert_problem, assert_token_error, invalid_fields, path_of,
    spawn_app, spawn_app_with,
};
use crate::on_both_databases;

const NEW_PASSWORD: &str = "a-brand-new-passphrase";

async fn forgot(app: &TestApp, email: &str) -> Response {
    app.post_json("/password/forgot", &json!({ "email": email }))
        .await
}

async fn reset(app: &TestApp, token: &str, new_password: &str) -> Response {
    app.post_json(
        "/password/reset",
        &json!({ "token": token, "new_password": new_password }),
    )
    .await
}

/// Requests a reset for `email` and returns the token of the `nth` reset email.
async fn reset_token_for(app: &TestApp, email: &str, nth: usize) -> String {
    assert_eq!(forgot(app, email).await.status(), StatusCode::ACCEPTED);
    app.reset_token(email, nth).await
}

/// Status, content type and body: everything a client can compare.
async fn answer(response: Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

/// Locks `email` by failing to log in `attempts` times.
async fn lock(app: &TestApp, id: &str, email: &str, attempts: u32) {
    for _ in 0..attempts {
        app.login(email, WRONG).await;
    }
    assert!(app.user_row(id).await.is_locked, "arranged: {email} locked");
}

// ------------------------------------------------------------------ forgot

async fn forgot_answers_alike_and_mails_only_accounts(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = 2).await else {
        return;
    };
    app.verified_account("known@example.com").await;
    let locked_id = app.verified_account("locked@example.com").await;
    lock(&app, &locked_id, "locked@example.com", 2).await;

    let unknown = answer(forgot(&app, "ghost@example.com").await).await;
    let known = answer(forgot(&app, "known@example.com").await).await;
    let locked = answer(forgot(&app, "locked@example.com").await).await;

    assert_eq!(unknown.0, StatusCode::ACCEPTED);
    assert_eq!(unknown.1, "application/json");
    let body: Value = serde_json::from_str(&unknown.2).expect("json");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(known, unknown, "an existing account answers the same");
    assert_eq!(locked, unknown, "a locked account answers the same");
    let known_token = app.reset_token("known@example.com", 1).await;
    let locked_token = app.reset_token("locked@example.com", 1).await;
    assert!(!known_token.is_empty() && !locked_token.is_empty());
    assert_ne!(known_token, locked_token);
    app.outbox_settled_for("ghost@example.com").await;
    let to_ghost = app.delivered_to("ghost@example.com");
    assert_eq!(to_ghost, 0, "no email for an address without an account");
}

async fn forgot_takes_alike_long_for_unknown_and_known_addresses(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("timed@example.com").await;
    let timed = |email: &'static str| {
        let app = &app;
        async move {
            let start = Instant::now();
            let response = forgot(app, email).await;
            let elapsed = start.elapsed();
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            elapsed
        }
    };
    for _ in 0..2 {
        timed("ghost@example.com").await;
        timed("timed@example.com").await;
    }

    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        unknown.push(timed("ghost@example.com").await);
        known.push(timed("timed@example.com").await);
    }

    // Noise (the mail worker, other tests) only ever adds time, so the
    // fastest of interleaved samples is the cost of the request itself.
    let fastest = |samples: Vec<Duration>| samples.into_iter().min().expect("samples");
    let (unknown, known) = (fastest(unknown), fastest(known));
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "{:?}: unknown {unknown:?}, known {known:?}",
        app.backend
    );
}

// ------------------------------------------------------------------ reset

async fn a_reset_link_sets_the_new_password_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("reset@example.com").await;
    let token = reset_token_for(&app, "reset@example.com", 1).await;

    let response = reset(&app, &token, NEW_PASSWORD).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body").is_empty());
    assert_eq!(
        app.login("reset@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK,
        "the new password works"
    );
    assert_eq!(
        app.login("reset@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old one does not"
    );
    let again = reset(&app, &token, "yet-another-passphrase").await;
    let body = assert_problem(again, StatusCode::BAD_REQUEST).await;
    assert!(!body.to_string().contains(&token), "not echoed: {body}");
    assert_eq!(
        app.login("reset@example.com", "yet-another-passphrase")
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "the second use changed nothing"
    );
}

async fn expired_garbage_and_foreign_tokens_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("expired@example.com").await;
    let token = reset_token_for(&app, "expired@example.com", 1).await;
    // A verification token (another purpose) of a registered, unverified user.
    let registered = app.register("pending@example.com", json!({})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let verify_path = path_of(&app.verification_link("pending@example.com").await);
    let verify_token = verify_path.rsplit('/').next().expect("token").to_owned();
    app.execute("UPDATE one_time_tokens SET expires_at = '2000-01-01T00:00:00+00:00' WHERE purpose = 'reset_password'")
        .await;

    let expired = reset(&app, &token, NEW_PASSWORD).await;
    let foreign = reset(&app, &verify_token, NEW_PASSWORD).await;
    let garbage = reset(&app, "umr_garbage", NEW_PASSWORD).await;
    let empty = reset(&app, "", NEW_PASSWORD).await;

    for (what, response) in [
        ("expired", expired),
        ("verification token", foreign),
        ("garbage", garbage),
        ("empty", empty),
    ] {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        app.login("expired@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "the password is unchanged"
    );
    assert_eq!(
        app.login("pending@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "a verification token cannot set a password"
    );
    assert_eq!(
        app.get(&verify_path, None).await.status(),
        StatusCode::OK,
        "and it was not burnt by the attempt"
    );
}

async fn a_policy_breaking_password_is_422_and_keeps_the_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("policy@example.com").await;
    let token = reset_token_for(&app, "policy@example.com", 1).await;

    let short = reset(&app, &token, "short").await;
    let same_as_email = reset(&app, &token, "policy@example.com").await;

    assert_eq!(invalid_fields(short).await, ["new_password"]);
    assert_eq!(invalid_fields(same_as_email).await, ["new_password"]);
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT,
        "the token still works"
    );
    assert_eq!(
        app.login("policy@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn a_reset_unlocks_the_account_and_is_audited(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = 2).await else {
        return;
    };
    let id = app.verified_account("unlock@example.com").await;
    lock(&app, &id, "unlock@example.com", 2).await;
    assert_eq!(
        app.login("unlock@example.com", PASSWORD).await.status(),
        StatusCode::LOCKED
    );
    let token = reset_token_for(&app, "unlock@example.com", 1).await;

    let response = reset(&app, &token, NEW_PASSWORD).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let row = app.user_row(&id).await;
    assert!(!row.is_locked);
    assert!(row.locked_until.is_none());
    assert_eq!(row.failed_login_attempts, 0);
    assert_eq!(
        app.login("unlock@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    let audits = app.audit_details("password_reset", &id).await;
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0]["was_locked"], true, "{audits:?}");
}

async fn a_reset_revokes_every_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, first_access, first_refresh) = app.verified_user("sessions@example.com").await;
    let (second_access, second_refresh) = app.tokens("sessions@example.com", PASSWORD).await;
    let token = reset_token_for(&app, "sessions@example.com", 1).await;

    let response = reset(&app, &token, NEW_PASSWORD).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for access in [&first_access, &second_access] {
        assert_eq!(
            app.get("/me", Some(access)).await.status(),
            StatusCode::UNAUTHORIZED,
            "access tokens stop at once"
        );
    }
    for refresh in [&first_refresh, &second_refresh] {
        assert_token_error(app.refresh(refresh).await, StatusCode::BAD_REQUEST).await;
    }
}

/// A reset lifts a lock caused by guessing, never a staff suspension: not
/// even with a link that escaped the lock (staff locks retire them).
async fn a_reset_does_not_undo_a_staff_lock(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let id = app.verified_account("held@example.com").await;
    let token = reset_token_for(&app, "held@example.com", 1).await;
    app.execute(
        "UPDATE users SET is_locked = true, lock_reason = 'manual' \
         WHERE email_norm = 'held@example.com'",
    )
    .await;
    assert!(app.user_row(&id).await.is_locked, "arranged: suspended");

    let reset = reset(&app, &token, "a-fresh-long-passphrase").await;

    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let row = app.user_row(&id).await;
    assert!(row.is_locked, "still suspended");
    let login = app
        .login("held@example.com", "a-fresh-long-passphrase")
        .await;
    assert_eq!(login.status(), StatusCode::LOCKED);
}

// ------------------------------------------------------------------ what ends links

async fn a_staff_lock_ends_outstanding_reset_links(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app_with_admin(backend).await else {
        return;
    };
    let id = app.verified_account("locked.out@example.com").await;
    let token = reset_token_for(&app, "locked.out@example.com", 1).await;
    let (_, admin) = app.admin().await;

    assert_eq!(app.lock_user(&admin, &id).await.status(), StatusCode::OK);

    let response = reset(&app, &token, NEW_PASSWORD).await;
    assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.unlock_user(&admin, &id).await.status(), StatusCode::OK);
    let again = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "dead for good");
    assert_eq!(
        app.login("locked.out@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "the password is unchanged"
    );
}

async fn a_failed_login_lock_keeps_outstanding_reset_links(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = 2).await else {
        return;
    };
    let id = app.verified_account("guessed@example.com").await;
    let token = reset_token_for(&app, "guessed@example.com", 1).await;
    lock(&app, &id, "guessed@example.com", 2).await;

    let response = reset(&app, &token, NEW_PASSWORD).await;

    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "the owner's way back in survives a guessing lock"
    );
    assert!(!app.user_row(&id).await.is_locked);
    assert_eq!(
        app.login("guessed@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

// ------------------------------------------------------------------ suspended accounts

/// The reset tokens ever minted for `user_id`.
async fn reset_tokens_of(app: &TestApp, user_id: &str) -> u64 {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    use user_management::db::entities::one_time_tokens;
    one_time_tokens::Entity::find()
        .filter(one_time_tokens::Column::UserId.eq(uuid::Uuid::parse_str(user_id).expect("id")))
        .filter(one_time_tokens::Column::Purpose.eq("reset_password"))
        .count(&app.db)
        .await
        .expect("count tokens")
}

async fn a_suspended_account_gets_a_notice_instead_of_a_link(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app_with_admin(backend).await else {
        return;
    };
    let id = app.verified_account("suspended@example.com").await;
    let (_, admin) = app.admin().await;
    assert_eq!(app.lock_user(&admin, &id).await.status(), StatusCode::OK);

    let unknown = answer(forgot(&app, "ghost@example.com").await).await;
    let suspended = answer(forgot(&app, "suspended@example.com").await).await;

    assert_eq!(suspended, unknown, "the answer is byte for byte the same");
    let notice = app.mail_to("suspended@example.com", "suspended", 1).await;
    let text = notice[0].text();
    assert!(text.contains("administrator"), "{text}");
    assert!(!text.contains("/password/reset"), "no reset link: {text}");
    app.outbox_settled_for("suspended@example.com").await;
    let links = app
        .smtp
        .messages()
        .iter()
        .filter(|m| crate::helpers::link_in(&m.text(), "/password/reset").is_some())
        .count();
    assert_eq!(links, 0, "no reset mail at all");
    assert_eq!(reset_tokens_of(&app, &id).await, 0, "no token minted");
}

async fn the_suspension_notice_counts_against_the_hourly_share(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app_with(backend, |c| {
        c.mail_recipient_limit = 2;
        c.admin_email = Some(crate::helpers::ADMIN_EMAIL.into());
        c.admin_password = Some(secrecy::SecretString::from(
            crate::helpers::ADMIN_PASSWORD.to_owned(),
        ));
    })
    .await
    else {
        return;
    };
    let (_, admin) = app.admin().await;
    let user = app
        .create_user_as(&admin, "quiet@example.com", "AUTHENTICATED", json!({}))
        .await;
    let id = user["id"].as_str().expect("id");
    assert_eq!(app.lock_user(&admin, id).await.status(), StatusCode::OK);

    let first = answer(forgot(&app, "quiet@example.com").await).await;
    app.mail_to("quiet@example.com", "suspended", 1).await;
    let second = answer(forgot(&app, "quiet@example.com").await).await;
    app.mail_to("quiet@example.com", "suspended", 2).await;
    let third = answer(forgot(&app, "quiet@example.com").await).await;

    assert_eq!(first, second);
    assert_eq!(second, third, "the same answer past the limit");
    app.outbox_settled_for("quiet@example.com").await;
    assert_eq!(
        app.delivered_to("quiet@example.com"),
        2,
        "nothing past the share"
    );
    assert_eq!(reset_tokens_of(&app, id).await, 0);
}

on_both_databases!(
    a_reset_does_not_undo_a_staff_lock,
    a_staff_lock_ends_outstanding_reset_links,
    a_failed_login_lock_keeps_outstanding_reset_links,
    a_suspended_account_gets_a_notice_instead_of_a_link,
    the_suspension_notice_counts_against_the_hourly_share,
    forgot_answers_alike_and_mails_only_accounts,
    forgot_takes_alike_long_for_unknown_and_known_addresses,
    a_reset_link_sets_the_new_password_once,
    expired_garbage_and_foreign_tokens_are_refused,
    a_policy_breaking_password_is_422_and_keeps_the_token,
    a_reset_unlocks_the_account_and_is_audited,
    a_reset_revokes_every_session,
);

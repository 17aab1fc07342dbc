//! Account lockout after repeated failed logins: the attempt reaching the
//! limit locks (once, even under concurrent attempts and across two
//! instances), the lock is audited and mailed, expires, and a success
//! resets the count.

use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use user_management::db::entities::email_outbox;

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PASSWORD, TestApp, WRONG, assert_oauth_error,
    assert_token_error, assert_tokens, count_of, link_in, path_of, spawn_app_with,
    spawn_app_with_admin,
};
use crate::on_both_databases;

const LIMIT: u32 = 3;
/// The limit of the tests on two instances.
const SHARED_LIMIT: u32 = 4;

async fn lock_mails(app: &TestApp, recipient: &str) -> u64 {
    email_outbox::Entity::find()
        .filter(email_outbox::Column::Recipient.eq(recipient))
        .filter(email_outbox::Column::Template.eq("account_locked"))
        .count(&app.db)
        .await
        .expect("count outbox")
}

async fn repeated_failures_lock_the_account(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = LIMIT).await else {
        return;
    };
    let (id, access_token, _) = app.verified_user("lockme@example.com").await;
    let mails_before = app.smtp.messages().len();

    let mut statuses = Vec::new();
    for _ in 0..LIMIT {
        statuses.push(app.login("lockme@example.com", WRONG).await.status());
    }

    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::LOCKED
        ],
        "the attempt that reaches the limit locks"
    );
    let row = app.user_row(&id).await;
    assert!(row.is_locked);
    assert_eq!(row.failed_login_attempts, 3);
    assert!(row.locked_until.is_some(), "the default lock is temporary");
    let right = app.login("lockme@example.com", PASSWORD).await;
    assert_oauth_error(right, StatusCode::LOCKED, "invalid_grant").await;
    let again = app.login("lockme@example.com", WRONG).await;
    assert_oauth_error(again, StatusCode::LOCKED, "invalid_grant").await;
    assert_eq!(
        app.get("/me", Some(&access_token)).await.status(),
        StatusCode::OK,
        "a failed-login lock stops guessing, not the owner's sessions"
    );
    assert_eq!(app.audit_count("user_locked", &id).await, 1);
    let mail = app
        .smtp
        .wait_for(mails_before + 1, Duration::from_secs(10))
        .await;
    let locked = mail.last().expect("a message");
    assert_eq!(locked.to, ["lockme@example.com"]);
    assert!(
        locked.subject().to_lowercase().contains("locked"),
        "{}",
        locked.subject()
    );
    // Its reset link opens the page that asks for the address.
    let link = link_in(&locked.text(), "/forgot-password").expect("the mail's reset link");
    let page = app
        .request(Method::GET, &path_of(&link))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), StatusCode::OK, "{link}");
}

async fn concurrent_failures_lock_at_exactly_the_limit(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = LIMIT).await else {
        return;
    };
    let id = app.verified_account("storm@example.com").await;

    let statuses = app
        .concurrent_token_requests(
            &[&app.address],
            10,
            &[("username", "storm@example.com"), ("password", WRONG)],
        )
        .await;

    let row = app.user_row(&id).await;
    assert!(row.failed_login_attempts >= 3, "{statuses:?}");
    assert!(row.is_locked);
    assert_eq!(
        count_of(&statuses, StatusCode::UNAUTHORIZED),
        LIMIT as usize - 1,
        "exactly the attempts before the limit are plain failures: {statuses:?}"
    );
    assert_eq!(
        count_of(&statuses, StatusCode::UNAUTHORIZED) + count_of(&statuses, StatusCode::LOCKED),
        10,
        "{statuses:?}"
    );
    assert!(
        count_of(&statuses, StatusCode::LOCKED) >= 10 - 3,
        "{statuses:?}"
    );
    assert_eq!(app.audit_count("user_locked", &id).await, 1, "locked once");
    assert_eq!(
        lock_mails(&app, "storm@example.com").await,
        1,
        "one lock email"
    );
    assert_eq!(
        app.login("storm@example.com", PASSWORD).await.status(),
        StatusCode::LOCKED
    );
}

async fn a_temporary_lock_expires(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.max_login_attempts = LIMIT;
        c.lockout_duration = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let id = app.verified_account("brief@example.com").await;
    for _ in 0..LIMIT {
        app.login("brief@example.com", WRONG).await;
    }
    assert_eq!(
        app.login("brief@example.com", PASSWORD).await.status(),
        StatusCode::LOCKED
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let response = app.login("brief@example.com", PASSWORD).await;

    assert_tokens(response).await;
    let row = app.user_row(&id).await;
    assert!(!row.is_locked);
    assert_eq!(row.failed_login_attempts, 0);
    assert!(row.locked_until.is_none());
}

async fn a_successful_login_resets_the_failure_count(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = LIMIT).await else {
        return;
    };
    let id = app.verified_account("reset@example.com").await;
    for _ in 0..LIMIT - 1 {
        assert_eq!(
            app.login("reset@example.com", WRONG).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(app.user_row(&id).await.failed_login_attempts, 2);

    assert_tokens(app.login("reset@example.com", PASSWORD).await).await;

    assert_eq!(app.user_row(&id).await.failed_login_attempts, 0);
    for _ in 0..LIMIT - 1 {
        assert_eq!(
            app.login("reset@example.com", WRONG).await.status(),
            StatusCode::UNAUTHORIZED,
            "the count started again"
        );
    }
    assert!(!app.user_row(&id).await.is_locked);
}

// ------------------------------------------------------------------ two instances

async fn two_instances_share_one_lockout(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = SHARED_LIMIT).await else {
        return;
    };
    let sibling = app.sibling().await;
    let instances = [app.address.clone(), sibling.address.clone()];
    let id = app.verified_account("shared@example.com").await;

    let mut statuses = Vec::new();
    for attempt in 0..SHARED_LIMIT as usize {
        let address = &instances[attempt % 2];
        let response = app.login_at(address, "shared@example.com", WRONG).await;
        statuses.push(response.status());
    }

    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::LOCKED
        ],
        "failures on either instance add up; the one reaching the limit locks"
    );
    let row = app.user_row(&id).await;
    assert!(row.is_locked);
    assert_eq!(row.failed_login_attempts, SHARED_LIMIT as i32);
    for address in &instances {
        let right = app.login_at(address, "shared@example.com", PASSWORD).await;
        assert_token_error(right, StatusCode::LOCKED).await;
    }
    let more = app
        .login_at(&instances[1], "shared@example.com", WRONG)
        .await;
    assert_token_error(more, StatusCode::LOCKED).await;
    assert_eq!(
        app.user_row(&id).await.failed_login_attempts,
        SHARED_LIMIT as i32 + 3,
        "attempts during the lock are counted (each waits longer), the lock is not taken again"
    );
    assert_eq!(app.audit_count("user_locked", &id).await, 1);
}

async fn concurrent_failures_on_two_instances_lock_at_exactly_the_limit(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = SHARED_LIMIT).await else {
        return;
    };
    let sibling = app.sibling().await;
    let id = app.verified_account("storm@example.com").await;
    let attempts = 10;

    let statuses = app
        .concurrent_token_requests(
            &[&app.address, &sibling.address],
            attempts,
            &[("username", "storm@example.com"), ("password", WRONG)],
        )
        .await;

    let count = |status| count_of(&statuses, status);
    assert_eq!(
        count(StatusCode::UNAUTHORIZED),
        SHARED_LIMIT as usize - 1,
        "{statuses:?}"
    );
    assert_eq!(
        count(StatusCode::LOCKED),
        attempts - (SHARED_LIMIT as usize - 1),
        "{statuses:?}"
    );
    let row = app.user_row(&id).await;
    assert!(row.is_locked);
    // An attempt that reads the account once it is locked is held back and
    // counted on (the count sets its delay), so the count may pass the limit.
    let counted = usize::try_from(row.failed_login_attempts).expect("count");
    assert!(
        (SHARED_LIMIT as usize..=attempts).contains(&counted),
        "{counted} failures counted"
    );
    assert_eq!(app.audit_count("user_locked", &id).await, 1, "locked once");
}

/// The answers to the same sequence of attempts on `email`: status and body.
async fn answers(app: &TestApp, email: &str, passwords: &[&str]) -> Vec<(StatusCode, String)> {
    let mut answers = Vec::new();
    for password in passwords {
        let response = app.login(email, password).await;
        let status = response.status();
        answers.push((status, response.text().await.expect("body")));
    }
    answers
}

/// Guessing cannot lock every administrator out: the sole unlocked ADMIN's
/// correct password still gets in (after the lock's delay), while its wrong
/// passwords get exactly what any account's get, so nothing tells which
/// account is the administrator. Once another ADMIN is unlocked, the lock
/// holds for it like for everyone.
async fn the_sole_admin_is_never_hard_locked(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, admin) = app.admin().await;
    app.user_with_role_as(&admin, "plain@example.com", "AUTHENTICATED")
        .await;
    let attack = [WRONG; 5];
    let on_admin = answers(&app, ADMIN_EMAIL, &attack).await;
    let on_plain = answers(&app, "plain@example.com", &attack).await;
    assert_eq!(on_admin, on_plain, "wrong passwords answer alike");
    assert_eq!(on_admin[4].0, StatusCode::LOCKED);

    let plain = app.login("plain@example.com", PASSWORD).await;
    assert_oauth_error(plain, StatusCode::LOCKED, "invalid_grant").await;
    let started = std::time::Instant::now();
    let (access, _) = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "held back first"
    );
    assert_eq!(app.me(&access).await["role"], "ADMIN");

    app.user_with_role_as(&access, "deputy@example.com", "ADMIN")
        .await;
    answers(&app, ADMIN_EMAIL, &attack).await;
    let locked = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_oauth_error(locked, StatusCode::LOCKED, "invalid_grant").await;
}

on_both_databases!(
    the_sole_admin_is_never_hard_locked,
    repeated_failures_lock_the_account,
    concurrent_failures_lock_at_exactly_the_limit,
    a_temporary_lock_expires,
    a_successful_login_resets_the_failure_count,
    two_instances_share_one_lockout,
    concurrent_failures_on_two_instances_lock_at_exactly_the_limit,
);

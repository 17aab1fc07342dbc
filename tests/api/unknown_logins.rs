//! Failed logins for addresses without an account: an unknown address
//! answers every attempt exactly as an account does (status, body, headers,
//! the hold-back delay of a lock, and the lock's end), its count is shared
//! by every instance, the table holds keyed hashes only, and it is bounded.
//! Also the 423 text: which lock it is only for the correct password.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use secrecy::SecretString;
use user_management::auth::address_keys::AddressKeys;
use user_management::auth::lockout::hold_back_delay;
use user_management::db::entities::unknown_login_failures as rows;
use user_management::domain::Email;

use crate::helpers::{
    Backend, JWT_SECRET, PASSWORD, TestApp, WRONG, spawn_app_with, spawn_app_with_admin,
};
use crate::on_both_databases;

const LIMIT: u32 = 3;

/// One answer of the token endpoint, as a client sees it (timing aside).
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: StatusCode,
    body: String,
    headers: Vec<(String, String)>,
}

/// The headers of an answer, without those that differ on every answer.
fn stable_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or("<binary>").to_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    kept.sort();
    kept
}

/// A login at `address` and how long its answer took.
async fn attempt(app: &TestApp, address: &str, email: &str, password: &str) -> (Answer, Duration) {
    let started = Instant::now();
    let response = app.login_at(address, email, password).await;
    let status = response.status();
    let headers = stable_headers(response.headers());
    let body = response.text().await.expect("body");
    let took = started.elapsed();
    (
        Answer {
            status,
            body,
            headers,
        },
        took,
    )
}

/// `n` wrong passwords on a known and an unknown address, interleaved so
/// both run on the same clock; asserts each answer alike and each attempt
/// on a lock held back as long. Returns the statuses.
async fn run_alike(app: &TestApp, known: &str, unknown: &str, n: usize) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for nth in 0..n {
        let (on_known, known_took) = attempt(app, &app.address, known, WRONG).await;
        let (on_unknown, unknown_took) = attempt(app, &app.address, unknown, WRONG).await;
        assert_eq!(on_known, on_unknown, "attempt {}", nth + 1);
        if on_known.status == StatusCode::LOCKED && nth >= LIMIT as usize {
            // The count before this attempt was `nth`.
            let held = hold_back_delay(i32::try_from(nth).expect("small"), LIMIT);
            assert!(known_took >= held, "attempt {}: {known_took:?}", nth + 1);
            assert!(
                unknown_took >= held,
                "attempt {}: {unknown_took:?}",
                nth + 1
            );
        }
        statuses.push(on_known.status);
    }
    statuses
}

async fn an_unknown_address_answers_like_an_account_at_every_count(backend: Backend) {
    // Long enough that no lock ends during the run on a loaded machine.
    let lock = Duration::from_secs(6);
    let Some(app) = spawn_app_with(backend, |c| {
        c.max_login_attempts = LIMIT;
        c.lockout_duration = lock;
    })
    .await
    else {
        return;
    };
    app.verified_account("known@example.com").await;
    let n = LIMIT as usize + 2;

    let statuses = run_alike(&app, "known@example.com", "nobody@example.com", n).await;

    let (fail, locked) = (StatusCode::UNAUTHORIZED, StatusCode::LOCKED);
    assert_eq!(statuses, [fail, fail, locked, locked, locked]);
    assert_eq!(
        rows::Entity::find().count(&app.db).await.expect("count"),
        1,
        "the unknown address is counted in the database"
    );

    tokio::time::sleep(lock + Duration::from_millis(300)).await;
    let again = run_alike(&app, "known@example.com", "nobody@example.com", n).await;
    assert_eq!(
        again,
        [fail, fail, locked, locked, locked],
        "both locks ended after LOCKOUT_DURATION and both counts started again"
    );
}

async fn two_instances_share_the_count_of_an_unknown_address(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.max_login_attempts = 4).await else {
        return;
    };
    let sibling = app.sibling().await;
    let instances = [app.address.clone(), sibling.address.clone()];

    let mut statuses = Vec::new();
    for nth in 0..5 {
        let address = &instances[nth % 2];
        let response = app.login_at(address, "ghost@example.com", WRONG).await;
        statuses.push(response.status());
    }

    let (fail, locked) = (StatusCode::UNAUTHORIZED, StatusCode::LOCKED);
    assert_eq!(
        statuses,
        [fail, fail, fail, locked, locked],
        "failures on either instance add up"
    );
    let all = rows::Entity::find().all(&app.db).await.expect("rows");
    assert_eq!(all.len(), 1);
    assert!(all[0].is_locked);
    assert_eq!(all[0].failed_attempts, 5);
}

async fn the_table_names_nobody_and_stays_bounded(backend: Backend) {
    let cap = 3;
    let Some(app) = spawn_app_with(backend, |c| c.unknown_login_rows = cap).await else {
        return;
    };
    let addresses: Vec<String> = (0..6).map(|i| format!("ghost{i}@example.com")).collect();

    for address in &addresses {
        let response = app.login(address, WRONG).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    let kept: Vec<String> = rows::Entity::find()
        .order_by_asc(rows::Column::LastFailedAt)
        .all(&app.db)
        .await
        .expect("rows")
        .into_iter()
        .map(|row| row.key_hash)
        .collect();
    let keys = AddressKeys::new(&SecretString::from(JWT_SECRET.to_owned()));
    let key = |a: &String| keys.key(&Email::parse(a).expect("email"));
    let newest: Vec<String> = addresses[addresses.len() - 3..].iter().map(key).collect();
    assert_eq!(kept, newest, "at most the cap, the oldest went first");
    for row in &kept {
        assert!(!row.contains("ghost") && row.len() == 64, "{row}");
    }
}

/// The body of a login answer.
async fn body_of(app: &TestApp, email: &str, password: &str) -> (StatusCode, String) {
    let response = app.login(email, password).await;
    (response.status(), response.text().await.expect("body"))
}

async fn only_the_correct_password_learns_which_lock_it_is(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, admin) = app.admin().await;
    let (suspended_id, _) = app
        .user_with_role("suspended@example.com", "AUTHENTICATED")
        .await;
    app.user_with_role("guessed@example.com", "AUTHENTICATED")
        .await;
    let locked = app.lock_user(&admin, &suspended_id).await;
    assert_eq!(locked.status(), StatusCode::OK);
    for _ in 0..5 {
        app.login("guessed@example.com", WRONG).await;
        app.login("unknown@example.com", WRONG).await;
    }

    let generic = body_of(&app, "guessed@example.com", WRONG).await;
    assert_eq!(generic.0, StatusCode::LOCKED);
    assert!(!generic.1.contains("failed logins"), "{}", generic.1);
    assert_eq!(body_of(&app, "suspended@example.com", WRONG).await, generic);
    assert_eq!(body_of(&app, "unknown@example.com", WRONG).await, generic);
    assert_eq!(
        body_of(&app, "unknown@example.com", PASSWORD).await,
        generic,
        "a password of no account learns nothing either"
    );

    let (status, guessed) = body_of(&app, "guessed@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::LOCKED);
    assert!(guessed.contains("too many failed logins"), "{guessed}");
    let (status, suspended) = body_of(&app, "suspended@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::LOCKED);
    assert!(suspended.contains("suspended"), "{suspended}");
}

on_both_databases!(
    an_unknown_address_answers_like_an_account_at_every_count,
    two_instances_share_the_count_of_an_unknown_address,
    the_table_names_nobody_and_stays_bounded,
    only_the_correct_password_learns_which_lock_it_is,
);

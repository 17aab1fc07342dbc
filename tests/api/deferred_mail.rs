//! Deferred account mail (`src/users/deferred_mail.rs`, one-time tokens):
//! asking again never breaks a link the owner holds (up to three live links
//! side by side), and one address gets at most `MAIL_RECIPIENT_LIMIT`
//! account mails an hour, decided at delivery so the HTTP answer never
//! changes.

use reqwest::{Response, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use user_management::db::entities::one_time_tokens;

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_both_databases;

const EMAIL: &str = "keeper@example.com";

async fn forgot(app: &TestApp) -> (StatusCode, String) {
    let response: Response = app
        .post_json("/password/forgot", &json!({ "email": EMAIL }))
        .await;
    (response.status(), response.text().await.expect("body"))
}

async fn reset(app: &TestApp, token: &str) -> StatusCode {
    app.post_json(
        "/password/reset",
        &json!({ "token": token, "new_password": "a-new-long-passphrase" }),
    )
    .await
    .status()
}

async fn reset_links_live_side_by_side_until_a_fourth(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.mail_recipient_limit = 0).await else {
        return;
    };
    app.verified_account(EMAIL).await;
    let mut tokens = Vec::new();
    for nth in 1..=4 {
        forgot(&app).await;
        tokens.push(app.reset_token(EMAIL, nth).await);
    }
    assert_eq!(
        reset(&app, &tokens[0]).await,
        StatusCode::BAD_REQUEST,
        "the fourth link retired the oldest"
    );
    assert_eq!(
        reset(&app, &tokens[1]).await,
        StatusCode::NO_CONTENT,
        "an earlier link still works after later requests"
    );
    assert_eq!(
        reset(&app, &tokens[3]).await,
        StatusCode::BAD_REQUEST,
        "a reset ends the other links"
    );
}

async fn an_address_gets_at_most_its_hourly_share_of_account_mail(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| c.mail_recipient_limit = 3).await else {
        return;
    };
    let id = app.verified_account(EMAIL).await; // the verification mail: one
    let first = forgot(&app).await;
    app.reset_token(EMAIL, 1).await; // two
    let second = forgot(&app).await;
    app.reset_token(EMAIL, 2).await; // three: the share of this hour
    let third = forgot(&app).await;
    assert_eq!(first, second, "the same answer every time");
    assert_eq!(second, third, "the same answer past the limit too");
    app.outbox_settled_for(EMAIL).await;
    assert_eq!(app.delivered_to(EMAIL), 3, "nothing sent past the limit");
    let issued = one_time_tokens::Entity::find()
        .filter(one_time_tokens::Column::UserId.eq(uuid::Uuid::parse_str(&id).expect("id")))
        .filter(one_time_tokens::Column::Purpose.eq("reset_password"))
        .count(&app.db)
        .await
        .expect("count tokens");
    assert_eq!(issued, 2, "no token minted past the limit");
}

on_both_databases!(
    reset_links_live_side_by_side_until_a_fourth,
    an_address_gets_at_most_its_hourly_share_of_account_mail,
);

//! The outbox table: enqueue inside a transaction, claim with a lease,
//! record the outcome.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::templates;
use crate::db::{self, Db, entities::email_outbox};
use crate::time;

/// The messages the service sends, one template each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Email verification link.
    VerifyEmail,
    /// Password reset link.
    PasswordReset,
    /// The account was locked.
    AccountLocked,
    /// The role changed.
    RoleChanged,
    /// Professional status changed.
    ProfessionalStatus,
    /// To the old address: the account's address changed.
    EmailChanged,
    /// To the new address: the link that confirms a change of address.
    ConfirmEmailChange,
    /// A suspended account asked for a reset: this notice, no link.
    AccountSuspended,
    /// An operator's test message.
    Test,
    /// "Send a reset link to this address, if it has an account": composed
    /// at delivery, so the request itself does the same work either way.
    PasswordResetRequest,
    /// "Send a new verification link to this address, if it needs one".
    VerifyEmailRequest,
    /// "Send the link confirming this pending change of address, if the
    /// change still stands and the address is free".
    EmailChangeRequest,
}

impl MailKind {
    /// The template name.
    pub fn template(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => templates::VERIFY_EMAIL,
            MailKind::PasswordReset => templates::PASSWORD_RESET,
            MailKind::AccountLocked => templates::ACCOUNT_LOCKED,
            MailKind::RoleChanged => templates::ROLE_CHANGED,
            MailKind::ProfessionalStatus => templates::PROFESSIONAL_STATUS,
            MailKind::EmailChanged => templates::EMAIL_CHANGED,
            MailKind::ConfirmEmailChange => templates::CONFIRM_EMAIL_CHANGE,
            MailKind::AccountSuspended => templates::ACCOUNT_SUSPENDED,
            MailKind::Test => templates::TEST,
            MailKind::PasswordResetRequest => "password_reset_request",
            MailKind::VerifyEmailRequest => "verify_email_request",
            MailKind::EmailChangeRequest => "email_change_request",
        }
    }
}

/// Payload keys that carry a secret (a link with a token): removed once the
/// message is delivered, so the outbox does not keep usable tokens.
const SECRET_KEYS: [&str; 2] = ["link", "reset_link"];

/// How long a claimed message is reserved for the worker that claimed it.
const CLAIM_LEASE: Duration = Duration::from_secs(120);

/// Queues a message. Call inside the transaction of the change that causes it.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    to: &str,
    kind: MailKind,
    payload: Value,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    let now = time::now();
    let row = email_outbox::ActiveModel {
        id: Set(id),
        recipient: Set(to.to_owned()),
        template: Set(kind.template().to_owned()),
        payload: Set(payload),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
        last_error: Set(None),
    };
    email_outbox::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok(id)
}

/// Claims the next due message, if any, for `CLAIM_LEASE`, and counts the attempt.
/// On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets several instances claim
/// different messages at once; SQLite has one writer, so the claim is atomic anyway.
pub async fn claim_next(db: &Db) -> Result<Option<email_outbox::Model>, DbErr> {
    use email_outbox::Column as C;
    let tx = db::begin(db).await?;
    let now = time::now();
    let mut query = email_outbox::Entity::find()
        .filter(C::SentAt.is_null())
        .filter(C::FailedAt.is_null())
        .filter(C::NextAttemptAt.lte(now))
        .filter(C::ClaimedUntil.is_null().or(C::ClaimedUntil.lt(now)))
        .order_by_asc(C::NextAttemptAt)
        .limit(1);
    if db::backend(&tx) == DbBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let Some(row) = query.one(&tx).await? else {
        db::commit(tx).await?;
        return Ok(None);
    };
    let claimed_until = time::after(now, CLAIM_LEASE);
    email_outbox::Entity::update_many()
        .col_expr(C::ClaimedUntil, Expr::value(claimed_until))
        .col_expr(C::Attempts, Expr::col(C::Attempts).add(1))
        .filter(C::Id.eq(row.id))
        .exec(&tx)
        .await?;
    db::commit(tx).await?;
    Ok(Some(email_outbox::Model {
        claimed_until: Some(claimed_until),
        attempts: row.attempts + 1,
        ..row
    }))
}

/// Records a delivery and removes the secrets from the stored payload.
pub async fn mark_sent(db: &Db, row: &email_outbox::Model) -> Result<(), DbErr> {
    use email_outbox::Column as C;
    let mut payload = row.payload.clone();
    if let Some(object) = payload.as_object_mut() {
        for key in SECRET_KEYS {
            if object.contains_key(key) {
                object.insert(
                    key.to_owned(),
                    Value::String("[removed after delivery]".into()),
                );
            }
        }
    }
    email_outbox::Entity::update_many()
        .col_expr(C::SentAt, Expr::value(time::now()))
        .col_expr(
            C::ClaimedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(C::LastError, Expr::value(Option::<String>::None))
        .col_expr(C::Payload, Expr::value(payload))
        .filter(C::Id.eq(row.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records a failed attempt: retried after `retry_in`, or given up (`None`).
pub async fn mark_failed(
    db: &Db,
    row: &email_outbox::Model,
    error: &str,
    retry_in: Option<Duration>,
) -> Result<(), DbErr> {
    use email_outbox::Column as C;
    let now = time::now();
    let error: String = error.chars().take(1000).collect();
    let mut update = email_outbox::Entity::update_many()
        .col_expr(
            C::ClaimedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(C::LastError, Expr::value(error));
    update = match retry_in {
        Some(delay) => update.col_expr(C::NextAttemptAt, Expr::value(time::after(now, delay))),
        None => update.col_expr(C::FailedAt, Expr::value(now)),
    };
    update.filter(C::Id.eq(row.id)).exec(db).await?;
    Ok(())
}

/// Removes a message that turned out to have no one to go to (a deferred
/// request for an address without an eligible account).
pub async fn discard(db: &Db, row: &email_outbox::Model) -> Result<(), DbErr> {
    email_outbox::Entity::delete_by_id(row.id).exec(db).await?;
    Ok(())
}

/// The templates of account mails throttled per recipient: reset and
/// verification requests (a suspension notice answers a reset request),
/// the lock notice and the confirmation of a new address.
pub const THROTTLED: [MailKind; 4] = [
    MailKind::PasswordResetRequest,
    MailKind::VerifyEmailRequest,
    MailKind::AccountLocked,
    MailKind::EmailChangeRequest,
];

/// How many throttled account mails (see [`THROTTLED`]) went to any of
/// `addresses` in the last hour.
pub async fn recently_delivered_to(
    conn: &impl ConnectionTrait,
    addresses: &[&str],
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    let since = time::now() - chrono::Duration::hours(1);
    email_outbox::Entity::find()
        .filter(email_outbox::Column::Recipient.is_in(addresses.iter().copied()))
        .filter(email_outbox::Column::Template.is_in(THROTTLED.map(MailKind::template)))
        .filter(email_outbox::Column::SentAt.gte(since))
        .count(conn)
        .await
}

/// How many messages are pending, sent and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Not yet delivered (including those waiting for a retry).
    pub pending: u64,
    /// Delivered.
    pub sent: u64,
    /// Given up after the attempt cap or a permanent error.
    pub failed: u64,
}

/// Counts messages by state.
pub async fn counts(db: &Db) -> Result<Counts, DbErr> {
    use email_outbox::Column as C;
    use sea_orm::PaginatorTrait;
    let count =
        |filter: sea_orm::Select<email_outbox::Entity>| async move { filter.count(db).await };
    Ok(Counts {
        pending: count(
            email_outbox::Entity::find()
                .filter(C::SentAt.is_null())
                .filter(C::FailedAt.is_null()),
        )
        .await?,
        sent: count(email_outbox::Entity::find().filter(C::SentAt.is_not_null())).await?,
        failed: count(email_outbox::Entity::find().filter(C::FailedAt.is_not_null())).await?,
    })
}

/// The messages that were given up, newest first.
pub async fn failed(db: &Db, limit: u64) -> Result<Vec<email_outbox::Model>, DbErr> {
    use email_outbox::Column as C;
    email_outbox::Entity::find()
        .filter(C::FailedAt.is_not_null())
        .order_by_desc(C::FailedAt)
        .limit(limit)
        .all(db)
        .await
}

/// Puts failed messages back in the queue with a fresh attempt count;
/// returns how many.
pub async fn requeue_failed(db: &Db) -> Result<u64, DbErr> {
    use email_outbox::Column as C;
    let result = email_outbox::Entity::update_many()
        .col_expr(
            C::FailedAt,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(C::Attempts, Expr::value(0))
        .col_expr(C::NextAttemptAt, Expr::value(time::now()))
        .filter(C::FailedAt.is_not_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

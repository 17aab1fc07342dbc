//! Mail the service sent: the links and tokens in it, waiting for it to
//! arrive at the SMTP sink, and the outbox it is queued in.

use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use user_management::db::entities::email_outbox;

use super::app::TestApp;
use super::smtp::Captured;

/// How long a test waits for a message to arrive.
const MAIL_WAIT: Duration = Duration::from_secs(10);

/// The first URL in `text` containing `marker`.
pub fn link_in(text: &str, marker: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '<' || c == '>')
        .find(|word| word.starts_with("http") && word.contains(marker))
        .map(str::to_owned)
}

/// The short code (`ABCD-EFGH`, shown in bold) in the text of a link mail.
pub fn code_in(text: &str) -> Option<String> {
    const ALPHABET: &str = "ABCDEFGHJKMNPQRSTVWXYZ23456789";
    text.split("**")
        .find(|part| {
            part.len() == 9
                && part.chars().enumerate().all(|(i, c)| {
                    if i == 4 {
                        c == '-'
                    } else {
                        ALPHABET.contains(c)
                    }
                })
        })
        .map(str::to_owned)
}

/// The path (and query) of an absolute URL.
pub fn path_of(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("url");
    match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    }
}

/// The value of query parameter `name` in the absolute URL `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Whether `message` is addressed to `email` (any case).
fn addressed_to(message: &Captured, email: &str) -> bool {
    message.to.iter().any(|t| t.eq_ignore_ascii_case(email))
}

impl TestApp {
    /// The verification link from the latest verification email to `email`.
    pub async fn verification_link(&self, email: &str) -> String {
        self.latest_link(email, "/verify-email/").await
    }

    /// The link containing `marker` in the latest mail to `email` that has
    /// one, waiting up to ten seconds for it to arrive.
    pub async fn latest_link(&self, email: &str, marker: &str) -> String {
        let deadline = tokio::time::Instant::now() + MAIL_WAIT;
        loop {
            let found = self
                .smtp
                .messages()
                .into_iter()
                .rev()
                .filter(|m| addressed_to(m, email))
                .find_map(|m| link_in(&m.text(), marker));
            if let Some(link) = found {
                return link;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no mail with {marker} to {email} arrived"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The token of the `nth` (1-based) password reset email to `email`,
    /// waiting up to ten seconds for it to arrive.
    pub async fn reset_token(&self, email: &str, nth: usize) -> String {
        let deadline = tokio::time::Instant::now() + MAIL_WAIT;
        loop {
            let links: Vec<String> = self
                .smtp
                .messages()
                .into_iter()
                .filter(|m| addressed_to(m, email))
                .filter_map(|m| link_in(&m.text(), "/password/reset"))
                .collect();
            if let Some(link) = links.get(nth.saturating_sub(1)) {
                return query_param(link, "token")
                    .unwrap_or_else(|| panic!("reset link without a token: {link}"));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "reset email #{nth} to {email} did not arrive ({} did)",
                links.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The short code of the `nth` (1-based) mail to `email` whose link
    /// contains `marker` (`/verify-email/`, `/password/reset`), waiting up to
    /// ten seconds for it to arrive.
    pub async fn mailed_code(&self, email: &str, marker: &str, nth: usize) -> String {
        let deadline = tokio::time::Instant::now() + MAIL_WAIT;
        loop {
            let codes: Vec<String> = self
                .smtp
                .messages()
                .into_iter()
                .filter(|m| addressed_to(m, email))
                .filter(|m| link_in(&m.text(), marker).is_some())
                .filter_map(|m| code_in(&m.text()))
                .collect();
            if let Some(code) = codes.get(nth.saturating_sub(1)) {
                return code.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mail #{nth} with a code and a {marker} link to {email} did not arrive"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The messages to `email` whose subject contains `subject` (any case),
    /// waiting up to ten seconds for at least `n`.
    pub async fn mail_to(&self, email: &str, subject: &str, n: usize) -> Vec<Captured> {
        let deadline = tokio::time::Instant::now() + MAIL_WAIT;
        loop {
            let found: Vec<Captured> = self
                .smtp
                .messages()
                .into_iter()
                .filter(|m| addressed_to(m, email))
                .filter(|m| m.subject().to_lowercase().contains(&subject.to_lowercase()))
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} email(s) about {subject:?} to {email} did not arrive ({} did)",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Messages the SMTP sink received for `recipient` (any case).
    pub fn delivered_to(&self, recipient: &str) -> usize {
        self.smtp
            .messages()
            .iter()
            .filter(|m| addressed_to(m, recipient))
            .count()
    }

    /// Rows ever queued for `recipient` in the outbox (sent or not).
    pub async fn outbox_rows(&self, recipient: &str) -> u64 {
        email_outbox::Entity::find()
            .filter(email_outbox::Column::Recipient.eq(recipient))
            .count(&self.db)
            .await
            .expect("count outbox")
    }

    /// Waits until the mail worker has dealt with every queued row for
    /// `recipient` that it discards (a deferred request for nobody), i.e.
    /// until the outbox holds no unsent row for that address.
    pub async fn outbox_settled_for(&self, recipient: &str) {
        let deadline = tokio::time::Instant::now() + MAIL_WAIT;
        loop {
            let pending = email_outbox::Entity::find()
                .filter(email_outbox::Column::Recipient.eq(recipient))
                .filter(email_outbox::Column::SentAt.is_null())
                .filter(email_outbox::Column::FailedAt.is_null())
                .count(&self.db)
                .await
                .expect("count outbox");
            if pending == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{pending} outbox row(s) for {recipient} still pending"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

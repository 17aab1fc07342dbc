//! Short codes: the eight characters a verification or reset mail carries
//! beside its link, for a person to type on a page (or a client to send)
//! when the link is blocked or a scanner opened it first.
//!
//! - [`LENGTH`] characters of [`ALPHABET`] (no 0/O, 1/I/L or U to misread):
//!   30^8, about 39 bits. Read without regard to case, hyphens or spaces,
//!   so `abcd efgh` is `ABCD-EFGH`.
//! - One per link row: the code is found by the address it was mailed to
//!   and the code; using it uses the link, using the link ends it, and it
//!   expires with the link.
//! - Stored only as HMAC-SHA256 of purpose, user and code under a key
//!   derived from the service secret, so a copy of the database does not
//!   let codes be tried offline; compared in constant time.
//! - [`MAX_FAILURES`] wrong codes for one user and purpose void every live
//!   code of theirs of that purpose; the links stay good. A wrong code and
//!   an address without an account are answered alike, after the same
//!   queries.

use aws_lc_rs::hmac;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::one_time_tokens::{self, Purpose};
use crate::auth::tokens;
use crate::db::{
    self,
    entities::{one_time_tokens as rows, users},
};
use crate::domain::Email;
use crate::time;

/// The characters of a code: capitals and digits that cannot be misread.
pub const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";
/// The characters of a code.
pub const LENGTH: usize = 8;
/// Wrong codes for one user and purpose that void their live codes.
pub const MAX_FAILURES: i32 = 5;

/// The key codes are digested under.
#[derive(Clone)]
pub struct CodeKeys {
    key: hmac::Key,
}

impl CodeKeys {
    /// The key derived from the service secret (its own label, so it is
    /// neither the token signing key nor the one of `address_keys`).
    pub fn new(secret: &SecretString) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
        let derived = hmac::sign(&root, b"user-management link codes v1");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// The stored digest of `code` for `user_id` and `purpose`.
    fn digest(&self, user_id: Uuid, purpose: Purpose, code: &Code) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(purpose.as_str().as_bytes());
        context.update(b"\0");
        context.update(user_id.as_bytes());
        context.update(code.0.as_bytes());
        hex::encode(context.sign())
    }
}

/// A code in its plain form: [`LENGTH`] characters of [`ALPHABET`].
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code(…)")
    }
}

impl Code {
    /// A fresh random code.
    pub fn generate() -> Self {
        let chars = (0..LENGTH)
            .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
            .collect();
        Self(chars)
    }

    /// The code a person typed: any case, hyphens and spaces ignored;
    /// `None` if it cannot be a code.
    pub fn parse(typed: &str) -> Option<Self> {
        let plain: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = plain.len() == LENGTH && plain.bytes().all(|b| ALPHABET.contains(&b));
        valid.then_some(Self(plain))
    }

    /// As a mail shows it: `ABCD-EFGH`.
    pub fn display(&self) -> String {
        let (head, tail) = self.0.split_at(LENGTH / 2);
        format!("{head}-{tail}")
    }
}

/// Mints a link of `purpose` for `user_id` with a fresh code beside it;
/// returns the link's token and the code (see `one_time_tokens::issue_token`).
pub async fn issue_link(
    conn: &impl ConnectionTrait,
    keys: &CodeKeys,
    user_id: Uuid,
    purpose: Purpose,
    ttl: std::time::Duration,
) -> Result<(String, Code), DbErr> {
    let code = Code::generate();
    let digest = keys.digest(user_id, purpose, &code);
    let token = one_time_tokens::issue_token(conn, user_id, purpose, ttl, Some(digest)).await?;
    Ok((token, code))
}

/// A code that matched: the user and the link row it belongs to.
#[derive(Debug)]
pub struct Matched {
    /// The owner of the code.
    pub user: users::Model,
    /// The link row (its token's digest).
    pub token_hash: String,
}

/// Checks `typed` as the code of a live `purpose` link mailed to `email`.
/// Run it in a transaction and commit whatever it answers: a miss (wrong
/// or malformed code, no such account, no live code) counts one wrong code
/// against each live code of the user, and voids them all at
/// [`MAX_FAILURES`]. The user's rows are locked meanwhile (PostgreSQL;
/// SQLite's write transaction holds the database), so concurrent guesses
/// are counted one by one and never exceed the cap.
pub async fn check(
    conn: &impl ConnectionTrait,
    keys: &CodeKeys,
    email: &Email,
    typed: &str,
    purpose: Purpose,
) -> Result<Option<Matched>, DbErr> {
    use rows::Column as C;
    let user = users::Entity::find()
        .filter(users::Column::EmailNorm.eq(email.normalized()))
        .one(conn)
        .await?;
    // An unknown address runs the same queries, for a user that matches no row.
    let user_id = user.as_ref().map_or(Uuid::nil(), |u| u.id);
    let mut live = rows::Entity::find()
        .filter(C::UserId.eq(user_id))
        .filter(C::Purpose.eq(purpose.as_str()))
        .filter(C::UsedAt.is_null())
        .filter(C::ExpiresAt.gt(time::now()))
        .filter(C::CodeDigest.is_not_null())
        .filter(C::CodeFailures.lt(MAX_FAILURES));
    if db::backend(conn) == sea_orm::DbBackend::Postgres {
        live = live.lock_exclusive();
    }
    let live = live.all(conn).await?;
    let digest = Code::parse(typed).map(|code| keys.digest(user_id, purpose, &code));
    let mut matched = None;
    for row in &live {
        let stored = row.code_digest.as_deref().unwrap_or_default();
        // Every row is compared, each in constant time.
        let equal = digest
            .as_deref()
            .is_some_and(|digest| tokens::digests_equal(stored, digest));
        if equal {
            matched = Some(row.token_hash.clone());
        }
    }
    if let (Some(user), Some(token_hash)) = (user, matched) {
        return Ok(Some(Matched { user, token_hash }));
    }
    count_failure(conn, user_id, &live).await?;
    Ok(None)
}

/// One more wrong code against each of `live` (the user's live codes);
/// when the oldest reaches [`MAX_FAILURES`], every one of them is void.
async fn count_failure(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    live: &[rows::Model],
) -> Result<(), DbErr> {
    use rows::Column as C;
    let hashes: Vec<&str> = live.iter().map(|r| r.token_hash.as_str()).collect();
    let exhausted = live.iter().any(|r| r.code_failures + 1 >= MAX_FAILURES);
    let mut update = rows::Entity::update_many()
        .col_expr(C::CodeFailures, Expr::col(C::CodeFailures).add(1))
        .filter(C::UserId.eq(user_id))
        .filter(C::TokenHash.is_in(hashes));
    if exhausted {
        update = update.col_expr(C::CodeDigest, Expr::value(Option::<String>::None));
    }
    update.exec(conn).await?;
    Ok(())
}

/// Uses the link row of a matched code: `false` if it was used, expired
/// or voided since it matched.
pub async fn use_matched(conn: &impl ConnectionTrait, matched: &Matched) -> Result<bool, DbErr> {
    use rows::Column as C;
    let now = time::now();
    let used = rows::Entity::update_many()
        .col_expr(C::UsedAt, Expr::value(now))
        .filter(C::TokenHash.eq(matched.token_hash.as_str()))
        .filter(C::UserId.eq(matched.user.id))
        .filter(C::UsedAt.is_null())
        .filter(C::ExpiresAt.gt(now))
        .filter(C::CodeDigest.is_not_null())
        .filter(C::CodeFailures.lt(MAX_FAILURES))
        .exec(conn)
        .await?;
    Ok(used.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(secret: &str) -> CodeKeys {
        CodeKeys::new(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn codes_are_eight_unambiguous_characters() {
        let code = Code::generate();
        assert_eq!(code.0.len(), LENGTH);
        assert!(code.0.bytes().all(|b| ALPHABET.contains(&b)), "{}", code.0);
        for confusable in "01OILU".chars() {
            assert!(!ALPHABET.contains(&(confusable as u8)), "{confusable}");
        }
        let shown = code.display();
        assert_eq!(shown.len(), LENGTH + 1);
        assert_eq!(&shown[4..5], "-");
        assert_ne!(Code::generate(), Code::generate());
    }

    #[test]
    fn typing_ignores_case_hyphens_and_spaces() {
        let code = Code::parse("ABCD-EFGH").expect("a code");
        for typed in ["abcd-efgh", "ABCDEFGH", " abcd efgh ", "Ab-Cd-Ef-Gh"] {
            assert_eq!(Code::parse(typed), Some(code.clone()), "{typed}");
        }
        assert_eq!(code.display(), "ABCD-EFGH");
        for bad in [
            "",
            "ABCD-EFG",
            "ABCD-EFGHJ",
            "ABCD-EFG0",
            "ABCD-EFGI",
            "ÄBCD-EFGH",
        ] {
            assert_eq!(Code::parse(bad), None, "{bad}");
        }
        assert_eq!(format!("{code:?}"), "Code(…)", "never in a log");
    }

    #[test]
    fn digests_depend_on_key_user_purpose_and_code() {
        let code = Code::parse("ABCD-EFGH").expect("code");
        let other = Code::parse("ABCD-EFGJ").expect("code");
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let k = keys("a-secret-a-secret-a-secret-a-secret");
        let base = k.digest(alice, Purpose::VerifyEmail, &code);
        assert_eq!(base.len(), 64);
        assert_eq!(base, k.digest(alice, Purpose::VerifyEmail, &code));
        assert_ne!(base, k.digest(bob, Purpose::VerifyEmail, &code));
        assert_ne!(base, k.digest(alice, Purpose::ResetPassword, &code));
        assert_ne!(base, k.digest(alice, Purpose::VerifyEmail, &other));
        let elsewhere = keys("another-secret-another-secret-xx");
        assert_ne!(base, elsewhere.digest(alice, Purpose::VerifyEmail, &code));
        assert_ne!(base, tokens::digest("ABCDEFGH"), "not a plain hash");
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in ".*") {
            if let Some(code) = Code::parse(&s) {
                prop_assert_eq!(Code::parse(&code.display()), Some(code));
            }
        }
    }
}

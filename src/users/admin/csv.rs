//! Exporting users to CSV and importing them back (also from the original
//! FastAPI project, whose bcrypt hashes are kept and upgraded at login).
//!
//! Columns: `email, nickname, first_name, last_name, bio, profile_picture_url,
//! linkedin_profile_url, github_profile_url, role, is_professional,
//! email_verified, hashed_password`.

use std::io::{Read, Write};

use sea_orm::{EntityTrait, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Action};
use crate::auth::hashing::is_supported_hash;
use crate::db::{self, Db, entities::users};
use crate::domain::{Email, Nickname, Role};
use crate::error::AppError;
use crate::users::profile_fields::{Errors, RawProfile};
use crate::users::repo::{self, NewUser};

/// One CSV row.
#[derive(Debug, Serialize, Deserialize)]
pub struct Row {
    /// Email.
    pub email: String,
    /// Nickname (generated when empty on import).
    #[serde(default)]
    pub nickname: String,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    pub last_name: String,
    /// Bio.
    #[serde(default)]
    pub bio: String,
    /// Picture URL.
    #[serde(default)]
    pub profile_picture_url: String,
    /// LinkedIn URL.
    #[serde(default)]
    pub linkedin_profile_url: String,
    /// GitHub URL.
    #[serde(default)]
    pub github_profile_url: String,
    /// Role name.
    pub role: String,
    /// `true`/`false`.
    pub is_professional: String,
    /// `true`/`false`.
    pub email_verified: String,
    /// Argon2 or bcrypt PHC string.
    pub hashed_password: String,
}

impl From<users::Model> for Row {
    fn from(u: users::Model) -> Self {
        let text = |v: Option<String>| v.unwrap_or_default();
        Row {
            email: u.email,
            nickname: u.nickname,
            first_name: text(u.first_name),
            last_name: text(u.last_name),
            bio: text(u.bio),
            profile_picture_url: text(u.profile_picture_url),
            linkedin_profile_url: text(u.linkedin_profile_url),
            github_profile_url: text(u.github_profile_url),
            role: u.role.as_str().to_owned(),
            is_professional: u.is_professional.to_string(),
            email_verified: u.email_verified.to_string(),
            hashed_password: u.password_hash,
        }
    }
}

/// Writes every user, oldest first; returns how many.
pub async fn export(db: &Db, out: impl Write) -> anyhow::Result<u64> {
    let mut writer = csv::Writer::from_writer(out);
    let mut count = 0;
    let mut pages = users::Entity::find()
        .order_by_asc(users::Column::CreatedAt)
        .order_by_asc(users::Column::Id)
        .paginate(db, 500);
    use sea_orm::PaginatorTrait;
    while let Some(page) = pages.fetch_and_next().await? {
        for user in page {
            writer.serialize(Row::from(user))?;
            count += 1;
        }
    }
    writer.flush()?;
    Ok(count)
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Users created.
    pub created: u64,
    /// Rows whose email already exists (left as they are: imports are idempotent).
    pub skipped: u64,
    /// Rows refused, with their line number and why; nothing of them was written.
    pub errors: Vec<(u64, String)>,
}

/// Imports rows; each is checked as a registration would be and written in
/// its own transaction, so a bad row is reported and leaves nothing behind.
pub async fn import(db: &Db, input: impl Read) -> anyhow::Result<ImportReport> {
    let mut reader = csv::Reader::from_reader(input);
    let mut report = ImportReport::default();
    let mut records = reader.deserialize::<Row>();
    loop {
        // The position of the record about to be read (the header is behind us).
        let line = records.reader().position().line();
        let Some(record) = records.next() else { break };
        let row = match record {
            Ok(row) => row,
            Err(e) => {
                report.errors.push((line, format!("unreadable row: {e}")));
                continue;
            }
        };
        match import_row(db, row).await {
            Ok(true) => report.created += 1,
            Ok(false) => report.skipped += 1,
            Err(message) => report.errors.push((line, message)),
        }
    }
    Ok(report)
}

/// `Ok(true)` created, `Ok(false)` already there, `Err` why the row is refused.
async fn import_row(db: &Db, row: Row) -> Result<bool, String> {
    let mut errors = Errors::default();
    let email = errors.check("email", Email::parse(&row.email));
    let optional = |v: &str| {
        if v.trim().is_empty() {
            None
        } else {
            Some(Some(v.to_owned()))
        }
    };
    let profile = RawProfile {
        nickname: optional(&row.nickname),
        first_name: optional(&row.first_name),
        last_name: optional(&row.last_name),
        bio: optional(&row.bio),
        profile_picture_url: optional(&row.profile_picture_url),
        linkedin_profile_url: optional(&row.linkedin_profile_url),
        github_profile_url: optional(&row.github_profile_url),
    }
    .parse(&mut errors);
    let role = errors.check("role", row.role.parse::<Role>());
    let is_professional = errors.check("is_professional", parse_bool(&row.is_professional));
    let email_verified = errors.check("email_verified", parse_bool(&row.email_verified));
    if !is_supported_hash(&row.hashed_password) {
        errors.push(
            "hashed_password",
            "must be an Argon2 or bcrypt ($2a$/$2b$/$2y$) hash",
        );
    }
    if let Err(AppError::Validation(fields)) = errors.finish() {
        return Err(fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "));
    }
    let (Some(email), Some(role), Some(is_professional), Some(email_verified)) =
        (email, role, is_professional, email_verified)
    else {
        return Err("invalid row".into());
    };
    let failure = |e: AppError| e.to_string();
    if repo::find_by_email(db, &email)
        .await
        .map_err(|e| failure(e.into()))?
        .is_some()
    {
        return Ok(false);
    }
    let nickname = profile.nickname.clone().unwrap_or_else(Nickname::generate);
    let tx = db::begin(db).await.map_err(|e| failure(e.into()))?;
    let user = repo::insert(
        &tx,
        NewUser {
            email,
            nickname,
            password_hash: row.hashed_password,
            role,
            email_verified,
            profile,
        },
    )
    .await
    .map_err(|e| failure(repo::conflict_or(e)))?;
    if is_professional {
        repo::set_professional(&tx, user.id, true)
            .await
            .map_err(|e| failure(e.into()))?;
    }
    audit::record(
        &tx,
        None,
        Some(user.id),
        Action::UserCreated,
        json!({ "role": role, "via": "import" }),
    )
    .await
    .map_err(|e| failure(e.into()))?;
    tx.commit().await.map_err(|e| failure(e.into()))?;
    Ok(true)
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "t" => Ok(true),
        "false" | "0" | "no" | "f" | "" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn booleans_accept_the_usual_spellings() {
        for yes in ["true", "TRUE", "1", "yes", "t"] {
            assert_eq!(parse_bool(yes), Ok(true), "{yes}");
        }
        for no in ["false", "0", "no", "f", ""] {
            assert_eq!(parse_bool(no), Ok(false), "{no}");
        }
        assert!(parse_bool("maybe").is_err());
    }

    proptest! {
        #[test]
        fn parse_bool_never_panics(s in ".{0,10}") {
            let _ = parse_bool(&s);
        }

        #[test]
        fn a_row_survives_a_csv_round_trip(
            email in "[a-z]{1,10}@[a-z]{1,10}\\.com",
            first in "[^\\x00]{0,20}",
            bio in "[^\\x00]{0,60}",
        ) {
            let row = Row {
                email: email.clone(),
                nickname: "nick".into(),
                first_name: first.clone(),
                last_name: String::new(),
                bio: bio.clone(),
                profile_picture_url: String::new(),
                linkedin_profile_url: String::new(),
                github_profile_url: String::new(),
                role: "AUTHENTICATED".into(),
                is_professional: "false".into(),
                email_verified: "true".into(),
                hashed_password: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            };
            let mut out = Vec::new();
            {
                let mut writer = csv::Writer::from_writer(&mut out);
                writer.serialize(&row).expect("write");
                writer.flush().expect("flush");
            }
            let mut reader = csv::Reader::from_reader(&out[..]);
            let back: Row = reader.deserialize().next().expect("a row").expect("parses");
            prop_assert_eq!(back.email, email);
            prop_assert_eq!(back.first_name, first);
            prop_assert_eq!(back.bio, bio);
        }
    }
}

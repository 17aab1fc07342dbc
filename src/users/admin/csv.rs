//! Exporting users to CSV and importing them back (also from the original
//! FastAPI project, whose bcrypt hashes are kept and upgraded at login).
//!
//! Columns: `email, nickname, first_name, last_name, bio, profile_picture_url,
//! linkedin_profile_url, github_profile_url, role, is_professional,
//! email_verified, hashed_password`.
//!
//! Formula injection (OWASP "CSV injection"): a spreadsheet runs a cell
//! that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a
//! formula. The export writes such a cell behind a single quote `'`, and
//! so also a cell that already starts with quotes followed by one of
//! those characters; the import takes one quote off any cell that, past
//! its leading quotes, starts with one of them. Every value round-trips
//! exactly, and any other cell (`'plain` included) is left as it is.
//!
//! Password hashes are exported only when asked for; the column stays,
//! empty. A row imported with an empty `hashed_password` gets an account
//! without a usable password ([`NO_PASSWORD`]): its owner sets one with a
//! password reset. A bcrypt hash is stored wrapped in Argon2id
//! ([`WRAPPED_BCRYPT`](crate::auth::hashing::WRAPPED_BCRYPT)); hashes whose
//! parameters exceed the caps of [`check_imported`] are refused.

use std::collections::HashSet;
use std::io::{Read, Write};

use sea_orm::{EntityTrait, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Action};
use crate::auth::hashing::{
    NO_PASSWORD, PasswordHashing, check_imported, is_bcrypt, is_supported_hash,
};
use crate::db::{self, Db, entities::users};
use crate::domain::{Email, Nickname, Role};
use crate::error::AppError;
use crate::users::profile_fields::{Errors, ProfileChanges, RawProfile};
use crate::users::repo::{self, NewUser};

/// One CSV row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Argon2 or bcrypt PHC string; empty for none.
    pub hashed_password: String,
}

/// What a spreadsheet reads as the start of a formula (OWASP).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// True when `cell`, past its leading quotes, starts a formula.
fn starts_a_formula(cell: &str) -> bool {
    cell.trim_start_matches('\'').starts_with(FORMULA_STARTS)
}

/// A value as written to a file: behind a `'` when it could start a formula.
pub fn escape_cell(value: String) -> String {
    if starts_a_formula(&value) {
        format!("'{value}")
    } else {
        value
    }
}

/// A cell as read from a file: [`escape_cell`] undone.
pub fn unescape_cell(cell: String) -> String {
    match cell.strip_prefix('\'') {
        Some(rest) if starts_a_formula(rest) => rest.to_owned(),
        _ => cell,
    }
}

impl Row {
    /// The row with `f` applied to every cell.
    fn map_cells(self, f: fn(String) -> String) -> Row {
        Row {
            email: f(self.email),
            nickname: f(self.nickname),
            first_name: f(self.first_name),
            last_name: f(self.last_name),
            bio: f(self.bio),
            profile_picture_url: f(self.profile_picture_url),
            linkedin_profile_url: f(self.linkedin_profile_url),
            github_profile_url: f(self.github_profile_url),
            role: f(self.role),
            is_professional: f(self.is_professional),
            email_verified: f(self.email_verified),
            hashed_password: f(self.hashed_password),
        }
    }
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

/// The header row, in the order of [`Row`]'s fields.
pub const HEADER: [&str; 12] = [
    "email",
    "nickname",
    "first_name",
    "last_name",
    "bio",
    "profile_picture_url",
    "linkedin_profile_url",
    "github_profile_url",
    "role",
    "is_professional",
    "email_verified",
    "hashed_password",
];

/// Writes the header and every user, oldest first, cells escaped against
/// formulas; returns how many users. Password hashes only `with_hashes`
/// (an account without a usable password has none either way). An empty
/// database gives the header alone.
pub async fn export(db: &Db, out: impl Write, with_hashes: bool) -> anyhow::Result<u64> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    writer.write_record(HEADER)?;
    let mut count = 0;
    let mut pages = users::Entity::find()
        .order_by_asc(users::Column::CreatedAt)
        .order_by_asc(users::Column::Id)
        .paginate(db, 500);
    use sea_orm::PaginatorTrait;
    while let Some(page) = pages.fetch_and_next().await? {
        for user in page {
            let mut row = Row::from(user);
            if !with_hashes || !is_supported_hash(&row.hashed_password) {
                row.hashed_password.clear();
            }
            writer.serialize(row.map_cells(escape_cell))?;
            count += 1;
        }
    }
    writer.flush()?;
    Ok(count)
}

/// What an import did (or, on a dry run, would do).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Users created (on a dry run: that would be created).
    pub created: u64,
    /// Rows whose email already exists (left as they are: imports are idempotent).
    pub skipped: u64,
    /// Rows refused, with their line number (the header is line 1) and
    /// why; nothing of them was written.
    pub errors: Vec<(u64, String)>,
}

impl ImportReport {
    /// Rows dealt with so far.
    pub fn rows(&self) -> u64 {
        self.created + self.skipped + self.errors.len() as u64
    }
}

/// Called after each row with the report so far and the number of rows.
pub type Progress = Box<dyn FnMut(&ImportReport, u64) + Send>;

/// How to import.
pub struct ImportOptions {
    /// Check every row and report, writing nothing.
    pub dry_run: bool,
    /// Makes a nickname for a row without one; a generated nickname that
    /// is taken is generated again, as at registration.
    pub nicknames: Box<dyn FnMut() -> Nickname + Send>,
    /// Called after each row with the report so far and the number of rows.
    pub progress: Progress,
    /// Wraps imported bcrypt hashes in Argon2id; `None`: a pool with the
    /// service's parameters.
    pub hashing: Option<PasswordHashing>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            nicknames: Box::new(Nickname::generate),
            progress: Box::new(|_, _| {}),
            hashing: None,
        }
    }
}

/// How many generated nicknames a row tries before it is refused.
const NICKNAME_ATTEMPTS: usize = 8;

/// Imports rows; each is checked as a registration would be and written in
/// its own transaction, so a bad row is reported and leaves nothing behind.
pub async fn import(
    db: &Db,
    input: impl Read,
    mut options: ImportOptions,
) -> anyhow::Result<ImportReport> {
    let rows = read_rows(input)?;
    let total = rows.len() as u64;
    let hashing = match options.hashing.take() {
        Some(hashing) => hashing,
        None => PasswordHashing::with_defaults()?,
    };
    let mut report = ImportReport::default();
    let mut planned = Planned::default();
    for (line, row) in rows {
        let outcome = match row.and_then(validate) {
            Err(message) => Err(message),
            Ok(valid) if options.dry_run => planned.check(db, &valid).await,
            Ok(valid) => write(db, valid, &mut options.nicknames, &hashing).await,
        };
        match outcome {
            Ok(true) => report.created += 1,
            Ok(false) => report.skipped += 1,
            Err(message) => report.errors.push((line, message)),
        }
        (options.progress)(&report, total);
    }
    Ok(report)
}

/// Every data row with the line it starts on (the header is line 1).
fn read_rows(input: impl Read) -> anyhow::Result<Vec<(u64, Result<Row, String>)>> {
    let mut reader = csv::Reader::from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| anyhow::anyhow!("line 1: unreadable header: {e}"))?
        .clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let row = match record {
            Ok(record) => {
                let line = record.position().map_or(0, csv::Position::line);
                let row = record
                    .deserialize::<Row>(Some(&headers))
                    .map(|row| row.map_cells(unescape_cell))
                    .map_err(|e| format!("unreadable row: {}", csv_cause(&e)));
                (line, row)
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                (line, Err(format!("unreadable row: {}", csv_cause(&e))))
            }
        };
        rows.push(row);
    }
    Ok(rows)
}

/// A CSV error without its position (the report gives the line).
fn csv_cause(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => err.to_string(),
    }
}

/// A row that passed every check.
struct Valid {
    email: Email,
    profile: ProfileChanges,
    role: Role,
    is_professional: bool,
    email_verified: bool,
    hashed_password: String,
}

/// Checks a row as a registration would; `Err` says why it is refused.
fn validate(row: Row) -> Result<Valid, String> {
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
    let hashed_password = if row.hashed_password.trim().is_empty() {
        NO_PASSWORD.to_owned()
    } else if let Err(message) = check_imported(&row.hashed_password) {
        errors.push("hashed_password", message);
        String::new()
    } else {
        row.hashed_password
    };
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
    Ok(Valid {
        email,
        profile,
        role,
        is_professional,
        email_verified,
        hashed_password,
    })
}

fn failure(err: impl Into<AppError>) -> String {
    err.into().to_string()
}

/// What a dry run has counted as created, to judge later rows of the same
/// file as the real import would.
#[derive(Default)]
struct Planned {
    emails: HashSet<String>,
    nicknames: HashSet<String>,
}

impl Planned {
    /// `Ok(true)` would be created, `Ok(false)` skipped, `Err` refused.
    async fn check(&mut self, db: &Db, valid: &Valid) -> Result<bool, String> {
        let email = valid.email.normalized();
        if self.emails.contains(&email)
            || repo::find_by_email(db, &valid.email)
                .await
                .map_err(failure)?
                .is_some()
        {
            return Ok(false);
        }
        if let Some(nickname) = &valid.profile.nickname {
            let key = nickname.normalized();
            if self.nicknames.contains(&key)
                || repo::nickname_taken(db, nickname).await.map_err(failure)?
            {
                return Err("this nickname is already taken".into());
            }
            self.nicknames.insert(key);
        }
        self.emails.insert(email);
        Ok(true)
    }
}

/// `Ok(true)` created, `Ok(false)` already there, `Err` why the row is refused.
async fn write(
    db: &Db,
    mut valid: Valid,
    nicknames: &mut (dyn FnMut() -> Nickname + Send),
    hashing: &PasswordHashing,
) -> Result<bool, String> {
    if repo::find_by_email(db, &valid.email)
        .await
        .map_err(failure)?
        .is_some()
    {
        return Ok(false);
    }
    if is_bcrypt(&valid.hashed_password) {
        let bcrypt_hash = std::mem::take(&mut valid.hashed_password);
        valid.hashed_password = hashing.wrap_bcrypt(bcrypt_hash).await.map_err(failure)?;
    }
    let chosen = valid.profile.nickname.clone();
    for _ in 0..NICKNAME_ATTEMPTS {
        let nickname = chosen.clone().unwrap_or_else(&mut *nicknames);
        match insert(db, &valid, nickname).await {
            Ok(()) => return Ok(true),
            Err(AppError::Conflict(message))
                if message.contains("nickname") && chosen.is_none() => {}
            Err(other) => return Err(other.to_string()),
        }
    }
    Err("could not generate a free nickname; give one in the nickname column".into())
}

/// Inserts one user with its audit event in one transaction.
async fn insert(db: &Db, valid: &Valid, nickname: Nickname) -> Result<(), AppError> {
    let tx = db::begin(db).await?;
    let inserted = repo::insert(
        &tx,
        NewUser {
            email: valid.email.clone(),
            nickname,
            password_hash: valid.hashed_password.clone(),
            role: valid.role,
            email_verified: valid.email_verified,
            profile: valid.profile.clone(),
        },
    )
    .await;
    let user = match inserted {
        Ok(user) => user,
        Err(err) => {
            db::rollback(tx).await?;
            return Err(repo::conflict_or(err));
        }
    };
    if valid.is_professional {
        repo::set_professional(&tx, user.id, true).await?;
    }
    audit::record(
        &tx,
        None,
        Some(user.id),
        Action::UserCreated,
        json!({ "role": valid.role, "via": "import" }),
    )
    .await?;
    db::commit(tx).await?;
    Ok(())
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
    fn the_header_names_the_row_fields_in_order() {
        let row = Row::from_header_names();
        let mut out = Vec::new();
        {
            let mut writer = csv::Writer::from_writer(&mut out);
            writer.serialize(&row).expect("write");
            writer.flush().expect("flush");
        }
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text.lines().next(), Some(HEADER.join(",").as_str()));
    }

    #[test]
    fn a_row_is_reported_on_the_line_it_starts_on() {
        let csv = format!(
            "{}\nfirst@example.com\n\"multi\nline\"\nthird@example.com,x\n",
            HEADER.join(",")
        );
        let lines: Vec<u64> = read_rows(csv.as_bytes())
            .expect("read")
            .iter()
            .map(|(line, _)| *line)
            .collect();
        assert_eq!(lines, [2, 3, 5]);
    }

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

    impl Row {
        fn from_header_names() -> Self {
            Row {
                email: "e".into(),
                nickname: String::new(),
                first_name: String::new(),
                last_name: String::new(),
                bio: String::new(),
                profile_picture_url: String::new(),
                linkedin_profile_url: String::new(),
                github_profile_url: String::new(),
                role: String::new(),
                is_professional: String::new(),
                email_verified: String::new(),
                hashed_password: String::new(),
            }
        }
    }

    #[test]
    fn cells_that_start_a_formula_are_quoted_and_restored() {
        for (value, cell) in [
            (
                "=HYPERLINK(\"http://x.example\",\"y\")",
                "'=HYPERLINK(\"http://x.example\",\"y\")",
            ),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@x", "'@x"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'=x", "''=x"),
            ("''-x", "'''-x"),
            ("'plain", "'plain"),
            ("''", "''"),
            ("plain =1", "plain =1"),
            ("", ""),
        ] {
            assert_eq!(escape_cell(value.into()), cell, "{value:?}");
            assert_eq!(unescape_cell(cell.into()), value, "{cell:?}");
        }
    }

    #[test]
    fn only_a_quote_before_a_formula_character_is_taken_off() {
        for (cell, imported) in [
            ("=1", "=1"),
            ("'=1", "=1"),
            ("'\t", "\t"),
            ("'x", "'x"),
            ("x'=", "x'="),
            ("'", "'"),
            ("-", "-"),
        ] {
            assert_eq!(unescape_cell(cell.into()), imported, "{cell:?}");
        }
    }

    /// A row with `text` in every free-text cell.
    fn row_of(text: &str) -> Row {
        Row {
            email: "someone@example.com".into(),
            nickname: text.into(),
            first_name: text.into(),
            last_name: text.into(),
            bio: text.into(),
            profile_picture_url: text.into(),
            linkedin_profile_url: text.into(),
            github_profile_url: text.into(),
            role: "AUTHENTICATED".into(),
            is_professional: "false".into(),
            email_verified: "true".into(),
            hashed_password: String::new(),
        }
    }

    proptest! {
        #[test]
        fn escaping_is_undone_exactly_and_leaves_no_formula(
            value in "['=+\\-@\t\r]{0,4}[^\\x00]{0,12}",
        ) {
            let cell = escape_cell(value.clone());
            prop_assert!(!cell.starts_with(FORMULA_STARTS), "{:?}", cell);
            prop_assert_eq!(unescape_cell(cell), value);
        }

        #[test]
        fn an_escaped_row_reads_back_as_written(
            text in "['=+\\-@\t\r]{0,3}[^\\x00]{0,20}",
        ) {
            let row = row_of(&text);
            let mut out = Vec::new();
            {
                let mut writer = csv::Writer::from_writer(&mut out);
                writer.serialize(row.clone().map_cells(escape_cell)).expect("write");
                writer.flush().expect("flush");
            }
            let written = String::from_utf8(out).expect("utf-8");
            let rows = read_rows(written.as_bytes()).expect("read");
            prop_assert_eq!(rows.len(), 1);
            prop_assert_eq!(rows[0].1.clone(), Ok(row));
        }

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

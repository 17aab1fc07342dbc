//! `user-management users set-role|list|export|import`: staff actions from
//! the command line (audited, ending sessions, mailed), the listing and its
//! filters, and the CSV round trip (private exports, line-numbered refusals,
//! bcrypt hashes of the FastAPI project that log in and become Argon2id).

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use user_management::db::entities::audit_events;

use crate::helpers::binary::{cli, cli_failing};
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PASSWORD, TestApp, spawn_app, spawn_app_with_admin,
};
use crate::on_both_databases;

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
    cli(&source, &["users", "export", arg(&first)]);
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
    cli(&target, &["users", "export", arg(&second)]);
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

    cli(&app, &["users", "export", arg(&path)]);

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
        assert_eq!(&before.password_hash, imported, "the hash is kept as is");
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

on_both_databases!(
    set_role_from_the_cli_is_audited_ends_sessions_and_emails,
    users_list_filters_by_role_and_by_lock,
    export_then_import_round_trips_users_and_their_passwords,
    import_reports_bad_rows_by_line_and_writes_only_good_ones,
    bcrypt_hashes_import_log_in_and_become_argon2id,
);

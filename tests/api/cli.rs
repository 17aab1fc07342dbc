//! The command line as a newcomer meets it: the real binary, its flags
//! after a subcommand, the address it derives its links from, migrations,
//! CSV import and export, the users table, where logs go, error messages,
//! the data-directory lock and the permissions of the files it writes.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::json;
use user_management::db::entities::users;
use user_management::domain::Nickname;
use user_management::users::admin::csv::{self as csv_io, ImportOptions};

use crate::helpers::{Backend, JWT_SECRET, PgDatabase, TestApp, spawn_app, spawn_app_with_admin};
use crate::on_both_databases;
use crate::startup::{binary, cli_with_stdin};

/// The CSV header of an export.
const HEADER: &str = "email,nickname,first_name,last_name,bio,profile_picture_url,\
linkedin_profile_url,github_profile_url,role,is_professional,email_verified,hashed_password";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary in `dir` with `env` (nothing inherited) and `stdin` closed.
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    binary(dir)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the binary")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `serve` from the real binary in a directory, output captured; killed on drop.
struct Serve {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Serve {
        let mut child = binary(dir)
            .envs(env.iter().copied())
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for stream in streams {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().expect("lines").push(line);
                }
            });
        }
        Serve { child, lines }
    }

    fn log(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// The start-up banner, waiting up to thirty seconds.
    fn banner(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .find(|l| l.contains("listening on"))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(Instant::now() < deadline, "no banner:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The word after `marker` in `line`.
fn word_after<'a>(line: &'a str, marker: &str) -> &'a str {
    let (_, rest) = line
        .split_once(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {line}"));
    rest.split_whitespace().next().expect("a word")
}

/// The first `.txt` mail in `outbox` containing `marker`, waiting ten seconds.
fn mail_in(outbox: &Path, marker: &str) -> (std::path::PathBuf, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = std::fs::read_dir(outbox).ok().and_then(|entries| {
            entries.filter_map(Result::ok).find_map(|e| {
                let path = e.path();
                let body = std::fs::read_to_string(&path).ok()?;
                (path.extension()? == "txt" && body.contains(marker)).then_some((path, body))
            })
        });
        if let Some(found) = found {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no mail with {marker} in {}",
            outbox.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ------------------------------------------------- PUBLIC_BASE_URL, banner, files

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_port_alone_moves_the_links_and_the_docs_with_it() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let server = Serve::start(dir.path(), &[("PORT", &port.to_string())]);
    let banner = server.banner();
    let docs = word_after(&banner, "docs at ");
    assert_eq!(docs, format!("http://127.0.0.1:{port}/docs/"), "{banner}");
    assert!(
        banner.contains(&format!("public URL: http://localhost:{port}")),
        "{banner}"
    );
    let client = reqwest::Client::new();
    let page = client.get(docs).send().await.expect("docs");
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "the banner's docs URL answers"
    );

    let registered = client
        .post(format!("http://127.0.0.1:{port}/register"))
        .json(&json!({ "email": "walker@example.com", "password": crate::helpers::PASSWORD }))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let outbox = dir.path().join("data/outbox");
    let (txt, body) = mail_in(&outbox, "/verify-email/");
    let link = crate::helpers::link_in(&body, "/verify-email/").expect("a link");
    assert!(
        link.starts_with(&format!("http://localhost:{port}/verify-email/")),
        "the mailed link uses PORT: {link}"
    );
    let path = crate::helpers::path_of(&link);
    let verified = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .expect("verify");
    assert_eq!(verified.status(), StatusCode::OK);

    #[cfg(unix)]
    {
        let data = dir.path().join("data");
        assert_eq!(mode(&data), 0o700, "the data directory");
        for file in ["users.db", "users.db-wal", "users.db-shm", "jwt_secret"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
        assert_eq!(mode(&txt), 0o600, "the mail's text");
        assert_eq!(mode(&txt.with_extension("eml")), 0o600, "the mail");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_zero_links_to_the_port_actually_bound() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Serve::start(dir.path(), &[("PORT", "0")]);
    let banner = server.banner();
    let listening = word_after(&banner, "listening on ");
    let port = listening.rsplit(':').next().expect("port");
    assert_ne!(port, "0", "{banner}");
    assert!(
        banner.contains(&format!("public URL: http://localhost:{port}")),
        "{banner}"
    );
    let docs = word_after(&banner, "docs at ");
    let page = reqwest::get(docs).await.expect("docs");
    assert_eq!(page.status(), StatusCode::OK, "{banner}");
}

#[test]
fn host_may_be_a_name_and_flags_follow_the_subcommand() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port().to_string();
    let _server = Serve::start(dir.path(), &[("HOST", "localhost"), ("PORT", &port)]);
    _server.banner();

    let healthy = run(
        dir.path(),
        &[("HOST", "localhost")],
        &["healthcheck", "--port", &port],
    );
    assert!(healthy.status.success(), "{}", text(&healthy.stderr));
    assert_eq!(text(&healthy.stdout).trim(), "healthy");

    let closed = free_port().to_string();
    let unhealthy = run(dir.path(), &[], &["healthcheck", "--port", &closed]);
    assert!(!unhealthy.status.success());
    assert!(
        text(&unhealthy.stderr).contains(&format!(":{closed}")),
        "the flag after the subcommand is used: {}",
        text(&unhealthy.stderr)
    );

    let other = dir.path().join("other/u.db");
    let url = format!("sqlite://{}", other.display());
    let listed = run(dir.path(), &[], &["users", "list", "--database-url", &url]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(
        other.exists(),
        "--database-url after the subcommand is used"
    );

    let junk = run(dir.path(), &[("HOST", "not a host")], &["serve"]);
    assert!(!junk.status.success());
    assert!(
        text(&junk.stderr).contains("HOST"),
        "{}",
        text(&junk.stderr)
    );
}

#[test]
fn subcommand_help_lists_the_configuration() {
    let dir = tempfile::tempdir().expect("dir");
    for command in [
        &["healthcheck"][..],
        &["users", "list"],
        &["migrate", "down"],
        &["mail", "status"],
    ] {
        let help = run(dir.path(), &[], &[command, &["--help"]].concat());
        let help = text(&help.stdout);
        for flag in [
            "--port",
            "--database-url",
            "--public-base-url",
            "--log-format",
        ] {
            assert!(
                help.contains(flag),
                "{command:?} --help lists {flag}: {help}"
            );
        }
        assert!(help.contains("env: DATABASE_URL"), "{command:?}: {help}");
    }
}

// ------------------------------------------------------------------ migrate

/// A database URL for `backend` with nothing in it (the SQLite file absent).
async fn empty_database(backend: Backend, dir: &Path) -> Option<(String, Option<PgDatabase>)> {
    match backend {
        Backend::Sqlite => Some((format!("sqlite://{}/m.db", dir.display()), None)),
        Backend::Postgres => {
            let pg = PgDatabase::create_empty().await?;
            Some((pg.url.clone(), Some(pg)))
        }
    }
}

async fn has_migration_table(url: &str) -> bool {
    let db = user_management::db::connect(url).await.expect("connect");
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT 1 FROM information_schema.tables WHERE table_name = 'seaql_migrations'"
        }
        _ => "SELECT 1 FROM sqlite_master WHERE name = 'seaql_migrations'",
    };
    let found = db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ));
    let found = found.await.expect("query").len();
    db.close().await.expect("close");
    found > 0
}

async fn migrate_reports_what_it_did_and_status_changes_nothing(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let Some((url, _pg)) = empty_database(backend, dir.path()).await else {
        return;
    };
    let env = [("DATABASE_URL", url.as_str()), ("JWT_SECRET", JWT_SECRET)];
    let migrate = |args: &[&str]| run(dir.path(), &env, &[&["migrate"][..], args].concat());

    let status = migrate(&["status"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert_eq!(
        text(&status.stdout)
            .lines()
            .filter(|l| l.starts_with("pending"))
            .count(),
        7
    );
    match backend {
        Backend::Sqlite => {
            assert!(
                !dir.path().join("m.db").exists(),
                "status created the database"
            );
            assert!(
                text(&status.stderr).contains("no database"),
                "{}",
                text(&status.stderr)
            );
        }
        Backend::Postgres => assert!(!has_migration_table(&url).await, "status wrote"),
    }

    let up = migrate(&["up"]);
    assert!(
        text(&up.stdout).contains("applied 7 migration(s)"),
        "{}",
        text(&up.stdout)
    );
    let again = migrate(&[]);
    assert!(
        text(&again.stdout).contains("already up to date"),
        "{}",
        text(&again.stdout)
    );

    let refused = migrate(&["down", "--steps", "2"]);
    assert!(!refused.status.success(), "down without --yes");
    assert!(
        text(&refused.stderr).contains("--yes"),
        "{}",
        text(&refused.stderr)
    );
    let status = text(&migrate(&["status"]).stdout);
    assert_eq!(
        status.lines().filter(|l| l.starts_with("applied")).count(),
        7,
        "{status}"
    );

    let down = migrate(&["down", "--steps", "100", "--yes"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    let said = text(&down.stdout);
    assert!(
        said.contains("reverted 7 migration(s)"),
        "the real count: {said}"
    );
    let status = text(&migrate(&["status"]).stdout);
    assert_eq!(
        status.lines().filter(|l| l.starts_with("pending")).count(),
        7,
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_an_unmigrated_postgres_says_to_migrate() {
    let Some(pg) = PgDatabase::create_empty().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, format!("{HEADER}\n")).expect("csv");
    let csv = csv.to_str().expect("utf-8");
    let env = [
        ("DATABASE_URL", pg.url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
    ];
    for command in [
        &["create-admin", "--email", "boss@example.com"][..],
        &["users", "list"],
        &["users", "export"],
        &["users", "import", csv],
        &["users", "set-role", "a@example.com", "ADMIN"],
        &["mail", "status"],
        &["mail", "retry"],
    ] {
        let out = run(
            dir.path(),
            &[&env[..], &[("ADMIN_PASSWORD", "admin-pass-phrase")]].concat(),
            command,
        );
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{command:?}");
        assert!(
            err.contains("run `user-management migrate up`"),
            "{command:?}: {err}"
        );
        assert!(
            !err.contains("at line") && !err.contains("relation"),
            "{command:?}: {err}"
        );
    }
    assert!(!has_migration_table(&pg.url).await, "nothing was written");
}

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
    migrate_reports_what_it_did_and_status_changes_nothing,
    generated_nicknames_that_are_taken_are_drawn_again,
    dry_run_reports_like_an_import_and_writes_nothing,
    export_of_an_empty_database_is_the_header,
    users_list_is_an_aligned_table_with_search_and_paging,
);

// ------------------------------------------------------------ logs and errors

#[test]
fn command_logs_go_to_stderr_uncoloured_and_output_stays_clean() {
    let dir = tempfile::tempdir().expect("dir");
    for format in ["pretty", "json"] {
        let out = run(
            dir.path(),
            &[("LOG_FORMAT", format)],
            &["mail", "test", "--to", "someone@example.com"],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert_eq!(
            stdout.lines().count(),
            1,
            "{format}: only the result: {stdout}"
        );
        assert!(
            stdout.starts_with("test message sent to someone@example.com"),
            "{stdout}"
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("mail written to the outbox directory"),
            "{format}: {stderr}"
        );
        assert!(
            !stderr.contains('\u{1b}'),
            "{format}: colours off a terminal: {stderr:?}"
        );
    }
}

#[test]
fn an_unreachable_database_is_named_once() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let url = format!("postgres://nobody@127.0.0.1:{port}/none");
    // The service at start and a command say the same, once.
    for command in [&["users", "list"][..], &["serve", "--port", "0"][..]] {
        let out = run(
            dir.path(),
            &[("DATABASE_URL", &url), ("JWT_SECRET", JWT_SECRET)],
            command,
        );
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{command:?}");
        let line = err
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("{command:?}: no error line in {err}"));
        assert!(
            line.starts_with("error: DATABASE_URL: cannot connect to the database: "),
            "{command:?}: {line}"
        );
        assert_eq!(line.matches("cannot connect").count(), 1, "{line}");
        assert!(line.contains("refused"), "{command:?}: the cause: {line}");
        if command[0] == "users" {
            assert_eq!(err.lines().count(), 1, "only the error: {err}");
        }
    }
}

// ------------------------------------------------------------ the data-directory lock

#[test]
fn a_second_service_on_the_same_data_refuses_while_commands_still_run() {
    let dir = tempfile::tempdir().expect("dir");
    let first = Serve::start(dir.path(), &[("PORT", "0")]);
    first.banner();

    let second = run(dir.path(), &[("PORT", "0")], &["serve"]);
    let err = text(&second.stderr);
    assert!(!second.status.success(), "the second service started");
    assert!(err.contains("already running"), "{err}");
    assert!(err.contains("serve.lock"), "{err}");

    for command in [
        &["users", "list"][..],
        &["mail", "status"],
        &["migrate", "status"],
    ] {
        let out = run(dir.path(), &[], command);
        assert!(
            out.status.success(),
            "{command:?} beside the service: {}",
            text(&out.stderr)
        );
    }
    let port = word_after(&first.banner(), "listening on ")
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let healthy = run(dir.path(), &[("PORT", &port)], &["healthcheck"]);
    assert!(
        healthy.status.success(),
        "the first one still serves: {}",
        first.log()
    );
}

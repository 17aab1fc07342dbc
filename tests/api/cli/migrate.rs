//! `user-management migrate up|down|status` on both databases: every
//! migration applies, reverts and re-applies cleanly.

use crate::helpers::binary::binary;
use crate::helpers::{Backend, DATA_ENCRYPTION_KEY, JWT_SECRET, PgDatabase};
use crate::on_both_databases;
use std::path::Path;

use sea_orm::ConnectionTrait;

use crate::helpers::binary::{run, text};

fn migrate(dir: &std::path::Path, database_url: &str, args: &[&str]) -> String {
    let output = binary(dir)
        .env("DATABASE_URL", database_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("DATA_ENCRYPTION_KEY", DATA_ENCRYPTION_KEY)
        .arg("migrate")
        .args(args)
        .output()
        .expect("run migrate");
    assert!(
        output.status.success(),
        "migrate {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn migrate_up_down_and_status(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, _pg) = match backend {
        Backend::Sqlite => (format!("sqlite://{}/m.db", dir.path().display()), None),
        Backend::Postgres => {
            let Some(pg) = PgDatabase::create_empty().await else {
                return;
            };
            (pg.url.clone(), Some(pg))
        }
    };
    let status = migrate(dir.path(), &url, &["status"]);
    assert!(status.lines().all(|l| l.starts_with("pending")), "{status}");
    assert_eq!(status.lines().count(), migrations(), "{status}");

    migrate(dir.path(), &url, &["up"]);
    let status = migrate(dir.path(), &url, &["status"]);
    assert!(status.lines().all(|l| l.starts_with("applied")), "{status}");

    let all = migrations().to_string();
    migrate(dir.path(), &url, &["down", "--steps", &all, "--yes"]);
    let status = migrate(dir.path(), &url, &["status"]);
    assert!(
        status.lines().all(|l| l.starts_with("pending")),
        "every migration reverts: {status}"
    );

    migrate(dir.path(), &url, &["up"]);
    let status = migrate(dir.path(), &url, &["status"]);
    assert!(
        status.lines().all(|l| l.starts_with("applied")),
        "re-applies cleanly: {status}"
    );
}

on_both_databases!(migrate_up_down_and_status,);

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

pub(super) async fn has_migration_table(url: &str) -> bool {
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
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("DATA_ENCRYPTION_KEY", DATA_ENCRYPTION_KEY),
    ];
    let migrate = |args: &[&str]| run(dir.path(), &env, &[&["migrate"][..], args].concat());

    let status = migrate(&["status"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert_eq!(
        text(&status.stdout)
            .lines()
            .filter(|l| l.starts_with("pending"))
            .count(),
        migrations()
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

    assert_up_and_down(&migrate);
}

/// `up` says how many it applied (then that all is up to date); `down`
/// needs `--yes` and says how many it really reverted.
fn assert_up_and_down(migrate: &dyn Fn(&[&str]) -> std::process::Output) {
    let up = migrate(&["up"]);
    assert!(
        text(&up.stdout).contains(&format!("applied {} migration(s)", migrations())),
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
        migrations(),
        "{status}"
    );

    let down = migrate(&["down", "--steps", "100", "--yes"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    let said = text(&down.stdout);
    assert!(
        said.contains(&format!("reverted {} migration(s)", migrations())),
        "the real count: {said}"
    );
    let status = text(&migrate(&["status"]).stdout);
    assert_eq!(
        status.lines().filter(|l| l.starts_with("pending")).count(),
        migrations(),
        "{status}"
    );
}

on_both_databases!(migrate_reports_what_it_did_and_status_changes_nothing,);

/// How many migrations the service has.
fn migrations() -> usize {
    use sea_orm_migration::MigratorTrait;
    user_management::db::Migrator::migrations().len()
}

//! `user-management migrate up|down|status` on both databases: every
//! migration applies, reverts and re-applies cleanly.

use crate::helpers::binary::binary;
use crate::helpers::{Backend, JWT_SECRET, PgDatabase};
use crate::on_both_databases;

fn migrate(dir: &std::path::Path, database_url: &str, args: &[&str]) -> String {
    let output = binary(dir)
        .env("DATABASE_URL", database_url)
        .env("JWT_SECRET", JWT_SECRET)
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
    assert_eq!(status.lines().count(), 7, "{status}");

    migrate(dir.path(), &url, &["up"]);
    let status = migrate(dir.path(), &url, &["status"]);
    assert!(status.lines().all(|l| l.starts_with("applied")), "{status}");

    migrate(dir.path(), &url, &["down", "--steps", "7"]);
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

//! Query plans on PostgreSQL over a realistic population (20 000 users,
//! analysed): the login email lookup, the filtered staff listing and the
//! substring search are served by indexes, never by a scan of `users`.
//!
//! The SQL is the application's own: each query is run through the real
//! code (`users::repo::find_by_email`, `users::admin::listing::Listing::run`) on a
//! connection that records the statements it sends, and each recorded
//! statement is explained with the same bound values. PostgreSQL only: it
//! skips without PostgreSQL outside CI, like every PostgreSQL test.

use std::sync::Mutex;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, Statement};
use serde_json::Value;
use user_management::db::Db;
use user_management::domain::{Email, Role};
use user_management::users::admin::listing::{ListQuery, Listing};
use user_management::users::repo;

use crate::helpers::PgDatabase;

const POPULATION: u32 = 20_000;

/// A connection that runs everything on `inner` and keeps what it was asked
/// to run, so the test sees the exact SQL the application sends.
struct Recording {
    inner: Db,
    statements: Mutex<Vec<Statement>>,
}

impl Recording {
    fn new(inner: Db) -> Self {
        Self {
            inner,
            statements: Mutex::new(Vec::new()),
        }
    }

    fn record(&self, stmt: &Statement) {
        self.statements
            .lock()
            .expect("statements lock")
            .push(stmt.clone());
    }

    /// The statements recorded since the last call.
    fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *self.statements.lock().expect("statements lock"))
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Recording {
    fn get_database_backend(&self) -> DbBackend {
        self.inner.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.record(&stmt);
        self.inner.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.record(&Statement::from_string(self.get_database_backend(), sql));
        self.inner.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.record(&stmt);
        self.inner.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.record(&stmt);
        self.inner.query_all_raw(stmt).await
    }
}

/// A migrated database holding `POPULATION` analysed users: a role mix
/// (2 % MANAGER), names from small lists, `created_at` spread over years.
async fn populated() -> Option<(PgDatabase, Db)> {
    let pg = PgDatabase::create_empty().await?;
    let db = user_management::db::connect(&pg.url)
        .await
        .expect("connect");
    user_management::db::migrate(&db).await.expect("migrate");
    db.execute_unprepared(&format!(
        "INSERT INTO users (id, email, email_norm, nickname, nickname_norm, first_name, last_name, \
             role, is_professional, email_verified, is_locked, failed_login_attempts, password_hash, \
             last_login_at, created_at, updated_at, search_text) \
         SELECT gen_random_uuid(), 'User' || i || '@Example.com', 'user' || i || '@example.com', \
             'User_' || i, 'user_' || i, first_name, last_name, \
             CASE WHEN i % 500 = 0 THEN 'ADMIN' WHEN i % 50 = 0 THEN 'MANAGER' \
                  WHEN i % 10 = 3 THEN 'ANONYMOUS' ELSE 'AUTHENTICATED' END, \
             i % 7 = 0, i % 10 <> 3, i % 97 = 0, 0, \
             '$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hzYWx0YmVuY2g$0000000000000000000000000000000000000000000', \
             CASE WHEN i % 3 = 0 THEN NULL ELSE created_at + interval '3 days' END, \
             created_at, created_at + interval '1 day', \
             'user' || i || '@example.com' || chr(31) || 'user_' || i || chr(31) \
                 || lower(first_name) || chr(31) || lower(last_name) \
         FROM (SELECT i, \
                 timestamptz '2022-01-01 00:00:00+00' + i * interval '73 minutes' AS created_at, \
                 (ARRAY['Ada','Alan','Grace','Edsger','Barbara','Donald','Frances','John', \
                        'Margaret','Ken','Radia','Dennis','Shafi','Leslie','Hedy','Tim'])[1 + i % 16] \
                     AS first_name, \
                 (ARRAY['Lovelace','Turing','Hopper','Dijkstra','Liskov','Knuth','Allen', \
                        'Backus','Hamilton','Thompson','Perlman','Ritchie','Goldwasser', \
                        'Lamport','Lamarr','Berners-Lee','Kowalski','Nakamura','Okafor'])[1 + (i / 16) % 19] \
                     AS last_name \
               FROM generate_series(1, {POPULATION}) AS i) AS seed"
    ))
    .await
    .expect("seed users");
    // VACUUM as autovacuum would have: it also moves the rows just inserted
    // out of the trigram index's pending list (GIN fast update), which the
    // planner otherwise counts against the index.
    db.execute_unprepared("VACUUM ANALYZE users")
        .await
        .expect("vacuum analyze");
    Some((pg, db))
}

/// One node of a plan: its type, the relation it reads and the index it uses.
#[derive(Debug)]
struct Node {
    kind: String,
    relation: Option<String>,
    index: Option<String>,
}

fn nodes(plan: &Value, out: &mut Vec<Node>) {
    let text = |key: &str| plan.get(key).and_then(Value::as_str).map(str::to_owned);
    if let Some(kind) = text("Node Type") {
        out.push(Node {
            kind,
            relation: text("Relation Name"),
            index: text("Index Name"),
        });
    }
    for child in plan
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        nodes(child, out);
    }
}

/// The plan PostgreSQL chooses for `stmt` with its bound values.
async fn explain(db: &Db, stmt: &Statement) -> (Value, Vec<Node>) {
    let explained = Statement {
        sql: format!("EXPLAIN (FORMAT JSON) {}", stmt.sql),
        values: stmt.values.clone(),
        db_backend: DbBackend::Postgres,
    };
    let row = db
        .query_one_raw(explained)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {}: {e}", stmt.sql))
        .expect("a plan row");
    let plan: Value = row.try_get("", "QUERY PLAN").expect("QUERY PLAN as JSON");
    let mut found = Vec::new();
    nodes(&plan[0]["Plan"], &mut found);
    (plan, found)
}

/// Asserts that no node scans `users` sequentially and that some node uses
/// one of its indexes; returns the nodes.
async fn assert_indexed(db: &Db, stmt: &Statement) -> Vec<Node> {
    let (plan, found) = explain(db, stmt).await;
    let pretty = || serde_json::to_string_pretty(&plan).unwrap_or_default();
    assert!(
        !found
            .iter()
            .any(|n| n.kind == "Seq Scan" && n.relation.as_deref() == Some("users")),
        "sequential scan of users for\n{}\nplan: {}",
        stmt.sql,
        pretty()
    );
    assert!(
        found.iter().any(|n| n.index.as_deref().is_some_and(|i| {
            i.starts_with("ix_users_") || i.starts_with("uq_users_") || i == "users_pkey"
        })),
        "no index of users used for\n{}\nplan: {}",
        stmt.sql,
        pretty()
    );
    found
}

fn listing(query: ListQuery) -> Listing {
    Listing::parse(query).expect("valid listing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_email_lookup_uses_the_unique_index() {
    let Some((_pg, db)) = populated().await else {
        return;
    };
    let recording = Recording::new(db.clone());
    let email = Email::parse("User12345@example.com").expect("email");
    let user = repo::find_by_email(&recording, &email)
        .await
        .expect("lookup");
    assert!(user.is_some(), "the seeded user is found");
    let statements = recording.take();
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert!(
        statements[0].sql.contains("email_norm"),
        "{}",
        statements[0].sql
    );
    let found = assert_indexed(&db, &statements[0]).await;
    assert!(
        found
            .iter()
            .any(|n| n.index.as_deref() == Some("uq_users_email_norm")),
        "{found:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_listing_uses_indexes() {
    let Some((_pg, db)) = populated().await else {
        return;
    };
    let recording = Recording::new(db.clone());
    let page = listing(ListQuery {
        limit: Some(20),
        role: Some(Role::Manager),
        sort: Some("-created_at".into()),
        ..Default::default()
    });
    let (items, total) = page.run(&recording).await.expect("listing");
    assert_eq!(items.len(), 20);
    assert_eq!(total, u64::from(POPULATION / 50 - POPULATION / 500));
    let statements = recording.take();
    assert_eq!(statements.len(), 2, "a count and a page: {statements:?}");
    for stmt in &statements {
        assert!(stmt.sql.contains("\"role\" = $"), "{}", stmt.sql);
        assert_indexed(&db, stmt).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substring_search_uses_the_trigram_index() {
    let Some((_pg, db)) = populated().await else {
        return;
    };
    let recording = Recording::new(db.clone());
    // The bare search (`search_text LIKE '%abc%'`) and the one the benchmark
    // drives (a name fragment, a role, newest first).
    for (query, expect_trigram) in [
        (
            ListQuery {
                q: Some("abc".into()),
                limit: Some(20),
                ..Default::default()
            },
            true,
        ),
        (
            ListQuery {
                q: Some("kowal".into()),
                role: Some(Role::Manager),
                sort: Some("-created_at".into()),
                limit: Some(20),
                ..Default::default()
            },
            false,
        ),
    ] {
        let (items, total) = listing(query).run(&recording).await.expect("search");
        let statements = recording.take();
        // A short page tells its total; only a full one is followed by a count.
        let expected = if items.len() == 20 { 2 } else { 1 };
        assert_eq!(statements.len(), expected, "{total}: {statements:?}");
        for stmt in &statements {
            assert!(stmt.sql.contains("LIKE"), "{}", stmt.sql);
            let found = assert_indexed(&db, stmt).await;
            if expect_trigram {
                assert!(
                    found.iter().any(|n| n.kind == "Bitmap Index Scan"
                        && n.index.as_deref() == Some("ix_users_search_text_trgm")),
                    "no trigram bitmap scan for\n{}\n{found:?}",
                    stmt.sql
                );
            }
        }
    }
}

/// Logins rewrite user rows, and with them their trigram entries: the
/// trigram index writes them through instead of piling them in a pending
/// list that every search would scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trigram_index_keeps_no_pending_list() {
    let Some((_pg, db)) = populated().await else {
        return;
    };
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT array_to_string(reloptions, ',') FROM pg_class \
             WHERE relname = 'ix_users_search_text_trgm'",
        ))
        .await
        .expect("query")
        .expect("the trigram index exists");
    let options: Option<String> = row.try_get_by_index(0).expect("reloptions");
    assert_eq!(options.as_deref(), Some("fastupdate=off"));
}

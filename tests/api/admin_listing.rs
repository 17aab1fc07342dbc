//! The staff listing, `GET /users`, against a seeded population with known
//! answers: search, filters, every sort, paging and its links, and parameter validation.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, Backend, TestApp, assert_problem, invalid_fields, path_of, spawn_app_with_admin,
};
use crate::on_both_databases;

/// One seeded user, as the test knows it.
#[derive(Debug, Clone)]
struct Person {
    id: String,
    email: String,
    nickname: String,
    first_name: Option<String>,
    last_name: Option<String>,
    role: &'static str,
    is_locked: bool,
    email_verified: bool,
    is_professional: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

impl Person {
    fn matches(&self, q: &str) -> bool {
        let q = q.to_lowercase();
        [
            Some(self.email.as_str()),
            Some(self.nickname.as_str()),
            self.first_name.as_deref(),
            self.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .any(|field| field.to_lowercase().contains(&q))
    }
}

fn rank(role: &str) -> u8 {
    match role {
        "ANONYMOUS" => 0,
        "AUTHENTICATED" => 1,
        "MANAGER" => 2,
        "ADMIN" => 3,
        other => panic!("unknown role {other}"),
    }
}

/// (email, nickname, first name, last name, role, locked, professional).
type Seed = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
    bool,
    bool,
);

#[rustfmt::skip]
const SEED: [Seed; 24] = [
    ("alice.smith@example.com", "alice_s",   Some("Alice"),   Some("Smith"),      "AUTHENTICATED", false, true),
    ("Bob.Jones@example.org",   "BobJ",      Some("Bob"),     Some("Jones"),      "AUTHENTICATED", false, false),
    ("carol@example.net",       "carol-k",   Some("Carol"),   Some("Kowalski"),   "MANAGER",       false, false),
    ("dave@example.com",        "Dave_99",   Some("Dave"),    Some("Smithers"),   "AUTHENTICATED", true,  false),
    ("eve@example.com",         "eve_online", None,           None,               "ANONYMOUS",     false, false),
    ("frank@example.com",       "frank",     Some("Frank"),   Some("100% Real"),  "AUTHENTICATED", false, true),
    ("grace@example.com",       "GraceH",    Some("Grace"),   Some("Hopper"),     "ADMIN",         false, true),
    ("heidi@example.com",       "heidi",     Some("Heidi"),   Some("100 Real"),   "AUTHENTICATED", false, false),
    ("ivan@example.com",        "ivanXb",    Some("Ivan"),    Some("Petrov"),     "MANAGER",       true,  false),
    ("judy@example.com",        "judy_b",    Some("Judy"),    Some("Blacksmith"), "AUTHENTICATED", false, false),
    ("mallory@example.com",     "mallory",   Some("Mallory"), None,               "ANONYMOUS",     false, false),
    ("niaj@example.com",        "niaj",      Some("Niaj"),    Some("Singh"),      "AUTHENTICATED", true,  true),
    ("olivia@example.com",      "Olivia_O",  Some("Olivia"),  Some("O'Neil"),     "AUTHENTICATED", false, false),
    ("peggy@example.com",       "peggy",     Some("Peggy"),   Some("Carter"),     "AUTHENTICATED", false, true),
    ("quentin@example.com",     "quentin",   None,            Some("SMITH"),      "ANONYMOUS",     false, false),
    ("rupert@example.com",      "rupert_r",  Some("Rupert"),  Some("Ross"),       "AUTHENTICATED", false, false),
    ("sybil@example.com",       "Sybil",     Some("Sybil"),   Some("Fawlty"),     "MANAGER",       false, true),
    ("trent@example.com",       "trent",     Some("Trent"),   Some("Reznor"),     "AUTHENTICATED", false, false),
    ("ursula@example.com",      "ursula",    Some("Ursula"),  Some("Le Guin"),    "AUTHENTICATED", false, false),
    ("victor@example.com",      "victor",    Some("Victor"),  Some("Hugo"),       "AUTHENTICATED", true,  false),
    ("walter@example.com",      "walter_w",  Some("Walter"),  Some("White"),      "AUTHENTICATED", false, false),
    ("xena@example.com",        "Xena",      Some("Xena"),    Some("Warrior"),    "AUTHENTICATED", false, false),
    ("yves@example.com",        "yves",      Some("Yves"),    Some("Saint"),      "AUTHENTICATED", false, false),
    ("zoe_smith@example.com",   "zoe",       Some("Zoe"),     Some("Zimmer"),     "AUTHENTICATED", false, false),
];

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339")
}

/// An RFC 3339 literal both databases store and compare correctly.
fn sql_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn sql_bool(v: bool) -> &'static str {
    if v { "true" } else { "false" }
}

/// The app, an admin token and the 25 people it holds (the environment
/// admin included), with every listed field known.
struct Population {
    app: TestApp,
    admin: String,
    people: Vec<Person>,
}

/// The environment admin, renamed `root_admin`, as the seed leaves it.
fn root_person(id: String) -> Person {
    Person {
        id,
        email: ADMIN_EMAIL.into(),
        nickname: "root_admin".into(),
        first_name: None,
        last_name: None,
        role: "ADMIN",
        is_locked: false,
        email_verified: true,
        is_professional: false,
        created_at: at("2025-12-01T00:00:00Z"),
        updated_at: at("2026-02-28T00:00:00Z"),
        last_login_at: Some(at("2026-03-30T00:00:00Z")),
    }
}

/// The person seeded from `SEED[i]`, created as `user`.
fn seeded_person(i: usize, seed: Seed, user: &Value) -> Person {
    let (_, nickname, first, last, role, locked, pro) = seed;
    let day = |step: usize| (i * step) % 24 + 1;
    Person {
        id: user["id"].as_str().expect("id").into(),
        email: user["email"].as_str().expect("email").into(),
        nickname: nickname.into(),
        first_name: first.map(str::to_owned),
        last_name: last.map(str::to_owned),
        role,
        is_locked: locked,
        email_verified: role != "ANONYMOUS",
        is_professional: pro,
        created_at: at(&format!("2026-01-{:02}T{:02}:00:00Z", day(7), i % 24)),
        updated_at: at(&format!("2026-02-{:02}T{:02}:30:00Z", day(5), (i * 3) % 24)),
        last_login_at: (!i.is_multiple_of(3))
            .then(|| at(&format!("2026-03-{:02}T08:15:00Z", day(11)))),
    }
}

/// Sets the fields the API does not set (locks, flags, timestamps) of
/// every person as the population says.
async fn store_unset_fields(app: &TestApp, people: &[Person]) {
    for p in people {
        let last_login = p
            .last_login_at
            .map_or("NULL".to_owned(), |t| format!("'{}'", sql_time(t)));
        app.execute(&format!(
            "UPDATE users SET is_locked = {}, email_verified = {}, is_professional = {}, \
             created_at = '{}', updated_at = '{}', last_login_at = {last_login} \
             WHERE email_norm = '{}'",
            sql_bool(p.is_locked),
            sql_bool(p.email_verified),
            sql_bool(p.is_professional),
            sql_time(p.created_at),
            sql_time(p.updated_at),
            p.email.to_lowercase(),
        ))
        .await;
    }
}

impl Population {
    async fn seed(backend: Backend) -> Option<Population> {
        let app = spawn_app_with_admin(backend).await?;
        let (root_id, admin) = app.admin().await;
        let renamed = app
            .call(
                Method::PATCH,
                "/me",
                Some(&admin),
                Some(&json!({"nickname": "root_admin"})),
            )
            .await;
        assert_eq!(renamed.status(), StatusCode::OK);
        let mut people = vec![root_person(root_id)];
        for (i, &(email, nickname, first, last, role, _, _)) in SEED.iter().enumerate() {
            let user = app
                .create_user_as(
                    &admin,
                    email,
                    role,
                    json!({"nickname": nickname, "first_name": first, "last_name": last}),
                )
                .await;
            people.push(seeded_person(i, SEED[i], &user));
        }
        // Every login is done: now fix the fields the API does not set.
        store_unset_fields(&app, &people).await;
        Some(Population { app, admin, people })
    }

    /// `GET /users?{pairs}` as the admin; must answer 200.
    async fn list(&self, pairs: &[(&str, &str)]) -> Value {
        let query = serde_urlencoded::to_string(pairs).expect("query");
        let path = format!("/users?{query}");
        let response = self.app.get(&path, Some(&self.admin)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.expect("json")
    }

    /// The emails of the matching users (one page of at most 100), by email.
    async fn emails(&self, filters: &[(&str, &str)]) -> Vec<String> {
        let mut pairs = filters.to_vec();
        pairs.extend([("sort", "email"), ("limit", "100")]);
        let page = self.list(&pairs).await;
        let emails = emails_of(&page);
        assert_eq!(page["total"], emails.len(), "{filters:?}: total");
        emails
    }

    /// The expected answer: the emails of people `keep` selects, by email.
    fn expect(&self, keep: impl Fn(&Person) -> bool) -> Vec<String> {
        let mut chosen: Vec<&Person> = self.people.iter().filter(|p| keep(p)).collect();
        chosen.sort_by_key(|p| p.email.to_lowercase());
        chosen.iter().map(|p| p.email.clone()).collect()
    }

    fn person(&self, id: &str) -> &Person {
        self.people
            .iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("listed user {id} is not in the population"))
    }
}

fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().expect("items")
}

fn emails_of(page: &Value) -> Vec<String> {
    items(page)
        .iter()
        .map(|u| u["email"].as_str().expect("email").to_owned())
        .collect()
}

fn ids_of(page: &Value) -> Vec<String> {
    items(page)
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect()
}

/// rel → href of a page's links.
fn links(page: &Value) -> BTreeMap<String, String> {
    page["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| {
            assert_eq!(l["method"], "GET", "{l}");
            (
                l["rel"].as_str().expect("rel").to_owned(),
                l["href"].as_str().expect("href").to_owned(),
            )
        })
        .collect()
}

/// The query parameters of a link.
fn params(href: &str) -> BTreeMap<String, String> {
    url::Url::parse(href)
        .expect("absolute link")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

// -------------------------------------------------------------------- tests

/// A few answers of `q` spelled out, so the model is not the only judge.
async fn assert_spelled_out_answers(pop: &Population) {
    assert_eq!(
        pop.emails(&[("q", "SMITH")]).await,
        [
            "alice.smith@example.com",
            "dave@example.com",
            "judy@example.com",
            "quentin@example.com",
            "zoe_smith@example.com"
        ]
    );
    assert_eq!(pop.emails(&[("q", "100%")]).await, ["frank@example.com"]);
    assert_eq!(pop.emails(&[("q", "%")]).await, ["frank@example.com"]);
    assert!(pop.emails(&[("q", "zzz-nobody")]).await.is_empty());
    assert_eq!(
        pop.emails(&[("q", "")]).await.len(),
        25,
        "an empty q filters nothing"
    );
}

/// `q` combined with the other filters.
async fn assert_q_combines_with_filters(pop: &Population) {
    let cut = at("2026-01-10T00:00:00Z");
    assert_eq!(
        pop.emails(&[("q", "smith"), ("role", "AUTHENTICATED")])
            .await,
        pop.expect(|p| p.matches("smith") && p.role == "AUTHENTICATED")
    );
    assert_eq!(
        pop.emails(&[("q", "smith"), ("is_locked", "true")]).await,
        ["dave@example.com"]
    );
    assert_eq!(
        pop.emails(&[
            ("q", "e"),
            ("email_verified", "true"),
            ("created_before", "2026-01-10T00:00:00Z"),
            ("is_professional", "false"),
        ])
        .await,
        pop.expect(|p| p.matches("e")
            && p.email_verified
            && p.created_at < cut
            && !p.is_professional)
    );
}

/// Following the links of a `q` listing keeps `q` and visits every match.
async fn assert_paging_keeps_q(pop: &Population) {
    let mut path = "/users?q=SMITH&sort=email&limit=2".to_owned();
    let mut seen = Vec::new();
    loop {
        let response = pop.app.get(&path, Some(&pop.admin)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let page: Value = response.json().await.expect("json");
        assert_eq!(page["total"], 5);
        for (rel, href) in links(&page) {
            assert_eq!(
                params(&href).get("q").map(String::as_str),
                Some("SMITH"),
                "{rel}: {href}"
            );
        }
        seen.extend(emails_of(&page));
        match links(&page).get("next") {
            Some(next) => path = path_of(next),
            None => break,
        }
    }
    assert_eq!(seen, pop.expect(|p| p.matches("smith")));
}

async fn q_matches_email_nickname_and_names_case_insensitively(backend: Backend) {
    let Some(pop) = Population::seed(backend).await else {
        return;
    };
    let queries = [
        "smith",
        "SMITH",
        "sMiTh",
        "alice",
        "example.org",
        "BOBJ",
        "olivia_o",
        "o'neil",
        "100%",
        "%",
        "_",
        "e_",
        "0%",
        "carol-",
        "real",
        "zzz-nobody",
        "ROOT_",
    ];

    for q in queries {
        let got = pop.emails(&[("q", q)]).await;

        assert_eq!(got, pop.expect(|p| p.matches(q)), "q={q}");
    }
    // A few answers spelled out, so the model above is not the only judge.
    assert_spelled_out_answers(&pop).await;
    // Combined with the other filters.
    assert_q_combines_with_filters(&pop).await;
    // Paging links keep q.
    assert_paging_keeps_q(&pop).await;
}

async fn q_matches_names_case_insensitively_beyond_ascii(backend: Backend) {
    let Some(pop) = Population::seed(backend).await else {
        return;
    };
    let created = pop
        .app
        .create_user_as(
            &pop.admin,
            "ez@example.com",
            "AUTHENTICATED",
            json!({"nickname": "ez_person", "first_name": "Émile", "last_name": "Zoë"}),
        )
        .await;

    for q in ["Émile", "émile", "ÉMILE", "Zoë", "ZOË", "zoë"] {
        let got = pop.emails(&[("q", q)]).await;

        assert_eq!(got, ["ez@example.com"], "q={q}");
    }
    assert_eq!(created["first_name"], "Émile");
}

/// The cut of the creation-date filters.
const CUT: &str = "2026-01-10T00:00:00Z";

/// A filter (query pairs) and which people it selects.
type Case<'a> = (Vec<(&'a str, &'a str)>, Keep);
type Keep = Box<dyn Fn(&Person) -> bool>;

/// Each value of each role and flag filter.
fn flag_cases() -> Vec<Case<'static>> {
    vec![
        (
            vec![("role", "ANONYMOUS")],
            Box::new(|p: &Person| p.role == "ANONYMOUS"),
        ),
        (
            vec![("role", "AUTHENTICATED")],
            Box::new(|p: &Person| p.role == "AUTHENTICATED"),
        ),
        (
            vec![("role", "MANAGER")],
            Box::new(|p: &Person| p.role == "MANAGER"),
        ),
        (
            vec![("role", "ADMIN")],
            Box::new(|p: &Person| p.role == "ADMIN"),
        ),
        (
            vec![("is_locked", "true")],
            Box::new(|p: &Person| p.is_locked),
        ),
        (
            vec![("is_locked", "false")],
            Box::new(|p: &Person| !p.is_locked),
        ),
        (
            vec![("email_verified", "false")],
            Box::new(|p: &Person| !p.email_verified),
        ),
        (
            vec![("email_verified", "true")],
            Box::new(|p: &Person| p.email_verified),
        ),
        (
            vec![("is_professional", "true")],
            Box::new(|p: &Person| p.is_professional),
        ),
        (
            vec![("is_professional", "false")],
            Box::new(|p: &Person| !p.is_professional),
        ),
    ]
}

/// Creation-date filters: around a cut, in another offset, a range, and
/// exactly at `boundary` (a user's creation time, `boundary_s` as text).
fn date_cases<'a>(boundary_s: &'a str, boundary: DateTime<Utc>) -> Vec<Case<'a>> {
    let (cut, cut_t) = (CUT, at(CUT));
    vec![
        (
            vec![("created_after", cut)],
            Box::new(move |p: &Person| p.created_at >= cut_t),
        ),
        (
            vec![("created_before", cut)],
            Box::new(move |p: &Person| p.created_at < cut_t),
        ),
        (
            vec![("created_after", "2026-01-10T02:00:00+02:00")],
            Box::new(move |p: &Person| p.created_at >= cut_t),
        ),
        (
            vec![
                ("created_after", "2026-01-05T00:00:00Z"),
                ("created_before", "2026-01-15T00:00:00Z"),
            ],
            Box::new(|p: &Person| {
                p.created_at >= at("2026-01-05T00:00:00Z")
                    && p.created_at < at("2026-01-15T00:00:00Z")
            }),
        ),
        (
            vec![("created_after", boundary_s)],
            Box::new(move |p: &Person| p.created_at >= boundary),
        ),
        (
            vec![("created_before", boundary_s)],
            Box::new(move |p: &Person| p.created_at < boundary),
        ),
    ]
}

/// Several filters at once.
fn combined_cases() -> Vec<Case<'static>> {
    let (cut, cut_t) = (CUT, at(CUT));
    vec![
        (
            vec![
                ("role", "AUTHENTICATED"),
                ("is_locked", "false"),
                ("is_professional", "true"),
            ],
            Box::new(|p: &Person| p.role == "AUTHENTICATED" && !p.is_locked && p.is_professional),
        ),
        (
            vec![("role", "MANAGER"), ("is_locked", "true")],
            Box::new(|p: &Person| p.role == "MANAGER" && p.is_locked),
        ),
        (
            vec![
                ("role", "ADMIN"),
                ("is_professional", "false"),
                ("created_after", cut),
            ],
            Box::new(move |p: &Person| {
                p.role == "ADMIN" && !p.is_professional && p.created_at >= cut_t
            }),
        ),
    ]
}

async fn each_filter_and_combinations_give_exact_answers(backend: Backend) {
    let Some(pop) = Population::seed(backend).await else {
        return;
    };
    let boundary = pop
        .people
        .iter()
        .find(|p| p.email == "carol@example.net")
        .expect("carol")
        .created_at;
    let boundary_s = boundary.to_rfc3339();
    let mut cases = flag_cases();
    cases.extend(date_cases(&boundary_s, boundary));
    cases.extend(combined_cases());

    for (filters, keep) in &cases {
        let got = pop.emails(filters).await;

        let expected = pop.expect(keep);
        assert_eq!(got, expected, "{filters:?}");
    }
    // Sanity of the seed: every single filter above selects some but not all.
    assert_eq!(pop.emails(&[("role", "MANAGER")]).await.len(), 3);
    assert_eq!(pop.emails(&[("is_locked", "true")]).await.len(), 4);
    assert_eq!(pop.emails(&[("email_verified", "false")]).await.len(), 3);
    assert_eq!(pop.emails(&[("is_professional", "true")]).await.len(), 6);
    assert!(
        pop.emails(&[("created_after", boundary_s.as_str())])
            .await
            .contains(&"carol@example.net".to_owned()),
        "created_after is inclusive"
    );
    assert!(
        !pop.emails(&[("created_before", boundary_s.as_str())])
            .await
            .contains(&"carol@example.net".to_owned()),
        "created_before is exclusive"
    );
}

/// Sorting by `last_login_at` either way puts those who never logged in last.
async fn assert_never_logged_in_come_last(pop: &Population) {
    for descending in [false, true] {
        let sort = if descending {
            "-last_login_at"
        } else {
            "last_login_at"
        };
        let page = pop.list(&[("sort", sort), ("limit", "100")]).await;

        let got: Vec<Option<DateTime<Utc>>> = ids_of(&page)
            .iter()
            .map(|id| pop.person(id).last_login_at)
            .collect();
        let mut logged_in: Vec<DateTime<Utc>> =
            pop.people.iter().filter_map(|p| p.last_login_at).collect();
        logged_in.sort();
        if descending {
            logged_in.reverse();
        }
        let never = pop.people.len() - logged_in.len();
        let mut expected: Vec<Option<DateTime<Utc>>> = logged_in.into_iter().map(Some).collect();
        expected.extend(std::iter::repeat_n(None, never));
        assert_eq!(got, expected, "sort={sort}");
        for (item, expected) in items(&page).iter().zip(&expected) {
            let answered = item["last_login_at"].as_str().map(at);
            assert_eq!(answered, *expected, "sort={sort}: the answer shows it");
        }
    }
}

/// Ties (same role, never logged in) break the same way on every page.
async fn assert_ties_break_alike_on_every_page(pop: &Population) {
    for sort in ["role", "-role", "last_login_at", "-last_login_at"] {
        let mut seen = Vec::new();
        for skip in (0..25).step_by(4) {
            let page = pop
                .list(&[("sort", sort), ("limit", "4"), ("skip", &skip.to_string())])
                .await;
            seen.extend(ids_of(&page));
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            (seen.len(), unique.len()),
            (25, 25),
            "sort={sort}: each once"
        );
    }
}

async fn every_sort_key_orders_both_ways(backend: Backend) {
    let Some(pop) = Population::seed(backend).await else {
        return;
    };
    type Key = fn(&Person) -> String;
    let keys: [(&str, Key); 4] = [
        ("created_at", |p| p.created_at.to_rfc3339()),
        ("email", |p| p.email.to_lowercase()),
        ("nickname", |p| p.nickname.to_lowercase()),
        ("updated_at", |p| p.updated_at.to_rfc3339()),
    ];

    for (key, of) in keys {
        for descending in [false, true] {
            let sort = if descending {
                format!("-{key}")
            } else {
                key.to_owned()
            };
            let page = pop.list(&[("sort", &sort), ("limit", "100")]).await;

            let mut expected: Vec<&Person> = pop.people.iter().collect();
            expected.sort_by_key(|p| of(p));
            if descending {
                expected.reverse();
            }
            let expected: Vec<String> = expected.iter().map(|p| p.id.clone()).collect();
            assert_eq!(ids_of(&page), expected, "sort={sort}");
        }
    }

    // last_login_at: the users who never logged in come last either way.
    assert_never_logged_in_come_last(&pop).await;
    // Ties (same role, never logged in) break the same way on every page.
    assert_ties_break_alike_on_every_page(&pop).await;
    // The default order is newest first.
    let default = pop.list(&[("limit", "100")]).await;
    let newest_first = pop.list(&[("sort", "-created_at"), ("limit", "100")]).await;
    assert_eq!(ids_of(&default), ids_of(&newest_first));
}

async fn sorting_by_role_follows_privilege(backend: Backend) {
    let Some(pop) = Population::seed(backend).await else {
        return;
    };

    for descending in [false, true] {
        let sort = if descending { "-role" } else { "role" };
        let page = pop.list(&[("sort", sort), ("limit", "100")]).await;

        let got: Vec<&str> = items(&page)
            .iter()
            .map(|u| u["role"].as_str().expect("role"))
            .collect();
        let mut expected: Vec<&str> = pop.people.iter().map(|p| p.role).collect();
        expected.sort_by_key(|r| rank(r));
        if descending {
            expected.reverse();
        }
        assert_eq!(
            got, expected,
            "sort={sort}: ANONYMOUS < AUTHENTICATED < MANAGER < ADMIN"
        );
    }
}

/// A filtered listing takes its total from a short page, and counts when
/// its page is full or empty past the end.
async fn assert_filtered_totals(pop: &Population) {
    let unlocked = pop.people.iter().filter(|p| !p.is_locked).count();
    assert!(
        unlocked > 2 && unlocked < 25,
        "the seed locks some: {unlocked}"
    );
    for (limit, skip, rows) in [
        ("100", "0", unlocked),
        ("2", "0", 2),
        ("2", "2", 2),
        ("100", "100", 0),
        ("100", "1", unlocked - 1),
    ] {
        let page = pop
            .list(&[("is_locked", "false"), ("limit", limit), ("skip", skip)])
            .await;
        assert_eq!(items(&page).len(), rows, "limit={limit} skip={skip}");
        assert_eq!(page["total"], unlocked, "limit={limit} skip={skip}");
    }
}

async fn pages_and_their_links(backend: Backend) {
    let Some(pop) = Population::seed(backend).await else {
        return;
    };

    let first = pop.list(&[]).await;
    let second = pop.list(&[("skip", "10")]).await;
    let last = pop.list(&[("skip", "20")]).await;
    let beyond = pop.list(&[("skip", "100")]).await;
    let small = pop.list(&[("limit", "1"), ("skip", "24")]).await;

    assert_eq!(items(&first).len(), 10, "limit defaults to 10");
    assert_eq!(
        (
            first["total"].clone(),
            first["page"].clone(),
            first["size"].clone()
        ),
        (json!(25), json!(1), json!(10))
    );
    let rels: BTreeSet<String> = links(&first).into_keys().collect();
    assert_eq!(
        rels,
        ["first", "last", "next", "self"].map(String::from).into()
    );
    assert_eq!(params(&links(&first)["last"])["skip"], "20");
    assert_eq!(params(&links(&first)["next"])["skip"], "10");
    assert_eq!(params(&links(&first)["self"])["skip"], "0");
    assert_eq!(second["page"], 2);
    let rels: BTreeSet<String> = links(&second).into_keys().collect();
    assert_eq!(
        rels,
        ["first", "last", "next", "prev", "self"]
            .map(String::from)
            .into()
    );
    assert_eq!(params(&links(&second)["prev"])["skip"], "0");
    assert_eq!(last["page"], 3);
    assert_eq!(items(&last).len(), 5);
    let rels: BTreeSet<String> = links(&last).into_keys().collect();
    assert_eq!(
        rels,
        ["first", "last", "prev", "self"].map(String::from).into()
    );
    let mut all: Vec<String> = [&first, &second, &last]
        .iter()
        .flat_map(|p| ids_of(p))
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 25, "three pages hold everyone once");
    assert!(items(&beyond).is_empty());
    assert_eq!(beyond["total"], 25);
    assert!(!links(&beyond).contains_key("next"));
    assert_eq!(small["page"], 25);
    assert_eq!(items(&small).len(), 1);
    assert!(!links(&small).contains_key("next"));
    assert_eq!(params(&links(&small)["last"])["skip"], "24");

    // A filtered listing takes its total from a short page, and counts when
    // its page is full or empty past the end.
    assert_filtered_totals(&pop).await;
}

/// Every link of a page keeps the `wanted` parameters and the creation
/// dates of the filter.
fn assert_links_keep_filters(links: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) {
    for (rel, href) in links {
        let got = params(href);
        for (k, v) in wanted {
            assert_eq!(got.get(k), Some(v), "{rel} keeps {k}: {href}");
        }
        assert_eq!(
            got.get("created_after").map(|t| at(t)),
            Some(at("2026-01-02T00:00:00Z")),
            "{rel}: {href}"
        );
        assert_eq!(
            got.get("created_before").map(|t| at(t)),
            Some(at("2026-02-01T00:00:00Z")),
            "{rel}: {href}"
        );
    }
}

/// The ids of the unlocked, verified people created in January (from the
/// 2nd), by nickname.
fn unlocked_verified_in_january_by_nickname(pop: &Population) -> Vec<String> {
    let mut expected: Vec<&Person> = pop
        .people
        .iter()
        .filter(|p| {
            !p.is_locked
                && p.email_verified
                && p.created_at >= at("2026-01-02T00:00:00Z")
                && p.created_at < at("2026-02-01T00:00:00Z")
        })
        .collect();
    expected.sort_by_key(|p| p.nickname.to_lowercase());
    expected.iter().map(|p| p.id.clone()).collect()
}

async fn following_next_visits_every_match_once_keeping_filters(backend: Backend) {
    let Some(pop) = Population::seed(backend).await else {
        return;
    };
    let filters: [(&str, &str); 6] = [
        ("is_locked", "false"),
        ("email_verified", "true"),
        ("created_after", "2026-01-02T00:00:00+00:00"),
        ("created_before", "2026-02-01T00:00:00Z"),
        ("sort", "nickname"),
        ("limit", "3"),
    ];
    let expected = unlocked_verified_in_january_by_nickname(&pop);
    assert!(
        expected.len() > 6,
        "the seed gives several pages: {}",
        expected.len()
    );
    let wanted: BTreeMap<String, String> = filters
        .iter()
        .filter(|(k, _)| !k.starts_with("created"))
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();

    let mut path = format!(
        "/users?{}",
        serde_urlencoded::to_string(filters).expect("query")
    );
    let mut seen = Vec::new();
    let mut page_number = 0;
    loop {
        let response = pop.app.get(&path, Some(&pop.admin)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let page: Value = response.json().await.expect("json");
        page_number += 1;
        assert_eq!(page["total"], expected.len(), "{path}");
        assert_eq!(page["page"], page_number);
        assert_eq!(page["size"], 3);
        let links = links(&page);
        assert_links_keep_filters(&links, &wanted);
        let skip = (page_number - 1) * 3;
        assert_eq!(params(&links["self"])["skip"], skip.to_string());
        assert_eq!(links.contains_key("prev"), page_number > 1, "{path}");
        assert_eq!(
            links.contains_key("next"),
            skip + 3 < expected.len(),
            "{path}"
        );
        seen.extend(ids_of(&page));
        match links.get("next") {
            Some(next) => path = path_of(next),
            None => break,
        }
    }

    assert_eq!(seen, expected, "every match exactly once, in order");
}

async fn bad_parameters_are_refused(backend: Backend) {
    let Some(pop) = Population::seed(backend).await else {
        return;
    };
    let get = |query: &str| {
        let path = format!("/users?{query}");
        let app = &pop.app;
        let admin = pop.admin.clone();
        async move { app.get(&path, Some(&admin)).await }
    };

    for (query, field) in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("sort=password_hash", "sort"),
        ("sort=-password_hash", "sort"),
        ("sort=", "sort"),
    ] {
        assert_eq!(invalid_fields(get(query).await).await, [field], "{query}");
    }
    let long = format!("q={}", "a".repeat(101));
    assert_eq!(invalid_fields(get(&long).await).await, ["q"]);
    for query in [
        "is_locked=maybe",
        "email_verified=2",
        "colour=blue",
        "role=SUPERUSER",
        "limit=ten",
        "skip=-1",
        "created_after=yesterday",
        "created_before=2026-13-01T00:00:00Z",
    ] {
        assert_problem(get(query).await, StatusCode::BAD_REQUEST).await;
    }
    let ok = get("limit=100").await;
    assert_eq!(ok.status(), StatusCode::OK);
    let slash = pop.app.get("/users/?limit=1", Some(&pop.admin)).await;
    assert_eq!(slash.status(), StatusCode::OK, "trailing slash");
}

async fn every_item_carries_its_links(backend: Backend) {
    let Some(pop) = Population::seed(backend).await else {
        return;
    };

    let page = pop.list(&[("limit", "100")]).await;

    assert_eq!(items(&page).len(), 25);
    for item in items(&page) {
        let id = item["id"].as_str().expect("id");
        let links: Vec<(String, String, String)> = item["links"]
            .as_array()
            .expect("links")
            .iter()
            .map(|l| {
                (
                    l["rel"].as_str().expect("rel").to_owned(),
                    l["method"].as_str().expect("method").to_owned(),
                    path_of(l["href"].as_str().expect("href")),
                )
            })
            .collect();
        let user_path = format!("/users/{id}");
        for (rel, method) in [("self", "GET"), ("update", "PATCH"), ("delete", "DELETE")] {
            assert!(
                links.contains(&(rel.into(), method.into(), user_path.clone())),
                "{rel} link of {id}: {links:?}"
            );
        }
        let text = item.to_string();
        assert!(!text.contains("password"), "{text}");
        let person = pop.person(id);
        assert_eq!(item["email"], person.email.as_str());
        assert_eq!(item["role"], person.role);
        assert_eq!(item["is_locked"], person.is_locked);
    }
}

on_both_databases!(
    q_matches_email_nickname_and_names_case_insensitively,
    q_matches_names_case_insensitively_beyond_ascii,
    each_filter_and_combinations_give_exact_answers,
    every_sort_key_orders_both_ways,
    sorting_by_role_follows_privilege,
    pages_and_their_links,
    following_next_visits_every_match_once_keeping_filters,
    bad_parameters_are_refused,
    every_item_carries_its_links,
);

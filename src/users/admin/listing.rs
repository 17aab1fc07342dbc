//! `GET /users`: filters, sorts and paging with links that keep the filters.
//!
//! The same query runs on both databases. On PostgreSQL the substring
//! search (`q`) is served by trigram indexes and the sorts by b-tree
//! indexes (migration 000006); SQLite scans, which is fine at its scale.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, NullOrdering, Order, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::entities::users;
use crate::domain::Role;
use crate::error::{AppError, Result};
use crate::http::paging::{self, Link, Window};
use crate::users::profile_fields::Errors;

/// Query parameters of `GET /users`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Rows to skip (default 0).
    #[param(minimum = 0, maximum = 1_000_000_000_000_u64)]
    pub skip: Option<u64>,
    /// Page size (default 10, at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// Case-insensitive substring of email, nickname, first or last name.
    #[param(max_length = 100, pattern = r"^[^\u0000]*$")]
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<Role>,
    /// Only locked (true) or unlocked (false) accounts.
    pub is_locked: Option<bool>,
    /// Only verified (true) or unverified (false) emails.
    pub email_verified: Option<bool>,
    /// Only professionals (true) or not (false).
    pub is_professional: Option<bool>,
    /// Created at or after (RFC 3339).
    pub created_after: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_before: Option<DateTime<Utc>>,
    /// `created_at`, `email`, `nickname`, `last_login_at`, `updated_at`, `role`;
    /// prefix `-` for descending. Default `-created_at`.
    #[param(pattern = r"^[-+]?(created_at|email|nickname|last_login_at|updated_at|role)$")]
    pub sort: Option<String>,
}

/// A sort order: column and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    key: SortKey,
    descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    CreatedAt,
    Email,
    Nickname,
    LastLoginAt,
    UpdatedAt,
    Role,
}

const SORT_KEYS: [(&str, SortKey); 6] = [
    ("created_at", SortKey::CreatedAt),
    ("email", SortKey::Email),
    ("nickname", SortKey::Nickname),
    ("last_login_at", SortKey::LastLoginAt),
    ("updated_at", SortKey::UpdatedAt),
    ("role", SortKey::Role),
];

impl Sort {
    /// Parses `email`, `-created_at`, …
    pub fn parse(value: &str) -> Option<Sort> {
        let (descending, name) = match value.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, value.strip_prefix('+').unwrap_or(value)),
        };
        SORT_KEYS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, key)| Sort {
                key: *key,
                descending,
            })
    }

    /// What to order by. Roles order by privilege, not by name.
    fn expr(self) -> SimpleExpr {
        let column = match self.key {
            SortKey::CreatedAt => users::Column::CreatedAt,
            SortKey::Email => users::Column::EmailNorm,
            SortKey::Nickname => users::Column::NicknameNorm,
            SortKey::LastLoginAt => users::Column::LastLoginAt,
            SortKey::UpdatedAt => users::Column::UpdatedAt,
            SortKey::Role => {
                return Expr::cust(
                    "CASE role WHEN 'ANONYMOUS' THEN 0 WHEN 'AUTHENTICATED' THEN 1 \
                     WHEN 'MANAGER' THEN 2 ELSE 3 END",
                );
            }
        };
        Expr::col(column)
    }
}

/// A checked listing request.
#[derive(Debug, Clone)]
pub struct Listing {
    query: ListQuery,
    window: Window,
    sort: Sort,
}

impl Listing {
    /// Checks ranges and the sort key (422 naming each bad parameter).
    pub fn parse(query: ListQuery) -> Result<Listing> {
        let mut errors = Errors::default();
        let window = match Window::parse(query.skip, query.limit) {
            Ok(window) => Some(window),
            Err(fields) => {
                for field in fields {
                    errors.push(&field.field, field.message);
                }
                None
            }
        };
        let sort = match query.sort.as_deref() {
            None => Some(Sort {
                key: SortKey::CreatedAt,
                descending: true,
            }),
            Some(s) => Sort::parse(s),
        };
        if sort.is_none() {
            let names: Vec<&str> = SORT_KEYS.iter().map(|(n, _)| *n).collect();
            errors.push(
                "sort",
                format!("must be one of {} (prefix - to reverse)", names.join(", ")),
            );
        }
        if query.q.as_deref().is_some_and(|q| q.chars().count() > 100) {
            errors.push("q", "must be at most 100 characters");
        }
        errors.finish()?;
        let (Some(sort), Some(window)) = (sort, window) else {
            return Err(AppError::Internal(anyhow::anyhow!("checked above")));
        };
        Ok(Listing {
            window,
            sort,
            query,
        })
    }

    fn select(&self) -> Select<users::Entity> {
        use users::Column as C;
        let q = &self.query;
        let mut select = users::Entity::find();
        if let Some(text) = self.search_text() {
            select = select.filter(search(text));
        }
        if let Some(role) = q.role {
            select = select.filter(C::Role.eq(role.as_str()));
        }
        if let Some(v) = q.is_locked {
            select = select.filter(C::IsLocked.eq(v));
        }
        if let Some(v) = q.email_verified {
            select = select.filter(C::EmailVerified.eq(v));
        }
        if let Some(v) = q.is_professional {
            select = select.filter(C::IsProfessional.eq(v));
        }
        if let Some(t) = q.created_after {
            select = select.filter(C::CreatedAt.gte(t));
        }
        if let Some(t) = q.created_before {
            select = select.filter(C::CreatedAt.lt(t));
        }
        select
    }

    /// One page of users and the total count.
    ///
    /// A filtered listing reads its page first: a page shorter than the
    /// limit is the last one, so it tells the total itself and the count is
    /// never sent. Searches are mostly that narrow, and their count would
    /// repeat the page's whole index and heap scan. When the page is full
    /// (or empty past the end), the count follows. The unfiltered listing
    /// always needs its count, so it sends both at once, on two
    /// connections, and costs the longer of the two rather than their sum.
    pub async fn run(
        &self,
        conn: &impl ConnectionTrait,
    ) -> Result<(Vec<users::Model>, u64), DbErr> {
        let order = if self.sort.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        // Only `last_login_at` can be empty; a NULLS clause on the others, or
        // a tie-break in the other direction, would keep PostgreSQL from
        // reading the sort index and make it sort every matching row.
        let select = if self.sort.key == SortKey::LastLoginAt {
            self.select()
                .order_by_with_nulls(self.sort.expr(), order.clone(), NullOrdering::Last)
        } else {
            self.select().order_by(self.sort.expr(), order.clone())
        };
        let page = select
            .order_by(users::Column::Id, order)
            .offset(self.window.skip)
            .limit(self.window.limit)
            .all(conn);
        if !self.is_filtered() {
            let (total, items) = tokio::try_join!(self.select().count(conn), page)?;
            return Ok((items, total));
        }
        let items = page.await?;
        let total = match self.total_from_page(items.len()) {
            Some(total) => total,
            None => self.select().count(conn).await?,
        };
        Ok((items, total))
    }

    /// The text `q` searches for; a blank `q` searches nothing.
    fn search_text(&self) -> Option<&str> {
        self.query
            .q
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// Whether any filter of [`Self::select`] narrows the listing.
    fn is_filtered(&self) -> bool {
        let q = &self.query;
        self.search_text().is_some()
            || q.role.is_some()
            || q.is_locked.is_some()
            || q.email_verified.is_some()
            || q.is_professional.is_some()
            || q.created_after.is_some()
            || q.created_before.is_some()
    }

    /// The total when a page of `rows` rows tells it: a short page is the
    /// last one, unless it is empty past the first page (`skip` may point
    /// beyond the end, and then only a count knows where the end is).
    fn total_from_page(&self, rows: usize) -> Option<u64> {
        let rows = u64::try_from(rows).ok()?;
        let Window { skip, limit } = self.window;
        (rows < limit && (rows > 0 || skip == 0)).then_some(skip + rows)
    }

    /// Page number (1-based) and size.
    pub fn page(&self) -> (u64, u64) {
        (self.window.number(), self.window.limit)
    }

    /// `self`, `first`, `last`, `next` and `prev` links, keeping every filter.
    pub fn links(&self, base: &str, total: u64) -> Vec<Link> {
        let q = &self.query;
        let filters = [
            ("q", q.q.clone()),
            ("role", q.role.map(|r| r.as_str().to_owned())),
            ("is_locked", q.is_locked.map(|v| v.to_string())),
            ("email_verified", q.email_verified.map(|v| v.to_string())),
            ("is_professional", q.is_professional.map(|v| v.to_string())),
            ("created_after", q.created_after.map(|t| t.to_rfc3339())),
            ("created_before", q.created_before.map(|t| t.to_rfc3339())),
            ("sort", q.sort.clone()),
        ];
        let limit = self.window.limit;
        self.window.links(total, |skip| {
            paging::href(base, "/users", skip, limit, &filters)
        })
    }
}

/// Case-insensitive substring match on email, nickname, first and last name
/// (through `search_text`, their lower-cased join kept by the repository, so
/// both databases compare the same Unicode-lower-cased text).
/// `%`, `_` and `!` in the text match themselves.
fn search(text: &str) -> SimpleExpr {
    let escaped: String = text
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '%' | '_' | '!' => vec!['!', c],
            c => vec![c],
        })
        .collect();
    Expr::col(users::Column::SearchText).like(LikeExpr::new(format!("%{escaped}%")).escape('!'))
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// The users of this page.
    pub items: Vec<crate::users::views::UserResponse>,
    /// Users matching the filters, in all pages.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u64,
    /// Page size.
    pub size: u64,
    /// `self`, `first`, `last`, and `next`/`prev` when they exist.
    pub links: Vec<Link>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(query: ListQuery) -> Listing {
        Listing::parse(query).expect("valid")
    }

    #[test]
    fn sort_keys_parse_with_direction() {
        assert_eq!(
            Sort::parse("-created_at"),
            Some(Sort {
                key: SortKey::CreatedAt,
                descending: true
            })
        );
        assert_eq!(
            Sort::parse("email"),
            Some(Sort {
                key: SortKey::Email,
                descending: false
            })
        );
        assert_eq!(Sort::parse("password_hash"), None);
    }

    #[test]
    fn limits_are_checked() {
        for limit in [0, 101] {
            let err = Listing::parse(ListQuery {
                limit: Some(limit),
                ..Default::default()
            })
            .expect_err("refused");
            assert!(matches!(err, AppError::Validation(_)));
        }
        assert!(
            Listing::parse(ListQuery {
                sort: Some("nope".into()),
                ..Default::default()
            })
            .is_err()
        );
        // Regression: 2^63 overflowed the databases' offset (a 500).
        let huge = ListQuery {
            skip: Some(1 << 63),
            ..Default::default()
        };
        assert!(matches!(Listing::parse(huge), Err(AppError::Validation(_))));
    }

    #[test]
    fn links_keep_filters_and_page() {
        let l = listing(ListQuery {
            skip: Some(20),
            limit: Some(10),
            q: Some("a b&c".into()),
            role: Some(Role::Manager),
            ..Default::default()
        });
        let links = l.links("http://x", 45);
        let href = |rel: &str| links.iter().find(|l| l.rel == rel).map(|l| l.href.clone());
        assert_eq!(
            href("self").as_deref(),
            Some("http://x/users?skip=20&limit=10&q=a+b%26c&role=MANAGER")
        );
        assert_eq!(
            href("first").as_deref(),
            Some("http://x/users?skip=0&limit=10&q=a+b%26c&role=MANAGER")
        );
        assert_eq!(
            href("last").as_deref(),
            Some("http://x/users?skip=40&limit=10&q=a+b%26c&role=MANAGER")
        );
        assert!(href("next").is_some_and(|h| h.contains("skip=30")));
        assert!(href("prev").is_some_and(|h| h.contains("skip=10")));
        assert_eq!(l.page(), (3, 10));
        let end = listing(ListQuery {
            skip: Some(40),
            ..Default::default()
        })
        .links("http://x", 45);
        assert!(!end.iter().any(|l| l.rel == "next"));
        let empty = listing(ListQuery::default()).links("http://x", 0);
        assert!(
            empty
                .iter()
                .any(|l| l.rel == "last" && l.href.contains("skip=0"))
        );
        assert!(!empty.iter().any(|l| l.rel == "prev" || l.rel == "next"));
    }

    #[test]
    fn a_short_page_tells_the_total_and_a_full_or_overshooting_one_does_not() {
        let at = |skip| {
            listing(ListQuery {
                skip: Some(skip),
                limit: Some(20),
                ..Default::default()
            })
        };
        assert_eq!(at(0).total_from_page(0), Some(0));
        assert_eq!(at(0).total_from_page(7), Some(7));
        assert_eq!(at(40).total_from_page(19), Some(59));
        assert_eq!(at(0).total_from_page(20), None);
        assert_eq!(at(40).total_from_page(0), None);
    }

    #[test]
    fn only_real_filters_count_as_filters() {
        assert!(!listing(ListQuery::default()).is_filtered());
        assert!(
            !listing(ListQuery {
                q: Some("  ".into()),
                sort: Some("email".into()),
                ..Default::default()
            })
            .is_filtered()
        );
        assert!(
            listing(ListQuery {
                q: Some("ada".into()),
                ..Default::default()
            })
            .is_filtered()
        );
        assert!(
            listing(ListQuery {
                is_locked: Some(false),
                ..Default::default()
            })
            .is_filtered()
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_sort_string_parses_or_is_refused_without_panic(s in ".{0,40}") {
                let _ = Sort::parse(&s);
            }

            #[test]
            fn every_sort_key_round_trips_in_both_directions(i in 0usize..6, descending: bool) {
                let (name, key) = SORT_KEYS[i];
                let text = if descending { format!("-{name}") } else { name.to_owned() };
                prop_assert_eq!(Sort::parse(&text), Some(Sort { key, descending }));
            }

            #[test]
            fn limits_in_range_are_accepted_and_others_refused(limit in 0u64..1000, skip in 0u64..u64::MAX) {
                let parsed = Listing::parse(ListQuery { limit: Some(limit), skip: Some(skip), ..Default::default() });
                let valid = (1..=paging::MAX_LIMIT).contains(&limit) && skip <= paging::MAX_SKIP;
                prop_assert_eq!(parsed.is_ok(), valid);
            }

            #[test]
            fn links_cover_every_page_exactly_once(total in 0u64..5000, limit in 1u64..=100) {
                // Following `next` from the first page visits each page start once.
                let mut skip = 0;
                let mut pages = 0;
                loop {
                    let listing = Listing::parse(ListQuery { limit: Some(limit), skip: Some(skip), ..Default::default() }).expect("valid");
                    pages += 1;
                    let links = listing.links("http://x", total);
                    match links.iter().find(|l| l.rel == "next") {
                        Some(next) => {
                            let q = next.href.split_once('?').expect("query").1;
                            let skip_param = q.split('&').find_map(|kv| kv.strip_prefix("skip=")).expect("skip");
                            let next_skip: u64 = skip_param.parse().expect("number");
                            prop_assert_eq!(next_skip, skip + limit);
                            skip = next_skip;
                        }
                        None => break,
                    }
                }
                prop_assert_eq!(pages, std::cmp::max(total.div_ceil(limit), 1));
            }

            #[test]
            fn search_text_is_escaped_and_never_panics(q in ".{0,60}") {
                let _ = search(&q);
            }
        }
    }
}

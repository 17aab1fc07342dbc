//! Paging shared by every listing: the `skip`/`limit` window, its limits,
//! and the `self`/`first`/`last`/`next`/`prev` links that keep a listing's
//! filters.

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::FieldError;

/// Default page size.
pub const DEFAULT_LIMIT: u64 = 10;
/// Largest page size.
pub const MAX_LIMIT: u64 = 100;
/// Largest offset: beyond it no page can exist, and the databases' 64-bit
/// offsets must not overflow.
pub const MAX_SKIP: u64 = 1_000_000_000_000;

/// A hypermedia link.
#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    /// Relation name (`self`, `update`, `delete`, …).
    pub rel: &'static str,
    /// Absolute URL.
    pub href: String,
    /// HTTP method.
    pub method: &'static str,
}

impl Link {
    /// A `GET` link.
    pub fn get(rel: &'static str, href: String) -> Self {
        Self {
            rel,
            href,
            method: "GET",
        }
    }
}

/// A checked page window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows skipped.
    pub skip: u64,
    /// Page size.
    pub limit: u64,
}

impl Window {
    /// Checks `skip` and `limit` (defaults 0 and [`DEFAULT_LIMIT`]); each
    /// parameter out of range is one field error.
    pub fn parse(skip: Option<u64>, limit: Option<u64>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let skip = skip.unwrap_or(0);
        if skip > MAX_SKIP {
            errors.push(FieldError::new(
                "skip",
                format!("must be at most {MAX_SKIP}"),
            ));
        }
        if errors.is_empty() {
            Ok(Self { skip, limit })
        } else {
            Err(errors)
        }
    }

    /// This page's number, from 1.
    pub fn number(&self) -> u64 {
        self.skip / self.limit + 1
    }

    /// `self`, `first`, `last`, and `next`/`prev` when they exist, for a
    /// listing of `total` rows; `href(skip)` is the URL of the page at `skip`.
    pub fn links(&self, total: u64, href: impl Fn(u64) -> String) -> Vec<Link> {
        let last = total.saturating_sub(1) / self.limit * self.limit;
        let mut links = vec![
            Link::get("self", href(self.skip)),
            Link::get("first", href(0)),
            Link::get("last", href(last)),
        ];
        if self.skip + self.limit < total {
            links.push(Link::get("next", href(self.skip + self.limit)));
        }
        if self.skip > 0 {
            links.push(Link::get(
                "prev",
                href(self.skip.saturating_sub(self.limit)),
            ));
        }
        links
    }
}

/// `path?query` with the window's `skip` replaced and `limit` set, then the
/// listing's own `filters` (pairs whose value is `None` are left out).
pub fn href(
    base: &str,
    path: &str,
    skip: u64,
    limit: u64,
    filters: &[(&str, Option<String>)],
) -> String {
    let mut pairs: Vec<(&str, String)> =
        vec![("skip", skip.to_string()), ("limit", limit.to_string())];
    pairs.extend(
        filters
            .iter()
            .filter_map(|(name, value)| value.clone().map(|v| (*name, v))),
    );
    format!(
        "{base}{path}?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rels(links: &[Link]) -> Vec<&str> {
        links.iter().map(|l| l.rel).collect()
    }

    #[test]
    fn window_checks_ranges() {
        assert_eq!(
            Window::parse(None, None),
            Ok(Window {
                skip: 0,
                limit: DEFAULT_LIMIT
            })
        );
        assert_eq!(
            Window::parse(None, Some(0)).map_err(|e| e[0].field.clone()),
            Err("limit".into())
        );
        assert_eq!(Window::parse(None, Some(101)).map_err(|e| e.len()), Err(1));
        // 2^63 overflowed the databases' offset once (a 500).
        assert_eq!(
            Window::parse(Some(1 << 63), Some(0)).map_err(|e| e.len()),
            Err(2)
        );
    }

    #[test]
    fn links_cover_the_middle_and_the_edges() {
        let href = |skip: u64| skip.to_string();
        let middle = Window {
            skip: 10,
            limit: 10,
        };
        let links = middle.links(35, href);
        assert_eq!(rels(&links), ["self", "first", "last", "next", "prev"]);
        assert_eq!(links[2].href, "30");
        assert_eq!(links[3].href, "20");
        assert_eq!(links[4].href, "0");
        let first = Window { skip: 0, limit: 10 };
        assert_eq!(rels(&first.links(5, href)), ["self", "first", "last"]);
        assert_eq!(first.links(0, href)[2].href, "0");
        assert_eq!(middle.number(), 2);
    }

    #[test]
    fn href_keeps_filters_and_escapes_them() {
        let url = href(
            "http://h",
            "/users",
            20,
            10,
            &[("q", Some("a&b".into())), ("role", None)],
        );
        assert_eq!(url, "http://h/users?skip=20&limit=10&q=a%26b");
    }
}

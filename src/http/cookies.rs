//! Reading and setting cookies: every cookie the service sets is HttpOnly
//! and path-wide, `Secure` when the service is reached over https.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};

/// The value of cookie `name`, if the request carries a non-empty one.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// How other sites may send a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Only requests from this site.
    Strict,
    /// Also top-level navigations from other sites (links in mails).
    Lax,
}

/// A `Set-Cookie` value: HttpOnly, `Path=/`, `max_age` (None: until the
/// browser closes), `Secure` when `secure`. `None` if `value` cannot be a
/// header (it never holds anything but URL-safe characters here).
pub fn set(
    name: &str,
    value: &str,
    max_age: Option<Duration>,
    same_site: SameSite,
    secure: bool,
) -> Option<HeaderValue> {
    let max_age = max_age.map_or(String::new(), |age| format!("; Max-Age={}", age.as_secs()));
    let same_site = match same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
    };
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/{max_age}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .ok()
}

/// A `Set-Cookie` value that removes cookie `name`.
pub fn clear(name: &str, secure: bool) -> Option<HeaderValue> {
    set(name, "", Some(Duration::ZERO), SameSite::Lax, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_set_safely() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; um_x=two; b="),
        );
        assert_eq!(get(&headers, "um_x"), Some("two"));
        assert_eq!(get(&headers, "b"), None);
        assert_eq!(get(&headers, "c"), None);
        let value = set(
            "um_x",
            "v",
            Some(Duration::from_secs(60)),
            SameSite::Lax,
            true,
        )
        .expect("header");
        assert_eq!(
            value,
            "um_x=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(set("um_x", "bad\nvalue", None, SameSite::Strict, false).is_none());
        assert_eq!(
            clear("um_x", false).expect("header"),
            "um_x=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
    }
}

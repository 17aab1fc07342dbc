//! Links a user puts on their profile (home page, GitHub, LinkedIn).
//!
//! These URLs end up as `href`s shown to other users, so the rules aim at
//! stopping script and phishing tricks: only `http`/`https`, no embedded
//! credentials (`https://github.com@evil.example`), and, for the site-specific
//! kinds, a host check done on the parsed host rather than on the string.

use std::fmt;

use url::Url;

use super::ParseError;
use super::schema::Rule;

/// Which site a [`ProfileUrl`] must point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UrlKind {
    /// Any public `http`/`https` URL, e.g. a personal home page.
    #[default]
    Any,
    /// `github.com` or `www.github.com`.
    GitHub,
    /// `linkedin.com` or any of its subdomains (`www.`, country sites).
    LinkedIn,
}

impl UrlKind {
    /// The name used at the start of error messages.
    fn label(self) -> &'static str {
        match self {
            Self::Any => "profile URL",
            Self::GitHub => "GitHub URL",
            Self::LinkedIn => "LinkedIn URL",
        }
    }
}

/// A checked profile link, stored exactly as the user wrote it (trimmed).
///
/// The original text is kept rather than the `url` crate's re-serialisation
/// so the user sees back what they typed; the rules below refuse the inputs
/// where the two would differ in meaning.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProfileUrl(String);

impl ProfileUrl {
    /// Longest accepted URL, in characters (fits a `VARCHAR(255)` column).
    pub const MAX_LEN: usize = 255;

    /// Parses a URL and checks it is acceptable for `kind`.
    ///
    /// # Errors
    ///
    /// Returns a [`ParseError`] naming the first rule the input breaks.
    pub fn parse(input: &str, kind: UrlKind) -> Result<Self, ParseError> {
        let name = kind.label();
        let fail = |why: &str| Err(ParseError::new(format!("{name} {why}")));

        let trimmed = input.trim();
        if trimmed.is_empty() {
            return fail("must not be empty");
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return fail(&format!("must be at most {} characters", Self::MAX_LEN));
        }
        // The WHATWG parser silently drops tabs and newlines and treats '\'
        // as '/', so the stored string and the parsed URL could disagree
        // about the host; other parsers (mail clients, old browsers) may read
        // such strings differently again.
        if trimmed
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return fail("must not contain spaces, control characters or backslashes");
        }
        // Requiring the literal "scheme://" prefix refuses `https:github.com`
        // and `https:///github.com`, which the WHATWG parser repairs but a
        // naive consumer of the stored string would treat as a relative path.
        let Some(after_scheme) = strip_prefix_ignore_ascii_case(trimmed, "https://")
            .or_else(|| strip_prefix_ignore_ascii_case(trimmed, "http://"))
        else {
            return fail("must start with http:// or https://");
        };
        if after_scheme.starts_with('/') {
            return fail("must have a host name after the //");
        }

        let Ok(url) = Url::parse(trimmed) else {
            return fail("is not a valid URL");
        };
        if !matches!(url.scheme(), "http" | "https") {
            return fail("must start with http:// or https://");
        }
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host,
            _ => return fail("must have a host name"),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return fail("must not contain a user name or password");
        }

        let host_ok = match kind {
            UrlKind::Any => true,
            UrlKind::GitHub => {
                host.eq_ignore_ascii_case("github.com")
                    || host.eq_ignore_ascii_case("www.github.com")
            }
            UrlKind::LinkedIn => {
                let host = host.to_ascii_lowercase();
                host == "linkedin.com" || host.ends_with(".linkedin.com")
            }
        };
        if !host_ok {
            return match kind {
                UrlKind::GitHub => fail("must point to github.com"),
                UrlKind::LinkedIn => fail("must point to linkedin.com"),
                UrlKind::Any => fail("has a host that is not allowed"),
            };
        }

        Ok(Self(trimmed.to_owned()))
    }

    /// The URL as the user gave it, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives up the wrapper, e.g. to store the value in a database column.
    pub fn into_string(self) -> String {
        self.0
    }
}

fn strip_prefix_ignore_ascii_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

impl fmt::Display for ProfileUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ProfileUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<ProfileUrl> for String {
    fn from(url: ProfileUrl) -> Self {
        url.0
    }
}

/// The rules of [`ProfileUrl::parse`] for the OpenAPI document, by kind.
pub const fn rule(kind: UrlKind) -> Rule {
    let (description, pattern) = match kind {
        UrlKind::Any => (
            "An http(s) URL, at most 255 characters; empty or null clears it",
            // The last label starts with a letter: a host ending in a number
            // is read as an IPv4 address, and most such hosts do not parse.
            r"^(https?://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$",
        ),
        UrlKind::LinkedIn => (
            "An http(s) URL on linkedin.com; empty or null clears it",
            r"^(https?://([A-Za-z0-9-]+\.)*linkedin\.com(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$",
        ),
        UrlKind::GitHub => (
            "An http(s) URL on github.com; empty or null clears it",
            r"^(https?://(www\.)?github\.com(/[^\s\\\u0000-\u001f\u007f-\u009f]*)?)?$",
        ),
    };
    Rule {
        description,
        pattern: Some(pattern),
        min: None,
        max: Some(255),
        secret: false,
        example: None,
    }
}

/// The schema of a picture or home-page URL field.
pub fn any_schema() -> utoipa::openapi::schema::Object {
    rule(UrlKind::Any).nullable()
}

/// The schema of a LinkedIn URL field.
pub fn linkedin_schema() -> utoipa::openapi::schema::Object {
    rule(UrlKind::LinkedIn).nullable()
}

/// The schema of a GitHub URL field.
pub fn github_schema() -> utoipa::openapi::schema::Object {
    rule(UrlKind::GitHub).nullable()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str, kind: UrlKind) -> ProfileUrl {
        ProfileUrl::parse(s, kind).expect(s)
    }

    fn err(s: &str, kind: UrlKind) -> String {
        match ProfileUrl::parse(s, kind) {
            Ok(u) => panic!("{s:?} should be refused for {kind:?}, got {u:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn accepts_ordinary_urls_and_keeps_them_verbatim() {
        for s in [
            "https://example.com",
            "http://example.com/~me/",
            "https://Example.COM/Path?q=1#frag",
            "https://sub.example.co.uk:8443/a/b",
            "https://bücher.example/",
            "http://127.0.0.1/",
        ] {
            assert_eq!(ok(s, UrlKind::Any).as_str(), s);
        }
        assert_eq!(
            ok("HTTPS://example.com", UrlKind::Any).as_str(),
            "HTTPS://example.com"
        );
    }

    #[test]
    fn trims_and_keeps_the_users_text() {
        let u = ok("  https://GitHub.com/Alice  \n", UrlKind::GitHub);
        assert_eq!(u.as_str(), "https://GitHub.com/Alice");
        assert_eq!(u.to_string(), "https://GitHub.com/Alice");
        assert_eq!(u.as_ref(), "https://GitHub.com/Alice");
        assert_eq!(String::from(u), "https://GitHub.com/Alice");
    }

    #[test]
    fn refuses_empty() {
        assert_eq!(err("", UrlKind::Any), "profile URL must not be empty");
        assert_eq!(err("  ", UrlKind::GitHub), "GitHub URL must not be empty");
    }

    #[test]
    fn refuses_other_schemes() {
        for s in [
            "javascript:alert(1)",
            "JavaScript:alert(document.cookie)",
            "javascript://example.com/%0Aalert(1)",
            "ftp://example.com/file",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "mailto:a@example.com",
            "example.com",
            "//example.com",
            "https:example.com",
        ] {
            assert!(err(s, UrlKind::Any).contains("http:// or https://"), "{s}");
        }
    }

    #[test]
    fn refuses_missing_host() {
        assert!(err("https://", UrlKind::Any).contains("not a valid URL"));
        assert!(err("https:///example.com", UrlKind::Any).contains("host"));
        assert!(err("http://:80/", UrlKind::Any).contains("not a valid URL"));
    }

    #[test]
    fn refuses_credentials() {
        for s in [
            "https://user:pass@example.com/",
            "https://user@example.com/",
            "https://:pass@example.com/",
            "https://github.com@evil.example/",
        ] {
            assert!(
                err(s, UrlKind::Any).contains("user name or password"),
                "{s}"
            );
        }
    }

    #[test]
    fn refuses_whitespace_controls_and_backslashes() {
        for s in [
            "https://exa mple.com",
            "https://git\nhub.com/alice",
            "https://git\thub.com/alice",
            "https://example.com/\u{0}",
            "https://github.com\\@evil.example",
            "https:\\\\evil.example",
        ] {
            assert!(err(s, UrlKind::Any).contains("backslashes"), "{s:?}");
        }
    }

    #[test]
    fn length_edges() {
        let base = "https://example.com/";
        let at_limit = format!("{base}{}", "a".repeat(255 - base.len()));
        assert_eq!(at_limit.chars().count(), 255);
        ok(&at_limit, UrlKind::Any);
        let over = format!("{at_limit}a");
        assert!(err(&over, UrlKind::Any).contains("at most 255"));
        // Counted in characters, not bytes.
        let wide = format!("{base}{}", "é".repeat(255 - base.len()));
        ok(&wide, UrlKind::Any);
    }

    #[test]
    fn github_hosts() {
        for s in [
            "https://github.com/alice",
            "https://www.github.com/alice",
            "http://GITHUB.COM/alice",
            "https://WWW.GitHub.com",
        ] {
            ok(s, UrlKind::GitHub);
        }
        for s in [
            "https://evil.github.com.attacker.io/alice",
            "https://github.com.attacker.io/alice",
            "https://gist.github.com/alice",
            "https://notgithub.com/alice",
            "https://github.co/alice",
            "https://github.com./alice",
            "https://evil.example/github.com",
            "https://evil.example/?u=https://github.com/alice",
            "https://evil.example#@github.com",
            "https://gíthub.com/alice",
            "https://linkedin.com/in/alice",
        ] {
            assert_eq!(
                err(s, UrlKind::GitHub),
                "GitHub URL must point to github.com",
                "{s}"
            );
        }
    }

    #[test]
    fn linkedin_hosts() {
        for s in [
            "https://linkedin.com/in/alice",
            "https://www.linkedin.com/in/alice",
            "https://de.linkedin.com/in/alice",
            "https://WWW.LinkedIn.com/in/alice",
        ] {
            ok(s, UrlKind::LinkedIn);
        }
        for s in [
            "https://evillinkedin.com/in/alice",
            "https://linkedin.com.attacker.io/in/alice",
            "https://www.linkedin.co/in/alice",
            "https://github.com/alice",
            "https://evil.example/linkedin.com",
        ] {
            assert_eq!(
                err(s, UrlKind::LinkedIn),
                "LinkedIn URL must point to linkedin.com",
                "{s}"
            );
        }
    }

    #[test]
    fn any_accepts_site_specific_urls_too() {
        ok("https://github.com/alice", UrlKind::Any);
        ok("https://www.linkedin.com/in/alice", UrlKind::Any);
    }

    #[test]
    fn default_kind_is_any() {
        assert_eq!(UrlKind::default(), UrlKind::Any);
    }

    fn kinds() -> impl Strategy<Value = UrlKind> {
        prop_oneof![
            Just(UrlKind::Any),
            Just(UrlKind::GitHub),
            Just(UrlKind::LinkedIn)
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>(), kind in kinds()) {
            if let Ok(u) = ProfileUrl::parse(&s, kind) {
                prop_assert_eq!(u.as_str(), s.trim());
            }
        }

        #[test]
        fn url_like_strings_never_panic(s in "(https?|ftp|javascript):[/@:a-zA-Z0-9.%#?\\\\]{0,60}", kind in kinds()) {
            let _ = ProfileUrl::parse(&s, kind);
        }

        #[test]
        fn github_profiles_are_accepted(
            scheme in "https?",
            www in proptest::bool::ANY,
            user in "[A-Za-z0-9-]{1,39}",
        ) {
            let s = format!("{scheme}://{}github.com/{user}", if www { "www." } else { "" });
            let u = ProfileUrl::parse(&s, UrlKind::GitHub).expect("valid GitHub URL");
            prop_assert_eq!(u.as_str(), s.as_str());
        }

        #[test]
        fn lookalike_github_hosts_are_refused(
            prefix in "[a-z]{1,10}\\.",
            suffix in "\\.[a-z]{2,6}",
            user in "[a-z]{1,10}",
        ) {
            let front = format!("https://{prefix}github.com/{user}");
            prop_assert!(ProfileUrl::parse(&front, UrlKind::GitHub).is_err() || prefix == "www.");
            let back = format!("https://github.com{suffix}/{user}");
            prop_assert!(ProfileUrl::parse(&back, UrlKind::GitHub).is_err());
        }

        #[test]
        fn linkedin_subdomains_are_accepted(sub in "([a-z]{2,8}\\.)?", user in "[a-z0-9-]{1,30}") {
            let s = format!("https://{sub}linkedin.com/in/{user}");
            prop_assert!(ProfileUrl::parse(&s, UrlKind::LinkedIn).is_ok());
        }

        #[test]
        fn accepted_urls_round_trip(s in "https?://[a-z]{1,10}\\.[a-z]{2,5}(/[a-zA-Z0-9_.~-]{0,20}){0,3}") {
            let u = ProfileUrl::parse(&s, UrlKind::Any).expect("valid URL");
            prop_assert_eq!(ProfileUrl::parse(u.as_str(), UrlKind::Any), Ok(u));
        }
    }
}

//! E-mail addresses.
//!
//! The accepted grammar is a deliberately small subset of RFC 5321/5322: the
//! unquoted "dot-atom" local part and a DNS host name with an alphabetic TLD.
//! Quoted local parts, comments and IP-literal domains are legal but are
//! almost never real sign-up addresses, and accepting them would make the
//! value awkward to use in mail headers and log lines.

use std::fmt;
use std::str::FromStr;

use super::ParseError;
use super::schema::Rule;

/// A syntactically valid e-mail address.
///
/// The domain is stored lower-cased because DNS is case-insensitive; the local
/// part keeps the user's case because, strictly, mail servers may treat it as
/// case-sensitive and the user expects to see what they typed. Uniqueness
/// checks should use [`Email::normalized`] instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Characters allowed in the local part besides ASCII letters and digits
/// (RFC 5322 `atext`, plus the dot handled separately).
const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";

impl Email {
    /// Longest accepted address, in characters (RFC 5321 path limit minus
    /// the angle brackets).
    pub const MAX_LEN: usize = 254;
    /// Longest accepted local part, in characters (RFC 5321).
    pub const MAX_LOCAL_LEN: usize = 64;
    /// Longest accepted domain label, in characters (RFC 1035).
    pub const MAX_LABEL_LEN: usize = 63;

    /// Parses an address, trimming surrounding whitespace first because
    /// copy-pasted addresses often carry a stray space or newline.
    ///
    /// # Errors
    ///
    /// Returns a [`ParseError`] describing the first rule the input breaks.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ParseError::new("email must not be empty"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ParseError::new(
                "email must not contain spaces or control characters",
            ));
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(ParseError::new(format!(
                "email must be at most {} characters",
                Self::MAX_LEN
            )));
        }

        let mut parts = trimmed.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseError::new("email must contain exactly one '@'"));
        };

        validate_local(local)?;
        validate_domain(domain)?;

        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The stored form: local part as given, domain lower-cased.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The whole address lower-cased: the key for case-insensitive uniqueness.
    ///
    /// Real providers treat `John@x.org` and `john@x.org` as one mailbox, so
    /// letting both register would create two accounts for one person.
    pub fn normalized(&self) -> String {
        // Every character is ASCII after parsing, so ASCII lower-casing is
        // complete and cannot change the length.
        self.0.to_ascii_lowercase()
    }

    /// The part before the '@', case preserved.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(local, _)| local)
    }

    /// The part after the '@', lower-cased.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, domain)| domain)
    }

    /// Gives up the wrapper, e.g. to store the value in a database column.
    pub fn into_string(self) -> String {
        self.0
    }
}

fn validate_local(local: &str) -> Result<(), ParseError> {
    let len = local.chars().count();
    if len == 0 || len > Email::MAX_LOCAL_LEN {
        return Err(ParseError::new(format!(
            "email part before '@' must be 1 to {} characters",
            Email::MAX_LOCAL_LEN
        )));
    }
    if !local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || LOCAL_SPECIALS.contains(c))
    {
        return Err(ParseError::new(
            "email part before '@' contains a character that is not allowed",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') {
        return Err(ParseError::new(
            "email part before '@' must not start or end with a dot",
        ));
    }
    if local.contains("..") {
        return Err(ParseError::new(
            "email part before '@' must not contain two dots in a row",
        ));
    }
    Ok(())
}

fn validate_domain(domain: &str) -> Result<(), ParseError> {
    if domain.is_empty() {
        return Err(ParseError::new("email must have a domain after '@'"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(ParseError::new(
            "email domain must have at least two parts separated by a dot",
        ));
    }
    for label in &labels {
        let len = label.chars().count();
        if len == 0 || len > Email::MAX_LABEL_LEN {
            return Err(ParseError::new(format!(
                "each part of the email domain must be 1 to {} characters",
                Email::MAX_LABEL_LEN
            )));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ParseError::new(
                "email domain may only contain letters, digits, '-' and dots",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(ParseError::new(
                "parts of the email domain must not start or end with '-'",
            ));
        }
    }
    // `split` always yields at least one item, so the fallback is unreachable;
    // it only avoids an `unwrap`.
    let tld = labels.last().copied().unwrap_or_default();
    if tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(ParseError::new(
            "email domain must end in a top-level domain of at least 2 letters",
        ));
    }
    Ok(())
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

/// The rule of [`Email::parse`] for the OpenAPI document.
pub const RULE: Rule = Rule {
    description: "An email address: a dot-atom local part and a DNS host name; unique, case-insensitively",
    pattern: Some(
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,32}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,24}$",
    ),
    min: None,
    max: Some(254),
    secret: false,
    example: Some("jane.doe@example.com"),
};

/// The schema of a required email field.
pub fn schema() -> utoipa::openapi::schema::Object {
    RULE.required()
}

/// The schema of an optional email field.
pub fn nullable_schema() -> utoipa::openapi::schema::Object {
    RULE.nullable()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> Email {
        Email::parse(s).expect(s)
    }

    fn err(s: &str) -> String {
        match Email::parse(s) {
            Ok(e) => panic!("{s:?} should be refused, got {e:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn accepts_plain_address() {
        assert_eq!(ok("alice@example.com").as_str(), "alice@example.com");
    }

    #[test]
    fn trims_surrounding_whitespace() {
        assert_eq!(ok("  alice@example.com\n\t").as_str(), "alice@example.com");
    }

    #[test]
    fn lower_cases_domain_only() {
        let e = ok("John.Doe@Example.COM");
        assert_eq!(e.as_str(), "John.Doe@example.com");
        assert_eq!(e.local_part(), "John.Doe");
        assert_eq!(e.domain(), "example.com");
        assert_eq!(e.normalized(), "john.doe@example.com");
    }

    #[test]
    fn display_and_as_ref_show_stored_form() {
        let e = ok("Bob@EXAMPLE.org");
        assert_eq!(e.to_string(), "Bob@example.org");
        assert_eq!(e.as_ref(), "Bob@example.org");
        assert_eq!(String::from(e.clone()), "Bob@example.org");
        assert_eq!("Bob@EXAMPLE.org".parse::<Email>(), Ok(e));
    }

    #[test]
    fn accepts_all_special_local_characters() {
        ok("!#$%&'*+/=?^_`{|}~.-@example.com");
        ok("user+tag@example.com");
        ok("a@b.co");
        ok("x@sub.domain.example.museum");
        ok("x@xn--bcher-kva.example");
        ok("x@123.example.com");
        ok("x@a-b.example.com");
    }

    #[test]
    fn refuses_empty_and_blank() {
        assert_eq!(err(""), "email must not be empty");
        assert_eq!(err("   "), "email must not be empty");
    }

    #[test]
    fn refuses_wrong_number_of_at_signs() {
        assert!(err("alice.example.com").contains("exactly one '@'"));
        assert!(err("a@b@example.com").contains("exactly one '@'"));
        assert!(err("@").contains("before '@'"));
    }

    #[test]
    fn refuses_inner_whitespace_and_controls() {
        assert!(err("ali ce@example.com").contains("spaces"));
        assert!(err("alice@exa mple.com").contains("spaces"));
        assert!(err("alice\u{0}@example.com").contains("control"));
        assert!(err("alice@example.com\u{7f}x").contains("control"));
        assert!(err("alice\u{a0}@example.com").contains("spaces"));
    }

    #[test]
    fn local_part_length_edges() {
        let at_limit = format!("{}@example.com", "a".repeat(64));
        ok(&at_limit);
        let over = format!("{}@example.com", "a".repeat(65));
        assert!(err(&over).contains("1 to 64"));
        assert!(err("@example.com").contains("1 to 64"));
    }

    #[test]
    fn total_length_edges() {
        // 64 + 1 + 189 = 254
        let domain = format!(
            "{}.{}.{}.com",
            "a".repeat(61),
            "b".repeat(61),
            "c".repeat(61)
        );
        let at_limit = format!("{}@{domain}", "x".repeat(64));
        assert_eq!(at_limit.len(), 254);
        ok(&at_limit);
        let over = format!("{}@{domain}", "x".repeat(65));
        assert_eq!(over.len(), 255);
        assert!(err(&over).contains("at most 254"));
    }

    #[test]
    fn refuses_bad_local_characters() {
        assert!(err("al(ice)@example.com").contains("not allowed"));
        assert!(err("\"alice\"@example.com").contains("not allowed"));
        assert!(err("ålice@example.com").contains("not allowed"));
        assert!(err("a,b@example.com").contains("not allowed"));
    }

    #[test]
    fn refuses_bad_dots_in_local_part() {
        assert!(err(".alice@example.com").contains("start or end"));
        assert!(err("alice.@example.com").contains("start or end"));
        assert!(err("al..ice@example.com").contains("two dots"));
    }

    #[test]
    fn refuses_bad_domains() {
        assert!(err("alice@").contains("domain"));
        assert!(err("alice@localhost").contains("at least two parts"));
        assert!(err("alice@example..com").contains("1 to 63"));
        assert!(err("alice@.example.com").contains("1 to 63"));
        assert!(err("alice@example.com.").contains("1 to 63"));
        assert!(err("alice@-example.com").contains("'-'"));
        assert!(err("alice@example-.com").contains("'-'"));
        assert!(err("alice@exa_mple.com").contains("only contain"));
        assert!(err("alice@exämple.com").contains("only contain"));
        assert!(err("alice@[127.0.0.1]").contains("only contain"));
    }

    #[test]
    fn domain_label_length_edges() {
        ok(&format!("a@{}.com", "b".repeat(63)));
        assert!(err(&format!("a@{}.com", "b".repeat(64))).contains("1 to 63"));
    }

    #[test]
    fn refuses_bad_tlds() {
        assert!(err("alice@example.c").contains("top-level"));
        assert!(err("alice@example.c0m").contains("top-level"));
        assert!(err("alice@127.0.0.1").contains("top-level"));
        assert!(err("alice@example.x-y").contains("top-level"));
    }

    fn atom() -> &'static str {
        "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}"
    }

    prop_compose! {
        fn valid_email()(
            first in atom(),
            rest in proptest::collection::vec(atom(), 0..3),
            labels in proptest::collection::vec("[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?", 1..4),
            tld in "[A-Za-z]{2,8}",
        ) -> String {
            let mut local = first;
            for part in rest {
                local.push('.');
                local.push_str(&part);
            }
            format!("{local}@{}.{tld}", labels.join("."))
        }
    }

    proptest! {
        #[test]
        fn generated_addresses_parse(raw in valid_email()) {
            let e = Email::parse(&raw).expect("valid by construction");
            let (local, domain) = raw.split_once('@').expect("has @");
            prop_assert_eq!(e.local_part(), local);
            prop_assert_eq!(e.domain(), domain.to_ascii_lowercase());
        }

        #[test]
        fn parse_is_idempotent_and_normalized_is_stable(raw in valid_email(), pad in "[ \t\n]{0,3}") {
            let first = Email::parse(&format!("{pad}{raw}{pad}")).expect("valid by construction");
            let second = Email::parse(first.as_str()).expect("own output must parse");
            prop_assert_eq!(&first, &second);
            prop_assert_eq!(first.normalized(), second.normalized());
            let from_normalized = Email::parse(&first.normalized()).expect("normalized must parse");
            prop_assert_eq!(from_normalized.normalized(), first.normalized());
            prop_assert_eq!(first.normalized(), first.normalized().to_lowercase());
        }

        #[test]
        fn case_variants_share_normalized_key(raw in valid_email()) {
            let upper = Email::parse(&raw.to_ascii_uppercase()).expect("upper");
            let lower = Email::parse(&raw.to_ascii_lowercase()).expect("lower");
            prop_assert_eq!(upper.normalized(), lower.normalized());
        }

        #[test]
        fn arbitrary_strings_never_panic(raw in any::<String>()) {
            if let Ok(e) = Email::parse(&raw) {
                prop_assert!(e.as_str().len() <= Email::MAX_LEN);
                prop_assert_eq!(e.as_str().matches('@').count(), 1);
            }
        }

        #[test]
        fn email_like_strings_never_panic(raw in "[a-zA-Z0-9@.\\- ]{0,80}") {
            let _ = Email::parse(&raw);
        }
    }
}

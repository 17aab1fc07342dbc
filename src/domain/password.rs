//! Candidate passwords, checked against NIST SP 800-63B.
//!
//! The policy follows the NIST guidance for memorized secrets: a minimum and
//! a generous maximum length, a block-list of known-breached values and of
//! context-specific values (the user's own e-mail and nickname), and no
//! composition rules ("one digit, one symbol"), which mostly produce
//! predictable variations like `Password1!` without adding strength.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};

use super::ParseError;
use super::schema::Rule;

/// The block-list, lower-case, one entry per line.
const COMMON_PASSWORDS_TXT: &str = include_str!("common_passwords.txt");

/// Parsed once on first use; the file is small, so a set of borrowed slices
/// costs little and avoids copying it.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS_TXT
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// Whether `candidate` is, ignoring case, on the built-in list of common or
/// breached passwords.
pub fn is_common_password(candidate: &str) -> bool {
    COMMON_PASSWORDS.contains(candidate.to_lowercase().as_str())
}

/// A password that satisfies the policy, kept in a [`SecretString`] so it is
/// zeroed on drop and never printed by accident.
///
/// There is deliberately no `Display`, `Serialize` or `PartialEq`: the only
/// legitimate uses are hashing and verifying, both via [`Password::expose`].
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Shortest accepted password, in Unicode scalar values.
    pub const MIN_CHARS: usize = 8;
    /// Longest accepted password, in Unicode scalar values. The cap exists
    /// to bound hashing cost, not for strength.
    pub const MAX_CHARS: usize = 128;

    /// Checks `raw` against the policy.
    ///
    /// `email` and `nickname` are the account's own identifiers, when known;
    /// a password equal to either is the first thing an attacker tries.
    /// `raw` is used exactly as given: no trimming, because spaces are
    /// legitimate password characters and silently dropping them would lock
    /// the user out.
    ///
    /// # Errors
    ///
    /// Returns a [`ParseError`] whose message never contains the password.
    pub fn parse(
        raw: &str,
        email: Option<&str>,
        nickname: Option<&str>,
    ) -> Result<Self, ParseError> {
        // Counted in chars, not bytes, so a non-Latin password is not
        // penalised (or over-credited) for its UTF-8 encoding.
        let len = raw.chars().count();
        if len < Self::MIN_CHARS {
            return Err(ParseError::new(format!(
                "password must be at least {} characters",
                Self::MIN_CHARS
            )));
        }
        if len > Self::MAX_CHARS {
            return Err(ParseError::new(format!(
                "password must be at most {} characters",
                Self::MAX_CHARS
            )));
        }

        let lowered = raw.to_lowercase();
        if COMMON_PASSWORDS.contains(lowered.as_str()) {
            return Err(ParseError::new(
                "password is too common; choose a less guessable one",
            ));
        }
        if email.is_some_and(|email| lowered == email.trim().to_lowercase()) {
            return Err(ParseError::new(
                "password must not be the same as your email",
            ));
        }
        if nickname.is_some_and(|nickname| lowered == nickname.trim().to_lowercase()) {
            return Err(ParseError::new(
                "password must not be the same as your nickname",
            ));
        }

        Ok(Self(SecretString::from(raw)))
    }

    /// The plain password, for hashing or verification only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// The rule of [`Password::parse`] for the OpenAPI document.
pub const RULE: Rule = Rule {
    description: "8–128 characters, not a common password, not the email or nickname",
    pattern: None,
    min: Some(Password::MIN_CHARS),
    max: Some(Password::MAX_CHARS),
    secret: true,
    example: Some("correct horse battery staple"),
};

/// The schema of a new password.
pub fn schema() -> utoipa::openapi::schema::Object {
    RULE.required()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(raw: &str) -> String {
        err_with(raw, None, None)
    }

    fn err_with(raw: &str, email: Option<&str>, nickname: Option<&str>) -> String {
        match Password::parse(raw, email, nickname) {
            Ok(_) => panic!("password should be refused"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn length_edges() {
        assert_eq!(err("Zx9!kq7"), "password must be at least 8 characters");
        assert_eq!(err(""), "password must be at least 8 characters");
        Password::parse("Zx9!kq7m", None, None).expect("8 chars");
        let max = "q7Zx".repeat(32);
        assert_eq!(max.chars().count(), 128);
        Password::parse(&max, None, None).expect("128 chars");
        let over = format!("{max}a");
        assert_eq!(err(&over), "password must be at most 128 characters");
    }

    #[test]
    fn length_counts_unicode_chars_not_bytes() {
        // 7 chars, 21 bytes: too short even though the byte count is large.
        let seven = "日本語のパスワ";
        assert_eq!(seven.chars().count(), 7);
        assert!(err(seven).contains("at least 8"));
        // 8 chars, 24 bytes: accepted.
        Password::parse("日本語のパスワー", None, None).expect("8 chars");
        // 128 chars, 512 bytes: accepted; one more is refused.
        let emoji_max = "🦀".repeat(128);
        Password::parse(&emoji_max, None, None).expect("128 chars");
        assert!(err(&"🦀".repeat(129)).contains("at most 128"));
    }

    #[test]
    fn no_composition_rules() {
        for raw in [
            "violet-kettle-harbour",
            "all lower case words",
            "12345678901234567890x",
        ] {
            Password::parse(raw, None, None).expect(raw);
        }
    }

    #[test]
    fn spaces_are_kept_not_trimmed() {
        let p = Password::parse("  padded phrase  ", None, None).expect("valid");
        assert_eq!(p.expose(), "  padded phrase  ");
        // Trimming would have turned this 8-char password into a 6-char one;
        // it must count as 8.
        Password::parse(" abcdef ", None, None).expect("spaces count");
    }

    #[test]
    fn refuses_common_passwords_case_insensitively() {
        let msg = "password is too common; choose a less guessable one";
        for raw in [
            "password",
            "PASSWORD",
            "Password1",
            "12345678",
            "qwertyuiop",
            "iloveyou",
            "TrustNo1",
            "P@ssw0rd",
        ] {
            assert_eq!(err(raw), msg, "{raw}");
        }
    }

    #[test]
    fn every_list_entry_is_refused() {
        for entry in COMMON_PASSWORDS.iter() {
            assert!(Password::parse(entry, None, None).is_err(), "{entry}");
            assert!(is_common_password(&entry.to_uppercase()), "{entry}");
        }
    }

    #[test]
    fn common_list_file_is_well_formed() {
        let lines: Vec<&str> = COMMON_PASSWORDS_TXT.lines().collect();
        assert!(lines.len() >= 300, "only {} entries", lines.len());
        assert_eq!(COMMON_PASSWORDS.len(), lines.len(), "duplicates in list");
        for line in lines {
            assert!(
                line.chars().count() >= Password::MIN_CHARS,
                "{line:?} too short"
            );
            assert!(
                line.chars().count() <= Password::MAX_CHARS,
                "{line:?} too long"
            );
            assert_eq!(line, line.to_lowercase(), "{line:?} not lower-case");
            assert_eq!(line, line.trim(), "{line:?} has surrounding whitespace");
        }
    }

    #[test]
    fn refuses_password_equal_to_email() {
        let msg = err_with("Alice@Example.com", Some("alice@example.com"), None);
        assert_eq!(msg, "password must not be the same as your email");
        Password::parse("alice@example.com!", Some("alice@example.com"), None)
            .expect("merely containing the email is allowed");
    }

    #[test]
    fn refuses_password_equal_to_nickname() {
        let msg = err_with("SuperCoder42", None, Some("supercoder42"));
        assert_eq!(msg, "password must not be the same as your nickname");
        Password::parse("SuperCoder42", Some("x@example.com"), Some("other_nick"))
            .expect("different identifiers");
    }

    #[test]
    fn short_identifiers_do_not_block_everything() {
        Password::parse("unrelated-secret", Some(""), Some("")).expect("empty identifiers");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::parse("hunter2-but-longer", None, None).expect("valid");
        let shown = format!("{p:?} {:?} {:#?}", p.clone(), Some(&p));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("REDACTED"));
        assert_eq!(format!("{p:?}"), "Password([REDACTED])");
    }

    #[test]
    fn expose_returns_the_exact_input() {
        let raw = "Ünïcödé passphrase 🦀";
        assert_eq!(
            Password::parse(raw, None, None).expect("valid").expose(),
            raw
        );
    }

    proptest! {
        #[test]
        fn length_bounds_hold(raw in "\\PC{0,140}") {
            let len = raw.chars().count();
            match Password::parse(&raw, None, None) {
                Ok(p) => {
                    prop_assert!((Password::MIN_CHARS..=Password::MAX_CHARS).contains(&len));
                    prop_assert_eq!(p.expose(), raw.as_str());
                }
                Err(e) => prop_assert!(
                    !(Password::MIN_CHARS..=Password::MAX_CHARS).contains(&len)
                        || is_common_password(&raw),
                    "refused in-range password: {}", e
                ),
            }
        }

        #[test]
        fn out_of_range_lengths_are_refused(raw in "\\PC{0,7}|\\PC{129,200}") {
            prop_assert!(Password::parse(&raw, None, None).is_err());
        }

        #[test]
        fn messages_never_echo_the_password(
            // Upper-case letters and long digit runs never occur in the messages,
            // so a hit could only be an echo.
            raw in "[A-Z0-9]{8,40}",
            same_as in 0u8..3,
        ) {
            let email = (same_as == 1).then_some(raw.as_str());
            let nickname = (same_as == 2).then_some(raw.as_str());
            if let Err(e) = Password::parse(&raw, email, nickname) {
                prop_assert!(!e.0.contains(&raw));
            }
            let short = &raw[..7];
            let e = Password::parse(short, None, None).expect_err("too short");
            prop_assert!(!e.0.contains(short));
        }

        #[test]
        fn equal_identifiers_are_refused_in_any_case(raw in "[a-zA-Z0-9@._-]{8,60}") {
            prop_assert!(Password::parse(&raw, Some(&raw.to_uppercase()), None).is_err());
            prop_assert!(Password::parse(&raw, None, Some(&raw.to_lowercase())).is_err());
        }

        #[test]
        fn arbitrary_inputs_never_panic(
            raw in any::<String>(),
            email in proptest::option::of(any::<String>()),
            nickname in proptest::option::of(any::<String>()),
        ) {
            let _ = Password::parse(&raw, email.as_deref(), nickname.as_deref());
        }
    }
}

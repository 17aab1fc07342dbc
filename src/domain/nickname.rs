//! Public nicknames.
//!
//! The alphabet is kept to ASCII letters, digits, `_` and `-` so nicknames are
//! safe in URLs, log lines and mentions without escaping, and so that
//! look-alike Unicode characters cannot impersonate another user.

use std::fmt;
use std::str::FromStr;

use rand::RngExt;
use rand::seq::IndexedRandom;

use super::ParseError;
use super::schema::Rule;

/// A nickname of 3 to 50 characters from `[A-Za-z0-9_-]`.
///
/// The case the user chose is kept for display; uniqueness checks should use
/// [`Nickname::normalized`] so that `Alice` and `alice` cannot both exist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nickname(String);

/// Words for [`Nickname::generate`]: lower-case ASCII letters only, so every
/// combination is valid by construction.
const ADJECTIVES: &[&str] = &[
    "agile", "amber", "ancient", "bold", "brave", "breezy", "bright", "calm", "clever", "cosmic",
    "curious", "daring", "dashing", "eager", "electric", "fancy", "fearless", "fierce", "fluffy",
    "friendly", "gentle", "giant", "golden", "happy", "hidden", "humble", "jolly", "keen", "kind",
    "lively", "lucky", "mellow", "mighty", "misty", "noble", "patient", "proud", "quick", "quiet",
    "rapid", "shiny", "silent", "silver", "sleepy", "smart", "snowy", "sunny", "swift", "tiny",
    "witty",
];

/// Animals for [`Nickname::generate`]; same constraints as [`ADJECTIVES`].
const ANIMALS: &[&str] = &[
    "alpaca", "badger", "beaver", "bison", "camel", "cheetah", "cobra", "coyote", "crane",
    "dolphin", "eagle", "falcon", "ferret", "finch", "fox", "gazelle", "gecko", "heron", "hippo",
    "ibex", "jaguar", "koala", "lemur", "leopard", "llama", "lynx", "marmot", "meerkat", "moose",
    "narwhal", "ocelot", "otter", "owl", "panda", "panther", "pelican", "penguin", "puffin",
    "rabbit", "raccoon", "raven", "salmon", "seal", "sparrow", "tiger", "toucan", "turtle",
    "walrus", "wolf", "zebra",
];

impl Nickname {
    /// Shortest accepted nickname, in characters.
    pub const MIN_LEN: usize = 3;
    /// Longest accepted nickname, in characters.
    pub const MAX_LEN: usize = 50;
    /// Largest number [`Nickname::generate`] appends.
    pub const MAX_GENERATED_NUMBER: u16 = 999;

    /// Parses a nickname exactly as given.
    ///
    /// No trimming: a nickname is an identifier, and silently changing it
    /// would surprise the user who later tries to log in or be mentioned.
    ///
    /// # Errors
    ///
    /// Returns a [`ParseError`] if the length or any character is not allowed.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let len = input.chars().count();
        if len < Self::MIN_LEN {
            return Err(ParseError::new(format!(
                "nickname must be at least {} characters",
                Self::MIN_LEN
            )));
        }
        if len > Self::MAX_LEN {
            return Err(ParseError::new(format!(
                "nickname must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        if !input.chars().all(is_nickname_char) {
            return Err(ParseError::new(
                "nickname may only contain letters, digits, '_' and '-'",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    /// A random `adjective_animal_123` nickname using the thread-local RNG.
    ///
    /// Meant as a suggestion or default for accounts created without one; it
    /// is not guaranteed to be unique, so callers must still check for
    /// collisions (about 2.5 million combinations).
    pub fn generate() -> Self {
        Self::generate_with(&mut rand::rng())
    }

    /// Like [`Nickname::generate`] but with a caller-supplied RNG, so tests
    /// and seeding can make the output reproducible.
    pub fn generate_with<R: rand::Rng + ?Sized>(rng: &mut R) -> Self {
        // The lists are non-empty constants; the fallbacks only avoid `unwrap`.
        let adjective = ADJECTIVES.choose(rng).copied().unwrap_or("happy");
        let animal = ANIMALS.choose(rng).copied().unwrap_or("otter");
        let number = rng.random_range(0..=Self::MAX_GENERATED_NUMBER);
        // Built directly rather than through `parse`: the word lists are
        // checked by tests, and `generate` must be infallible.
        Self(format!("{adjective}_{animal}_{number}"))
    }

    /// The nickname with the user's casing.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased form: the key for case-insensitive uniqueness.
    pub fn normalized(&self) -> String {
        // The alphabet is ASCII-only, so ASCII lower-casing is complete.
        self.0.to_ascii_lowercase()
    }

    /// Gives up the wrapper, e.g. to store the value in a database column.
    pub fn into_string(self) -> String {
        self.0
    }
}

fn is_nickname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl fmt::Display for Nickname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Nickname {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Nickname {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<Nickname> for String {
    fn from(nickname: Nickname) -> Self {
        nickname.0
    }
}

/// The rule of [`Nickname::parse`] for the OpenAPI document.
pub const RULE: Rule = Rule {
    description: "3–50 of `[A-Za-z0-9_-]`, unique case-insensitively; generated when omitted at creation",
    pattern: Some(r"^[A-Za-z0-9_-]{3,50}$"),
    min: None,
    max: None,
    secret: false,
    example: Some("jane_doe"),
};

/// The schema of a nickname that cannot be cleared.
pub fn schema() -> utoipa::openapi::schema::Object {
    RULE.required()
}

/// The schema of a nickname that may be omitted.
pub fn nullable_schema() -> utoipa::openapi::schema::Object {
    RULE.nullable()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn err(s: &str) -> String {
        match Nickname::parse(s) {
            Ok(n) => panic!("{s:?} should be refused, got {n:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn accepts_typical_nicknames() {
        for s in [
            "bob",
            "Alice_99",
            "x-y-z",
            "___",
            "---",
            "123",
            "MiXeD_CaSe-1",
        ] {
            assert_eq!(Nickname::parse(s).expect(s).as_str(), s);
        }
    }

    #[test]
    fn length_edges() {
        assert_eq!(err("ab"), "nickname must be at least 3 characters");
        assert_eq!(err(""), "nickname must be at least 3 characters");
        Nickname::parse("abc").expect("3 chars");
        Nickname::parse(&"a".repeat(50)).expect("50 chars");
        assert_eq!(
            err(&"a".repeat(51)),
            "nickname must be at most 50 characters"
        );
    }

    #[test]
    fn length_counts_chars_not_bytes() {
        // Two chars but four bytes: the length message is the accurate one.
        assert!(err("éé").contains("at least 3"));
        assert!(err("ééé").contains("only contain"));
    }

    #[test]
    fn refuses_characters_outside_alphabet() {
        for s in [
            "bob smith",
            " bob",
            "bob ",
            "bob.smith",
            "bob@x",
            "bøb",
            "bob\n",
            "bob\u{0}",
            "a/b",
        ] {
            assert!(err(s).contains("only contain"), "{s:?}");
        }
    }

    #[test]
    fn normalized_lower_cases_and_display_keeps_case() {
        let n = Nickname::parse("Alice_99").expect("valid");
        assert_eq!(n.normalized(), "alice_99");
        assert_eq!(n.to_string(), "Alice_99");
        assert_eq!(n.as_ref(), "Alice_99");
        assert_eq!("Alice_99".parse::<Nickname>(), Ok(n));
    }

    #[test]
    fn word_lists_are_lower_case_letters_and_distinct() {
        for list in [ADJECTIVES, ANIMALS] {
            assert!(list.len() >= 50);
            let mut seen = std::collections::HashSet::new();
            for word in list {
                assert!(
                    !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()),
                    "{word}"
                );
                assert!(seen.insert(*word), "duplicate {word}");
            }
        }
    }

    #[test]
    fn every_generated_combination_is_valid() {
        for adjective in ADJECTIVES {
            for animal in ANIMALS {
                for number in [0, Nickname::MAX_GENERATED_NUMBER] {
                    let s = format!("{adjective}_{animal}_{number}");
                    Nickname::parse(&s).expect(&s);
                }
            }
        }
    }

    #[test]
    fn generate_has_expected_shape() {
        for _ in 0..100 {
            let n = Nickname::generate();
            let parts: Vec<&str> = n.as_str().split('_').collect();
            assert_eq!(parts.len(), 3, "{n}");
            assert!(ADJECTIVES.contains(&parts[0]));
            assert!(ANIMALS.contains(&parts[1]));
            let number: u16 = parts[2].parse().expect("number");
            assert!(number <= Nickname::MAX_GENERATED_NUMBER);
            assert_eq!(n.normalized(), n.as_str());
        }
    }

    #[test]
    fn generate_with_seed_is_reproducible() {
        let a = Nickname::generate_with(&mut StdRng::seed_from_u64(7));
        let b = Nickname::generate_with(&mut StdRng::seed_from_u64(7));
        assert_eq!(a, b);
    }

    proptest! {
        #[test]
        fn any_generated_nickname_parses(seed in any::<u64>()) {
            let n = Nickname::generate_with(&mut StdRng::seed_from_u64(seed));
            prop_assert_eq!(Nickname::parse(n.as_str()), Ok(n));
        }

        #[test]
        fn matching_strings_parse_and_normalize_to_lower(s in "[A-Za-z0-9_-]{3,50}") {
            let n = Nickname::parse(&s).expect("matches the alphabet and length");
            prop_assert_eq!(n.as_str(), s.as_str());
            let key = n.normalized();
            prop_assert_eq!(&key, &s.to_lowercase());
            prop_assert!(!key.chars().any(|c| c.is_uppercase()));
        }

        #[test]
        fn wrong_lengths_are_refused(s in "[A-Za-z0-9_-]{0,2}|[A-Za-z0-9_-]{51,80}") {
            prop_assert!(Nickname::parse(&s).is_err());
        }

        #[test]
        fn one_foreign_char_is_refused(
            prefix in "[A-Za-z0-9_-]{1,20}",
            bad in "[^A-Za-z0-9_-]",
            suffix in "[A-Za-z0-9_-]{1,20}",
        ) {
            let candidate = format!("{prefix}{bad}{suffix}");
            prop_assert!(Nickname::parse(&candidate).is_err());
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            if let Ok(n) = Nickname::parse(&s) {
                prop_assert_eq!(n.as_str(), s.as_str());
            }
        }
    }
}

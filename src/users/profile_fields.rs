//! Profile fields shared by registration, `PATCH /me` and staff updates:
//! parsed once into checked values, every problem reported at once.

use serde::{Deserialize, Deserializer};

use crate::domain::nickname::Nickname;
use crate::domain::profile_url::{ProfileUrl, UrlKind};
use crate::domain::schema::Rule;
use crate::error::{AppError, FieldError};

/// Longest first or last name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest bio, in characters.
pub const MAX_BIO_CHARS: usize = 500;

/// A change to an optional field: absent (keep), `null` (clear) or a value.
pub type Patch<T> = Option<Option<T>>;

/// Deserializes a field so that `null` and absence differ.
pub fn patch<'de, D, T>(de: D) -> Result<Patch<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Checked profile changes. `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct ProfileChanges {
    /// New nickname.
    pub nickname: Option<Nickname>,
    /// First name (`Some(None)` clears it).
    pub first_name: Patch<String>,
    /// Last name.
    pub last_name: Patch<String>,
    /// Bio.
    pub bio: Patch<String>,
    /// Profile picture URL given by the client.
    pub profile_picture_url: Patch<ProfileUrl>,
    /// LinkedIn profile.
    pub linkedin_profile_url: Patch<ProfileUrl>,
    /// GitHub profile.
    pub github_profile_url: Patch<ProfileUrl>,
}

/// Raw profile input, as the request bodies carry it.
#[derive(Debug, Default, Clone)]
pub struct RawProfile {
    /// Nickname (`Some(None)` means an explicit null).
    pub nickname: Patch<String>,
    /// First name.
    pub first_name: Patch<String>,
    /// Last name.
    pub last_name: Patch<String>,
    /// Bio.
    pub bio: Patch<String>,
    /// Picture URL.
    pub profile_picture_url: Patch<String>,
    /// LinkedIn URL.
    pub linkedin_profile_url: Patch<String>,
    /// GitHub URL.
    pub github_profile_url: Patch<String>,
}

/// Collects field errors while parsing.
#[derive(Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    /// Records a failure of `field`, yielding the value otherwise.
    pub fn check<T, E: ToString>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(FieldError::new(field, e.to_string()));
                None
            }
        }
    }

    /// Records an error.
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Ok` if nothing failed, else a 422 with every failure.
    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.0))
        }
    }
}

/// The rule of a first or last name (see [`text`]) for the OpenAPI document.
const NAME_RULE: Rule = Rule {
    description: "At most 100 characters; no control characters, bidirectional controls \
        (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) or line/paragraph separators \
        (U+2028, U+2029); empty or null clears it",
    pattern: Some(r"^[^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]*$"),
    min: None,
    max: Some(MAX_NAME_CHARS),
    secret: false,
    example: None,
};

/// The rule of a bio (see [`text`]): newlines and tabs allowed.
const BIO_RULE: Rule = Rule {
    description: "At most 500 characters; newlines and tabs allowed; no other control characters, \
        bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) or \
        line/paragraph separators (U+2028, U+2029); empty or null clears it",
    pattern: Some(
        r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]*$",
    ),
    min: None,
    max: Some(MAX_BIO_CHARS),
    secret: false,
    example: None,
};

/// The schema of a first or last name field.
pub fn name_schema() -> utoipa::openapi::schema::Object {
    NAME_RULE.nullable()
}

/// The schema of a bio field.
pub fn bio_schema() -> utoipa::openapi::schema::Object {
    BIO_RULE.nullable()
}

/// Whether `c` reorders or breaks displayed text: a Unicode bidirectional
/// control (it can make a name read as something else, "Trojan Source") or a
/// line or paragraph separator (it breaks log lines and single-line displays).
fn is_bidi_or_separator(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Trims a free-text field; empty means cleared. Refuses control characters
/// (other than newlines and tabs in the bio), bidirectional controls, line and
/// paragraph separators, and over-long values.
fn text(value: &str, max: usize, multiline: bool) -> Result<Option<String>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t')))
    {
        return Err("must not contain control characters".into());
    }
    if value.chars().any(is_bidi_or_separator) {
        return Err(
            "must not contain bidirectional control characters or line/paragraph separators".into(),
        );
    }
    Ok(Some(value.to_owned()))
}

fn url(value: &str, kind: UrlKind) -> Result<Option<ProfileUrl>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    ProfileUrl::parse(value, kind)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn map_patch<T>(
    errors: &mut Errors,
    field: &str,
    raw: Patch<String>,
    parse: impl Fn(&str) -> Result<Option<T>, String>,
) -> Patch<T> {
    match raw {
        None => None,
        Some(None) => Some(None),
        Some(Some(v)) => errors.check(field, parse(&v)).map(|v| v.or(None)),
    }
}

impl RawProfile {
    /// Parses every field, recording failures in `errors`.
    pub fn parse(self, errors: &mut Errors) -> ProfileChanges {
        let nickname = match self.nickname {
            None => None,
            Some(None) => {
                errors.push("nickname", "nickname cannot be removed");
                None
            }
            Some(Some(n)) => errors.check("nickname", Nickname::parse(&n)),
        };
        ProfileChanges {
            nickname,
            first_name: map_patch(errors, "first_name", self.first_name, |v| {
                text(v, MAX_NAME_CHARS, false)
            }),
            last_name: map_patch(errors, "last_name", self.last_name, |v| {
                text(v, MAX_NAME_CHARS, false)
            }),
            bio: map_patch(errors, "bio", self.bio, |v| text(v, MAX_BIO_CHARS, true)),
            profile_picture_url: map_patch(
                errors,
                "profile_picture_url",
                self.profile_picture_url,
                |v| url(v, UrlKind::Any),
            ),
            linkedin_profile_url: map_patch(
                errors,
                "linkedin_profile_url",
                self.linkedin_profile_url,
                |v| url(v, UrlKind::LinkedIn),
            ),
            github_profile_url: map_patch(
                errors,
                "github_profile_url",
                self.github_profile_url,
                |v| url(v, UrlKind::GitHub),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<(), AppError>) -> Vec<String> {
        match result {
            Ok(()) => vec![],
            Err(AppError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut errors = Errors::default();
        RawProfile {
            nickname: Some(Some("a".into())),
            first_name: Some(Some("x".repeat(101))),
            last_name: Some(Some("ok".into())),
            bio: Some(Some("b".repeat(501))),
            profile_picture_url: Some(Some("ftp://x.org/a.png".into())),
            linkedin_profile_url: Some(Some("https://evil.example/in/x".into())),
            github_profile_url: Some(Some("https://gitlab.com/x".into())),
        }
        .parse(&mut errors);
        assert_eq!(
            fields(errors.finish()),
            [
                "nickname",
                "first_name",
                "bio",
                "profile_picture_url",
                "linkedin_profile_url",
                "github_profile_url"
            ]
        );
    }

    #[test]
    fn limits_are_inclusive_and_blank_clears() {
        let mut errors = Errors::default();
        let changes = RawProfile {
            first_name: Some(Some("é".repeat(100))),
            bio: Some(Some("line one\nline two".into())),
            last_name: Some(Some("   ".into())),
            github_profile_url: Some(None),
            ..Default::default()
        }
        .parse(&mut errors);
        assert!(errors.finish().is_ok());
        assert_eq!(changes.first_name, Some(Some("é".repeat(100))));
        assert_eq!(changes.last_name, Some(None));
        assert!(matches!(changes.github_profile_url, Some(None)));
        assert!(changes.nickname.is_none());
    }

    #[test]
    fn bidi_controls_and_separators_are_refused_in_every_text_field() {
        let refused = [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
            '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}',
        ];
        for c in refused {
            let mut errors = Errors::default();
            RawProfile {
                first_name: Some(Some(format!("Ada{c}x"))),
                last_name: Some(Some(format!("Love{c}lace"))),
                bio: Some(Some(format!("line one\nline{c}two"))),
                ..Default::default()
            }
            .parse(&mut errors);
            assert_eq!(
                fields(errors.finish()),
                ["first_name", "last_name", "bio"],
                "U+{:04X}",
                u32::from(c)
            );
        }
        // Right-to-left script itself is fine; only the invisible controls are not.
        let mut errors = Errors::default();
        RawProfile {
            first_name: Some(Some("مريم".into())),
            ..Default::default()
        }
        .parse(&mut errors);
        assert!(errors.finish().is_ok());
    }

    #[test]
    fn null_nickname_and_control_characters_are_refused() {
        let mut errors = Errors::default();
        RawProfile {
            nickname: Some(None),
            first_name: Some(Some("a\u{0}b".into())),
            ..Default::default()
        }
        .parse(&mut errors);
        assert_eq!(fields(errors.finish()), ["nickname", "first_name"]);
    }
}

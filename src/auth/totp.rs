//! Time-based one-time passwords (RFC 6238) as authenticator apps make them:
//! HMAC-SHA1, 6 digits, 30-second steps, one step of clock skew either way.
//!
//! [`verify`] answers the step a code matched, so the caller can store it
//! and refuse that step and every earlier one next time: a code is good once.

use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};
use secrecy::SecretBox;
use subtle::ConstantTimeEq;

/// The length of a secret, as RFC 4226 recommends (160 bits).
pub const SECRET_BYTES: usize = 20;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds of a time step.
pub const STEP_SECONDS: i64 = 30;
/// Steps accepted before and after the current one.
pub const SKEW_STEPS: i64 = 1;

/// A new random secret.
pub fn new_secret() -> SecretBox<[u8; SECRET_BYTES]> {
    let mut secret = Box::new([0u8; SECRET_BYTES]);
    rand::fill(&mut secret[..]);
    SecretBox::new(secret)
}

/// The time step `at` falls in (RFC 6238 `T`, with `T0 = 0`).
pub fn step_at(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECONDS)
}

/// The code of `step` (RFC 4226 HOTP with the step as counter), zero-padded.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!("{:0width$}", binary % 1_000_000, width = DIGITS)
}

/// The step `code` is valid for at `now` (the current step, or one step
/// either side), if it is later than `last_used_step`. Spaces in the code
/// are ignored; anything but 6 digits matches nothing. Every candidate step
/// is compared, in constant time, whatever matches.
pub fn verify(
    secret: &[u8],
    code: &str,
    now: DateTime<Utc>,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut matched = None;
    for step in current - SKEW_STEPS..=current + SKEW_STEPS {
        let equal: bool = code_at(secret, step)
            .as_bytes()
            .ct_eq(code.as_bytes())
            .into();
        let fresh = last_used_step.is_none_or(|last| step > last);
        if equal && fresh && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// RFC 4648 base32 without padding: how authenticator apps take a secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app reads (as a QR code or pasted):
/// the label is `issuer:email`, both percent-encoded.
pub fn otpauth_uri(issuer: &str, email: &str, secret: &[u8]) -> String {
    let issuer = crate::config::percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        crate::config::percent_encode(email),
        base32(secret),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 seed of RFC 6238 appendix B (and RFC 4226 appendix D).
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("time")
    }

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors_truncated_to_6_digits() {
        for (time, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let step = step_at(at(time));
            assert_eq!(code_at(RFC_SECRET, step), eight_digits[2..], "T = {time}");
            assert_eq!(
                verify(RFC_SECRET, &eight_digits[2..], at(time), None),
                Some(step),
                "T = {time}"
            );
        }
    }

    #[test]
    fn rfc_4226_appendix_d_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            let counter = i64::try_from(counter).expect("small");
            assert_eq!(code_at(RFC_SECRET, counter), *code, "counter {counter}");
        }
    }

    #[test]
    fn one_step_of_skew_either_way_is_accepted_and_no_more() {
        let now = at(1_234_567_890);
        let current = step_at(now);
        for offset in [-1, 0, 1] {
            let code = code_at(RFC_SECRET, current + offset);
            assert_eq!(verify(RFC_SECRET, &code, now, None), Some(current + offset));
        }
        for offset in [-3, -2, 2, 3] {
            let code = code_at(RFC_SECRET, current + offset);
            assert_eq!(verify(RFC_SECRET, &code, now, None), None, "{offset}");
        }
    }

    #[test]
    fn a_used_step_and_every_earlier_one_are_refused() {
        let now = at(1_234_567_890);
        let current = step_at(now);
        let code = code_at(RFC_SECRET, current);
        let used = verify(RFC_SECRET, &code, now, None).expect("first use");
        assert_eq!(verify(RFC_SECRET, &code, now, Some(used)), None, "replay");
        let previous = code_at(RFC_SECRET, current - 1);
        assert_eq!(
            verify(RFC_SECRET, &previous, now, Some(used)),
            None,
            "older"
        );
        let next = code_at(RFC_SECRET, current + 1);
        assert_eq!(
            verify(RFC_SECRET, &next, now, Some(used)),
            Some(current + 1)
        );
    }

    #[test]
    fn codes_that_are_not_six_digits_or_of_another_secret_match_nothing() {
        let now = at(1_234_567_890);
        let code = code_at(RFC_SECRET, step_at(now));
        assert_eq!(
            verify(
                RFC_SECRET,
                &format!("{} {}", &code[..3], &code[3..]),
                now,
                None
            ),
            Some(step_at(now)),
            "spaces are ignored"
        );
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "８９００５９",
            &format!("{code}0"),
        ] {
            assert_eq!(verify(RFC_SECRET, bad, now, None), None, "{bad}");
        }
        let other = [7u8; SECRET_BYTES];
        let theirs = code_at(&other, step_at(now));
        assert_ne!(theirs, code);
        assert_eq!(verify(RFC_SECRET, &theirs, now, None), None);
        use secrecy::ExposeSecret;
        assert_ne!(new_secret().expose_secret(), new_secret().expose_secret());
    }

    #[test]
    fn base32_follows_rfc_4648() {
        for (input, output) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), output, "{input}");
        }
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn the_otpauth_uri_names_issuer_and_account_percent_encoded() {
        let uri = otpauth_uri("Acme Sign-in & Co", "ann+mfa@example.com", RFC_SECRET);
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Sign-in%20%26%20Co:ann%2Bmfa%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Sign-in%20%26%20Co\
             &algorithm=SHA1&digits=6&period=30"
        );
    }
}

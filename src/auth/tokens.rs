//! Opaque tokens: random, prefixed, stored only as SHA-256 digests.
//!
//! - `umv_…` email verification, `umr_…` password reset, `ume_…` email
//!   change confirmation: 256 random bits.
//! - `umt_…` refresh tokens: session id, rotation generation and 256 random
//!   bits; the id and generation find the session, and the digest of the
//!   previous token kept on it recognises a reused (already rotated) one,
//!   which revokes the whole session. A token with a known session id but
//!   a secret the server never issued is merely invalid.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Prefix of email verification tokens.
pub const VERIFY_PREFIX: &str = "umv_";
/// Prefix of password reset tokens.
pub const RESET_PREFIX: &str = "umr_";
/// Prefix of email change confirmation tokens.
pub const EMAIL_CHANGE_PREFIX: &str = "ume_";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "umt_";
/// Prefix of device tokens (clients that logged in before).
pub const DEVICE_PREFIX: &str = "umd_";

/// `n` random bytes, URL-safe base64 without padding.
pub fn random_token_string(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new one-time token with `prefix`.
pub fn new_one_time_token(prefix: &str) -> String {
    format!("{prefix}{}", random_token_string(32))
}

/// The hex SHA-256 digest under which a token is stored.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality of two digests.
pub fn digests_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The readable parts of a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshClaims {
    /// The session it belongs to.
    pub session_id: Uuid,
    /// The rotation it was issued at.
    pub generation: i32,
}

/// A new refresh token for `session_id` at `generation`.
pub fn new_refresh_token(session_id: Uuid, generation: i32) -> String {
    let mut bytes = Vec::with_capacity(52);
    bytes.extend_from_slice(session_id.as_bytes());
    bytes.extend_from_slice(&generation.to_be_bytes());
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    bytes.extend_from_slice(&secret);
    format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Reads session and generation from a refresh token; `None` if malformed.
pub fn parse_refresh_token(token: &str) -> Option<RefreshClaims> {
    let body = token.strip_prefix(REFRESH_PREFIX)?;
    let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
    if bytes.len() != 52 {
        return None;
    }
    let session_id = Uuid::from_slice(bytes.get(..16)?).ok()?;
    let generation = i32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
    Some(RefreshClaims {
        session_id,
        generation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_time_tokens_are_prefixed_and_unique() {
        let a = new_one_time_token(VERIFY_PREFIX);
        let b = new_one_time_token(VERIFY_PREFIX);
        assert!(a.starts_with("umv_"));
        assert_eq!(a.len(), 4 + 43);
        assert_ne!(a, b);
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 64);
    }

    #[test]
    fn refresh_tokens_round_trip() {
        let id = Uuid::new_v4();
        let token = new_refresh_token(id, 7);
        assert_eq!(
            parse_refresh_token(&token),
            Some(RefreshClaims {
                session_id: id,
                generation: 7
            })
        );
        assert_ne!(token, new_refresh_token(id, 7));
    }

    #[test]
    fn digests_compare() {
        assert!(digests_equal(&digest("a"), &digest("a")));
        assert!(!digests_equal(&digest("a"), &digest("b")));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = parse_refresh_token(&s);
            let _ = parse_refresh_token(&format!("umt_{s}"));
        }

        #[test]
        fn any_session_and_generation_round_trip(bytes in any::<[u8; 16]>(), generation in any::<i32>()) {
            let id = Uuid::from_bytes(bytes);
            let parsed = parse_refresh_token(&new_refresh_token(id, generation));
            prop_assert_eq!(parsed, Some(RefreshClaims { session_id: id, generation }));
        }
    }
}

//! Secrets at rest: bytes sealed with AES-256-GCM under `DATA_ENCRYPTION_KEY`.
//!
//! A sealed value is `version (1) · key id (4) · nonce (12) · ciphertext ·
//! tag (16)`. The key id names the key that sealed it, so after a rotation
//! the previous keys (`DATA_ENCRYPTION_KEY_PREVIOUS`) still open what they
//! sealed while every new seal uses the current key. The nonce is random per
//! seal. The caller's context (for example `totp:{user_id}`) is bound as
//! associated data: a value copied to another row or purpose does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use secrecy::{ExposeSecret, SecretBox};

/// The length of a data encryption key.
pub const KEY_BYTES: usize = 32;
/// The format of what [`DataKeys::seal`] writes.
const VERSION: u8 = 1;
const KEY_ID_BYTES: usize = 4;
const HEADER_BYTES: usize = 1 + KEY_ID_BYTES + NONCE_LEN;
const TAG_BYTES: usize = 16;

/// 32 key bytes, wiped when dropped.
pub type KeyBytes = SecretBox<[u8; KEY_BYTES]>;

/// Parses a key given as base64 (standard alphabet, with or without padding)
/// or as 64 hex digits; it must be exactly 32 bytes.
pub fn parse_key(text: &str) -> Result<KeyBytes, String> {
    let text = text.trim();
    let decoded = if text.len() == 2 * KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .ok()
    };
    let bytes = decoded.ok_or_else(|| "is neither base64 nor hex".to_owned())?;
    let key: [u8; KEY_BYTES] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("must be {KEY_BYTES} bytes, is {}", bytes.len()))?;
    Ok(SecretBox::new(Box::new(key)))
}

/// A new random key, as base64.
pub fn generate_key_base64() -> String {
    let mut key = [0u8; KEY_BYTES];
    fill_random(&mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

fn fill_random(buf: &mut [u8]) {
    rand::fill(buf);
}

/// Why a sealed value does not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Too short or of an unknown format version.
    #[error("not a sealed value")]
    Malformed,
    /// Sealed by a key that is neither the current nor a previous one.
    #[error("sealed by an unknown key")]
    UnknownKey,
    /// Altered, or sealed for another context.
    #[error("does not authenticate")]
    Tampered,
}

/// One key, its id and the HMAC key derived from it for keyed digests.
struct DataKey {
    id: [u8; KEY_ID_BYTES],
    key: LessSafeKey,
    digest_key: aws_lc_rs::hmac::Key,
}

impl DataKey {
    fn new(bytes: &KeyBytes) -> Self {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &[
                b"user-management data key id\0".as_slice(),
                bytes.expose_secret(),
            ]
            .concat(),
        );
        let mut id = [0u8; KEY_ID_BYTES];
        id.copy_from_slice(&digest.as_ref()[..KEY_ID_BYTES]);
        // 32 bytes is always a valid AES-256 key.
        let unbound = UnboundKey::new(&AES_256_GCM, bytes.expose_secret()).expect("32-byte key");
        let root = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, bytes.expose_secret());
        let derived = aws_lc_rs::hmac::sign(&root, b"user-management keyed digests v1");
        Self {
            id,
            key: LessSafeKey::new(unbound),
            digest_key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, derived.as_ref()),
        }
    }
}

/// The current key, which seals, and the previous ones, which only open.
pub struct DataKeys {
    current: DataKey,
    previous: Vec<DataKey>,
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeys")
            .field("current", &hex::encode(self.current.id))
            .field("previous", &self.previous.len())
            .finish()
    }
}

impl DataKeys {
    /// The keys: `current` seals; it and `previous` open.
    pub fn new(current: &KeyBytes, previous: &[KeyBytes]) -> Self {
        Self {
            current: DataKey::new(current),
            previous: previous.iter().map(DataKey::new).collect(),
        }
    }

    /// `plaintext` sealed under the current key, bound to `context`.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let mut sealed = Vec::with_capacity(HEADER_BYTES + plaintext.len() + TAG_BYTES);
        sealed.push(VERSION);
        sealed.extend_from_slice(&self.current.id);
        sealed.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        // Sealing fails only for inputs of many gigabytes.
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .expect("AES-GCM seals");
        sealed.extend_from_slice(&body);
        sealed
    }

    /// The plaintext of `sealed`, if one of the keys sealed it for `context`
    /// and nothing changed since.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < HEADER_BYTES + TAG_BYTES || sealed[0] != VERSION {
            return Err(OpenError::Malformed);
        }
        let id = &sealed[1..=KEY_ID_BYTES];
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or(OpenError::UnknownKey)?;
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1 + KEY_ID_BYTES..HEADER_BYTES])
            .map_err(|_| OpenError::Malformed)?;
        let mut body = sealed[HEADER_BYTES..].to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(context), &mut body)
            .map_err(|_| OpenError::Tampered)?;
        Ok(plain.to_vec())
    }

    /// The keyed digest (HMAC-SHA256, hex) of `message` under the current
    /// key: what to store for a value that is only ever compared.
    pub fn digest(&self, message: &[u8]) -> String {
        hex::encode(aws_lc_rs::hmac::sign(&self.current.digest_key, message))
    }

    /// The digests of `message` under every key, current first: what to
    /// look a stored digest up by, so digests stored before a rotation match.
    pub fn digests(&self, message: &[u8]) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| hex::encode(aws_lc_rs::hmac::sign(&k.digest_key, message)))
            .collect()
    }

    /// Whether `sealed` was sealed by the current key (else it is due for
    /// sealing again after a rotation).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.get(1..=KEY_ID_BYTES) == Some(self.current.id.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> KeyBytes {
        SecretBox::new(Box::new([byte; KEY_BYTES]))
    }

    #[test]
    fn a_sealed_value_opens_to_what_was_sealed() {
        let keys = DataKeys::new(&key(1), &[]);
        let sealed = keys.seal(b"totp:1", b"the secret");
        assert_eq!(sealed.len(), HEADER_BYTES + 10 + TAG_BYTES);
        assert!(!sealed.windows(10).any(|w| w == b"the secret"));
        assert_eq!(keys.open(b"totp:1", &sealed), Ok(b"the secret".to_vec()));
        assert!(keys.is_current(&sealed));
    }

    #[test]
    fn each_seal_draws_a_new_nonce() {
        let keys = DataKeys::new(&key(1), &[]);
        assert_ne!(keys.seal(b"c", b"same"), keys.seal(b"c", b"same"));
    }

    #[test]
    fn any_changed_byte_or_another_context_does_not_open() {
        let keys = DataKeys::new(&key(1), &[]);
        let sealed = keys.seal(b"totp:1", b"the secret");
        for i in HEADER_BYTES..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 0x01;
            assert_eq!(
                keys.open(b"totp:1", &altered),
                Err(OpenError::Tampered),
                "{i}"
            );
        }
        for i in 1 + KEY_ID_BYTES..HEADER_BYTES {
            let mut altered = sealed.clone();
            altered[i] ^= 0x01;
            assert_eq!(
                keys.open(b"totp:1", &altered),
                Err(OpenError::Tampered),
                "{i}"
            );
        }
        assert_eq!(keys.open(b"totp:2", &sealed), Err(OpenError::Tampered));
        assert_eq!(
            keys.open(b"totp:1", &sealed[..20]),
            Err(OpenError::Malformed)
        );
        let mut other_version = sealed.clone();
        other_version[0] = 2;
        assert_eq!(
            keys.open(b"totp:1", &other_version),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn another_key_does_not_open_it() {
        let sealed = DataKeys::new(&key(1), &[]).seal(b"c", b"secret");
        let other = DataKeys::new(&key(2), &[]);
        assert_eq!(other.open(b"c", &sealed), Err(OpenError::UnknownKey));
        let mut claimed = sealed.clone();
        claimed[1..=KEY_ID_BYTES].copy_from_slice(&other.current.id);
        assert_eq!(other.open(b"c", &claimed), Err(OpenError::Tampered));
    }

    #[test]
    fn after_a_rotation_the_previous_key_still_opens_and_new_seals_use_the_new_one() {
        let old = DataKeys::new(&key(1), &[]);
        let sealed_before = old.seal(b"c", b"secret");
        let rotated = DataKeys::new(&key(2), &[key(1)]);
        assert_eq!(rotated.open(b"c", &sealed_before), Ok(b"secret".to_vec()));
        assert!(!rotated.is_current(&sealed_before));
        let sealed_after = rotated.seal(b"c", b"secret");
        assert!(rotated.is_current(&sealed_after));
        assert_eq!(old.open(b"c", &sealed_after), Err(OpenError::UnknownKey));
    }

    #[test]
    fn digests_are_keyed_and_survive_a_rotation() {
        let old = DataKeys::new(&key(1), &[]);
        let stored = old.digest(b"user:code");
        assert_eq!(stored.len(), 64);
        assert_eq!(stored, old.digest(b"user:code"));
        assert_ne!(stored, old.digest(b"user:other"));
        assert_ne!(stored, DataKeys::new(&key(2), &[]).digest(b"user:code"));
        let rotated = DataKeys::new(&key(2), &[key(1)]);
        let candidates = rotated.digests(b"user:code");
        assert_eq!(candidates.len(), 2);
        assert_eq!(candidates[0], rotated.digest(b"user:code"));
        assert!(candidates.contains(&stored));
    }

    #[test]
    fn keys_parse_from_base64_or_hex_and_only_at_32_bytes() {
        let bytes = [7u8; KEY_BYTES];
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        for text in [
            b64.clone(),
            b64.trim_end_matches('=').to_owned(),
            hex::encode(bytes),
        ] {
            let parsed = parse_key(&format!(" {text}\n")).expect("parses");
            assert_eq!(parsed.expose_secret(), &bytes, "{text}");
        }
        let generated = parse_key(&generate_key_base64()).expect("a generated key parses");
        assert_ne!(generated.expose_secret(), &[0u8; KEY_BYTES]);
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        assert!(
            parse_key(&short)
                .expect_err("16 bytes")
                .contains("32 bytes")
        );
        assert!(parse_key("not a key!").is_err());
        assert!(parse_key("").is_err());
        let sixty_three_hex = &hex::encode(bytes)[1..];
        assert!(parse_key(sixty_three_hex).is_err());
    }
}

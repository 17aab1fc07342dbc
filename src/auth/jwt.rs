//! Access tokens: short-lived HS256 JWTs naming the user, role and session.
//! The session is checked on every request, which is what makes logout,
//! lock and role changes take effect at once.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Role;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The user's role when the token was issued.
    pub role: String,
    /// The session id.
    pub sid: Uuid,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// Issuer: the service's public base URL.
    pub iss: String,
}

/// Signing and verification keys plus the token policy.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl: Duration,
}

impl JwtKeys {
    /// Keys from the shared secret.
    pub fn new(secret: &SecretString, issuer: String, ttl: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            issuer,
            ttl,
        }
    }

    /// Access token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a token for `user_id` with `role` in session `session_id`.
    pub fn issue(&self, user_id: Uuid, role: Role, session_id: Uuid) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: user_id,
            role: role.as_str().to_owned(),
            sid: session_id,
            iat: now,
            exp: now.saturating_add(ttl),
            jti: Uuid::new_v4(),
            iss: self.issuer.clone(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature, algorithm, issuer and expiry.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(
            &SecretString::from(secret.to_owned()),
            "http://test".into(),
            Duration::from_secs(60),
        )
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify() {
        let k = keys(SECRET);
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let token = k.issue(user, Role::Authenticated, session).expect("issue");
        let claims = k.verify(&token).expect("valid");
        assert_eq!((claims.sub, claims.sid), (user, session));
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn other_secret_is_rejected() {
        let token = keys(SECRET)
            .issue(Uuid::new_v4(), Role::Admin, Uuid::new_v4())
            .expect("issue");
        assert!(
            keys("another-secret-another-secret-xx")
                .verify(&token)
                .is_none()
        );
    }

    #[test]
    fn alg_none_and_tampering_are_rejected() {
        let k = keys(SECRET);
        let token = k
            .issue(Uuid::new_v4(), Role::Authenticated, Uuid::new_v4())
            .expect("issue");
        let parts: Vec<&str> = token.split('.').collect();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(k.verify(&format!("{header}.{}.", parts[1])).is_none());
        let payload =
            String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("utf8");
        let forged = URL_SAFE_NO_PAD.encode(payload.replace("AUTHENTICATED", "ADMIN"));
        assert!(
            k.verify(&format!("{}.{forged}.{}", parts[0], parts[2]))
                .is_none()
        );
    }
}

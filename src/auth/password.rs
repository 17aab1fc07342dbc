//! Password hashing: Argon2id on a fixed pool of worker threads, so a
//! flood of logins queues for the hashing cores instead of starving the
//! async workers; bcrypt hashes imported from the original project are
//! verified and flagged for re-hashing.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::workers::Workers;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Wrong password (or an unusable stored hash).
    Mismatch,
    /// Right password, hash up to date.
    Match,
    /// Right password, but the hash is bcrypt or has older parameters: store a new one.
    MatchNeedsRehash,
}

impl Verdict {
    /// True for either kind of match.
    pub fn is_match(self) -> bool {
        !matches!(self, Verdict::Mismatch)
    }
}

/// Hashes and verifies passwords off the async workers, at most `threads` at a time.
#[derive(Clone)]
pub struct PasswordHashing {
    inner: Arc<Inner>,
    workers: Workers,
}

struct Inner {
    params: Params,
    /// `$argon2id$v=19$m=..,t=..,p=..$`: a hash with another prefix needs re-hashing.
    current_prefix: String,
    /// Verified against when the user does not exist, so timing says nothing.
    dummy_hash: String,
}

impl PasswordHashing {
    /// A pool of `threads` hashing slots using Argon2id with `params`.
    pub fn new(params: Params, threads: usize) -> anyhow::Result<Self> {
        let current_prefix = format!(
            "$argon2id$v=19$m={},t={},p={}$",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        );
        let dummy_hash = hash_blocking(
            &params,
            crate::auth::tokens::random_token_string(16).as_bytes(),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                current_prefix,
                dummy_hash,
            }),
            workers: Workers::new("argon2", threads)?,
        })
    }

    /// The production parameters: m = 19 MiB, t = 2, p = 1 (OWASP's Argon2id baseline),
    /// one slot per core.
    pub fn with_defaults() -> anyhow::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(Params::DEFAULT, threads)
    }

    /// Requests waiting for a hashing slot (a metric).
    pub fn queue_depth(&self) -> usize {
        self.workers.queue_depth()
    }

    async fn run<T: Send + 'static>(
        &self,
        op: &'static str,
        job: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let depth = self.workers.queue_depth();
        let inner = Arc::clone(&self.inner);
        let (result, took) = self
            .workers
            .run(move || {
                let started = std::time::Instant::now();
                let result = job(&inner);
                (result, started.elapsed())
            })
            .await?;
        crate::metrics::hashing(op, took.as_secs_f64(), depth);
        Ok(result)
    }

    /// A new Argon2id PHC string for `password`.
    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        self.run("hash", move |inner| {
            hash_blocking(&inner.params, password.expose_secret().as_bytes())
        })
        .await?
    }

    /// Checks `password` against `stored` (Argon2 or bcrypt PHC string).
    pub async fn verify(&self, password: SecretString, stored: String) -> anyhow::Result<Verdict> {
        self.run("verify", move |inner| {
            verify_blocking(inner, password.expose_secret(), &stored)
        })
        .await
    }

    /// Spends the time of a verification on a hash nobody has, so an unknown
    /// account answers as slowly as a wrong password.
    pub async fn verify_dummy(&self, password: SecretString) -> anyhow::Result<()> {
        self.run("verify", move |inner| {
            let _ = verify_blocking(inner, password.expose_secret(), &inner.dummy_hash);
        })
        .await
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> anyhow::Result<String> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

fn verify_blocking(inner: &Inner, password: &str, stored: &str) -> Verdict {
    if is_bcrypt(stored) {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verdict::MatchNeedsRehash,
            _ => Verdict::Mismatch,
        };
    }
    // Parameters come from the stored string, so older hashes still verify.
    let argon = Argon2::default();
    match argon.verify_password(password.as_bytes(), stored) {
        Ok(()) if stored.starts_with(&inner.current_prefix) => Verdict::Match,
        Ok(()) => Verdict::MatchNeedsRehash,
        Err(_) => Verdict::Mismatch,
    }
}

/// True for the bcrypt variants the original project stores.
pub fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// True for a hash this service can verify (used by imports).
pub fn is_supported_hash(hash: &str) -> bool {
    is_bcrypt(hash) || hash.starts_with("$argon2")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHashing {
        let params = Params::new(1024, 1, 1, None).expect("valid params");
        PasswordHashing::new(params, 2).expect("pool")
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let pool = cheap();
        let hash = pool.hash(secret("correct horse")).await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert_eq!(
            pool.verify(secret("correct horse"), hash.clone())
                .await
                .expect("verify"),
            Verdict::Match
        );
        assert_eq!(
            pool.verify(secret("wrong horse"), hash)
                .await
                .expect("verify"),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn older_parameters_need_rehash() {
        let old = cheap();
        let hash = old.hash(secret("pw-one-two")).await.expect("hash");
        let new =
            PasswordHashing::new(Params::new(2048, 1, 1, None).expect("params"), 1).expect("pool");
        assert_eq!(
            new.verify(secret("pw-one-two"), hash)
                .await
                .expect("verify"),
            Verdict::MatchNeedsRehash
        );
    }

    #[tokio::test]
    async fn bcrypt_hashes_verify_and_need_rehash() {
        let pool = cheap();
        let hash = bcrypt::hash("legacy-pass", 4).expect("bcrypt");
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let variant = format!("{prefix}{}", &hash[4..]);
            assert_eq!(
                pool.verify(secret("legacy-pass"), variant.clone())
                    .await
                    .expect("verify"),
                Verdict::MatchNeedsRehash
            );
            assert_eq!(
                pool.verify(secret("other"), variant).await.expect("verify"),
                Verdict::Mismatch
            );
        }
    }

    #[tokio::test]
    async fn garbage_hash_is_a_mismatch() {
        let pool = cheap();
        assert_eq!(
            pool.verify(secret("x"), "not a hash".into())
                .await
                .expect("verify"),
            Verdict::Mismatch
        );
        pool.verify_dummy(secret("x")).await.expect("dummy");
    }
}

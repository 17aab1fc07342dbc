//! Password hashing: Argon2id on a fixed pool of worker threads, so a
//! flood of logins queues for the hashing cores instead of starving the
//! async workers; bcrypt hashes imported from the original project are
//! verified and flagged for re-hashing.

use std::sync::Arc;

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

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
        // Computed once with a one-off allocation: this thread is not a
        // worker, and its memory should not stay reserved.
        let dummy_hash = {
            use argon2::PasswordHasher;
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
                .hash_password(crate::auth::tokens::random_token_string(16).as_bytes())
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?
                .to_string()
        };
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

thread_local! {
    /// This worker thread's Argon2 memory, reused by every job it runs:
    /// allocating and freeing 19 MiB per login fragments the heap, and RSS
    /// grows by hundreds of MiB under load.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with at least `blocks` Argon2 blocks of this thread's memory.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        f(&mut memory[..blocks])
    })
}

fn hash_blocking(params: &Params, password: &[u8]) -> anyhow::Result<String> {
    let fail = |e: &dyn std::fmt::Display| anyhow::anyhow!("argon2 hashing failed: {e}");
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_memory(params.m_cost() as usize, |memory| {
        argon.hash_password_into_with_memory(password, &salt, &mut output, memory)
    })
    .map_err(|e| fail(&e))?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| fail(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| fail(&e))?),
        hash: Some(Output::new(&output).map_err(|e| fail(&e))?),
    };
    Ok(hash.to_string())
}

fn verify_blocking(inner: &Inner, password: &str, stored: &str) -> Verdict {
    if is_bcrypt(stored) {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verdict::MatchNeedsRehash,
            _ => Verdict::Mismatch,
        };
    }
    match verify_argon2(password.as_bytes(), stored) {
        Some(true) if stored.starts_with(&inner.current_prefix) => Verdict::Match,
        Some(true) => Verdict::MatchNeedsRehash,
        Some(false) => Verdict::Mismatch,
        None => {
            // No usable hash (an account without a password, such as
            // [`NO_PASSWORD`]): spend a verification all the same, so the
            // answer takes as long as any wrong password.
            let _ = verify_argon2(password.as_bytes(), &inner.dummy_hash);
            Verdict::Mismatch
        }
    }
}

/// Recomputes an Argon2 PHC hash with its own parameters (so older hashes
/// still verify) in this thread's memory, and compares in constant time.
/// `None` when the stored string is not a usable Argon2 hash.
fn verify_argon2(password: &[u8], stored: &str) -> Option<bool> {
    let parsed = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).ok()?;
    let salt = parsed.salt?;
    let expected = parsed.hash?;
    let mut output = vec![0u8; expected.as_bytes().len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    with_memory(params.m_cost() as usize, |memory| {
        argon.hash_password_into_with_memory(password, &salt, &mut output, memory)
    })
    .ok()?;
    Some(bool::from(output.ct_eq(expected.as_bytes())))
}

/// True for the bcrypt variants the original project stores.
pub fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// True for a hash this service can verify (used by imports).
pub fn is_supported_hash(hash: &str) -> bool {
    is_bcrypt(hash) || hash.starts_with("$argon2")
}

/// The stored hash of an account without a usable password (imported
/// without one): no password verifies against it, in the time of a wrong
/// password, and the owner sets one with a password reset.
pub const NO_PASSWORD: &str = "!no-password";

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

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
    async fn hashes_are_interchangeable_with_the_argon2_crate() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let pool = cheap();
        let ours = pool.hash(secret("interop-pass")).await.expect("hash");
        let params = Params::new(1024, 1, 1, None).expect("params");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        assert!(
            argon
                .verify_password(b"interop-pass", ours.as_str())
                .is_ok(),
            "the crate verifies ours"
        );
        assert!(argon.verify_password(b"other", ours.as_str()).is_err());
        let theirs = argon
            .hash_password(b"interop-pass")
            .expect("hash")
            .to_string();
        assert_eq!(
            pool.verify(secret("interop-pass"), theirs.clone())
                .await
                .expect("verify"),
            Verdict::Match,
            "we verify the crate's"
        );
        assert_eq!(
            pool.verify(secret("nope"), theirs).await.expect("verify"),
            Verdict::Mismatch
        );
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

    #[tokio::test]
    async fn no_password_verifies_against_the_marker() {
        let pool = cheap();
        assert!(!is_supported_hash(NO_PASSWORD), "imports refuse the marker");
        for password in ["", NO_PASSWORD, "!", "any password at all"] {
            assert_eq!(
                pool.verify(secret(password), NO_PASSWORD.into())
                    .await
                    .expect("verify"),
                Verdict::Mismatch,
                "{password:?}"
            );
        }
    }

    /// The quickest of five runs of `verify(password, stored)`.
    async fn quickest(pool: &PasswordHashing, password: &str, stored: &str) -> Duration {
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            pool.verify(secret(password), stored.to_owned())
                .await
                .expect("verify");
            best = best.min(started.elapsed());
        }
        best
    }

    #[tokio::test]
    async fn an_unusable_hash_takes_as_long_as_a_wrong_password() {
        let params = Params::new(8 * 1024, 2, 1, None).expect("valid params");
        let pool = PasswordHashing::new(params, 1).expect("pool");
        let real = pool.hash(secret("the real one")).await.expect("hash");
        let wrong = quickest(&pool, "a wrong one", &real).await;
        for stored in [NO_PASSWORD, "", "$argon2id$garbage"] {
            let unusable = quickest(&pool, "a wrong one", stored).await;
            assert!(
                unusable * 2 >= wrong,
                "{stored:?}: {unusable:?} against {wrong:?} for a wrong password"
            );
        }
    }
}

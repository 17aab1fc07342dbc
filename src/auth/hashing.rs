//! Password hashing: Argon2id on a fixed pool of worker threads, so a
//! flood of logins queues for the hashing cores instead of starving the
//! async workers; bcrypt hashes imported from the original project are
//! wrapped in Argon2id at import ([`WRAPPED_BCRYPT`]), verified, and
//! flagged for re-hashing.
//!
//! Equal time for every failure: a legacy hash (bcrypt, wrapped or not)
//! costs its bcrypt rounds on top of Argon2id, so an imported account
//! would answer a wrong password far slower than an unknown address. The
//! pool keeps a running average of legacy verifications and answers every
//! failed verification (a dummy one included) no sooner than that.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// Running average of legacy verifications, in nanoseconds (0: none yet).
    legacy_nanos: AtomicU64,
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
                legacy_nanos: AtomicU64::new(0),
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
        Ok(self.run_timed(op, job).await?.0)
    }

    /// As [`Self::run`], with the time the job took on its worker.
    async fn run_timed<T: Send + 'static>(
        &self,
        op: &'static str,
        job: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> anyhow::Result<(T, Duration)> {
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
        Ok((result, took))
    }

    /// A new Argon2id PHC string for `password`.
    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        self.run("hash", move |inner| {
            hash_blocking(&inner.params, password.expose_secret().as_bytes())
        })
        .await?
    }

    /// Checks `password` against `stored` (Argon2, wrapped bcrypt or bcrypt
    /// PHC string). A mismatch is answered no sooner than a legacy
    /// verification takes on average.
    pub async fn verify(&self, password: SecretString, stored: String) -> anyhow::Result<Verdict> {
        let legacy = is_legacy(&stored);
        let (verdict, took) = self
            .run_timed("verify", move |inner| {
                verify_blocking(inner, password.expose_secret(), &stored)
            })
            .await?;
        if legacy {
            self.inner.observe_legacy(took);
        }
        if verdict == Verdict::Mismatch {
            self.pad(took).await;
        }
        Ok(verdict)
    }

    /// Spends the time of a failed verification on a hash nobody has, so an
    /// unknown account answers as slowly as a wrong password.
    pub async fn verify_dummy(&self, password: SecretString) -> anyhow::Result<()> {
        let ((), took) = self
            .run_timed("verify", move |inner| {
                let _ = verify_blocking(inner, password.expose_secret(), &inner.dummy_hash);
            })
            .await?;
        self.pad(took).await;
        Ok(())
    }

    /// The time every failed verification takes at least: the running
    /// average of legacy verifications (zero until one was seen).
    pub fn failure_floor(&self) -> Duration {
        Duration::from_nanos(self.inner.legacy_nanos.load(Ordering::Relaxed))
    }

    /// Waits (without holding a hashing slot) until a verification that
    /// took `took` on its worker has taken [`Self::failure_floor`].
    async fn pad(&self, took: Duration) {
        let floor = self.failure_floor();
        if took < floor {
            tokio::time::sleep(floor - took).await;
        }
    }

    /// Teaches the pool what a legacy verification costs before one is
    /// asked for, so the first failures after a start are padded too.
    pub async fn calibrate(&self, legacy_hash: String) -> anyhow::Result<()> {
        if !is_legacy(&legacy_hash) {
            return Ok(());
        }
        let probe = crate::auth::tokens::random_token_string(16);
        self.verify(SecretString::from(probe), legacy_hash).await?;
        Ok(())
    }

    /// `bcrypt_hash` (as imported) wrapped in Argon2id with this pool's
    /// parameters: [`WRAPPED_BCRYPT`], the bcrypt cost and salt, and the
    /// Argon2id PHC string of the bcrypt hash. The same passwords verify.
    pub async fn wrap_bcrypt(&self, bcrypt_hash: String) -> anyhow::Result<String> {
        self.run("hash", move |inner| {
            wrap_blocking(&inner.params, &bcrypt_hash)
        })
        .await?
    }
}

impl Inner {
    /// Folds one legacy verification into the running average (1/8 weight).
    fn observe_legacy(&self, took: Duration) {
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .legacy_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    took
                } else {
                    old - old / 8 + took / 8
                })
            });
    }
}

thread_local! {
    /// This worker thread's Argon2 memory, reused by every job it runs:
    /// allocating and freeing 19 MiB per login fragments the heap, and RSS
    /// grows by hundreds of MiB under load. It never grows past the pool's
    /// own `m_cost`.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `blocks` Argon2 blocks: this thread's reused memory when
/// `blocks` is at most `kept` (the pool's own `m_cost`); otherwise (an older
/// or imported hash with more memory) a one-off buffer, freed afterwards,
/// so one such hash does not leave the thread holding its memory.
fn with_memory<T>(blocks: usize, kept: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    if blocks > kept {
        let mut once = vec![Block::default(); blocks];
        return f(&mut once);
    }
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        f(&mut memory[..blocks])
    })
}

/// Blocks of Argon2 memory this thread keeps for reuse (for tests).
#[cfg(test)]
fn kept_blocks() -> usize {
    MEMORY.with(|memory| memory.borrow().len())
}

fn hash_blocking(params: &Params, password: &[u8]) -> anyhow::Result<String> {
    let fail = |e: &dyn std::fmt::Display| anyhow::anyhow!("argon2 hashing failed: {e}");
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let blocks = params.m_cost() as usize;
    with_memory(blocks, blocks, |memory| {
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
    let kept = inner.params.m_cost() as usize;
    if is_bcrypt(stored) {
        let cost = stored.parse::<bcrypt::HashParts>().map(|p| p.get_cost());
        if cost.is_ok_and(|cost| cost > MAX_BCRYPT_COST) {
            let _ = verify_argon2(password.as_bytes(), &inner.dummy_hash, kept);
            return Verdict::Mismatch;
        }
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verdict::MatchNeedsRehash,
            _ => Verdict::Mismatch,
        };
    }
    if let Some(wrapped) = Wrapped::parse(stored) {
        return match wrapped.verify(password, kept) {
            Some(true) => Verdict::MatchNeedsRehash,
            _ => Verdict::Mismatch,
        };
    }
    match verify_argon2(password.as_bytes(), stored, kept) {
        Some(true) if stored.starts_with(&inner.current_prefix) => Verdict::Match,
        Some(true) => Verdict::MatchNeedsRehash,
        Some(false) => Verdict::Mismatch,
        None => {
            // No usable hash (an account without a password, such as
            // [`NO_PASSWORD`]): spend a verification all the same, so the
            // answer takes as long as any wrong password.
            let _ = verify_argon2(password.as_bytes(), &inner.dummy_hash, kept);
            Verdict::Mismatch
        }
    }
}

/// Recomputes an Argon2 PHC hash with its own parameters (so older hashes
/// still verify) in this thread's memory (a one-off buffer above `kept`
/// blocks), and compares in constant time. `None` when the stored string
/// is not a usable Argon2 hash, or its parameters exceed [`MAX_ARGON2`].
fn verify_argon2(password: &[u8], stored: &str, kept: usize) -> Option<bool> {
    let parsed = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).ok()?;
    if !MAX_ARGON2.allows(&params) {
        return None;
    }
    let salt = parsed.salt?;
    let expected = parsed.hash?;
    let mut output = vec![0u8; expected.as_bytes().len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    with_memory(params.m_cost() as usize, kept, |memory| {
        argon.hash_password_into_with_memory(password, &salt, &mut output, memory)
    })
    .ok()?;
    Some(bool::from(output.ct_eq(expected.as_bytes())))
}

/// The prefix of an imported bcrypt hash wrapped in Argon2id:
/// `$bcrypt-argon2id$2b$CC$SALT` (the bcrypt cost and 22-character salt),
/// then the Argon2id PHC string of the whole bcrypt hash (`$2b$` form).
/// Verifying computes bcrypt, then Argon2id; the stored value alone gives
/// an attacker no bcrypt hash to attack.
pub const WRAPPED_BCRYPT: &str = "$bcrypt-argon2id$";

/// A parsed [`WRAPPED_BCRYPT`] hash.
struct Wrapped<'a> {
    cost: u32,
    salt: &'a str,
    argon2: &'a str,
}

impl<'a> Wrapped<'a> {
    fn parse(stored: &'a str) -> Option<Self> {
        let rest = stored.strip_prefix(WRAPPED_BCRYPT)?.strip_prefix("2b$")?;
        let (cost, rest) = rest.split_once('$')?;
        let cost = cost.parse().ok()?;
        let salt = rest.get(..22)?;
        let argon2 = rest.get(22..)?;
        argon2
            .starts_with("$argon2")
            .then_some(Self { cost, salt, argon2 })
    }

    /// `None` when the hash is unusable.
    fn verify(&self, password: &str, kept: usize) -> Option<bool> {
        use base64::Engine;
        if self.cost > MAX_BCRYPT_COST {
            return None;
        }
        let salt: [u8; 16] = bcrypt::BASE_64.decode(self.salt).ok()?.try_into().ok()?;
        let inner = bcrypt::hash_with_salt(password, self.cost, salt).ok()?;
        let bcrypt_hash = inner.format_for_version(bcrypt::Version::TwoB);
        verify_argon2(bcrypt_hash.as_bytes(), self.argon2, kept)
    }
}

fn wrap_blocking(params: &Params, bcrypt_hash: &str) -> anyhow::Result<String> {
    let parts: bcrypt::HashParts = bcrypt_hash
        .parse()
        .map_err(|e| anyhow::anyhow!("not a bcrypt hash: {e}"))?;
    let normalised = parts.format_for_version(bcrypt::Version::TwoB);
    let argon2 = hash_blocking(params, normalised.as_bytes())?;
    Ok(format!(
        "{WRAPPED_BCRYPT}2b${:02}${}{argon2}",
        parts.get_cost(),
        parts.get_salt()
    ))
}

/// True for the bcrypt variants the original project stores.
pub fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// True for a hash that costs bcrypt rounds to verify (plain or wrapped).
pub fn is_legacy(hash: &str) -> bool {
    is_bcrypt(hash) || hash.starts_with(WRAPPED_BCRYPT)
}

/// True for a hash this service can verify (used by imports and exports).
pub fn is_supported_hash(hash: &str) -> bool {
    is_legacy(hash) || hash.starts_with("$argon2")
}

/// The largest Argon2 parameters an imported hash may have, and a stored
/// one may have to be verified: m = 64 MiB, t = 10, p = 4 (above RFC
/// 9106's second recommended setting, m = 64 MiB, t = 3, p = 4). Larger
/// ones would let one login hold gigabytes or a hashing slot for minutes.
pub const MAX_ARGON2: Argon2Cap = Argon2Cap {
    m_cost: 64 * 1024,
    t_cost: 10,
    p_cost: 4,
};

/// The largest bcrypt cost an imported hash may have (2^14 rounds: about
/// a second on one core); the original project used 12.
pub const MAX_BCRYPT_COST: u32 = 14;

/// Upper bounds of Argon2 parameters.
#[derive(Debug, Clone, Copy)]
pub struct Argon2Cap {
    /// Memory, KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Argon2Cap {
    fn allows(&self, params: &Params) -> bool {
        params.m_cost() <= self.m_cost
            && params.t_cost() <= self.t_cost
            && params.p_cost() <= self.p_cost
    }
}

/// Why an imported hash is refused, if it is: not a hash this service can
/// verify, or parameters above [`MAX_ARGON2`] or [`MAX_BCRYPT_COST`].
pub fn check_imported(hash: &str) -> Result<(), String> {
    let argon2 = if let Some(wrapped) = Wrapped::parse(hash) {
        check_bcrypt_cost(wrapped.cost)?;
        wrapped.argon2
    } else if is_bcrypt(hash) {
        let parts: bcrypt::HashParts = hash
            .parse()
            .map_err(|_| "is not a valid bcrypt hash".to_owned())?;
        return check_bcrypt_cost(parts.get_cost());
    } else if hash.starts_with("$argon2") {
        hash
    } else {
        return Err("must be empty or an Argon2 or bcrypt ($2a$/$2b$/$2y$) hash".into());
    };
    let params = PasswordHash::new(argon2)
        .ok()
        .and_then(|parsed| Params::try_from(&parsed).ok())
        .ok_or_else(|| "is not a valid Argon2 hash".to_owned())?;
    if MAX_ARGON2.allows(&params) {
        return Ok(());
    }
    let cap = MAX_ARGON2;
    Err(format!(
        "Argon2 parameters m={},t={},p={} exceed the limit m={},t={},p={}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        cap.m_cost,
        cap.t_cost,
        cap.p_cost
    ))
}

fn check_bcrypt_cost(cost: u32) -> Result<(), String> {
    if cost <= MAX_BCRYPT_COST {
        return Ok(());
    }
    Err(format!(
        "bcrypt cost {cost} exceeds the limit of {MAX_BCRYPT_COST}"
    ))
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

    #[tokio::test]
    async fn imported_bcrypt_is_wrapped_in_argon2id_and_still_verifies() {
        let pool = cheap();
        let bcrypt_hash = bcrypt::hash("legacy-pass", 4).expect("bcrypt");
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let variant = format!("{prefix}{}", &bcrypt_hash[4..]);
            let wrapped = pool.wrap_bcrypt(variant).await.expect("wrap");
            assert!(wrapped.starts_with("$bcrypt-argon2id$2b$04$"), "{wrapped}");
            assert!(
                wrapped.contains("$argon2id$v=19$m=1024,t=1,p=1$"),
                "{wrapped}"
            );
            assert!(
                !wrapped.contains(&bcrypt_hash[29..]),
                "the bcrypt output is not stored"
            );
            assert!(is_supported_hash(&wrapped) && is_legacy(&wrapped));
            assert_eq!(
                check_imported(&wrapped),
                Ok(()),
                "a wrapped hash re-imports"
            );
            assert_eq!(
                pool.verify(secret("legacy-pass"), wrapped.clone())
                    .await
                    .expect("verify"),
                Verdict::MatchNeedsRehash,
                "the original password verifies, and is upgraded at login"
            );
            assert_eq!(
                pool.verify(secret("legacy-pasS"), wrapped)
                    .await
                    .expect("verify"),
                Verdict::Mismatch
            );
        }
    }

    /// The median of nine runs of `f`.
    async fn median<F: std::future::Future<Output = ()>>(mut f: impl FnMut() -> F) -> Duration {
        let mut times = Vec::new();
        for _ in 0..9 {
            let started = Instant::now();
            f().await;
            times.push(started.elapsed());
        }
        times.sort();
        times[4]
    }

    #[tokio::test]
    async fn every_failure_takes_as_long_as_a_legacy_one() {
        let pool = cheap();
        let wrapped = pool
            .wrap_bcrypt(bcrypt::hash("legacy-pass", 8).expect("bcrypt"))
            .await
            .expect("wrap");
        let native = pool.hash(secret("native-pass")).await.expect("hash");
        assert_eq!(
            pool.failure_floor(),
            Duration::ZERO,
            "no legacy hash seen yet"
        );

        pool.calibrate(wrapped.clone()).await.expect("calibrate");

        let floor = pool.failure_floor();
        assert!(floor > Duration::ZERO);
        let legacy = median(|| async {
            pool.verify(secret("wrong"), wrapped.clone())
                .await
                .expect("verify");
        })
        .await;
        let unknown = median(|| async {
            pool.verify_dummy(secret("wrong")).await.expect("dummy");
        })
        .await;
        let wrong = median(|| async {
            pool.verify(secret("wrong"), native.clone())
                .await
                .expect("verify");
        })
        .await;
        for (what, took) in [("unknown", unknown), ("native", wrong)] {
            assert!(
                took * 10 >= legacy * 8,
                "{what}: {took:?} against {legacy:?} for an imported account"
            );
        }
        let right = pool
            .verify(secret("native-pass"), native)
            .await
            .expect("verify");
        assert_eq!(right, Verdict::Match, "padding changes no verdict");
    }

    #[tokio::test]
    async fn imported_parameters_are_capped() {
        let argon2 = |m: u32, t: u32, p: u32| {
            format!(
                "$argon2id$v=19$m={m},t={t},p={p}$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
            )
        };
        assert_eq!(check_imported(&argon2(65536, 10, 4)), Ok(()));
        assert_eq!(check_imported(&argon2(19456, 2, 1)), Ok(()));
        for (m, t, p) in [
            (65537, 2, 1),
            (19456, 11, 1),
            (19456, 2, 5),
            (4_194_304, 1, 1),
        ] {
            let refused = check_imported(&argon2(m, t, p)).expect_err("refused");
            assert!(
                refused.contains(&format!("m={m},t={t},p={p}"))
                    && refused.contains("limit m=65536,t=10,p=4"),
                "{refused}"
            );
        }
        let bcrypt_hash = bcrypt::hash("x", 4).expect("bcrypt");
        assert_eq!(check_imported(&bcrypt_hash), Ok(()));
        let costly = bcrypt_hash.replacen("$04$", "$15$", 1);
        assert!(check_imported(&costly).expect_err("refused").contains("15"));
        assert!(check_imported("$argon2id$garbage").is_err());
        assert!(check_imported("plain text").is_err());

        let pool = cheap();
        let slow = Params::new(64, 11, 1, None).expect("params");
        let over = Argon2::new(Algorithm::Argon2id, Version::V0x13, slow);
        let stored = {
            use argon2::PasswordHasher;
            over.hash_password(b"right").expect("hash").to_string()
        };
        assert_eq!(
            pool.verify(secret("right"), stored).await.expect("verify"),
            Verdict::Mismatch,
            "a stored hash above the cap is not computed"
        );
    }

    #[tokio::test]
    async fn memory_above_the_pool_size_is_freed_after_use() {
        let params = Params::new(1024, 1, 1, None).expect("valid params");
        let pool = PasswordHashing::new(params, 1).expect("one worker");
        let larger = Params::new(8 * 1024, 1, 1, None).expect("params");
        let stored = {
            use argon2::PasswordHasher;
            Argon2::new(Algorithm::Argon2id, Version::V0x13, larger)
                .hash_password(b"older-pass")
                .expect("hash")
                .to_string()
        };
        let own = pool.hash(secret("own")).await.expect("hash");
        pool.verify(secret("own"), own).await.expect("verify");
        let before = pool.run("test", |_| kept_blocks()).await.expect("run");
        assert_eq!(before, 1024, "the pool's own size is kept for reuse");

        let verdict = pool
            .verify(secret("older-pass"), stored)
            .await
            .expect("verify");

        assert_eq!(verdict, Verdict::MatchNeedsRehash);
        let after = pool.run("test", |_| kept_blocks()).await.expect("run");
        assert_eq!(after, 1024, "the 8 MiB buffer was freed, not kept");
    }
}

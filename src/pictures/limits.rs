//! What an upload may cost: a process-wide budget of memory for decoding
//! (counted in MiB, from what each image's header says it will need) and a
//! per-user number of uploads per hour.
//!
//! Both live in this process: behind a load balancer each instance has its
//! own budget and counts its own uploads (see the deployment guide).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::error::AppError;

/// One MiB, the unit of the decode budget.
const MIB: u64 = 1 << 20;

/// The memory all decodes in progress may hold together. An upload takes
/// its share once its body is read and its header parsed, waits at most
/// `wait` for it (then 503), and gives it back when its pipeline is done.
#[derive(Clone)]
pub struct DecodeBudget {
    permits: Arc<Semaphore>,
    mib: u32,
    wait: Duration,
}

/// A share of the decode budget, given back when dropped.
#[derive(Debug)]
pub struct Share(#[expect(dead_code, reason = "held for its drop")] OwnedSemaphorePermit);

impl DecodeBudget {
    /// A budget of `mib` MiB (at least 1); an upload waits at most `wait`.
    pub fn new(mib: u32, wait: Duration) -> Self {
        let mib = mib.max(1);
        Self {
            permits: Arc::new(Semaphore::new(mib as usize)),
            mib,
            wait,
        }
    }

    /// The whole budget, in MiB.
    pub fn mib(&self) -> u32 {
        self.mib
    }

    /// MiB not taken right now.
    pub fn available_mib(&self) -> usize {
        self.permits.available_permits()
    }

    /// `bytes` in whole MiB, rounded up.
    pub fn mib_of(bytes: u64) -> u64 {
        bytes.div_ceil(MIB)
    }

    /// Takes `bytes` of the budget, waiting in line for at most the
    /// configured time. More than the whole budget is a 422 on `file`
    /// (it could never fit); no share in time is a 503.
    pub async fn take(&self, bytes: u64) -> Result<Share, AppError> {
        let needed = Self::mib_of(bytes);
        let Some(needed) = u32::try_from(needed).ok().filter(|n| *n <= self.mib) else {
            return Err(AppError::field(
                "file",
                format!(
                    "decoding this image needs {needed} MiB; at most {} MiB are accepted",
                    self.mib
                ),
            ));
        };
        let acquire = Arc::clone(&self.permits).acquire_many_owned(needed);
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Ok(Share(permit)),
            Ok(Err(closed)) => Err(AppError::Internal(closed.into())),
            Err(_) => Err(AppError::Unavailable(
                "the server is busy with other pictures; try again shortly".into(),
            )),
        }
    }

    /// Takes `mib` MiB at once, without waiting (tests hold the budget full).
    pub fn try_take_mib(&self, mib: u32) -> Option<Share> {
        Arc::clone(&self.permits)
            .try_acquire_many_owned(mib)
            .ok()
            .map(Share)
    }
}

/// The window the upload limit counts in.
pub const UPLOAD_WINDOW: Duration = Duration::from_secs(3600);

/// At most `limit` uploads per user in any `window`: the times of each
/// user's last uploads, kept while they are in the window.
#[derive(Clone)]
pub struct UploadLimit {
    limit: usize,
    window: Duration,
    recent: Arc<Mutex<HashMap<Uuid, VecDeque<Instant>>>>,
}

impl UploadLimit {
    /// `limit` uploads per `window` per user; 0 disables.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit as usize,
            window,
            recent: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Counts an upload by `user` at `now`, or `Err(seconds to wait)` (at
    /// least 1) when they already made `limit` in the last window.
    pub fn check_at(&self, user: Uuid, now: Instant) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let Ok(mut recent) = self.recent.lock() else {
            return Ok(());
        };
        let times = recent.entry(user).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.limit {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = (oldest + self.window).saturating_duration_since(now);
            return Err((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1));
        }
        times.push_back(now);
        Ok(())
    }

    /// As [`UploadLimit::check_at`], now; a refusal is a 429 with `Retry-After`.
    pub fn check(&self, user: Uuid) -> Result<(), AppError> {
        self.check_at(user, Instant::now())
            .map_err(AppError::RateLimited)
    }

    /// Forgets users with no upload in the window, so memory stays bounded.
    pub fn forget_idle(&self) {
        let now = Instant::now();
        if let Ok(mut recent) = self.recent.lock() {
            recent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < self.window)
            });
        }
    }

    /// Runs `forget_idle` every minute until the process ends.
    pub fn spawn_janitor(&self) {
        if self.limit == 0 {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                this.forget_idle();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_per_user_over_a_sliding_window() {
        let limit = UploadLimit::new(2, Duration::from_secs(100));
        let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let start = Instant::now();
        let at = |s| start + Duration::from_secs(s);
        assert!(limit.check_at(ada, at(0)).is_ok());
        assert!(limit.check_at(ada, at(30)).is_ok());
        assert_eq!(
            limit.check_at(ada, at(40)),
            Err(60),
            "until the first leaves"
        );
        assert!(
            limit.check_at(bob, at(40)).is_ok(),
            "each user has their own"
        );
        assert!(limit.check_at(ada, at(100)).is_ok(), "the first left");
        assert_eq!(limit.check_at(ada, at(101)), Err(29));
        assert!(
            UploadLimit::new(0, UPLOAD_WINDOW)
                .check_at(ada, at(0))
                .is_ok()
        );
    }

    #[test]
    fn idle_users_are_forgotten() {
        let limit = UploadLimit::new(1, Duration::from_millis(1));
        let past = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .expect("a second ago");
        assert!(limit.check_at(Uuid::new_v4(), past).is_ok());
        limit.forget_idle();
        assert!(limit.recent.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn the_budget_is_shared_and_bounded() {
        let budget = DecodeBudget::new(10, Duration::from_millis(50));
        let first = budget.take(6 * MIB).await.expect("fits");
        assert_eq!(budget.available_mib(), 4);
        let busy = budget.take(5 * MIB).await.expect_err("waits, then 503");
        assert!(matches!(busy, AppError::Unavailable(_)), "{busy:?}");
        drop(first);
        let again = budget
            .take(5 * MIB + 1)
            .await
            .expect("fits once given back");
        assert_eq!(budget.available_mib(), 4, "rounded up to whole MiB");
        drop(again);
        let never = budget
            .take(11 * MIB)
            .await
            .expect_err("over the whole budget");
        assert!(matches!(never, AppError::Validation(_)), "{never:?}");
        assert_eq!(budget.available_mib(), 10);
    }
}

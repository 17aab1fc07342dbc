//! A fixed pool of blocking worker threads for CPU-heavy jobs (password
//! hashing, image processing), off the async workers.
//!
//! Fixed, long-lived threads rather than tokio's elastic blocking pool:
//! each job allocates large buffers (Argon2id uses 19 MiB), and the C
//! allocator keeps freed memory per thread, so a pool that grows to dozens
//! of threads under load keeps dozens of those buffers. With N threads the
//! memory held is bounded by N jobs' worth.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool of `threads` workers sharing one queue.
#[derive(Clone)]
pub struct Workers {
    sender: Arc<Mutex<mpsc::Sender<Job>>>,
    queued: Arc<AtomicUsize>,
}

/// The pool is gone (its threads stopped): a bug or a shutdown.
#[derive(Debug, thiserror::Error)]
#[error("the worker pool has stopped")]
pub struct Stopped;

impl Workers {
    /// Starts `threads` workers named `{name}-{i}`.
    pub fn new(name: &str, threads: usize) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        for i in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let queued = Arc::clone(&queued);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        queued.fetch_sub(1, Ordering::Relaxed);
                        job();
                    }
                })?;
        }
        Ok(Self {
            sender: Arc::new(Mutex::new(sender)),
            queued,
        })
    }

    /// One worker per core (at low scheduling priority, see `lower_priority`).
    pub fn per_core(name: &str) -> std::io::Result<Self> {
        Self::new(name, Self::cores())
    }

    /// The cores this process may use.
    pub fn cores() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    /// Jobs waiting for a worker.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Runs `job` on a worker and waits for its result without blocking
    /// the async runtime.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Stopped> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(job());
        });
        self.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.sender.lock().map_err(|_| Stopped)?.send(job);
        if sent.is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Stopped);
        }
        result.await.map_err(|_| Stopped)
    }
}

/// Puts the calling thread in the batch class at the lowest priority, so a
/// request thread that wakes up preempts it: a flood of logins keeps the
/// cores busy without delaying `GET /me`. Best effort: where the OS refuses,
/// the thread keeps its priority.
fn lower_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
    if let Err(err) =
        set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy)
    {
        tracing::debug!(error = ?err, "worker thread keeps its priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_pool_and_return() {
        let pool = Workers::new("test", 2).expect("pool");
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .expect("ran");
        assert!(name.is_some_and(|n| n.starts_with("test-")));
        let sums = futures_join(&pool).await;
        assert_eq!(sums, (0..20).map(|i| i * 2).collect::<Vec<u64>>());
        assert_eq!(pool.queue_depth(), 0);
    }

    async fn futures_join(pool: &Workers) -> Vec<u64> {
        let mut handles = Vec::new();
        for i in 0..20u64 {
            let pool = pool.clone();
            handles.push(tokio::spawn(async move {
                pool.run(move || i * 2).await.expect("ran")
            }));
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.expect("joined"));
        }
        out
    }
}

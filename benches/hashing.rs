//! Argon2id with the production parameters, through the production pool
//! (`PasswordHashing::with_defaults()`: m=19 MiB, t=2, p=1, one slot per core).
//!
//! `cargo bench --bench hashing`: single-call latency of `hash` and `verify`,
//! and the throughput of a burst of one verify per slot (all cores busy),
//! reported by criterion as elements per second. `bench/run.sh` takes its
//! login/register ceiling from `benches/ceilings.rs`, which measures the same
//! thing as a sustained rate.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;
use user_management::auth::hashing::PasswordHashing;

fn secret() -> SecretString {
    SecretString::from("bench-password-0123".to_owned())
}

fn argon2id(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hashing = PasswordHashing::with_defaults().expect("pool");
    let stored = rt.block_on(hashing.hash(secret())).expect("hash");
    let cores = support::cores();

    let mut group = c.benchmark_group("argon2id");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("hash", |b| {
        b.iter(|| rt.block_on(hashing.hash(secret())).expect("hash"));
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            rt.block_on(hashing.verify(secret(), stored.clone()))
                .expect("verify")
        });
    });
    group.throughput(Throughput::Elements(cores as u64));
    group.bench_function(format!("verify_x{cores}_parallel"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let calls: Vec<_> = (0..cores)
                    .map(|_| {
                        let (hashing, stored) = (hashing.clone(), stored.clone());
                        tokio::spawn(async move { hashing.verify(secret(), stored).await })
                    })
                    .collect();
                for call in calls {
                    call.await.expect("task").expect("verify");
                }
            });
        });
    });
    group.finish();
}

criterion_group!(benches, argon2id);
criterion_main!(benches);

//! The profile-picture pipeline alone (`pictures::pipeline::process`: sniff,
//! decode, orient, centre-crop, resize to 512×512, JPEG encode) on a
//! photo-like 2000×1500 JPEG.
//!
//! `cargo bench --bench pictures`: single-call latency, and a burst of one
//! call per core (elements per second). `bench/run.sh` takes its sustained
//! all-cores rate from `benches/ceilings.rs`.

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use user_management::pictures::pipeline;

fn pipeline(c: &mut Criterion) {
    let jpeg = Arc::new(support::sample_jpeg(
        support::PHOTO_WIDTH,
        support::PHOTO_HEIGHT,
    ));
    let cores = support::cores();
    let mut group = c.benchmark_group("pictures");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(1));
    group.bench_function("process_2000x1500_jpeg", |b| {
        b.iter(|| pipeline::process(black_box(&jpeg)).expect("process"));
    });
    group.throughput(Throughput::Elements(cores as u64));
    group.bench_function(format!("process_x{cores}_parallel"), |b| {
        b.iter(|| {
            let threads: Vec<_> = (0..cores)
                .map(|_| {
                    let jpeg = Arc::clone(&jpeg);
                    std::thread::spawn(move || pipeline::process(&jpeg).expect("process"))
                })
                .collect();
            for thread in threads {
                black_box(thread.join().expect("thread"));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);

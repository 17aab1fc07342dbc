//! Shared by the benches: a photo-like test JPEG and a timed all-cores loop.

#![allow(dead_code, reason = "each bench uses part of this module")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Width and height of the upload used by the picture scenario and ceilings.
pub const PHOTO_WIDTH: u32 = 2000;
/// See [`PHOTO_WIDTH`].
pub const PHOTO_HEIGHT: u32 = 1500;

/// A deterministic photo-like JPEG (smooth gradients, shapes and sensor-like
/// noise, quality 90): it compresses like a camera picture, not like a flat
/// test card, so decoding costs what a real upload costs.
pub fn sample_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut state: u32 = 0x9E37_79B9;
    let mut noise = move || {
        // xorshift32: deterministic, no extra crate.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 25) as i32 - 12
    };
    let (w, h) = (width as f32, height as f32);
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / w, y as f32 / h);
        let dx = fx - 0.55;
        let dy = fy - 0.45;
        let disc = if dx * dx + dy * dy < 0.06 { 70.0 } else { 0.0 };
        let stripes = ((fx * 40.0).sin() * (fy * 25.0).cos()) * 25.0;
        let base = [
            60.0 + 150.0 * fx + disc + stripes,
            90.0 + 100.0 * fy - disc * 0.5 + stripes,
            180.0 - 120.0 * fx * fy + disc * 0.3,
        ];
        let px = base.map(|c| (c as i32 + noise()).clamp(0, 255) as u8);
        image::Rgb(px)
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(&image)
        .expect("encode the sample JPEG");
    bytes
}

/// Runs `work` on `threads` threads for `duration` (after `warmup`) and
/// returns completed operations per second.
pub fn rate_on_threads(
    threads: usize,
    warmup: Duration,
    duration: Duration,
    work: impl Fn() + Send + Sync + 'static,
) -> f64 {
    let work = Arc::new(work);
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (work, stop, counting, done) = (
                Arc::clone(&work),
                Arc::clone(&stop),
                Arc::clone(&counting),
                Arc::clone(&done),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    work();
                    // Operations completed inside the window count (steady state).
                    if counting.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(warmup);
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for handle in handles {
        handle.join().expect("bench thread");
    }
    done.load(Ordering::Relaxed) as f64 / elapsed
}

/// Cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

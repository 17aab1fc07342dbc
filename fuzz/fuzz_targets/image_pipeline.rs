//! Any bytes through the upload pipeline: an answer (image or refusal), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use user_management::pictures::pipeline;

fuzz_target!(|data: &[u8]| {
    if let Ok(picture) = pipeline::process(data) {
        assert!(picture.extension == "jpg" || picture.extension == "png");
        assert_eq!(picture.digest.len(), 16);
    }
});

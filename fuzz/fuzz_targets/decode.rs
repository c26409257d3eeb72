//! Page files: the probe (format, frames, size, resolution) and the decoder of every
//! frame, as `mailroom run` calls them on each input file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mailroom::ingest::{self, Candidate, Limits};

/// The probe reads a file: one scratch file per fuzzing process (in memory where
/// /dev/shm exists).
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = PathBuf::from("/dev/shm");
        let dir = if dir.is_dir() {
            dir
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("mailroom-fuzz-decode-{}", std::process::id()))
    })
}

/// PDF input runs lopdf under `catch_unwind` and turns its panics into a refusal (a
/// hostile PDF must not end the batch). libFuzzer's panic hook would abort on those
/// caught panics too; a quiet hook lets them be caught as in a real run. A panic nobody
/// catches still aborts: libfuzzer-sys catches it around each input and aborts.
fn quiet_caught_panics() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| std::panic::set_hook(Box::new(|_| {})));
}

fuzz_target!(|data: &[u8]| {
    quiet_caught_panics();
    // Small pages only: the limits are what keeps real runs from decompression bombs,
    // and they must hold for any size (16 MP here, 150 MP by default).
    let limits = Limits {
        max_pixels: 16_000_000,
        assume_dpi: 300,
    };
    let path = scratch();
    std::fs::write(path, data).expect("scratch file");
    let candidate = Candidate::file(path.clone(), "fuzz");
    let Ok(src) = ingest::probe(&candidate, limits) else {
        return;
    };
    assert!(!src.frames.is_empty(), "a probed file has pages");
    for (i, frame) in src.frames.iter().enumerate().take(8) {
        assert!(u64::from(frame.width) * u64::from(frame.height) <= limits.max_pixels);
        if let Ok(pixels) = ingest::decode_frame_bytes(data, src.format, i, limits) {
            // the pipeline compares the decoded size with the header's; both must be sane
            assert!(
                u64::from(pixels.width()) * u64::from(pixels.height())
                    <= limits.max_pixels.saturating_mul(4)
            );
            let _ = pixels.sha256();
            let _ = pixels.to_gray();
        }
    }
});

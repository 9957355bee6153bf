//! Fuzz target: arbitrary bytes through the scenario loader (and, when they
//! load, a bounded run). The promises it checks are in
//! `distlab::scenario::fuzz::load_any`, shared with the stable test
//! `tests/fuzz_loader.rs`. Run it as `fuzz/README.md` says.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The loader refuses files over its limit before parsing; so do we,
    // so the fuzzer spends its time on inputs a file could hold.
    if data.len() as u64 <= distlab::scenario::limits::FILE_BYTES {
        distlab::scenario::fuzz::load_any(&distlab::protocols::registry(), data);
    }
});

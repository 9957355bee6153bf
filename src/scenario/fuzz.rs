//! What the scenario loader promises on any input, as one function for
//! fuzzers: the `cargo fuzz` target in `fuzz/` (nightly, coverage-guided)
//! and the stable test `tests/fuzz_loader.rs` (seeded mutations of the
//! lessons and the hostile corpus, run by `cargo test`) both call
//! [`load_any`], so they check the same things.

use super::{Registry, RunOptions, ScenarioError, limits, load_str};
use crate::sim::{Fault, TraceLevel};
use crate::util::is_unsafe_char;

/// How many events of a run that loads are stepped (stepping, unlike
/// running to the scenario's end, is bounded whatever the file says).
pub const STEPS: usize = 2_000;

/// The longest an error may render: the message and the help are clipped
/// to [`super::error::MESSAGE_CHARS`] characters each and the snippet to a
/// window of its line, each character at most ten bytes once escaped.
pub const ERROR_BYTES: usize = 16 * 1024;

/// Loads arbitrary bytes as a scenario (naming a protocol of `registry`)
/// and checks what the loader promises, panicking (so the fuzzer reports it) when a promise is
/// broken:
///
/// - it returns, without a panic;
/// - an error points inside the text (`line:column` of a real character)
///   and renders to at most [`ERROR_BYTES`] with no control character but
///   line breaks;
/// - a loaded scenario respects the documented limits, holds printable
///   text only (line breaks and tabs in prose), and its run can be built
///   and stepped [`STEPS`] events without a panic.
pub fn load_any(registry: &Registry, data: &[u8]) {
    // Text that is not UTF-8 is refused by `read_source` before the
    // loader; feed the loader the text a lossy reading gives.
    let text = String::from_utf8_lossy(data);
    match load_str(registry, "fuzz.toml", &text) {
        Err(e) => check_error(&text, &e),
        Ok(s) => {
            assert!(s.cluster.len() <= limits::NODES);
            let processes: u32 = s.clients.iter().map(|c| c.processes).sum();
            assert!(processes <= limits::CLIENT_PROCESSES);
            assert!(s.clients.iter().map(|c| c.ops).sum::<u64>() <= limits::OPS);
            assert!(s.cluster.regions.len() <= limits::REGIONS);
            assert!(s.duration.0 <= limits::DURATION_US && s.duration.0 > 0);
            assert_printable(&s.name, false, "the name");
            assert_printable(&s.description, true, "the description");
            for f in &s.timeline {
                if let Fault::Note { text, .. } = &f.fault {
                    assert_printable(text, true, "a note");
                }
                if let Fault::Partition(groups) = &f.fault {
                    assert!(groups.iter().all(|g| !g.is_empty()) && groups.len() <= u16::MAX as usize);
                }
            }
            for name in
                s.cluster.names.iter().chain(&s.cluster.regions).chain(s.clients.iter().map(|c| &c.name))
            {
                assert_printable(name, false, "a name");
            }
            let options = RunOptions { trace: TraceLevel::Digest, ..RunOptions::default() };
            let mut run = s.protocol.build(&s, options);
            for _ in 0..STEPS {
                if run.step().is_none() {
                    break;
                }
            }
            let _ = run.report();
        }
    }
}

fn check_error(text: &str, e: &ScenarioError) {
    let shown = e.to_string();
    assert!(shown.len() <= ERROR_BYTES, "an error of {} bytes", shown.len());
    assert_printable(&shown, true, "an error");
    assert!(!shown.contains('\t'), "a tab in an error: {shown:?}");
    if e.line > 0 {
        let lines = text.split('\n').count();
        assert!(e.line <= lines, "line {} of {lines}: {shown}", e.line);
        let line = text.split('\n').nth(e.line - 1).unwrap_or_default();
        assert!(e.column >= 1 && e.column <= line.chars().count() + 1, "column {} of {line:?}", e.column);
    }
}

fn assert_printable(text: &str, prose: bool, what: &str) {
    let bad = text.chars().find(|&c| is_unsafe_char(c) && !(prose && (c == '\n' || c == '\t')));
    assert!(bad.is_none(), "{what} holds {bad:?}: {text:?}");
}

//! The scenario loader's fuzz target, run on stable by `cargo test`: seeded
//! mutations of every lesson and every hostile file, fed to the same
//! function as the `cargo fuzz` target in `fuzz/`
//! ([`distlab::scenario::fuzz::load_any`]), which panics when the loader
//! breaks a promise (a panic of its own, an error pointing outside the
//! text, an unbounded or unescaped error, a limit not kept, a run that
//! cannot be built or stepped).
//!
//! Deterministic: a fixed seed and a fixed number of cases, so a failure
//! reproduces; the failing input is written to `target/tmp/` and its
//! bytes are printed. `DISTLAB_FUZZ_CASES=100000 cargo test --release
//! --test fuzz_loader` runs longer by hand. The coverage-guided target
//! (nightly) is in `fuzz/README.md`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Mutated inputs per `cargo test` (a few seconds in a debug build).
const CASES: usize = 3_000;

/// TOML fragments and values that reach the loader's corners.
const TOKENS: &[&str] = &[
    "[scenario]",
    "[cluster]",
    "[network]",
    "[protocol]",
    "[[clients]]",
    "[[timeline]]",
    "[nemesis]",
    "[[expect]]",
    "[[network.region_latency]]",
    "[cluster.node.n1]",
    "\n",
    "=",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "#",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "0",
    "-1",
    "1e308",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "\"0\"",
    "\"1us\"",
    "\"24h\"",
    "\"-5ms\"",
    "\"n1\"",
    "\"c1\"",
    "\"\\u001b[2J\"",
    "\"\\u009b\"",
    "\"\\u202e\"",
    "true",
    "[]",
    "[[]]",
    "nodes = 64",
    "processes = 1024",
    "ops = 10000000",
    "regions = { a = [\"n1\"] }",
    "partition = [[\"n1\"], []]",
    "latency = \"0\"",
    "duplicate = 1.0",
    "protocol = \"echo\"",
    "protocol = \"quorum\"",
    "protocol = \"saga\"",
    "protocol = \"two-phase-commit\"",
    "protocol = \"multi-master\"",
    "\"\"\"",
    "\\",
    "\r\n",
    "\u{1b}",
    "\u{0}",
    "é",
    "\u{feff}",
];

/// Values put in place of a `key = value` line's value: the syntax stays
/// valid, so the loader's checks (not only the TOML parser) are reached.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "64",
    "65",
    "1024",
    "1025",
    "10000000",
    "10000001",
    "9223372036854775807",
    "-9223372036854775808",
    "0.0",
    "0.5",
    "1.0",
    "1.5",
    "-0.0",
    "nan",
    "inf",
    "-inf",
    "1e-300",
    "true",
    "false",
    "\"\"",
    "\"0\"",
    "\"1us\"",
    "\"0.5us\"",
    "\"1ms\"",
    "\"24h\"",
    "\"25h\"",
    "\"-1s\"",
    "\"n1\"",
    "\"n2\"",
    "\"n9\"",
    "\"c1\"",
    "\"primary\"",
    "\"random\"",
    "\"\\u001b[2J\"",
    "[]",
    "[[]]",
    "[\"n1\"]",
    "[[\"n1\"], [\"n2\", \"n3\"]]",
    "[[\"n1\", \"n2\", \"n3\"], []]",
    "{}",
    "{ node = \"n1\", offset = \"-1h\" }",
    "{ from = \"n1\", to = \"n1\" }",
    "\"log-normal\"",
    "\"exponential\"",
    "\"echo\"",
    "\"quorum\"",
    "\"saga\"",
    "\"two-phase-commit\"",
    "\"multi-master\"",
];

/// A small, portable, seeded generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Every `.toml` under a folder of the repository.
fn files_under(dir: &str) -> Vec<PathBuf> {
    distlab::scenario::library::scenario_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
}

/// The seeds: the lessons, the regression scenarios and the hostile corpus.
fn seeds() -> Vec<Vec<u8>> {
    let mut files = files_under("scenarios");
    files.extend(files_under("tests/regressions"));
    files.extend(files_under("tests/hostile"));
    files.iter().map(|f| std::fs::read(f).expect("a seed file")).collect()
}

/// One input: a seed with one to eight mutations.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    // Mostly few mutations, sometimes many.
    let mutations = if rng.below(2) == 0 { 1 } else { 1 + rng.below(8) };
    for _ in 0..mutations {
        let at = rng.below(data.len() + 1);
        match rng.below(10) {
            7..=9 => {
                // Replace the value of one `key = value` line.
                let text = String::from_utf8_lossy(&data).into_owned();
                let lines: Vec<&str> = text.split('\n').collect();
                let with_value: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
                if with_value.is_empty() {
                    continue;
                }
                let i = with_value[rng.below(with_value.len())];
                let key = lines[i].split(" = ").next().unwrap_or_default();
                let line = format!("{key} = {}", VALUES[rng.below(VALUES.len())]);
                let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                out[i] = line;
                data = out.join("\n").into_bytes();
            }
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 => {
                let end = (at + rng.below(64)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(256)).min(data.len());
                let chunk = data[at..end].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, chunk);
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let end = (from + rng.below(512)).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
            5 => data.truncate(at),
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                data.splice(at..at, token.iter().copied());
            }
        }
    }
    data
}

/// Seeded mutations of the lessons and the hostile corpus never break the
/// loader's promises ([`distlab::scenario::fuzz::load_any`]); the
/// unmutated seeds are fed too.
#[test]
fn mutated_scenarios_keep_the_loaders_promises() {
    let seeds = seeds();
    assert!(seeds.len() > 50, "{} seeds", seeds.len());
    let cases = std::env::var("DISTLAB_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(CASES);
    let mut rng = Rng(0x0005_eed0_fd15_71ab);
    let inputs = seeds.iter().cloned().chain((0..cases).map(|_| mutate(&mut rng, &seeds)));
    let registry = distlab::protocols::registry();
    for (i, data) in inputs.enumerate() {
        if let Err(panic) =
            catch_unwind(AssertUnwindSafe(|| distlab::scenario::fuzz::load_any(&registry, &data)))
        {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-loader-case-{i}.toml"));
            let _ = std::fs::write(&out, &data);
            panic!(
                "case {i} broke a promise: {why}\ninput saved to {}:\n{}",
                out.display(),
                String::from_utf8_lossy(&data)
            );
        }
    }
}

//! One slice of a sweep, written for `distlab merge`: `distlab sweep
//! --shard I/N --out DIR` runs every N-th (configuration, seed) run of the
//! grid starting at the I-th, and writes `DIR/shard-I-of-N.json`.
//!
//! The aggregates (`summary.csv`, `latency.csv`, `gauges.csv`, the
//! charts) are computed from every run's raw results — a percentile over
//! all seeds' latencies cannot be merged from per-shard percentiles — so a
//! shard keeps each run's raw results, exactly: its operation counts,
//! checks, metrics, the latency of every ok operation, and its gauge
//! samples. Decimals are written as the shortest text that reads back to
//! the same `f64` (`0.1`, `NaN`), because a JSON reader may round a number
//! by one unit in the last place, and the merged files must be the bytes
//! one unsharded sweep writes.
//!
//! A shard also records the sweep it belongs to ([`Spec`]: the scenario's
//! text, the `--vary` arguments, the seeds, the gauge samples, the charts
//! asked for, the budget and distlab's version) and its fingerprint (a
//! hash of that record), so `merge` refuses to mix shards of different
//! sweeps, and needs nothing but the shard files: not the scenario file,
//! nor the command line.

use super::{Config, RunResult};
use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::cli::check::Shard;

/// What a shard file says it is: the first thing `merge` reads.
pub const FORMAT: &str = "distlab sweep shard, version 1";

/// Everything that decides a sweep's runs and files: two shards belong
/// to one sweep when their specs are equal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The version of distlab that ran it: another version may simulate
    /// differently.
    pub distlab: String,
    /// The scenario file's text.
    pub source: String,
    /// Each `--vary` argument, as given.
    pub vary: Vec<String>,
    /// `--seeds`, half-open.
    pub seeds: [u64; 2],
    pub samples: u32,
    /// `--plot`, as given.
    pub plot: Vec<String>,
    pub no_png: bool,
    pub skip_invalid: bool,
    /// `--max-events`, `--max-events-per-instant`, `--max-pending`.
    pub budget: [u64; 3],
}

impl Spec {
    /// A hash of the spec (XXH3-64 of its canonical JSON), in hex.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).expect("a spec is plain data");
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&json))
    }

    /// The first thing that differs from `other`, in words.
    pub fn difference(&self, other: &Spec) -> String {
        let pairs = [
            ("distlab version", self.distlab.clone(), other.distlab.clone()),
            ("--vary", self.vary.join(" "), other.vary.join(" ")),
            (
                "--seeds",
                format!("{}..{}", self.seeds[0], self.seeds[1]),
                format!("{}..{}", other.seeds[0], other.seeds[1]),
            ),
            ("--samples", self.samples.to_string(), other.samples.to_string()),
            ("--plot", self.plot.join(" "), other.plot.join(" ")),
            ("--no-png", self.no_png.to_string(), other.no_png.to_string()),
            ("--skip-invalid", self.skip_invalid.to_string(), other.skip_invalid.to_string()),
            ("the budget (--max-*)", format!("{:?}", self.budget), format!("{:?}", other.budget)),
        ];
        for (what, a, b) in pairs {
            if a != b {
                return format!("{what} `{a}` against `{b}`");
            }
        }
        if self.source != other.source {
            let line = self.source.lines().zip(other.source.lines()).position(|(a, b)| a != b);
            return match line {
                Some(i) => format!("the scenario files differ at line {}", i + 1),
                None => "the scenario files differ in length".to_string(),
            };
        }
        "nothing".to_string()
    }
}

/// A shard file.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardFile {
    pub format: String,
    /// [`Spec::fingerprint`] of `sweep`.
    pub fingerprint: String,
    /// This shard: `[I, N]`.
    pub shard: [u64; 2],
    /// The scenario file as the sweep named it (for messages and the
    /// loader's errors).
    pub file: String,
    pub sweep: Spec,
    /// The shard's runs, in (configuration, seed) order.
    pub runs: Vec<RunRecord>,
}

/// One run's raw results.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunRecord {
    /// The configuration's index in the grid (the first key varying
    /// slowest), as `runs.csv`'s `config` column.
    pub config: usize,
    pub seed: u64,
    /// Operations invoked, ok, failed, indeterminate.
    pub ops: [u64; 4],
    pub checks: Vec<(String, bool)>,
    pub metrics: BTreeMap<String, Exact>,
    /// Latency of each ok operation, in µs.
    pub latencies_us: Vec<u64>,
    /// Gauge → (sample index, value).
    pub gauges: BTreeMap<String, Vec<(u32, Exact)>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
}

/// An `f64` written as the shortest text that reads back to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exact(pub f64);

impl Serialize for Exact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:?}", self.0))
    }
}

impl<'de> Deserialize<'de> for Exact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse::<f64>()
            .map(Exact)
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a number")))
    }
}

impl RunRecord {
    pub fn new(config: usize, seed: u64, r: &RunResult) -> RunRecord {
        RunRecord {
            config,
            seed,
            ops: r.ops,
            checks: r.checks.clone(),
            metrics: r.metrics.iter().map(|(k, &v)| (k.clone(), Exact(v))).collect(),
            latencies_us: r.latencies_us.clone(),
            gauges: r
                .gauges
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(|&(i, x)| (i, Exact(x))).collect()))
                .collect(),
            panic: r.panic.clone(),
            halted: r.halted.clone(),
        }
    }

    pub fn into_result(self) -> RunResult {
        RunResult {
            ops: self.ops,
            checks: self.checks,
            metrics: self.metrics.into_iter().map(|(k, v)| (k, v.0)).collect(),
            latencies_us: self.latencies_us,
            gauges: self
                .gauges
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().map(|(i, x)| (i, x.0)).collect()))
                .collect(),
            panic: self.panic,
            halted: self.halted,
        }
    }
}

/// The runs of shard I of N, as positions in the sweep's (configuration,
/// seed) order: I-1, I-1+N, I-1+2N, ... (every shard gets some of every
/// configuration, whatever the configurations cost).
pub fn positions(total: usize, shard: Shard) -> impl Iterator<Item = usize> {
    (shard.index as usize - 1..total).step_by(shard.of as usize)
}

/// `shard-2-of-8.json`.
pub fn file_name(shard: Shard) -> String {
    format!("shard-{}-of-{}.json", shard.index, shard.of)
}

/// Writes a shard file into `out`: aside first (`.shard-I-of-N.json.part`),
/// then renamed, so a shard killed while writing (a batch job's time
/// limit) leaves no half shard for `merge` to find.
pub fn write(out: &Path, file: &ShardFile) -> anyhow::Result<PathBuf> {
    let shard = Shard { index: file.shard[0], of: file.shard[1] };
    let path = out.join(file_name(shard));
    let part = out.join(format!(".{}.part", file_name(shard)));
    let f = std::fs::File::create(&part).with_context(|| format!("writing {}", part.display()))?;
    let mut w = std::io::BufWriter::new(f);
    serde_json::to_writer(&mut w, file).with_context(|| format!("writing {}", part.display()))?;
    std::io::Write::flush(&mut w).with_context(|| format!("writing {}", part.display()))?;
    drop(w);
    std::fs::rename(&part, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Reads a shard file, checking that it is one.
pub fn read(path: &Path) -> anyhow::Result<ShardFile> {
    let name = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("{name}: cannot read it"))?;
    /// Only the format: the rest is skipped unread.
    #[derive(Deserialize)]
    struct Header {
        format: Option<String>,
    }
    let header: Header = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{name}:{}:{}: not a JSON object: {e}", e.line(), e.column()))?;
    if header.format.as_deref() != Some(FORMAT) {
        bail!(
            "{name}: not a sweep shard (its `format` is not \"{FORMAT}\"); write one with `distlab sweep --shard I/N`"
        );
    }
    let file: ShardFile =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{name}: a damaged sweep shard: {e}"))?;
    let [index, of] = file.shard;
    if of == 0 || index == 0 || index > of {
        bail!("{name}: a damaged sweep shard: it says it is shard {index}/{of}");
    }
    if file.fingerprint != file.sweep.fingerprint() {
        bail!("{name}: a damaged sweep shard: its fingerprint does not match the sweep it records");
    }
    Ok(file)
}

/// The shard files a `merge` argument names: a file, or every
/// `shard-I-of-N.json` in a folder (in name order).
pub fn find(arg: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !arg.is_dir() {
        if !arg.exists() {
            bail!("{}: no such file or folder", arg.display());
        }
        return Ok(vec![arg.to_path_buf()]);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(arg)
        .with_context(|| format!("reading {}", arg.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.strip_prefix("shard-")
                    .and_then(|n| n.strip_suffix(".json"))
                    .is_some_and(|n| n.contains("-of-"))
            })
        })
        .collect();
    found.sort();
    if found.is_empty() {
        bail!(
            "{}: holds no sweep shard (shard-I-of-N.json, written by `distlab sweep --shard I/N --out {}`)",
            arg.display(),
            arg.display()
        );
    }
    Ok(found)
}

/// Shards of one sweep put back together: every run's result, in the
/// sweep's (configuration, seed) order.
pub struct Merged {
    pub spec: Spec,
    pub of: u64,
    pub results: Vec<RunResult>,
}

/// Checks that `shards` are every shard of one sweep, once each, and
/// puts their runs in order; `configs` and `seeds` are the sweep's grid,
/// rebuilt from the spec.
pub fn assemble(
    shards: Vec<(PathBuf, ShardFile)>,
    configs: &[Config],
    seeds: &[u64],
) -> anyhow::Result<Merged> {
    let (first_path, first) = shards.first().map(|(p, f)| (p.clone(), f)).expect("at least one shard");
    let of = first.shard[1];
    let mut by_index: BTreeMap<u64, &Path> = BTreeMap::new();
    for (path, f) in &shards {
        if f.fingerprint != first.fingerprint {
            bail!(
                "{} and {} are shards of different sweeps (fingerprints {} and {}): {}",
                first_path.display(),
                path.display(),
                first.fingerprint,
                f.fingerprint,
                first.sweep.difference(&f.sweep)
            );
        }
        if f.shard[1] != of {
            bail!(
                "{} is shard {}/{} but {} is shard {}/{}: the sweep was split two ways",
                first_path.display(),
                first.shard[0],
                of,
                path.display(),
                f.shard[0],
                f.shard[1]
            );
        }
        if let Some(other) = by_index.insert(f.shard[0], path) {
            bail!("shard {}/{of} is given twice: {} and {}", f.shard[0], other.display(), path.display());
        }
    }
    let missing: Vec<String> =
        (1..=of).filter(|i| !by_index.contains_key(i)).map(|i| format!("{i}/{of}")).collect();
    if !missing.is_empty() {
        let have: Vec<String> = by_index.keys().map(|i| format!("{i}/{of}")).collect();
        bail!(
            "missing shard{} {} of sweep {} (have {})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            first.fingerprint,
            have.join(", ")
        );
    }
    let spec = first.sweep.clone();
    let total = configs.len() * seeds.len();
    let mut results: Vec<Option<RunResult>> = (0..total).map(|_| None).collect();
    for (path, f) in shards {
        let shard = Shard { index: f.shard[0], of };
        let expected: Vec<usize> = positions(total, shard).collect();
        if f.runs.len() != expected.len() {
            bail!(
                "{}: shard {}/{of} holds {} runs where the sweep gives it {}: a damaged shard",
                path.display(),
                shard.index,
                f.runs.len(),
                expected.len()
            );
        }
        for (run, pos) in f.runs.into_iter().zip(expected) {
            let (c, s) = (pos / seeds.len(), seeds[pos % seeds.len()]);
            if (run.config, run.seed) != (c, s) {
                bail!(
                    "{}: shard {}/{of} holds configuration {} seed {} where the sweep gives it configuration {c} seed {s}: a damaged shard",
                    path.display(),
                    shard.index,
                    run.config,
                    run.seed
                );
            }
            results[pos] = Some(run.into_result());
        }
    }
    let results = results.into_iter().map(|r| r.expect("every position filled")).collect();
    Ok(Merged { spec, of, results })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decimals read back to the same bits, the awkward ones included
    /// (a JSON number may be read back one unit in the last place off).
    #[test]
    fn decimals_read_back_exactly() {
        let awkward = [
            0.1 + 0.2,
            1.0 / 3.0,
            -0.0,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            123456.789012345,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for x in awkward {
            let text = serde_json::to_string(&Exact(x)).unwrap();
            let back: Exact = serde_json::from_str(&text).unwrap();
            assert_eq!(back.0.to_bits(), x.to_bits(), "{x:?} written as {text}");
        }
        assert!(
            serde_json::from_str::<Exact>("\"one\"")
                .unwrap_err()
                .to_string()
                .contains("`one` is not a number")
        );
    }

    /// The N shards of a sweep hold every run once.
    #[test]
    fn shards_cover_the_runs_once() {
        for (total, of) in [(16, 3), (12, 12), (5, 2), (1, 1)] {
            let mut all: Vec<usize> =
                (1..=of).flat_map(|index| positions(total, Shard { index, of })).collect();
            all.sort();
            assert_eq!(all, (0..total).collect::<Vec<_>>(), "{total} runs in {of} shards");
        }
        assert_eq!(positions(10, Shard { index: 2, of: 4 }).collect::<Vec<_>>(), [1, 5, 9]);
        assert_eq!(positions(3, Shard { index: 4, of: 4 }).count(), 0, "more shards than runs");
    }

    /// Two specs that differ say where.
    #[test]
    fn a_difference_is_named() {
        let a = Spec {
            distlab: "0.1.0".into(),
            source: "[scenario]\nname = \"a\"\n".into(),
            vary: vec!["protocol.r=1..3".into()],
            seeds: [0, 20],
            samples: 100,
            plot: vec![],
            no_png: false,
            skip_invalid: false,
            budget: [1, 2, 3],
        };
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.source = "[scenario]\nname = \"b\"\n".into();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.difference(&b), "the scenario files differ at line 2");
        b.vary = vec!["protocol.r=1..2".into()];
        assert_eq!(a.difference(&b), "--vary `protocol.r=1..3` against `protocol.r=1..2`");
    }
}

//! `distlab sweep FILE --vary KEY=VALUES ... --out DIR`: run a scenario over
//! a grid of parameter values and many seeds, and draw the trade-offs.
//!
//! Every configuration of the grid is the scenario file with the varied
//! values written in ([`grid`]), validated before anything runs. Each
//! (configuration, seed) is one run with tracing off, on every core; the
//! gauges (replication lag, participants in doubt, messages in flight) are
//! sampled at evenly spaced times. Results are gathered in (configuration,
//! seed) order, so the files do not depend on `--jobs`:
//!
//! - `runs.csv`: one row per run: the values, the seed, the client
//!   operations, every check (1 held, 0 broke) and every metric;
//! - `summary.csv`: one row per configuration: checks as the fraction of
//!   seeds they held in, metrics as the mean over seeds, client latency
//!   percentiles over all seeds' operations;
//! - `latency.csv`: each configuration's latency distribution (percentiles
//!   0 to 100);
//! - `gauges.csv`: each gauge over time, mean and max over seeds;
//! - charts, as SVG and PNG: `latency-cdf`, one per metric (mean over seeds
//!   against the first varied key, a line per combination of the others),
//!   and one per gauge against time with the timeline's faults marked.
//!
//! Every run has the budget of `--max-events` and its siblings (see
//! [`distlab::sim::budget`]). A run that exceeds it (a configuration that
//! livelocks at one instant, say `network.latency=0`) is left out of the
//! figures, like a run that panicked; its row in `runs.csv` is empty. The
//! sweep writes its files, lists those runs, and exits with status 2: the
//! grid asked for something the simulator cannot run.
//!
//! `--shard I/N` runs one slice of the runs and writes their raw results
//! instead ([`shard`]); `distlab merge` (`super::merge`) puts every
//! shard's results back in order and writes the same files, byte for
//! byte, as the sweep run in one go.

pub mod grid;
pub mod shard;

use super::Outcome;
use super::check::{Seeds, Shard, parse_seeds, parse_shard};
use super::run::{ok_latencies_us, run_sampled, sample_time};
use anyhow::{Context as _, bail};
use distlab::check::report::unit_of;
use distlab::plot::{self, Chart, Figure, Formats, Legend, Marker, Series};
use distlab::protocols::{ProtocolEntry, RunOptions};
use distlab::scenario::Scenario;
use distlab::sim::{Fault, TraceLevel};
use distlab::util::{count, fmt_num};
use grid::{Vary, parse_vary};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab sweep quorum/nrw-tradeoff --vary protocol.w=1,2,3 --out sweep-w
  distlab sweep primary-replica/replication-modes --vary protocol.mode=async,semi-sync,sync --vary protocol.ship_interval=100ms,- --skip-invalid -j 2 --out modes")]
pub struct Args {
    /// A scenario file, or a lesson name such as `quorum/weak-quorum`.
    pub file: PathBuf,
    /// A key of the file and the values to give it: `protocol.w=1,2,3`,
    /// `protocol.r=1..3` (both ends included), `network.drop=0..0.1/0.05`,
    /// `nodes.n1.clock_offset=0ms..200ms/50ms`, `protocol.mode=async,sync`.
    /// Repeat for a grid; the first is the charts' x axis.
    #[arg(long = "vary", value_name = "KEY=VALUES", required = true, value_parser = parse_vary)]
    pub vary: Vec<Vary>,
    /// The seeds of every configuration: `A..B` (B excluded) or `A..=B`.
    #[arg(long, default_value = "0..20", value_parser = parse_seeds)]
    pub seeds: Seeds,
    /// Worker threads (default: every core).
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// Run only slice I of N (1-based) of the sweep's (configuration,
    /// seed) runs: those at positions I-1, I-1+N, I-1+2N, ... Writes
    /// `shard-I-of-N.json` into `--out` instead of the CSV files and
    /// charts; `distlab merge` makes them from every shard.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// The folder for the CSV files and charts (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Draw only these charts: a metric, or a check (the fraction of seeds
    /// it held in); several joined by commas share one picture, side by
    /// side. Repeatable. Default: a chart for every metric that differs
    /// between configurations.
    #[arg(long = "plot", value_name = "NAME[,NAME...]")]
    pub plot: Vec<String>,
    /// Gauge samples per run, for the charts against time: the gauges are
    /// read at N + 1 evenly spaced moments, the start and the end included.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub samples: u32,
    /// Draw SVG only (PNG copies are drawn too by default).
    #[arg(long)]
    pub no_png: bool,
    /// Leave out the configurations the scenario rejects (a combination of
    /// values that does not go together) instead of stopping; they are
    /// listed.
    #[arg(long)]
    pub skip_invalid: bool,
    #[command(flatten)]
    pub budget: super::BudgetArgs,
}

/// The most runs (configurations × seeds) one sweep may ask for. Every
/// run's results are kept until the files are written (about 12 KB a run
/// for the bundled lessons), so this bounds the memory to a few GB; split
/// a bigger sweep over seed ranges.
pub const MAX_RUNS: usize = 200_000;

/// One point of the grid.
pub struct Config {
    /// Index into each `Vary`'s values, in `--vary` order.
    pub choice: Vec<usize>,
    pub scenario: Scenario,
}

/// What one run produced.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub ops: [u64; 4],
    pub checks: Vec<(String, bool)>,
    pub metrics: BTreeMap<String, f64>,
    /// Client latency of the operations that completed ok, in µs.
    pub latencies_us: Vec<u64>,
    /// Gauge name → (sample index, value).
    pub gauges: BTreeMap<String, Vec<(u32, f64)>>,
    /// The run panicked (a protocol's assertion): its message.
    pub panic: Option<String>,
    /// The run was stopped by its budget: why (see [`distlab::sim::Halt`]).
    pub halted: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let path = super::resolve(&args.file);
    let base = super::load(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let source = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    check_plot_names(&args.plot, &*base.protocol)?;
    let (configs, skipped) = configurations(&path, &source, &args.vary, args.skip_invalid)?;
    let seeds: Vec<u64> = (args.seeds.start..args.seeds.end).collect();
    let total = configs.len().checked_mul(seeds.len()).filter(|&n| n <= MAX_RUNS).ok_or_else(|| {
        anyhow::anyhow!(
            "{} configurations × {} seeds is more than {MAX_RUNS} runs; sweep fewer seeds, or split them over several sweeps",
            configs.len(),
            seeds.len()
        )
    })?;
    let jobs = super::jobs(args.jobs)?;
    let items: Vec<(usize, u64)> =
        (0..configs.len()).flat_map(|c| seeds.iter().map(move |&s| (c, s))).collect();
    let mine: Vec<usize> = match args.shard {
        Some(shard) => shard::positions(total, shard).collect(),
        None => (0..total).collect(),
    };
    if let Some(shard) = args.shard
        && mine.is_empty()
    {
        bail!(
            "shard {}/{} holds no runs: the sweep has only {total} (split it into at most {total} shards)",
            shard.index,
            shard.of
        );
    }
    if args.shard.is_some() {
        // Shards share a folder: each writes only its own file.
        std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    } else {
        claim_out(&args.out)?;
    }
    let share = match args.shard {
        Some(shard) => format!("; shard {}/{} runs {} of them", shard.index, shard.of, mine.len()),
        None => String::new(),
    };
    println!(
        "sweep {} ({}): {} × {} = {}{share}, tracing off, {}",
        base.name,
        base.protocol.name(),
        count(configs.len(), "configuration"),
        count(seeds.len(), "seed"),
        count(total, "run"),
        count(jobs, "job"),
    );
    for (with, why) in &skipped {
        println!("  skipped {with}: {why}");
    }

    let bar = super::progress_bar(mine.len() as u64, "runs");
    let results = super::parallel_map(&mine, jobs, &|done| bar.set_position(done as u64), |&i| {
        let (c, seed) = items[i];
        one_run(&configs[c].scenario, seed, args.samples, args.budget.budget())
    });
    bar.finish_and_clear();

    let Some(shard) = args.shard else {
        let output = Output {
            base: &base,
            vary: &args.vary,
            configs: &configs,
            seeds: &seeds,
            samples: args.samples,
            plot: &args.plot,
            no_png: args.no_png,
            out: &args.out,
        };
        return output.write(results);
    };
    let budget = args.budget.budget();
    let spec = shard::Spec {
        distlab: env!("CARGO_PKG_VERSION").to_string(),
        source,
        vary: args.vary.iter().map(|v| v.spec.clone()).collect(),
        seeds: [args.seeds.start, args.seeds.end],
        samples: args.samples,
        plot: args.plot.clone(),
        no_png: args.no_png,
        skip_invalid: args.skip_invalid,
        budget: [budget.events, budget.events_per_instant, budget.pending],
    };
    let file = shard::ShardFile {
        format: shard::FORMAT.to_string(),
        fingerprint: spec.fingerprint(),
        shard: [shard.index, shard.of],
        file: path.display().to_string(),
        sweep: spec,
        runs: mine
            .iter()
            .zip(&results)
            .map(|(&i, r)| shard::RunRecord::new(items[i].0, items[i].1, r))
            .collect(),
    };
    let written = shard::write(&args.out, &file)?;
    println!(
        "\nwrote shard {}/{} of sweep {} ({} runs) to {}\nwhen every shard is done: distlab merge {} (and every other shard's folder) --out DIR",
        shard.index,
        shard.of,
        file.fingerprint,
        mine.len(),
        written.display(),
        args.out.display()
    );
    let label = |i: usize| format!("configuration {} seed {}", items[i].0, items[i].1);
    stopped_runs(mine.iter().zip(&results).map(|(&i, r)| (label(i), r)))
}

/// Says which runs panicked or were stopped by their budget (left out of
/// the figures), and how the sweep ends: bad input (exit status 2) when a
/// run exceeded its budget, a failure (1) when one panicked.
fn stopped_runs<'r>(runs: impl Iterator<Item = (String, &'r RunResult)>) -> anyhow::Result<Outcome> {
    let (mut panics, mut halted) = (Vec::new(), Vec::new());
    for (label, r) in runs {
        if let Some(p) = &r.panic {
            panics.push(format!("{label}: {p}"));
        }
        if let Some(h) = &r.halted {
            halted.push(format!("{label}: {h}"));
        }
    }
    if !panics.is_empty() {
        println!("\n{} runs panicked (left out of the figures); the first: {}", panics.len(), panics[0]);
    }
    if !halted.is_empty() {
        bail!(
            "{} runs were stopped by their budget (left out of the figures); the first: {}",
            halted.len(),
            halted[0]
        );
    }
    if !panics.is_empty() {
        return Ok(Outcome::ExpectationFailed);
    }
    Ok(Outcome::Success)
}

/// Where and how a sweep's files are written: by `sweep`, or by `merge`
/// from the shards of one.
pub struct Output<'a> {
    pub base: &'a Scenario,
    pub vary: &'a [Vary],
    pub configs: &'a [Config],
    pub seeds: &'a [u64],
    pub samples: u32,
    pub plot: &'a [String],
    pub no_png: bool,
    pub out: &'a Path,
}

impl Output<'_> {
    /// Writes the CSV files and charts of every run's `results` (in
    /// (configuration, seed) order), prints the table, and says how the
    /// sweep ends.
    pub fn write(&self, results: Vec<RunResult>) -> anyhow::Result<Outcome> {
        claim_out(self.out)?;
        std::fs::create_dir_all(self.out).with_context(|| format!("creating {}", self.out.display()))?;
        clean_owned(self.out)?;
        let sweep = Sweep::new(self.vary, self.configs, self.seeds, results, self.samples);
        let mut written = sweep.write_csv(self.out)?;
        let charts = sweep.charts(self.base, self.plot)?;
        let formats = Formats { svg: true, png: !self.no_png };
        for (name, figure) in &charts {
            written.extend(plot::save(figure, &self.out.join(name), formats)?);
        }
        own(self.out, &written)?;
        sweep.print_table(self.plot);
        println!(
            "\nwrote {} files to {}: runs.csv, summary.csv, latency.csv, gauges.csv and {} charts ({}):",
            written.len(),
            self.out.display(),
            charts.len(),
            if self.no_png { "SVG" } else { "SVG and PNG" },
        );
        for chunk in charts.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().chunks(6) {
            println!("  {}", chunk.join(", "));
        }
        let n = self.seeds.len();
        let label = |i: usize| format!("{} seed {}", sweep.label(i / n), self.seeds[i % n]);
        stopped_runs(sweep.results.iter().enumerate().map(|(i, r)| (label(i), r)))
    }
}

/// The file in an output folder listing the files a sweep (or merge)
/// wrote there: what the next sweep into the folder removes first, so no
/// chart of an earlier grid lingers beside the new ones.
pub const OWNED: &str = ".distlab-sweep";

/// Refuses `dir` as an output folder (before anything runs) if it holds
/// files that no sweep wrote; a folder that does not exist yet is fine.
pub fn claim_out(dir: &Path) -> anyhow::Result<()> {
    let shown = dir.display();
    if !dir.exists() {
        return Ok(());
    }
    let mut entries = std::fs::read_dir(dir).with_context(|| format!("reading {shown}"))?;
    let empty = entries.next().is_none();
    if !empty && !dir.join(OWNED).is_file() {
        bail!(
            "--out {shown} is not empty and no sweep wrote it: choose a new or empty folder              (a sweep replaces only what an earlier sweep wrote there)"
        );
    }
    Ok(())
}

/// Removes the files an earlier sweep listed in `dir`'s [`OWNED`] file.
fn clean_owned(dir: &Path) -> anyhow::Result<()> {
    let Ok(list) = std::fs::read_to_string(dir.join(OWNED)) else { return Ok(()) };
    for name in list.lines().map(str::trim).filter(|n| !n.is_empty()) {
        // Only plain names: a damaged list cannot reach outside `dir`.
        if name.contains(['/', '\\']) || name.starts_with('.') {
            continue;
        }
        let path = dir.join(name);
        if path.is_file() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Lists the files this sweep wrote in `dir`'s [`OWNED`] file.
fn own(dir: &Path, written: &[PathBuf]) -> anyhow::Result<()> {
    let mut names: Vec<String> =
        written.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
    names.sort();
    let path = dir.join(OWNED);
    std::fs::write(&path, names.join("\n") + "\n").with_context(|| format!("writing {}", path.display()))
}

/// `--plot` names a check or metric the protocol has: said before
/// anything runs.
fn check_plot_names(plot: &[String], protocol: &dyn ProtocolEntry) -> anyhow::Result<()> {
    let known: Vec<&str> = protocol
        .checks()
        .iter()
        .map(|c| c.name)
        .chain(protocol.metrics().iter().chain(distlab::protocols::GENERIC_METRICS).map(|m| m.name))
        .collect();
    for name in plot.iter().flat_map(|p| p.split(',')).map(str::trim) {
        if !known.contains(&name) {
            let hint = distlab::scenario::did_you_mean(name, known.iter().copied())
                .map(|n| format!("did you mean `{n}`? "))
                .unwrap_or_default();
            bail!(
                "--plot {name}: {} has no check or metric by that name; {hint}(`distlab list --verbose` lists them)",
                protocol.name()
            );
        }
    }
    Ok(())
}

/// A configuration left out, and why: (`mode = sync, ship_interval =
/// 100ms`, the loader's message).
pub type Skipped = (String, String);

/// Every point of the grid, loaded and validated, the first key varying
/// slowest; with `skip_invalid`, the points the loader rejects are left
/// out and returned apart.
pub fn configurations(
    path: &Path,
    source: &str,
    vary: &[Vary],
    skip_invalid: bool,
) -> anyhow::Result<(Vec<Config>, Vec<Skipped>)> {
    for (i, v) in vary.iter().enumerate() {
        if vary[..i].iter().any(|w| w.path == v.path) {
            bail!("`--vary {}` is given twice", v.key);
        }
    }
    let count = vary.iter().try_fold(1usize, |n, v| n.checked_mul(v.values.len()));
    if count.is_none_or(|n| n > grid::MAX_CONFIGURATIONS) {
        bail!("the grid has more than {} configurations", grid::MAX_CONFIGURATIONS);
    }
    let doc: toml_edit::DocumentMut =
        source.parse().map_err(|e| anyhow::anyhow!("{}: not a TOML document: {e}", path.display()))?;
    let mut configs = Vec::new();
    let mut skipped = Vec::new();
    let mut choice = vec![0; vary.len()];
    loop {
        let mut edited = doc.clone();
        let mut with = Vec::new();
        for (v, &i) in vary.iter().zip(&choice) {
            grid::assign(&mut edited, v, &v.values[i])
                .map_err(|e| anyhow::anyhow!("--vary {}: {e}", v.key))?;
            with.push(format!("{} = {}", v.key, v.values[i].label));
        }
        let text = edited.to_string();
        match distlab::scenario::load_str(&distlab::protocols::registry(), &path.display().to_string(), &text)
        {
            Ok(scenario) => configs.push(Config { choice: choice.clone(), scenario }),
            Err(e) if skip_invalid => skipped.push((with.join(", "), e.message.clone())),
            Err(e) => {
                // A value the sweep wrote is shown where the user wrote
                // it: in the --vary argument.
                if let Some(shown) = grid::at_argument(&e, &text, vary, &choice) {
                    bail!("{shown}\n  (--skip-invalid leaves such configurations out)");
                }
                // A key that other values make invalid (`ship_interval`
                // outside async mode) can be left out where it does not
                // apply: `-` among its values.
                bail!(
                    "{e}\n  (with {}; --skip-invalid leaves such configurations out, and `-` among a key's \
                     values leaves the key out of the file: `--vary KEY=VALUE,-`)",
                    with.join(", ")
                )
            }
        }
        // The next choice, the last key fastest.
        let mut k = vary.len();
        loop {
            if k == 0 {
                if configs.is_empty() {
                    bail!(
                        "the scenario rejects every configuration of the grid; the first: {}",
                        skipped[0].1
                    );
                }
                return Ok((configs, skipped));
            }
            k -= 1;
            choice[k] += 1;
            if choice[k] < vary[k].values.len() {
                break;
            }
            choice[k] = 0;
        }
    }
}

/// Runs one configuration with one seed, sampling the gauges.
pub fn one_run(scenario: &Scenario, seed: u64, samples: u32, budget: distlab::sim::Budget) -> RunResult {
    let options = RunOptions { seed: Some(seed), trace: TraceLevel::Off, record_history: true, checks: true };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut run = scenario.protocol.build(scenario, options);
        run.set_budget(budget);
        let mut gauges: BTreeMap<String, Vec<(u32, f64)>> = BTreeMap::new();
        for (i, sample) in run_sampled(run.as_mut(), scenario.duration, samples).into_iter().enumerate() {
            for (name, value) in sample.gauges {
                gauges.entry(name.to_string()).or_default().push((i as u32, value));
            }
        }
        (run, gauges)
    }));
    let (run, gauges) = match outcome {
        Ok(done) => done,
        Err(payload) => {
            return RunResult { panic: Some(super::panic_message(&*payload)), ..RunResult::default() };
        }
    };
    if let Some(halt) = run.halted() {
        return RunResult { halted: Some(halt.to_string()), ..RunResult::default() };
    }
    let report = super::run::full_report(run.as_ref());
    let s = run.stats();
    RunResult {
        ops: [s.ops_invoked, s.ops_ok, s.ops_fail, s.ops_info],
        checks: report.checks.iter().map(|v| (v.name.to_string(), v.holds)).collect(),
        metrics: report.metrics.into_iter().map(|(name, v)| (name.to_string(), v)).collect(),
        latencies_us: ok_latencies_us(run.as_ref()),
        gauges,
        panic: None,
        halted: None,
    }
}

/// The `p`-th percentile (0 to 100) of sorted values, nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The results of a sweep, in (configuration, seed) order.
struct Sweep<'a> {
    vary: &'a [Vary],
    configs: &'a [Config],
    seeds: &'a [u64],
    results: Vec<RunResult>,
    samples: u32,
    /// Each configuration's results over its seeds, gathered once.
    aggregates: Vec<Aggregate>,
}

/// A configuration's results over its seeds.
#[derive(Default)]
struct Aggregate {
    runs: usize,
    /// Ok operations over completed ones; `None` when none completed.
    ok_fraction: Option<f64>,
    /// Check → fraction of seeds it held in.
    held: BTreeMap<String, f64>,
    /// Metric → (mean, min, max) over the seeds that report it.
    metrics: BTreeMap<String, (f64, f64, f64)>,
    /// Latencies of every seed's ok operations, sorted.
    latencies_us: Vec<u64>,
    /// Gauge → per sample index: (mean, max) over seeds.
    gauges: BTreeMap<String, Vec<Option<(f64, f64)>>>,
}

impl<'a> Sweep<'a> {
    /// The runs of configuration `c` that neither panicked nor halted.
    fn runs(&self, c: usize) -> impl Iterator<Item = &RunResult> {
        let n = self.seeds.len();
        self.results[c * n..(c + 1) * n].iter().filter(|r| r.panic.is_none() && r.halted.is_none())
    }

    /// Short names of the keys: the last part, or the whole key where two
    /// keys share a last part.
    fn short_keys(&self) -> Vec<String> {
        let last = |v: &Vary| v.path.last().cloned().unwrap_or_default();
        self.vary
            .iter()
            .map(|v| {
                if self.vary.iter().filter(|w| last(w) == last(v)).count() > 1 {
                    v.key.clone()
                } else {
                    last(v)
                }
            })
            .collect()
    }

    /// `w=2, r=1`: the values of configuration `c`, for legends and errors.
    fn label(&self, c: usize) -> String {
        self.label_of(c, &(0..self.vary.len()).collect::<Vec<_>>())
    }

    fn label_of(&self, c: usize, keys: &[usize]) -> String {
        let short = self.short_keys();
        keys.iter()
            .map(|&k| format!("{}={}", short[k], self.vary[k].values[self.configs[c].choice[k]].label))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn new(
        vary: &'a [Vary],
        configs: &'a [Config],
        seeds: &'a [u64],
        results: Vec<RunResult>,
        samples: u32,
    ) -> Self {
        let mut sweep = Sweep { vary, configs, seeds, results, samples, aggregates: Vec::new() };
        sweep.aggregates = (0..configs.len()).map(|c| sweep.aggregate(c)).collect();
        sweep
    }

    fn aggregate(&self, c: usize) -> Aggregate {
        let runs: Vec<&RunResult> = self.runs(c).collect();
        let mut a = Aggregate { runs: runs.len(), ..Aggregate::default() };
        if runs.is_empty() {
            return a;
        }
        let (ok, done) =
            runs.iter().fold((0, 0), |(ok, done), r| (ok + r.ops[1], done + r.ops[1] + r.ops[2] + r.ops[3]));
        a.ok_fraction = (done > 0).then(|| ok as f64 / done as f64);
        let mut held: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in &runs {
            for (name, holds) in &r.checks {
                let (yes, all) = held.entry(name.clone()).or_default();
                *yes += usize::from(*holds);
                *all += 1;
            }
        }
        a.held = held.into_iter().map(|(name, (yes, all))| (name, yes as f64 / all as f64)).collect();
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in &runs {
            for (name, &v) in &r.metrics {
                values.entry(name.clone()).or_default().push(v);
            }
        }
        for (name, vs) in values {
            let mean = vs.iter().sum::<f64>() / vs.len() as f64;
            let min = vs.iter().copied().fold(f64::INFINITY, f64::min);
            let max = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            a.metrics.insert(name, (mean, min, max));
        }
        a.latencies_us = runs.iter().flat_map(|r| r.latencies_us.iter().copied()).collect();
        a.latencies_us.sort_unstable();
        let mut sums: BTreeMap<String, Vec<(f64, f64, u32)>> = BTreeMap::new();
        for r in &runs {
            for (name, samples) in &r.gauges {
                let slots = sums
                    .entry(name.clone())
                    .or_insert_with(|| vec![(0.0, f64::NEG_INFINITY, 0); self.samples as usize + 1]);
                for &(i, v) in samples {
                    let slot = &mut slots[i as usize];
                    *slot = (slot.0 + v, slot.1.max(v), slot.2 + 1);
                }
            }
        }
        for (name, slots) in sums {
            let series =
                slots.into_iter().map(|(sum, max, n)| (n > 0).then(|| (sum / n as f64, max))).collect();
            a.gauges.insert(name, series);
        }
        a
    }

    /// Every check and metric name any run reported, in first-seen order
    /// for checks (the protocol's order) and sorted for metrics.
    fn names(&self) -> (Vec<&str>, Vec<&str>) {
        let mut checks: Vec<&str> = Vec::new();
        let mut metrics = std::collections::BTreeSet::new();
        for r in &self.results {
            for (name, _) in &r.checks {
                if !checks.contains(&name.as_str()) {
                    checks.push(name);
                }
            }
            metrics.extend(r.metrics.keys().map(String::as_str));
        }
        (checks, metrics.into_iter().collect())
    }

    fn write_csv(&self, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let (checks, metrics) = self.names();
        let keys: Vec<&str> = self.vary.iter().map(|v| v.key.as_str()).collect();
        let values = |c: usize| -> Vec<String> {
            self.vary.iter().zip(&self.configs[c].choice).map(|(v, &i)| v.values[i].label.clone()).collect()
        };
        let num = |v: Option<f64>| v.map(fmt_csv).unwrap_or_default();
        let mut written = Vec::new();
        let mut file = |name: &str, header: Vec<String>, rows: Vec<Vec<String>>| -> anyhow::Result<()> {
            let path = out.join(name);
            let mut w =
                csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
            w.write_record(&header)?;
            for row in rows {
                w.write_record(&row)?;
            }
            w.flush()?;
            written.push(path);
            Ok(())
        };

        let mut header: Vec<String> =
            std::iter::once("config".to_string()).chain(keys.iter().map(|k| k.to_string())).collect();
        let runs_header: Vec<String> = header
            .iter()
            .cloned()
            .chain(["seed", "ops_invoked", "ops_ok", "ops_fail", "ops_info", "panic"].map(String::from))
            .chain(checks.iter().map(|c| format!("check:{c}")))
            .chain(metrics.iter().map(|m| m.to_string()))
            .collect();
        let mut rows = Vec::new();
        for (i, r) in self.results.iter().enumerate() {
            let (c, s) = (i / self.seeds.len(), self.seeds[i % self.seeds.len()]);
            let mut row: Vec<String> = std::iter::once(c.to_string()).chain(values(c)).collect();
            row.push(s.to_string());
            row.extend(r.ops.iter().map(u64::to_string));
            row.push(r.panic.clone().unwrap_or_default());
            row.extend(checks.iter().map(|name| {
                r.checks.iter().find(|x| x.0 == *name).map(|x| u8::from(x.1).to_string()).unwrap_or_default()
            }));
            row.extend(metrics.iter().map(|m| num(r.metrics.get(*m).copied())));
            rows.push(row);
        }
        file("runs.csv", runs_header, rows)?;

        let aggregates = &self.aggregates;
        let mut summary_header = header.clone();
        summary_header.extend(
            // `pooled_`: over every seed's operations together, so they
            // never share a name with a protocol's metric (a per-seed
            // `latency_p99_ms`, averaged over seeds).
            [
                "runs",
                "ok_fraction",
                "pooled_latency_p50_ms",
                "pooled_latency_p90_ms",
                "pooled_latency_p99_ms",
            ]
            .map(String::from),
        );
        summary_header.extend(checks.iter().map(|c| format!("check:{c}")));
        summary_header.extend(metrics.iter().map(|m| m.to_string()));
        let ms = |us: Option<u64>| num(us.map(|u| u as f64 / 1000.0));
        let rows = aggregates
            .iter()
            .enumerate()
            .map(|(c, a)| {
                let mut row: Vec<String> = std::iter::once(c.to_string()).chain(values(c)).collect();
                row.push(a.runs.to_string());
                row.push(num(a.ok_fraction));
                for p in [50.0, 90.0, 99.0] {
                    row.push(ms(percentile(&a.latencies_us, p)));
                }
                row.extend(checks.iter().map(|name| num(a.held.get(*name).copied())));
                row.extend(metrics.iter().map(|m| num(a.metrics.get(*m).map(|x| x.0))));
                row
            })
            .collect();
        file("summary.csv", summary_header, rows)?;

        header.extend(["percentile", "latency_ms"].map(String::from));
        let mut rows = Vec::new();
        for (c, a) in aggregates.iter().enumerate() {
            for p in 0..=100 {
                let Some(us) = percentile(&a.latencies_us, p as f64) else { break };
                let mut row: Vec<String> = std::iter::once(c.to_string()).chain(values(c)).collect();
                row.extend([p.to_string(), fmt_csv(us as f64 / 1000.0)]);
                rows.push(row);
            }
        }
        file("latency.csv", header.clone(), rows)?;

        header.truncate(1 + keys.len());
        header.extend(["gauge", "time_ms", "mean", "max"].map(String::from));
        let mut rows = Vec::new();
        for (c, a) in aggregates.iter().enumerate() {
            let duration = self.configs[c].scenario.duration;
            for (name, series) in &a.gauges {
                for (i, slot) in series.iter().enumerate() {
                    let Some((mean, max)) = slot else { continue };
                    let t = sample_time(duration, i as u32, self.samples);
                    let mut row: Vec<String> = std::iter::once(c.to_string()).chain(values(c)).collect();
                    row.extend([
                        name.to_string(),
                        fmt_csv(t.0 as f64 / 1000.0),
                        fmt_csv(*mean),
                        fmt_csv(*max),
                    ]);
                    rows.push(row);
                }
            }
        }
        file("gauges.csv", header, rows)?;
        Ok(written)
    }

    /// The charts to draw, by file name (without extension).
    fn charts(&self, base: &Scenario, plot: &[String]) -> anyhow::Result<Vec<(String, Figure)>> {
        let (checks, metrics) = self.names();
        let aggregates = &self.aggregates;
        let mut charts = vec![("latency-cdf".to_string(), Figure::from(self.latency_chart(base)))];
        let picked: Vec<Vec<String>> = if plot.is_empty() {
            metrics
                .iter()
                .filter(|m| {
                    let means: Vec<Option<f64>> =
                        aggregates.iter().map(|a| a.metrics.get(**m).map(|x| x.0)).collect();
                    means.windows(2).any(|w| w[0] != w[1])
                })
                .map(|m| vec![m.to_string()])
                .collect()
        } else {
            plot.iter().map(|p| p.split(',').map(|s| s.trim().to_string()).collect()).collect()
        };
        for names in picked {
            let mut panels = Vec::new();
            for name in &names {
                let is_check = checks.contains(&name.as_str());
                if !is_check && !metrics.contains(&name.as_str()) {
                    let mut known: Vec<&str> = metrics.clone();
                    known.extend(&checks);
                    let hint = distlab::scenario::did_you_mean(name, known.iter().copied())
                        .map(|n| format!("; did you mean `{n}`?"))
                        .unwrap_or_default();
                    bail!(
                        "--plot {name}: no check or metric by that name in this sweep{hint} (it has: {})",
                        known.join(", ")
                    );
                }
                panels.push(self.metric_chart(base, name, is_check));
            }
            charts.push((names.join("+"), Figure { panels }));
        }
        let gauges: std::collections::BTreeSet<&str> =
            aggregates.iter().flat_map(|a| a.gauges.keys().map(String::as_str)).collect();
        for g in gauges {
            charts.push((format!("{g}-over-time"), Figure::from(self.gauge_chart(base, g))));
        }
        Ok(charts)
    }

    fn latency_chart(&self, base: &Scenario) -> Chart {
        let aggregates = &self.aggregates;
        let mut chart = Chart::new(
            format!("{}: client latency, all seeds", base.name),
            "latency of ok operations (ms)",
            "fraction of operations at or below",
        );
        chart.legend = Legend::LowerRight;
        chart.x_log = true;
        for (c, a) in aggregates.iter().enumerate() {
            let points = (0..=100)
                .filter_map(|p| {
                    percentile(&a.latencies_us, p as f64).map(|us| (us as f64 / 1000.0, p as f64 / 100.0))
                })
                .collect();
            chart.series.push(Series { name: self.label(c), points });
        }
        chart
    }

    /// A metric (mean over seeds) or a check (fraction of seeds it held in)
    /// against the first varied key, a line per combination of the others.
    fn metric_chart(&self, base: &Scenario, name: &str, is_check: bool) -> Chart {
        let aggregates = &self.aggregates;
        let x_key = &self.vary[0];
        let x_label = match x_key.unit() {
            Some(unit) => format!("{} ({unit})", x_key.key),
            None => x_key.key.clone(),
        };
        let y_label = if is_check {
            format!("fraction of {} where {name} holds", count(self.seeds.len(), "seed"))
        } else {
            with_unit(&*base.protocol, name, &format!("mean of {}", count(self.seeds.len(), "seed")))
        };
        let mut chart = Chart::new(format!("{}: {name} vs {}", base.name, x_key.key), x_label, y_label);
        if !x_key.numeric() {
            chart.categories = Some(x_key.values.iter().map(|v| v.label.clone()).collect());
        } else if x_key.values.len() <= 12 {
            chart.x_ticks = Some(x_key.values.iter().filter_map(|v| v.number()).collect());
        }
        let others: Vec<usize> = (1..self.vary.len()).collect();
        let mut lines: BTreeMap<Vec<usize>, Series> = BTreeMap::new();
        for (c, a) in aggregates.iter().enumerate() {
            let choice = &self.configs[c].choice;
            let setting = &x_key.values[choice[0]];
            let x = if x_key.numeric() { setting.number().expect("numeric") } else { choice[0] as f64 };
            let y = if is_check { a.held.get(name).copied() } else { a.metrics.get(name).map(|m| m.0) };
            let line = lines
                .entry(choice[1..].to_vec())
                .or_insert_with(|| Series { name: self.label_of(c, &others), points: Vec::new() });
            if let Some(y) = y {
                line.points.push((x, y));
            }
        }
        chart.series = lines
            .into_values()
            .map(|mut s| {
                // In axis order, whatever order --vary listed the values in.
                s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
                s
            })
            .collect();
        chart
    }

    /// A gauge against time, mean over seeds, a line per configuration;
    /// the faults every configuration's timeline shares are marked.
    fn gauge_chart(&self, base: &Scenario, gauge: &str) -> Chart {
        let aggregates = &self.aggregates;
        let mut chart = Chart::new(
            format!("{}: {gauge} over time, mean of {}", base.name, count(self.seeds.len(), "seed")),
            "time (s)",
            with_unit(&*base.protocol, gauge, ""),
        );
        for (c, a) in aggregates.iter().enumerate() {
            let duration = self.configs[c].scenario.duration;
            let points = a
                .gauges
                .get(gauge)
                .map(|series| {
                    series
                        .iter()
                        .enumerate()
                        .filter_map(|(i, slot)| {
                            slot.map(|(mean, _)| {
                                (sample_time(duration, i as u32, self.samples).0 as f64 / 1e6, mean)
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            chart.series.push(Series { name: self.label(c), points });
        }
        chart.markers = shared_faults(self.configs);
        chart
    }

    /// The table printed at the end: a row per configuration.
    fn print_table(&self, plot: &[String]) {
        let (checks, _) = self.names();
        let short = self.short_keys();
        let mut header: Vec<String> = short.clone();
        header.extend(["ok ops", "p50 ms", "p99 ms"].map(String::from));
        let columns: Vec<String> =
            plot.iter().flat_map(|p| p.split(',')).map(|s| s.trim().to_string()).collect();
        header.extend(columns.iter().cloned());
        let mut rows = vec![header];
        for c in 0..self.configs.len() {
            let a = &self.aggregates[c];
            let mut row: Vec<String> = self
                .vary
                .iter()
                .zip(&self.configs[c].choice)
                .map(|(v, &i)| v.values[i].label.clone())
                .collect();
            row.push(a.ok_fraction.map_or("-".into(), |f| format!("{f:.3}")));
            for p in [50.0, 99.0] {
                row.push(percentile(&a.latencies_us, p).map_or("-".into(), |us| fmt_num(us as f64 / 1000.0)));
            }
            for name in &columns {
                let v = if checks.contains(&name.as_str()) {
                    a.held.get(name.as_str()).copied()
                } else {
                    a.metrics.get(name.as_str()).map(|m| m.0)
                };
                row.push(v.map_or("-".into(), |v| format!("{v:.3}")));
            }
            rows.push(row);
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        println!();
        for row in rows {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:>w$}")).collect();
            println!("  {}", cells.join("  ").trim_end());
        }
    }
}

/// `name (unit, rest)`, with the unit `protocol` declares for the metric
/// or gauge `name` (`name (rest)` for a name it does not declare).
fn with_unit(protocol: &dyn ProtocolEntry, name: &str, rest: &str) -> String {
    match (unit_of(protocol, name), rest.is_empty()) {
        (Some(unit), true) => format!("{name} ({unit})"),
        (Some(unit), false) => format!("{name} ({unit}, {rest})"),
        (None, true) => name.to_string(),
        (None, false) => format!("{name} ({rest})"),
    }
}

/// Faults at the same time in every configuration's timeline (a varied
/// fault time would mark nothing true of every line).
fn shared_faults(configs: &[Config]) -> Vec<Marker> {
    // Described by a run of the first configuration: its cluster is the one
    // the faults name (a varied cluster may have nodes the file has not).
    let first_scenario = &configs[0].scenario;
    let probe = first_scenario
        .protocol
        .build(first_scenario, RunOptions { trace: TraceLevel::Off, ..RunOptions::default() });
    let first = &configs[0].scenario.timeline;
    first
        .iter()
        .filter(|f| !matches!(f.fault, Fault::Note { .. }))
        .filter(|f| {
            configs.iter().all(|c| c.scenario.timeline.iter().any(|g| g.at == f.at && g.fault == f.fault))
        })
        .map(|f| Marker { x: f.at.0 as f64 / 1e6, label: probe.describe_fault(&f.fault) })
        .collect()
}

/// A CSV number: integers without a decimal point, others to 6 places.
fn fmt_csv(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Axis labels carry the unit the checker declares, not one guessed
    /// from the name: two-phase commit's `imbalance` is money and its
    /// `round_trips_mean` a count, which the names' `_mean`/no suffix
    /// guessed as a count and as no unit at all.
    #[test]
    fn axis_labels_carry_the_declared_unit() {
        let registry = distlab::protocols::registry();
        let tpc = &**registry.find("two-phase-commit").expect("registered");
        assert_eq!(with_unit(tpc, "imbalance", ""), "imbalance (money)");
        assert_eq!(
            with_unit(tpc, "round_trips_mean", "mean of 5 seeds"),
            "round_trips_mean (count, mean of 5 seeds)"
        );
        assert_eq!(with_unit(tpc, "in_doubt_ms_max", ""), "in_doubt_ms_max (ms)");
        assert_eq!(with_unit(tpc, "participants_in_doubt", ""), "participants_in_doubt (count)");
        assert_eq!(with_unit(tpc, "latency_p99_ms", ""), "latency_p99_ms (ms)", "a metric of every run");
        let quorum = &**registry.find("quorum").expect("registered");
        assert_eq!(with_unit(quorum, "quorums_overlap", ""), "quorums_overlap (0 or 1)");
        assert_eq!(with_unit(quorum, "availability", ""), "availability (fraction)");
        assert_eq!(with_unit(quorum, "no_such_metric", "x"), "no_such_metric (x)", "undeclared: no unit");
    }
}

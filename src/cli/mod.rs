//! The `distlab` command line: one file per subcommand.

pub mod bench;
pub mod check;
pub mod list;
pub mod plot;
pub mod run;
pub mod shrink;
pub mod sweep;
pub mod tui;
pub mod validate;

use crate::scenario::{Scenario, ScenarioError, did_you_mean};
use crate::sim::Budget;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// A deterministic simulator and teaching lab for distributed data systems.
#[derive(Parser, Debug)]
#[command(name = "distlab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the protocols and the bundled lessons.
    List(list::Args),
    /// Run a scenario and report its checks and expectations.
    Run(run::Args),
    /// Check scenario files without running them.
    Validate(validate::Args),
    /// Run a scenario over many seeds and report the seeds that break an invariant.
    Check(check::Args),
    /// Measure simulator speed on fixed workloads (tracing off).
    Bench(bench::Args),
    /// Step through a lesson in the terminal: forward, back, intervene.
    Tui(tui::Args),
    /// Run a scenario over a grid of parameter values and many seeds; write CSV and charts.
    Sweep(sweep::Args),
    /// Draw one run's charts (latency, messages in flight, gauges) from a saved trace.
    Plot(plot::Args),
}

/// How a command ended, when it did not fail on bad input.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A check or expectation was not met (exit status 1).
    ExpectationFailed,
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::List(a) => list::run(a),
        Command::Run(a) => run::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Check(a) => check::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Tui(a) => tui::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Plot(a) => plot::run(a),
    }
}

/// Where the bundled lessons are: `./scenarios` when run from a checkout,
/// else the folder this binary was built from.
pub fn scenarios_dir() -> PathBuf {
    let here = Path::new("scenarios");
    if here.is_dir() { here.to_path_buf() } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios") }
}

/// Resolves a scenario argument: a path, or a lesson name such as
/// `primary-replica/async-crash` under the scenarios folder.
pub fn resolve(arg: &Path) -> PathBuf {
    if arg.exists() {
        return arg.to_path_buf();
    }
    let dir = scenarios_dir();
    for candidate in [dir.join(arg), dir.join(arg).with_extension("toml")] {
        if candidate.is_file() {
            return candidate;
        }
    }
    arg.to_path_buf()
}

/// Resolves a scenario argument and loads it. When the argument is neither
/// a file nor a bundled lesson, the error suggests the nearest lesson name.
pub fn load(arg: &Path) -> Result<Scenario, ScenarioError> {
    let path = resolve(arg);
    if path.exists() {
        return crate::scenario::load(&path);
    }
    let error =
        ScenarioError::whole(&arg.display().to_string(), "no such file, and no bundled lesson by that name");
    Err(match nearest_lesson(arg) {
        Some(name) => error.with_help(format!("did you mean `{name}`? (`distlab list` shows every lesson)")),
        None => error.with_help("`distlab list` shows the bundled lessons"),
    })
}

/// The bundled lesson name (`primary-replica/fencing`) closest to a
/// mistyped argument, given as a name, a path or a bare file name.
fn nearest_lesson(arg: &Path) -> Option<String> {
    let dir = scenarios_dir();
    let names: Vec<String> = scenario_files(&dir)
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap_or(f).with_extension("").to_string_lossy().replace('\\', "/"))
        .collect();
    let arg = arg.to_string_lossy().replace('\\', "/");
    let word = arg.strip_prefix("./").unwrap_or(&arg);
    let word = word.strip_prefix("scenarios/").unwrap_or(word);
    let word = word.strip_suffix(".toml").unwrap_or(word);
    if let Some(best) = did_you_mean(word, names.iter().map(String::as_str)) {
        return Some(best.to_string());
    }
    // A lesson named without its folder (`fencin`): compare the last parts.
    let last = |name: &str| name.rsplit('/').next().unwrap_or_default().to_string();
    let lasts: Vec<String> = names.iter().map(|n| last(n)).collect();
    let best = did_you_mean(&last(word), lasts.iter().map(String::as_str))?;
    names.iter().find(|n| last(n) == best).cloned()
}

/// The budget of every run (see [`crate::sim::budget`]), shared by the
/// commands that run scenarios: `#[command(flatten)]` it into their
/// arguments and give `budget()` to [`crate::sim::Driver::set_budget`]. A
/// run that exceeds it stops and the command exits with status 2.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct BudgetArgs {
    /// Stop a run after N events (per seed), and exit with status 2.
    #[arg(long, value_name = "N", default_value_t = Budget::DEFAULT.events,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events: u64,
    /// Stop a run when more than N events happen at one instant of
    /// simulated time (a livelock: time no longer advances), and exit with
    /// status 2.
    #[arg(long, value_name = "N", default_value_t = Budget::DEFAULT.events_per_instant,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events_per_instant: u64,
    /// Stop a run when more than N events wait at once (messages in
    /// flight, timers, client events: the simulator's memory), and exit
    /// with status 2.
    #[arg(long, value_name = "N", default_value_t = Budget::DEFAULT.pending,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending: u64,
}

impl BudgetArgs {
    pub fn budget(&self) -> Budget {
        Budget {
            events: self.max_events,
            events_per_instant: self.max_events_per_instant,
            pending: self.max_pending,
        }
    }
}

/// `--jobs`: at least one, every core by default.
pub fn jobs(asked: Option<usize>) -> anyhow::Result<usize> {
    match asked {
        Some(0) => anyhow::bail!("--jobs must be at least 1"),
        Some(j) => Ok(j),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// A progress bar on stderr (drawn only when stderr is a terminal).
pub fn progress_bar(len: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {unit}  {{msg}}  [{{elapsed}}, eta {{eta}}]"
        ))
        .expect("a valid template"),
    );
    bar
}

/// `f` over `items` on `jobs` threads; results in the items' order, so
/// they never depend on the number of threads. `progress` is told how many
/// are done after each one.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    progress: &(dyn Fn(usize) + Sync),
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let results: std::sync::Mutex<Vec<Option<R>>> =
        std::sync::Mutex::new(std::iter::repeat_with(|| None).take(items.len()).collect());
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().expect("no worker panics while holding the lock")[i] = Some(r);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("workers have finished")
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// The text a panic carried.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the simulation panicked".into())
}

/// The first sentence of a description, on one line.
pub fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(i) => flat[..=i].to_string(),
        None => flat,
    }
}

/// Every `.toml` file under `dir`, sorted.
pub fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

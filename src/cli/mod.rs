//! The `distlab` command line: one file per subcommand.

pub mod alloc;
pub mod bench;
pub mod check;
pub mod explore;
pub mod export;
pub mod grade;
pub mod list;
#[cfg(feature = "live")]
pub mod live;
pub mod maelstrom;
pub mod merge;
pub mod plot;
pub mod run;
pub mod schema;
pub mod shell;
pub mod style;
pub mod sweep;
pub mod tui;
pub mod validate;

use clap::{Parser, Subcommand};
pub use distlab::scenario::library::{resolve, scenarios_dir};
use distlab::scenario::{Scenario, ScenarioError};
use distlab::sim::Budget;
pub use distlab::util::{panic_message, parallel_map};

/// A deterministic simulator and teaching lab for distributed data systems.
#[derive(Parser, Debug)]
#[command(name = "distlab", version, about, long_about = None)]
pub struct Cli {
    /// When to colour verdicts: auto (on a terminal, unless NO_COLOR is
    /// set), always or never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: clap::ColorChoice,
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
    /// Print the scenario format's JSON Schema (for editors and tools).
    Schema(schema::Args),
    /// Run a scenario over many seeds and report the seeds that break an invariant.
    Check(check::Args),
    /// Measure simulator speed on fixed workloads (tracing off).
    Bench(bench::Args),
    /// Step through a lesson in the terminal: forward, back, intervene.
    Tui(tui::Args),
    /// Run a scenario over a grid of parameter values and many seeds; write CSV and charts.
    Sweep(sweep::Args),
    /// Merge the shards of a sweep (`sweep --shard I/N`) into its CSV files and charts.
    Merge(merge::Args),
    /// Grade a course's lessons and exercises at once (one table, or JSON), for autograders.
    Grade(grade::Args),
    /// Search every interleaving of a lesson within bounds for a broken check.
    Explore(explore::Args),
    /// Run a lesson on the real (loopback) network: tokio tasks, UDP, fsynced logs.
    #[cfg(feature = "live")]
    Live(live::Args),
    /// Run one node as a Maelstrom binary (JSON lines on stdin/stdout) for Jepsen's Maelstrom.
    Maelstrom(maelstrom::Args),
    /// Draw one run's charts (latency, messages in flight, gauges) from a saved trace.
    Plot(plot::Args),
    /// Write a saved trace as a Jepsen or Porcupine history, a ShiViz log, or JSON lines.
    Export(export::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(shell::CompletionsArgs),
    /// Write the man pages: distlab.1 and one per subcommand.
    Man(shell::ManArgs),
}

impl Command {
    /// Whether the command was asked for JSON (`--json`): then an error is
    /// printed as JSON too.
    pub fn json(&self) -> bool {
        match self {
            Command::Run(a) => a.json,
            #[cfg(feature = "live")]
            Command::Live(a) => a.json,
            Command::Check(a) => a.json,
            Command::Bench(a) => a.json,
            Command::Grade(a) => a.json,
            _ => false,
        }
    }
}

/// How a command ended, when it did not fail on bad input.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A check or expectation was not met (exit status 1).
    ExpectationFailed,
    /// `explore` found no violation, but a bound cut the search short
    /// (exit status 3).
    Incomplete,
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    style::set_color(cli.color);
    match cli.command {
        Command::List(a) => list::run(a),
        Command::Run(a) => run::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Check(a) => check::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Tui(a) => tui::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Grade(a) => grade::run(a),
        Command::Explore(a) => explore::run(a),
        #[cfg(feature = "live")]
        Command::Live(a) => live::run(a),
        Command::Maelstrom(a) => maelstrom::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Export(a) => export::run(a),
        Command::Completions(a) => shell::completions(a),
        Command::Man(a) => shell::man(a),
    }
}

/// The budget of every run (see [`distlab::sim::budget`]), shared by the
/// commands that run scenarios: `#[command(flatten)]` it into their
/// arguments and give `budget()` to [`distlab::sim::Driver::set_budget`]. A
/// run that exceeds it stops: `run` and `sweep` exit with status 2,
/// `check` fails that seed as `halt`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct BudgetArgs {
    /// Stop a run after N events (per seed).
    #[arg(long, value_name = "N", default_value_t = Budget::DEFAULT.events,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events: u64,
    /// Stop a run when more than N events happen at one instant of
    /// simulated time (a livelock: time no longer advances).
    #[arg(long, value_name = "N", default_value_t = Budget::DEFAULT.events_per_instant,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events_per_instant: u64,
    /// Stop a run when more than N events wait at once (messages in
    /// flight, timers, client events: the simulator's memory; void ones,
    /// such as cancelled timers, are swept out first and do not count).
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

/// The first sentence of a description, on one line.
pub fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(i) => flat[..=i].to_string(),
        None => flat,
    }
}

/// Resolves a scenario argument (a file or a bundled lesson name) and
/// loads it with the bundled protocols.
pub fn load(arg: &std::path::Path) -> Result<Scenario, ScenarioError> {
    distlab::scenario::library::load(&distlab::protocols::registry(), arg)
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::{CommandFactory as _, Parser as _};

    /// Every subcommand's `--help` ends with examples, and each example
    /// parses (so none goes stale when an option changes).
    #[test]
    fn every_subcommand_has_examples_that_parse() {
        for sub in Cli::command().get_subcommands() {
            let name = sub.get_name();
            let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            let examples: Vec<&str> = help.lines().skip_while(|l| *l != "Examples:").skip(1).collect();
            assert!(!examples.is_empty(), "`distlab {name} --help` has no examples");
            for example in examples.iter().filter(|e| e.trim_start().starts_with("distlab ")) {
                // Up to a shell redirection or comment.
                let words: Vec<&str> = example
                    .split_whitespace()
                    .take_while(|w| !matches!(*w, ">" | "#" | "&&" | "|"))
                    .collect();
                if let Err(e) = Cli::try_parse_from(&words) {
                    panic!("`{example}` does not parse:\n{e}");
                }
            }
        }
    }
}

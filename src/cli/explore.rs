//! `distlab explore FILE`: search every interleaving of a lesson within
//! bounds (see [`distlab::explore`]).
//!
//! Exit status: 0 no violation and the search was complete; 1 a check
//! broke (the path is printed, and saved with `--save-counterexample`);
//! 2 bad input; 3 no violation within the bounds, but a bound
//! (`--depth`, `--max-states`, `--max-memory`) cut the search short: not
//! a proof.

use super::Outcome;
use anyhow::Context as _;
use distlab::explore::{Bounds, Order, explore, explore_parallel};
use distlab::scenario::RunOptions;
use distlab::scenario::expect::Expectation;
use distlab::scenario::writer::ScenarioWriter;
use distlab::sim::TraceLevel;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab explore explore/exercise-2pc-commit-on-timeout --depth 12
  distlab explore explore/exercise-2pc-commit-on-timeout --save-counterexample found.toml
  distlab explore my-lesson.toml --dfs --max-states 100000 --drops 1 --crashes 1
  distlab explore explore/choice-rare-refusal --choices 0")]
pub struct Args {
    /// A scenario file, or a lesson name such as `explore/exercise-2pc-commit-on-timeout`.
    pub file: PathBuf,
    /// Longest path explored, in moves.
    #[arg(long, default_value_t = 30)]
    pub depth: usize,
    /// Stop after this many unique states.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_states: u64,
    /// Stop when the process holds more than this much memory (resident,
    /// looked at every 1024 unique states; Linux): bytes, or with a unit —
    /// KiB, MiB, GiB (or KB, MB, GB). Where it stops varies from run to
    /// run; `--max-states` is the bound that does not.
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = parse_size)]
    pub max_memory: u64,
    /// Breadth first (the default): the counterexample found is a shortest one.
    #[arg(long, conflicts_with = "dfs")]
    pub bfs: bool,
    /// Depth first.
    #[arg(long)]
    pub dfs: bool,
    /// Messages the search may drop on one path.
    #[arg(long, default_value_t = 0)]
    pub drops: u8,
    /// Messages the search may duplicate on one path.
    #[arg(long, default_value_t = 0)]
    pub duplicates: u8,
    /// Node crashes on one path (a crashed node may restart at any point).
    #[arg(long, default_value_t = 0)]
    pub crashes: u8,
    /// Worker threads (breadth first only): they share the seen-set and
    /// find the same states and the same shortest counterexample as one.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// Tell states apart by their checkers' states too, not only by the
    /// model's: slower, and the states counted may be many more (checkers
    /// keep times and totals), but a check that depends on how a state was
    /// reached cannot be missed by merging two ways to it.
    #[arg(long)]
    pub checker_state: bool,
    /// Branch on every nondeterministic choice a step makes among at most
    /// this many options (a protocol's `choose`, and `chance` as two):
    /// each option is a successor of its own. A choice among more options
    /// follows the seed, and the verdict says so. 0 follows the seed always.
    #[arg(long, value_name = "K", default_value_t = 16)]
    pub choices: u64,
    /// Use this seed instead of the scenario's (the network's latencies).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the path to a violation as a scenario that replays it.
    #[arg(long, value_name = "OUT.toml")]
    pub save_counterexample: Option<PathBuf>,
}

/// The exit status of a search that a bound cut short.
pub const INCOMPLETE: u8 = 3;

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let path = super::resolve(&args.file);
    let scenario = super::load(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.depth == 0 {
        anyhow::bail!("--depth must be at least 1");
    }
    if args.max_states == 0 {
        anyhow::bail!("--max-states must be at least 1");
    }
    if args.jobs == 0 {
        anyhow::bail!("--jobs must be at least 1");
    }
    if args.jobs > 1 && args.dfs {
        anyhow::bail!("--jobs searches breadth first: it cannot be used with --dfs");
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    // The checker reads every history event as it happens; keeping the
    // history as well only costs time (nothing here prints it).
    let options = RunOptions {
        seed: Some(seed),
        trace: TraceLevel::Off,
        record_history: false,
        ..RunOptions::default()
    };
    let mut driver = scenario.protocol.build(&scenario, options);
    let bounds = Bounds {
        depth: args.depth,
        max_states: args.max_states,
        drops: args.drops,
        duplicates: args.duplicates,
        crashes: args.crashes,
        until: scenario.duration,
        order: if args.dfs { Order::Dfs } else { Order::Bfs },
        at_end: scenario.protocol.checks().iter().filter(|c| c.at_end).map(|c| c.name.to_string()).collect(),
        ungraded: scenario
            .expectations
            .iter()
            .filter_map(|e| match e {
                Expectation::Ungraded { name } => Some(name.clone()),
                _ => None,
            })
            .collect(),
        checker_state: args.checker_state,
        choices: args.choices,
        max_memory: Some(args.max_memory),
    };
    let before = peak_rss();
    let out = if args.jobs > 1 {
        drop(driver);
        let build = || scenario.protocol.build(&scenario, options);
        explore_parallel(&build, &bounds, args.jobs)
    } else {
        explore(driver.as_mut(), &bounds)
    };
    let grown = peak_rss().zip(before).map(|(after, before)| after.saturating_sub(before));
    let order = if args.dfs { "dfs" } else { "bfs" };
    let jobs = if args.jobs > 1 { format!(", {} jobs", args.jobs) } else { String::new() };
    println!("explore {} (seed {seed}, {order}{jobs})", path.display());
    println!(
        "  bounds: depth {}, max states {}, drops {}, duplicates {}, crashes {}, {}, until {}",
        bounds.depth,
        bounds.max_states,
        bounds.drops,
        bounds.duplicates,
        bounds.crashes,
        if bounds.choices == 0 {
            "choices the seed's".to_string()
        } else {
            format!("choices up to {}", bounds.choices)
        },
        scenario.duration
    );
    println!("  states explored: {}", out.explored);
    println!("  unique states: {}", out.unique);
    println!("  depth reached: {}", out.depth_reached);
    println!("  speed: {:.0} unique states/s ({:.2} s)", out.states_per_second(), out.seconds);
    if let Some(grown) = grown {
        println!(
            "  memory: peak RSS grew {:.1} MiB, {} bytes per unique state (frontier peak {} states)",
            grown as f64 / (1024.0 * 1024.0),
            grown / out.unique.max(1),
            out.peak_frontier
        );
    }
    if let Some(v) = &out.violation {
        println!("VIOLATION: `{}` breaks after {} moves: {}", v.check, v.depth, v.detail);
        for (i, m) in v.moves.iter().enumerate() {
            println!("  {:>3}. {m}", i + 1);
        }
        if let Some(file) = &args.save_counterexample {
            let text = counterexample(&scenario, &path, seed, order, v)?;
            std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))?;
            println!("saved to {} (replay: distlab run {})", file.display(), file.display());
        }
        return Ok(Outcome::ExpectationFailed);
    }
    let why = |out: &distlab::explore::Outcome| {
        let mut cut = Vec::new();
        if out.hit_max_states {
            cut.push("--max-states was reached".to_string());
        }
        if out.hit_max_memory {
            cut.push(format!("--max-memory was reached: more than {} resident", size(args.max_memory)));
        }
        if out.cut_by_depth > 0 {
            cut.push(format!("{} states at --depth were not expanded", out.cut_by_depth));
        }
        cut.join("; ")
    };
    let past = if out.past_duration > 0 {
        let n = out.past_duration;
        format!(" ({n} state{} past the lesson's duration not expanded)", if n == 1 { "" } else { "s" })
    } else {
        String::new()
    };
    if let Some(most) = out.seeded_choices {
        if bounds.choices == 0 {
            println!("  the protocol's choices followed the seed (--choices 0), one option of each searched");
        } else {
            println!(
                "  choices among more than {} options followed the seed (the largest among {most}; one option of each searched)",
                bounds.choices
            );
        }
    }
    if out.complete() {
        println!("no violation: every state within the bounds was explored{past}");
        Ok(Outcome::Success)
    } else {
        println!("no violation within bounds (incomplete: {}){past}", why(&out));
        Ok(Outcome::Incomplete)
    }
}

/// The lesson with the path's interventions as step-keyed timeline entries.
fn counterexample(
    scenario: &distlab::scenario::Scenario,
    path: &std::path::Path,
    seed: u64,
    order: &str,
    v: &distlab::explore::Violation,
) -> anyhow::Result<String> {
    let source = distlab::scenario::read_source(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut file = ScenarioWriter::new(&source).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    file.header(&format!(
        "A counterexample found by `distlab explore {} --{order}`: `{}` breaks after {} moves.\n\
         The moves the search made are the step-keyed [[timeline]] entries at the end;\n\
         `distlab run` or `distlab tui` on this file replays the path exactly.",
        path.display(),
        v.check,
        v.depth
    ));
    file.seed(seed);
    let a_check = scenario.protocol.checks().iter().any(|c| c.name == v.check);
    if a_check {
        file.without_expectations_of(&v.check);
        file.expect_check(&v.check, false);
    }
    file.comment("---- the moves distlab explore made ----");
    for f in &v.interventions {
        if !file.timeline(scenario, f.at, f.step, &f.fault) {
            file.comment(&format!("step {:?}: {:?} cannot be written as a timeline entry", f.step, f.fault));
        }
    }
    Ok(file.finish())
}

/// A size in bytes: a whole number, optionally followed by a unit (`B`,
/// `KiB`, `MiB`, `GiB`, or `KB`, `MB`, `GB` in powers of 1000; any case).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a size such as 4GiB or 512MiB"))?;
    let unit_bytes: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            let unit = unit.trim();
            return Err(format!("unknown unit `{unit}`: expected B, KiB, MiB, GiB, KB, MB or GB"));
        }
    };
    match n.checked_mul(unit_bytes) {
        Some(0) => Err("the size must be more than zero".into()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("`{text}` is too large")),
    }
}

/// A size in words: `4 GiB`, `512 MiB`, or bytes.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b => format!("{b} bytes"),
    }
}

/// The process's peak resident memory in bytes (Linux: `VmHWM` in
/// `/proc/self/status`); `None` elsewhere.
fn peak_rss() -> Option<u64> {
    distlab::util::process_memory("VmHWM")
}

#[cfg(test)]
mod tests {
    use super::{parse_size, size};

    #[test]
    fn sizes_read_with_their_units_and_bad_ones_say_why() {
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("4gb"), Ok(4_000_000_000));
        assert!(parse_size("4 GiBs").unwrap_err().contains("unknown unit `GiBs`"));
        assert!(parse_size("GiB").unwrap_err().contains("not a size"));
        assert!(parse_size("0MiB").unwrap_err().contains("more than zero"));
        assert!(parse_size("99999999999GiB").unwrap_err().contains("too large"));
        assert_eq!(size(4 << 30), "4 GiB");
        assert_eq!(size(64 << 20), "64 MiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}

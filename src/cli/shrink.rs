//! Shrinking a failing seed to a small scenario a student can replay.
//!
//! A failing seed's faults are the scenario's timeline plus the schedule
//! its `[nemesis]` drew. The shrinker turns that schedule into explicit
//! faults and makes the run smaller while it still fails the same check:
//! 1. drop nemesis faults — each fault together with the fault that undoes
//!    it (crash with its restart), then single faults;
//! 2. move each remaining fault later, by halves of the time left, while it
//!    still fails (a later fault disturbs less of the run before it);
//! 3. shorten the workload: halve each client's operation count while it
//!    still fails.
//!
//! The scenario's own timeline is kept as written: it is the lesson's. The
//! result is written as an ordinary scenario file — the original text with
//! the `[nemesis]` table removed, `seed` fixed, client `ops` shortened, and
//! the kept faults appended as `[[timeline]]` entries, with a note at the
//! violation — and loaded and run again to confirm that it reproduces.

use super::check::{Failure, check_seed};
use crate::nodes::NodeId;
use crate::scenario::Scenario;
use crate::sim::{Fault, Origin, SimTime, TimedFault};
use std::fmt::Write as _;

/// A shrunk counterexample.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub seed: u64,
    /// The nemesis faults kept, as timeline faults, in order.
    pub faults: Vec<TimedFault>,
    /// Operations per `[[clients]]` entry.
    pub ops: Vec<u64>,
    pub failure: Failure,
    /// Candidate runs tried.
    pub runs: usize,
}

/// The scenario with the nemesis replaced by `faults` and the clients'
/// operation counts by `ops`.
fn candidate(base: &Scenario, faults: &[TimedFault], ops: &[u64]) -> Scenario {
    let mut s = base.clone();
    s.nemesis = None;
    s.timeline.extend(faults.iter().cloned());
    for (c, &n) in s.clients.iter_mut().zip(ops) {
        c.ops = n;
    }
    s
}

/// Runs candidates: does this smaller run still fail the same check?
struct Trial<'a> {
    scenario: &'a Scenario,
    seed: u64,
    linearizable: bool,
    check: String,
    runs: usize,
    /// The failure of the last candidate that still failed.
    failure: Failure,
}

impl Trial<'_> {
    fn fails(&mut self, faults: &[TimedFault], ops: &[u64]) -> bool {
        self.runs += 1;
        match check_seed(&candidate(self.scenario, faults, ops), self.seed, self.linearizable) {
            Some(f) if f.check == self.check => {
                self.failure = f;
                true
            }
            _ => false,
        }
    }

    /// Drops faults — pairs first (the nemesis schedules each fault and its
    /// undo next to each other), then single ones — and again until none
    /// can go (dropping a late fault can make an early one unnecessary).
    fn drop_faults(&mut self, faults: &mut Vec<TimedFault>, ops: &[u64]) {
        loop {
            let before = faults.len();
            for width in [2, 1] {
                let mut i = 0;
                while i + width <= faults.len() {
                    let mut fewer = faults.clone();
                    fewer.drain(i..i + width);
                    if self.fails(&fewer, ops) {
                        *faults = fewer;
                    } else {
                        i += width;
                    }
                }
            }
            if faults.len() == before {
                return;
            }
        }
    }
}

/// Shrinks a failing seed. `None` if the seed does not fail.
pub fn shrink(scenario: &Scenario, seed: u64, linearizable: bool) -> Option<Shrunk> {
    let first = check_seed(scenario, seed, linearizable)?;
    let mut faults: Vec<TimedFault> = scenario
        .nemesis
        .as_ref()
        .map(|n| n.schedule(seed, scenario.cluster.len() as u32, &scenario.clocks))
        .unwrap_or_default()
        .into_iter()
        .map(|f| TimedFault { origin: Origin::Timeline, ..f })
        .collect();
    let mut ops: Vec<u64> = scenario.clients.iter().map(|c| c.ops).collect();
    let mut t = Trial { scenario, seed, linearizable, check: first.check.clone(), runs: 0, failure: first };
    if !t.fails(&faults, &ops) {
        // Cannot happen: the same faults, now from the timeline.
        return Some(Shrunk { seed, faults, ops, failure: t.failure, runs: t.runs });
    }
    // 1. Fewer faults.
    t.drop_faults(&mut faults, &ops);
    // 2. Later faults, as late as they keep failing (never past the next
    //    fault, to keep their order).
    for i in 0..faults.len() {
        let limit = faults.get(i + 1).map_or(scenario.duration, |f| f.at);
        let mut gap = limit.0.saturating_sub(faults[i].at.0) / 2;
        while gap >= 1000 {
            let mut later = faults.clone();
            later[i].at = SimTime(later[i].at.0 + gap);
            if t.fails(&later, &ops) {
                faults = later;
            }
            gap /= 2;
        }
    }
    // 3. A shorter workload.
    for c in 0..ops.len() {
        while ops[c] > 1 {
            let mut fewer = ops.clone();
            fewer[c] /= 2;
            if !t.fails(&faults, &fewer) {
                break;
            }
            ops = fewer;
        }
    }
    // Moving and shortening can make more faults unnecessary.
    t.drop_faults(&mut faults, &ops);
    // Leave the recorded failure that of the final candidate.
    t.fails(&faults, &ops);
    Some(Shrunk { seed, faults, ops, failure: t.failure, runs: t.runs })
}

/// One fault as the action lines of a `[[timeline]]` entry (`crash =
/// "n1"`), or `None` if the file format cannot name it (a cut or link
/// naming one process of a multi-process client). Used for the shrinker's
/// counterexamples and for runs saved from the TUI.
pub fn timeline_action(scenario: &Scenario, fault: &Fault) -> Option<String> {
    let name = |n: NodeId| scenario.cluster.name(n).to_string();
    let quoted = |names: Vec<String>| names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let one = |e: &Option<crate::sim::EndpointId>| -> Option<Option<String>> {
        match e {
            None => Some(None),
            Some(e) => endpoint_names(scenario, &[*e]).map(|mut v| v.pop()),
        }
    };
    Some(match fault {
        Fault::Crash(n) => format!("crash = \"{}\"", name(*n)),
        Fault::Restart(n) => format!("restart = \"{}\"", name(*n)),
        Fault::Pause(n) => format!("pause = \"{}\"", name(*n)),
        Fault::Resume(n) => format!("resume = \"{}\"", name(*n)),
        Fault::Heal => "heal = true".into(),
        Fault::Partition(groups) => {
            let groups: Option<Vec<String>> = groups
                .iter()
                .map(|g| endpoint_names(scenario, g).map(|v| format!("[{}]", quoted(v))))
                .collect();
            format!("partition = [{}]", groups?.join(", "))
        }
        Fault::Cut { from, to } => format!(
            "cut = {{ from = {}, to = {} }}",
            single(endpoint_names(scenario, from)?)?,
            single(endpoint_names(scenario, to)?)?
        ),
        Fault::Clock { node, offset_us, drift_ppm } => {
            format!(
                "clock = {{ node = \"{}\", offset = \"{offset_us}us\", drift_ppm = {drift_ppm} }}",
                name(*node)
            )
        }
        Fault::Link { from, to, faults } => {
            let mut fields = Vec::new();
            for (key, e) in [("from", from), ("to", to)] {
                if let Some(n) = one(e)? {
                    fields.push(format!("{key} = \"{n}\""));
                }
            }
            // No faults: back to the scenario's [network], every
            // probability left out.
            if let Some(f) = faults {
                fields.push(format!(
                    "drop = {}, duplicate = {}, reorder = {}",
                    f.drop.as_f64(),
                    f.duplicate.as_f64(),
                    f.reorder.as_f64()
                ));
            }
            format!("link = {{ {} }}", fields.join(", ")).replace("{  }", "{}")
        }
        Fault::Command { node, command } => format!("{} = \"{}\"", command.name(), name(*node)),
        Fault::DropMessage(id) => format!("drop_message = {id}"),
        Fault::DuplicateMessage(id) => format!("duplicate_message = {id}"),
        Fault::DeliverNext(id) => format!("deliver_next = {id}"),
        Fault::Note { text, pause } => {
            let text = text.replace('\\', "\\\\").replace('"', "\\\"");
            format!("note = \"\"\"\n{text}\n\"\"\"{}", if *pause { "\nwait = true" } else { "" })
        }
    })
}

/// A cut's side as the file writes it: one name.
fn single(mut names: Vec<String>) -> Option<String> {
    (names.len() == 1).then(|| format!("\"{}\"", names.pop().unwrap_or_default()))
}

/// Endpoints by the names a scenario file gives them: nodes by name, a
/// client entry by its name when all its processes are there. `None` if
/// some client processes are there without the rest of their entry.
fn endpoint_names(scenario: &Scenario, endpoints: &[crate::sim::EndpointId]) -> Option<Vec<String>> {
    let nodes = scenario.cluster.len() as u32;
    let mut out: Vec<String> = endpoints
        .iter()
        .filter(|e| e.0 < nodes)
        .map(|e| scenario.cluster.name(NodeId(e.0)).to_string())
        .collect();
    let mut first = nodes;
    let mut covered = 0;
    for c in &scenario.clients {
        let range = first..first + c.processes;
        let here = endpoints.iter().filter(|e| range.contains(&e.0)).count();
        if here == c.processes as usize {
            out.push(c.name.clone());
        } else if here > 0 {
            return None;
        }
        covered += here;
        first += c.processes;
    }
    let known = endpoints.iter().filter(|e| e.0 < nodes).count() + covered;
    (known == endpoints.len()).then_some(out)
}

/// Removes the `[nemesis]` table, fixes the seed and the clients' `ops`.
fn rewrite(source: &str, seed: u64, ops: &[u64]) -> String {
    let mut out = String::new();
    let mut table = String::new();
    let mut client = 0usize;
    let mut seed_written = false;
    for line in source.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            if table == "[scenario]" && !seed_written {
                let _ = writeln!(out, "seed = {seed}");
                seed_written = true;
            }
            table = t.split('#').next().unwrap_or_default().trim().to_string();
            if table == "[[clients]]" {
                client += 1;
            }
        }
        if table == "[nemesis]" {
            continue;
        }
        let key = t.split('=').next().unwrap_or_default().trim();
        if table == "[scenario]" && key == "seed" {
            let _ = writeln!(out, "seed = {seed}");
            seed_written = true;
        } else if table == "[[clients]]" && key == "ops" && t.contains('=') {
            let _ = writeln!(out, "ops = {}", ops[client - 1]);
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if table == "[scenario]" && !seed_written {
        let _ = writeln!(out, "seed = {seed}");
    }
    out
}

/// The counterexample as a scenario file.
pub fn counterexample_file(scenario: &Scenario, source: &str, shrunk: &Shrunk, from: &str) -> String {
    let mut out = format!(
        "# A counterexample found by `distlab check {from}`: seed {} breaks `{}`.\n\
         # Shrunk from the nemesis's schedule to the faults below ({} runs tried).\n\
         # Replay it with `distlab run` or step through it with `distlab tui`.\n\n",
        shrunk.seed, shrunk.failure.check, shrunk.runs
    );
    out.push_str(&rewrite(source, shrunk.seed, &shrunk.ops));
    let _ = writeln!(out, "\n# ---- the shrunk fault schedule ----");
    for f in &shrunk.faults {
        if let Some(a) = timeline_action(scenario, &f.fault) {
            let _ = writeln!(out, "\n[[timeline]]\nat = \"{}us\"\n{a}", f.at.0);
        }
    }
    // The step numbers of the detail are the original run's: the replay's
    // differ (its notes are events too), so the note gives times only.
    let note = format!("`{}` breaks: {}", shrunk.failure.check, without_steps(&shrunk.failure.detail))
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let at = shrunk.failure.at.unwrap_or(scenario.duration);
    let _ = writeln!(out, "\n[[timeline]]\nat = \"{}us\"\nnote = \"\"\"\n{note}\n\"\"\"\nwait = true", at.0);
    let expected = scenario.expectations.iter().any(|e| match e {
        crate::check::Expectation::Check { name, .. } | crate::check::Expectation::Ungraded { name } => {
            *name == shrunk.failure.check
        }
        _ => false,
    });
    if !expected && shrunk.failure.check != "linearizability" {
        let _ = writeln!(out, "\n[[expect]]\ncheck = \"{}\"\nholds = false", shrunk.failure.check);
    }
    out
}

/// `(at 1.2s, step 2026)` → `(at 1.2s)`: drops every `, step N`.
fn without_steps(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len());
    let mut rest = detail;
    while let Some(i) = rest.find(", step ") {
        let digits = rest[i + 7..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push_str(&rest[..i + 7]);
        } else {
            out.push_str(&rest[..i]);
        }
        rest = &rest[i + 7 + digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{rewrite, without_steps};

    #[test]
    fn notes_give_times_not_the_original_run_s_steps() {
        assert_eq!(without_steps("x (at 1.2s, step 2026)"), "x (at 1.2s)");
        assert_eq!(without_steps("x (at 1s, step 7; 3 times in all)"), "x (at 1s; 3 times in all)");
        assert_eq!(without_steps("a, step up, step 5"), "a, step up");
    }

    #[test]
    fn rewrite_drops_the_nemesis_and_fixes_seed_and_ops() {
        let src = "[scenario]\nname = \"x\" # keep\n\n[[clients]]\nops = 100\n\n[nemesis]\nfaults = [\"crash\"]\n\n[[clients]]\nops = 7\n";
        let out = rewrite(src, 42, &[50, 3]);
        assert_eq!(
            out,
            "[scenario]\nname = \"x\" # keep\n\nseed = 42\n[[clients]]\nops = 50\n\n[[clients]]\nops = 3\n"
        );
        let out = rewrite("[scenario]\nseed = 1\nname = \"y\"\n[nemesis]\nstop = \"1s\"\n", 9, &[]);
        assert_eq!(out, "[scenario]\nseed = 9\nname = \"y\"\n");
        assert_eq!(rewrite("[scenario]\nname = \"z\"\n", 5, &[]), "[scenario]\nname = \"z\"\nseed = 5\n");
    }
}

//! `w`: a run with the student's interventions, saved as a scenario file.
//!
//! The file is the lesson as written, with the seed fixed to the one the
//! run used, and every intervention appended as a `[[timeline]]` entry keyed
//! by its step (`step = N`) as well as its time: a step-keyed entry runs
//! exactly before event `N`, so `distlab run` or `distlab tui` on the saved
//! file replays this run event for event (same trace digest). The actions
//! are written by [`crate::check::shrink::timeline_action`], the writer the
//! shrinker's counterexamples use.

use super::app::Lesson;
use super::tape::Tape;
use crate::check::shrink::timeline_action;
use std::fmt::Write as _;

/// The scenario text for the run on `tape`.
pub fn scenario_with_interventions(lesson: &Lesson, tape: &Tape) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Saved from `distlab tui {}` at step {} ({}), seed {}.\n\
         # The interventions made by hand are the step-keyed [[timeline]] entries at\n\
         # the end; `distlab run` or `distlab tui` on this file replays the run exactly.\n",
        lesson.path.display(),
        tape.step(),
        tape.driver().now(),
        lesson.seed,
    );
    out.push_str(&with_seed(&lesson.source, lesson.seed));
    if !tape.interventions().is_empty() {
        let _ = writeln!(out, "\n# ---- interventions made in distlab tui ----");
    }
    for (step, fault) in tape.interventions() {
        let at = tape.time_of(*step).unwrap_or_default();
        match timeline_action(&lesson.scenario, fault) {
            Some(action) => {
                let _ = writeln!(out, "\n[[timeline]]\nat = \"{}us\"\nstep = {step}\n{action}", at.0);
            }
            // Every intervention the TUI makes can be written; keep the
            // file honest should that change.
            None => {
                let _ = writeln!(out, "\n# step {step}: {fault:?} cannot be written as a timeline entry");
            }
        }
    }
    out
}

/// The scenario text with `[scenario] seed` set to `seed`.
fn with_seed(source: &str, seed: u64) -> String {
    let mut out = String::new();
    let mut table = String::new();
    let mut written = false;
    for line in source.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            if table == "[scenario]" && !written {
                let _ = writeln!(out, "seed = {seed}");
                written = true;
            }
            table = t.split('#').next().unwrap_or_default().trim().to_string();
        }
        let key = t.split('=').next().unwrap_or_default().trim();
        if table == "[scenario]" && key == "seed" && t.contains('=') {
            let _ = writeln!(out, "seed = {seed}");
            written = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if table == "[scenario]" && !written {
        let _ = writeln!(out, "seed = {seed}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_seed;

    /// The seed is replaced where it is written, or added to `[scenario]`.
    #[test]
    fn seed_is_fixed_in_the_scenario_table() {
        assert_eq!(
            with_seed("[scenario]\nseed = 1\nname = \"a\"\n", 9),
            "[scenario]\nseed = 9\nname = \"a\"\n"
        );
        assert_eq!(
            with_seed("[scenario]\nname = \"a\"\n\n[cluster]\nnodes = 3\n", 4),
            "[scenario]\nname = \"a\"\n\nseed = 4\n[cluster]\nnodes = 3\n"
        );
        assert_eq!(with_seed("[scenario]\nname = \"a\"", 5), "[scenario]\nname = \"a\"\nseed = 5\n");
    }
}

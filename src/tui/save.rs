//! `w`: a run with the student's interventions, saved as a scenario file.
//!
//! The file is the lesson as written, with the seed fixed to the one the
//! run used, and every intervention appended as a `[[timeline]]` entry keyed
//! by its step (`step = N`) as well as its time: a step-keyed entry runs
//! exactly before event `N`, so `distlab run` or `distlab tui` on the saved
//! file replays this run event for event (same trace digest). It is written
//! by [`crate::scenario::writer`], the writer the shrinker's
//! counterexamples use.

use super::app::Lesson;
use super::tape::Tape;
use crate::scenario::writer::{NotToml, ScenarioWriter};

/// The scenario text for the run on `tape`.
pub fn scenario_with_interventions(lesson: &Lesson, tape: &Tape) -> Result<String, NotToml> {
    let mut file = ScenarioWriter::new(&lesson.source)?;
    file.header(&format!(
        "Saved from `distlab tui {}` at step {} ({}), seed {}.\n\
         The interventions made by hand are the step-keyed [[timeline]] entries at\n\
         the end; `distlab run` or `distlab tui` on this file replays the run exactly.",
        lesson.path.display(),
        tape.step(),
        tape.driver().now(),
        lesson.seed,
    ));
    file.seed(lesson.seed);
    file.comment("---- interventions made in distlab tui ----");
    for (step, fault) in tape.interventions() {
        let at = tape.time_of(*step).unwrap_or_default();
        // Every intervention the TUI makes can be written; keep the file
        // honest should that change.
        if !file.timeline(&lesson.scenario, at, Some(*step), fault) {
            file.comment(&format!("step {step}: {fault:?} cannot be written as a timeline entry"));
        }
    }
    Ok(file.finish())
}

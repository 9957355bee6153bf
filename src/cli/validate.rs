//! `distlab validate FILE...`: load and check scenario files, run nothing.

use super::Outcome;
use distlab::scenario::ScenarioError;
use distlab::scenario::diagnose::{self, MAX_ERRORS};
use distlab::util::escape;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab validate my-lesson.toml
  distlab validate scenarios/quorum/strict-quorum.toml scenarios/saga/orchestrator-crash.toml")]
pub struct Args {
    /// Scenario files (or lesson names). Each file's errors are all shown,
    /// up to 10.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut bad = 0;
    for f in &args.files {
        match super::load(f) {
            // The name is printable (the loader escapes it); the path is
            // escaped here.
            Ok(s) => {
                println!("ok    {}  ({}, {})", escape(&f.display().to_string()), s.name, s.protocol.name())
            }
            Err(first) => {
                bad += 1;
                for e in every_error(f, first) {
                    eprintln!("{e}\n");
                }
            }
        }
    }
    if bad > 0 {
        anyhow::bail!("{}", invalid_count(bad, args.files.len()));
    }
    Ok(Outcome::Success)
}

/// The file's errors, up to [`MAX_ERRORS`]: after the first, the loader
/// sets the part of the file it points at aside and looks again (see
/// [`distlab::scenario::diagnose`]).
fn every_error(arg: &std::path::Path, first: ScenarioError) -> Vec<String> {
    let path = super::resolve(arg);
    let Ok(source) = distlab::scenario::read_source(&path) else { return vec![first.to_string()] };
    let file = path.display().to_string();
    let mut errors = diagnose::errors(&distlab::protocols::registry(), &file, &source, MAX_ERRORS);
    if errors.is_empty() {
        errors.push(first);
    }
    let mut shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    if errors.len() == MAX_ERRORS {
        shown.push(format!(
            "(validate shows at most {MAX_ERRORS} errors per file; fix these and run it again)"
        ));
    }
    shown
}

/// `the file is invalid`, `1 of 3 files is invalid`, `2 of 3 files are invalid`.
fn invalid_count(bad: usize, files: usize) -> String {
    match (bad, files) {
        (_, 1) => "the file is invalid".into(),
        (1, n) => format!("1 of {n} files is invalid"),
        (b, n) if b == n => format!("all {n} files are invalid"),
        (b, n) => format!("{b} of {n} files are invalid"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_read_as_english() {
        assert_eq!(super::invalid_count(1, 1), "the file is invalid");
        assert_eq!(super::invalid_count(1, 3), "1 of 3 files is invalid");
        assert_eq!(super::invalid_count(2, 3), "2 of 3 files are invalid");
        assert_eq!(super::invalid_count(2, 2), "all 2 files are invalid");
    }
}

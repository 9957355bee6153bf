//! `distlab validate FILE...`: load and check scenario files, run nothing.

use super::Outcome;
use distlab::util::escape;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab validate my-lesson.toml
  distlab validate scenarios/quorum/strict-quorum.toml scenarios/saga/orchestrator-crash.toml")]
pub struct Args {
    /// Scenario files (or lesson names).
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
            Err(e) => {
                bad += 1;
                eprintln!("{e}\n");
            }
        }
    }
    if bad > 0 {
        anyhow::bail!("{}", invalid_count(bad, args.files.len()));
    }
    Ok(Outcome::Success)
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

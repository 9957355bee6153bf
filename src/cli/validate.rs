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
        anyhow::bail!("{bad} of {} files are invalid", args.files.len());
    }
    Ok(Outcome::Success)
}

//! `distlab tui FILE [--seed N]`: step through a lesson in the terminal.

use super::Outcome;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab tui primary-replica/async-crash
  distlab tui found.toml --seed 3")]
pub struct Args {
    /// A scenario file, or a lesson name such as `primary-replica/async-crash`.
    pub file: PathBuf,
    /// Use this seed instead of the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let app = distlab::tui::App::open(&args.file, args.seed, distlab::tui::theme::Theme::from_env())?;
    distlab::tui::run(app)?;
    Ok(Outcome::Success)
}

//! `distlab schema`: JSON Schemas — of the scenario format, for editors
//! and tools (see `distlab::scenario::schema`), and of what `run`, `check`
//! and `grade` print with `--json`, for scripts and autograders. The
//! output schemas are derived from the structs that are printed, so they
//! cannot drift from them; fields are only ever added.

use super::Outcome;
use anyhow::Context as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab schema --out scenario.schema.json
  distlab schema --of check > check-output.schema.json")]
pub struct Args {
    /// Which schema: the scenario format, or the JSON that `run`, `check`
    /// or `grade` prints with `--json`.
    #[arg(long, value_enum, default_value = "scenario")]
    pub of: Of,
    /// Write the schema to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Of {
    Scenario,
    Run,
    Check,
    Grade,
}

/// The schema `of` names, as JSON.
pub fn schema(of: Of) -> serde_json::Value {
    let output = |s: schemars::Schema| serde_json::to_value(s).expect("a schema is JSON");
    match of {
        Of::Scenario => distlab::scenario::schema::json_schema(&distlab::protocols::registry()),
        Of::Run => output(schemars::schema_for!(distlab::check::run::RunSummary)),
        Of::Check => output(schemars::schema_for!(super::check::CheckSummary)),
        Of::Grade => output(schemars::schema_for!(super::grade::GradeSummary)),
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let text = serde_json::to_string_pretty(&schema(args.of))? + "\n";
    match &args.out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(Outcome::Success)
}

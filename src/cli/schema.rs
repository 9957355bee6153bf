//! `distlab schema`: the scenario format as a JSON Schema, for editors and
//! tools (see `distlab::scenario::schema`).

use super::Outcome;
use anyhow::Context as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab schema --out scenario.schema.json")]
pub struct Args {
    /// Write the schema to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let schema = distlab::scenario::schema::json_schema(&distlab::protocols::registry());
    let text = serde_json::to_string_pretty(&schema)? + "\n";
    match &args.out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(Outcome::Success)
}

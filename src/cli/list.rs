//! `distlab list`: the protocols and the bundled lessons, one line each.

use super::Outcome;
use crate::protocols::registry;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also list each protocol's checks and metrics.
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    println!("protocols:");
    for p in registry() {
        println!("  {:<18} {}", p.name(), p.summary());
        if args.verbose {
            for (name, what) in p.checks() {
                println!("      check  {name:<22} {what}");
            }
            for (name, what) in p.metrics() {
                println!("      metric {name:<22} {what}");
            }
        }
    }
    let dir = super::scenarios_dir();
    println!("\nlessons (in {}):", dir.display());
    for f in super::scenario_files(&dir) {
        let rel = f.strip_prefix(&dir).unwrap_or(&f).with_extension("");
        match crate::scenario::load(&f) {
            Ok(s) => {
                println!("  {:<36} {}", rel.display(), first_sentence(&s.description));
            }
            Err(e) => println!("  {:<40} INVALID: {}", rel.display(), e.message),
        }
    }
    Ok(Outcome::Success)
}

/// The first sentence of a description, on one line.
fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(i) => flat[..=i].to_string(),
        None => flat,
    }
}

//! `distlab list`: the protocols and the bundled lessons, one line each.

use super::Outcome;
use distlab::protocols::registry;
use distlab::util::escape;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also list each protocol's checks, metrics and gauges.
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    println!("protocols:");
    for p in registry().iter() {
        println!("  {:<18} {}", p.name(), p.summary());
        if args.verbose {
            for (name, what) in p.checks() {
                println!("      check  {name:<22} {what}");
            }
            for (name, what) in p.metrics() {
                println!("      metric {name:<22} {what}");
            }
            let engine = (
                "messages_in_flight",
                "messages sent and not yet delivered or dropped (held at a paused node included)",
            );
            for (name, what) in std::iter::once(&engine).chain(p.gauges()) {
                println!("      gauge  {name:<22} {what}");
            }
        }
    }
    let dir = super::scenarios_dir();
    println!("\nlessons (in {}; run one with `distlab run NAME`):", escape(&dir.display().to_string()));
    let lessons: Vec<_> = super::scenario_files(&dir)
        .into_iter()
        .map(|f| {
            (
                escape(&f.strip_prefix(&dir).unwrap_or(&f).with_extension("").display().to_string())
                    .into_owned(),
                f,
            )
        })
        .collect();
    let width = lessons.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    // A lesson's description and an error's message are printable (the
    // loader escapes them); its name comes from a file name, escaped above.
    for (name, f) in &lessons {
        match super::load(f) {
            Ok(s) => println!("  {name:<width$}  {}", super::first_sentence(&s.description)),
            Err(e) => println!("  {name:<width$}  INVALID: {}", e.message),
        }
    }
    Ok(Outcome::Success)
}

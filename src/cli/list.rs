//! `distlab list`: the protocols and the bundled lessons, one line each.

use super::Outcome;
use distlab::check::MESSAGES_IN_FLIGHT;
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
    for p in registry() {
        println!("  {:<18} {}", p.name(), p.summary());
        if args.verbose {
            for c in p.checks() {
                println!("      check  {:<22} {}", c.name, c.meaning);
            }
            for m in p.metrics() {
                println!("      metric {:<22} {:<8} {}", m.name, m.unit, m.meaning);
            }
            for g in std::iter::once(&MESSAGES_IN_FLIGHT).chain(p.gauges()) {
                println!("      gauge  {:<22} {:<8} {}", g.name, g.unit, g.meaning);
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
        match distlab::scenario::load(f) {
            Ok(s) => println!("  {name:<width$}  {}", super::first_sentence(&s.description)),
            Err(e) => println!("  {name:<width$}  INVALID: {}", e.message),
        }
    }
    Ok(Outcome::Success)
}

//! `distlab list`: the protocols and the bundled lessons, one line each.

use super::Outcome;
use distlab::check::MESSAGES_IN_FLIGHT;
use distlab::protocols::registry;
use distlab::util::escape;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab list
  distlab list --verbose")]
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
            for c in p.checks() {
                let when = if c.at_end { " (judged at the end)" } else { "" };
                println!("      check  {:<22} {}{when}", c.name, c.meaning);
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
    println!(
        "\nlessons, in course order (in {}; run one with `distlab run NAME`):",
        escape(&dir.display().to_string())
    );
    let course = distlab::scenario::library::course(&dir);
    let all: Vec<&String> = course.iter().flat_map(|c| &c.lessons).collect();
    let width = all.iter().map(|name| escape(name).chars().count()).max().unwrap_or(0);
    // A lesson's description and an error's message are printable (the
    // loader escapes them); its name comes from a file name, escaped here.
    let line = |name: &str| {
        let shown = escape(name);
        match super::load(&dir.join(name).with_extension("toml")) {
            Ok(s) => println!("    {shown:<width$}  {}", super::first_sentence(&s.description)),
            Err(e) => println!("    {shown:<width$}  INVALID: {}", e.message),
        }
    };
    for chapter in &course {
        let lessons: Vec<&String> =
            chapter.lessons.iter().filter(|n| !distlab::scenario::library::is_exercise(n)).collect();
        if lessons.is_empty() {
            continue;
        }
        println!("  {}", escape(&chapter.title));
        for name in lessons {
            line(name);
        }
    }
    let exercises: Vec<&&String> =
        all.iter().filter(|n| distlab::scenario::library::is_exercise(n)).collect();
    if !exercises.is_empty() {
        println!("\nexercises (find the bug; `distlab check NAME` grades a fix):");
        for name in exercises {
            line(name);
        }
    }
    Ok(Outcome::Success)
}

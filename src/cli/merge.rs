//! `distlab merge DIR... --out DIR`: put the shards of one sweep back
//! together (`distlab sweep --shard I/N`, see [`super::sweep::shard`]).
//!
//! Each argument is a folder holding shard files (`shard-I-of-N.json`;
//! several shards may share one folder) or a shard file. The shards must
//! be every shard of one sweep, once each: shards of another sweep (their
//! fingerprints differ: another scenario text, grid, seeds, samples,
//! charts, budget or distlab version), a missing shard or one given twice
//! is bad input (exit status 2), named. The grid is rebuilt from the
//! scenario text the shards record, the runs are put back in
//! (configuration, seed) order, and the files are written as `sweep`
//! writes them: the same bytes as the sweep run in one go.

use super::Outcome;
use super::sweep::{Output, configurations, grid, shard};
use anyhow::Context as _;
use distlab::util::count;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab sweep quorum/nrw-tradeoff --vary protocol.w=1,2,3 --shard 1/2 --out shards
  distlab sweep quorum/nrw-tradeoff --vary protocol.w=1,2,3 --shard 2/2 --out shards
  distlab merge shards --out sweep-w")]
pub struct Args {
    /// Shard folders (each holding `shard-I-of-N.json` files written by
    /// `distlab sweep --shard I/N --out DIR`) or shard files.
    #[arg(required = true, value_name = "DIR")]
    pub shards: Vec<PathBuf>,
    /// The folder for the CSV files and charts (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    super::sweep::claim_out(&args.out)?;
    let mut files = Vec::new();
    for arg in &args.shards {
        for path in shard::find(arg)? {
            // The same file named twice (a folder and a file in it) is
            // one shard given twice: `assemble` says so.
            let file = shard::read(&path)?;
            files.push((path, file));
        }
    }
    let first = &files[0].1;
    let (name, source) = (first.file.clone(), first.sweep.source.clone());
    let path = Path::new(&name);
    let vary: Vec<grid::Vary> = first
        .sweep
        .vary
        .iter()
        .map(|v| grid::parse_vary(v).map_err(|e| anyhow::anyhow!("--vary {v}: {e}")))
        .collect::<Result<_, _>>()?;
    let base = distlab::scenario::load_str(&distlab::protocols::registry(), &name, &source)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (configs, skipped) = configurations(path, &source, &vary, first.sweep.skip_invalid)?;
    let seeds: Vec<u64> = (first.sweep.seeds[0]..first.sweep.seeds[1]).collect();
    let merged = shard::assemble(files, &configs, &seeds).context("merging")?;
    println!(
        "merge {} of sweep {} ({}): {} × {} = {}",
        count(merged.of, "shard"),
        base.name,
        base.protocol.name(),
        count(configs.len(), "configuration"),
        count(seeds.len(), "seed"),
        count(merged.results.len(), "run")
    );
    for (with, why) in &skipped {
        println!("  skipped {with}: {why}");
    }
    let output = Output {
        base: &base,
        vary: &vary,
        configs: &configs,
        seeds: &seeds,
        samples: merged.spec.samples,
        plot: &merged.spec.plot,
        no_png: merged.spec.no_png,
        out: &args.out,
    };
    output.write(merged.results)
}

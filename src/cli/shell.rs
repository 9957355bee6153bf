//! `distlab completions SHELL` and `distlab man`: the shell completion
//! scripts and the man pages, generated from the same clap definitions
//! that parse the command line (so they cannot drift from it).

use super::{Cli, Outcome};
use anyhow::Context as _;
use clap::CommandFactory as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab completions bash > ~/.local/share/bash-completion/completions/distlab
  distlab completions zsh > ~/.zfunc/_distlab
  distlab completions fish > ~/.config/fish/completions/distlab.fish")]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab man --out man/
  man man/distlab-run.1")]
pub struct ManArgs {
    /// The folder for `distlab.1` and one page per subcommand
    /// (`distlab-run.1`, ...).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "distlab", &mut std::io::stdout());
    Ok(Outcome::Success)
}

pub fn man(args: ManArgs) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd.clone(), &args.out)
        .with_context(|| format!("writing to {}", args.out.display()))?;
    let pages = 1 + cmd.get_subcommands().filter(|c| !c.is_hide_set()).count();
    println!("wrote {pages} man pages to {}", args.out.display());
    Ok(Outcome::Success)
}

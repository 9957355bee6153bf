//! `distlab`: parse the command line, call into the library, map the
//! outcome to an exit status (0 ok, 1 a check or expectation failed, 2 bad
//! input) in one place.

use clap::Parser;
use distlab::cli::{Cli, Outcome};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match distlab::cli::run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::ExpectationFailed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

//! `distlab`: parse the command line, call into the library, map the
//! outcome to an exit status (0 ok, 1 a check or expectation failed, 2 bad
//! input, 3 `explore` cut short by a bound) in one place.

mod cli;

/// Every allocation is counted (one thread-local add), so `distlab
/// bench` reports allocations per event.
#[global_allocator]
static ALLOCATOR: cli::alloc::Counting = cli::alloc::Counting;

use clap::Parser;
use cli::{Cli, Outcome};
use std::process::ExitCode;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let json = cli.command.json();
    match cli::run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::ExpectationFailed) => ExitCode::from(1),
        Ok(Outcome::Incomplete) => ExitCode::from(cli::explore::INCOMPLETE),
        Err(e) => {
            if json {
                // What a script reads: `{"error": "...", "status": 2}`.
                let error = serde_json::json!({ "error": format!("{e:#}"), "status": 2 });
                println!("{error}");
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Rust ignores SIGPIPE, so `distlab list | head` would panic when `head`
/// closes the pipe. Restore the default: end quietly, as `cat` does.
#[cfg(unix)]
fn restore_sigpipe() {
    // SAFETY: sets one signal's disposition to its default, before any
    // thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}

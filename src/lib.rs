//! distlab: a deterministic simulator and teaching lab for distributed data
//! systems.
//!
//! Load a scenario, build a run, drive it:
//!
//! ```
//! let scenario = distlab::scenario::load_str("example.toml", r#"
//! [scenario]
//! name = "tiny"
//! protocol = "echo"
//! duration = "100ms"
//! [cluster]
//! nodes = 3
//! "#).unwrap();
//! let mut run = distlab::protocols::build(&scenario, Default::default()).unwrap();
//! run.run_until(scenario.duration);
//! assert!(run.stats().delivered > 0);
//! ```
//!
//! The crate's map: [`sim`] is the engine, [`nodes`] the runtime protocols
//! act through, [`protocols`] the protocols themselves, [`scenario`] the
//! file format, [`check`] the invariants, [`cli`] the `distlab` command, [`tui`] the
//! terminal UI.

pub mod check;
pub mod cli;
pub mod nodes;
pub mod plot;
pub mod protocols;
pub mod scenario;
pub mod sim;
pub mod tui;
pub mod util;

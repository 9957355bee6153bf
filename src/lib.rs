//! distlab: a deterministic simulator and teaching lab for distributed data
//! systems.
//!
//! Load a scenario, build a run, drive it:
//!
//! ```
//! let scenario = distlab::scenario::load_str(&distlab::protocols::registry(), "example.toml", r#"
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
//! The crate's map: [`time`] and [`rng`] are virtual time and seeded
//! randomness, below everything; [`nodes`] is the contract protocols act
//! through (it imports nothing from the engine); [`sim`] is the engine;
//! [`protocols`] the protocols themselves; [`scenario`] the file format;
//! [`check`] the invariants and the harness that runs them over seeds;
//! `tui` the terminal UI and `plot` charts, behind the cargo features of
//! those names (on by default; a library user embedding the simulator in
//! tests turns them off with `default-features = false` and compiles
//! neither ratatui nor plotters). The `distlab` command line is the
//! binary's own (`src/cli/`), not part of the library.

pub mod check;
pub mod explore;
pub mod live;
pub mod nodes;
#[cfg(feature = "plot")]
pub mod plot;
pub mod protocols;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod time;
#[cfg(feature = "tui")]
pub mod tui;
pub mod util;

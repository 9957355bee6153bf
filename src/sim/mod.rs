//! The simulation engine: virtual time, the event queue, seeded RNG
//! streams, the network, faults, the trace, and the object-safe
//! [`Driver`] that the CLI, the TUI and the checkers use.

pub mod budget;
pub mod canon;
pub mod capacity;
mod clients;
pub mod driver;
pub mod engine;
pub mod fault;
mod faults;
mod fingerprint;
pub mod hash;
pub mod history;
mod host;
mod inspect;
pub mod monitor;
pub mod network;
mod queue;
mod shared;
mod slab;
pub mod trace;

// Time and randomness sit below both the engine and the protocol contract
// (`crate::time`, `crate::rng`); re-exported here under their old paths.
pub use crate::{rng, time};

pub use crate::nodes::EndpointId;
pub use budget::{Budget, Halt};
pub use capacity::{Capacity, LoadSummary, WhenFull};
pub use driver::{Driver, NodeSummary, Snapshot};
pub use engine::{InFlight, Sim, SimConfig, Stats, StepRecord};
pub use fault::{Fault, Origin, TimedFault};
pub use faults::{InterventionError, MAX_CHOICES};
pub use hash::Digest;
pub use history::{History, HistoryEvent, HistoryKind, TypedEvent};
pub use host::NodeStatus;
pub use monitor::{At, Cause, Checker, ObservationRecord, Report, Verdict};
pub use time::{SimDuration, SimTime};
pub use trace::{TraceEvent, TraceKind, TraceLevel, TraceSink};

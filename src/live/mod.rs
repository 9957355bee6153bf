//! Running protocols outside the simulator, on real time and real disks.
//!
//! The simulator's host (`sim::host`) is the reference for what every
//! [`crate::nodes::Effect`] means; [`host::LiveNode`] gives them the same
//! meaning with a wall clock and a file: durable writes are appended to a
//! log file and fsynced before anything gated on them
//! ([`crate::nodes::Context::once_durable`]) is released; timers are keyed
//! (setting a key replaces its pending timer); a crash drops the node's
//! state, its pending timers, its unflushed writes and every gated effect.
//!
//! [`maelstrom`] runs one node as a process speaking Maelstrom's protocol
//! (`distlab maelstrom PROTOCOL`). No async runtime: one thread reads
//! standard input, the node's thread waits on a channel with a timeout
//! until its next timer. The simulator core never names this module
//! (`tests/architecture.rs`).
//!
//! [`net`] runs a whole lesson on the loopback network (`distlab live`):
//! every node and client process a tokio task with its own UDP socket, a
//! router applying the lesson's network and faults, the same checkers.
//! tokio is an optional dependency (the `live` feature, on by default).

pub mod host;
pub mod maelstrom;
#[cfg(feature = "live")]
pub mod net;

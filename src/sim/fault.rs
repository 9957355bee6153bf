//! Faults: what the timeline, the nemesis and interventions can do.
//!
//! One vocabulary for all three sources, as data, so a run's faults can be
//! printed, saved as timeline entries, shrunk and replayed.

use super::network::{EndpointId, LinkFaults};
use super::rng::{RngStream, StreamKind};
use super::time::{SimDuration, SimTime};
use crate::nodes::{Command, NodeId};

#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Fault {
    /// Lose volatile state, timers, unflushed writes and held messages.
    Crash(NodeId),
    /// Start again from what is on disk.
    Restart(NodeId),
    /// Freeze (a long GC pause): nothing is received, no timer fires.
    Pause(NodeId),
    /// Unfreeze: held messages and overdue timers are processed now.
    Resume(NodeId),
    /// Split the network into groups that cannot reach each other.
    Partition(Vec<Vec<EndpointId>>),
    /// Cut one direction of one link.
    Cut { from: Vec<EndpointId>, to: Vec<EndpointId> },
    /// Remove every partition and cut.
    Heal,
    /// Set a node's clock offset (µs, local minus real) and drift (ppm).
    Clock { node: NodeId, offset_us: i64, drift_ppm: i64 },
    /// Change fault probabilities of one link, or all (`None` = every);
    /// `faults: None` puts the links back to the scenario's `[network]`.
    Link { from: Option<EndpointId>, to: Option<EndpointId>, faults: Option<LinkFaults> },
    /// An operator command to one node (manual failover).
    Command { node: NodeId, command: Command },
    /// Drop a message in flight (by id).
    DropMessage(u64),
    /// Deliver a second copy of a message in flight.
    DuplicateMessage(u64),
    /// Deliver a message in flight now, ahead of everything else.
    DeliverNext(u64),
    /// Narrative text for the student; `pause` asks the TUI to stop here.
    Note { text: String, pause: bool },
}

impl Fault {
    /// The keyword used in scenario files and traces.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Crash(_) => "crash",
            Fault::Restart(_) => "restart",
            Fault::Pause(_) => "pause",
            Fault::Resume(_) => "resume",
            Fault::Partition(_) => "partition",
            Fault::Cut { .. } => "cut",
            Fault::Heal => "heal",
            Fault::Clock { .. } => "clock",
            Fault::Link { .. } => "link",
            Fault::Command { .. } => "command",
            Fault::DropMessage(_) => "drop-message",
            Fault::DuplicateMessage(_) => "duplicate-message",
            Fault::DeliverNext(_) => "deliver-next",
            Fault::Note { .. } => "note",
        }
    }
}

/// Where a fault came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Timeline,
    Nemesis,
    Intervention,
}

/// A fault at a virtual time; with `step`, exactly before that event
/// sequence number (how interventions replay exactly).
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct TimedFault {
    pub at: SimTime,
    pub step: Option<u64>,
    pub fault: Fault,
    pub origin: Origin,
}

/// The kinds of fault the random nemesis may choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NemesisFault {
    /// Crash a random node, restart it `heal_after` later.
    Crash,
    /// Pause a random node, resume it later.
    Pause,
    /// Isolate a random minority of nodes, heal later.
    Partition,
    /// Set a random node's clock off by up to `clock_skew`, set back later.
    Clock,
    /// Make every link lossy (`loss`), then restore.
    Loss,
}

/// A random nemesis for property tests: faults at exponentially
/// distributed intervals, each undone `heal_after` later, none after `stop`
/// (after which everything is healed, so liveness can be checked).
#[derive(Clone, Debug, PartialEq)]
pub struct NemesisConfig {
    pub faults: Vec<NemesisFault>,
    /// Mean time between two faults.
    pub mean_interval: SimDuration,
    /// How long each fault lasts.
    pub heal_after: SimDuration,
    pub start: SimTime,
    pub stop: SimTime,
    pub clock_skew: SimDuration,
    pub loss: f64,
}

impl NemesisConfig {
    /// Draws the whole fault schedule up front from the nemesis stream, so
    /// it is data: printable, shrinkable, replayable as timeline entries.
    /// Faults never overlap: each is undone before the next begins.
    /// Undoing a fault restores the scenario's own setting: the network's
    /// fault probabilities, and each node's clock from `clocks` (`(offset_us,
    /// drift_ppm)` per node).
    pub fn schedule(&self, seed: u64, nodes: u32, clocks: &[(i64, i64)]) -> Vec<TimedFault> {
        let mut rng = RngStream::new(seed, StreamKind::Nemesis, 0, 0);
        let mut out = Vec::new();
        let mut t = self.start;
        if self.faults.is_empty() || nodes == 0 {
            return out;
        }
        loop {
            t = t.after(SimDuration(rng.exponential(self.mean_interval.0 as f64) as u64));
            let end = t.after(self.heal_after);
            if end > self.stop {
                break;
            }
            let kind = self.faults[rng.below(self.faults.len() as u64) as usize];
            let node = NodeId(rng.below(nodes as u64) as u32);
            let (begin, undo) = match kind {
                NemesisFault::Crash => (Fault::Crash(node), Fault::Restart(node)),
                NemesisFault::Pause => (Fault::Pause(node), Fault::Resume(node)),
                NemesisFault::Partition => {
                    let minority = 1 + rng.below(((nodes - 1) / 2).max(1) as u64) as u32;
                    let mut ids: Vec<u32> = (0..nodes).collect();
                    for i in (1..ids.len()).rev() {
                        ids.swap(i, rng.below(i as u64 + 1) as usize);
                    }
                    let (a, b) = ids.split_at(minority as usize);
                    let group = |xs: &[u32]| {
                        let mut v: Vec<EndpointId> = xs.iter().map(|&x| EndpointId(x)).collect();
                        v.sort();
                        v
                    };
                    (Fault::Partition(vec![group(a), group(b)]), Fault::Heal)
                }
                NemesisFault::Clock => {
                    let skew = rng.below(self.clock_skew.0 * 2 + 1) as i64 - self.clock_skew.0 as i64;
                    (Fault::Clock { node, offset_us: skew, drift_ppm: 0 }, {
                        let (offset_us, drift_ppm) = clocks.get(node.index()).copied().unwrap_or((0, 0));
                        Fault::Clock { node, offset_us, drift_ppm }
                    })
                }
                NemesisFault::Loss => (
                    Fault::Link {
                        from: None,
                        to: None,
                        faults: Some(LinkFaults {
                            drop: super::rng::Probability::new(self.loss),
                            ..Default::default()
                        }),
                    },
                    Fault::Link { from: None, to: None, faults: None },
                ),
            };
            out.push(TimedFault { at: t, step: None, fault: begin, origin: Origin::Nemesis });
            out.push(TimedFault { at: end, step: None, fault: undo, origin: Origin::Nemesis });
            t = end;
        }
        out
    }
}

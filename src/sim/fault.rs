//! Faults: what the timeline, the nemesis and interventions can do.
//!
//! One vocabulary for all three sources, as data, so a run's faults can be
//! printed, saved as timeline entries, shrunk and replayed.

use super::network::{EndpointId, LinkFaults};
use super::rng::{RngStream, StreamKind};
use super::time::{SimDuration, SimTime};
use crate::nodes::{Clock, Command, NodeId};

#[derive(Clone, Debug, PartialEq, Hash, serde::Serialize, serde::Deserialize)]
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
    /// The values the next nondeterministic choices handlers make take,
    /// in order (`Context::choose` and `Context::chance`, see
    /// `nodes::Choices`): how `distlab explore` branches on a choice, and
    /// how a path it found replays it. (Last: a fault's hash, which traces
    /// keep, depends on its variant's place.)
    Choose(Vec<u64>),
}

impl Fault {
    /// The fault in words (`n1 crashes`, `partition {n1} | {n2 n3}`), with
    /// nodes and endpoints named by the caller: the simulator and the live
    /// runtime say faults alike.
    pub fn describe(
        &self,
        node: impl Fn(NodeId) -> String,
        endpoint: impl Fn(EndpointId) -> String,
    ) -> String {
        let names = |v: &[EndpointId]| v.iter().map(|e| endpoint(*e)).collect::<Vec<_>>().join(" ");
        match self {
            Fault::Crash(n) => format!("{} crashes", node(*n)),
            Fault::Restart(n) => format!("{} restarts", node(*n)),
            Fault::Pause(n) => format!("{} pauses", node(*n)),
            Fault::Resume(n) => format!("{} resumes", node(*n)),
            Fault::Partition(groups) => format!(
                "partition {}",
                groups.iter().map(|g| format!("{{{}}}", names(g))).collect::<Vec<_>>().join(" | ")
            ),
            Fault::Cut { from, to } => format!("cut {} -> {}", names(from), names(to)),
            Fault::Heal => "network heals".into(),
            Fault::Clock { node: n, offset_us, drift_ppm } => {
                format!("{} clock offset {offset_us}us drift {drift_ppm}ppm", node(*n))
            }
            Fault::Link { from, to, faults } => {
                let end = |e: &Option<EndpointId>| e.map_or("*".to_string(), &endpoint);
                let (f, t) = (end(from), end(to));
                match faults {
                    Some(x) => format!(
                        "link {f} -> {t}: drop {} duplicate {} reorder {}",
                        x.drop.as_f64(),
                        x.duplicate.as_f64(),
                        x.reorder.as_f64()
                    ),
                    None => format!("link {f} -> {t}: back to the scenario's network"),
                }
            }
            Fault::Command { node: n, command } => format!("{} ordered to {}", node(*n), command.name()),
            Fault::DropMessage(id) => format!("message {id} dropped by hand"),
            Fault::DuplicateMessage(id) => format!("message {id} duplicated by hand"),
            Fault::DeliverNext(id) => format!("message {id} delivered next"),
            Fault::Choose(values) => format!(
                "the next choices take {}",
                values.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ),
            Fault::Note { text, .. } => text.clone(),
        }
    }

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
            Fault::Choose(_) => "choose",
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
    /// Make every link duplicate messages (`duplicate`), then restore.
    Duplicate,
    /// Make a random node's clock run fast or slow by up to
    /// `max_drift_ppm`, then at its own rate again (what it gained or lost
    /// meanwhile stays: a drifting clock is not set back).
    Drift,
}

impl NemesisFault {
    /// Every kind, with the keyword a scenario file uses, in file order.
    pub const ALL: &'static [(&'static str, NemesisFault)] = &[
        ("crash", NemesisFault::Crash),
        ("pause", NemesisFault::Pause),
        ("partition", NemesisFault::Partition),
        ("clock", NemesisFault::Clock),
        ("loss", NemesisFault::Loss),
        ("duplicate", NemesisFault::Duplicate),
        ("drift", NemesisFault::Drift),
    ];

    /// The keyword a scenario file uses.
    pub fn name(self) -> &'static str {
        NemesisFault::ALL.iter().find(|(_, k)| *k == self).map_or("?", |(n, _)| n)
    }
}

/// A random nemesis for property tests: faults at exponentially
/// distributed intervals, each undone `heal_after` later, none after `stop`
/// (after which everything is healed, so liveness can be checked).
///
/// Disk latency is not one of its faults: a durable write's latency is the
/// scenario's `[cluster] disk_latency`, the same for every write of a run.
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
    /// The duplication probability of every link during a `duplicate`
    /// fault.
    pub duplicate: f64,
    /// The largest drift a `drift` fault gives a clock, either way, in
    /// parts per million.
    pub max_drift_ppm: i64,
    /// How many faults may be in force at once. 1 (the default): each
    /// fault is undone before the next begins. More: a fault may begin
    /// while others last (a crash during a partition), each on its own
    /// target (see [`NemesisConfig::schedule`]).
    pub max_concurrent: u32,
}

/// The most faults a nemesis may keep in force at once.
pub const MAX_CONCURRENT_FAULTS: u32 = 64;

/// The longest schedule a nemesis draws, in entries (a fault and its undo
/// are two): the schedule is drawn whole, kept in memory and shrunk, so it
/// has a bound whatever the configuration. A scenario file never gets near
/// it: the loader refuses a `[nemesis]` whose interval would draw more
/// than [`crate::scenario::limits::TIMELINE_ENTRIES`] (10,000) faults, and
/// this is twice that.
pub const MAX_SCHEDULE_FAULTS: usize = 40_000;

/// What the schedule has in force at some time, so that overlapping
/// faults never undo each other: each node carries at most one node fault
/// (crash, pause, clock, drift), the network at most one partition and at
/// most one change of every link (loss, duplication).
#[derive(Default)]
struct InForce {
    /// Per node: until when a fault holds it.
    node_until: Vec<SimTime>,
    partition_until: SimTime,
    links_until: SimTime,
    /// When each fault in force ends, to count them.
    ends: Vec<SimTime>,
}

impl NemesisConfig {
    /// A nemesis with the documented defaults for every optional field.
    pub fn new(faults: Vec<NemesisFault>, mean_interval: SimDuration, stop: SimTime) -> Self {
        NemesisConfig {
            faults,
            mean_interval,
            heal_after: SimDuration(mean_interval.0 / 2),
            start: SimTime::ZERO,
            stop,
            clock_skew: SimDuration::from_millis(100),
            loss: 0.2,
            duplicate: 0.2,
            max_drift_ppm: 1000,
            max_concurrent: 1,
        }
    }

    /// The preset `distlab check --nemesis aggressive` runs a lesson
    /// under: every kind of fault, up to three at once, about sixteen
    /// faults per run, each lasting about two intervals; none after three
    /// quarters of the run (so the end shows recovery).
    pub fn aggressive(duration: SimTime) -> Self {
        let stop = SimTime(duration.0 / 4 * 3);
        let mean_interval = SimDuration((stop.0 / 16).max(1000));
        NemesisConfig {
            heal_after: SimDuration(mean_interval.0 * 2),
            clock_skew: SimDuration::from_millis(250),
            loss: 0.3,
            duplicate: 0.3,
            max_drift_ppm: 10_000,
            max_concurrent: 3,
            ..NemesisConfig::new(NemesisFault::ALL.iter().map(|k| k.1).collect(), mean_interval, stop)
        }
    }

    /// Draws the whole fault schedule up front from the nemesis stream, so
    /// it is data: printable, shrinkable, replayable as timeline entries.
    /// Each fault comes right before the fault that undoes it (so the
    /// shrinker can drop the two together); with `max_concurrent` 1 the
    /// list is in time order, as no fault overlaps another.
    ///
    /// Undoing a fault restores the scenario's own setting: the network's
    /// fault probabilities, and each node's clock from `clocks` (`(offset_us,
    /// drift_ppm)` per node) — except after a drift, which leaves the
    /// offset the drift built up.
    ///
    /// With `max_concurrent` above 1, a fault begins every interval
    /// whatever is in force, unless `max_concurrent` faults already are
    /// (then that turn is skipped). A node fault goes to the drawn node or,
    /// if a fault holds it, the next free one; a partition waits for the
    /// last to heal, and a link fault (loss, duplication) for the last to
    /// be restored: a turn that finds no free target is skipped.
    ///
    /// The schedule ends early rather than grow past
    /// [`MAX_SCHEDULE_FAULTS`] entries.
    pub fn schedule(&self, seed: u64, nodes: u32, clocks: &[(i64, i64)]) -> Vec<TimedFault> {
        let mut rng = RngStream::new(seed, StreamKind::Nemesis, 0, 0);
        let mut out = Vec::new();
        let mut t = self.start;
        if self.faults.is_empty() || nodes == 0 {
            return out;
        }
        let overlap = self.max_concurrent > 1;
        let configured = |node: NodeId| clocks.get(node.index()).copied().unwrap_or((0, 0));
        // Each node's clock as the schedule leaves it (for drift, which
        // keeps the reading a clock has).
        let mut clock: Vec<Clock> = (0..nodes)
            .map(|n| {
                let (offset_us, drift_ppm) = configured(NodeId(n));
                Clock::new(SimTime::ZERO, offset_us, drift_ppm)
            })
            .collect();
        let mut in_force = InForce { node_until: vec![SimTime::ZERO; nodes as usize], ..Default::default() };
        while out.len() < MAX_SCHEDULE_FAULTS {
            t = t.after(SimDuration(rng.exponential(self.mean_interval.0 as f64) as u64));
            let end = t.after(self.heal_after);
            if end > self.stop {
                break;
            }
            let kind = self.faults[rng.below(self.faults.len() as u64) as usize];
            let drawn = NodeId(rng.below(nodes as u64) as u32);
            in_force.ends.retain(|&e| e > t);
            let node = if overlap {
                if in_force.ends.len() >= self.max_concurrent as usize {
                    continue;
                }
                let free = match kind {
                    NemesisFault::Partition => in_force.partition_until <= t,
                    NemesisFault::Loss | NemesisFault::Duplicate => in_force.links_until <= t,
                    _ => true,
                };
                if !free {
                    continue;
                }
                let node_fault = matches!(
                    kind,
                    NemesisFault::Crash | NemesisFault::Pause | NemesisFault::Clock | NemesisFault::Drift
                );
                if node_fault {
                    let next_free = (0..nodes)
                        .map(|i| NodeId((drawn.0 + i) % nodes))
                        .find(|n| in_force.node_until[n.index()] <= t);
                    match next_free {
                        Some(n) => n,
                        None => continue,
                    }
                } else {
                    drawn
                }
            } else {
                drawn
            };
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
                    in_force.partition_until = end;
                    (Fault::Partition(vec![group(a), group(b)]), Fault::Heal)
                }
                NemesisFault::Clock => {
                    let skew = rng.below(self.clock_skew.0 * 2 + 1) as i64 - self.clock_skew.0 as i64;
                    (Fault::Clock { node, offset_us: skew, drift_ppm: 0 }, {
                        let (offset_us, drift_ppm) = configured(node);
                        Fault::Clock { node, offset_us, drift_ppm }
                    })
                }
                NemesisFault::Drift => {
                    let max = self.max_drift_ppm.unsigned_abs();
                    let drift_ppm = rng.below(max * 2 + 1) as i64 - max as i64;
                    let offset_us = clock[node.index()].offset_us(t);
                    let drifting = Clock::new(t, offset_us, drift_ppm);
                    let kept = drifting.offset_us(end);
                    (
                        Fault::Clock { node, offset_us, drift_ppm },
                        Fault::Clock { node, offset_us: kept, drift_ppm: configured(node).1 },
                    )
                }
                NemesisFault::Loss | NemesisFault::Duplicate => {
                    let faults = if kind == NemesisFault::Loss {
                        LinkFaults { drop: super::rng::Probability::new(self.loss), ..Default::default() }
                    } else {
                        LinkFaults {
                            duplicate: super::rng::Probability::new(self.duplicate),
                            ..Default::default()
                        }
                    };
                    in_force.links_until = end;
                    (
                        Fault::Link { from: None, to: None, faults: Some(faults) },
                        Fault::Link { from: None, to: None, faults: None },
                    )
                }
            };
            for (at, f) in [(t, &begin), (end, &undo)] {
                if let Fault::Clock { node, offset_us, drift_ppm } = *f {
                    clock[node.index()] = Clock::new(at, offset_us, drift_ppm);
                }
            }
            if matches!(begin, Fault::Crash(_) | Fault::Pause(_) | Fault::Clock { .. }) {
                in_force.node_until[node.index()] = end;
            }
            in_force.ends.push(end);
            out.push(TimedFault { at: t, step: None, fault: begin, origin: Origin::Nemesis });
            out.push(TimedFault { at: end, step: None, fault: undo, origin: Origin::Nemesis });
            if !overlap {
                t = end;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic() -> NemesisConfig {
        NemesisConfig {
            heal_after: SimDuration::from_millis(150),
            ..NemesisConfig::new(
                NemesisFault::ALL[..5].iter().map(|k| k.1).collect(),
                SimDuration::from_millis(200),
                SimTime(1_500_000),
            )
        }
    }

    const CLOCKS: &[(i64, i64)] = &[(0, 0), (1000, 5), (0, 0), (0, 0), (-30, 0)];

    /// The schedules of the nemesis as it was before overlapping faults and
    /// the new kinds, drawn by that code: a scenario that asks for none of
    /// the new fields gets the very same faults, so lessons and their
    /// counterexamples replay as before.
    #[test]
    fn the_classic_nemesis_draws_the_same_schedule_as_before() {
        let shown = |seed| -> Vec<(u64, String)> {
            classic()
                .schedule(seed, 5, CLOCKS)
                .into_iter()
                .map(|f| (f.at.0, format!("{:?}", f.fault)))
                .collect()
        };
        let loss = "Link { from: None, to: None, faults: Some(LinkFaults { drop: Probability(3689348814741910528), duplicate: Probability(0), reorder: Probability(0) }) }";
        let expected_7: Vec<(u64, &str)> = vec![
            (
                185359,
                "Partition([[EndpointId(2)], [EndpointId(0), EndpointId(1), EndpointId(3), EndpointId(4)]])",
            ),
            (335359, "Heal"),
            (
                387691,
                "Partition([[EndpointId(2)], [EndpointId(0), EndpointId(1), EndpointId(3), EndpointId(4)]])",
            ),
            (537691, "Heal"),
            (601441, "Clock { node: n1, offset_us: -69829, drift_ppm: 0 }"),
            (751441, "Clock { node: n1, offset_us: 0, drift_ppm: 0 }"),
            (764950, "Clock { node: n3, offset_us: -11462, drift_ppm: 0 }"),
            (914950, "Clock { node: n3, offset_us: 0, drift_ppm: 0 }"),
            (1284039, loss),
            (1434039, "Link { from: None, to: None, faults: None }"),
        ];
        let expected_8: Vec<(u64, &str)> = vec![
            (204853, "Clock { node: n5, offset_us: 63215, drift_ppm: 0 }"),
            (354853, "Clock { node: n5, offset_us: -30, drift_ppm: 0 }"),
            (
                532992,
                "Partition([[EndpointId(3), EndpointId(4)], [EndpointId(0), EndpointId(1), EndpointId(2)]])",
            ),
            (682992, "Heal"),
            (737008, "Pause(n5)"),
            (887008, "Resume(n5)"),
            (997173, "Crash(n5)"),
            (1147173, "Restart(n5)"),
            (1237536, "Clock { node: n5, offset_us: -43103, drift_ppm: 0 }"),
            (1387536, "Clock { node: n5, offset_us: -30, drift_ppm: 0 }"),
        ];
        let owned = |v: Vec<(u64, &str)>| v.into_iter().map(|(t, f)| (t, f.to_string())).collect::<Vec<_>>();
        assert_eq!(shown(7), owned(expected_7));
        assert_eq!(shown(8), owned(expected_8));
    }

    fn busy_node(f: &Fault) -> Option<NodeId> {
        match f {
            Fault::Crash(n) | Fault::Pause(n) | Fault::Clock { node: n, .. } => Some(*n),
            _ => None,
        }
    }

    /// With `max_concurrent`, faults overlap — a crash during a partition,
    /// two nodes down at once — but never more than allowed, never two on
    /// one node, one partition and one change of the links at a time; each
    /// fault is followed by its undo, and the schedule replays.
    #[test]
    fn overlapping_faults_stay_within_their_bounds() {
        let n = NemesisConfig {
            faults: NemesisFault::ALL.iter().map(|k| k.1).collect(),
            heal_after: SimDuration::from_millis(400),
            max_concurrent: 3,
            ..NemesisConfig::new(Vec::new(), SimDuration::from_millis(100), SimTime(10_000_000))
        };
        let mut most = 0;
        let mut crash_in_partition = false;
        for seed in 0..50 {
            let s = n.schedule(seed, 5, CLOCKS);
            assert_eq!(s, n.schedule(seed, 5, CLOCKS), "the same seed, the same schedule");
            assert!(s.len().is_multiple_of(2));
            let pairs: Vec<(&TimedFault, &TimedFault)> = s.chunks(2).map(|p| (&p[0], &p[1])).collect();
            for (i, (a, b)) in pairs.iter().enumerate() {
                assert_eq!(b.at, a.at.after(n.heal_after), "{:?} is undone heal_after later", a.fault);
                assert!(b.at <= n.stop);
                let overlapping: Vec<&(&TimedFault, &TimedFault)> =
                    pairs[..i].iter().filter(|(c, d)| c.at <= a.at && d.at > a.at).collect();
                most = most.max(overlapping.len() + 1);
                assert!(overlapping.len() < 3, "seed {seed}: more than 3 faults at {}", a.at);
                for (c, _) in &overlapping {
                    if let (Some(x), Some(y)) = (busy_node(&a.fault), busy_node(&c.fault)) {
                        assert_ne!(x, y, "seed {seed}: two faults on one node at {}", a.at);
                    }
                    let same = |k: &str| a.fault.name() == k && c.fault.name() == k;
                    assert!(!same("partition") && !same("link"), "seed {seed}: {:?} twice", a.fault);
                    crash_in_partition |= matches!(a.fault, Fault::Crash(_)) && c.fault.name() == "partition";
                }
            }
        }
        assert_eq!(most, 3, "faults do overlap, up to the bound");
        assert!(crash_in_partition, "a crash during a partition happens");
    }

    /// A drift changes how fast a clock runs, not where it stands: the
    /// clock keeps its reading when the drift begins and when it ends.
    #[test]
    fn drift_never_steps_a_clock() {
        let n = NemesisConfig {
            max_drift_ppm: 50_000,
            ..NemesisConfig::new(vec![NemesisFault::Drift], SimDuration::from_millis(100), SimTime(5_000_000))
        };
        let s = n.schedule(3, 5, CLOCKS);
        assert!(!s.is_empty());
        let mut clocks: Vec<Clock> = CLOCKS.iter().map(|&(o, d)| Clock::new(SimTime::ZERO, o, d)).collect();
        let mut drifted = false;
        for f in &s {
            let Fault::Clock { node, offset_us, drift_ppm } = f.fault else { panic!("{:?}", f.fault) };
            assert_eq!(clocks[node.index()].offset_us(f.at), offset_us, "no step at {}", f.at);
            drifted |= drift_ppm.abs() > 1000;
            assert!(drift_ppm.abs() <= 50_000);
            clocks[node.index()] = Clock::new(f.at, offset_us, drift_ppm);
        }
        assert!(drifted);
    }

    /// Regression: the schedule had no bound; a nemesis drawing a fault
    /// every microsecond for an hour filled memory with billions of them.
    /// It now stops at `MAX_SCHEDULE_FAULTS` entries, still in pairs.
    #[test]
    fn a_schedule_has_a_bounded_size() {
        let n = NemesisConfig::new(vec![NemesisFault::Crash], SimDuration(1), SimTime(3_600_000_000));
        let s = n.schedule(1, 3, &[]);
        assert_eq!(s.len(), MAX_SCHEDULE_FAULTS);
        assert!(matches!(
            (&s[s.len() - 2].fault, &s[s.len() - 1].fault),
            (Fault::Crash(_), Fault::Restart(_))
        ));
    }

    /// Duplication is a fault of every link, set and then restored.
    #[test]
    fn duplication_sets_and_restores_every_link() {
        let n = NemesisConfig {
            duplicate: 0.5,
            ..NemesisConfig::new(
                vec![NemesisFault::Duplicate],
                SimDuration::from_millis(100),
                SimTime(1_000_000),
            )
        };
        let s = n.schedule(1, 3, &[]);
        assert!(!s.is_empty());
        for pair in s.chunks(2) {
            let Fault::Link { from: None, to: None, faults: Some(f) } = &pair[0].fault else { panic!() };
            assert_eq!(f.duplicate, super::super::rng::Probability::new(0.5));
            assert!(f.drop.is_never());
            assert_eq!(pair[1].fault, Fault::Link { from: None, to: None, faults: None });
        }
    }
}

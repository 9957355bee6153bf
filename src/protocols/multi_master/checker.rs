//! The checks of multi-master replication.
//!
//! The checker follows what every node *holds* (from `Holds` and
//! `Restarted` observations), what each accepted client operation became
//! (`Accepted`), and what clients were told (the history). A client writes
//! a unique value — its operation id — so a register value names the write
//! and the moment it was invoked; a cart-add is named by its operation id.
//!
//! Which checks apply depends on the resolution and the data type; a check
//! that does not apply is left out of the report (so a lesson that expects
//! it gets "no such check was run", not a vacuous pass):
//!
//! | check | applies to |
//! | --- | --- |
//! | `convergence` | every run |
//! | `lww-greatest` | `lww` (registers and carts) |
//! | `no-lost-updates` | `lww` registers |
//! | `concurrent-writes-kept` | registers (`lww`, `version-vector`) |
//! | `no-lost-additions` | carts (`lww`, `merge`) |
//! | `cart-is-the-merge` | carts (`lww`, `merge`) |

use super::entry::{Entry, Stamp, VersionVector};
use super::{CartAnswer, CartOp};
use super::{Data, MultiMaster, Observation, Params, Resolution};
use crate::nodes::{Cluster, Item, Key, NodeId, Value};
use crate::sim::monitor::{CheckInfo, MetricInfo, Unit};
use crate::sim::{At, Cause, Checker, HistoryKind, Report, TypedEvent, Verdict};
use crate::time::SimTime;
use std::collections::{BTreeMap, BTreeSet};

/// When a client operation was invoked, accepted (and where) and
/// acknowledged: the evidence of a lost write. Kept for every operation,
/// so packed: [`OpSteps::NOT_YET`] stands for an event that has not
/// happened (56 bytes an operation, not 80 with `Option`s).
#[derive(Clone, Copy, Debug)]
struct OpSteps {
    invoked: At,
    accepted: At,
    accepted_at: NodeId,
    acked: At,
}

impl OpSteps {
    const NOT_YET: At = At { step: u64::MAX, time: SimTime(u64::MAX) };
    const NONE: OpSteps = OpSteps {
        invoked: Self::NOT_YET,
        accepted: Self::NOT_YET,
        accepted_at: NodeId(0),
        acked: Self::NOT_YET,
    };

    fn seen(at: At) -> Option<At> {
        (at != Self::NOT_YET).then_some(at)
    }
}

#[derive(Clone, Debug)]
pub struct MultiMasterChecker {
    /// Each client operation's steps, indexed by op id (the run numbers
    /// operations 1, 2, 3, ...: a vector, not a map, on the hot path).
    steps: Vec<OpSteps>,
    names: std::sync::Arc<[String]>,
    resolution: Resolution,
    data: Data,
    /// What each node holds now.
    holds: Vec<BTreeMap<Key, Entry>>,
    /// History events seen so far: the next event's position.
    events: u64,
    /// When every operation was invoked, as its position in the history
    /// (writes write their op id). Positions order events within one
    /// microsecond too, as the linearizability checker does.
    invoked: BTreeMap<u64, u64>,
    /// Acknowledged register writes: value → key.
    acked: BTreeMap<Value, Key>,
    /// Acknowledged cart-adds: (op, key, item, qty).
    acked_adds: Vec<(u64, Key, Item, u32)>,
    /// What each accepted client operation became: op → (key, entry). A
    /// retried operation accepted twice keeps its last acceptance.
    accepted: BTreeMap<u64, (Key, Entry)>,
    /// Register values that a client write replaced *knowingly*: the write
    /// was accepted at a node that held the value, with a version that
    /// replaces it (a greater stamp, a dominating vector).
    replaced_knowingly: BTreeSet<Value>,
    writes_accepted: u64,
    /// Reads that returned several siblings.
    reads_with_siblings: u64,
    /// The most siblings one read returned.
    siblings_max: usize,
}

/// A register version, as the checks compare them.
#[derive(Clone, Copy, Debug)]
enum Version<'a> {
    Stamped(Stamp, Value),
    Vector(&'a VersionVector),
}

impl Version<'_> {
    /// Whether a node holding `older` drops it on learning `self`: a
    /// greater `(stamp, value)` under LWW, a dominating vector under
    /// version vectors.
    fn replaces(self, older: Version<'_>) -> bool {
        match (self, older) {
            (Version::Stamped(a, va), Version::Stamped(b, vb)) => (a, va) > (b, vb),
            (Version::Vector(a), Version::Vector(b)) => a.dominates(b),
            _ => false,
        }
    }
}

/// The register values an entry holds, with their versions.
fn register_versions(entry: &Entry) -> Vec<(Value, Version<'_>)> {
    match entry {
        Entry::Register { stamp, value } => vec![(*value, Version::Stamped(*stamp, *value))],
        Entry::Siblings(s) => s.iter().map(|s| (s.value, Version::Vector(&s.vector))).collect(),
        Entry::StampedCart { .. } | Entry::Cart(_) => Vec::new(),
    }
}

impl MultiMasterChecker {
    fn keys(&self) -> BTreeSet<Key> {
        self.holds.iter().flat_map(|h| h.keys().copied()).collect()
    }

    /// Keys on which some node disagrees with the first, in order.
    fn divergent_keys(&self) -> Vec<Key> {
        self.keys()
            .into_iter()
            .filter(|k| self.holds.iter().any(|h| h.get(k) != self.holds[0].get(k)))
            .collect()
    }

    fn show(&self, node: usize, key: Key) -> String {
        self.holds[node].get(&key).map_or("nothing".to_string(), |e| e.describe(&self.names))
    }

    /// Entries that could rightly win for a key under LWW: those of
    /// acknowledged operations, and those some node still holds. (A write
    /// lost in a crash before any disk had it was never acknowledged: it
    /// may vanish.)
    fn candidates(&self) -> BTreeMap<Key, Vec<&Entry>> {
        let mut out: BTreeMap<Key, Vec<&Entry>> = BTreeMap::new();
        let acked_ops = self.acked.keys().copied().chain(self.acked_adds.iter().map(|a| a.0));
        for op in acked_ops {
            if let Some((key, entry)) = self.accepted.get(&op)
                && entry.stamp().is_some()
            {
                out.entry(*key).or_default().push(entry);
            }
        }
        for h in &self.holds {
            for (&key, held) in h {
                out.entry(key).or_default().push(held);
            }
        }
        out
    }

    /// Acknowledged register writes that LWW discards in favour of a write
    /// that began earlier and could rightly win (a greater `(stamp,
    /// value)`): (key, the lost write, the earlier write that beat it).
    fn lost_updates(&self) -> Vec<(Key, Value, Value)> {
        let winners: BTreeSet<Value> =
            self.candidates().into_values().flatten().flat_map(|e| e.values()).collect();
        // Per key, writes in invocation order with their stamps.
        let mut by_key: BTreeMap<Key, Vec<(u64, Value, Stamp)>> = BTreeMap::new();
        for (key, entry) in self.accepted.values() {
            if let Entry::Register { stamp, value } = *entry
                && let Some(&invoked) = self.invoked.get(&value)
            {
                by_key.entry(*key).or_default().push((invoked, value, stamp));
            }
        }
        let mut lost = Vec::new();
        for (key, mut writes) in by_key {
            writes.sort();
            // The greatest (stamp, value) among winners invoked earlier.
            let mut best: Option<(Stamp, Value)> = None;
            for (_, value, stamp) in writes {
                if self.acked.contains_key(&value)
                    && let Some(b) = best
                    && b > (stamp, value)
                {
                    lost.push((key, value, b.1));
                }
                if winners.contains(&value) && best.is_none_or(|b| (stamp, value) > b) {
                    best = Some((stamp, value));
                }
            }
        }
        lost
    }

    /// Acknowledged register writes that no node holds and that no write
    /// replaced knowingly: (key, value).
    fn concurrent_writes_lost(&self) -> Vec<(Key, Value)> {
        let held: BTreeSet<(Key, Value)> = self
            .holds
            .iter()
            .flat_map(|h| h.iter().flat_map(|(&k, e)| e.values().into_iter().map(move |v| (k, v))))
            .collect();
        self.acked
            .iter()
            .map(|(&v, &k)| (k, v))
            .filter(|kv| !held.contains(kv) && !self.replaced_knowingly.contains(&kv.1))
            .collect()
    }

    /// Acknowledged cart-adds missing (or short) in some node's cart:
    /// (op, key, item, qty, the first such node, the quantity it has).
    fn lost_additions(&self) -> Vec<(u64, Key, Item, u32, usize, u32)> {
        let mut lost = Vec::new();
        for &(op, key, item, qty) in &self.acked_adds {
            let short = self.holds.iter().enumerate().find_map(|(i, h)| {
                let have = h.get(&key).and_then(Entry::cart).and_then(|c| c.get(&item)).copied().unwrap_or(0);
                (have < qty).then_some((i, have))
            });
            if let Some((node, have)) = short {
                lost.push((op, key, item, qty, node, have));
            }
        }
        lost
    }

    /// Where a node's final cart is not the merge of the carts the adds
    /// made: (node, key, item, what it has, what the merge says). Per item
    /// the merge is the greatest quantity any accepted add's cart had; an
    /// add lost in a crash before it was acknowledged may be missing, so
    /// between the merge of the acknowledged adds' carts and the merge of
    /// every accepted one, a quantity must be one that some cart had.
    fn cart_merge_misses(&self) -> Vec<(usize, Key, Item, u32, u32)> {
        // Per (key, item): every quantity an accepted cart had, and the
        // greatest an acknowledged add's cart had.
        let acked: BTreeSet<u64> = self.acked_adds.iter().map(|a| a.0).collect();
        let mut had: BTreeMap<(Key, Item), (BTreeSet<u32>, u32)> = BTreeMap::new();
        for (op, (key, entry)) in &self.accepted {
            for (&item, &qty) in entry.cart().into_iter().flatten() {
                let (all, floor) = had.entry((*key, item)).or_default();
                all.insert(qty);
                if acked.contains(op) {
                    *floor = (*floor).max(qty);
                }
            }
        }
        let mut misses = Vec::new();
        for (node, holds) in self.holds.iter().enumerate() {
            let mut items: BTreeMap<(Key, Item), u32> = had.keys().map(|&ki| (ki, 0)).collect();
            for (&key, entry) in holds {
                for (&item, &qty) in entry.cart().into_iter().flatten() {
                    items.insert((key, item), qty);
                }
            }
            for ((key, item), have) in items {
                let (all, floor) = had.get(&(key, item)).cloned().unwrap_or_default();
                let merged = all.last().copied().unwrap_or(0);
                let a_cart_had_it = have == 0 || all.contains(&have);
                if have < floor || have > merged || !a_cart_had_it {
                    misses.push((node, key, item, have, merged));
                }
            }
        }
        misses
    }

    /// The evidence of client operation `op` (`what`: `write k0 = 2`):
    /// when it was invoked, accepted and where, and acknowledged.
    fn op_causes(&self, op: u64, what: &str) -> Vec<Cause> {
        let Some(s) = usize::try_from(op).ok().and_then(|i| self.steps.get(i)) else { return Vec::new() };
        let mut out = Vec::new();
        let accepted_by = &self.names[s.accepted_at.index()];
        out.extend(OpSteps::seen(s.invoked).map(|at| Cause::of_op(at, op, format!("{what} began"))));
        out.extend(
            OpSteps::seen(s.accepted)
                .map(|at| Cause::of_op(at, op, format!("{accepted_by} accepted {what}"))),
        );
        out.extend(OpSteps::seen(s.acked).map(|at| Cause::of_op(at, op, format!("{what} was acknowledged"))));
        out
    }

    /// Operation `op`'s steps, the vector grown to hold it.
    fn op_steps(&mut self, op: u64) -> &mut OpSteps {
        let i = op as usize;
        if i >= self.steps.len() {
            self.steps.resize(i + 1, OpSteps::NONE);
        }
        &mut self.steps[i]
    }

    /// `verdict` with the evidence.
    fn verdict_because(name: &'static str, holds: bool, detail: String, mut causes: Vec<Cause>) -> Verdict {
        causes.sort_by_key(|c| c.step);
        Verdict { causes, ..Self::verdict(name, holds, detail) }
    }

    fn verdict(name: &'static str, holds: bool, detail: String) -> Verdict {
        Verdict::new(name, holds, detail)
    }
}

impl Checker<MultiMaster> for MultiMasterChecker {
    const CHECKS: &'static [CheckInfo] = &[
        CheckInfo::new(
            "convergence",
            "at the end, every node holds the same value, cart or siblings for every key",
        )
        .at_end(),
        CheckInfo::new(
            "lww-greatest",
            "lww: the value (or cart) nodes hold is the write with the greatest (timestamp, node)",
        )
        .at_end(),
        CheckInfo::new(
            "no-lost-updates",
            "lww registers: no acknowledged write is overwritten by a write that began earlier",
        ),
        CheckInfo::new(
            "concurrent-writes-kept",
            "registers: no acknowledged write vanishes unless a write that had seen it replaced it",
        )
        .at_end(),
        CheckInfo::new(
            "no-lost-additions",
            "carts: every acknowledged cart-add is in every node's final cart with at least its quantity",
        )
        .at_end(),
        CheckInfo::new(
            "cart-is-the-merge",
            "carts: every node's final cart is the union of the carts the adds made, each item at the greatest quantity one of them had — nothing acknowledged missing, nothing invented or summed",
        )
        .at_end(),
    ];
    const METRICS: &'static [MetricInfo] = &[
        MetricInfo::new("divergent_keys", Unit::Count, "keys on which nodes disagree at the end"),
        MetricInfo::new(
            "writes_accepted",
            Unit::Count,
            "client writes (and cart-adds) accepted by some node",
        ),
        MetricInfo::new(
            "lost_updates",
            Unit::Count,
            "lww registers: acknowledged writes overwritten by a write that began earlier",
        ),
        MetricInfo::new(
            "concurrent_writes_lost",
            Unit::Count,
            "registers: acknowledged writes gone at the end, replaced by writes that had not seen them",
        ),
        MetricInfo::new(
            "lost_additions",
            Unit::Count,
            "carts: acknowledged cart-adds missing (or short) in some node's final cart",
        ),
        MetricInfo::new(
            "reads_with_siblings",
            Unit::Count,
            "version-vector: reads that returned several siblings",
        ),
        MetricInfo::new("siblings_max", Unit::Count, "version-vector: the most siblings one read returned"),
        MetricInfo::new(
            "siblings_at_end",
            Unit::Count,
            "version-vector: the most siblings a node holds for one key at the end",
        ),
    ];

    fn new(params: &Params, cluster: &Cluster) -> Self {
        MultiMasterChecker {
            names: cluster.names.clone().into(),
            resolution: params.resolution,
            data: params.data,
            holds: vec![BTreeMap::new(); cluster.len()],
            events: 0,
            invoked: BTreeMap::new(),
            steps: Vec::new(),
            acked: BTreeMap::new(),
            acked_adds: Vec::new(),
            accepted: BTreeMap::new(),
            replaced_knowingly: BTreeSet::new(),
            writes_accepted: 0,
            reads_with_siblings: 0,
            siblings_max: 0,
        }
    }

    fn on_observation(&mut self, at: At, node: NodeId, obs: &Observation) {
        match obs {
            Observation::Accepted { key, op, entry } => {
                self.writes_accepted += 1;
                let steps = self.op_steps(*op);
                (steps.accepted, steps.accepted_at) = (at, node);
                // What the accepting node holds now is what the write has
                // seen: the versions it replaces, it replaces knowingly.
                if let Some(held) = self.holds[node.index()].get(key) {
                    let newer = register_versions(entry);
                    for (value, older) in register_versions(held) {
                        if newer.iter().any(|(_, n)| n.replaces(older)) {
                            self.replaced_knowingly.insert(value);
                        }
                    }
                }
                self.accepted.insert(*op, (*key, entry.clone()));
            }
            Observation::Holds { key, entry } => {
                self.holds[node.index()].insert(*key, entry.clone());
            }
            Observation::Restarted => self.holds[node.index()].clear(),
        }
    }

    fn on_history(&mut self, at: At, e: &TypedEvent<MultiMaster>) {
        let position = self.events;
        self.events += 1;
        match (e.kind, e.op) {
            (HistoryKind::Invoke, CartOp::Read { .. }) => {
                self.invoked.insert(e.op_id, position);
            }
            (HistoryKind::Invoke, _) => {
                self.invoked.insert(e.op_id, position);
                self.op_steps(e.op_id).invoked = at;
            }
            (HistoryKind::Ok, CartOp::Write { key, value }) => {
                self.acked.insert(value, key);
                self.op_steps(e.op_id).acked = at;
            }
            (HistoryKind::Ok, CartOp::CartAdd { key, item, qty }) => {
                self.acked_adds.push((e.op_id, key, item, qty));
                self.op_steps(e.op_id).acked = at;
            }
            (HistoryKind::Ok, CartOp::Read { .. }) => {
                if let CartAnswer::Siblings(values) = &e.value {
                    self.reads_with_siblings += 1;
                    self.siblings_max = self.siblings_max.max(values.len());
                } else if matches!(e.value, CartAnswer::Value(_)) {
                    self.siblings_max = self.siblings_max.max(1);
                }
            }
            _ => {}
        }
    }

    fn report(&self, _now: SimTime) -> Report {
        let mut r = Report::default();
        let lww = self.resolution == Resolution::Lww;
        let registers = self.data == Data::Register;

        let divergent = self.divergent_keys();
        r.checks.push(Self::verdict(
            "convergence",
            divergent.is_empty(),
            match divergent.first() {
                Some(&k) => {
                    let other = self
                        .holds
                        .iter()
                        .position(|h| h.get(&k) != self.holds[0].get(&k))
                        .expect("divergent");
                    format!(
                        "{} holds {} for k{k} but {} holds {}",
                        self.names[0],
                        self.show(0, k),
                        self.names[other],
                        self.show(other, k)
                    )
                }
                None => format!("all nodes agree on {}", crate::util::count(self.holds[0].len(), "key")),
            },
        ));
        r.metrics.insert("divergent_keys", divergent.len() as f64);
        r.metrics.insert("writes_accepted", self.writes_accepted as f64);

        if lww {
            let greatest: BTreeMap<Key, &Entry> = self
                .candidates()
                .into_iter()
                .filter_map(|(k, c)| c.into_iter().max().map(|m| (k, m)))
                .collect();
            let wrong = self.holds.iter().enumerate().find_map(|(i, h)| {
                greatest.iter().find(|(k, g)| h.get(k) != Some(**g)).map(|(k, _)| (i, *k))
            });
            r.checks.push(Self::verdict(
                "lww-greatest",
                wrong.is_none(),
                match wrong {
                    Some((i, k)) => format!(
                        "{} holds k{k} = {}, not the greatest-stamped {}",
                        self.names[i],
                        self.show(i, k),
                        greatest[&k].describe(&self.names)
                    ),
                    None => "every node holds the greatest-stamped value".into(),
                },
            ));
        }

        if lww && registers {
            let lost = self.lost_updates();
            let causes = lost.first().map_or(Vec::new(), |&(k, mine, winner)| {
                let mut c = self.op_causes(mine, &format!("write k{k} = {mine}"));
                c.extend(self.op_causes(winner, &format!("write k{k} = {winner}")));
                c
            });
            r.checks.push(Self::verdict_because(
                "no-lost-updates",
                lost.is_empty(),
                match lost.first() {
                    Some((k, mine, winner)) => format!(
                        "{} acknowledged writes lost; e.g. k{k} = {mine} lost to {winner}, which began earlier",
                        lost.len()
                    ),
                    None => "no acknowledged write lost to an earlier one".into(),
                },
                causes,
            ));
            r.metrics.insert("lost_updates", lost.len() as f64);
        }

        if registers {
            let lost = self.concurrent_writes_lost();
            let causes =
                lost.first().map_or(Vec::new(), |&(k, v)| self.op_causes(v, &format!("write k{k} = {v}")));
            r.checks.push(Self::verdict_because(
                "concurrent-writes-kept",
                lost.is_empty(),
                match lost.first() {
                    Some((k, v)) => format!(
                        "{} of {} acknowledged writes vanished, replaced by writes that had not seen them; e.g. k{k} = {v}",
                        lost.len(),
                        self.acked.len()
                    ),
                    None => "every acknowledged write is held, or was replaced by a write that had seen it".into(),
                },
                causes,
            ));
            r.metrics.insert("concurrent_writes_lost", lost.len() as f64);
        } else {
            let lost = self.lost_additions();
            let causes = lost.first().map_or(Vec::new(), |&(op, k, item, qty, _, _)| {
                self.op_causes(op, &format!("op {op} (add item{item} x{qty} to cart k{k})"))
            });
            r.checks.push(Self::verdict_because(
                "no-lost-additions",
                lost.is_empty(),
                match lost.first() {
                    Some(&(op, k, item, qty, node, have)) => format!(
                        "{} of {} acknowledged cart-adds lost; e.g. op {op} put item{item} x{qty} in cart k{k}, but {} has x{have}",
                        lost.len(),
                        self.acked_adds.len(),
                        self.names[node]
                    ),
                    None => format!("all {} acknowledged cart-adds are in every node's cart", self.acked_adds.len()),
                },
                causes,
            ));
            r.metrics.insert("lost_additions", lost.len() as f64);
            let misses = self.cart_merge_misses();
            let carts: BTreeSet<Key> = self
                .holds
                .iter()
                .flat_map(|h| h.iter().filter(|(_, e)| e.cart().is_some()).map(|(&k, _)| k))
                .collect();
            r.checks.push(Self::verdict(
                "cart-is-the-merge",
                misses.is_empty(),
                match misses.first() {
                    Some(&(node, k, item, have, merged)) => {
                        let name = &self.names[node];
                        let example = if have == 0 {
                            format!("{name}'s cart k{k} lacks item{item}, which the merge of the adds' carts has x{merged}")
                        } else {
                            format!("{name} holds item{item} x{have} in cart k{k}, the merge of the adds' carts x{merged}")
                        };
                        format!("{} off the merge; e.g. {example}", crate::util::count(misses.len(), "item"))
                    }
                    None => format!(
                        "every node holds the union of the adds' carts, each item at its greatest quantity ({})",
                        crate::util::count(carts.len(), "cart")
                    ),
                },
            ));
        }

        if self.resolution == Resolution::VersionVector {
            let at_end =
                self.holds.iter().flat_map(|h| h.values()).map(|e| e.values().len()).max().unwrap_or(0);
            r.metrics.insert("reads_with_siblings", self.reads_with_siblings as f64);
            r.metrics.insert("siblings_max", self.siblings_max as f64);
            r.metrics.insert("siblings_at_end", at_end as f64);
        }
        r
    }

    /// Liveness: every node holds the same entry for every key.
    fn pending(&self, _now: SimTime, _nodes: &[crate::sim::NodeSummary]) -> Vec<String> {
        let divergent = self.divergent_keys();
        let mut out: Vec<String> = divergent
            .iter()
            .take(5)
            .map(|&k| {
                let other =
                    self.holds.iter().position(|h| h.get(&k) != self.holds[0].get(&k)).expect("divergent");
                format!(
                    "k{k}: {} holds {} but {} holds {}",
                    self.names[0],
                    self.show(0, k),
                    self.names[other],
                    self.show(other, k)
                )
            })
            .collect();
        if divergent.len() > 5 {
            out.push(format!("and {} more divergent keys", divergent.len() - 5));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::multi_master::{Sibling, VersionVector};
    use crate::time::SimDuration;

    fn at(step: u64) -> At {
        At { step, time: SimTime(step * 1000) }
    }

    fn checker(resolution: Resolution, data: Data) -> MultiMasterChecker {
        let cluster = Cluster {
            names: vec!["n1".into(), "n2".into(), "n3".into()],
            region_of: vec![0, 0, 0],
            regions: vec!["r".into()],
        };
        let params =
            Params { bug: None, resolution, data, anti_entropy: SimDuration::ZERO, items: 8, max_qty: 3 };
        MultiMasterChecker::new(&params, &cluster)
    }

    fn ok(op_id: u64, op: CartOp) -> TypedEvent<MultiMaster> {
        crate::sim::HistoryEvent {
            register: None,
            step: op_id,
            time: SimTime(op_id),
            process: 0,
            client: 0,
            op_id,
            kind: HistoryKind::Ok,
            op,
            value: CartAnswer::None,
            node: None,
        }
    }

    fn siblings(versions: &[(&[u64], Value)]) -> Entry {
        Entry::Siblings(
            versions
                .iter()
                .map(|(v, value)| Sibling { vector: VersionVector(v.to_vec()), value: *value })
                .collect(),
        )
    }

    fn holds(c: &MultiMasterChecker, check: &str) -> bool {
        c.report(SimTime(0)).verdict(check).unwrap_or_else(|| panic!("no {check}")).holds
    }

    /// Two concurrent writes on n1 and n2, both acknowledged, meet on every
    /// node.
    fn two_concurrent_writes() -> MultiMasterChecker {
        let mut c = checker(Resolution::VersionVector, Data::Register);
        for (node, op, vector) in [(0, 1, [1, 0, 0]), (1, 2, [0, 1, 0])] {
            let version = siblings(&[(&vector, op)]);
            c.on_observation(
                at(op),
                NodeId(node),
                &Observation::Accepted { key: 0, op, entry: version.clone() },
            );
            c.on_observation(at(op), NodeId(node), &Observation::Holds { key: 0, entry: version });
            c.on_history(at(op), &ok(op, CartOp::Write { key: 0, value: op }));
        }
        c
    }

    /// `cart-is-the-merge` holds when every node holds the union with the
    /// greatest quantity, and fires when a node sums the two sides'
    /// quantities or drops an item.
    #[test]
    fn cart_is_the_merge_fires_on_a_sum_and_on_a_missing_item() {
        let cart = |items: &[(Item, u32)]| Entry::Cart(items.iter().copied().collect());
        let two_adds = || {
            let mut c = checker(Resolution::Merge, Data::Cart);
            for (node, op, made) in [(0, 1, cart(&[(1, 2)])), (1, 2, cart(&[(1, 3), (5, 1)]))] {
                c.on_observation(at(op), NodeId(node), &Observation::Accepted { key: 0, op, entry: made });
                let (item, qty) = if op == 1 { (1, 2) } else { (5, 1) };
                c.on_history(at(op), &ok(op, CartOp::CartAdd { key: 0, item, qty }));
            }
            c
        };
        let final_carts = |c: &mut MultiMasterChecker, carts: [Entry; 3]| {
            for (n, held) in carts.into_iter().enumerate() {
                c.on_observation(at(9), NodeId(n as u32), &Observation::Holds { key: 0, entry: held });
            }
        };
        let merged = cart(&[(1, 3), (5, 1)]);
        let mut exact = two_adds();
        final_carts(&mut exact, [merged.clone(), merged.clone(), merged.clone()]);
        assert!(holds(&exact, "cart-is-the-merge"));

        let mut summed = two_adds();
        final_carts(&mut summed, [merged.clone(), cart(&[(1, 5), (5, 1)]), merged.clone()]);
        let r = summed.report(SimTime(0));
        let v = r.verdict("cart-is-the-merge").unwrap();
        assert!(!v.holds);
        assert!(v.detail.contains("n2 holds item1 x5"), "{}", v.detail);

        let mut dropped = two_adds();
        final_carts(&mut dropped, [merged.clone(), merged, cart(&[(1, 3)])]);
        let v = dropped.report(SimTime(0)).verdict("cart-is-the-merge").unwrap().clone();
        assert!(!v.holds);
        assert!(v.detail.contains("n3's cart k0 lacks item5"), "{}", v.detail);
    }

    /// `concurrent-writes-kept` fires when a node's merge drops a
    /// concurrent sibling — n1's write vanishes though no write ever saw
    /// it — and holds when the siblings are kept.
    #[test]
    fn concurrent_writes_kept_fires_when_a_concurrent_sibling_is_dropped() {
        let both = siblings(&[(&[0, 1, 0], 2), (&[1, 0, 0], 1)]);
        let mut kept = two_concurrent_writes();
        for n in 0..3 {
            kept.on_observation(at(5), NodeId(n), &Observation::Holds { key: 0, entry: both.clone() });
        }
        assert!(holds(&kept, "concurrent-writes-kept"));
        assert!(holds(&kept, "convergence"));

        let mut dropped = two_concurrent_writes();
        for n in 0..3 {
            let only_n2 = siblings(&[(&[0, 1, 0], 2)]);
            dropped.on_observation(at(5), NodeId(n), &Observation::Holds { key: 0, entry: only_n2 });
        }
        let r = dropped.report(SimTime(0));
        let v = r.verdict("concurrent-writes-kept").unwrap();
        assert!(!v.holds);
        assert!(v.detail.contains("k0 = 1"), "{}", v.detail);
        assert_eq!(r.metrics["concurrent_writes_lost"], 1.0);
    }

    /// A write accepted at a node holding both siblings has seen them: they
    /// may vanish. But a write whose vector dominates a sibling it has
    /// *not* seen (a node that reissued an old vector) does not excuse it.
    #[test]
    fn concurrent_writes_kept_excuses_only_writes_that_had_seen_the_value() {
        let both = siblings(&[(&[0, 1, 0], 2), (&[1, 0, 0], 1)]);
        let mut c = two_concurrent_writes();
        c.on_observation(at(5), NodeId(2), &Observation::Holds { key: 0, entry: both });
        let third = siblings(&[(&[1, 1, 1], 3)]);
        c.on_observation(at(6), NodeId(2), &Observation::Accepted { key: 0, op: 3, entry: third.clone() });
        c.on_history(at(6), &ok(3, CartOp::Write { key: 0, value: 3 }));
        for n in 0..3 {
            c.on_observation(at(7), NodeId(n), &Observation::Holds { key: 0, entry: third.clone() });
        }
        assert!(holds(&c, "concurrent-writes-kept"));

        // n2 writes [1, 2, 0] holding only its own write 2: it dominates
        // write 1's vector without having seen write 1.
        let mut c = two_concurrent_writes();
        let blind = siblings(&[(&[1, 2, 0], 3)]);
        c.on_observation(at(6), NodeId(1), &Observation::Accepted { key: 0, op: 3, entry: blind.clone() });
        for n in 0..3 {
            c.on_observation(at(7), NodeId(n), &Observation::Holds { key: 0, entry: blind.clone() });
        }
        assert!(!holds(&c, "concurrent-writes-kept"));
    }

    /// `no-lost-additions` fires when a node's cart lacks an acknowledged
    /// item, or has less of it than was added; it holds once every node
    /// has at least the quantity.
    #[test]
    fn no_lost_additions_fires_on_a_missing_or_short_item() {
        let mut c = checker(Resolution::Merge, Data::Cart);
        c.on_history(at(1), &ok(1, CartOp::CartAdd { key: 0, item: 4, qty: 2 }));
        let cart = |q: u32| Entry::Cart([(4, q)].into_iter().collect());
        for n in 0..3 {
            c.on_observation(at(2), NodeId(n), &Observation::Holds { key: 0, entry: cart(2) });
        }
        assert!(holds(&c, "no-lost-additions"));
        c.on_observation(at(3), NodeId(1), &Observation::Holds { key: 0, entry: cart(1) });
        let v = c.report(SimTime(0));
        let v = v.verdict("no-lost-additions").unwrap();
        assert!(!v.holds);
        assert!(v.detail.contains("n2 has x1"), "{}", v.detail);
        c.on_observation(at(4), NodeId(1), &Observation::Restarted);
        assert!(!holds(&c, "no-lost-additions"), "an empty cart lacks the item");
    }

    /// Checks that do not apply to a resolution are left out, so a lesson
    /// expecting them learns it was not run.
    #[test]
    fn checks_follow_the_resolution() {
        let names = |c: MultiMasterChecker| -> Vec<&'static str> {
            c.report(SimTime(0)).checks.iter().map(|v| v.name).collect()
        };
        assert_eq!(
            names(checker(Resolution::Lww, Data::Register)),
            ["convergence", "lww-greatest", "no-lost-updates", "concurrent-writes-kept"]
        );
        assert_eq!(
            names(checker(Resolution::Lww, Data::Cart)),
            ["convergence", "lww-greatest", "no-lost-additions", "cart-is-the-merge"]
        );
        assert_eq!(
            names(checker(Resolution::Merge, Data::Cart)),
            ["convergence", "no-lost-additions", "cart-is-the-merge"]
        );
        assert_eq!(
            names(checker(Resolution::VersionVector, Data::Register)),
            ["convergence", "concurrent-writes-kept"]
        );
    }
}

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
//!
//! # Memory
//!
//! Most checks judge the end of the run — what nodes hold then — so a
//! write's part in them is open while a node may still come to hold it.
//! A write is *settled* once
//! - it has ended: its client was told, or gave up;
//! - the `RECENT_OPERATIONS` operations after it have been invoked (a
//!   request sent again still lands within them);
//! - every earlier write to its key is settled (lost updates are judged
//!   in invocation order);
//! - for registers, no node can hold its value again: every node's disk
//!   holds a version that replaces it (the engine says when a node's disk
//!   has caught up: [`Checker::on_durable`]). What a node holds only grows,
//!   and a restart brings back what its disk held, so the value is gone
//!   for good and its verdicts are final.
//!
//! A settled write is *forgotten*: what it counted for is folded into
//! sums per key (the greatest acknowledged version, lost-updates' running
//! best, losses counted with their first example) and per cart item (the
//! quantities carts had, acknowledged adds per quantity). Memory follows
//! the writes in flight and the keys, not the length of the run. While a
//! node is down for good or cut off, its disk does not catch up, and the
//! writes to keys it lags on are kept.
//!
//! Not judged again: an operation accepted once more (a duplicated
//! request arriving late) after it was forgotten counts as a write nobody
//! was told about, outside the invocation order. A test grades every
//! lesson forgetting each write the moment it settles and gets every
//! verdict of the checker that keeps them all — and, forgetting 128
//! operations after, every word and metric too (at once, a duplicate
//! accepted again a few operations after its write ended can change a
//! count).

use super::entry::{Entry, Stamp, VersionVector};
use super::{CartAnswer, CartOp};
use super::{Data, MultiMaster, Observation, Params, Resolution};
use crate::nodes::{Cluster, Item, Key, NodeId, Value};
use crate::sim::monitor::{CheckInfo, MetricInfo, Unit, keep_settled};
use crate::sim::{At, Cause, Checker, HistoryKind, Report, TypedEvent, Verdict};
use crate::time::SimTime;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How many operations are invoked after a write ends before it may be
/// forgotten (see "Memory").
const RECENT_OPERATIONS: usize = 4096;

/// When a client operation was invoked, accepted (and where) and
/// acknowledged: the evidence of a lost write. [`OpSteps::NOT_YET`] stands
/// for an event that has not happened.
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

/// A client write (or cart-add) kept in full.
#[derive(Clone, Debug)]
struct Write {
    key: Key,
    steps: OpSteps,
    /// What its latest acceptance made. A retried operation accepted twice
    /// keeps its last acceptance.
    entry: Option<Entry>,
    /// Its client was told "ok".
    acked: bool,
    /// An acknowledged cart-add.
    add: Option<AckedAdd>,
    /// Its client was told, or gave up: no more history will come.
    ended: bool,
    /// A register value that a client write replaced *knowingly*: the
    /// write was accepted at a node that held this value, with a version
    /// that replaces it (a greater stamp, a dominating vector).
    replaced_knowingly: bool,
}

impl Write {
    /// Its LWW register version, if lost updates judge it: they judge in
    /// invocation order, so only a write whose invocation was seen.
    fn lww_version(&self) -> Option<(Stamp, Value)> {
        match self.entry {
            Some(Entry::Register { stamp, value }) if self.steps.invoked != OpSteps::NOT_YET => {
                Some((stamp, value))
            }
            _ => None,
        }
    }

    fn new(key: Key) -> Self {
        Write {
            key,
            steps: OpSteps::NONE,
            entry: None,
            acked: false,
            add: None,
            ended: false,
            replaced_knowingly: false,
        }
    }
}

/// An acknowledged cart-add: the item, the quantity, and how many adds
/// were acknowledged before it.
#[derive(Clone, Copy, Debug)]
struct AckedAdd {
    item: Item,
    qty: u32,
    order: u64,
}

/// An operation named in a verdict's example: its id and steps.
#[derive(Clone, Copy, Debug)]
struct Named {
    op: u64,
    steps: OpSteps,
}

/// An acknowledged register write lost to one that began earlier.
#[derive(Clone, Copy, Debug)]
struct LostUpdate {
    key: Key,
    lost: Named,
    winner: Named,
}

/// An acknowledged cart-add missing (or short) in some node's final cart.
#[derive(Clone, Copy, Debug)]
struct LostAdd {
    order: u64,
    add: Named,
    key: Key,
    item: Item,
    qty: u32,
    node: usize,
    have: u32,
}

/// What the forgotten writes to one key counted for.
#[derive(Clone, Debug, Default)]
struct KeyPast {
    /// The greatest version an acknowledged write made (`lww-greatest`).
    greatest_acked: Option<Entry>,
    /// Lost-updates' running best: the greatest `(stamp, value)` an
    /// acknowledged write made.
    best: Option<(Stamp, Value, Named)>,
    /// Acknowledged writes lost to an earlier one, and the first.
    lost_updates: u64,
    first_lost_update: Option<LostUpdate>,
}

/// Acknowledged cart-adds of one `(key, item, quantity)` forgotten, and
/// the first of them acknowledged.
#[derive(Clone, Copy, Debug)]
struct AddsPast {
    count: u64,
    first: (u64, Named),
}

/// What the forgotten writes counted for.
#[derive(Clone, Debug, Default)]
struct Forgotten {
    /// How many writes were forgotten.
    writes: u64,
    by_key: BTreeMap<Key, KeyPast>,
    /// Acknowledged register writes that vanished unexcused, and the one
    /// with the smallest value.
    vanished: u64,
    first_vanished: Option<(Value, Key, Named)>,
    adds: BTreeMap<(Key, Item, u32), AddsPast>,
    /// Per `(key, item)`: every quantity an accepted cart had, and the
    /// greatest an acknowledged add's cart had.
    had: BTreeMap<(Key, Item), (BTreeSet<u32>, u32)>,
}

/// The writes kept in full: by operation id (in a window from the oldest
/// kept, since ids are handed out in invocation order), and per key in
/// invocation order.
#[derive(Clone, Debug, Default)]
struct Kept {
    /// The id of `slots[0]`.
    first: u64,
    slots: VecDeque<Option<Write>>,
    /// Writes older than `first` kept again (a late fact).
    late: BTreeMap<u64, Write>,
    by_key: BTreeMap<Key, VecDeque<u64>>,
}

impl Kept {
    fn get_mut(&mut self, op: u64) -> Option<&mut Write> {
        match op.checked_sub(self.first) {
            Some(i) => self.slots.get_mut(usize::try_from(i).ok()?)?.as_mut(),
            None => self.late.get_mut(&op),
        }
    }

    fn get(&self, op: u64) -> Option<&Write> {
        match op.checked_sub(self.first) {
            Some(i) => self.slots.get(usize::try_from(i).ok()?)?.as_ref(),
            None => self.late.get(&op),
        }
    }

    /// Write `op`, a new one if it is not kept.
    fn get_or_insert(&mut self, op: u64, new: impl FnOnce() -> Write) -> &mut Write {
        if self.get(op).is_none() {
            let w = new();
            let queue = self.by_key.entry(w.key).or_default();
            match queue.back() {
                Some(&last) if last > op => {
                    let at = queue.partition_point(|&o| o < op);
                    queue.insert(at, op);
                }
                _ => queue.push_back(op),
            }
            // An empty window moves on to the new write (never back: the
            // writes older than `first` live in `late`).
            if self.slots.is_empty() && op > self.first {
                self.first = op;
            }
            match op.checked_sub(self.first) {
                Some(i) => {
                    let i = usize::try_from(i).expect("a window of writes in memory");
                    if i >= self.slots.len() {
                        self.slots.resize_with(i + 1, || None);
                    }
                    self.slots[i] = Some(w);
                }
                None => {
                    self.late.insert(op, w);
                }
            }
        }
        self.get_mut(op).expect("just kept")
    }

    /// The oldest write to `key` kept.
    fn oldest(&self, key: Key) -> Option<(u64, &Write)> {
        let op = *self.by_key.get(&key)?.front()?;
        Some((op, self.get(op).expect("queued writes are kept")))
    }

    /// Stops keeping the oldest write to `key`.
    fn pop_oldest(&mut self, key: Key) -> Option<(u64, Write)> {
        let op = self.by_key.get_mut(&key)?.pop_front()?;
        let w = match op.checked_sub(self.first) {
            Some(i) => self.slots.get_mut(usize::try_from(i).ok()?)?.take(),
            None => self.late.remove(&op),
        };
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first += 1;
        }
        Some((op, w.expect("queued writes are kept")))
    }

    /// Every write kept, by id.
    fn iter(&self) -> impl Iterator<Item = (u64, &Write)> {
        let slots = self.slots.iter().zip(self.first..).filter_map(|(w, op)| Some((op, w.as_ref()?)));
        self.late.iter().map(|(&op, w)| (op, w)).chain(slots)
    }

    /// The writes to `key` kept, in invocation order.
    fn of_key(&self, key: Key) -> impl Iterator<Item = (u64, &Write)> {
        let ops = self.by_key.get(&key).into_iter().flatten();
        ops.map(|&op| (op, self.get(op).expect("queued writes are kept")))
    }
}

#[derive(Clone, Debug)]
pub struct MultiMasterChecker {
    names: std::sync::Arc<[String]>,
    resolution: Resolution,
    data: Data,
    /// What each node holds now.
    holds: Vec<BTreeMap<Key, Entry>>,
    /// What each node's disk held, at the latest when its disk last caught
    /// up (registers).
    durable: Vec<BTreeMap<Key, Entry>>,
    /// Keys each node came to hold since its disk last caught up (a key
    /// may be listed twice).
    unflushed: Vec<Vec<Key>>,
    /// The latest operation invoked.
    newest_op: u64,
    /// The writes kept in full.
    writes: Kept,
    /// What the writes no longer kept counted for.
    forgotten: Forgotten,
    /// Acknowledged register writes, and cart-adds.
    writes_acked: u64,
    adds_acked: u64,
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

/// Whether `entry` holds register value `value`.
fn has_value(entry: &Entry, value: Value) -> bool {
    match entry {
        Entry::Register { value: v, .. } => *v == value,
        Entry::Siblings(s) => s.iter().any(|s| s.value == value),
        Entry::StampedCart { .. } | Entry::Cart(_) => false,
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
        for (_, w) in self.writes.iter().filter(|(_, w)| w.acked) {
            if let Some(entry) = &w.entry
                && entry.stamp().is_some()
            {
                out.entry(w.key).or_default().push(entry);
            }
        }
        for (&key, past) in &self.forgotten.by_key {
            out.entry(key).or_default().extend(&past.greatest_acked);
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
    /// value)`): how many, and the first (by key, then invocation).
    fn lost_updates(&self) -> (u64, Option<LostUpdate>) {
        let winners: BTreeSet<Value> =
            self.candidates().into_values().flatten().flat_map(|e| e.values()).collect();
        let keys: BTreeSet<Key> =
            self.writes.by_key.keys().chain(self.forgotten.by_key.keys()).copied().collect();
        let (mut count, mut first) = (0, None);
        for key in keys {
            let past = self.forgotten.by_key.get(&key);
            count += past.map_or(0, |p| p.lost_updates);
            let mut example = past.and_then(|p| p.first_lost_update);
            // The greatest (stamp, value) among winners invoked earlier.
            let mut best = past.and_then(|p| p.best);
            for (op, w) in self.writes.of_key(key) {
                let Some((stamp, value)) = w.lww_version() else { continue };
                let me = Named { op, steps: w.steps };
                if w.acked
                    && let Some(b) = best
                    && (b.0, b.1) > (stamp, value)
                {
                    count += 1;
                    example.get_or_insert(LostUpdate { key, lost: me, winner: b.2 });
                }
                if winners.contains(&value) && best.is_none_or(|b| (stamp, value) > (b.0, b.1)) {
                    best = Some((stamp, value, me));
                }
            }
            first = first.or(example);
        }
        (count, first)
    }

    /// Acknowledged register writes that no node holds and that no write
    /// replaced knowingly: how many, and the one of the smallest value.
    fn concurrent_writes_lost(&self) -> (u64, Option<(Value, Key, Named)>) {
        let held: BTreeSet<(Key, Value)> = self
            .holds
            .iter()
            .flat_map(|h| h.iter().flat_map(|(&k, e)| e.values().into_iter().map(move |v| (k, v))))
            .collect();
        let lost = self.writes.iter().filter(|(_, w)| w.acked && w.add.is_none()).filter_map(|(op, w)| {
            let value = op;
            (!held.contains(&(w.key, value)) && !w.replaced_knowingly).then_some((
                value,
                w.key,
                Named { op, steps: w.steps },
            ))
        });
        let (mut count, mut first) = (self.forgotten.vanished, self.forgotten.first_vanished);
        for l in lost {
            count += 1;
            if first.is_none_or(|f| l.0 < f.0) {
                first = Some(l);
            }
        }
        (count, first)
    }

    /// Whether `node` has less than `qty` of `item` in cart `key`, and how
    /// much it has.
    fn short(&self, key: Key, item: Item, qty: u32) -> Option<(usize, u32)> {
        self.holds.iter().enumerate().find_map(|(i, h)| {
            let have = h.get(&key).and_then(Entry::cart).and_then(|c| c.get(&item)).copied().unwrap_or(0);
            (have < qty).then_some((i, have))
        })
    }

    /// Acknowledged cart-adds missing (or short) in some node's cart: how
    /// many, and the first acknowledged (with the first such node and the
    /// quantity it has).
    fn lost_additions(&self) -> (u64, Option<LostAdd>) {
        let live = self.writes.iter().filter_map(|(op, w)| {
            let a = w.add?;
            Some((w.key, a.item, a.qty, 1, (a.order, Named { op, steps: w.steps })))
        });
        let past =
            self.forgotten.adds.iter().map(|(&(key, item, qty), p)| (key, item, qty, p.count, p.first));
        let (mut count, mut first): (u64, Option<LostAdd>) = (0, None);
        for (key, item, qty, n, (order, add)) in live.chain(past) {
            if let Some((node, have)) = self.short(key, item, qty) {
                count += n;
                if first.is_none_or(|f| order < f.order) {
                    first = Some(LostAdd { order, add, key, item, qty, node, have });
                }
            }
        }
        (count, first)
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
        let mut had = self.forgotten.had.clone();
        for (_, w) in self.writes.iter() {
            Self::count_cart(&mut had, w);
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

    /// Adds the quantities of the cart `w` made to `had`.
    fn count_cart(had: &mut BTreeMap<(Key, Item), (BTreeSet<u32>, u32)>, w: &Write) {
        for (&item, &qty) in w.entry.as_ref().and_then(Entry::cart).into_iter().flatten() {
            let (all, floor) = had.entry((w.key, item)).or_default();
            all.insert(qty);
            if w.add.is_some() {
                *floor = (*floor).max(qty);
            }
        }
    }

    /// The evidence of client operation `op` (`what`: `write k0 = 2`):
    /// when it was invoked, accepted and where, and acknowledged.
    fn op_causes(&self, op: Named, what: &str) -> Vec<Cause> {
        let (s, op) = (op.steps, op.op);
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

    /// Write `op` to `key`, kept in full: a new one if it is not (a fact
    /// about an operation whose invocation was not seen, or that was
    /// forgotten, is the last fact of it expected).
    fn write(&mut self, op: u64, key: Key) -> &mut Write {
        self.writes.get_or_insert(op, || Write { ended: true, ..Write::new(key) })
    }

    /// Whether no node can ever hold register write `w`'s value again:
    /// none holds it, and every node's disk holds a version that replaces
    /// it.
    fn gone_for_good(&self, op: u64, w: &Write) -> bool {
        let Some(entry) = &w.entry else { return true };
        let value = op;
        self.holds.iter().zip(&self.durable).all(|(held, disk)| {
            !held.get(&w.key).is_some_and(|h| has_value(h, value))
                && disk.get(&w.key).is_some_and(|d| d.absorbs(entry) && !has_value(d, value))
        })
    }

    /// Forgets the settled writes to `key`, oldest first (see "Memory").
    fn forget_settled(&mut self, key: Key) {
        let recent = keep_settled(RECENT_OPERATIONS) as u64;
        while let Some((op, w)) = self.writes.oldest(key) {
            let settled = w.ended
                && op.saturating_add(recent) <= self.newest_op
                && (self.data == Data::Cart || self.gone_for_good(op, w));
            if !settled {
                return;
            }
            let (op, w) = self.writes.pop_oldest(key).expect("the oldest");
            self.forget(op, w);
        }
    }

    /// Folds forgotten write `w` into what the forgotten writes counted
    /// for: as the report would have counted it, for it can no longer be
    /// held, accepted or told of.
    fn forget(&mut self, op: u64, w: Write) {
        let me = Named { op, steps: w.steps };
        let f = &mut self.forgotten;
        f.writes += 1;
        let past = f.by_key.entry(w.key).or_default();
        if w.acked
            && let Some(entry) = &w.entry
            && entry.stamp().is_some()
            && past.greatest_acked.as_ref().is_none_or(|g| entry > g)
        {
            past.greatest_acked = Some(entry.clone());
        }
        if let Some((stamp, value)) = w.lww_version() {
            // Forgotten, it is held nowhere: a winner if acknowledged.
            if w.acked
                && let Some(b) = past.best
                && (b.0, b.1) > (stamp, value)
            {
                past.lost_updates += 1;
                past.first_lost_update.get_or_insert(LostUpdate { key: w.key, lost: me, winner: b.2 });
            }
            if w.acked && past.best.is_none_or(|b| (stamp, value) > (b.0, b.1)) {
                past.best = Some((stamp, value, me));
            }
        }
        if w.acked && w.add.is_none() && self.data == Data::Register && !w.replaced_knowingly {
            f.vanished += 1;
            if f.first_vanished.is_none_or(|v| op < v.0) {
                f.first_vanished = Some((op, w.key, me));
            }
        }
        if let Some(a) = w.add {
            let past =
                f.adds.entry((w.key, a.item, a.qty)).or_insert(AddsPast { count: 0, first: (a.order, me) });
            past.count += 1;
            if a.order < past.first.0 {
                past.first = (a.order, me);
            }
        }
        Self::count_cart(&mut f.had, &w);
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
            durable: vec![BTreeMap::new(); cluster.len()],
            unflushed: vec![Vec::new(); cluster.len()],
            newest_op: 0,
            writes: Kept::default(),
            forgotten: Forgotten::default(),
            writes_acked: 0,
            adds_acked: 0,
            writes_accepted: 0,
            reads_with_siblings: 0,
            siblings_max: 0,
        }
    }

    fn on_observation(&mut self, at: At, node: NodeId, obs: &Observation) {
        match obs {
            Observation::Accepted { key, op, entry } => {
                self.writes_accepted += 1;
                // What the accepting node holds now is what the write has
                // seen: the versions it replaces, it replaces knowingly.
                if let Some(held) = self.holds[node.index()].get(key) {
                    let newer = register_versions(entry);
                    for (value, older) in register_versions(held) {
                        if newer.iter().any(|(_, n)| n.replaces(older))
                            && let Some(w) = self.writes.get_mut(value)
                        {
                            w.replaced_knowingly = true;
                        }
                    }
                }
                let w = self.write(*op, *key);
                (w.steps.accepted, w.steps.accepted_at) = (at, node);
                w.entry = Some(entry.clone());
            }
            Observation::Holds { key, entry } => {
                self.holds[node.index()].insert(*key, entry.clone());
                if self.data == Data::Register {
                    self.unflushed[node.index()].push(*key);
                }
            }
            Observation::Restarted => {
                self.holds[node.index()].clear();
                self.unflushed[node.index()].clear();
            }
        }
    }

    fn on_history(&mut self, at: At, e: &TypedEvent<MultiMaster>) {
        let key = match e.op {
            CartOp::Read { .. } => {
                if e.kind == HistoryKind::Ok {
                    if let CartAnswer::Siblings(values) = &e.value {
                        self.reads_with_siblings += 1;
                        self.siblings_max = self.siblings_max.max(values.len());
                    } else if matches!(e.value, CartAnswer::Value(_)) {
                        self.siblings_max = self.siblings_max.max(1);
                    }
                }
                return;
            }
            CartOp::Write { key, .. } | CartOp::CartAdd { key, .. } => key,
        };
        if e.kind == HistoryKind::Invoke {
            self.newest_op = self.newest_op.max(e.op_id);
            let w = self.writes.get_or_insert(e.op_id, || Write::new(key));
            w.steps.invoked = at;
            return;
        }
        let ok = e.kind == HistoryKind::Ok;
        let add = match e.op {
            CartOp::CartAdd { item, qty, .. } if ok => Some(AckedAdd { item, qty, order: self.adds_acked }),
            _ => None,
        };
        if ok {
            *(if add.is_some() { &mut self.adds_acked } else { &mut self.writes_acked }) += 1;
        }
        let w = self.write(e.op_id, key);
        w.ended = true;
        if ok {
            (w.acked, w.steps.acked, w.add) = (true, at, add);
        }
        self.forget_settled(key);
    }

    const HEARS_DISK: bool = true;

    /// `node`'s disk has caught up: it holds what the node holds.
    fn on_durable(&mut self, _at: At, node: NodeId) {
        let n = node.index();
        for key in self.unflushed[n].drain(..) {
            if let Some(entry) = self.holds[n].get(&key) {
                self.durable[n].insert(key, entry.clone());
            }
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
            let (lost, first) = self.lost_updates();
            let causes = first.map_or(Vec::new(), |l| {
                let (k, mine, winner) = (l.key, l.lost.op, l.winner.op);
                let mut c = self.op_causes(l.lost, &format!("write k{k} = {mine}"));
                c.extend(self.op_causes(l.winner, &format!("write k{k} = {winner}")));
                c
            });
            r.checks.push(Self::verdict_because(
                "no-lost-updates",
                lost == 0,
                match first {
                    Some(l) => format!(
                        "{lost} acknowledged writes lost; e.g. k{} = {} lost to {}, which began earlier",
                        l.key, l.lost.op, l.winner.op
                    ),
                    None => "no acknowledged write lost to an earlier one".into(),
                },
                causes,
            ));
            r.metrics.insert("lost_updates", lost as f64);
        }

        if registers {
            let (lost, first) = self.concurrent_writes_lost();
            let causes =
                first.map_or(Vec::new(), |(v, k, w)| self.op_causes(w, &format!("write k{k} = {v}")));
            r.checks.push(Self::verdict_because(
                "concurrent-writes-kept",
                lost == 0,
                match first {
                    Some((v, k, _)) => format!(
                        "{lost} of {} acknowledged writes vanished, replaced by writes that had not seen them; e.g. k{k} = {v}",
                        self.writes_acked
                    ),
                    None => "every acknowledged write is held, or was replaced by a write that had seen it".into(),
                },
                causes,
            ));
            r.metrics.insert("concurrent_writes_lost", lost as f64);
        } else {
            let (lost, first) = self.lost_additions();
            let causes = first.map_or(Vec::new(), |l| {
                let (op, k, item, qty) = (l.add.op, l.key, l.item, l.qty);
                self.op_causes(l.add, &format!("op {op} (add item{item} x{qty} to cart k{k})"))
            });
            r.checks.push(Self::verdict_because(
                "no-lost-additions",
                lost == 0,
                match first {
                    Some(l) => format!(
                        "{lost} of {} acknowledged cart-adds lost; e.g. op {} put item{} x{} in cart k{}, but {} has x{}",
                        self.adds_acked,
                        l.add.op,
                        l.item,
                        l.qty,
                        l.key,
                        self.names[l.node],
                        l.have
                    ),
                    None => format!("all {} acknowledged cart-adds are in every node's cart", self.adds_acked),
                },
                causes,
            ));
            r.metrics.insert("lost_additions", lost as f64);
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

    /// Writes are forgotten as they settle: at the end of a lesson the
    /// checker keeps a handful, and reports what the checker that keeps
    /// every write reports. While a partition cuts the nodes in two, a
    /// version written on one side is on no disk of the other, whose own
    /// versions are concurrent with it: it is kept. (Under LWW the other
    /// side's greater stamps replace it, partition or not.)
    #[test]
    fn settled_writes_are_forgotten_and_the_report_is_unchanged() {
        use crate::sim::monitor::KEEP_SETTLED;
        let registry = crate::protocols::registry();
        let file = "scenarios/multi-master/partition-heal.toml";
        let lww = std::fs::read_to_string(file).expect("the lesson");
        let source = lww.replace("resolution = \"lww\"", "resolution = \"version-vector\"");
        assert_ne!(source, lww);
        let lesson = crate::scenario::load_str(&registry, file, &source).expect("a lesson");
        let run = |keep: usize, until: SimTime| {
            KEEP_SETTLED.with(|k| k.set(Some(keep)));
            let options = crate::scenario::RunOptions::default();
            let mut sim = crate::protocols::Entry::<MultiMaster, MultiMasterChecker>::sim(&lesson, options);
            sim.run_until(until);
            KEEP_SETTLED.with(|k| k.set(None));
            let c = sim.checker().expect("checks are on");
            (c.writes.iter().count(), c.forgotten.writes, format!("{:?}", c.report(until)))
        };
        // The partition lasts from 300ms to 1.2s.
        let (kept, _, _) = run(0, SimTime(1_100_000));
        assert!(kept > 50, "writes during the partition are kept: {kept}");
        let (kept, forgotten, report) = run(0, lesson.duration);
        assert!(kept < 10 && forgotten > 200, "{kept} kept, {forgotten} forgotten");
        let (kept_all, forgotten_none, report_all) = run(usize::MAX, lesson.duration);
        assert_eq!((kept_all as u64, forgotten_none), (kept as u64 + forgotten, 0));
        assert_eq!(report, report_all);
    }

    /// The writes kept are found by id and per key in id order, late
    /// facts older than the window included — also once the window has
    /// emptied and moved on.
    #[test]
    fn kept_writes_are_found_in_order_late_ones_too() {
        let mut k = Kept::default();
        let ids = |k: &Kept| k.iter().map(|(op, _)| op).collect::<Vec<_>>();
        for op in [5, 7] {
            k.get_or_insert(op, || Write::new(0));
        }
        assert_eq!(k.pop_oldest(0).map(|w| w.0), Some(5));
        // A late fact of write 3 to key 2, then the window empties.
        k.get_or_insert(3, || Write::new(2));
        assert_eq!(ids(&k), [3, 7]);
        assert_eq!(k.pop_oldest(0).map(|w| w.0), Some(7));
        assert!(k.pop_oldest(0).is_none());
        // An older late fact still, and new writes.
        for op in [1, 9, 8] {
            k.get_or_insert(op, || Write::new(1));
        }
        assert_eq!(ids(&k), [1, 3, 8, 9]);
        assert!(k.get(3).is_some() && k.get(2).is_none());
        assert_eq!(k.pop_oldest(2).map(|w| w.0), Some(3));
        let popped: Vec<u64> = std::iter::from_fn(|| k.pop_oldest(1).map(|w| w.0)).collect();
        assert_eq!(popped, [1, 8, 9]);
        assert_eq!(ids(&k), [] as [u64; 0]);
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

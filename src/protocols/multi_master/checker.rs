//! The checks of multi-master LWW replication.
//!
//! The checker follows what every node *holds* (from `Holds` and
//! `Restarted` observations) and what clients were told (the history). A
//! client writes a unique value — its operation id — so a value names the
//! write and the moment it was invoked.

use super::{MultiMaster, Observation, Params, Stamp};
use crate::check::{At, Checker, HistoryEvent, HistoryKind, Report, Verdict};
use crate::nodes::{Cluster, Key, NodeId, Operation, Value};
use crate::sim::time::SimTime;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct MultiMasterChecker {
    names: Vec<String>,
    /// What each node holds now.
    holds: Vec<BTreeMap<Key, (Stamp, Value)>>,
    /// Invocation time of every operation (writes write their op id).
    invoked: BTreeMap<u64, SimTime>,
    /// Acknowledged writes: value → key.
    acked: BTreeMap<Value, Key>,
    /// Every accepted write: value → (key, stamp).
    stamps: BTreeMap<Value, (Key, Stamp)>,
    accepted: u64,
}

impl MultiMasterChecker {
    /// The first key on which two nodes disagree, with both views.
    fn divergence(&self) -> Option<(Key, usize, usize)> {
        let keys: std::collections::BTreeSet<Key> =
            self.holds.iter().flat_map(|h| h.keys().copied()).collect();
        for k in keys {
            let first = self.holds[0].get(&k);
            if let Some(i) = self.holds.iter().position(|h| h.get(&k) != first) {
                return Some((k, 0, i));
            }
        }
        None
    }

    /// Writes that could rightly win for a key: acknowledged writes, and
    /// values some node still holds. (A write lost in a crash before any
    /// disk had it was never acknowledged: it may vanish.)
    fn candidates(&self) -> BTreeMap<Key, Vec<(Stamp, Value)>> {
        let mut out: BTreeMap<Key, Vec<(Stamp, Value)>> = BTreeMap::new();
        for (&value, &key) in &self.acked {
            if let Some(&(_, stamp)) = self.stamps.get(&value) {
                out.entry(key).or_default().push((stamp, value));
            }
        }
        for h in &self.holds {
            for (&key, &held) in h {
                out.entry(key).or_default().push(held);
            }
        }
        out
    }

    /// Acknowledged writes that LWW discards in favour of a write that
    /// began earlier and could rightly win (a greater `(stamp, value)`):
    /// (key, the lost write, the earlier write that beat it).
    fn lost_updates(&self) -> Vec<(Key, Value, Value)> {
        let winners: std::collections::BTreeSet<Value> =
            self.candidates().into_values().flatten().map(|(_, v)| v).collect();
        // Per key, writes in invocation order with their stamps.
        let mut by_key: BTreeMap<Key, Vec<(SimTime, Value, Stamp)>> = BTreeMap::new();
        for (&value, &(key, stamp)) in &self.stamps {
            if let Some(&t) = self.invoked.get(&value) {
                by_key.entry(key).or_default().push((t, value, stamp));
            }
        }
        let mut lost = Vec::new();
        for (key, mut writes) in by_key {
            writes.sort();
            // The greatest (stamp, value) among winners invoked strictly
            // earlier.
            let mut best: Option<(Stamp, Value)> = None;
            let mut i = 0;
            while i < writes.len() {
                let t = writes[i].0;
                let same_time = writes[i..].iter().take_while(|w| w.0 == t).count();
                for &(_, value, stamp) in &writes[i..i + same_time] {
                    if self.acked.contains_key(&value)
                        && let Some(b) = best
                        && b > (stamp, value)
                    {
                        lost.push((key, value, b.1));
                    }
                }
                for &(_, value, stamp) in &writes[i..i + same_time] {
                    if winners.contains(&value) && best.is_none_or(|b| (stamp, value) > b) {
                        best = Some((stamp, value));
                    }
                }
                i += same_time;
            }
        }
        lost
    }
}

impl Checker<MultiMaster> for MultiMasterChecker {
    const CHECKS: &'static [(&'static str, &'static str)] = &[
        ("convergence", "at the end, every node holds the same value for every key"),
        (
            "lww-greatest",
            "the value nodes hold is the write with the greatest (timestamp, node) they ever held",
        ),
        ("no-lost-updates", "no acknowledged write is overwritten by a write that began earlier"),
    ];
    const METRICS: &'static [(&'static str, &'static str)] = &[
        ("lost_updates", "acknowledged writes overwritten by a write that began earlier in real time"),
        ("divergent_keys", "keys on which nodes disagree at the end"),
        ("writes_accepted", "client writes accepted by some node"),
    ];

    fn new(_: &Params, cluster: &Cluster) -> Self {
        MultiMasterChecker {
            names: cluster.names.clone(),
            holds: vec![BTreeMap::new(); cluster.len()],
            ..Default::default()
        }
    }

    fn on_observation(&mut self, _at: At, node: NodeId, obs: &Observation) {
        match *obs {
            Observation::Accepted { key, value, stamp } => {
                self.accepted += 1;
                self.stamps.insert(value, (key, stamp));
            }
            Observation::Holds { key, value, stamp } => {
                self.holds[node.index()].insert(key, (stamp, value));
            }
            Observation::Restarted => self.holds[node.index()].clear(),
        }
    }

    fn on_history(&mut self, _at: At, e: &HistoryEvent) {
        match (e.kind, e.op) {
            (HistoryKind::Invoke, _) => {
                self.invoked.insert(e.op_id, e.time);
            }
            (HistoryKind::Ok, Operation::Write { key, value }) => {
                self.acked.insert(value, key);
            }
            _ => {}
        }
    }

    fn report(&self, _now: SimTime) -> Report {
        let mut r = Report::default();
        let divergence = self.divergence();
        let divergent = {
            let keys: std::collections::BTreeSet<Key> =
                self.holds.iter().flat_map(|h| h.keys().copied()).collect();
            keys.iter().filter(|k| self.holds.iter().any(|h| h.get(k) != self.holds[0].get(k))).count()
        };
        r.checks.push(Verdict {
            name: "convergence",
            holds: divergence.is_none(),
            detail: match divergence {
                Some((k, a, b)) => {
                    let show = |i: usize| {
                        self.holds[i].get(&k).map_or("nothing".to_string(), |(_, v)| v.to_string())
                    };
                    format!(
                        "{} holds {} for k{k} but {} holds {}",
                        self.names[a],
                        show(a),
                        self.names[b],
                        show(b)
                    )
                }
                None => format!("all nodes agree on {} keys", self.holds[0].len()),
            },
            first_violation: None,
        });
        let greatest: BTreeMap<Key, (Stamp, Value)> =
            self.candidates().into_iter().filter_map(|(k, c)| c.into_iter().max().map(|m| (k, m))).collect();
        let wrong = self
            .holds
            .iter()
            .enumerate()
            .find_map(|(i, h)| greatest.iter().find(|(k, g)| h.get(k) != Some(g)).map(|(k, _)| (i, *k)));
        r.checks.push(Verdict {
            name: "lww-greatest",
            holds: wrong.is_none(),
            detail: match wrong {
                Some((i, k)) => format!(
                    "{} holds k{k} = {}, not the greatest-stamped value {}",
                    self.names[i],
                    self.holds[i].get(&k).map_or("nothing".to_string(), |h| h.1.to_string()),
                    greatest[&k].1
                ),
                None => "every node holds the greatest-stamped value".into(),
            },
            first_violation: None,
        });
        let lost = self.lost_updates();
        r.checks.push(Verdict {
            name: "no-lost-updates",
            holds: lost.is_empty(),
            detail: match lost.first() {
                Some((k, mine, winner)) => format!(
                    "{} acknowledged writes lost; e.g. k{k} = {mine} lost to {winner}, which began earlier",
                    lost.len()
                ),
                None => "no acknowledged write lost to an earlier one".into(),
            },
            first_violation: None,
        });
        r.metrics.insert("lost_updates", lost.len() as f64);
        r.metrics.insert("divergent_keys", divergent as f64);
        r.metrics.insert("writes_accepted", self.accepted as f64);
        r
    }
}

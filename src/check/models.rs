//! Session guarantees weaker than linearizability, judged on client
//! histories of a key–value store.
//!
//! Terry et al. ("Session guarantees for weakly consistent replicated
//! data", 1994) name what one client can expect of a replicated store even
//! when it is not linearizable. Two of them, from the client's side:
//! - **read your writes**: after a process's write to a key completes, its
//!   reads of that key do not return anything older than that write;
//! - **monotonic reads**: once a process has read a value, its later reads
//!   of the key do not return anything older.
//!
//! "Older" needs an order on writes. Clients write unique values, and the
//! history says when each write ran: write *a* is older than write *b* when
//! *a* completed before *b* was invoked (real-time order — every store that
//! respects causality must put *a* first). "Before" is the history's order
//! (event steps), as in the linearizability checker, so a write that
//! completes in the microsecond the next one is invoked still precedes it. Concurrent writes are not
//! ordered, so a read may return either without an anomaly. A read of
//! nothing after a write the process knows of is older than everything. An
//! operation with unknown outcome only orders what is certain: an info
//! write has no known completion, so nothing is older than it by time.

use super::history::{CompletedOp, History, HistoryKind};
use crate::nodes::{Key, RegisterView, Value};
use crate::time::SimTime;
use std::collections::BTreeMap;

/// One anomaly: which process read what, and what it should have seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    pub process: u32,
    pub key: Key,
    /// The read's operation id and completion time.
    pub read: u64,
    pub at: SimTime,
    /// What it returned (`None`: nothing).
    pub returned: Option<Value>,
    /// The value it should have seen at least as new as.
    pub newer_than: Value,
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let got = self.returned.map_or("nothing".to_string(), |v| v.to_string());
        write!(
            f,
            "process {} read k{} = {got} (op {}, at {}), older than {} which it had already seen",
            self.process, self.key, self.read, self.at, self.newer_than
        )
    }
}

/// When each write ran, as event steps: value → (invoked, completed if
/// known).
struct Writes(BTreeMap<Value, (u64, Option<u64>)>);

impl Writes {
    fn of(ops: &[CompletedOp]) -> Self {
        Writes(
            ops.iter()
                .filter_map(|o| match o.register {
                    Some(RegisterView::Write { value, .. }) if o.outcome != Some(HistoryKind::Fail) => {
                        let done = if o.outcome == Some(HistoryKind::Ok) { o.completed } else { None };
                        Some((value, (o.invoke_step, done.map(|(_, step)| step))))
                    }
                    _ => None,
                })
                .collect(),
        )
    }

    /// Whether what a read returned is certainly older than write `newer`.
    fn older(&self, returned: Option<Value>, newer: Value) -> bool {
        match returned {
            None => true,
            Some(v) if v == newer => false,
            Some(v) => match (self.0.get(&v), self.0.get(&newer)) {
                (Some(&(_, Some(done))), Some(&(invoked, _))) => done < invoked,
                _ => false,
            },
        }
    }
}

/// The ok operations of each process, in completion order.
fn by_process(ops: &[CompletedOp]) -> BTreeMap<u32, Vec<&CompletedOp>> {
    let mut out: BTreeMap<u32, Vec<&CompletedOp>> = BTreeMap::new();
    for o in ops.iter().filter(|o| o.outcome == Some(HistoryKind::Ok)) {
        out.entry(o.process).or_default().push(o);
    }
    for v in out.values_mut() {
        v.sort_by_key(|o| o.completed);
    }
    out
}

/// Reads that returned something older than the process's own earlier
/// write to the key.
pub fn read_your_writes(history: &History) -> Vec<Anomaly> {
    session_anomalies(history, |op| matches!(op, RegisterView::Write { .. }))
}

/// Reads that returned something older than what the process had read
/// before from the key.
pub fn monotonic_reads(history: &History) -> Vec<Anomaly> {
    session_anomalies(history, |op| matches!(op, RegisterView::Read { .. }))
}

/// The shared walk: per process, remember per key the newest value the
/// process knows of from operations of the kind `counts`, and flag reads
/// older than it.
fn session_anomalies(history: &History, counts: fn(&RegisterView) -> bool) -> Vec<Anomaly> {
    let ops = history.operations();
    let writes = Writes::of(&ops);
    let mut out = Vec::new();
    for (process, mine) in by_process(&ops) {
        let mut known: BTreeMap<Key, Value> = BTreeMap::new();
        for o in mine {
            let Some(register) = o.register else { continue };
            let (key, value) = match register {
                RegisterView::Write { key, value } => (key, Some(value)),
                RegisterView::Read { key, value } => (key, value),
            };
            if let RegisterView::Read { .. } = register
                && let Some(&newer) = known.get(&key)
                && writes.older(value, newer)
            {
                out.push(Anomaly {
                    process,
                    key,
                    read: o.op_id,
                    at: o.completed.map_or(o.invoked, |(t, _)| t),
                    returned: value,
                    newer_than: newer,
                });
                continue;
            }
            if counts(&register)
                && let Some(v) = value
                && known.get(&key).is_none_or(|&k| writes.older(Some(k), v))
            {
                known.insert(key, v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::HistoryEvent;
    use crate::nodes::{KeyValue, KvAnswer, KvOp, Workload};

    /// A history from (process, op, invoke ms, complete ms, read result).
    fn history(ops: &[(u32, KvOp, u64, u64, Option<Value>)]) -> History {
        let mut events = Vec::new();
        for (i, &(process, op, inv, done, value)) in ops.iter().enumerate() {
            let id = i as u64 + 1;
            let ev = |kind, t: u64, value: KvAnswer| HistoryEvent {
                step: t,
                time: SimTime(t * 1000),
                process,
                client: 0,
                op_id: id,
                kind,
                op,
                register: KeyValue::<()>::as_register(&op, (kind != HistoryKind::Invoke).then_some(&value)),
                value,
                node: None,
            };
            events.push(ev(HistoryKind::Invoke, inv, KvAnswer::None));
            events.push(ev(HistoryKind::Ok, done, value.into()));
        }
        events.sort_by_key(|e| e.step);
        History { events: events.iter().map(HistoryEvent::erase).collect() }
    }
    fn w(value: Value) -> KvOp {
        KvOp::Write { key: 0, value }
    }
    const R: KvOp = KvOp::Read { key: 0 };

    #[test]
    fn reading_your_own_write_or_newer_is_fine() {
        let h = history(&[
            (0, w(1), 0, 1, None),
            (0, R, 2, 3, Some(1)),
            (1, w(2), 4, 5, None),
            (0, R, 6, 7, Some(2)),
        ]);
        assert!(read_your_writes(&h).is_empty());
        assert!(monotonic_reads(&h).is_empty());
    }

    #[test]
    fn reading_nothing_after_your_write_is_an_anomaly() {
        let h = history(&[(0, w(1), 0, 1, None), (0, R, 2, 3, None)]);
        let a = read_your_writes(&h);
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].read, a[0].returned, a[0].newer_than), (2, None, 1));
        assert!(a[0].to_string().contains("read k0 = nothing"));
    }

    #[test]
    fn reading_an_older_write_after_yours_is_an_anomaly() {
        // Process 1 wrote 1 before process 0 wrote 2; process 0 reads 1.
        let h = history(&[(1, w(1), 0, 1, None), (0, w(2), 2, 3, None), (0, R, 4, 5, Some(1))]);
        assert_eq!(read_your_writes(&h).len(), 1);
        // Another process reading 1 is no session anomaly.
        let h = history(&[(1, w(1), 0, 1, None), (0, w(2), 2, 3, None), (1, R, 4, 5, Some(1))]);
        assert!(read_your_writes(&h).is_empty());
    }

    #[test]
    fn a_concurrent_older_looking_write_is_not_an_anomaly() {
        // Write 1 overlaps write 2: no order between them.
        let h = history(&[(1, w(1), 0, 10, None), (0, w(2), 2, 3, None), (0, R, 11, 12, Some(1))]);
        assert!(read_your_writes(&h).is_empty());
    }

    #[test]
    fn going_back_in_time_breaks_monotonic_reads() {
        let h = history(&[
            (1, w(1), 0, 1, None),
            (1, w(2), 2, 3, None),
            (0, R, 4, 5, Some(2)),
            (0, R, 6, 7, Some(1)),
            (0, R, 8, 9, None),
        ]);
        let a = monotonic_reads(&h);
        assert_eq!(a.len(), 2, "{a:?}");
        assert_eq!(a[0].newer_than, 2);
        assert!(read_your_writes(&h).is_empty(), "process 0 wrote nothing");
    }
}

//! What the TUI and `distlab run` show of a node.

use super::*;

impl PrimaryReplica {
    pub(super) fn view_of(state: &State, disk: &Disk, cluster: &Cluster) -> NodeView {
        let role = match state.role {
            Role::Primary(_) => "primary",
            Role::Replica => "replica",
            Role::Candidate { .. } => "candidate",
        };
        let mut v = NodeView::new(role, Some(state.epoch));
        let log = v.section("log");
        log.row("length", state.last_index())
            .row("on disk", disk.log.last_index())
            .row("commit", state.commit);
        if state.log.base > 0 {
            log.row("compacted", format!("entries 1..={} (snapshot)", state.log.base));
        }
        if let Some(p) = state.primary {
            log.row("follows", cluster.name(p));
        }
        let len = state.log.entries.len();
        for e in state.log.entries.range(len.saturating_sub(5), len) {
            let what = e.write.map_or("no-op".to_string(), |w| format!("k{} = {}", w.key, w.value));
            log.row(format!("#{} (epoch {})", e.index, e.epoch), what);
        }
        let store = v.section("store");
        for (k, (val, idx)) in &state.store {
            store.row(format!("k{k}"), format!("{val} (#{idx})"));
        }
        if let Role::Primary(lead) = &state.role {
            let r = v.section("replicas");
            for (n, p) in &lead.progress {
                r.row(cluster.name(*n), format!("match {} next {}", p.match_index, p.next_index));
            }
        }
        let tail = len.saturating_sub(LogView::TAIL);
        v.log = Some(LogView {
            last: state.last_index(),
            commit: state.commit,
            on_disk: disk.log.last_index(),
            entries: state
                .log
                .entries
                .range(tail, len)
                .map(|e| LogCell {
                    index: e.index,
                    epoch: e.epoch,
                    label: e.write.map_or("no-op".to_string(), |w| format!("k{}={}", w.key, w.value)),
                })
                .collect(),
        });
        v
    }
}

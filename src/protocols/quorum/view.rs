//! What the TUI and `distlab run` show of a node.

use super::*;

impl Quorum {
    pub(super) fn view_of(state: &State, cluster: &Cluster) -> NodeView {
        let mut v =
            NodeView::new(if state.coordinating.is_empty() { "replica" } else { "coordinator" }, None);
        let s = v.section("store");
        for (k, (ver, val)) in &state.store {
            let writer = cluster
                .names
                .get(ver.writer as usize)
                .cloned()
                .unwrap_or_else(|| format!("client #{}", ver.writer));
            s.row(format!("k{k}"), format!("{val} (v{}@{writer})", ver.clock_us));
        }
        if !state.hints.is_empty() {
            let h = v.section("hints");
            for ((replica, k), (_, val)) in &state.hints {
                h.row(format!("k{k} for {}", cluster.name(*replica)), val);
            }
        }
        if !state.coordinating.is_empty() {
            let c = v.section("coordinating");
            for (req, co) in &state.coordinating {
                c.row(format!("#{req} k{}", co.key), format!("{}/{} answers", co.counted, co.needed));
            }
        }
        v
    }
}

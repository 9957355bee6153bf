//! What the TUI and `distlab run` show of a node.

use super::*;

impl MultiMaster {
    pub(super) fn view_of(state: &State, cluster: &Cluster) -> NodeView {
        let mut v = NodeView::new("master", None);
        let s = v.section("store");
        for (k, entry) in &state.store {
            s.row(format!("k{k}"), entry.describe(&cluster.names));
        }
        v
    }
}

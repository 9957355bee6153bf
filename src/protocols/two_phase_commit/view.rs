//! What the TUI and `distlab run` show of a node.

use super::*;

/// Rows shown per section at most (the TUI stays readable).
const SHOWN: usize = 16;

impl TwoPhaseCommit {
    pub(super) fn view_of(state: &State, cluster: &Cluster) -> NodeView {
        match state {
            State::Coordinator(c) => Self::coordinator_view(c, cluster),
            State::Participant(p) => Self::participant_view(p),
        }
    }

    fn coordinator_view(state: &Coordinator, cluster: &Cluster) -> NodeView {
        let mut v = NodeView::new("coordinator", None);
        let s = v.section("transactions");
        for (tx, r) in state.running.iter().take(SHOWN) {
            let t = r.work;
            let what = match &r.phase {
                Phase::Voting { yes } => format!("voting: {} of {} yes", yes.len(), r.participants.len()),
                Phase::Finishing { decision, acked } => {
                    let waiting: Vec<&str> = r
                        .participants
                        .iter()
                        .filter(|p| !acked.contains(p))
                        .map(|p| cluster.name(*p))
                        .collect();
                    format!("{decision:?}, waiting for acks from {}", waiting.join(", "))
                }
            };
            s.row(format!("tx {tx}: {t:?}"), what);
        }
        let commits = state.decisions.values().filter(|d| **d == Decision::Commit).count();
        let log = v.section("log (decisions remembered)");
        log.row("committed", commits);
        log.row("aborted", state.decisions.len() - commits);
        v
    }

    fn participant_view(state: &Participant) -> NodeView {
        let mut v = NodeView::new("participant", None);
        let h = state.holding.prefix();
        let s = v.section(match state.holding {
            Holding::Account => "accounts changed",
            Holding::Credit => "customers' credit changed",
            Holding::Stock => "items' stock changed",
        });
        for (a, b) in state.balances.iter().take(SHOWN) {
            s.row(format!("{h}{a}"), b);
        }
        if state.balances.len() > SHOWN {
            s.row("…", format!("{} more", state.balances.len() - SHOWN));
        }
        if !state.prepared.is_empty() {
            let s = v.section("prepared (in doubt)");
            for (tx, p) in state.prepared.iter().take(SHOWN) {
                let h = p.share.holding.prefix();
                let locks: Vec<String> = p.share.accounts().map(|a| format!("{h}{a}")).collect();
                let how = if p.blocked { "blocked" } else { "waiting" };
                s.row(format!("tx {tx}"), format!("{how}, holding {}", locks.join(", ")));
            }
        }
        let commits = state.outcomes.values().filter(|d| **d == Decision::Commit).count();
        let o = v.section("outcomes remembered");
        o.row("committed", commits);
        o.row("aborted", state.outcomes.len() - commits);
        v
    }
}

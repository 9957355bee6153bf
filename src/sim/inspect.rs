//! What the TUI shows about a node beyond the protocol's own view: its
//! pending timers (RaftScope's election rings), the messages held while
//! it is paused, and — while it is down — what recovery will read from
//! its disk. Read-only: nothing here changes the run.

use super::engine::Sim;
use super::host::{NodeStatus, context};
use super::monitor::Checker;
use super::queue::Event;
use super::time::SimTime;
use crate::nodes::{NodeId, NodeView, Outbox, Protocol};

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// The node's pending timers, soonest first: each key (as `Debug`
    /// writes it) with when it fires.
    pub fn node_timers(&self, n: NodeId) -> Vec<(String, SimTime)> {
        let rt = &self.state.nodes[n.index()];
        if rt.status == NodeStatus::Down {
            return Vec::new();
        }
        let mut out: Vec<(String, SimTime)> = self
            .state
            .queue
            .iter()
            .filter_map(|e| self.state.slab[e.slot as usize].as_ref().filter(|s| s.key == e.key))
            .filter_map(|s| match &s.event {
                Event::Timer { node, incarnation, id, timer }
                    if *node == n && *incarnation == rt.incarnation && rt.timers.get(timer) == Some(id) =>
                {
                    Some((format!("{timer:?}"), s.time))
                }
                _ => None,
            })
            .collect();
        // Held for a paused node: due as soon as it resumes.
        for &slot in &rt.held {
            if let Some(s) = &self.state.slab[slot as usize]
                && let Event::Timer { id, timer, incarnation, .. } = &s.event
                && *incarnation == rt.incarnation
                && rt.timers.get(timer) == Some(id)
            {
                out.push((format!("{timer:?}"), s.time));
            }
        }
        out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        out
    }

    /// How many events (messages, timers) wait for the node to resume.
    pub fn node_held(&self, n: NodeId) -> usize {
        self.state.nodes[n.index()].held.len()
    }

    /// For a node that is down: the view of the state it would recover
    /// from its disk if it restarted now (recovery run on a copy; its
    /// effects are discarded). `None` while the node is up or paused.
    pub fn node_recovery_view(&self, n: NodeId) -> Option<NodeView> {
        let rt = &self.state.nodes[n.index()];
        if rt.status != NodeStatus::Down {
            return None;
        }
        let mut io = rt.io.clone();
        let mut out = Outbox::<P>::default();
        let mut ctx = context(n, self.state.now, false, &self.cfg, &mut io, &mut out, None);
        let state = P::recover(&mut ctx, &rt.disk);
        Some(P::view(&state, &rt.disk, &self.cfg.cluster))
    }
}

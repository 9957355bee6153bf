//! *Advanced.* Sloppy quorum and hinted handoff.
//!
//! An option (`sloppy = true`): when a replica does not
//! answer, the coordinator suspects it for a while and writes to the
//! next node on the ring instead, a **stand-in**, with a *hint* naming
//! the replica it stands in for. The stand-in keeps trying to hand the
//! value back; once the replica has it, the hint is dropped. Writes stay
//! available through a partition — but a read quorum may then miss a
//! write quorum even with `r + w > n`.

use super::*;

impl Quorum {
    pub(super) fn arm_handoff(state: &mut State, ctx: Ctx) {
        if !state.handoff_timer && !state.hints.is_empty() {
            state.handoff_timer = true;
            ctx.set_timer(Timer::Handoff, ctx.params().handoff_interval);
        }
    }

    pub(super) fn hand_off(state: &mut State, ctx: Ctx) {
        state.handoff_timer = false;
        let hints: Vec<_> = state
            .hints
            .iter()
            .map(|(&(replica, key), &(version, value))| (replica, key, version, value))
            .collect();
        for (replica, key, version, value) in hints {
            ctx.send(replica, Msg::Handoff { key, version, value });
        }
        Self::arm_handoff(state, ctx);
    }
}

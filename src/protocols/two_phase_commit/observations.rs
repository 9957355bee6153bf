//! What a node publishes for the checkers.

use super::*;

/// How a participant came to its decision (for the checker and the trace).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Learned {
    /// The coordinator told it.
    Coordinator,
    /// Another participant told it (cooperative termination).
    Peer,
    /// It voted no.
    VotedNo,
    /// It had not voted and a blocked peer asked (cooperative termination).
    Unilateral,
    /// It gave up waiting (heuristic decision).
    Heuristic,
    /// Read back from its own disk after a restart (see `recover`).
    Disk,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Observation {
    /// Coordinator: `Prepare` sent for `tx` (a prepare round).
    PrepareRound { tx: Tx, work: Work },
    /// Participant: its vote, once on disk, as it is sent (a yes vote still
    /// undecided is reported again after a restart).
    Voted { tx: Tx, vote: Vote },
    /// Coordinator: the decision is on its disk.
    DecisionLogged { tx: Tx, decision: Decision, work: Work },
    /// Coordinator: the decision sent to participants that have not
    /// acknowledged it (`resend`: not for the first time).
    DecisionRound { tx: Tx, resend: bool },
    /// Coordinator: every participant acknowledged.
    Ended { tx: Tx },
    /// Participant: in doubt past `decision_timeout`, holding its locks.
    Blocked { tx: Tx },
    /// Participant: its outcome is on disk (`share` applied, for a commit;
    /// reported again after a restart, with `learned: Disk`).
    Decided { tx: Tx, decision: Decision, learned: Learned, share: Share },
    /// Retention: this node forgot `count` finished transactions.
    Forgot { count: u32 },
    /// A message (a client's request, a prepare, a question) about a
    /// transaction this node does not know and that is older than
    /// `retention`: handled as one it may have forgotten.
    TooOld { tx: Tx },
}

impl Observation {
    /// In the protocol's words, for the trace and the TUI's log.
    pub fn label(&self) -> String {
        let decision = |d: &Decision| match d {
            Decision::Commit => "commit",
            Decision::Abort => "abort",
        };
        match self {
            Observation::PrepareRound { tx, work } => format!("prepare round for tx {tx} ({work:?})"),
            Observation::Voted { tx, vote: Vote::Yes } => {
                format!("voted yes on tx {tx} (prepared, locks held)")
            }
            Observation::Voted { tx, vote: Vote::No(why) } => format!("voted no on tx {tx} ({why:?})"),
            Observation::DecisionLogged { tx, decision: d, .. } => {
                format!("logged {} for tx {tx}", decision(d))
            }
            Observation::DecisionRound { tx, resend: false } => format!("sent the decision on tx {tx}"),
            Observation::DecisionRound { tx, resend: true } => format!("sent the decision on tx {tx} again"),
            Observation::Ended { tx } => format!("tx {tx} ended: every participant acknowledged"),
            Observation::Blocked { tx } => format!("blocked on tx {tx}: in doubt, holding its locks"),
            Observation::Decided { tx, decision: d, learned, share } => {
                format!("decided {} for tx {tx} ({learned:?}; {share:?})", decision(d))
            }
            Observation::Forgot { count } => format!("forgot {count} finished transaction(s)"),
            Observation::TooOld { tx } => format!("tx {tx} is unknown here and older than retention"),
        }
    }
}

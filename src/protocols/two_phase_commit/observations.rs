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
    PrepareRound { tx: Tx, transfer: Transfer },
    /// Participant: its vote, once on disk, as it is sent (a yes vote still
    /// undecided is reported again after a restart).
    Voted { tx: Tx, vote: Vote },
    /// Coordinator: the decision is on its disk.
    DecisionLogged { tx: Tx, decision: Decision, transfer: Transfer },
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

//! The `[protocol]` table of `primary-replica`.

use crate::nodes::NodeId;
use crate::protocols::Configure;
use crate::scenario::{ParamContext, ScenarioError, raw::S};
use crate::time::SimDuration;
use serde::Deserialize;

/// When the primary acknowledges a write (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Async,
    SemiSync,
    Sync,
}

/// Which nodes answer reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reads {
    /// Any node answers from what it has applied: replicas scale reads and
    /// lag (stale reads; read-your-writes only with a session token).
    Any,
    /// Only a node that believes it is the primary answers; a replica
    /// redirects the read to the primary it knows, as it does a write.
    Primary,
}

/// Whether replicas elect a new primary by themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Failover {
    /// Replicas that hear no heartbeat hold an election.
    Auto,
    /// Only a timeline `promote` changes the primary.
    Manual,
}

/// Deliberately broken variants, for exercises: find the bug with
/// `distlab check` (see `scenarios/primary-replica/exercise-*.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    /// Replicas vote for any candidate of a newer epoch, without checking
    /// that its log is at least as up to date as their own.
    VoteForStaleLog,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Params {
    /// A deliberate bug (exercises), or none.
    pub bug: Option<Bug>,
    pub mode: Mode,
    /// How often the primary sends heartbeats.
    pub heartbeat: SimDuration,
    /// Silence after which a replica stands for election.
    pub failover_timeout: SimDuration,
    /// Async mode: how often the primary ships new log entries (zero: at
    /// once). Acknowledged writes wait up to this long on the primary
    /// alone — the window a crash loses.
    pub ship_interval: SimDuration,
    /// Compact the log (fold it into a snapshot) every this many entries
    /// that every node has; 0 keeps the whole log.
    pub compact_after: u64,
    pub failover: Failover,
    /// Reject messages from older epochs (see "Fencing").
    pub fencing: bool,
    pub initial_primary: NodeId,
    /// Which nodes answer reads (see "Reads").
    pub reads: Reads,
}

#[derive(Deserialize, Default, Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PrimaryReplicaParams")]
pub struct RawParams {
    /// `async` (default), `semi-sync` or `sync`.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Default 50ms.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub heartbeat: Option<S<String>>,
    /// Default 300ms.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub failover_timeout: Option<S<String>>,
    /// Async only; default 0 (ship at once).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ship_interval: Option<S<String>>,
    /// Default 4096 entries; 0 = never compact.
    #[serde(default)]
    pub compact_after: Option<u64>,
    /// `auto` (default) or `manual`.
    #[serde(default)]
    pub failover: Option<Failover>,
    /// Default true.
    #[serde(default)]
    pub fencing: Option<bool>,
    /// Default: the first node.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub initial_primary: Option<S<String>>,
    /// `any` (default) or `primary`.
    #[serde(default)]
    pub reads: Option<Reads>,
    /// A deliberately broken variant, for exercises.
    #[serde(default)]
    pub bug: Option<Bug>,
}

impl Configure for super::PrimaryReplica {
    type Raw = RawParams;
    const SUMMARY: &'static str = "one primary ships its log to replicas (async / semi-sync / sync); failover by election with epochs that fence the old primary";

    fn configure(raw: RawParams, cx: &ParamContext<'_>) -> Result<Params, ScenarioError> {
        let heartbeat = cx.duration_or(&raw.heartbeat, SimDuration::from_millis(50))?;
        if heartbeat < SimDuration::from_millis(1) {
            return Err(
                cx.error(raw.heartbeat.as_ref().expect("given").span(), "heartbeat must be at least 1ms")
            );
        }
        let failover_timeout = cx.duration_or(&raw.failover_timeout, SimDuration::from_millis(300))?;
        if failover_timeout <= heartbeat {
            let span = raw.failover_timeout.as_ref().or(raw.heartbeat.as_ref()).map_or(0..0, |d| d.span());
            return Err(cx
                .error(
                    span,
                    format!(
                        "failover_timeout ({failover_timeout}) must be longer than heartbeat ({heartbeat})"
                    ),
                )
                .with_help(
                    "otherwise replicas elect a new primary between two heartbeats of a healthy one",
                ));
        }
        let mode = raw.mode.unwrap_or(Mode::Async);
        let ship_interval = cx.duration_or(&raw.ship_interval, SimDuration::ZERO)?;
        if ship_interval.0 > 0 && mode != Mode::Async {
            return Err(cx
                .error(
                    raw.ship_interval.as_ref().expect("given").span(),
                    "ship_interval applies to mode = \"async\" only",
                )
                .with_help("semi-sync and sync ship at once: a client is waiting"));
        }
        let initial_primary =
            raw.initial_primary.as_ref().map(|n| cx.node(n)).transpose()?.unwrap_or(NodeId(0));
        Ok(Params {
            bug: raw.bug,
            mode,
            heartbeat,
            failover_timeout,
            ship_interval,
            compact_after: raw.compact_after.unwrap_or(4096),
            failover: raw.failover.unwrap_or(Failover::Auto),
            fencing: raw.fencing.unwrap_or(true),
            initial_primary,
            reads: raw.reads.unwrap_or(Reads::Any),
        })
    }
}

/// What primary–replica promises, check by check (the book's
/// primary–replica chapter, "What it promises").
impl crate::protocols::Promises for super::PrimaryReplica {
    fn promise(p: &Params, nodes: usize, check: &str) -> Result<(), &'static str> {
        let elected = p.failover == Failover::Auto && p.fencing;
        match check {
            "log-prefix" | "writes-applied-once" => Ok(()),
            "acked-writes-durable" => match p.mode {
                Mode::Async => Err("async replication acknowledges a write before any replica has it"),
                _ if p.failover == Failover::Manual => {
                    Err("a manual promote may pick a replica that lacks acknowledged writes")
                }
                _ if !p.fencing => Err("without fencing an old primary keeps writes a new one never sees"),
                Mode::SemiSync if nodes > 3 => {
                    Err("semi-sync on more than 3 nodes: a majority can elect a replica without the one copy")
                }
                _ => Ok(()),
            },
            "acked-on-a-replica" => match p.mode {
                Mode::Async => {
                    Err("async replication acknowledges once the primary's own disk has the write")
                }
                _ if nodes < 2 => Err("a cluster of one node has no replica"),
                _ if !p.fencing => {
                    Err("without fencing a replica may swap the write for another primary's before the ack")
                }
                Mode::SemiSync if nodes > 3 => Err(
                    "semi-sync on more than 3 nodes: the one replica that confirmed a write can cut it for a newer primary's log before the ack",
                ),
                _ => Ok(()),
            },
            "single-primary" => match p.mode {
                _ if !p.fencing => Err("without fencing an old primary keeps acknowledging writes"),
                Mode::Async => {
                    Err("an async primary acknowledges on its own disk, before it can learn it was deposed")
                }
                Mode::SemiSync if nodes > 3 => Err(
                    "semi-sync on more than 3 nodes: a primary cut off with one replica that has not heard of the new epoch gets its ack",
                ),
                _ => Ok(()),
            },
            "no-stale-reads" => {
                Err("reads are served without a lease: a lagging replica or a deposed primary answers")
            }
            crate::protocols::LINEARIZABILITY => Err("reads are served without a lease (see no-stale-reads)"),
            "read-your-writes" => Err("a client option (read_your_writes), not a promise of the protocol"),
            crate::protocols::LIVENESS if elected => Ok(()),
            crate::protocols::LIVENESS if !p.fencing => {
                Err("without fencing two nodes may go on acting as primary after the network heals")
            }
            crate::protocols::LIVENESS => {
                Err("with manual failover only an operator's promote replaces a primary")
            }
            _ => Err("not a check of this protocol"),
        }
    }
}

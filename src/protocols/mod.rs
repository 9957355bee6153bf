//! The protocols, and the registry that maps a scenario's `protocol = "..."`
//! to a protocol's parameter parser, checks and constructor (design rule 4).
//!
//! Each protocol is a folder with one layout, `src/protocols/NAME/`:
//! `mod.rs` holds the module docs (model, the book's steps mapped to the
//! functions that do them, guarantees, what is durable, the failure story)
//! and the state; `messages.rs` is the rule table — the messages and
//! timers, and which handler each one runs, dispatch first; one file per
//! role, handlers in the book's order (two-phase commit's
//! `coordinator.rs` and `participant.rs`, primary–replica's `primary.rs`,
//! `replica.rs` and `election.rs`, ...), advanced parts in files of their
//! own and marked so; `durable.rs` the disk and recovery; `exercises.rs`
//! the policy hooks the exercises override; `params.rs` the `[protocol]`
//! table; `view.rs` what the TUI shows; `checker.rs` the invariants. Only
//! the tiny `echo` is a single file. To add a protocol:
//! write a type implementing [`crate::nodes::Protocol`], [`Configure`] and
//! [`Promises`], a checker implementing [`crate::sim::Checker`], and add
//! one line to [`registry`] — or, outside this crate, add
//! [`entry::<P, C>()`](entry) to the registry you load files with:
//! `registry().with(entry::<P, C>())`.

pub mod echo;
pub mod multi_master;
pub mod primary_replica;
pub mod quorum;
pub mod saga;
pub mod two_phase_commit;

use crate::nodes::Protocol;
use crate::scenario::{ParamContext, Registry, Scenario, ScenarioError};
use crate::sim::Checker;
use crate::sim::monitor::{CheckInfo, GaugeInfo, MetricInfo, Unit};
use crate::sim::{Driver, Sim, SimConfig};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

/// How a protocol reads its `[protocol]` table.
pub trait Configure: Protocol<Params: Send + Sync> {
    /// The table as written (serde, `deny_unknown_fields`, spans kept),
    /// with its JSON Schema (`distlab schema`; a `Spanned<T>` field says
    /// `#[schemars(with = "T")]`).
    type Raw: DeserializeOwned + Default + schemars::JsonSchema;
    /// One line for `distlab list`.
    const SUMMARY: &'static str;
    /// Validates the raw table into parameters, with positioned errors.
    fn configure(raw: Self::Raw, cx: &ParamContext<'_>) -> Result<Self::Params, ScenarioError>;
    /// Whether, with these parameters, the protocol promises that client
    /// histories are linearizable (then `distlab check` verifies it).
    fn promises_linearizability(_params: &Self::Params) -> bool {
        false
    }
}

/// The name under which [`Promises::promise`] answers for liveness: once
/// every fault is healed, the run settles (the checker's
/// [`Checker::pending`] comes empty).
pub const LIVENESS: &str = "liveness";

/// The name under which [`Promises::promise`] answers for
/// linearizability: every client history of the run is linearizable.
pub const LINEARIZABILITY: &str = "linearizability";

/// What a protocol promises with given parameters, whatever the faults:
/// what `distlab check --nemesis aggressive` grades, and whether
/// `distlab check` requires liveness. A deliberate `bug` promises what
/// the correct protocol would (it is there to be caught).
pub trait Promises: Protocol {
    /// `Ok(())` when, with `params` on `nodes` nodes, `check` (one of the
    /// checker's checks, or [`LIVENESS`]) holds in every run; `Err(why)`,
    /// one line a student can read, when it does not.
    fn promise(params: &Self::Params, nodes: usize, check: &str) -> Result<(), &'static str>;
}

pub use crate::scenario::{ProtocolEntry, RunOptions};

/// Metrics every run reports, whatever the protocol.
pub const GENERIC_METRICS: &[MetricInfo] = &[
    MetricInfo::new("ops_ok", Unit::Count, "client operations that completed ok"),
    MetricInfo::new("ops_fail", Unit::Count, "client operations that certainly failed"),
    MetricInfo::new("ops_info", Unit::Count, "client operations with unknown outcome"),
    MetricInfo::new("messages_delivered", Unit::Count, "messages delivered"),
    MetricInfo::new("messages_dropped", Unit::Count, "messages dropped (loss, partition, crashed receiver)"),
    MetricInfo::new("messages_duplicated", Unit::Count, "messages the network duplicated"),
    MetricInfo::new(
        "latency_mean_ms",
        Unit::Ms,
        "mean client latency of operations that completed ok, invoke to reply",
    ),
    MetricInfo::new("latency_p99_ms", Unit::Ms, "99th percentile of that latency"),
    MetricInfo::new(
        "ryw_anomalies",
        Unit::Count,
        "key-value reads that returned something older than the same process's earlier write (read your writes)",
    ),
    MetricInfo::new(
        "latency_p50_ms",
        Unit::Ms,
        "median client latency of ok operations (runs that model load)",
    ),
    MetricInfo::new(
        "throughput_ops_s",
        Unit::Count,
        "operations that completed ok per simulated second (runs that model load: [capacity] or an open-loop client)",
    ),
    MetricInfo::new(
        "read_throughput_ops_s",
        Unit::Count,
        "key-value reads that completed ok per second (load)",
    ),
    MetricInfo::new(
        "write_throughput_ops_s",
        Unit::Count,
        "key-value writes that completed ok per second (load)",
    ),
    MetricInfo::new(
        "offered_ops_s",
        Unit::Count,
        "operations the clients offered per second: invoked plus shed (load)",
    ),
    MetricInfo::new("ops_shed", Unit::Count, "open-loop arrivals shed: every process of the group was busy"),
    MetricInfo::new("utilisation_max", Unit::Ratio, "the busiest node's share of time serving ([capacity])"),
    MetricInfo::new("utilisation_mean", Unit::Ratio, "the nodes' mean share of time serving ([capacity])"),
    MetricInfo::new(
        "queue_max",
        Unit::Count,
        "the most messages that waited at one node at once, the one in service included ([capacity])",
    ),
    MetricInfo::new("refused", Unit::Count, "messages and requests refused by a full queue ([capacity])"),
    MetricInfo::new(
        "monotonic_read_anomalies",
        Unit::Count,
        "key-value reads that returned something older than the same process had read before (monotonic reads)",
    ),
];

/// The registry entry of protocol `P` checked by `C` (see [`entry`]).
pub struct Entry<P, C>(PhantomData<fn() -> (P, C)>);

/// The registry entry of protocol `P` checked by `C`: what a library user
/// adds to [`registry`] to load scenario files naming their own protocol.
pub fn entry<P: Configure + Promises, C: Checker<P> + 'static>() -> Entry<P, C> {
    Entry(PhantomData)
}

#[derive(Deserialize)]
struct ProtocolTable<T> {
    #[serde(default)]
    protocol: Option<T>,
}

impl<P: Configure + Promises, C: Checker<P> + 'static> ProtocolEntry for Entry<P, C>
where
    Sim<P, C>: Driver,
{
    fn name(&self) -> &'static str {
        P::NAME
    }
    fn summary(&self) -> &'static str {
        P::SUMMARY
    }
    fn commands(&self) -> &'static [&'static str] {
        P::COMMANDS
    }
    fn message_kinds(&self) -> &'static [&'static str] {
        <P::Msg as crate::nodes::Message>::KINDS
    }
    fn checks(&self) -> &'static [CheckInfo] {
        C::CHECKS
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        C::METRICS
    }
    fn gauges(&self) -> &'static [GaugeInfo] {
        C::GAUGES
    }
    fn parse_params(&self, cx: &ParamContext<'_>) -> Result<Arc<dyn Any + Send + Sync>, ScenarioError> {
        let table: ProtocolTable<P::Raw> = toml::from_str(cx.source)
            .map_err(|e| crate::scenario::error::from_toml(cx.file, cx.source, &e))?;
        let params = P::configure(table.protocol.unwrap_or_default(), cx)?;
        Ok(Arc::new(params))
    }
    fn promises_linearizability(&self, params: &(dyn Any + Send + Sync)) -> bool {
        params.downcast_ref::<P::Params>().is_some_and(P::promises_linearizability)
    }
    fn params_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<P::Raw>()
    }
    fn promise(
        &self,
        params: &(dyn Any + Send + Sync),
        nodes: usize,
        check: &str,
    ) -> Result<(), &'static str> {
        let params = params.downcast_ref::<P::Params>().ok_or("parameters of another protocol")?;
        P::promise(params, nodes, check)
    }
    fn build(&self, s: &Scenario, options: RunOptions) -> Box<dyn Driver> {
        Box::new(Self::sim(s, options))
    }
}

impl<P: Protocol, C: Checker<P>> Entry<P, C> {
    /// A run of scenario `s` (of this protocol) with the given options.
    pub(crate) fn sim(s: &Scenario, options: RunOptions) -> Sim<P, C> {
        let params: &P::Params = s.params.downcast_ref().expect("parameters were parsed by this protocol");
        let seed = options.seed.unwrap_or(s.seed);
        Sim::<P, C>::new(SimConfig {
            seed,
            params: params.clone(),
            cluster: s.cluster.clone(),
            network: s.network.clone(),
            clients: s.clients.clone(),
            faults: s.faults_for_seed(seed),
            disk_latency: s.disk_latency,
            clocks: s.clocks.clone(),
            trace: options.trace,
            record_history: options.record_history,
            checks: options.checks,
            budget: crate::sim::Budget::default(),
            capacity: s.capacity.clone(),
        })
    }
}

/// The bundled protocols, in the order `distlab list` shows them, and the
/// metrics every run reports ([`GENERIC_METRICS`]). Add your own with
/// [`Registry::with`] and [`entry`].
pub fn registry() -> Registry {
    Registry::new()
        .with(entry::<echo::Echo, echo::EchoChecker>())
        .with(entry::<primary_replica::PrimaryReplica, primary_replica::ReplicationChecker>())
        .with(entry::<multi_master::MultiMaster, multi_master::MultiMasterChecker>())
        .with(entry::<quorum::Quorum, quorum::QuorumChecker>())
        .with(entry::<saga::Saga, saga::SagaChecker>())
        .with(entry::<two_phase_commit::TwoPhaseCommit, two_phase_commit::TwoPhaseCommitChecker>())
        .with_every_run_metrics(GENERIC_METRICS.iter().map(|m| m.name))
}

/// Builds a run of a scenario with the given options.
pub fn build(scenario: &Scenario, options: RunOptions) -> Result<Box<dyn Driver>, ScenarioError> {
    Ok(scenario.protocol.build(scenario, options))
}

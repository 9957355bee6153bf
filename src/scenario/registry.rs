//! The protocol registry: what the loader knows about the protocols a file
//! may name (design rule 4).
//!
//! A [`ProtocolEntry`] is a protocol as the rest of the program sees it —
//! its name, how it reads its `[protocol]` table, its checks and metrics,
//! what it promises, and how to build a run of it. A [`Registry`] maps a
//! scenario's `protocol = "..."` to an entry. The loader takes one
//! ([`super::load`]), so the file format names no protocol: the bundled
//! set is `distlab::protocols::registry()`, and a library user adds their
//! own protocol to it and loads files naming it:
//!
//! ```text
//! let registry = distlab::protocols::registry().with(distlab::protocols::entry::<MyProtocol, MyChecker>());
//! let scenario = distlab::scenario::load(&registry, Path::new("my-lesson.toml"))?;
//! ```
//!
//! (`tests/registry.rs` does this with a whole protocol.) A registry knows
//! only what was put in it:
//!
//! ```
//! use distlab::protocols::{echo, entry};
//! use distlab::scenario::{Registry, load_str};
//! let only_echo = Registry::new().with(entry::<echo::Echo, echo::EchoChecker>());
//! let file = "[scenario]\nname = \"ping\"\nprotocol = \"echo\"\nduration = \"10ms\"\n[cluster]\nnodes = 2\n";
//! assert_eq!(load_str(&only_echo, "ping.toml", file).unwrap().protocol.name(), "echo");
//! let quorum = file.replace("echo", "quorum");
//! let e = load_str(&only_echo, "q.toml", &quorum).unwrap_err();
//! assert_eq!(e.message, "unknown protocol `quorum`");
//! ```

use super::{ParamContext, Scenario, ScenarioError};
use crate::sim::monitor::{CheckInfo, GaugeInfo, MetricInfo};
use crate::sim::{Driver, TraceLevel};
use std::any::Any;
use std::sync::Arc;

/// How to run a scenario.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    pub trace: TraceLevel,
    pub record_history: bool,
    pub checks: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { seed: None, trace: TraceLevel::Digest, record_history: true, checks: true }
    }
}

/// A protocol as the rest of the program sees it.
pub trait ProtocolEntry: Send + Sync {
    fn name(&self) -> &'static str;
    fn summary(&self) -> &'static str;
    fn commands(&self) -> &'static [&'static str];
    /// The kinds of its messages (see `Message::KINDS`), for
    /// `[capacity.kind]`.
    fn message_kinds(&self) -> &'static [&'static str] {
        &[]
    }
    /// Its checker's checks (see `Checker::CHECKS`).
    fn checks(&self) -> &'static [CheckInfo];
    /// Its checker's metrics, with their units (see `Checker::METRICS`);
    /// every run also reports the registry's
    /// [`every_run_metrics`](Registry::every_run_metrics).
    fn metrics(&self) -> &'static [MetricInfo];
    /// Its checker's gauges (values over time; see `Checker::GAUGES`);
    /// every run also has the engine's
    /// [`MESSAGES_IN_FLIGHT`](crate::sim::monitor::MESSAGES_IN_FLIGHT).
    fn gauges(&self) -> &'static [GaugeInfo];
    /// The second loading pass: reads `[protocol]` with spans.
    fn parse_params(&self, cx: &ParamContext<'_>) -> Result<Arc<dyn Any + Send + Sync>, ScenarioError>;
    /// Builds a run of `scenario`.
    fn build(&self, scenario: &Scenario, options: RunOptions) -> Box<dyn Driver>;
    /// Whether, with these parameters, the protocol promises that client
    /// histories are linearizable; `params` are the parameters this
    /// protocol parsed.
    fn promises_linearizability(&self, params: &(dyn Any + Send + Sync)) -> bool;
    /// `Ok(())` when, with `params` (parsed by this protocol) on `nodes`
    /// nodes, `check` holds in every run whatever the faults; `Err(why)`
    /// when it does not (see `distlab::protocols::Promises`).
    fn promise(
        &self,
        params: &(dyn Any + Send + Sync),
        nodes: usize,
        check: &str,
    ) -> Result<(), &'static str>;
    /// The JSON Schema of its `[protocol]` table, for `distlab schema`
    /// (see [`super::schema`]); any table, unless the entry says more.
    fn params_schema(&self, _generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "object" })
    }
}

/// The protocols a scenario file may name, in the order `distlab list`
/// shows them, and the metrics every run reports whatever its protocol
/// (an `[[expect]] metric` may name those too).
#[derive(Clone, Default)]
pub struct Registry {
    entries: Vec<Arc<dyn ProtocolEntry>>,
    every_run_metrics: Vec<&'static str>,
}

impl Registry {
    /// A registry with no protocol in it.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a protocol.
    ///
    /// # Panics
    /// When a protocol of the same name is registered already (two
    /// protocols under one name would make files ambiguous).
    pub fn register(&mut self, entry: impl ProtocolEntry + 'static) -> &mut Self {
        let name = entry.name();
        assert!(self.find(name).is_none(), "a protocol named `{name}` is registered already");
        self.entries.push(Arc::new(entry));
        self
    }

    /// This registry with one more protocol (see [`Registry::register`]).
    pub fn with(mut self, entry: impl ProtocolEntry + 'static) -> Self {
        self.register(entry);
        self
    }

    /// This registry with metrics every run reports whatever its protocol
    /// (the run report adds them: `distlab::check::report`).
    pub fn with_every_run_metrics(mut self, names: impl IntoIterator<Item = &'static str>) -> Self {
        self.every_run_metrics.extend(names);
        self
    }

    /// The protocol named `name`.
    pub fn find(&self, name: &str) -> Option<&Arc<dyn ProtocolEntry>> {
        self.entries.iter().find(|p| p.name() == name)
    }

    /// Every protocol, in the order they were registered.
    pub fn iter(&self) -> impl Iterator<Item = &dyn ProtocolEntry> {
        self.entries.iter().map(|p| p.as_ref())
    }

    /// How many protocols there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no protocol.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The names of every protocol, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|p| p.name())
    }

    /// The metrics every run reports, whatever its protocol.
    pub fn every_run_metrics(&self) -> &[&'static str] {
        &self.every_run_metrics
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("protocols", &self.names().collect::<Vec<_>>()).finish()
    }
}

//! The scenario file as written: serde structs with spans, unknown fields
//! rejected. [`super::load_str`] validates these into a [`super::Scenario`].
//!
//! The `[protocol]` table is read here only as an opaque value; the
//! protocol's own parameter type reads it in a second pass over the same
//! text, so its errors keep their `file:line:column` too.

use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub type S<T> = Spanned<T>;

/// A distlab scenario file: a lesson (see the book's scenario reference).
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// What the lesson is: name, description, protocol, seed, duration.
    #[schemars(with = "RawMeta")]
    pub scenario: S<RawMeta>,
    /// The nodes: how many (or their names), regions, disk latency, clocks.
    #[serde(default)]
    #[schemars(with = "Option<RawCluster>")]
    pub cluster: Option<S<RawCluster>>,
    /// The protocol's own parameters (which ones depends on
    /// `[scenario] protocol`).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub protocol: Option<S<toml::Value>>,
    /// Latency and faults of the links.
    #[serde(default)]
    pub network: Option<RawNetwork>,
    /// Each node's capacity: service times and a bounded queue (default:
    /// infinite capacity).
    #[serde(default)]
    #[schemars(with = "Option<RawCapacity>")]
    pub capacity: Option<S<RawCapacity>>,
    /// The workload: groups of client processes.
    #[serde(default)]
    #[schemars(with = "Vec<RawClient>")]
    pub clients: Vec<S<RawClient>>,
    /// Scripted faults and notes, at given times.
    #[serde(default)]
    #[schemars(with = "Vec<RawTimeline>")]
    pub timeline: Vec<S<RawTimeline>>,
    /// Random faults, drawn from the seed.
    #[serde(default)]
    #[schemars(with = "Option<RawNemesis>")]
    pub nemesis: Option<S<RawNemesis>>,
    /// What the lesson shows: checks that hold or break, metric bounds.
    #[serde(default)]
    #[schemars(with = "Vec<RawExpect>")]
    pub expect: Vec<S<RawExpect>>,
}

/// `[scenario]`: what the lesson is.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMeta {
    /// The scenario's name, printed by `distlab run` and `distlab check`.
    #[schemars(with = "String")]
    pub name: S<String>,
    /// What the student should watch for; its first sentence is the lesson's
    /// line in `distlab list`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub description: Option<S<String>>,
    /// Which protocol the nodes run (see `distlab list`).
    #[schemars(with = "String")]
    pub protocol: S<String>,
    /// The seed of every random draw (default 1); `--seed` overrides it.
    #[serde(default)]
    pub seed: Option<u64>,
    /// How much virtual time a run lasts, e.g. "2s" (at most "24h").
    #[schemars(with = "String")]
    pub duration: S<String>,
}

/// `[cluster]`: the nodes.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// A count (`3` → `n1 n2 n3`) or a list of names.
    #[schemars(schema_with = "nodes_schema")]
    pub nodes: S<toml::Value>,
    /// Region name → its nodes (and clients).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Vec<String>>")]
    pub regions: BTreeMap<S<String>, Vec<S<String>>>,
    /// A durable write reaches the disk this long after it is issued (default
    /// "0"); a crash before then loses it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub disk_latency: Option<S<String>>,
    /// Per-node settings, `[cluster.node.n2]`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawNode>")]
    pub node: BTreeMap<S<String>, RawNode>,
}

#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// Local clock minus real time, e.g. `"-50ms"`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub clock_offset: Option<S<String>>,
    /// How fast the local clock runs, in parts per million (default 0).
    #[serde(default)]
    pub clock_drift_ppm: Option<i64>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Distribution {
    Constant,
    Uniform,
    Normal,
    Exponential,
    LogNormal,
}

/// `[network]`.
#[derive(Deserialize, Debug, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    /// Typical one-way latency: the constant, the mean, or the median.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub latency: Option<S<String>>,
    /// The latency distribution (default `constant`).
    #[serde(default)]
    pub distribution: Option<Distribution>,
    /// Spread: half-width (uniform) or standard deviation (normal).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub spread: Option<S<String>>,
    /// Log-normal shape σ.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub sigma: Option<S<f64>>,
    /// Probability that a message is lost (default 0).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub drop: Option<S<f64>>,
    /// Probability that a message is delivered twice (default 0).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub duplicate: Option<S<f64>>,
    /// Probability that a message is held back by up to `reorder_delay`, so
    /// later ones overtake it (default 0).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub reorder: Option<S<f64>>,
    /// The longest extra delay of a reordered message (default 4 × the mean
    /// latency, plus 1µs).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub reorder_delay: Option<S<String>>,
    /// Every link delivers in send order (default false; not with `reorder`).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub fifo: Option<S<bool>>,
    /// Latency between regions, `[[network.region_latency]]`.
    #[serde(default)]
    #[schemars(with = "Vec<RawRegionLatency>")]
    pub region_latency: Vec<S<RawRegionLatency>>,
}

#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRegionLatency {
    /// One end: a region of `[cluster] regions`.
    #[schemars(with = "String")]
    pub from: S<String>,
    /// The other end: a region.
    #[schemars(with = "String")]
    pub to: S<String>,
    /// The one-way latency from `from` to `to`.
    #[schemars(with = "String")]
    pub latency: S<String>,
    /// Also set `to → from` (default true).
    #[serde(default)]
    pub symmetric: Option<bool>,
}

/// `[capacity]`: every node is one server with a bounded queue.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCapacity {
    /// Service time of one message from another node, e.g. "200us" (the
    /// constant, the mean or the median; default "0": free).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<S<String>>,
    /// Service time of one client request (default "0": free).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub request: Option<S<String>>,
    /// The service time distribution (default `constant`).
    #[serde(default)]
    pub distribution: Option<Distribution>,
    /// Spread: half-width (uniform) or standard deviation (normal), as a
    /// share of the typical time (default 0.25).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub spread: Option<S<f64>>,
    /// Log-normal shape σ (default 0.5).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub sigma: Option<S<f64>>,
    /// Messages that may wait behind the one in service (default 1000).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub queue: Option<S<u64>>,
    /// What a full queue does with a newcomer: `reject` (default: a client
    /// request is answered fail "overloaded", a peer message dropped) or
    /// `drop`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub when_full: Option<S<String>>,
    /// Service time of one message of a kind, by the protocol's name for
    /// it (`prepare = "2ms"`, `vote-yes = "500us"`), instead of `message`.
    #[serde(default)]
    #[schemars(with = "Option<std::collections::BTreeMap<String, String>>")]
    pub kind: Option<std::collections::BTreeMap<S<String>, S<String>>>,
    /// Disk bandwidth in bytes per second: a durable write of n bytes
    /// takes n / bandwidth on top of `disk_latency`, one write at a time
    /// (default: unlimited).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub disk_bandwidth: Option<S<u64>>,
}

/// `[[clients]]`.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// The group's name (default `c1`, `c2`, ... by position); its processes
    /// are `NAME.0`, `NAME.1`, ...
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<S<String>>,
    /// Concurrent processes (default 1).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub processes: Option<S<u32>>,
    /// Operations the group invokes in all, across its processes.
    #[schemars(with = "u64")]
    pub ops: S<u64>,
    /// Think time between one process's operations (default "10ms").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub interval: Option<S<String>>,
    /// When the first operation is invoked (default "0").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub start: Option<S<String>>,
    /// The share of reads among key-value operations (default 0.5).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub read_fraction: Option<S<f64>>,
    /// Keys `k0` ... `k{keys-1}`, drawn uniformly (default 1).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub keys: Option<S<u32>>,
    /// Where requests go: `primary` (default; `leader` is a synonym: the
    /// node the client last heard leads), `random`, `any-replica`, or a node.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub target: Option<S<String>>,
    /// Where reads go, when different from `target`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub read_target: Option<S<String>>,
    /// How long one attempt waits for an answer (default "500ms").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<S<String>>,
    /// Attempts after the first, with the same idempotency key (default 2).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub retries: Option<S<u32>>,
    /// `off` (default), `primary` (synonym `leader`) or `session`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub read_your_writes: Option<S<String>>,
    /// Where the processes sit, for inter-region latency.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub region: Option<S<String>>,
    /// Open loop: operations per second arriving whether or not earlier
    /// ones completed (default: closed loop, see `interval`).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub rate: Option<S<f64>>,
    /// How open-loop arrivals are spaced: `poisson` (default) or
    /// `constant`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub arrival: Option<S<String>>,
}

/// `[[timeline]]`: one action (and/or a note) at a time.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTimeline {
    /// When, e.g. "250ms" (at most the scenario's `duration`).
    #[schemars(with = "String")]
    pub at: S<String>,
    /// Apply the entry just before event number `step` instead (how the TUI
    /// saves interventions).
    #[serde(default)]
    pub step: Option<u64>,
    /// A node loses its memory, timers, held messages and writes not yet on
    /// disk.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub crash: Option<S<String>>,
    /// A crashed node starts again from its disk.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub restart: Option<S<String>>,
    /// A node freezes: it receives nothing and no timer fires.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub pause: Option<S<String>>,
    /// A paused node goes on.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub resume: Option<S<String>>,
    /// Groups of nodes (and clients) that cannot reach each other: `[["n1",
    /// "n2"], ["n3"]]`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<Vec<String>>>")]
    pub partition: Option<Vec<Vec<S<String>>>>,
    /// Cut one direction of one link: `{ from = "n1", to = "n2" }`.
    #[serde(default)]
    pub cut: Option<RawCut>,
    /// `true`: remove every partition and cut.
    #[serde(default)]
    pub heal: Option<bool>,
    /// Set a node's clock: `{ node = "n2", offset = "200ms" }`.
    #[serde(default)]
    pub clock: Option<RawClock>,
    /// Change the fault probabilities of one link, or of all: `{ from = "n1",
    /// drop = 0.5 }`.
    #[serde(default)]
    pub link: Option<RawLink>,
    /// The operator promotes this node to primary (protocols with a manual
    /// promote).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub promote: Option<S<String>>,
    /// Drop this message (by id) if it is still in flight.
    #[serde(default)]
    pub drop_message: Option<u64>,
    /// Deliver a second copy of this message in flight.
    #[serde(default)]
    pub duplicate_message: Option<u64>,
    /// Deliver this message in flight now, ahead of everything else.
    #[serde(default)]
    pub deliver_next: Option<u64>,
    /// The values the next nondeterministic choices the nodes make take,
    /// in order (how `distlab explore` saves a path that branched on a
    /// choice).
    #[serde(default)]
    #[schemars(with = "Option<Vec<u64>>", length(min = 1, max = crate::sim::MAX_CHOICES))]
    pub choose: Option<S<Vec<u64>>>,
    /// Narrative for the student, shown by `distlab tui` when the run reaches
    /// it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub note: Option<S<String>>,
    /// With a note: the TUI pauses here for the student.
    #[serde(default)]
    pub wait: Option<bool>,
}

#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCut {
    /// The sender side: a node or a client.
    #[schemars(with = "String")]
    pub from: S<String>,
    /// The receiver side: messages `from` → `to` are lost until `heal`.
    #[schemars(with = "String")]
    pub to: S<String>,
}

#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    /// Whose clock.
    #[schemars(with = "String")]
    pub node: S<String>,
    /// The new offset, local minus real time, e.g. "-50ms" (set, not added).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub offset: Option<S<String>>,
    /// The new drift, in parts per million.
    #[serde(default)]
    pub drift_ppm: Option<i64>,
}

#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    /// The link's sender (default: every sender).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub from: Option<S<String>>,
    /// The link's receiver (default: every receiver).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub to: Option<S<String>>,
    /// The link's loss from now on (default: `[network] drop`).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub drop: Option<S<f64>>,
    /// Its duplication (default: `[network] duplicate`).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub duplicate: Option<S<f64>>,
    /// Its reordering (default: `[network] reorder`).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub reorder: Option<S<f64>>,
}

/// `[nemesis]`: random faults for property tests.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNemesis {
    /// The kinds to draw from: `crash`, `pause`, `partition`, `clock`, `loss`,
    /// `duplicate`, `drift`.
    #[schemars(with = "Vec<String>")]
    pub faults: Vec<S<String>>,
    /// Mean time between faults.
    #[schemars(with = "String")]
    pub interval: S<String>,
    /// How long each fault lasts (default half of `interval`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub heal_after: Option<S<String>>,
    /// No fault before this (default "0").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub start: Option<S<String>>,
    /// Every fault is undone by this time (default three quarters of
    /// `duration`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stop: Option<S<String>>,
    /// The largest offset a `clock` fault sets, either way (default "100ms").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub clock_skew: Option<S<String>>,
    /// The drop probability of every link during a `loss` fault (default 0.2).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub loss: Option<S<f64>>,
    /// The duplication probability of every link during a `duplicate`
    /// fault.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub duplicate: Option<S<f64>>,
    /// The largest drift a `drift` fault sets, either way.
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub max_drift_ppm: Option<S<i64>>,
    /// How many faults may be in force at once (default 1: none overlap).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub max_concurrent: Option<S<u32>>,
}

/// A file of its own holding one `[nemesis]` table, for `distlab check
/// --nemesis FILE`.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNemesisFile {
    #[schemars(with = "RawNemesis")]
    pub nemesis: S<RawNemesis>,
}

/// `[[expect]]`: a check holds / breaks, or a metric's bounds.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// The check this entry is about (a check of the protocol).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub check: Option<S<String>>,
    /// Whether the lesson predicts that the check holds (default) or breaks.
    #[serde(default)]
    pub holds: Option<bool>,
    /// `false`: the lesson does not judge this check (it may hold or
    /// break); `distlab check` ignores it too.
    #[serde(default)]
    pub graded: Option<bool>,
    /// The metric this entry is about (of the protocol, or of every run).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub metric: Option<S<String>>,
    /// The metric is at least this.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub at_least: Option<S<f64>>,
    /// The metric is at most this.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub at_most: Option<S<f64>>,
    /// `true`: the prediction rests on the simulator's exact timing (two
    /// events at the same instant, in a set order); `distlab live` does
    /// not judge it and says so.
    #[serde(default)]
    pub sim_only: Option<bool>,
}

/// `[cluster] nodes`: a count (`3` names them `n1 n2 n3`) or a list of
/// names.
fn nodes_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "A count (`3` names them n1, n2, n3) or a list of names.",
        "oneOf": [
            { "type": "integer", "minimum": 1, "maximum": super::limits::NODES },
            {
                "type": "array",
                "items": { "type": "string" },
                "minItems": 1,
                "maxItems": super::limits::NODES
            }
        ]
    })
}

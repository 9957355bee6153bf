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
    #[schemars(with = "String")]
    pub name: S<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub description: Option<S<String>>,
    #[schemars(with = "String")]
    pub protocol: S<String>,
    #[serde(default)]
    pub seed: Option<u64>,
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
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub drop: Option<S<f64>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub duplicate: Option<S<f64>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub reorder: Option<S<f64>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub reorder_delay: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub fifo: Option<S<bool>>,
    #[serde(default)]
    #[schemars(with = "Vec<RawRegionLatency>")]
    pub region_latency: Vec<S<RawRegionLatency>>,
}

#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRegionLatency {
    #[schemars(with = "String")]
    pub from: S<String>,
    #[schemars(with = "String")]
    pub to: S<String>,
    #[schemars(with = "String")]
    pub latency: S<String>,
    /// Also set `to → from` (default true).
    #[serde(default)]
    pub symmetric: Option<bool>,
}

/// `[[clients]]`.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub processes: Option<S<u32>>,
    #[schemars(with = "u64")]
    pub ops: S<u64>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub interval: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub start: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub read_fraction: Option<S<f64>>,
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub keys: Option<S<u32>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub target: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub read_target: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub retries: Option<S<u32>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub read_your_writes: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub region: Option<S<String>>,
}

/// `[[timeline]]`: one action (and/or a note) at a time.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTimeline {
    #[schemars(with = "String")]
    pub at: S<String>,
    #[serde(default)]
    pub step: Option<u64>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub crash: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub restart: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub pause: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub resume: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<Vec<String>>>")]
    pub partition: Option<Vec<Vec<S<String>>>>,
    #[serde(default)]
    pub cut: Option<RawCut>,
    #[serde(default)]
    pub heal: Option<bool>,
    #[serde(default)]
    pub clock: Option<RawClock>,
    #[serde(default)]
    pub link: Option<RawLink>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub promote: Option<S<String>>,
    #[serde(default)]
    pub drop_message: Option<u64>,
    #[serde(default)]
    pub duplicate_message: Option<u64>,
    #[serde(default)]
    pub deliver_next: Option<u64>,
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
    #[schemars(with = "String")]
    pub from: S<String>,
    #[schemars(with = "String")]
    pub to: S<String>,
}

#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    #[schemars(with = "String")]
    pub node: S<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub offset: Option<S<String>>,
    #[serde(default)]
    pub drift_ppm: Option<i64>,
}

#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub from: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub to: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub drop: Option<S<f64>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub duplicate: Option<S<f64>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub reorder: Option<S<f64>>,
}

/// `[nemesis]`: random faults for property tests.
#[derive(Deserialize, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNemesis {
    #[schemars(with = "Vec<String>")]
    pub faults: Vec<S<String>>,
    /// Mean time between faults.
    #[schemars(with = "String")]
    pub interval: S<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub heal_after: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub start: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stop: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub clock_skew: Option<S<String>>,
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
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub check: Option<S<String>>,
    #[serde(default)]
    pub holds: Option<bool>,
    /// `false`: the lesson does not judge this check (it may hold or
    /// break); `distlab check` ignores it too.
    #[serde(default)]
    pub graded: Option<bool>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub metric: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub at_least: Option<S<f64>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub at_most: Option<S<f64>>,
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

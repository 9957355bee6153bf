//! The scenario file as written: serde structs with spans, unknown fields
//! rejected. [`super::load_str`] validates these into a [`super::Scenario`].
//!
//! The `[protocol]` table is read here only as an opaque value; the
//! protocol's own parameter type reads it in a second pass over the same
//! text, so its errors keep their `file:line:column` too.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub scenario: S<RawMeta>,
    #[serde(default)]
    pub cluster: Option<S<RawCluster>>,
    #[serde(default)]
    pub protocol: Option<S<toml::Value>>,
    #[serde(default)]
    pub network: Option<RawNetwork>,
    #[serde(default)]
    pub clients: Vec<S<RawClient>>,
    #[serde(default)]
    pub timeline: Vec<S<RawTimeline>>,
    #[serde(default)]
    pub nemesis: Option<S<RawNemesis>>,
    #[serde(default)]
    pub expect: Vec<S<RawExpect>>,
}

/// `[scenario]`: what the lesson is.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawMeta {
    pub name: S<String>,
    #[serde(default)]
    pub description: Option<S<String>>,
    pub protocol: S<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    pub duration: S<String>,
}

/// `[cluster]`: the nodes.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// A count (`3` → `n1 n2 n3`) or a list of names.
    pub nodes: S<toml::Value>,
    /// Region name → its nodes (and clients).
    #[serde(default)]
    pub regions: BTreeMap<S<String>, Vec<S<String>>>,
    #[serde(default)]
    pub disk_latency: Option<S<String>>,
    /// Per-node settings, `[cluster.node.n2]`.
    #[serde(default)]
    pub node: BTreeMap<S<String>, RawNode>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// Local clock minus real time, e.g. `"-50ms"`.
    #[serde(default)]
    pub clock_offset: Option<S<String>>,
    #[serde(default)]
    pub clock_drift_ppm: Option<i64>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Distribution {
    Constant,
    Uniform,
    Normal,
    Exponential,
    LogNormal,
}

/// `[network]`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    /// Typical one-way latency: the constant, the mean, or the median.
    #[serde(default)]
    pub latency: Option<S<String>>,
    #[serde(default)]
    pub distribution: Option<Distribution>,
    /// Spread: half-width (uniform) or standard deviation (normal).
    #[serde(default)]
    pub spread: Option<S<String>>,
    /// Log-normal shape σ.
    #[serde(default)]
    pub sigma: Option<S<f64>>,
    #[serde(default)]
    pub drop: Option<S<f64>>,
    #[serde(default)]
    pub duplicate: Option<S<f64>>,
    #[serde(default)]
    pub reorder: Option<S<f64>>,
    #[serde(default)]
    pub reorder_delay: Option<S<String>>,
    #[serde(default)]
    pub fifo: Option<S<bool>>,
    #[serde(default)]
    pub region_latency: Vec<S<RawRegionLatency>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawRegionLatency {
    pub from: S<String>,
    pub to: S<String>,
    pub latency: S<String>,
    /// Also set `to → from` (default true).
    #[serde(default)]
    pub symmetric: Option<bool>,
}

/// `[[clients]]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    #[serde(default)]
    pub name: Option<S<String>>,
    #[serde(default)]
    pub processes: Option<S<u32>>,
    pub ops: S<u64>,
    #[serde(default)]
    pub interval: Option<S<String>>,
    #[serde(default)]
    pub start: Option<S<String>>,
    #[serde(default)]
    pub read_fraction: Option<S<f64>>,
    #[serde(default)]
    pub keys: Option<S<u32>>,
    #[serde(default)]
    pub target: Option<S<String>>,
    #[serde(default)]
    pub read_target: Option<S<String>>,
    #[serde(default)]
    pub timeout: Option<S<String>>,
    #[serde(default)]
    pub retries: Option<S<u32>>,
    #[serde(default)]
    pub read_your_writes: Option<S<String>>,
    #[serde(default)]
    pub region: Option<S<String>>,
}

/// `[[timeline]]`: one action (and/or a note) at a time.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawTimeline {
    pub at: S<String>,
    #[serde(default)]
    pub step: Option<u64>,
    #[serde(default)]
    pub crash: Option<S<String>>,
    #[serde(default)]
    pub restart: Option<S<String>>,
    #[serde(default)]
    pub pause: Option<S<String>>,
    #[serde(default)]
    pub resume: Option<S<String>>,
    #[serde(default)]
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
    pub promote: Option<S<String>>,
    #[serde(default)]
    pub drop_message: Option<u64>,
    #[serde(default)]
    pub duplicate_message: Option<u64>,
    #[serde(default)]
    pub deliver_next: Option<u64>,
    #[serde(default)]
    pub note: Option<S<String>>,
    /// With a note: the TUI pauses here for the student.
    #[serde(default)]
    pub wait: Option<bool>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawCut {
    pub from: S<String>,
    pub to: S<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    pub node: S<String>,
    #[serde(default)]
    pub offset: Option<S<String>>,
    #[serde(default)]
    pub drift_ppm: Option<i64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    #[serde(default)]
    pub from: Option<S<String>>,
    #[serde(default)]
    pub to: Option<S<String>>,
    #[serde(default)]
    pub drop: Option<S<f64>>,
    #[serde(default)]
    pub duplicate: Option<S<f64>>,
    #[serde(default)]
    pub reorder: Option<S<f64>>,
}

/// `[nemesis]`: random faults for property tests.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawNemesis {
    pub faults: Vec<S<String>>,
    /// Mean time between faults.
    pub interval: S<String>,
    #[serde(default)]
    pub heal_after: Option<S<String>>,
    #[serde(default)]
    pub start: Option<S<String>>,
    #[serde(default)]
    pub stop: Option<S<String>>,
    #[serde(default)]
    pub clock_skew: Option<S<String>>,
    #[serde(default)]
    pub loss: Option<S<f64>>,
    /// The duplication probability of every link during a `duplicate`
    /// fault.
    #[serde(default)]
    pub duplicate: Option<S<f64>>,
    /// The largest drift a `drift` fault sets, either way.
    #[serde(default)]
    pub max_drift_ppm: Option<S<i64>>,
    /// How many faults may be in force at once (default 1: none overlap).
    #[serde(default)]
    pub max_concurrent: Option<S<u32>>,
}

/// A file of its own holding one `[nemesis]` table, for `distlab check
/// --nemesis FILE`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawNemesisFile {
    pub nemesis: S<RawNemesis>,
}

/// `[[expect]]`: a check holds / breaks, or a metric's bounds.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    #[serde(default)]
    pub check: Option<S<String>>,
    #[serde(default)]
    pub holds: Option<bool>,
    /// `false`: the lesson does not judge this check (it may hold or
    /// break); `distlab check` ignores it too.
    #[serde(default)]
    pub graded: Option<bool>,
    #[serde(default)]
    pub metric: Option<S<String>>,
    #[serde(default)]
    pub at_least: Option<S<f64>>,
    #[serde(default)]
    pub at_most: Option<S<f64>>,
}

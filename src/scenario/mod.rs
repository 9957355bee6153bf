//! Scenario files: the lesson format instructors write.
//!
//! A scenario is TOML with these tables (every field is documented in the
//! book's scenario reference; [`schema`] gives them as a JSON Schema,
//! derived from [`raw`], for `distlab schema` and editors):
//!
//! ```toml
//! [scenario]            # name, description, protocol, seed, duration
//! [cluster]             # nodes (count or names), regions, disk_latency,
//!                       # [cluster.node.NAME] clock_offset, clock_drift_ppm
//! [protocol]            # the protocol's own parameters
//! [network]             # latency, distribution, spread, sigma, drop,
//!                       # duplicate, reorder, reorder_delay, fifo,
//!                       # [[network.region_latency]]
//! [[clients]]           # processes, ops, interval, read_fraction, keys,
//!                       # target, read_target, timeout, retries, ...
//! [[timeline]]          # at = "250ms" and one action, and/or a note
//! [nemesis]             # random faults for property tests
//! [[expect]]            # which checks hold or break; metric bounds
//! ```
//!
//! Loading is two-pass (see the design page): the file is read with spans,
//! then the `[protocol]` table is handed to the named protocol's parameter
//! type over the same text. The loader finds that protocol in the
//! [`Registry`] it is given ([`registry`]), never in a list of its own: the
//! file format names no protocol, and a library user registers theirs. Every error names `file:line:column`, says what
//! was expected, and suggests the near miss. Every quantity has a limit
//! ([`limits`]), so a mistyped file gets an error, not an exhausted machine:
//! the file itself (a regular file of at most 1 MiB, [`read_source`]), and
//! everything in it; no check costs more than the file's size times the
//! (bounded) number of names.
//!
//! [`writer`] writes scenario files back (the shrinker's counterexamples,
//! the TUI's saved runs), editing a lesson's text as TOML.
//!
//! A file may come from anyone, so what it says for people to read — the
//! name, the description, the notes — is kept with its control characters
//! as visible escapes ([`crate::util::escape`]); names of nodes, clients and
//! regions are plain identifiers; and errors quote the file only through
//! [`ScenarioError`], which escapes and clips. Whatever prints a loaded
//! scenario or an error (every command, the TUI) so prints it safely.

pub mod diagnose;
pub mod error;
pub mod expect;
pub mod fuzz;
pub mod library;
pub mod raw;
pub mod registry;
pub mod schema;
pub mod writer;

pub use error::{ScenarioError, did_you_mean};
pub use registry::{ProtocolEntry, Registry, RunOptions};

use crate::nodes::client::{Arrival, ClientSpec, ReadYourWrites, Target};
use crate::nodes::{Cluster, Command, NodeId};
use crate::rng::Probability;
use crate::sim::capacity::{Capacity, WhenFull};
use crate::sim::fault::{Fault, MAX_CONCURRENT_FAULTS, NemesisConfig, NemesisFault, Origin, TimedFault};
use crate::sim::network::{EndpointId, LatencyDist, LinkFaults, NetworkConfig, Real};
use crate::time::{SimDuration, SimTime, parse_duration};
use crate::util::{escape, escape_text};
use expect::Expectation;
use raw::*;
use std::any::Any;
use std::sync::Arc;

/// Upper bounds on what a file may ask for (documented in the book's
/// scenario reference, "Limits"). Each is far above what a lesson needs
/// and low enough that loading and running stay bounded.
pub mod limits {
    /// The size of a scenario file, in bytes (1 MiB).
    pub const FILE_BYTES: u64 = 1 << 20;
    pub const NODES: usize = 64;
    pub const CLIENT_PROCESSES: u32 = 1_024;
    /// Operations of one `[[clients]]` entry, and of all of them together.
    pub const OPS: u64 = 10_000_000;
    pub const KEYS: u32 = 1_000_000;
    /// One simulated day.
    pub const DURATION_US: u64 = 86_400_000_000;
    pub const TIMELINE_ENTRIES: usize = 10_000;
    /// `[[expect]]` entries (each is a line of `distlab run`'s report).
    pub const EXPECT_ENTRIES: usize = 1_000;
    pub const RETRIES: u32 = 100;
    /// Regions of `[cluster] regions` (the latency matrix is regions²).
    pub const REGIONS: usize = 64;
    /// A node, client or region name, in characters.
    pub const NAME_CHARS: usize = 64;
    /// `[scenario] name`, in characters.
    pub const TITLE_CHARS: usize = 200;
    /// `[scenario] description` and a timeline `note`, in characters.
    pub const TEXT_CHARS: usize = 20_000;
    /// An open-loop client's `rate`, operations per second (one a µs).
    pub const RATE: f64 = 1_000_000.0;
    /// `[capacity] queue`: messages waiting behind the one in service.
    pub const QUEUE: u64 = 100_000;
    /// `[capacity] message` and `request`: one service time (a minute).
    pub const SERVICE_US: u64 = 60_000_000;
    /// `[capacity] disk_bandwidth`: bytes per second (a terabyte).
    pub const DISK_BANDWIDTH: u64 = 1_000_000_000_000;
}

/// What a node, client or region name may be, as error messages say it.
fn name_rule() -> String {
    format!("1 to {} letters, digits, `-` and `_`", limits::NAME_CHARS)
}

/// A node, client or region name: 1 to [`limits::NAME_CHARS`] ASCII
/// letters, digits, `-` and `_` (so it prints safely, and `NAME.0` names
/// a client's process unambiguously).
fn is_name(s: &str) -> bool {
    (1..=limits::NAME_CHARS).contains(&s.len())
        && s.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

/// The largest clock drift a file may ask for, in parts per million.
const MAX_DRIFT_PPM: i64 = 100_000;

/// A validated scenario, ready to run.
#[derive(Clone)]
pub struct Scenario {
    /// The file it came from (for messages).
    pub file: String,
    pub name: String,
    pub description: String,
    pub protocol: Arc<dyn ProtocolEntry>,
    pub seed: u64,
    pub duration: SimTime,
    pub cluster: Arc<Cluster>,
    pub disk_latency: SimDuration,
    /// `(offset_us, drift_ppm)` per node.
    pub clocks: Vec<(i64, i64)>,
    pub network: Arc<NetworkConfig>,
    /// Each node's capacity (`None`: infinite).
    pub capacity: Option<Capacity>,
    pub clients: Vec<ClientSpec>,
    /// Timeline entries (faults and notes), in file order.
    pub timeline: Vec<TimedFault>,
    pub nemesis: Option<NemesisConfig>,
    pub expectations: Vec<Expectation>,
    /// Indices into `expectations` of those marked `sim_only = true`:
    /// they rest on the simulator's exact timing, and `distlab live` does
    /// not judge them.
    pub sim_only: Vec<usize>,
    /// The protocol's parsed parameters (its `Params` type).
    pub params: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("file", &self.file)
            .field("name", &self.name)
            .field("protocol", &self.protocol.name())
            .finish()
    }
}

impl Scenario {
    /// Every fault of a run with `seed`: the timeline plus the nemesis's
    /// schedule drawn from that seed.
    pub fn faults_for_seed(&self, seed: u64) -> Vec<TimedFault> {
        let mut all = self.timeline.clone();
        if let Some(n) = &self.nemesis {
            all.extend(n.schedule(seed, self.cluster.len() as u32, &self.clocks));
        }
        all
    }
}

/// Reads and validates a scenario file; `registry` holds the protocols it
/// may name.
pub fn load(registry: &Registry, path: &std::path::Path) -> Result<Scenario, ScenarioError> {
    let source = read_source(path)?;
    load_str(registry, &path.display().to_string(), &source)
}

/// Reads a scenario file's text: a regular file (not a FIFO, which would
/// block, nor a device such as `/dev/zero`, which never ends) of at most
/// [`limits::FILE_BYTES`], in UTF-8.
pub fn read_source(path: &std::path::Path) -> Result<String, ScenarioError> {
    use std::io::Read as _;
    let file = path.display().to_string();
    let cannot = |e: std::io::Error| ScenarioError::whole(&file, format!("cannot read the file: {e}"));
    // Look before opening: opening a FIFO for reading waits for a writer.
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        let what =
            if meta.is_dir() { "a folder" } else { "not a regular file (a device, a pipe or a socket)" };
        return Err(ScenarioError::whole(&file, format!("cannot read the file: it is {what}"))
            .with_help("a scenario is a .toml file"));
    }
    let too_big = || {
        ScenarioError::whole(
            &file,
            format!("the file is larger than {} MiB, the limit for a scenario", limits::FILE_BYTES >> 20),
        )
    };
    if meta.len() > limits::FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    // The file may have grown since: read one byte past the limit at most.
    std::fs::File::open(path)
        .and_then(|f| f.take(limits::FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > limits::FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes());
        // The lossy text has the same bytes up to the first bad one.
        ScenarioError::at(&file, &text, valid..valid + 1, "the file is not UTF-8 text")
    })
}

/// Validates scenario text; `file` is used in messages, `registry` holds
/// the protocols it may name.
pub fn load_str(registry: &Registry, file: &str, source: &str) -> Result<Scenario, ScenarioError> {
    if source.len() as u64 > limits::FILE_BYTES {
        return Err(ScenarioError::whole(
            file,
            format!("the text is larger than {} MiB, the limit for a scenario", limits::FILE_BYTES >> 20),
        ));
    }
    let raw: RawFile = toml::from_str(source).map_err(|e| error::from_toml(file, source, &e))?;
    Loader { file, source }.scenario(registry, raw)
}

/// Reads a file holding one `[nemesis]` table (the fields of a scenario's
/// `[nemesis]`), for a scenario of `duration` (the default `stop` is
/// three quarters of it); `file` is used in messages.
pub fn load_nemesis_str(file: &str, source: &str, duration: SimTime) -> Result<NemesisConfig, ScenarioError> {
    let raw: RawNemesisFile = toml::from_str(source).map_err(|e| error::from_toml(file, source, &e))?;
    Loader { file, source }.nemesis_table(raw.nemesis.get_ref(), SimDuration(duration.0))
}

/// What a protocol's parameter parser gets: the text (for the second pass)
/// and the cluster (to check node names).
pub struct ParamContext<'a> {
    pub file: &'a str,
    pub source: &'a str,
    /// Where `[cluster] nodes` is, for errors about the cluster's size.
    pub nodes_span: std::ops::Range<usize>,
    pub cluster: &'a Cluster,
}

impl ParamContext<'_> {
    /// An error at a span of the scenario text.
    pub fn error(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.file, self.source, span, message)
    }
    /// Resolves a node name, with a did-you-mean.
    pub fn node(&self, name: &S<String>) -> Result<NodeId, ScenarioError> {
        node_by_name(self.file, self.source, self.cluster, name)
    }
    /// Parses a duration value.
    pub fn duration(&self, d: &S<String>) -> Result<SimDuration, ScenarioError> {
        parse_duration(d.get_ref()).map_err(|m| self.error(d.span(), m))
    }
    /// Reads an optional number that must lie in `range`; `default` when
    /// left out.
    pub fn within<T>(
        &self,
        given: &Option<S<T>>,
        name: &str,
        range: std::ops::RangeInclusive<T>,
        default: T,
    ) -> Result<T, ScenarioError>
    where
        T: Copy + PartialOrd + std::fmt::Display,
    {
        match given {
            None => Ok(default),
            Some(v) if range.contains(v.get_ref()) => Ok(*v.get_ref()),
            Some(v) => Err(self.error(
                v.span(),
                format!("{name} must be between {} and {}, not {}", range.start(), range.end(), v.get_ref()),
            )),
        }
    }
    /// Parses an optional duration, `default` when left out.
    pub fn duration_or(
        &self,
        d: &Option<S<String>>,
        default: SimDuration,
    ) -> Result<SimDuration, ScenarioError> {
        d.as_ref().map_or(Ok(default), |d| self.duration(d))
    }
    /// Reads an optional probability (never, when left out), as the
    /// scenario's own `[network]` fields are read.
    pub fn probability(&self, p: &Option<S<f64>>, what: &str) -> Result<Probability, ScenarioError> {
        probability(self.file, self.source, p, what)
    }
}

fn probability(
    file: &str,
    source: &str,
    p: &Option<S<f64>>,
    what: &str,
) -> Result<Probability, ScenarioError> {
    match p {
        None => Ok(Probability::NEVER),
        Some(p) if (0.0..=1.0).contains(p.get_ref()) => Ok(Probability::new(*p.get_ref())),
        Some(p) => Err(ScenarioError::at(
            file,
            source,
            p.span(),
            format!("{what} must be a probability between 0 and 1, not {}", p.get_ref()),
        )),
    }
}

fn node_by_name(
    file: &str,
    source: &str,
    cluster: &Cluster,
    name: &S<String>,
) -> Result<NodeId, ScenarioError> {
    match cluster.names.iter().position(|n| n == name.get_ref()) {
        Some(i) => Ok(NodeId(i as u32)),
        None => {
            let e = ScenarioError::at(
                file,
                source,
                name.span(),
                format!("there is no node `{}`", name.get_ref()),
            );
            Err(e.suggest(
                name.get_ref(),
                cluster.names.iter().map(String::as_str),
                Some(format!("the nodes are: {}", cluster.names.join(", "))),
            ))
        }
    }
}

struct Loader<'a> {
    file: &'a str,
    source: &'a str,
}

impl Loader<'_> {
    fn err(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.file, self.source, span, message)
    }

    fn duration(&self, d: &S<String>) -> Result<SimDuration, ScenarioError> {
        parse_duration(d.get_ref()).map_err(|m| self.err(d.span(), m))
    }

    fn opt_duration(
        &self,
        d: &Option<S<String>>,
        default: SimDuration,
    ) -> Result<SimDuration, ScenarioError> {
        d.as_ref().map_or(Ok(default), |d| self.duration(d))
    }

    /// A signed duration such as `"-50ms"`, in µs.
    fn signed_us(&self, d: &S<String>) -> Result<i64, ScenarioError> {
        let text = d.get_ref().trim();
        let (neg, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let us = parse_duration(rest).map_err(|m| self.err(d.span(), m))?.as_micros() as i64;
        Ok(if neg { -us } else { us })
    }

    fn probability(&self, p: &Option<S<f64>>, what: &str) -> Result<Probability, ScenarioError> {
        probability(self.file, self.source, p, what)
    }

    fn scenario(&self, registry: &Registry, raw: RawFile) -> Result<Scenario, ScenarioError> {
        let meta = raw.scenario.get_ref();
        let proto_name = meta.protocol.get_ref();
        let protocol = registry.find(proto_name).cloned().ok_or_else(|| {
            let e = self.err(meta.protocol.span(), format!("unknown protocol `{proto_name}`"));
            e.suggest(
                proto_name,
                registry.names(),
                Some(format!("the protocols are: {}", registry.names().collect::<Vec<_>>().join(", "))),
            )
        })?;
        let duration = self.duration(&meta.duration)?;
        if duration.0 == 0 || duration.0 > limits::DURATION_US {
            return Err(self.err(
                meta.duration.span(),
                "duration must be more than zero and at most one simulated day (\"24h\")",
            ));
        }
        if meta.name.get_ref().trim().is_empty() {
            return Err(self.err(meta.name.span(), "name must not be empty"));
        }
        if meta.name.get_ref().chars().count() > limits::TITLE_CHARS {
            return Err(self
                .err(meta.name.span(), format!("name must be at most {} characters", limits::TITLE_CHARS)));
        }
        if let Some(d) = &meta.description
            && d.get_ref().chars().count() > limits::TEXT_CHARS
        {
            return Err(
                self.err(d.span(), format!("description must be at most {} characters", limits::TEXT_CHARS))
            );
        }

        let (cluster, clocks, disk_latency) = self.cluster(&raw)?;
        let clients = self.clients(&raw, &cluster)?;
        let network = self.network(&raw, &cluster, &clients)?;
        let capacity =
            raw.capacity.as_ref().map(|c| self.capacity(c, protocol.message_kinds())).transpose()?;
        let nodes_span = raw.cluster.as_ref().map_or(0..0, |c| c.get_ref().nodes.span());
        let cx = ParamContext { file: self.file, source: self.source, nodes_span, cluster: &cluster };
        let params = protocol.parse_params(&cx)?;
        self.check_region_members(&raw, &cluster, &clients)?;
        let timeline = self.timeline(&raw, &cluster, &clients, &*protocol, SimTime(duration.0), &network)?;
        let nemesis = self.nemesis(&raw, duration)?;
        let expectations = self.expectations(&raw, &*protocol, registry.every_run_metrics())?;
        Ok(Scenario {
            file: self.file.to_string(),
            // Text for people, shown on terminals: control characters
            // become visible escapes here, once, for every command and the
            // TUI (see `crate::util`).
            name: escape(meta.name.get_ref()).into_owned(),
            description: meta
                .description
                .as_ref()
                .map_or(String::new(), |d| escape_text(d.get_ref().trim()).into_owned()),
            protocol,
            seed: meta.seed.unwrap_or(1),
            duration: SimTime(duration.0),
            cluster: Arc::new(cluster),
            disk_latency,
            clocks,
            network: Arc::new(network),
            capacity,
            clients,
            timeline,
            nemesis,
            sim_only: raw
                .expect
                .iter()
                .enumerate()
                .filter(|(_, e)| e.get_ref().sim_only == Some(true))
                .map(|(i, _)| i)
                .collect(),
            expectations,
            params,
        })
    }

    #[allow(clippy::type_complexity)]
    fn cluster(&self, raw: &RawFile) -> Result<(Cluster, Vec<(i64, i64)>, SimDuration), ScenarioError> {
        let Some(c) = &raw.cluster else {
            return Err(ScenarioError::at(
                self.file,
                self.source,
                raw.scenario.span(),
                "the scenario has no [cluster] table",
            )
            .with_help("add `[cluster]` with `nodes = 3` (or a list of names)"));
        };
        let c = c.get_ref();
        let names: Vec<String> = match c.nodes.get_ref() {
            toml::Value::Integer(n) if (1..=limits::NODES as i64).contains(n) => {
                (1..=*n).map(|i| format!("n{i}")).collect()
            }
            toml::Value::Integer(_) => {
                return Err(
                    self.err(c.nodes.span(), format!("nodes must be between 1 and {}", limits::NODES))
                );
            }
            toml::Value::Array(items) => {
                if items.is_empty() || items.len() > limits::NODES {
                    return Err(self.err(
                        c.nodes.span(),
                        format!("there must be between 1 and {} nodes", limits::NODES),
                    ));
                }
                let mut names = Vec::new();
                for v in items {
                    match v.as_str() {
                        Some(s) if is_name(s) => {
                            if names.iter().any(|n: &String| n == s) {
                                return Err(self.err(c.nodes.span(), format!("node `{s}` is listed twice")));
                            }
                            names.push(s.to_string())
                        }
                        _ => {
                            return Err(
                                self.err(c.nodes.span(), format!("node names must be {}", name_rule()))
                            );
                        }
                    }
                }
                names
            }
            _ => {
                return Err(self.err(
                    c.nodes.span(),
                    "nodes must be a count (`nodes = 3`) or a list of names (`nodes = [\"a\", \"b\"]`)",
                ));
            }
        };
        let mut cluster = Cluster { region_of: vec![0; names.len()], regions: vec!["default".into()], names };
        if !c.regions.is_empty() {
            if c.regions.len() > limits::REGIONS {
                // Point at the first region past the limit in file order
                // (the map is in alphabetical order).
                let mut spans: Vec<_> = c.regions.keys().map(|r| r.span()).collect();
                spans.sort_by_key(|s| s.start);
                let extra = spans.swap_remove(limits::REGIONS);
                return Err(self.err(extra, format!("at most {} regions", limits::REGIONS)));
            }
            // Each name (a node or a client) is listed at most once, and
            // there cannot be more of them than nodes and client entries.
            let most = limits::NODES + limits::CLIENT_PROCESSES as usize;
            let mut listed = std::collections::BTreeSet::new();
            for (region, members) in &c.regions {
                if !is_name(region.get_ref()) {
                    return Err(self.err(region.span(), format!("region names must be {}", name_rule())));
                }
                for m in members {
                    if !listed.insert(m.get_ref().as_str()) {
                        return Err(self
                            .err(m.span(), format!("`{}` is listed in two regions", m.get_ref()))
                            .with_help("a node or a client sits in one region"));
                    }
                    if listed.len() > most {
                        return Err(self.err(
                            m.span(),
                            format!(
                                "the regions list more than {most} names ({} nodes and {} clients at most)",
                                limits::NODES,
                                limits::CLIENT_PROCESSES
                            ),
                        ));
                    }
                }
            }
            cluster.regions = c.regions.keys().map(|r| r.get_ref().clone()).collect();
            let mut assigned = vec![false; cluster.names.len()];
            for (ri, members) in c.regions.values().enumerate() {
                for m in members {
                    // Clients may be listed in regions too; they are checked
                    // with the clients.
                    if let Some(i) = cluster.names.iter().position(|n| n == m.get_ref()) {
                        assigned[i] = true;
                        cluster.region_of[i] = ri as u16;
                    }
                }
            }
            if let Some(i) = assigned.iter().position(|a| !a) {
                return Err(ScenarioError::at(
                    self.file,
                    self.source,
                    c.nodes.span(),
                    format!("node `{}` is in no region", cluster.names[i]),
                )
                .with_help("with regions, every node must be listed in one"));
            }
        }
        let mut clocks = vec![(0i64, 0i64); cluster.names.len()];
        for (name, node) in &c.node {
            let id = node_by_name(self.file, self.source, &cluster, name)?;
            let offset = node.clock_offset.as_ref().map(|o| self.signed_us(o)).transpose()?.unwrap_or(0);
            let drift = node.clock_drift_ppm.unwrap_or(0);
            if drift.checked_abs().is_none_or(|d| d > MAX_DRIFT_PPM) {
                return Err(
                    self.err(name.span(), format!("clock_drift_ppm must be within ±{MAX_DRIFT_PPM} (10%)"))
                );
            }
            clocks[id.index()] = (offset, drift);
        }
        let disk = self.opt_duration(&c.disk_latency, SimDuration::ZERO)?;
        Ok((cluster, clocks, disk))
    }

    fn target(&self, t: &S<String>, cluster: &Cluster) -> Result<Target, ScenarioError> {
        match t.get_ref().as_str() {
            "primary" | "leader" => Ok(Target::Leader),
            "random" => Ok(Target::Random),
            "any-replica" => Ok(Target::AnyReplica),
            other => match cluster.names.iter().position(|n| n == other) {
                Some(i) => Ok(Target::Node(NodeId(i as u32))),
                None => {
                    let options: Vec<&str> = ["primary", "leader", "random", "any-replica"]
                        .into_iter()
                        .chain(cluster.names.iter().map(String::as_str))
                        .collect();
                    let e = self.err(t.span(), format!("unknown target `{other}`: expected primary (or leader), random, any-replica or a node name"));
                    Err(e.suggest(
                        other,
                        options,
                        Some(format!("the nodes are: {}", cluster.names.join(", "))),
                    ))
                }
            },
        }
    }

    fn clients(&self, raw: &RawFile, cluster: &Cluster) -> Result<Vec<ClientSpec>, ScenarioError> {
        // Each entry has a process at least: more entries than processes
        // is an error before any work per entry.
        if raw.clients.len() > limits::CLIENT_PROCESSES as usize {
            return Err(self.err(
                raw.clients[limits::CLIENT_PROCESSES as usize].span(),
                format!(
                    "at most {} [[clients]] entries (and {} processes in all)",
                    limits::CLIENT_PROCESSES,
                    limits::CLIENT_PROCESSES
                ),
            ));
        }
        let mut out: Vec<ClientSpec> = Vec::new();
        let mut total = 0u32;
        let mut total_ops = 0u64;
        for (i, c) in raw.clients.iter().enumerate() {
            let c = c.get_ref();
            if let Some(n) = &c.name
                && !is_name(n.get_ref())
            {
                return Err(self.err(n.span(), format!("client names must be {}", name_rule())));
            }
            let name = c.name.as_ref().map_or(format!("c{}", i + 1), |n| n.get_ref().clone());
            // Default names (`c2`) count too: every endpoint name is unique.
            let later_default = |n: &str| {
                let j =
                    n.strip_prefix('c').and_then(|k| k.parse::<usize>().ok()).and_then(|k| k.checked_sub(1));
                j.is_some_and(|j| {
                    j > i
                        && format!("c{}", j + 1) == n
                        && raw.clients.get(j).is_some_and(|o| o.get_ref().name.is_none())
                })
            };
            if cluster.names.contains(&name)
                || out.iter().any(|o| o.name == name)
                || (c.name.is_some() && later_default(&name))
            {
                let span = c.name.as_ref().map_or(raw.clients[i].span(), |n| n.span());
                return Err(self.err(span, format!("the name `{name}` is already taken"))
                    .with_help("nodes and clients share one namespace; an unnamed client is called c1, c2, ... by its position"));
            }
            let processes = c.processes.as_ref().map_or(1, |p| *p.get_ref());
            total = total.saturating_add(processes);
            if processes == 0 || total > limits::CLIENT_PROCESSES {
                let span = c.processes.as_ref().map_or(c.ops.span(), |p| p.span());
                return Err(self.err(
                    span,
                    format!("processes must be at least 1, and at most {} in all", limits::CLIENT_PROCESSES),
                ));
            }
            let before = total_ops;
            total_ops = before.saturating_add(*c.ops.get_ref());
            if total_ops > limits::OPS {
                return Err(self
                    .err(
                        c.ops.span(),
                        format!("ops must be at most {} in all [[clients]] entries", limits::OPS),
                    )
                    .with_help(if i == 0 {
                        "a run is bounded by its operations".to_string()
                    } else {
                        format!("the entries before this one ask for {before} already")
                    }));
            }
            let keys = c.keys.as_ref().map_or(1, |k| *k.get_ref());
            if keys == 0 || keys > limits::KEYS {
                let k = c.keys.as_ref().expect("keys given when out of range");
                return Err(self.err(k.span(), format!("keys must be between 1 and {}", limits::KEYS)));
            }
            let retries = c.retries.as_ref().map_or(2, |r| *r.get_ref());
            if retries > limits::RETRIES {
                let r = c.retries.as_ref().expect("given");
                return Err(self.err(r.span(), format!("retries must be at most {}", limits::RETRIES)));
            }
            let ryw = match c.read_your_writes.as_ref() {
                None => ReadYourWrites::Off,
                Some(r) => match r.get_ref().as_str() {
                    "off" => ReadYourWrites::Off,
                    "primary" | "leader" => ReadYourWrites::Leader,
                    "session" => ReadYourWrites::Session,
                    other => {
                        let e = self.err(
                            r.span(),
                            format!("unknown read_your_writes `{other}`: expected off, primary (or leader) or session"),
                        );
                        return Err(e.suggest(other, ["off", "primary", "leader", "session"], None));
                    }
                },
            };
            // A client's region: its own `region`, or the [cluster] region
            // list that names it.
            let listed = raw.cluster.as_ref().and_then(|cl| {
                cl.get_ref().regions.values().position(|members| members.iter().any(|m| m.get_ref() == &name))
            });
            let region = match (&c.region, listed) {
                (None, listed) => listed.unwrap_or(0) as u16,
                (Some(r), listed) => {
                    let given = cluster.regions.iter().position(|x| x == r.get_ref()).ok_or_else(|| {
                        self.err(r.span(), format!("there is no region `{}`", r.get_ref()))
                            .with_help(format!("the regions are: {}", cluster.regions.join(", ")))
                    })?;
                    if listed.is_some_and(|l| l != given) {
                        return Err(self.err(
                            r.span(),
                            format!(
                                "client `{name}` is also listed in region `{}`",
                                cluster.regions[listed.unwrap_or(0)]
                            ),
                        ));
                    }
                    given as u16
                }
            };
            let timeout = self.opt_duration(&c.timeout, SimDuration::from_millis(500))?;
            if timeout.0 == 0 {
                return Err(
                    self.err(c.timeout.as_ref().expect("given").span(), "timeout must be more than zero")
                );
            }
            out.push(ClientSpec {
                name,
                processes,
                ops: *c.ops.get_ref(),
                interval: self.opt_duration(&c.interval, SimDuration::from_millis(10))?,
                start: SimTime(self.opt_duration(&c.start, SimDuration::ZERO)?.0),
                read_fraction: match &c.read_fraction {
                    None => Probability::new(0.5),
                    some => self.probability(some, "read_fraction")?,
                },
                keys,
                target: c
                    .target
                    .as_ref()
                    .map(|t| self.target(t, cluster))
                    .transpose()?
                    .unwrap_or(Target::Leader),
                read_target: c.read_target.as_ref().map(|t| self.target(t, cluster)).transpose()?,
                timeout,
                retries,
                read_your_writes: ryw,
                region,
                arrival: self.arrival(c)?,
            });
        }
        Ok(out)
    }

    /// `[capacity]`: service times, the queue bound, what a full queue does.
    fn capacity(
        &self,
        c: &S<RawCapacity>,
        kinds: &'static [&'static str],
    ) -> Result<Capacity, ScenarioError> {
        let c = c.get_ref();
        let share = |v: &Option<S<f64>>, what: &str, default: f64, max: f64| match v {
            None => Ok(default),
            Some(x) if (0.0..=max).contains(x.get_ref()) => Ok(*x.get_ref()),
            Some(x) => {
                Err(self.err(x.span(), format!("{what} must be between 0 and {max}, not {}", x.get_ref())))
            }
        };
        let spread = share(&c.spread, "spread", 0.25, 1.0)?;
        let sigma = share(&c.sigma, "sigma", 0.5, 5.0)?;
        let kind = c.distribution.unwrap_or(Distribution::Constant);
        let service = |d: &Option<S<String>>| -> Result<Option<LatencyDist>, ScenarioError> {
            let Some(d) = d else { return Ok(None) };
            let us = self.duration(d)?.0;
            if us > limits::SERVICE_US {
                return Err(self.err(d.span(), "a service time must be at most \"1m\""));
            }
            if us == 0 {
                return Ok(None);
            }
            let spread = (us as f64 * spread).round() as u64;
            Ok(Some(match kind {
                Distribution::Constant => LatencyDist::Constant { us },
                Distribution::Uniform => {
                    LatencyDist::Uniform { min_us: us.saturating_sub(spread), max_us: us + spread }
                }
                Distribution::Normal => LatencyDist::Normal { mean_us: us, stddev_us: spread },
                Distribution::Exponential => LatencyDist::Exponential { mean_us: us },
                Distribution::LogNormal => LatencyDist::LogNormal { median_us: us, sigma: Real(sigma) },
            }))
        };
        let queue = c.queue.as_ref().map_or(1000, |q| *q.get_ref());
        if queue > limits::QUEUE {
            let q = c.queue.as_ref().expect("given");
            return Err(self.err(q.span(), format!("queue must be at most {}", limits::QUEUE)));
        }
        let when_full = match c.when_full.as_ref() {
            None => WhenFull::Reject,
            Some(w) => match w.get_ref().as_str() {
                "reject" => WhenFull::Reject,
                "drop" => WhenFull::Drop,
                other => {
                    let e =
                        self.err(w.span(), format!("unknown when_full `{other}`: expected reject or drop"));
                    return Err(e.suggest(other, ["reject", "drop"], None));
                }
            },
        };
        let mut by_kind = Vec::new();
        for (name, time) in c.kind.iter().flatten() {
            let Some(&known) = kinds.iter().find(|k| **k == name.get_ref().as_str()) else {
                let listed = if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") };
                let e = self.err(name.span(), format!("unknown message kind `{}`", name.get_ref()));
                return Err(e.suggest(
                    name.get_ref(),
                    kinds.iter().copied(),
                    Some(format!("its kinds: {listed}")),
                ));
            };
            by_kind.push((known, service(&Some(time.clone()))?));
        }
        let disk_bandwidth = match &c.disk_bandwidth {
            None => None,
            Some(b) if (1..=limits::DISK_BANDWIDTH).contains(b.get_ref()) => Some(*b.get_ref()),
            Some(b) => {
                return Err(self.err(
                    b.span(),
                    format!(
                        "disk_bandwidth must be between 1 and {} bytes per second, not {}",
                        limits::DISK_BANDWIDTH,
                        b.get_ref()
                    ),
                ));
            }
        };
        Ok(Capacity {
            message: service(&c.message)?,
            request: service(&c.request)?,
            queue: queue as u32,
            when_full,
            by_kind,
            disk_bandwidth,
        })
    }

    /// An open-loop client's arrivals: `rate` per second, spaced by
    /// `arrival` (`None`: closed loop).
    fn arrival(&self, c: &RawClient) -> Result<Option<Arrival>, ScenarioError> {
        let Some(rate) = &c.rate else {
            if let Some(a) = &c.arrival {
                return Err(self.err(a.span(), "arrival needs a rate (operations per second)").with_help(
                    "a client without rate is closed loop: each process waits `interval` after each answer",
                ));
            }
            return Ok(None);
        };
        let r = *rate.get_ref();
        if !(r > 0.0 && r <= limits::RATE) {
            return Err(self.err(
                rate.span(),
                format!(
                    "rate must be more than 0 and at most {} operations per second, not {r}",
                    limits::RATE
                ),
            ));
        }
        if let Some(i) = &c.interval {
            return Err(self
                .err(i.span(), "interval is the think time of a closed-loop client; this one has a rate")
                .with_help("remove interval (open loop: `rate` arrivals per second) or rate (closed loop)"));
        }
        let mean_us = (1e6 / r).round().max(1.0) as u64;
        match c.arrival.as_ref().map(|a| a.get_ref().as_str()) {
            None | Some("poisson") => Ok(Some(Arrival { mean_gap_us: mean_us, poisson: true })),
            Some("constant") => Ok(Some(Arrival { mean_gap_us: mean_us, poisson: false })),
            Some(other) => {
                let a = c.arrival.as_ref().expect("given");
                let e =
                    self.err(a.span(), format!("unknown arrival `{other}`: expected poisson or constant"));
                Err(e.suggest(other, ["poisson", "constant"], None))
            }
        }
    }

    fn network(
        &self,
        raw: &RawFile,
        cluster: &Cluster,
        clients: &[ClientSpec],
    ) -> Result<NetworkConfig, ScenarioError> {
        let default = RawNetwork::default();
        let n = raw.network.as_ref().unwrap_or(&default);
        let latency = self.opt_duration(&n.latency, SimDuration::from_millis(1))?.0;
        let spread = self.opt_duration(&n.spread, SimDuration(latency / 4))?.0;
        // Checked whatever the distribution (only log-normal reads it), so
        // a NaN never sits in a file unnoticed.
        let sigma = n.sigma.as_ref().map_or(0.5, |s| *s.get_ref());
        if !(0.0..=5.0).contains(&sigma) {
            let s = n.sigma.as_ref().expect("given");
            return Err(self.err(s.span(), format!("sigma must be between 0 and 5, not {sigma}")));
        }
        let dist = |latency: u64| -> Result<LatencyDist, ScenarioError> {
            Ok(match n.distribution.unwrap_or(Distribution::Constant) {
                Distribution::Constant => LatencyDist::Constant { us: latency },
                Distribution::Uniform => {
                    LatencyDist::Uniform { min_us: latency.saturating_sub(spread), max_us: latency + spread }
                }
                Distribution::Normal => LatencyDist::Normal { mean_us: latency, stddev_us: spread },
                Distribution::Exponential => LatencyDist::Exponential { mean_us: latency },
                Distribution::LogNormal => LatencyDist::LogNormal { median_us: latency, sigma: Real(sigma) },
            })
        };
        let base = dist(latency)?;
        let faults = LinkFaults {
            drop: self.probability(&n.drop, "drop")?,
            duplicate: self.probability(&n.duplicate, "duplicate")?,
            reorder: self.probability(&n.reorder, "reorder")?,
        };
        let fifo = n.fifo.as_ref().is_some_and(|f| *f.get_ref());
        if fifo && !faults.reorder.is_never() {
            let r = n.reorder.as_ref().expect("reorder set");
            return Err(self
                .err(r.span(), "reorder contradicts fifo = true: FIFO links never reorder")
                .with_help("remove one of the two"));
        }
        let regions = cluster.regions.len();
        let mut region_latency = vec![None; regions * regions];
        for rl in &n.region_latency {
            let rl = rl.get_ref();
            let find = |r: &S<String>| {
                cluster.regions.iter().position(|x| x == r.get_ref()).ok_or_else(|| {
                    let e = self.err(r.span(), format!("there is no region `{}`", r.get_ref()));
                    e.suggest(
                        r.get_ref(),
                        cluster.regions.iter().map(String::as_str),
                        Some("declare regions in [cluster] regions = { name = [nodes...] }".into()),
                    )
                })
            };
            let (a, b) = (find(&rl.from)?, find(&rl.to)?);
            let d = dist(self.duration(&rl.latency)?.0)?;
            region_latency[a * regions + b] = Some(d.clone());
            if rl.symmetric.unwrap_or(true) {
                region_latency[b * regions + a] = Some(d);
            }
        }
        let mut region_of: Vec<u16> = cluster.region_of.clone();
        for c in clients {
            region_of.extend(std::iter::repeat_n(c.region, c.processes as usize));
        }
        Ok(NetworkConfig {
            latency: base.clone(),
            faults,
            reorder_delay: self
                .opt_duration(&n.reorder_delay, SimDuration((base.mean_us() * 4.0) as u64 + 1))?,
            fifo,
            region_of,
            region_names: cluster.regions.clone(),
            region_latency,
        })
    }

    /// Resolves a node or client name to its endpoints.
    fn endpoints(
        &self,
        name: &S<String>,
        cluster: &Cluster,
        clients: &[ClientSpec],
    ) -> Result<Vec<EndpointId>, ScenarioError> {
        if let Some(i) = cluster.names.iter().position(|n| n == name.get_ref()) {
            return Ok(vec![EndpointId(i as u32)]);
        }
        let mut next = cluster.len() as u32;
        for c in clients {
            if &c.name == name.get_ref() {
                return Ok((next..next + c.processes).map(EndpointId).collect());
            }
            next += c.processes;
        }
        let all: Vec<&str> =
            cluster.names.iter().chain(clients.iter().map(|c| &c.name)).map(String::as_str).collect();
        let e = self.err(name.span(), format!("there is no node or client `{}`", name.get_ref()));
        Err(e.suggest(
            name.get_ref(),
            all.iter().copied(),
            Some(format!("the nodes and clients are: {}", all.join(", "))),
        ))
    }

    /// Every name in `[cluster] regions` is a node or a client.
    fn check_region_members(
        &self,
        raw: &RawFile,
        cluster: &Cluster,
        clients: &[ClientSpec],
    ) -> Result<(), ScenarioError> {
        let Some(c) = &raw.cluster else { return Ok(()) };
        for m in c.get_ref().regions.values().flatten() {
            self.endpoints(m, cluster, clients)?;
        }
        Ok(())
    }

    fn timeline(
        &self,
        raw: &RawFile,
        cluster: &Cluster,
        clients: &[ClientSpec],
        protocol: &dyn ProtocolEntry,
        end: SimTime,
        network: &NetworkConfig,
    ) -> Result<Vec<TimedFault>, ScenarioError> {
        if raw.timeline.len() > limits::TIMELINE_ENTRIES {
            return Err(self.err(
                raw.timeline[limits::TIMELINE_ENTRIES].span(),
                format!("at most {} timeline entries", limits::TIMELINE_ENTRIES),
            ));
        }
        let node = |n: &S<String>| node_by_name(self.file, self.source, cluster, n);
        let mut out = Vec::new();
        for entry in &raw.timeline {
            let t = entry.get_ref();
            let at = SimTime(self.duration(&t.at)?.0);
            if t.step == Some(0) {
                return Err(self.err(entry.span(), "step counts from 1 (the first event)"));
            }
            if at > end {
                return Err(self
                    .err(
                        t.at.span(),
                        format!(
                            "`at` is after the end of the scenario (duration {})",
                            crate::sim::SimDuration(end.0)
                        ),
                    )
                    .with_help("a timeline entry after the end never happens"));
            }
            let mut actions: Vec<Fault> = Vec::new();
            if let Some(n) = &t.crash {
                actions.push(Fault::Crash(node(n)?));
            }
            if let Some(n) = &t.restart {
                actions.push(Fault::Restart(node(n)?));
            }
            if let Some(n) = &t.pause {
                actions.push(Fault::Pause(node(n)?));
            }
            if let Some(n) = &t.resume {
                actions.push(Fault::Resume(node(n)?));
            }
            if let Some(groups) = &t.partition {
                let mut seen = std::collections::BTreeSet::new();
                let mut out_groups = Vec::new();
                for g in groups {
                    // Non-empty groups of distinct names: so there are at
                    // most as many groups as endpoints, far below the
                    // engine's 65,536 group numbers.
                    if g.is_empty() {
                        return Err(self
                            .err(entry.span(), "a group of the partition is empty")
                            .with_help("every group names at least one node or client"));
                    }
                    let mut eps = Vec::new();
                    for name in g {
                        for e in self.endpoints(name, cluster, clients)? {
                            if !seen.insert(e) {
                                return Err(self.err(
                                    name.span(),
                                    format!("`{}` is in two groups of the partition", name.get_ref()),
                                ));
                            }
                            eps.push(e);
                        }
                    }
                    out_groups.push(eps);
                }
                if let Some(missing) = cluster.nodes().find(|n| !seen.contains(&n.endpoint())) {
                    return Err(self.err(entry.span(), format!("the partition leaves out node `{}`", cluster.name(missing)))
                        .with_help("every node must be in exactly one group (clients may be left out: they then reach every node)"));
                }
                actions.push(Fault::Partition(out_groups));
            }
            if let Some(c) = &t.cut {
                let (from, to) =
                    (self.endpoints(&c.from, cluster, clients)?, self.endpoints(&c.to, cluster, clients)?);
                actions.push(Fault::Cut { from, to });
            }
            if t.heal == Some(true) {
                actions.push(Fault::Heal);
            }
            if let Some(c) = &t.clock {
                let offset_us = c.offset.as_ref().map(|o| self.signed_us(o)).transpose()?.unwrap_or(0);
                if c.drift_ppm.is_some_and(|d| d.checked_abs().is_none_or(|d| d > MAX_DRIFT_PPM)) {
                    return Err(
                        self.err(c.node.span(), format!("drift_ppm must be within ±{MAX_DRIFT_PPM} (10%)"))
                    );
                }
                actions.push(Fault::Clock {
                    node: node(&c.node)?,
                    offset_us,
                    drift_ppm: c.drift_ppm.unwrap_or(0),
                });
            }
            if let Some(l) = &t.link {
                let one = |x: &Option<S<String>>| -> Result<Option<EndpointId>, ScenarioError> {
                    match x {
                        None => Ok(None),
                        Some(name) => {
                            let eps = self.endpoints(name, cluster, clients)?;
                            if eps.len() != 1 {
                                return Err(self
                                    .err(name.span(), "a link names one node or one single-process client"));
                            }
                            Ok(Some(eps[0]))
                        }
                    }
                };
                // Fields left out keep the scenario's [network] setting.
                let base = &network.faults;
                let or_base = |p: &Option<S<f64>>, what: &str, b| match p {
                    None => Ok(b),
                    some => self.probability(some, what),
                };
                let faults = LinkFaults {
                    drop: or_base(&l.drop, "drop", base.drop)?,
                    duplicate: or_base(&l.duplicate, "duplicate", base.duplicate)?,
                    reorder: or_base(&l.reorder, "reorder", base.reorder)?,
                };
                actions.push(Fault::Link { from: one(&l.from)?, to: one(&l.to)?, faults: Some(faults) });
            }
            if let Some(n) = &t.promote {
                if !protocol.commands().contains(&"promote") {
                    return Err(
                        self.err(n.span(), format!("protocol `{}` has no manual promote", protocol.name()))
                    );
                }
                actions.push(Fault::Command { node: node(n)?, command: Command::Promote });
            }
            for (id, make) in [
                (t.drop_message, Fault::DropMessage as fn(u64) -> Fault),
                (t.duplicate_message, Fault::DuplicateMessage),
                (t.deliver_next, Fault::DeliverNext),
            ] {
                if let Some(id) = id {
                    actions.push(make(id));
                }
            }
            if let Some(values) = &t.choose {
                let n = values.get_ref().len();
                if n == 0 || n > crate::sim::MAX_CHOICES {
                    return Err(self.err(
                        values.span(),
                        format!(
                            "`choose` takes 1 to {} values (the next choices, in order)",
                            crate::sim::MAX_CHOICES
                        ),
                    ));
                }
                actions.push(Fault::Choose(values.get_ref().clone()));
            }
            if actions.len() > 1 {
                return Err(self
                    .err(
                        entry.span(),
                        format!("a timeline entry takes one action, this one has {}", actions.len()),
                    )
                    .with_help("split it into several [[timeline]] entries at the same time"));
            }
            if t.wait.is_some() && t.note.is_none() {
                return Err(self.err(entry.span(), "`wait` goes with a `note`"));
            }
            if actions.is_empty() && t.note.is_none() {
                return Err(self.err(entry.span(), "this timeline entry does nothing").with_help(
                    "give it an action (crash, restart, pause, resume, partition, cut, heal, clock, link, promote, drop_message, duplicate_message, deliver_next, choose) or a note",
                ));
            }
            if let Some(text) = &t.note {
                if text.get_ref().chars().count() > limits::TEXT_CHARS {
                    return Err(self.err(
                        text.span(),
                        format!("a note must be at most {} characters", limits::TEXT_CHARS),
                    ));
                }
                out.push(TimedFault {
                    at,
                    step: t.step,
                    fault: Fault::Note {
                        text: escape_text(text.get_ref().trim()).into_owned(),
                        pause: t.wait.unwrap_or(false),
                    },
                    origin: Origin::Timeline,
                });
            }
            if let Some(a) = actions.pop() {
                out.push(TimedFault { at, step: t.step, fault: a, origin: Origin::Timeline });
            }
        }
        Ok(out)
    }

    fn nemesis(&self, raw: &RawFile, duration: SimDuration) -> Result<Option<NemesisConfig>, ScenarioError> {
        let Some(n) = &raw.nemesis else {
            return Ok(None);
        };
        self.nemesis_table(n.get_ref(), duration).map(Some)
    }

    /// Validates a `[nemesis]` table (of a scenario, or of a file given to
    /// `distlab check --nemesis`).
    fn nemesis_table(&self, n: &RawNemesis, duration: SimDuration) -> Result<NemesisConfig, ScenarioError> {
        let names: Vec<&str> = NemesisFault::ALL.iter().map(|k| k.0).collect();
        let mut faults = Vec::new();
        for f in &n.faults {
            match NemesisFault::ALL.iter().find(|k| k.0 == f.get_ref()) {
                Some(&(_, kind)) => faults.push(kind),
                None => {
                    let other = f.get_ref();
                    let e = self.err(
                        f.span(),
                        format!("unknown nemesis fault `{other}`: expected one of {}", names.join(", ")),
                    );
                    return Err(e.suggest(other, names.iter().copied(), None));
                }
            }
        }
        let mean_interval = self.duration(&n.interval)?;
        if mean_interval.0 == 0 {
            return Err(self.err(n.interval.span(), "interval must be more than zero"));
        }
        let probability = |p: &Option<S<f64>>, default: f64, what: &str| match p {
            None => Ok(default),
            Some(p) if (0.0..=1.0).contains(p.get_ref()) => Ok(*p.get_ref()),
            Some(p) => Err(self.err(p.span(), format!("{what} must be a probability between 0 and 1"))),
        };
        let loss = probability(&n.loss, 0.2, "loss")?;
        let duplicate = probability(&n.duplicate, 0.2, "duplicate")?;
        let max_drift_ppm = match &n.max_drift_ppm {
            None => 1000,
            Some(d) if d.get_ref().checked_abs().is_some_and(|d| d <= MAX_DRIFT_PPM) => d.get_ref().abs(),
            Some(d) => {
                return Err(self.err(d.span(), format!("max_drift_ppm must be within ±{MAX_DRIFT_PPM}")));
            }
        };
        let max_concurrent = match &n.max_concurrent {
            None => 1,
            Some(m) if (1..=MAX_CONCURRENT_FAULTS).contains(m.get_ref()) => *m.get_ref(),
            Some(m) => {
                return Err(self
                    .err(m.span(), format!("max_concurrent must be between 1 and {MAX_CONCURRENT_FAULTS}")));
            }
        };
        let start = SimTime(self.opt_duration(&n.start, SimDuration::ZERO)?.0);
        let stop = SimTime(self.opt_duration(&n.stop, SimDuration(duration.0 * 3 / 4))?.0);
        if stop <= start {
            let span = n.stop.as_ref().or(n.start.as_ref()).map_or(n.interval.span(), |d| d.span());
            return Err(self.err(span, format!("the nemesis stops ({stop}) before it starts ({start})")));
        }
        // Bound the schedule's size: about `window / interval` faults.
        if stop.since(start).0 / mean_interval.0 > limits::TIMELINE_ENTRIES as u64 {
            return Err(self.err(
                n.interval.span(),
                format!(
                    "interval {mean_interval} would schedule more than {} faults; make it longer",
                    limits::TIMELINE_ENTRIES
                ),
            ));
        }
        Ok(NemesisConfig {
            faults,
            mean_interval,
            heal_after: self.opt_duration(&n.heal_after, SimDuration(mean_interval.0 / 2))?,
            start,
            stop,
            clock_skew: self.opt_duration(&n.clock_skew, SimDuration::from_millis(100))?,
            loss,
            duplicate,
            max_drift_ppm,
            max_concurrent,
        })
    }

    fn expectations(
        &self,
        raw: &RawFile,
        protocol: &dyn ProtocolEntry,
        every_run_metrics: &[&'static str],
    ) -> Result<Vec<Expectation>, ScenarioError> {
        if raw.expect.len() > limits::EXPECT_ENTRIES {
            return Err(self.err(
                raw.expect[limits::EXPECT_ENTRIES].span(),
                format!("at most {} [[expect]] entries", limits::EXPECT_ENTRIES),
            ));
        }
        let mut out = Vec::new();
        for e in &raw.expect {
            let x = e.get_ref();
            match (&x.check, &x.metric) {
                (Some(check), None) => {
                    let names: Vec<&str> = protocol.checks().iter().map(|c| c.name).collect();
                    if !names.contains(&check.get_ref().as_str()) {
                        let err = self.err(
                            check.span(),
                            format!("protocol `{}` has no check `{}`", protocol.name(), check.get_ref()),
                        );
                        return Err(err.suggest(
                            check.get_ref(),
                            names.iter().copied(),
                            Some(format!("its checks are: {}", names.join(", "))),
                        ));
                    }
                    if x.at_least.is_some() || x.at_most.is_some() {
                        return Err(self.err(e.span(), "at_least / at_most go with `metric`, not `check`"));
                    }
                    match x.graded {
                        Some(false) if x.holds.is_some() => {
                            return Err(self
                                .err(e.span(), "a check that is not graded has no `holds`")
                                .with_help("`graded = false` says the lesson does not judge it either way"));
                        }
                        Some(false) => out.push(Expectation::Ungraded { name: check.get_ref().clone() }),
                        _ => out.push(Expectation::Check {
                            name: check.get_ref().clone(),
                            holds: x.holds.unwrap_or(true),
                        }),
                    }
                }
                (None, Some(metric)) => {
                    let names: Vec<&str> = protocol
                        .metrics()
                        .iter()
                        .map(|m| m.name)
                        .chain(every_run_metrics.iter().copied())
                        .collect();
                    if !names.contains(&metric.get_ref().as_str()) {
                        let err = self.err(
                            metric.span(),
                            format!("protocol `{}` has no metric `{}`", protocol.name(), metric.get_ref()),
                        );
                        return Err(err.suggest(
                            metric.get_ref(),
                            names.iter().copied(),
                            Some(format!("its metrics are: {}", names.join(", "))),
                        ));
                    }
                    if x.holds.is_some() {
                        return Err(self.err(e.span(), "`holds` goes with `check`, not `metric`"));
                    }
                    if x.at_least.is_none() && x.at_most.is_none() {
                        return Err(
                            self.err(e.span(), "a metric expectation needs at_least, at_most, or both")
                        );
                    }
                    for (bound, what) in [(&x.at_least, "at_least"), (&x.at_most, "at_most")] {
                        if let Some(b) = bound
                            && !b.get_ref().is_finite()
                        {
                            return Err(self.err(
                                b.span(),
                                format!("{what} must be a finite number, not {}", b.get_ref()),
                            ));
                        }
                    }
                    let (at_least, at_most) =
                        (x.at_least.as_ref().map(|b| *b.get_ref()), x.at_most.as_ref().map(|b| *b.get_ref()));
                    if let (Some(lo), Some(hi)) = (at_least, at_most)
                        && lo > hi
                    {
                        return Err(self.err(
                            x.at_most.as_ref().expect("given").span(),
                            format!("at_most ({hi}) is below at_least ({lo}): no value meets both"),
                        ));
                    }
                    out.push(Expectation::Metric { name: metric.get_ref().clone(), at_least, at_most });
                }
                _ => {
                    return Err(
                        self.err(e.span(), "an [[expect]] entry names either a `check` or a `metric`")
                    );
                }
            }
        }
        Ok(out)
    }
}

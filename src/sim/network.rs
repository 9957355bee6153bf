//! The simulated network: latency, loss, duplication, reordering, FIFO
//! links, regions and partitions.
//!
//! Every fault knob lives here, in [`NetworkConfig`] and [`LinkFaults`], and
//! every random decision about a message is one of the small predicates in
//! [`Network::route`], drawing from the stream of the message's directed
//! link only. A message on link `a → b` never consumes randomness of link
//! `c → d`, so dropping or adding one fault changes nothing on unrelated
//! links (design rule 1).
//!
//! Draw order per message on a link (fixed, part of the digest contract):
//! loss, latency, reorder, then duplication and the copy's latency.

use super::rng::{Probability, RngStream, StreamKind};
use super::time::{SimDuration, SimTime};
use std::collections::BTreeSet;
use std::sync::Arc;

pub use crate::nodes::EndpointId;

/// A float that hashes by its bits, for the few real-valued parameters kept
/// in hashed state (log-normal σ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Real(pub f64);
impl std::hash::Hash for Real {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.to_bits());
    }
}

/// The one-way delay of a message, drawn per message. All times in µs.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum LatencyDist {
    /// Always exactly this long.
    Constant { us: u64 },
    /// Uniform in `[min_us, max_us]`.
    Uniform { min_us: u64, max_us: u64 },
    /// Normal with this mean and standard deviation, cut off at zero.
    Normal { mean_us: u64, stddev_us: u64 },
    /// Exponential with this mean (memoryless: a long tail of slow messages).
    Exponential { mean_us: u64 },
    /// Log-normal with this median and shape σ: the heavy tail measured on
    /// real networks.
    LogNormal { median_us: u64, sigma: Real },
}

impl LatencyDist {
    /// Draws one delay. `Constant` draws nothing.
    pub fn sample(&self, rng: &mut RngStream) -> SimDuration {
        let us = match *self {
            LatencyDist::Constant { us } => return SimDuration(us),
            LatencyDist::Uniform { min_us, max_us } => {
                return SimDuration(min_us + rng.below(max_us - min_us + 1));
            }
            LatencyDist::Normal { mean_us, stddev_us } => {
                mean_us as f64 + stddev_us as f64 * rng.standard_normal()
            }
            LatencyDist::Exponential { mean_us } => rng.exponential(mean_us as f64),
            LatencyDist::LogNormal { median_us, sigma } => {
                median_us as f64 * libm::exp(sigma.0 * rng.standard_normal())
            }
        };
        SimDuration(if us <= 0.0 { 0 } else { us.round() as u64 })
    }

    /// The distribution's mean, in µs (for reports and default reorder
    /// delays).
    pub fn mean_us(&self) -> f64 {
        match *self {
            LatencyDist::Constant { us } => us as f64,
            LatencyDist::Uniform { min_us, max_us } => (min_us + max_us) as f64 / 2.0,
            LatencyDist::Normal { mean_us, .. } | LatencyDist::Exponential { mean_us } => mean_us as f64,
            LatencyDist::LogNormal { median_us, sigma } => {
                median_us as f64 * libm::exp(sigma.0 * sigma.0 / 2.0)
            }
        }
    }
}

/// Per-link fault probabilities. A timeline entry can change them for one
/// link, or for all links, mid-run.
#[derive(Clone, Debug, Default, PartialEq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LinkFaults {
    /// Probability a message is lost.
    pub drop: Probability,
    /// Probability a delivered message is delivered a second time (the copy
    /// gets its own latency draw).
    pub duplicate: Probability,
    /// Probability a message is held back by an extra delay drawn uniformly
    /// from `[0, reorder_delay]`, so that later messages overtake it.
    pub reorder: Probability,
}

/// The network as the scenario describes it. Immutable during a run; the
/// parts faults can change live in [`Network`].
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Latency within a region (or everywhere, without regions).
    pub latency: LatencyDist,
    /// Fault probabilities on every link unless a link overrides them.
    pub faults: LinkFaults,
    /// Largest extra delay of a reordered message.
    pub reorder_delay: SimDuration,
    /// Deliver messages on each link in the order they were sent.
    pub fifo: bool,
    /// Region of each endpoint (index into `region_names`).
    pub region_of: Vec<u16>,
    pub region_names: Vec<String>,
    /// Latency between regions, `region_latency[a * regions + b]`; `None`
    /// falls back to `latency`.
    pub region_latency: Vec<Option<LatencyDist>>,
}

/// Why a message was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    /// The link's loss probability fired.
    Loss,
    /// A partition or one-way cut separates sender and receiver.
    Partition,
    /// The receiver was crashed when the message arrived.
    NodeDown,
    /// Dropped by hand (an intervention).
    Intervention,
    /// The receiver's queue was full (its capacity model, `[capacity]`).
    Overloaded,
}

/// What the network decided for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Drop(DropReason),
    Deliver {
        at: SimTime,
        /// A second copy, when duplication fired.
        duplicate_at: Option<SimTime>,
    },
}

/// The network's live state: partitions, cuts, per-link fault overrides, the
/// link RNG streams and FIFO bookkeeping. Part of the snapshotted state.
///
/// Link state is *sparse*: a link gets its RNG stream and FIFO tail the
/// first time a message crosses it, and fault overrides are a short list of
/// rules, not a value per link. Clients only ever talk to nodes, so a run
/// with 1,024 client processes keeps a few thousand links, not the million
/// a dense endpoints² table would hold (and clone into every snapshot).
#[derive(Debug, Hash)]
pub struct Network {
    config: Arc<NetworkConfig>,
    seed: u64,
    /// Partition group of each endpoint; group 0 reaches everyone (clients
    /// that a partition does not name).
    group: Vec<u32>,
    /// One-way cuts `(from, to)`.
    cuts: BTreeSet<(u32, u32)>,
    /// Fault overrides, oldest first: the newest rule that matches a link
    /// decides its faults (`None`: the configured ones). A rule that covers
    /// everything an older one covers replaces it, so the list stays as
    /// short as the distinct overrides in force.
    overrides: Vec<Override>,
    /// The links messages have crossed, sorted by [`link_key`]: one
    /// buffer, so a snapshot copies it in one piece.
    links: Vec<(u64, Link)>,
}

/// A small cache of positions in `links`: the position a link was last
/// found at, in a slot chosen by its key. A hint is only ever a guess —
/// the link at that position is checked before it is used, and a wrong
/// or stale guess (a link inserted since moved the others) falls back to
/// the binary search — so it changes no result, only saves the search on
/// a hot path (every message sent). Not part of the network's state,
/// so not in it: whoever routes keeps one ([`Network::route`]) — the
/// simulator beside its state, where a snapshot does not copy it and a
/// restore leaves it alone (in the network it was 4-7% of the memory
/// `distlab explore` holds per state). One per run, it can hold enough
/// positions for a run with many clients to find most links at the first
/// guess.
#[derive(Clone)]
pub struct LinkHints([u32; LINK_HINTS]);

impl Default for LinkHints {
    fn default() -> Self {
        LinkHints([0; LINK_HINTS])
    }
}

const LINK_HINTS: usize = 1024;

impl LinkHints {
    fn slot(key: u64) -> usize {
        // Fibonacci hashing: the top bits of the key times 2⁶⁴/φ.
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - LINK_HINTS.trailing_zeros())) as usize
    }
}

impl std::fmt::Debug for LinkHints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkHints")
    }
}

impl Clone for Network {
    fn clone(&self) -> Self {
        Network {
            config: self.config.clone(),
            seed: self.seed,
            group: self.group.clone(),
            cuts: self.cuts.clone(),
            overrides: self.overrides.clone(),
            links: self.links.clone(),
        }
    }
    /// Reuses this network's buffers (a restore copies into the live
    /// state).
    fn clone_from(&mut self, source: &Self) {
        self.config.clone_from(&source.config);
        self.seed = source.seed;
        self.group.clone_from(&source.group);
        self.cuts.clone_from(&source.cuts);
        self.overrides.clone_from(&source.overrides);
        self.links.clone_from(&source.links);
    }
}

/// Link `from → to` as one number, in `(from, to)` order.
fn link_key(from: u32, to: u32) -> u64 {
    (u64::from(from) << 32) | u64::from(to)
}

/// One `set_link_faults` rule: links `from → to` (`None`: any).
#[derive(Clone, Debug, Hash)]
struct Override {
    from: Option<u32>,
    to: Option<u32>,
    faults: Option<LinkFaults>,
}

impl Override {
    fn matches(&self, from: u32, to: u32) -> bool {
        self.from.is_none_or(|f| f == from) && self.to.is_none_or(|t| t == to)
    }
    /// Every link `other` matches, this one matches too.
    fn covers(&self, other: &Override) -> bool {
        (self.from.is_none() || self.from == other.from) && (self.to.is_none() || self.to == other.to)
    }
}

/// What one directed link remembers.
#[derive(Clone, Debug, Hash)]
struct Link {
    rng: RngStream,
    /// Latest arrival scheduled on the link (FIFO links only).
    fifo_tail: SimTime,
}

impl std::hash::Hash for NetworkConfig {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {
        // Immutable for the whole run: nothing that changes lives here.
    }
}

impl Network {
    /// The network's part of the model fingerprint: the faults in force
    /// (partitions, cuts, link overrides) and, of each link that has drawn
    /// from its random stream or still holds a FIFO order, how far the
    /// stream is drawn and how long until the order frees up (a link not
    /// yet used and one used without either are alike to the future).
    pub(super) fn hash_model<H: std::hash::Hasher>(&self, now: SimTime, h: &mut H) {
        use std::hash::Hash;
        (&self.group, &self.cuts, &self.overrides).hash(h);
        for (key, link) in &self.links {
            let (drawn, fifo_left) = (link.rng.position(), link.fifo_tail.0.saturating_sub(now.0));
            if drawn > 0 || fifo_left > 0 {
                (key, drawn, fifo_left).hash(h);
            }
        }
    }
}

impl Network {
    pub fn new(config: Arc<NetworkConfig>, endpoints: usize, seed: u64) -> Self {
        Network {
            config,
            seed,
            group: vec![0; endpoints],
            cuts: BTreeSet::new(),
            overrides: Vec::new(),
            links: Vec::new(),
        }
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Can a message from `from` reach `to` right now?
    #[inline]
    pub fn reachable(&self, from: EndpointId, to: EndpointId) -> bool {
        let (gf, gt) = (self.group[from.0 as usize], self.group[to.0 as usize]);
        (gf == 0 || gt == 0 || gf == gt) && (self.cuts.is_empty() || !self.cuts.contains(&(from.0, to.0)))
    }

    /// Splits the network into groups; endpoints not named keep reaching
    /// everyone. Replaces any earlier partition (cuts stay).
    pub fn partition(&mut self, groups: &[Vec<EndpointId>]) {
        self.group.iter_mut().for_each(|g| *g = 0);
        for (i, members) in groups.iter().enumerate() {
            // At most one group per endpoint: the loader rejects empty
            // groups and names listed twice, so this never wraps.
            let group = u32::try_from(i + 1).expect("fewer groups than endpoints");
            for e in members {
                self.group[e.0 as usize] = group;
            }
        }
    }

    /// Cuts the link `from → to` only (messages the other way still pass).
    pub fn cut(&mut self, from: EndpointId, to: EndpointId) {
        self.cuts.insert((from.0, to.0));
    }

    /// Removes every partition and cut. Link fault overrides stay: they are
    /// a property of the links, not a partition.
    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
        self.cuts.clear();
    }

    /// Sets the fault probabilities of one link (`Some` ends) or of all
    /// links from or to an endpoint, or of every link (`None` ends);
    /// `None` faults return them to the configured ones.
    pub fn set_link_faults(
        &mut self,
        from: Option<EndpointId>,
        to: Option<EndpointId>,
        faults: Option<LinkFaults>,
    ) {
        let rule = Override { from: from.map(|e| e.0), to: to.map(|e| e.0), faults };
        self.overrides.retain(|old| !rule.covers(old));
        if rule.from.is_none() && rule.to.is_none() && rule.faults.is_none() {
            return; // every link back to the configuration: no rule needed
        }
        self.overrides.push(rule);
    }

    /// A human description of the partition state, e.g. `{n1} | {n2 n3}`.
    pub fn groups(&self) -> Vec<Vec<EndpointId>> {
        let max = self.group.iter().copied().max().unwrap_or(0);
        (1..=max)
            .map(|g| {
                (0..self.group.len()).filter(|&e| self.group[e] == g).map(|e| EndpointId(e as u32)).collect()
            })
            .filter(|v: &Vec<_>| !v.is_empty())
            .collect()
    }

    pub fn cuts(&self) -> impl Iterator<Item = (EndpointId, EndpointId)> + '_ {
        self.cuts.iter().map(|&(a, b)| (EndpointId(a), EndpointId(b)))
    }

    fn latency_for(&self, from: EndpointId, to: EndpointId) -> &LatencyDist {
        let cfg = &*self.config;
        if cfg.region_names.len() > 1 {
            let (ra, rb) = (cfg.region_of[from.0 as usize] as usize, cfg.region_of[to.0 as usize] as usize);
            if let Some(Some(d)) = cfg.region_latency.get(ra * cfg.region_names.len() + rb) {
                return d;
            }
        }
        &cfg.latency
    }

    /// The fault probabilities of link `from → to` now.
    fn faults(&self, from: u32, to: u32) -> &LinkFaults {
        if !self.overrides.is_empty()
            && let Some(rule) = self.overrides.iter().rev().find(|r| r.matches(from, to))
            && let Some(f) = &rule.faults
        {
            return f;
        }
        &self.config.faults
    }

    /// The state of link `from → to`, made the first time it is used
    /// (found through `hints`).
    #[inline(always)]
    fn link(&mut self, hints: &mut LinkHints, from: u32, to: u32) -> &mut Link {
        let key = link_key(from, to);
        let slot = LinkHints::slot(key);
        let hint = hints.0[slot] as usize;
        let i = match self.links.get(hint) {
            Some((k, _)) if *k == key => hint,
            _ => {
                let i = self.find_or_add(from, to, key);
                // (More than 4 billion links would not fit in memory.)
                hints.0[slot] = i as u32;
                i
            }
        };
        &mut self.links[i].1
    }

    /// Where link `key` is in `links`, inserted (in key order) if new.
    fn find_or_add(&mut self, from: u32, to: u32, key: u64) -> usize {
        self.links.binary_search_by_key(&key, |(k, _)| *k).unwrap_or_else(|i| {
            let rng = RngStream::new(self.seed, StreamKind::Link, from as u64, to as u64);
            self.links.insert(i, (key, Link { rng, fifo_tail: SimTime::ZERO }));
            i
        })
    }

    /// Decides the fate of one message sent at `now` on `from → to`,
    /// finding the link's state through `hints` (kept by the caller from
    /// message to message; they change no result).
    pub fn route(&mut self, hints: &mut LinkHints, from: EndpointId, to: EndpointId, now: SimTime) -> Route {
        if !self.reachable(from, to) {
            return Route::Drop(DropReason::Partition);
        }
        let faults = self.faults(from.0, to.0);
        let (drop, dup, reorder) = (faults.drop, faults.duplicate, faults.reorder);
        // Borrow the latency distribution by value-cheap clone only when it
        // draws; constant latency (the common case) costs nothing.
        let dist = self.latency_for(from, to).clone();
        let (reorder_delay, fifo) = (self.config.reorder_delay, self.config.fifo);
        let link = self.link(hints, from.0, to.0);
        let rng = &mut link.rng;
        if rng.chance(drop) {
            return Route::Drop(DropReason::Loss);
        }
        let mut at = now.after(dist.sample(rng));
        if rng.chance(reorder) {
            at = at.after(SimDuration(rng.below(reorder_delay.0 + 1)));
        }
        let duplicate_at = if rng.chance(dup) { Some(now.after(dist.sample(rng))) } else { None };
        if fifo {
            at = at.max(link.fifo_tail);
            link.fifo_tail = at;
        }
        Route::Deliver { at, duplicate_at }
    }

    /// How many links have state (for memory tests).
    pub fn links_in_use(&self) -> usize {
        self.links.len()
    }

    /// The bytes the live network state holds on the heap (its share of a
    /// snapshot): the partition group of each endpoint, the links
    /// messages crossed, cuts and overrides.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.group.capacity() * size_of::<u32>()
            + self.links.capacity() * size_of::<(u64, Link)>()
            + self.cuts.len() * size_of::<(u32, u32)>()
            + self.overrides.capacity() * size_of::<Override>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(fifo: bool) -> Arc<NetworkConfig> {
        Arc::new(NetworkConfig {
            latency: LatencyDist::Uniform { min_us: 1_000, max_us: 9_000 },
            faults: LinkFaults::default(),
            reorder_delay: SimDuration::from_millis(10),
            fifo,
            region_of: vec![0; 3],
            region_names: vec!["default".into()],
            region_latency: vec![None],
        })
    }

    /// FIFO links never let a later message arrive before an earlier one.
    #[test]
    fn fifo_links_keep_send_order() {
        let mut net = Network::new(config(true), 3, 9);
        let mut last = SimTime::ZERO;
        for i in 0..200 {
            match net.route(&mut LinkHints::default(), EndpointId(0), EndpointId(1), SimTime(i * 100)) {
                Route::Deliver { at, .. } => {
                    assert!(at >= last);
                    last = at;
                }
                Route::Drop(r) => panic!("no loss configured, got {r:?}"),
            }
        }
    }

    /// A one-way cut stops one direction only; heal restores both.
    #[test]
    fn one_way_cut_and_heal() {
        let mut net = Network::new(config(false), 3, 9);
        net.cut(EndpointId(0), EndpointId(1));
        assert!(!net.reachable(EndpointId(0), EndpointId(1)));
        assert!(net.reachable(EndpointId(1), EndpointId(0)));
        net.partition(&[vec![EndpointId(0)], vec![EndpointId(1)]]);
        assert!(!net.reachable(EndpointId(1), EndpointId(0)));
        assert!(net.reachable(EndpointId(2), EndpointId(0)), "unnamed endpoints reach everyone");
        net.heal();
        assert!(net.reachable(EndpointId(0), EndpointId(1)));
    }

    /// Changing one link's faults leaves another link's draws untouched.
    #[test]
    fn links_draw_independently() {
        let mut a = Network::new(config(false), 3, 5);
        let mut b = Network::new(config(false), 3, 5);
        b.set_link_faults(
            Some(EndpointId(0)),
            Some(EndpointId(1)),
            Some(LinkFaults { drop: Probability::new(0.5), ..Default::default() }),
        );
        for i in 0..50 {
            let _ = b.route(&mut LinkHints::default(), EndpointId(0), EndpointId(1), SimTime(i));
            assert_eq!(
                a.route(&mut LinkHints::default(), EndpointId(2), EndpointId(1), SimTime(i)),
                b.route(&mut LinkHints::default(), EndpointId(2), EndpointId(1), SimTime(i))
            );
        }
    }

    /// The cache of link positions only ever saves a search: a link added
    /// in front of others (which moves them, and leaves their cached
    /// positions stale) and a restore to fewer links still give each
    /// link its own draws, as a network that only ever used that link
    /// (with a cache of its own).
    #[test]
    fn stale_link_hints_never_pick_another_link() {
        let alone = |to: u32| {
            let mut net = Network::new(config(false), 64, 7);
            (0..6)
                .map(|t| net.route(&mut LinkHints::default(), EndpointId(1), EndpointId(to), SimTime(t)))
                .collect::<Vec<_>>()
        };
        let mut net = Network::new(config(false), 64, 7);
        let mut hints = LinkHints::default();
        let snapshot = net.clone();
        let mut seen: BTreeMap<u32, Vec<Route>> = BTreeMap::new();
        // Each link is cached where it was added; then a link that sorts
        // before all of them moves every one, and the cache is stale.
        for round in 0..2u64 {
            for to in 2..40 {
                for t in 0..3 {
                    let route = net.route(&mut hints, EndpointId(1), EndpointId(to), SimTime(round * 3 + t));
                    seen.entry(to).or_default().push(route);
                }
            }
            net.route(&mut hints, EndpointId(0), EndpointId(round as u32 + 1), SimTime(0));
        }
        for (&to, routes) in &seen {
            assert_eq!(routes, &alone(to), "link 1 -> {to}");
        }
        net.clone_from(&snapshot);
        assert_eq!(net.links_in_use(), 0);
        let again: Vec<Route> =
            (0..6).map(|t| net.route(&mut hints, EndpointId(1), EndpointId(20), SimTime(t))).collect();
        assert_eq!(again, alone(20), "after a restore, with the hints of a later state");
    }

    /// Overrides behave as a table written link by link: the newest write
    /// to a link decides it, and `None` faults return a link to the
    /// configuration even under an older override for every link.
    #[test]
    fn the_newest_override_of_a_link_decides() {
        let lossy = |p: f64| Some(LinkFaults { drop: Probability::new(p), ..Default::default() });
        let mut net = Network::new(config(false), 3, 1);
        let (a, b) = (EndpointId(0), EndpointId(1));
        net.set_link_faults(None, None, lossy(1.0));
        net.set_link_faults(Some(a), Some(b), None);
        assert_eq!(net.faults(0, 1).drop, Probability::new(0.0), "a -> b is back to the configuration");
        assert_eq!(net.faults(0, 2).drop, Probability::new(1.0), "a -> c is still lossy");
        net.set_link_faults(Some(a), None, lossy(0.5));
        assert_eq!(net.faults(0, 1).drop, Probability::new(0.5), "the newer rule for a's links wins");
        assert_eq!(net.faults(2, 1).drop, Probability::new(1.0));
        net.set_link_faults(None, None, None);
        assert!(net.overrides.is_empty(), "a reset of every link leaves no rule");
        assert_eq!(net.faults(0, 1).drop, Probability::new(0.0));
    }

    /// Link state exists only for links a message crossed: many client
    /// endpoints that talk to one node cost one link each way, not a row
    /// of the whole table.
    #[test]
    fn link_state_is_sparse() {
        let endpoints = 1_088;
        let mut net = Network::new(config(false), endpoints, 3);
        for client in 64..endpoints as u32 {
            let _ = net.route(&mut LinkHints::default(), EndpointId(client), EndpointId(0), SimTime(1));
            let _ = net.route(&mut LinkHints::default(), EndpointId(0), EndpointId(client), SimTime(2));
        }
        assert_eq!(net.links_in_use(), 2 * (endpoints - 64));
        // 1,024 processes and 64 nodes: under 512 KiB (a dense table of
        // links would hold endpoints² of them, 1,183,744 here).
        let dense = endpoints * endpoints * std::mem::size_of::<Link>();
        assert!(net.heap_bytes() < 512 * 1024, "{} bytes of link state (dense: {dense})", net.heap_bytes());
    }
}

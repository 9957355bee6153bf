//! The `[protocol]` table of `quorum`.

use crate::nodes::{Cluster, Key, NodeId};
use crate::protocols::Configure;
use crate::rng::mix64;
use crate::scenario::{ParamContext, ScenarioError, raw::S};
use crate::time::SimDuration;
use serde::Deserialize;

/// Named consistency levels (as in Cassandra).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// r = w = 1.
    One,
    /// r = w = a majority of the n replicas.
    Quorum,
    /// r = w = n.
    All,
    /// A majority of the replicas in the coordinator's own region.
    LocalQuorum,
}

/// Who stamps a write's version (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Timestamps {
    /// The client, when it invokes the write.
    Client,
    /// The coordinator, when it receives the request.
    Coordinator,
}

/// Deliberately broken variants, for exercises: find the bug with
/// `distlab check` (see `scenarios/quorum/exercise-*.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    /// A read answers with the value of the first of its `r` replies
    /// instead of the newest version among them.
    FirstReplyWins,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Params {
    /// A deliberate bug (exercises), or none.
    pub bug: Option<Bug>,
    /// Who stamps versions.
    pub timestamps: Timestamps,
    /// Replicas per key.
    pub n: usize,
    /// Replies a read waits for.
    pub r: usize,
    /// Acknowledgements a write waits for.
    pub w: usize,
    /// Count only replicas in the coordinator's region (`local-quorum`).
    pub local: bool,
    /// How long a coordinator waits before giving up.
    pub timeout: SimDuration,
    /// Send newer values to replicas that answered a read with older ones.
    pub read_repair: bool,
    /// Sloppy quorum: write to stand-ins when replicas are unreachable,
    /// with hints to hand the value back later.
    pub sloppy: bool,
    /// How often a stand-in tries to hand its hints back.
    pub handoff_interval: SimDuration,
    /// A read writes the value it returns back to `w` replicas before
    /// answering (ABD): reads become linearizable.
    pub write_back: bool,
    /// The ring: nodes in token order.
    pub ring: Vec<NodeId>,
    /// Each node's region.
    pub region_of: Vec<u16>,
    /// How many regions there are.
    pub regions: u16,
}

impl Params {
    /// Whether every read quorum meets every write quorum: r + w > n, and
    /// neither a sloppy quorum (stand-ins) nor a per-region quorum (a local
    /// quorum overlaps only within its region) gives the overlap up. Reads
    /// are promised fresh exactly then.
    pub fn quorums_overlap(&self) -> bool {
        self.r + self.w > self.n && !self.sloppy && !self.local
    }

    /// The `n` replicas of `key`: the first `n` nodes clockwise from the
    /// key's position on the consistent-hash ring. With `n` equal to the
    /// cluster size that is every node.
    pub fn preference_list(&self, key: Key) -> impl Iterator<Item = NodeId> + '_ {
        self.ring_from(key).take(self.n)
    }

    /// Every node, clockwise from `key`'s position: the preference list,
    /// then the stand-ins a sloppy quorum may use.
    pub fn ring_from(&self, key: Key) -> impl Iterator<Item = NodeId> + '_ {
        let pos = ring_position_of_key(key);
        let start = self.ring.partition_point(|n| token(*n) < pos);
        (0..self.ring.len()).map(move |i| self.ring[(start + i) % self.ring.len()])
    }
}

impl std::fmt::Debug for Level {
    /// As written in scenario files.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::One => "\"one\"",
            Level::Quorum => "\"quorum\"",
            Level::All => "\"all\"",
            Level::LocalQuorum => "\"local-quorum\"",
        })
    }
}

fn token(n: NodeId) -> u64 {
    mix64(0x7175_6f72_756d ^ n.0 as u64)
}

fn ring_position_of_key(k: Key) -> u64 {
    mix64(0x6b65_7973 ^ ((k as u64) << 20))
}

#[derive(Deserialize, Default, Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "QuorumParams")]
pub struct RawParams {
    /// Replicas per key (default: every node, at most 3... see configure).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub n: Option<S<usize>>,
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub r: Option<S<usize>>,
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub w: Option<S<usize>>,
    /// `one`, `quorum`, `all` or `local-quorum`: sets r and w.
    #[serde(default)]
    #[schemars(with = "Option<Level>")]
    pub consistency: Option<S<Level>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<S<String>>,
    #[serde(default)]
    pub read_repair: Option<bool>,
    #[serde(default)]
    pub sloppy: Option<bool>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub handoff_interval: Option<S<String>>,
    #[serde(default)]
    pub write_back: Option<bool>,
    /// `client` (default) or `coordinator`.
    #[serde(default)]
    pub timestamps: Option<Timestamps>,
    /// A deliberately broken variant, for exercises.
    #[serde(default)]
    pub bug: Option<Bug>,
}

fn ring_of(cluster: &Cluster) -> Vec<NodeId> {
    let mut ring: Vec<NodeId> = cluster.nodes().collect();
    ring.sort_by_key(|n| token(*n));
    ring
}

impl Configure for super::Quorum {
    type Raw = RawParams;
    const SUMMARY: &'static str = "every key on n replicas; reads wait for r replies, writes for w acks (one / quorum / all / local-quorum); read repair, sloppy quorum with hinted handoff";

    /// ABD (Attiya, Bar-Noy & Dolev): with r + w > n every read quorum
    /// meets every write quorum, and the write-back makes a read's value
    /// safe before it is returned; client-side timestamps follow real time
    /// (a write invoked after another completed has a greater version). A
    /// sloppy quorum or a per-region quorum gives the overlap up.
    fn promises_linearizability(p: &Params) -> bool {
        p.quorums_overlap() && p.write_back && p.timestamps == super::Timestamps::Client
    }

    fn configure(raw: RawParams, cx: &ParamContext<'_>) -> Result<Params, ScenarioError> {
        let nodes = cx.cluster.len();
        let n = raw.n.as_ref().map_or(nodes.min(3), |n| *n.get_ref());
        if n == 0 || n > nodes {
            let span = raw.n.as_ref().map_or(0..0, |n| n.span());
            return Err(
                cx.error(span, format!("n must be between 1 and the number of nodes ({nodes}), not {n}"))
            );
        }
        let level = raw.consistency.as_ref().map(|l| *l.get_ref());
        let majority = n / 2 + 1;
        let (mut r, mut w) = match level {
            None | Some(Level::Quorum) => (majority, majority),
            Some(Level::One) => (1, 1),
            Some(Level::All) => (n, n),
            Some(Level::LocalQuorum) => (0, 0), // counted per region at run time
        };
        let local = level == Some(Level::LocalQuorum);
        if local && cx.cluster.regions.len() < 2 {
            let span = raw.consistency.as_ref().expect("local-quorum was given").span();
            return Err(cx
                .error(span, "local-quorum needs regions")
                .with_help("declare them in [cluster] regions = { eu = [...], us = [...] }"));
        }
        if local {
            // n replicas in every region.
            for (i, region) in cx.cluster.regions.iter().enumerate() {
                let size = cx.cluster.region_of.iter().filter(|&&r| r as usize == i).count();
                if size < n {
                    let span = raw.consistency.as_ref().expect("local-quorum was given").span();
                    return Err(cx.error(
                        span,
                        format!("local-quorum keeps n = {n} replicas in every region, but region `{region}` has {size} nodes"),
                    ));
                }
            }
            if raw.sloppy == Some(true) {
                let span = raw.consistency.as_ref().expect("local-quorum was given").span();
                return Err(cx.error(span, "local-quorum and sloppy = true do not go together here"));
            }
        }
        for (name, given, slot) in [("r", &raw.r, &mut r), ("w", &raw.w, &mut w)] {
            if let Some(v) = given {
                if let Some(level) = &raw.consistency {
                    return Err(cx
                        .error(
                            v.span(),
                            format!(
                                "{name} is set by consistency = {:?}; remove one of the two",
                                level.get_ref()
                            ),
                        )
                        .with_help("a consistency level is a name for r and w"));
                }
                if *v.get_ref() == 0 || *v.get_ref() > n {
                    return Err(cx.error(
                        v.span(),
                        format!("{name} must be between 1 and n ({n}), not {}", v.get_ref()),
                    ));
                }
                *slot = *v.get_ref();
            }
        }
        let timeout = cx.duration_or(&raw.timeout, SimDuration::from_millis(100))?;
        if timeout.0 == 0 {
            return Err(
                cx.error(raw.timeout.as_ref().expect("given").span(), "timeout must be more than zero")
            );
        }
        let handoff_interval = cx.duration_or(&raw.handoff_interval, SimDuration::from_millis(100))?;
        if handoff_interval.0 == 0 {
            return Err(cx.error(
                raw.handoff_interval.as_ref().expect("given").span(),
                "handoff_interval must be more than zero",
            ));
        }
        Ok(Params {
            bug: raw.bug,
            timestamps: raw.timestamps.unwrap_or(Timestamps::Client),
            n,
            r,
            w,
            local,
            timeout,
            read_repair: raw.read_repair.unwrap_or(false),
            sloppy: raw.sloppy.unwrap_or(false),
            handoff_interval,
            write_back: raw.write_back.unwrap_or(false),
            ring: ring_of(cx.cluster),
            region_of: cx.cluster.region_of.clone(),
            regions: cx.cluster.regions.len() as u16,
        })
    }
}

/// What the quorum store promises, check by check (the book's quorum
/// chapter, "What it promises").
impl crate::protocols::Promises for super::Quorum {
    fn promise(p: &Params, _nodes: usize, check: &str) -> Result<(), &'static str> {
        match check {
            "fresh-reads" if p.sloppy => Err("a sloppy quorum writes to stand-ins a read quorum may miss"),
            "fresh-reads" if p.local => Err("a local quorum overlaps only within its own region"),
            "fresh-reads" if p.r + p.w <= p.n => Err("with r + w <= n a read quorum can miss the last write"),
            "fresh-reads" if p.timestamps != Timestamps::Client => {
                Err("coordinator timestamps follow skewed clocks, not real time")
            }
            "fresh-reads" => Ok(()),
            crate::protocols::LINEARIZABILITY => {
                Self::promise(p, _nodes, "fresh-reads").and(if p.write_back {
                    Ok(())
                } else {
                    Err("without the write-back (ABD) two reads can see a write in flight in either order")
                })
            }
            // Every coordination ends (at its deadline), and a stand-in
            // hands its hints back once the replica answers. Replicas are
            // not promised to converge: there is no anti-entropy, only
            // read repair.
            crate::protocols::LIVENESS => Ok(()),
            _ => Err("not a check of this protocol"),
        }
    }
}

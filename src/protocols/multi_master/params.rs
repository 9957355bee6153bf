//! The `[protocol]` table of `multi-master`.

use super::MultiMaster;
use crate::protocols::Configure;
use crate::scenario::{ParamContext, ScenarioError, raw::S};
use crate::time::SimDuration;
use serde::Deserialize;

/// How concurrent writes to one key are reconciled.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// Last-write-wins: the greatest `(timestamp, node)` stamp survives.
    Lww,
    /// The application's merge: carts are united, item by item.
    Merge,
    /// Version vectors detect concurrent writes; all are kept as siblings.
    VersionVector,
}

impl Resolution {
    /// As written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Resolution::Lww => "lww",
            Resolution::Merge => "merge",
            Resolution::VersionVector => "version-vector",
        }
    }
}

/// What a key holds.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Data {
    /// One value; clients read and write it.
    Register,
    /// A shopping cart; clients add items and read the cart.
    Cart,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Params {
    /// A deliberate bug (exercises), or none.
    pub bug: Option<Bug>,
    pub resolution: Resolution,
    pub data: Data,
    /// How often a node syncs its whole store with a random peer (zero:
    /// never).
    pub anti_entropy: SimDuration,
    /// Cart workload: items are `item0 .. item{items-1}`, drawn uniformly.
    pub items: u32,
    /// Cart workload: a cart-add puts `1..=max_qty` units, uniformly.
    pub max_qty: u32,
}

/// The most items and units a cart workload may use (carts travel whole in
/// every message).
pub const MAX_ITEMS: u32 = 1000;
pub const MAX_QTY: u32 = 1000;

#[derive(Deserialize, Default, Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MultiMasterParams")]
pub struct RawParams {
    /// `lww` (default), `merge` or `version-vector`.
    #[serde(default)]
    #[schemars(with = "Option<Resolution>")]
    pub resolution: Option<S<Resolution>>,
    /// `register` or `cart`; default `cart` under `merge`, `register`
    /// otherwise.
    #[serde(default)]
    #[schemars(with = "Option<Data>")]
    pub data: Option<S<Data>>,
    /// Default 200ms; "0" turns anti-entropy off.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub anti_entropy: Option<S<String>>,
    /// Cart data: how many distinct items (default 8).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub items: Option<S<u32>>,
    /// Cart data: the most units one cart-add puts (default 3).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub max_qty: Option<S<u32>>,
    /// A deliberately broken variant, for exercises.
    #[serde(default)]
    pub bug: Option<Bug>,
}

/// Deliberately broken variants, for exercises: find the bug with
/// `distlab check` (see `scenarios/multi-master/exercise-*.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    /// LWW: two writes stamped with the same clock reading are ordered by
    /// which arrived first, instead of by node id.
    TieByArrival,
}

impl Configure for MultiMaster {
    type Raw = RawParams;
    const SUMMARY: &'static str = "every node takes writes and replicates them asynchronously; conflicts resolved by last-write-wins on skewable clocks, a shopping-cart merge, or version vectors with siblings; anti-entropy";

    fn configure(raw: RawParams, cx: &ParamContext<'_>) -> Result<Params, ScenarioError> {
        let anti_entropy = cx.duration_or(&raw.anti_entropy, SimDuration::from_millis(200))?;
        if anti_entropy.0 > 0 && anti_entropy < SimDuration::from_millis(1) {
            return Err(cx.error(
                raw.anti_entropy.as_ref().expect("given").span(),
                "anti_entropy must be 0 or at least 1ms",
            ));
        }
        let resolution = raw.resolution.as_ref().map_or(Resolution::Lww, |r| *r.get_ref());
        let data = match (resolution, &raw.data) {
            (Resolution::Merge, None) => Data::Cart,
            (_, None) => Data::Register,
            (Resolution::Merge, Some(d)) if *d.get_ref() == Data::Register => {
                return Err(cx
                    .error(d.span(), "a register has no merge: resolution = \"merge\" merges shopping carts")
                    .with_help(
                        "use data = \"cart\" (the default under merge), or resolution = \"lww\" or \"version-vector\" for registers",
                    ));
            }
            (Resolution::VersionVector, Some(d)) if *d.get_ref() == Data::Cart => {
                return Err(cx
                    .error(d.span(), "version vectors here keep siblings of register values, not carts")
                    .with_help(
                        "carts reconcile with resolution = \"merge\"; use data = \"register\" with version-vector",
                    ));
            }
            (_, Some(d)) => *d.get_ref(),
        };
        let bounded = |given: &Option<S<u32>>, name: &str, default: u32, max: u32| {
            let Some(v) = given else { return Ok(default) };
            if data != Data::Cart {
                return Err(cx
                    .error(v.span(), format!("{name} sets the cart workload, but this store holds registers"))
                    .with_help(
                        "add data = \"cart\" (with resolution = \"lww\" or \"merge\"), or remove it",
                    ));
            }
            cx.within(given, name, 1..=max, default)
        };
        let items = bounded(&raw.items, "items", 8, MAX_ITEMS)?;
        let max_qty = bounded(&raw.max_qty, "max_qty", 3, MAX_QTY)?;
        Ok(Params { bug: raw.bug, resolution, data, anti_entropy, items, max_qty })
    }
}

/// What multi-master replication promises, check by check (the book's
/// multi-master chapter, "What it promises").
impl crate::protocols::Promises for MultiMaster {
    fn promise(p: &Params, _nodes: usize, check: &str) -> Result<(), &'static str> {
        let anti_entropy = p.anti_entropy.0 > 0;
        match check {
            "convergence" | "lww-greatest" | crate::protocols::LIVENESS if !anti_entropy => {
                Err("without anti-entropy a lost copy of a write is never sent again")
            }
            "convergence" | "lww-greatest" | crate::protocols::LIVENESS => Ok(()),
            "no-lost-updates" => Err("last-write-wins trusts clocks: a clock behind loses every race"),
            "concurrent-writes-kept" if p.resolution == Resolution::VersionVector => Ok(()),
            "concurrent-writes-kept" => Err("last-write-wins keeps one of two concurrent writes"),
            "no-lost-additions" if p.resolution == Resolution::Merge && anti_entropy => Ok(()),
            "no-lost-additions" if p.resolution == Resolution::Merge => {
                Err("without anti-entropy a lost copy of an addition is never sent again")
            }
            "no-lost-additions" => Err("a last-write-wins cart keeps one of two concurrent carts"),
            "cart-is-the-merge" if p.resolution == Resolution::Merge && anti_entropy => Ok(()),
            "cart-is-the-merge" if p.resolution == Resolution::Merge => {
                Err("without anti-entropy a lost copy of an addition is never sent again")
            }
            "cart-is-the-merge" => {
                Err("a last-write-wins cart keeps one of two concurrent carts, not their union")
            }
            crate::protocols::LINEARIZABILITY => {
                Err("every master accepts writes on its own and copies them later")
            }
            _ => Err("not a check of this protocol"),
        }
    }
}

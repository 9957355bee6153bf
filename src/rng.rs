//! Seeded randomness, keyed per entity.
//!
//! Every random draw in a run comes from one seed (design rule 1). Instead of
//! one generator shared by everything — where removing one message shifts
//! every later draw — each entity has its own *stream*: a node's protocol
//! RNG, a link's network faults, a client's workload, the nemesis. A stream
//! is a key derived from `(seed, kind, entity)` and a counter; draw `i` is
//! `mix(key + i·γ)`, the SplitMix64 construction (Steele, Lea & Flood,
//! "Fast splittable pseudorandom number generators", OOPSLA 2014). It is
//! counter-based, so a stream's whole state is two integers: cheap to clone
//! in snapshots, cheap to hash, and identical on every platform (integer
//! arithmetic only).
//!
//! Floating-point draws that need transcendental functions (normal,
//! exponential, log-normal latencies) use the `libm` crate, whose results are
//! the same on every machine, never the platform's `f64::ln`.

/// What a stream is for; part of its key so different kinds never collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum StreamKind {
    /// A node's own RNG, handed to its protocol through the context.
    Node = 1,
    /// One directed link's loss, duplication, reordering and latency draws.
    Link = 2,
    /// One client process slot's workload (keys, values, read/write mix).
    Client = 3,
    /// The random nemesis's choice of faults.
    Nemesis = 4,
    /// One node's service times (its capacity model).
    Service = 5,
    /// One open-loop `[[clients]]` entry's arrival times.
    Arrival = 6,
}

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output function: a bijective 64-bit mixer.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One independent random stream. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RngStream {
    key: u64,
    counter: u64,
}

impl RngStream {
    /// The stream of `kind` for entity `(a, b)` (a node id, a link's two
    /// ends, a client slot) under `seed`.
    pub fn new(seed: u64, kind: StreamKind, a: u64, b: u64) -> Self {
        let k = mix64(seed ^ mix64(kind as u64 ^ mix64(a.wrapping_mul(GAMMA) ^ mix64(b))));
        RngStream { key: k, counter: 0 }
    }

    /// How many draws this stream has made.
    pub fn position(&self) -> u64 {
        self.counter
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        mix64(self.key.wrapping_add(self.counter.wrapping_mul(GAMMA)))
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, n)`; `n` must be positive. Lemire's
    /// multiply-shift (the tiny bias at 2^64 scale does not matter here).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "below(0) has no values to draw from");
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability `p`. Draws nothing when `p` is 0 or 1, so a link
    /// with no loss configured consumes no randomness for loss.
    #[inline]
    pub fn chance(&mut self, p: Probability) -> bool {
        match p.0 {
            0 => false,
            u64::MAX => true,
            t => self.next_u64() < t,
        }
    }

    /// A standard normal draw (Box–Muller, portable `libm` functions).
    pub fn standard_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1], so ln is finite
        let u2 = self.unit();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
    }

    /// An exponential draw with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * libm::log(1.0 - self.unit())
    }
}

/// A probability stored as a 64-bit threshold, so it is exact, hashable and
/// compared with integers only. `0` never happens; `u64::MAX` always does.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Probability(u64);

impl Probability {
    pub const NEVER: Probability = Probability(0);
    pub const ALWAYS: Probability = Probability(u64::MAX);

    /// `p` must lie in `[0, 1]`; the scenario loader checks that first.
    pub fn new(p: f64) -> Probability {
        if p <= 0.0 {
            Probability::NEVER
        } else if p >= 1.0 {
            Probability::ALWAYS
        } else {
            Probability((p * 18_446_744_073_709_551_616.0) as u64)
        }
    }
    pub fn as_f64(self) -> f64 {
        match self.0 {
            u64::MAX => 1.0,
            t => t as f64 / 18_446_744_073_709_551_616.0,
        }
    }
    pub fn is_never(self) -> bool {
        self.0 == 0
    }
    /// Whether the outcome is not settled in advance (`p` is neither 0 nor
    /// 1): the one case where a chance is a choice.
    pub fn is_uncertain(self) -> bool {
        self.0 != 0 && self.0 != u64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams of different entities are different; the same entity's stream
    /// is the same every time (the determinism the shrinker relies on).
    #[test]
    fn streams_are_keyed_and_reproducible() {
        let mut a = RngStream::new(7, StreamKind::Link, 1, 2);
        let mut b = RngStream::new(7, StreamKind::Link, 2, 1);
        let mut a2 = RngStream::new(7, StreamKind::Link, 1, 2);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let xs2: Vec<u64> = (0..8).map(|_| a2.next_u64()).collect();
        assert_eq!(xs, xs2);
        assert_ne!(xs, ys);
        // Pinned values: a change here changes every digest ever recorded.
        assert_eq!(RngStream::new(1, StreamKind::Node, 0, 0).next_u64(), 0x275f_2ae7_91fe_f8a1);
    }

    /// Probabilities hit about as often as they say, and the extremes draw
    /// nothing.
    #[test]
    fn chance_matches_probability() {
        let mut s = RngStream::new(3, StreamKind::Client, 0, 0);
        let hits = (0..100_000).filter(|_| s.chance(Probability::new(0.25))).count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
        let before = s.position();
        assert!(!s.chance(Probability::NEVER));
        assert!(s.chance(Probability::ALWAYS));
        assert_eq!(s.position(), before);
    }
}

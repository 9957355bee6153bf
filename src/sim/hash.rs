//! Canonical hashing: the trace digest and the state hash.
//!
//! Both are XXH3-128 (a specified, portable hash; see the `xxhash-rust`
//! crate) over a canonical byte encoding: fixed-width little-endian integers,
//! lengths before sequences, no `Debug` strings, never `DefaultHasher` (whose
//! algorithm is allowed to change). The encoding is versioned by
//! [`DIGEST_VERSION`]: change the encoding, bump the version.
//!
//! The trace digest hashes each event's fixed fields and, for a message or
//! a fault, a payload hash over serde's data model ([`super::canon`]),
//! which depends on no compiler's `Hash` derive (v2; v1 fed derived
//! `Hash` impls, whose byte stream std does not promise to keep). The
//! state hash, used in memory only (rewind, snapshots), still uses
//! [`StableHasher`] over derived `Hash`.

use std::hash::Hasher;
use xxhash_rust::xxh3::Xxh3;

/// Names the hash function and the event encoding. Printed with digests.
pub const DIGEST_VERSION: &str = "xxh3-128/v2";

/// A `std::hash::Hasher` that feeds a canonical little-endian encoding into
/// XXH3-128. Deriving `Hash` on a type and feeding it here gives a portable
/// hash: integer widths are fixed (`usize` is widened to 64 bits), and
/// `BTreeMap`s and `Vec`s hash in their defined order.
#[derive(Clone)]
pub struct StableHasher(Xxh3);

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(Xxh3::new())
    }
}

impl StableHasher {
    pub fn new() -> Self {
        Self::default()
    }
    /// The 128-bit result.
    pub fn finish128(&self) -> u128 {
        self.0.digest128()
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.0.digest()
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn write_u8(&mut self, i: u8) {
        self.0.update(&[i]);
    }
    fn write_u16(&mut self, i: u16) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_u32(&mut self, i: u32) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_u64(&mut self, i: u64) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_u128(&mut self, i: u128) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_usize(&mut self, i: usize) {
        self.0.update(&(i as u64).to_le_bytes());
    }
    fn write_i64(&mut self, i: i64) {
        self.0.update(&i.to_le_bytes());
    }
    fn write_isize(&mut self, i: isize) {
        self.0.update(&(i as i64).to_le_bytes());
    }
}

/// A 128-bit digest printed as 32 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub u128);

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Hashes any `Hash` value canonically.
pub fn stable_hash<T: std::hash::Hash + ?Sized>(value: &T) -> Digest {
    let mut h = StableHasher::new();
    value.hash(&mut h);
    Digest(h.finish128())
}

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
pub type StableHasher = Canonical<Xxh3>;

/// The same encoding gathered in a buffer and hashed in one pass at the
/// end: the same digest as [`StableHasher`] over the same writes, faster
/// for a value of a few kilobytes written in many small pieces (XXH3's
/// streaming state copies every piece; one pass over a buffer does not).
/// For one value at a time, not a stream that grows with the run.
pub type BufferedHasher = Canonical<Vec<u8>>;

/// The canonical encoding, fed to `S`: XXH3's streaming state, or a
/// buffer hashed at the end.
#[derive(Clone)]
pub struct Canonical<S>(S);

/// Where [`Canonical`] puts its bytes.
pub trait Sink {
    fn update(&mut self, bytes: &[u8]);
    fn digest64(&self) -> u64;
    fn digest128(&self) -> u128;
}

impl Sink for Xxh3 {
    fn update(&mut self, bytes: &[u8]) {
        Xxh3::update(self, bytes);
    }
    fn digest64(&self) -> u64 {
        Xxh3::digest(self)
    }
    fn digest128(&self) -> u128 {
        Xxh3::digest128(self)
    }
}

impl Sink for Vec<u8> {
    fn update(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn digest64(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self)
    }
    fn digest128(&self) -> u128 {
        xxhash_rust::xxh3::xxh3_128(self)
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        Canonical(Xxh3::new())
    }
}

impl StableHasher {
    pub fn new() -> Self {
        Self::default()
    }
}

impl BufferedHasher {
    /// A hasher writing into `buffer` (emptied first), to reuse its
    /// allocation: [`BufferedHasher::into_buffer`] gives it back.
    pub fn with_buffer(mut buffer: Vec<u8>) -> Self {
        buffer.clear();
        Canonical(buffer)
    }
    pub fn into_buffer(self) -> Vec<u8> {
        self.0
    }
}

impl<S: Sink> Canonical<S> {
    /// The 128-bit result.
    pub fn finish128(&self) -> u128 {
        self.0.digest128()
    }
}

impl<S: Sink> Hasher for Canonical<S> {
    fn finish(&self) -> u64 {
        self.0.digest64()
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
/// ([`StableHasher`]'s digest, computed over a buffer: [`buffered`].)
pub fn stable_hash<T: std::hash::Hash + ?Sized>(value: &T) -> Digest {
    buffered(|h| value.hash(h))
}

/// The digest of what `write` feeds a [`BufferedHasher`] whose buffer this
/// thread keeps from call to call.
pub fn buffered(write: impl FnOnce(&mut BufferedHasher)) -> Digest {
    thread_local! {
        static BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    }
    // Taken, not borrowed: a `Hash` impl that hashes something on its own
    // (a cached digest) finds the cell empty and starts a buffer of its own.
    let mut h = BufferedHasher::with_buffer(BUFFER.take());
    write(&mut h);
    let digest = Digest(h.finish128());
    let buffer = h.into_buffer();
    // Keep a buffer of a usual size, not one a huge value left behind.
    if buffer.capacity() <= 1 << 16 {
        BUFFER.set(buffer);
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    /// The buffered hasher gives the streaming hasher's digests, short
    /// and long (past XXH3's 240-byte and stripe boundaries).
    #[test]
    fn buffered_and_streaming_hashers_agree() {
        for n in [0usize, 1, 3, 16, 17, 128, 129, 240, 241, 1000, 5000] {
            let value: Vec<(u8, u64, String)> =
                (0..n).map(|i| (i as u8, i as u64 * 7, "x".repeat(i % 5))).collect();
            let mut streaming = StableHasher::new();
            value.hash(&mut streaming);
            let mut buffered = BufferedHasher::with_buffer(vec![1, 2, 3]);
            value.hash(&mut buffered);
            assert_eq!(streaming.finish128(), buffered.finish128(), "{n} entries");
            assert_eq!(streaming.finish(), buffered.finish(), "{n} entries");
            assert_eq!(stable_hash(&value).0, streaming.finish128(), "{n} entries");
        }
    }
}

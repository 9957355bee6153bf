//! Small helpers: for reports, number formatting and making text read from
//! a file safe to print; for the simulator's hot paths, a hash table with a
//! fixed layout ([`IdMap`]) and the copy-on-write pointer its snapshots
//! share state through (`CowArc`, changed with `make_mut`).
//!
//! A scenario file (or a trace, or a file name) may come from anyone: a
//! downloaded lesson could put terminal escape sequences in its name or its
//! notes to retitle the terminal, clear it and print a fake "all checks
//! hold". So text from a file reaches the terminal only through
//! [`escape`] or [`escape_text`], which show every control character as a
//! visible escape (`ESC` as `\x1b`) instead of sending it. The scenario
//! loader applies them once (a loaded [`crate::scenario::Scenario`] and
//! every [`crate::scenario::ScenarioError`] hold printable text only), and
//! the commands apply them to what they print from elsewhere (file names,
//! gauge names from a trace).

use std::borrow::Cow;
use std::fmt::Write as _;

/// The text a panic carried.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the simulation panicked".into())
}

/// A memory figure of this process from `/proc/self/status`, in bytes:
/// `VmRSS` (resident now) or `VmHWM` (the peak). `None` where there is no
/// such file (off Linux).
pub fn process_memory(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Formats a number without a trailing `.0` for whole values.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// True for the characters a terminal may act on rather than show: the C0
/// and C1 control characters and DEL (`char::is_control`), and the Unicode
/// bidirectional overrides and isolates, which reorder what is shown
/// (text that reads differently from what it is).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// One line of text from a file, safe to print: every control character
/// (newlines and tabs too) is shown as an escape: `\n`, `\t`, `\r`, `\x1b`
/// for the other ASCII ones, `\u{9b}` beyond ASCII. Idempotent (the
/// result has nothing left to escape); borrows when there is nothing to do.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_with(text, |_| false)
}

/// Prose from a file (a description, a note), safe to print: like
/// [`escape`], but line breaks and tabs are kept as they are.
pub fn escape_text(text: &str) -> Cow<'_, str> {
    escape_with(text, |c| c == '\n' || c == '\t')
}

fn escape_with(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe_char(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if keep(c) || !is_unsafe_char(c) {
            out.push(c);
        } else {
            push_escaped(&mut out, c);
        }
    }
    Cow::Owned(out)
}

/// Appends the visible form of an unsafe character.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// The visible form of one character: itself when safe, else its escape
/// (as [`escape`] writes it).
pub fn escape_char(c: char) -> Cow<'static, str> {
    if is_unsafe_char(c) {
        let mut s = String::new();
        push_escaped(&mut s, c);
        Cow::Owned(s)
    } else {
        Cow::Owned(c.to_string())
    }
}

/// At most `max_chars` characters of `text`: longer text keeps its start
/// and ends with `…`. For echoing a value from a file in a message (a
/// 10 MB value is shown by its first characters).
pub fn clip(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((end, _)) => {
            // Leave room for the ellipsis within max_chars.
            let keep = text.char_indices().nth(max_chars.saturating_sub(1)).map_or(end, |(i, _)| i);
            Cow::Owned(format!("{}…", &text[..keep]))
        }
    }
}

/// Greedy word wrap to `width` columns (counting chars; the text shown is
/// mostly ASCII).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split_whitespace() {
            let (lw, ww) = (line.chars().count(), word.chars().count());
            if lw > 0 && lw + 1 + ww > width {
                out.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            if ww > width {
                // A word longer than the line: cut it.
                let mut chars: Vec<char> = word.chars().collect();
                while chars.len() > width {
                    let rest = chars.split_off(width);
                    out.push(chars.iter().collect());
                    chars = rest;
                }
                line.extend(chars);
            } else {
                line.push_str(word);
            }
        }
        out.push(line);
    }
    out
}

/// `f` over `items` on `jobs` threads; results in the items' order, so
/// they never depend on the number of threads. `progress` is told how many
/// are done after each one.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    progress: &(dyn Fn(usize) + Sync),
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let results: std::sync::Mutex<Vec<Option<R>>> =
        std::sync::Mutex::new(std::iter::repeat_with(|| None).take(items.len()).collect());
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().expect("no worker panics while holding the lock")[i] = Some(r);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("workers have finished")
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn wrap_breaks_at_words_and_cuts_long_ones() {
        use super::wrap;
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("one\n\ntwo", 10), vec!["one", "", "two"]);
    }

    use super::*;

    /// Terminal escape sequences come out as visible text with no control
    /// character left; plain text is borrowed unchanged.
    #[test]
    fn escapes_controls_visibly() {
        let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2J all checks hold\r\n\u{9b}31m\u{202e}gpj.exe\u{7f}";
        let shown = escape(hostile);
        assert_eq!(shown, "\\x1b]0;pwned\\x07\\x1b[2J all checks hold\\r\\n\\u{9b}31m\\u{202e}gpj.exe\\x7f");
        assert!(!shown.chars().any(is_unsafe_char));
        assert_eq!(escape(&shown), shown, "idempotent");
        assert!(matches!(escape("plain · µs — ok"), Cow::Borrowed(_)));
        assert_eq!(escape_text("two\nlines\tand \u{1b}[2J"), "two\nlines\tand \\x1b[2J");
        assert_eq!(escape_char('\u{1b}'), "\\x1b");
        assert_eq!(escape_char('é'), "é");
    }

    /// Clipping keeps at most the asked number of characters, counting the
    /// ellipsis, and never splits a character.
    #[test]
    fn clips_long_text() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("exactly10!", 10), "exactly10!");
        assert_eq!(clip("µµµµµµµµµµµµ", 5), "µµµµ…");
        assert_eq!(clip(&"x".repeat(10_000_000), 8).chars().count(), 8);
    }
}

/// Serde helpers for JSON output: a float holding a whole number is
/// written as an integer (`3`, not `3.0`). Metrics are counted in floats
/// inside; a script reading `--json` should see counts as integers.
pub mod whole {
    use serde::{Serialize, Serializer};

    /// The largest magnitude written as an integer (beyond it a float's
    /// whole value may not be exact).
    const EXACT: f64 = 9_007_199_254_740_992.0;

    fn write<S: Serializer>(x: f64, s: S) -> Result<S::Ok, S::Error> {
        if x.fract() == 0.0 && x.abs() <= EXACT { s.serialize_i64(x as i64) } else { s.serialize_f64(x) }
    }

    /// For a `f64` field: `#[serde(serialize_with = "crate::util::whole::number")]`.
    pub fn number<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        write(*x, s)
    }

    /// For an `Option<f64>` field.
    pub fn option<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(x) => s.serialize_some(&Whole(*x)),
            None => s.serialize_none(),
        }
    }

    /// For a map of names to `f64`.
    pub fn map<S: Serializer, K: Serialize>(
        m: &std::collections::BTreeMap<K, f64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k, Whole(*v))))
    }

    struct Whole(f64);

    impl Serialize for Whole {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            write(self.0, s)
        }
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Serialize)]
        struct T {
            #[serde(serialize_with = "super::number")]
            a: f64,
            #[serde(serialize_with = "super::option")]
            b: Option<f64>,
            #[serde(serialize_with = "super::map")]
            c: std::collections::BTreeMap<&'static str, f64>,
        }

        #[test]
        fn whole_floats_are_integers_and_the_rest_stay_floats() {
            let t = T { a: 3.0, b: Some(0.25), c: [("n", 400.0), ("r", 1.5), ("x", f64::NAN)].into() };
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, r#"{"a":3,"b":0.25,"c":{"n":400,"r":1.5,"x":null}}"#);
        }
    }
}

/// `n` and a noun, singular for one: `1 key`, `3 keys`. `noun` takes an
/// `s` for the plural; see [`count_as`] for the others.
pub fn count(n: impl TryInto<u64>, noun: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// `n` and a noun with an irregular plural: `1 process`, `2 processes`.
pub fn count_as(n: impl TryInto<u64>, singular: &str, plural: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    if n == 1 { format!("1 {singular}") } else { format!("{n} {plural}") }
}

#[cfg(test)]
mod count_tests {
    #[test]
    fn one_is_singular() {
        assert_eq!(super::count(1u32, "key"), "1 key");
        assert_eq!(super::count(0u32, "key"), "0 keys");
        assert_eq!(super::count(3usize, "seed"), "3 seeds");
        assert_eq!(super::count_as(1u8, "process", "processes"), "1 process");
        assert_eq!(super::count_as(2u64, "process", "processes"), "2 processes");
    }
}

/// A map kept as one vector sorted by key: for the small maps a checker or
/// a snapshot copies often. A `BTreeMap` with a single entry allocates a
/// whole node (eleven slots); this allocates what it holds, and a copy is
/// one allocation. Lookups are binary searches; an insert or a removal
/// moves the entries after it, so it suits maps of a few hundred entries
/// at most, or ones filled mostly in key order. Its `Debug` form is a
/// `BTreeMap`'s.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap { entries: Vec::new() }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key))
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }
    /// Inserts `value` at `key`, returning the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }
    /// The value at `key`, inserting `value` first if there is none (a
    /// `BTreeMap`'s `entry(key).or_insert(value)`).
    pub fn or_insert(&mut self, key: K, value: V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (key, value));
                i
            }
        };
        &mut self.entries[i].1
    }
    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.entries.iter().map(|(k, v)| (k, v))).finish()
    }
}

#[cfg(test)]
mod vec_map_tests {
    use super::VecMap;
    use std::collections::BTreeMap;

    /// Random inserts, removals and lookups agree with a `BTreeMap`, and so
    /// do the order of its entries and its `Debug` form.
    #[test]
    fn a_vec_map_behaves_as_a_btree_map() {
        let (mut ours, mut model) = (VecMap::default(), BTreeMap::new());
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = x % 64;
            match x % 5 {
                0 | 1 => assert_eq!(ours.insert(key, step), model.insert(key, step)),
                2 => assert_eq!(ours.remove(&key), model.remove(&key)),
                3 => assert_eq!(*ours.or_insert(key, step), *model.entry(key).or_insert(step)),
                _ => {
                    if let (Some(a), Some(b)) = (ours.get_mut(&key), model.get_mut(&key)) {
                        *a += 1;
                        *b += 1;
                    }
                }
            }
            assert_eq!(ours.get(&key), model.get(&key));
            assert_eq!(ours.contains_key(&key), model.contains_key(&key));
            assert_eq!(ours.len(), model.len());
        }
        assert!(ours.iter().eq(model.iter()));
        assert_eq!(format!("{ours:?}"), format!("{model:?}"));
        assert_eq!(format!("{:#?}", ours), format!("{:#?}", model));
    }
}

/// The pointer through which copies of the simulated state (a snapshot,
/// the explorer's frontier, the TUI's tape) share what the run changes:
/// each node and client process, the checker, each node's disk, two-phase
/// commit's checker records, a replicated log's chunks. A change goes
/// through [`make_mut`], which copies it first if anything else holds it.
///
/// `triomphe`'s `Arc`: it has no weak references, so whether this is the
/// only reference is a read of the count. Std's `Arc::make_mut` takes a
/// locked compare-and-swap instead, to hold off a weak reference being
/// upgraded while it looks, and a run changes a node on every event.
pub(crate) type CowArc<T> = triomphe::Arc<T>;

/// The value, to change: copied first if anything else holds it. The test
/// is inlined (the count read and compared, twice: the second read cannot
/// fail, as nothing else holds it by then); the copy, which only a search
/// or the TUI's tape makes, is a call out of line, so a run's handlers
/// carry no copy of the state's clone.
#[inline(always)]
pub(crate) fn make_mut<T: Clone>(arc: &mut CowArc<T>) -> &mut T {
    if !arc.is_unique() {
        copy_out(arc);
    }
    CowArc::get_mut(arc).unwrap_or_else(|| unreachable!("a copy of its own is held only here"))
}

/// Replaces what `arc` points at with a copy of its own.
#[cold]
#[inline(never)]
fn copy_out<T: Clone>(arc: &mut CowArc<T>) {
    *arc = CowArc::new(T::clone(arc));
}

#[cfg(test)]
mod cow_tests {
    use super::{CowArc, make_mut};

    /// A change copies what another holds, and changes in place what
    /// nothing else holds.
    #[test]
    fn make_mut_copies_only_what_is_shared() {
        let mut live = CowArc::new(vec![1]);
        let snapshot = live.clone();
        make_mut(&mut live).push(2);
        assert!(!CowArc::ptr_eq(&live, &snapshot), "shared: copied");
        assert_eq!(*live, vec![1, 2]);
        assert_eq!(*snapshot, vec![1], "the other holder sees no change");
        let before = CowArc::as_ptr(&live);
        make_mut(&mut live).push(3);
        assert_eq!(CowArc::as_ptr(&live), before, "its own: changed in place");
        drop(snapshot);
        assert_eq!(*live, vec![1, 2, 3]);
    }
}

/// A map looked up on nearly every event, by a key with no order the
/// lookups need (a saga's or a transaction's id): a hash table, where a
/// `BTreeMap` of a few thousand entries walks a dozen nodes per lookup.
/// Its hasher ([`IdHasher`]) is fixed, so the table is laid out the same
/// in every run; even so nothing may read it in the table's order, which
/// depends on the order entries came and went: [`IdMap::in_order`] gives
/// them by key, [`IdMap::values_any_order`] only for sums and counts, and
/// its `Debug` form (what `--checker-state` hashes) is a `BTreeMap`'s.
#[derive(Clone)]
pub struct IdMap<K, V>(std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>);

/// The hasher of [`IdMap`]: ids close together (the ids a run hands out
/// one after another) land in buckets close together, so a table that
/// takes new ids and drops old ones touches a few cache lines at its two
/// ends instead of one anywhere per id. Ids are placed by blocks of
/// 64 (2^`ID_BLOCK_BITS`): consecutive within a block, each block at an
/// offset of its own (a full hash of the block's number), so ids a block
/// or more apart spread as a plain hash spreads them, and no stride of
/// ids, however regular, piles up in one place. The top seven bits, which
/// the table compares before it compares keys, are a multiplicative hash
/// of the id. A key of several ids (a log position: epoch, index) is
/// folded into one (`epoch·φ + index`), so consecutive last ids still sit
/// side by side.
#[derive(Clone, Copy, Default)]
pub struct IdHasher(u64);

/// How many consecutive ids [`IdHasher`] keeps side by side, as a power
/// of two.
const ID_BLOCK_BITS: u32 = 6;

/// Fibonacci hashing's multiplier, 2^64 / φ.
const PHI: u64 = 0x9E37_79B9_7F4A_7C15;

/// A full 64-bit hash of `z`: SplitMix64's finalizer.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl std::hash::Hasher for IdHasher {
    #[inline(always)]
    fn write_u64(&mut self, id: u64) {
        self.0 = self.0.wrapping_mul(PHI).wrapping_add(id);
    }
    #[inline(always)]
    fn write_u32(&mut self, id: u32) {
        self.write_u64(u64::from(id));
    }
    #[inline(always)]
    fn write_usize(&mut self, id: usize) {
        self.write_u64(id as u64);
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline(always)]
    fn finish(&self) -> u64 {
        let id = self.0;
        let place = id.wrapping_add(mix(id >> ID_BLOCK_BITS));
        let tag = !(u64::MAX >> 7);
        (place & !tag) | (id.wrapping_mul(PHI) & tag)
    }
}

impl<K, V> Default for IdMap<K, V> {
    fn default() -> Self {
        IdMap(std::collections::HashMap::default())
    }
}

impl<K: Eq + std::hash::Hash + Ord, V> IdMap<K, V> {
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, key: &K) -> Option<&V> {
        self.0.get(key)
    }
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.0.get_mut(key)
    }
    pub fn contains_key(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.0.remove(key)
    }
    /// Inserts `value` at `key`, returning the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.0.insert(key, value)
    }
    /// Keeps the entries `keep` says to (it must not depend on the order
    /// it is asked in).
    pub fn retain(&mut self, keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain(keep)
    }
    pub fn entry(&mut self, key: K) -> std::collections::hash_map::Entry<'_, K, V> {
        self.0.entry(key)
    }
    /// The entries in key order.
    pub fn in_order(&self) -> Vec<(&K, &V)> {
        let mut entries: Vec<_> = self.0.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        entries
    }
    /// The values in the table's order: for what does not depend on order
    /// (counts, sums of integers), never for what is shown or compared.
    pub fn values_any_order(&self) -> impl Iterator<Item = &V> {
        self.0.values()
    }
    /// The entries in the table's order, under the same rule.
    pub fn iter_any_order(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter()
    }
}

impl<K: Eq + std::hash::Hash + Ord, V> std::ops::Index<&K> for IdMap<K, V> {
    type Output = V;
    fn index(&self, key: &K) -> &V {
        self.0.get(key).expect("no entry for the key")
    }
}

impl<K: Eq + std::hash::Hash + Ord + std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for IdMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.in_order()).finish()
    }
}

#[cfg(test)]
mod id_map_tests {
    use super::{IdHasher, IdMap};
    use std::collections::BTreeMap;

    /// However entries came and went, `in_order` and `Debug` give them by
    /// key, as a `BTreeMap` does.
    #[test]
    fn order_is_the_keys_not_the_history() {
        let (mut a, mut b) = (IdMap::default(), IdMap::default());
        let mut model = BTreeMap::new();
        for i in 0..2000u64 {
            a.entry(i * 7919 % 4001).or_insert(i);
            model.entry(i * 7919 % 4001).or_insert(i);
        }
        for i in (0..2000u64).rev() {
            b.entry(i * 7919 % 4001).or_insert(i);
        }
        for k in (0..4001).step_by(3) {
            a.remove(&k);
            b.remove(&k);
            model.remove(&k);
        }
        let keys = |m: &IdMap<u64, u64>| m.in_order().into_iter().map(|(k, _)| *k).collect::<Vec<_>>();
        assert_eq!(keys(&a), model.keys().copied().collect::<Vec<_>>());
        assert_eq!(keys(&a), keys(&b));
        assert_eq!(format!("{a:?}"), format!("{model:?}"));
        assert_eq!(a.len(), model.len());
        assert_eq!(a[&3835], 2, "(2 × 7919) mod 4001 went in second");
    }

    /// Where a table of `buckets` (a power of two) puts each key: the
    /// most keys that fall in one group of sixteen buckets (the table
    /// probes a group at a time).
    fn fullest_group<K: std::hash::Hash>(keys: impl Iterator<Item = K>, buckets: usize) -> usize {
        use std::hash::BuildHasher;
        let hasher = std::hash::BuildHasherDefault::<IdHasher>::default();
        let mut groups = vec![0; buckets / 16];
        for k in keys {
            groups[(hasher.hash_one(k) as usize & (buckets - 1)) / 16] += 1;
        }
        groups.into_iter().max().unwrap_or(0)
    }

    /// Consecutive ids sit side by side, and no pattern of ids piles up
    /// in one place: filled to seven eighths (as full as the table gets),
    /// no group of sixteen buckets is asked to hold more than a few
    /// blocks' worth, whatever the stride — where a hash that kept the
    /// ids' low bits as they are would put every id of a stride of 2^32
    /// in one bucket. A plain random hash's fullest group here holds
    /// about 30.
    #[test]
    fn ids_are_placed_together_and_spread_by_blocks() {
        use std::hash::BuildHasher;
        let hasher = std::hash::BuildHasherDefault::<IdHasher>::default();
        let place = |id: u64| hasher.hash_one(id) & (u64::MAX >> 7);
        for id in 0..64u64 {
            assert_eq!(place(id), place(0) + id, "a block of ids is consecutive");
        }
        let tags: std::collections::BTreeSet<u64> = (0..16u64).map(|id| hasher.hash_one(id) >> 57).collect();
        assert!(tags.len() >= 12, "neighbours differ in the bits compared first: {tags:?}");
        let buckets = 1 << 16;
        let n = buckets * 7 / 8;
        for stride in [1u64, 2, 3, 7, 16, 64, 65, 1000, 1024, 4096, 1 << 20, 1 << 32, (1 << 32) + 1, 3 << 40]
        {
            let fullest = fullest_group((0..n as u64).map(|i| i.wrapping_mul(stride)), buckets);
            assert!(fullest <= 96, "stride {stride}: {fullest} keys in one group");
        }
        let per_client = (0..n as u64).map(|i| ((i % 16) << 32) | (i / 16));
        assert!(fullest_group(per_client, buckets) <= 96, "ids numbered per client");
        let positions = (0..n as u64).map(|i| (i % 3, i));
        assert!(fullest_group(positions, buckets) <= 96, "log positions (epoch, index)");
    }
}

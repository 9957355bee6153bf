//! `distlab explore`: search every interleaving of a lesson within bounds.
//!
//! The explorer runs on the simulator itself. A state is a snapshot of a
//! run ([`Driver::snapshot`]); its successors are the run after one of
//! these moves:
//!
//! - `step`: the next event as the seeded run would take it (a timer, a
//!   client's next operation, a scripted fault, or the earliest delivery);
//! - `deliver M`: message M in flight delivered next, ahead of everything
//!   else (the intervention `deliver-next`, then one step) — except the
//!   message `step` delivers anyway (the next event, due now): that move
//!   would lead to `step`'s state, so it is not made (`left_to_step`);
//! - `drop M`, `duplicate M`: within `--drops` / `--duplicates`;
//! - `crash N` (within `--crashes`), and `restart N` for a node that is down;
//! - for `step` and `deliver M`, each other way the step's own choices can
//!   go (`Context::choose`, `Context::chance`; the intervention `choose`,
//!   then the move): the move is made with the seed's choices first, and
//!   its step records the choices it made ([`Driver::choices_made`]); for
//!   each, each other option — the choices before it kept — is a move of
//!   its own, whose later choices branch in turn (`successors`). Choices
//!   among more than [`Bounds::choices`] options follow the seed
//!   ([`Outcome::seeded_choices`]).
//!
//! States are deduplicated by the model fingerprint ([`Driver::fingerprint`],
//! 128 bits: everything a state's future depends on, so two states merged
//! have the same successors, and a complete search covers the same states
//! breadth or depth first) and the fault budget used so far, hashed
//! together into one 128-bit key (two different states of a search of n
//! states collide with probability about n²/2¹²⁹, 10⁻²⁵ for ten million)
//! — and, with `--checker-state` ([`Bounds::checker_state`]), by a digest
//! of the checker's state too, so two ways to one model state whose
//! checkers heard different things are not merged. Every check of the
//! protocol's checker is evaluated on every new state: a check that no
//! longer holds is a violation. Because every move is an intervention the
//! simulator itself makes, keyed by step, a path is saved as a scenario
//! whose step-keyed `[[timeline]]` entries replay it exactly in
//! `distlab run` and `distlab tui`.
//!
//! A snapshot is cheap to take and restore: the simulator keeps every
//! node, every client process and the checker behind an `Arc`, and the
//! pending events in shared chunks of four, so a move copies only what it
//! changes; of the queue a snapshot keeps only the order, four bytes an
//! event (`EventHeap::order`). A state waiting to be expanded is not a
//! snapshot of its own: it is its parent's snapshot, shared with its
//! siblings, and the move from there, made again when the state is
//! expanded. So the frontier
//! holds one snapshot per parent rather than one per state (a move costs
//! less time than a snapshot per state costs memory), and the seen-set
//! holds one 128-bit key per state. A path keeps only its moves; the path
//! reported is replayed once from the root for its words and
//! interventions.
//!
//! `--jobs N` ([`explore_parallel`]) searches breadth first on N threads,
//! a level at a time, with a shared seen-set, and finds the same states
//! and the same shortest counterexample as one thread.
//!
//! What is not covered: timers fire only in the order of their deadlines
//! relative to `step` (a timer cannot overtake an earlier timer), message
//! latencies are the seeded network's (any message can be delivered
//! early, but `step` delivers in the seeded order), choices among more
//! than `--choices` options, the clients' draws and a recovering node's
//! choices follow the seed, and states past the lesson's duration are not
//! expanded. Checks judged at the end of a run
//! (`at_end`, such as `convergence`) are judged on quiescent states (no
//! message in flight, no operation open) and at the lesson's duration;
//! checks the lesson marks `graded = false` are not judged. The verdict says when a bound cut
//! the search short.

use crate::nodes::NodeId;
use crate::sim::{Driver, Fault, MAX_CHOICES, NodeStatus, Origin, SimTime, Snapshot, TimedFault};
mod parallel;

pub use parallel::explore_parallel;

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

/// Search order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Breadth first: the first violation found is on a shortest path.
    Bfs,
    /// Depth first: less memory, longer paths.
    Dfs,
}

/// The bounds of a search.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// Longest path, in moves.
    pub depth: usize,
    /// Stop after this many unique states.
    pub max_states: u64,
    pub drops: u8,
    pub duplicates: u8,
    pub crashes: u8,
    /// States at or past this time are not expanded (the lesson's duration).
    pub until: SimTime,
    pub order: Order,
    /// Checks judged only at the end of a run (`CheckInfo::at_end`): they
    /// are evaluated on terminal states only (nothing left to happen, or
    /// the lesson's duration reached).
    pub at_end: Vec<String>,
    /// Checks the lesson does not grade (`graded = false`): never a violation.
    pub ungraded: Vec<String>,
    /// Two states are one only if their checkers' states are equal too
    /// ([`Driver::checker_digest`]), not just their model states.
    pub checker_state: bool,
    /// A step's nondeterministic choices among at most this many options
    /// (`Context::choose`, and `Context::chance` as two) are branched on:
    /// every option is a successor of its own. A choice among more follows
    /// the seed, and the outcome says so ([`Outcome::seeded_choices`]).
    pub choices: u64,
    /// Stop when the process holds more than this many bytes resident
    /// (looked at every [`MEMORY_EVERY`] unique states; Linux only —
    /// elsewhere the bound is not enforced). The one bound that depends
    /// on the machine: where it stops varies from run to run, and the
    /// verdict then says the search is incomplete.
    pub max_memory: Option<u64>,
}

/// How often (in unique states) the search looks at its memory.
pub const MEMORY_EVERY: u64 = 1024;

impl Bounds {
    /// Whether the process now holds more memory than `--max-memory`.
    fn over_memory(&self) -> bool {
        self.max_memory.is_some_and(|max| crate::util::process_memory("VmRSS").is_some_and(|rss| rss > max))
    }
}

impl Bounds {
    /// Whether the check `name` is an invariant here, on a state that is
    /// `terminal` or not.
    fn judged(&self, name: &str, terminal: bool) -> bool {
        !self.ungraded.iter().any(|u| u == name) && (terminal || !self.at_end.iter().any(|e| e == name))
    }
}

/// A violation and the path to it.
#[derive(Clone, Debug)]
pub struct Violation {
    pub check: String,
    pub detail: String,
    /// Moves from the initial state.
    pub depth: usize,
    /// The interventions on the path, keyed by step (empty moves — plain
    /// steps — need no entry: a replay takes them by itself).
    pub interventions: Vec<TimedFault>,
    /// The path in words, one move a line.
    pub moves: Vec<String>,
}

/// What a search found and covered.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// States generated (successors computed, duplicates included).
    pub explored: u64,
    pub unique: u64,
    /// The deepest state reached.
    pub depth_reached: usize,
    pub seconds: f64,
    /// The most states waiting to be expanded at once (each a move from
    /// a parent's snapshot, which its siblings share).
    pub peak_frontier: usize,
    /// States whose successors were cut off by `--depth`.
    pub cut_by_depth: u64,
    /// States not expanded because they are past the lesson's duration.
    pub past_duration: u64,
    /// The search stopped at `--max-states`.
    pub hit_max_states: bool,
    /// The search stopped at `--max-memory`.
    pub hit_max_memory: bool,
    /// A step on the way made a choice among more options than
    /// [`Bounds::choices`] (or past the [`MAX_CHOICES`]th of one step):
    /// it followed the seed, so the search covered one of its options
    /// only. The most options of such a choice.
    pub seeded_choices: Option<u64>,
    pub violation: Option<Violation>,
}

impl Outcome {
    /// Before any move: the root state explored, and nothing else.
    fn at_the_root() -> Outcome {
        Outcome {
            explored: 1,
            unique: 1,
            depth_reached: 0,
            seconds: 0.0,
            peak_frontier: 1,
            cut_by_depth: 0,
            past_duration: 0,
            hit_max_states: false,
            hit_max_memory: false,
            seeded_choices: None,
            violation: None,
        }
    }

    /// Whether every state within the bounds was explored (no bound cut
    /// the search short).
    pub fn complete(&self) -> bool {
        !self.hit_max_states && !self.hit_max_memory && self.cut_by_depth == 0
    }
    pub fn states_per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.unique as f64 / self.seconds } else { 0.0 }
    }
}

/// One move on a path, linked to its parent's path. Only the move is
/// kept: its words and its intervention are found again by replaying the
/// path (see [`violation`]), once, for the path that is reported.
struct Link {
    parent: Option<Arc<Link>>,
    mv: Move,
}

/// A state waiting to be expanded: the snapshot of its parent, which its
/// siblings share, and the path to it, whose last move leads there from
/// the parent (no path: the root, and `from` is its own snapshot).
struct Node {
    from: Arc<Snapshot>,
    depth: usize,
    used: [u8; 3],
    path: Option<Arc<Link>>,
    /// Its key in the seen-set, to check (in debug builds) that the move
    /// made again led to the same state.
    key: Key,
}

impl Node {
    /// Puts `driver` in this state: the parent restored, the last move
    /// made again (the simulator is deterministic: the same state).
    fn enter(&self, driver: &mut dyn Driver, bounds: &Bounds) {
        driver.restore(&self.from);
        if let Some(link) = &self.path {
            let made = make(driver, &link.mv);
            debug_assert!(made, "a move made once is made again from the same state");
        }
        debug_assert_eq!(
            key(driver, bounds, self.used),
            self.key,
            "a move made again leads to the same state"
        );
    }
}

/// A move from a state.
#[derive(Clone, Debug)]
enum Move {
    Step(Script),
    Deliver(u64, Script),
    Drop(u64),
    Duplicate(u64),
    Crash(NodeId),
    Restart(NodeId),
}

/// The values the choices of a move's step take, in order (the
/// intervention `choose`); past its end, the seed's. Empty for the seed's
/// own choices, as every move is first made.
type Script = Box<[u64]>;

impl Move {
    /// The step, with the seed's choices.
    fn step() -> Move {
        Move::Step(Script::default())
    }
    /// The script of a move that runs a step (a step or a delivery).
    fn script(&self) -> Option<&Script> {
        match self {
            Move::Step(script) | Move::Deliver(_, script) => Some(script),
            _ => None,
        }
    }
    /// The same move with its step's choices taking `script`.
    fn choosing(&self, script: Script) -> Move {
        match self {
            Move::Step(_) => Move::Step(script),
            Move::Deliver(m, _) => Move::Deliver(*m, script),
            other => unreachable!("{other:?} runs no step to choose in"),
        }
    }
}

/// Searches `driver`'s run (fresh, at time zero) within `bounds`.
pub fn explore(driver: &mut dyn Driver, bounds: &Bounds) -> Outcome {
    let started = Instant::now();
    // No sweeps of void events: one at the head of the queue decides
    // whether a delivery due now is a move of its own
    // (`Sim::delivers_next_now`), so a sweep would change the moves made.
    driver.keep_void_events();
    let mut seen: Seen = Seen::default();
    // Choices among more options than the bound, of one parent's moves
    // (see `successors`).
    let mut seeded = Vec::new();
    let mut frontier: VecDeque<Node> = VecDeque::new();
    let mut out = Outcome::at_the_root();
    let root_key = key(driver, bounds, [0; 3]);
    seen.insert(root_key);
    if let Some((check, detail)) = broken(driver, bounds, false) {
        out.violation = Some(violation(check, detail, 0, None, driver));
        out.seconds = started.elapsed().as_secs_f64();
        return out;
    }
    let root = Arc::new(driver.snapshot());
    // A violation found: its path is replayed from the root for its words.
    let mut found: Option<(String, String, usize, Option<Arc<Link>>)> = None;
    frontier.push_back(Node { from: root.clone(), depth: 0, used: [0; 3], path: None, key: root_key });
    'search: while let Some(node) = match bounds.order {
        Order::Bfs => frontier.pop_front(),
        Order::Dfs => frontier.pop_back(),
    } {
        node.enter(driver, bounds);
        if driver.now() >= bounds.until {
            out.past_duration += 1;
            if let Some((check, detail)) = broken(driver, bounds, true) {
                found = Some((check, detail, node.depth, node.path.clone()));
                break 'search;
            }
            continue;
        }
        if node.depth >= bounds.depth {
            out.cut_by_depth += 1;
            continue;
        }
        let here = Arc::new(driver.snapshot());
        let stepped = left_to_step(driver, bounds);
        let moves = moves(driver, node.used, bounds, stepped);
        let flow = successors(driver, &here, moves, bounds, &mut seeded, |driver, j, mv, made| {
            if !made {
                // Nothing left to happen: the run's end.
                if matches!(&mv, Move::Step(script) if script.is_empty())
                    && let Some((check, detail)) = broken(driver, bounds, true)
                {
                    found = Some((check, detail, node.depth, node.path.clone()));
                    return ControlFlow::Break(());
                }
                return ControlFlow::Continue(());
            }
            if driver.halted().is_some() {
                return ControlFlow::Continue(());
            }
            out.explored += 1;
            let used = spend(node.used, &mv);
            let key = key(driver, bounds, used);
            if j == 0 {
                debug_assert_left_to_step(driver, &here, stepped, bounds, used, key);
            }
            if !seen.insert(key) {
                return ControlFlow::Continue(());
            }
            out.unique += 1;
            let depth = node.depth + 1;
            out.depth_reached = out.depth_reached.max(depth);
            let path = Some(Arc::new(Link { parent: node.path.clone(), mv }));
            let quiet = quiescent(driver);
            if let Some((check, detail)) = broken(driver, bounds, quiet) {
                found = Some((check, detail, depth, path));
                return ControlFlow::Break(());
            }
            if out.unique >= bounds.max_states {
                out.hit_max_states = true;
                return ControlFlow::Break(());
            }
            if out.unique.is_multiple_of(MEMORY_EVERY) && bounds.over_memory() {
                out.hit_max_memory = true;
                return ControlFlow::Break(());
            }
            frontier.push_back(Node { from: here.clone(), depth, used, path, key });
            out.peak_frontier = out.peak_frontier.max(frontier.len());
            ControlFlow::Continue(())
        });
        // (Kept as the most options so far: the list would grow with the search.)
        out.seeded_choices = out.seeded_choices.max(seeded.drain(..).map(|(_, options)| options).max());
        if flow.is_break() {
            break 'search;
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    if let Some((check, detail, depth, path)) = found {
        driver.restore(&root);
        out.violation = Some(violation(check, detail, depth, path.as_ref(), driver));
    }
    driver.record_choices(false);
    out
}

/// A state's identity in the seen-set: a 128-bit hash of the model
/// fingerprint, the checker's digest (zero unless
/// `Bounds::checker_state`), and the fault budget used. Two different
/// states of a search of n states collide with probability about
/// n²/2¹²⁹, as their fingerprints do.
type Key = u128;

fn key(driver: &dyn Driver, bounds: &Bounds, used: [u8; 3]) -> Key {
    let checker = if bounds.checker_state { driver.checker_digest().0 } else { 0 };
    let mut bytes = [0u8; 35];
    bytes[..16].copy_from_slice(&driver.fingerprint().0.to_le_bytes());
    bytes[16..32].copy_from_slice(&checker.to_le_bytes());
    bytes[32..].copy_from_slice(&used);
    xxhash_rust::xxh3::xxh3_128(&bytes)
}

/// The seen-set: keys are already uniform hashes, so the table uses
/// their low bits as they are instead of hashing them again.
type Seen = HashSet<Key, BuildHasherDefault<KeyHasher>>;

/// A hasher for [`Key`]s: the key's low 64 bits.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only keys are hashed (`write_u128`); anything else still hashes.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }
}

/// The fault budget used after `mv`: drops, duplicates, crashes.
fn spend(mut used: [u8; 3], mv: &Move) -> [u8; 3] {
    match mv {
        Move::Drop(_) => used[0] += 1,
        Move::Duplicate(_) => used[1] += 1,
        Move::Crash(_) => used[2] += 1,
        _ => {}
    }
    used
}

/// The message whose delivery is left to `step` in the state `driver` is
/// in: the next event, due now, so that delivering it next leads to the
/// state the step leads to ([`Driver::delivers_next_now`]) and would only
/// be found again. Not with `--checker-state`: the checker hears the
/// intervention, so the two checkers may differ.
fn left_to_step(driver: &dyn Driver, bounds: &Bounds) -> Option<u64> {
    if bounds.checker_state { None } else { driver.delivers_next_now() }
}

/// The moves possible from the state `driver` is in: every delivery but
/// the one left to the step (`stepped`, see [`left_to_step`]).
fn moves(driver: &dyn Driver, used: [u8; 3], bounds: &Bounds, stepped: Option<u64>) -> Vec<Move> {
    let mut out = vec![Move::step()];
    let in_flight = driver.in_flight_ids();
    out.extend(
        in_flight.iter().filter(|&&m| Some(m) != stepped).map(|&m| Move::Deliver(m, Script::default())),
    );
    if used[0] < bounds.drops {
        out.extend(in_flight.iter().map(|&m| Move::Drop(m)));
    }
    if used[1] < bounds.duplicates {
        out.extend(in_flight.iter().map(|&m| Move::Duplicate(m)));
    }
    if bounds.crashes == 0 {
        // With no crash budget the search neither crashes nor restarts
        // nodes (the lesson's own timeline still does, as `step`s).
        return out;
    }
    for (i, n) in driver.nodes().iter().enumerate() {
        let node = NodeId(i as u32);
        match n.status {
            NodeStatus::Up if used[2] < bounds.crashes => out.push(Move::Crash(node)),
            NodeStatus::Down => out.push(Move::Restart(node)),
            _ => {}
        }
    }
    out
}

/// Makes each of `moves` from the state `driver` is in (`here`, restored
/// before every move but the first) and, for a move that runs a step,
/// each other way its step's choices can go ([`Bounds::choices`]), and
/// hands `visit` each state made, in order: its place among this state's
/// successors, the move, and whether it could be made at all. Stops where
/// `visit` breaks.
///
/// A move is made first with the seed's choices, and its step records the
/// choices it made; for each of them, each other option, with the
/// choices before it as they were, is a move of its own (its step may
/// then make other choices after that one, which branch in turn). So every
/// way through a step's choices is made once. A choice among more options
/// than the bound (or past the [`MAX_CHOICES`]th of the step, which one
/// intervention cannot give) follows the seed, and is noted in `seeded` as
/// (the move's place, its options).
fn successors(
    driver: &mut dyn Driver,
    here: &Snapshot,
    moves: Vec<Move>,
    bounds: &Bounds,
    seeded: &mut Vec<(usize, u64)>,
    mut visit: impl FnMut(&mut dyn Driver, usize, Move, bool) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut j = 0;
    // The other ways through a move's choices, still to make (no
    // allocation unless there are some).
    let mut todo: Vec<Move> = Vec::new();
    for first in moves {
        let mut next = Some(first);
        while let Some(mv) = next.take().or_else(|| todo.pop()) {
            if j > 0 {
                driver.restore(here);
            }
            driver.record_choices(true);
            let made = make(driver, &mv);
            if made && let Some(script) = mv.script() {
                let chosen = driver.choices_made();
                // Pushed last first, so they are made in order: by choice,
                // then by option.
                for (i, &(options, taken)) in chosen.iter().enumerate().skip(script.len()).rev() {
                    if options > bounds.choices || i >= MAX_CHOICES {
                        seeded.push((j, options));
                        continue;
                    }
                    for other in (0..options).rev().filter(|&v| v != taken) {
                        let script = chosen[..i].iter().map(|&(_, v)| v).chain([other]).collect();
                        todo.push(mv.choosing(script));
                    }
                }
            }
            visit(driver, j, mv, made)?;
            j += 1;
        }
    }
    ControlFlow::Continue(())
}

/// (Debug builds.) The delivery left to the step, made from `here`, leads
/// to the state the step led to (`key`) — unless it ran into a budget
/// (the intervention is one more event), where the search would have
/// dropped it anyway. The driver is left where the step left it.
fn debug_assert_left_to_step(
    driver: &mut dyn Driver,
    here: &Snapshot,
    stepped: Option<u64>,
    bounds: &Bounds,
    used: [u8; 3],
    key_of_step: Key,
) {
    if cfg!(debug_assertions)
        && let Some(m) = stepped
    {
        let after_step = driver.snapshot();
        driver.restore(here);
        assert!(make(driver, &Move::Deliver(m, Script::default())), "message {m} can be delivered next");
        if driver.halted().is_none() {
            assert_eq!(key(driver, bounds, used), key_of_step, "delivering message {m} next is the step");
        }
        driver.restore(&after_step);
    }
}

/// Makes `mv`; `false` when it cannot be made (nothing left to step).
fn make(driver: &mut dyn Driver, mv: &Move) -> bool {
    if let Some(fault) = intervention(mv)
        && driver.intervene(fault).is_err()
    {
        return false;
    }
    match mv {
        // A message delivered next goes first: deliver it now.
        Move::Step(script) | Move::Deliver(_, script) => steer(driver, script) && driver.step().is_some(),
        _ => true,
    }
}

/// The intervention that makes `mv`, but for its step's choices (a step
/// needs none).
fn intervention(mv: &Move) -> Option<Fault> {
    Some(match *mv {
        Move::Step(_) => return None,
        Move::Deliver(id, _) => Fault::DeliverNext(id),
        Move::Drop(id) => Fault::DropMessage(id),
        Move::Duplicate(id) => Fault::DuplicateMessage(id),
        Move::Crash(n) => Fault::Crash(n),
        Move::Restart(n) => Fault::Restart(n),
    })
}

/// Has the next choices take `script` (none: the seed's).
fn steer(driver: &mut dyn Driver, script: &Script) -> bool {
    script.is_empty() || driver.intervene(Fault::Choose(script.to_vec())).is_ok()
}

/// Makes `mv` as [`make`] does, and says what it did: the move in words,
/// and the interventions that make it in a replay (none for a step with
/// the seed's choices).
fn make_described(driver: &mut dyn Driver, mv: &Move) -> Option<(String, Vec<TimedFault>)> {
    driver.record_choices(true);
    let mut said = Vec::new();
    let mut interventions = Vec::new();
    let choose = mv.script().filter(|s| !s.is_empty()).map(|s| Fault::Choose(s.to_vec()));
    for fault in intervention(mv).into_iter().chain(choose) {
        let words = driver.describe_fault(&fault);
        let record = driver.intervene(fault).ok()?;
        interventions.extend(
            driver
                .applied_faults()
                .iter()
                .rev()
                .find(|f| f.origin == Origin::Intervention && f.step == Some(record.step))
                .cloned(),
        );
        said.push(format!("step {}: {words}", record.step));
    }
    let mut words = match mv {
        Move::Step(_) => {
            let r = driver.step()?;
            said.push(match (r.msg, r.node) {
                (Some(m), Some(n)) => {
                    format!("step {}: {:?} message {m} at {}", r.step, r.kind, driver.endpoint_name(n))
                }
                (None, Some(n)) => format!("step {}: {:?} at {}", r.step, r.kind, driver.endpoint_name(n)),
                _ => format!("step {}: {:?}", r.step, r.kind),
            });
            said.join("; ")
        }
        // The message goes first; deliver it now.
        Move::Deliver(..) => format!("{} (delivered at step {})", said.join("; "), driver.step()?.step),
        _ => said.join("; "),
    };
    if mv.script().is_some_and(|s| !s.is_empty()) {
        let chosen: Vec<String> = driver.choices_made().iter().map(|(n, v)| format!("{v} of {n}")).collect();
        words += &format!(", choosing {}", chosen.join(", "));
    }
    Some((words, interventions))
}

/// Whether nothing is under way: no message in flight, no client
/// operation open, nothing the checker waits for. A run that stops here
/// has ended, so the end-of-run checks are judged here too (the timers
/// that keep running, such as anti-entropy rounds, bring the fingerprint
/// back to states already seen rather than to an end).
fn quiescent(driver: &dyn Driver) -> bool {
    !driver.delivering() && driver.pending().is_empty()
}

/// The first judged check that no longer holds: its name and detail.
fn broken(driver: &dyn Driver, bounds: &Bounds, terminal: bool) -> Option<(String, String)> {
    if driver.checks_hold() {
        return None;
    }
    let report = driver.report();
    let broken = report.checks.iter().find(|v| !v.holds && bounds.judged(v.name, terminal))?;
    Some((broken.name.to_string(), broken.detail.clone()))
}

/// A violation of `check` at the end of `path`: the path is replayed on
/// `driver`, which must be at the root (the run's start), for each move's
/// words and intervention.
fn violation(
    check: String,
    detail: String,
    depth: usize,
    path: Option<&Arc<Link>>,
    driver: &mut dyn Driver,
) -> Violation {
    let mut links = Vec::new();
    let mut at = path.cloned();
    while let Some(link) = at {
        links.push(link.clone());
        at = link.parent.clone();
    }
    links.reverse();
    let (mut moves, mut interventions) = (Vec::new(), Vec::new());
    for link in &links {
        let (words, made) =
            make_described(driver, &link.mv).expect("a move on a path found is made again on replay");
        moves.push(words);
        interventions.extend(made);
    }
    Violation { check, detail, depth, interventions, moves }
}

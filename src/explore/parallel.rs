//! Breadth-first search on several threads (`--jobs N`), one level at a
//! time, with a shared seen-set.
//!
//! Each worker owns a driver of the same lesson and takes the states of
//! the current level one by one from a shared queue; a successor not seen
//! on an earlier level goes into the seen-set's shard for its fingerprint,
//! where a successor reached by two parents keeps the one the sequential
//! search would have kept: the first in search order, `(parent's place in
//! the level, move's place among the parent's moves)`. After each level
//! the new states are put in that order. So the parallel search visits the
//! same states in the same order as one thread does: the same unique
//! states, the same depth, the same shortest counterexample. A worker may
//! expand parents past the one where the search stops (a level is
//! finished before a violation or `--max-states` in it is known), but
//! `states explored` counts only the moves one thread would have made, so
//! it is the same too.

use super::{
    Bounds, Key, Link, Move, Node, Outcome, Seen, broken, debug_assert_left_to_step, key, left_to_step,
    moves, quiescent, spend, successors, violation,
};
use crate::sim::Driver;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

/// A place in search order: (parent's index in its level, move's index).
type Place = (usize, usize);

const SHARDS: usize = 64;

/// A new state of the next level, found at `place`.
struct Found {
    place: Place,
    state: Node,
    /// A judged check it breaks (name, detail).
    broken: Option<(String, String)>,
}

#[derive(Default)]
struct Shard {
    /// Keys of states on earlier levels.
    seen: Seen,
    /// New states of the level being expanded.
    level: HashMap<Key, Found, BuildHasherDefault<super::KeyHasher>>,
}

/// A terminal state that breaks a check: its place, the check (name,
/// detail), and its path.
type Terminal = (Place, (String, String), Option<Arc<Link>>);

/// What the workers share while expanding one level.
struct Level<'a> {
    depth: usize,
    work: &'a Mutex<Vec<(usize, Node)>>,
    shards: &'a [Mutex<Shard>],
    /// New states found so far on this level, and how many the search
    /// still takes (`--max-states`).
    fresh: &'a AtomicU64,
    wanted: u64,
    /// The process held more than `--max-memory`: the search stops after
    /// this level.
    over_memory: &'a AtomicBool,
    /// No parent after this one needs expanding: the search stops within
    /// it (a terminal state that breaks a check, `--max-states` or
    /// `--max-memory`). Parents are taken in order and checked against
    /// this as they are taken, so every earlier one is expanded in full, as
    /// the sequential search would have.
    last: &'a AtomicUsize,
}

/// What one worker did on one level.
#[derive(Default)]
struct Done {
    /// Parents expanded (by place in the level), each with how many moves
    /// it has; and the moves that made nothing (nothing left to happen, or
    /// the run halted). The others are the states explored: only those up
    /// to where the search stops count, as in a search by one thread.
    expanded: Vec<(usize, u32)>,
    skipped: Vec<Place>,
    /// Parents (by place in the level) cut off by `--depth`, and past the
    /// lesson's duration.
    cut_by_depth: Vec<usize>,
    past_duration: Vec<usize>,
    /// Terminal states of this level that break a check, by place.
    broken: Vec<Terminal>,
    /// Moves (by place) with a choice that followed the seed, and its
    /// options ([`super::Outcome::seeded_choices`]).
    seeded: Vec<(Place, u64)>,
}

/// The states explored on a level up to `stop` (a parent and a move of
/// it): every move made from a parent before it, and from it the moves up
/// to that one — what a search by one thread would have made, whichever
/// parents the workers took past the stop before they knew of it.
fn explored_to(stop: Place, expanded: &[(usize, u32)], skipped: &[Place]) -> u64 {
    let moves: u64 = expanded
        .iter()
        .filter(|&&(i, _)| i <= stop.0)
        .map(|&(i, n)| if i < stop.0 { u64::from(n) } else { u64::from(n).min(stop.1 as u64 + 1) })
        .sum();
    moves - skipped.iter().filter(|&&s| s <= stop).count() as u64
}

/// Searches breadth first with `jobs` workers, each driving its own run
/// built by `build` (fresh, at time zero).
pub fn explore_parallel(
    build: &(dyn Fn() -> Box<dyn Driver> + Sync),
    bounds: &Bounds,
    jobs: usize,
) -> Outcome {
    let started = Instant::now();
    // (Void events kept queued, as in `explore`.)
    let build = || {
        let mut driver = build();
        driver.keep_void_events();
        driver
    };
    let mut out = Outcome::at_the_root();
    let mut root = build();
    let root_key: Key = key(root.as_ref(), bounds, [0; 3]);
    if let Some((check, detail)) = broken(root.as_ref(), bounds, false) {
        out.violation = Some(violation(check, detail, 0, None, root.as_mut()));
        out.seconds = started.elapsed().as_secs_f64();
        return out;
    }
    let shards: Vec<Mutex<Shard>> = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
    shard(&shards, &root_key).lock().unwrap().seen.insert(root_key);
    let mut level =
        vec![Node { from: Arc::new(root.snapshot()), depth: 0, used: [0; 3], path: None, key: root_key }];
    drop(root);
    let work: Mutex<Vec<(usize, Node)>> = Mutex::new(Vec::new());
    let fresh = AtomicU64::new(0);
    let last = AtomicUsize::new(usize::MAX);
    let over_memory = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let mut starts = Vec::new();
        for _ in 0..jobs {
            let (start_tx, start_rx) = mpsc::channel::<Level>();
            starts.push(start_tx);
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let mut driver = build();
                for level in start_rx {
                    let done = expand(driver.as_mut(), bounds, &level);
                    if done_tx.send(done).is_err() {
                        break;
                    }
                }
            });
        }
        let mut depth = 0;
        // The states a level found, in search order: kept from level to
        // level, so a level of a hundred thousand states does not fault
        // its memory in again (the workers wait while this thread sorts).
        let mut found: Vec<Found> = Vec::new();
        while !level.is_empty() {
            out.peak_frontier = out.peak_frontier.max(level.len());
            {
                let mut queue = work.lock().unwrap();
                // Workers pop from the end: the first state last.
                queue.extend(level.drain(..).enumerate().rev());
            }
            fresh.store(0, Ordering::SeqCst);
            last.store(usize::MAX, Ordering::SeqCst);
            for start in &starts {
                let level = Level {
                    depth,
                    work: &work,
                    shards: &shards,
                    fresh: &fresh,
                    wanted: bounds.max_states - out.unique,
                    over_memory: &over_memory,
                    last: &last,
                };
                start.send(level).expect("a worker is waiting");
            }
            let (mut terminal, mut cut, mut past, mut seeded) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let (mut expanded, mut skipped) = (Vec::new(), Vec::new());
            for _ in 0..jobs {
                let done = done_rx.recv().expect("a worker reports");
                expanded.extend(done.expanded);
                skipped.extend(done.skipped);
                cut.extend(done.cut_by_depth);
                seeded.extend(done.seeded);
                past.extend(done.past_duration);
                terminal.extend(done.broken);
            }
            terminal.sort_by_key(|t| t.0);
            for s in &shards {
                let mut s = s.lock().unwrap();
                let s = &mut *s;
                for (key, f) in s.level.drain() {
                    s.seen.insert(key);
                    found.push(f);
                }
            }
            found.sort_unstable_by_key(|f| f.place);
            // Walk the level in search order, as one thread would, to the
            // parent where it stops (a violation, `--max-states`).
            let mut terminal = terminal.into_iter().peekable();
            let mut stop: Place = (usize::MAX, usize::MAX);
            for f in found.drain(..) {
                if let Some((place, (check, detail), path)) = terminal.next_if(|t| t.0 < f.place) {
                    out.violation = Some(violation(check, detail, depth, path.as_ref(), build().as_mut()));
                    stop = place;
                    break;
                }
                stop = f.place;
                out.unique += 1;
                out.depth_reached = depth + 1;
                if let Some((check, detail)) = f.broken {
                    out.violation =
                        Some(violation(check, detail, depth + 1, f.state.path.as_ref(), build().as_mut()));
                    break;
                }
                if out.unique >= bounds.max_states {
                    out.hit_max_states = true;
                    break;
                }
                level.push(f.state);
            }
            if out.violation.is_none()
                && !out.hit_max_states
                && let Some((place, (check, detail), path)) = terminal.next()
            {
                out.violation = Some(violation(check, detail, depth, path.as_ref(), build().as_mut()));
                stop = place;
            }
            if out.violation.is_none() && !out.hit_max_states {
                stop = (usize::MAX, usize::MAX);
                out.hit_max_memory = over_memory.load(Ordering::SeqCst);
            }
            // Parents after the stop (taken by a worker before it was
            // known) do not count.
            out.cut_by_depth += cut.iter().filter(|&&i| i <= stop.0).count() as u64;
            out.past_duration += past.iter().filter(|&&i| i <= stop.0).count() as u64;
            let beyond = seeded.iter().filter(|&&(place, _)| place <= stop).map(|&(_, options)| options);
            out.seeded_choices = out.seeded_choices.max(beyond.max());
            out.explored += explored_to(stop, &expanded, &skipped);
            if out.violation.is_some() || out.hit_max_states || out.hit_max_memory {
                break;
            }
            depth += 1;
        }
        // Dropping the senders ends the workers.
        drop(starts);
    });
    out.seconds = started.elapsed().as_secs_f64();
    out
}

fn shard<'a>(shards: &'a [Mutex<Shard>], key: &Key) -> &'a Mutex<Shard> {
    // The high bits: the tables within a shard use the low ones.
    &shards[(key >> 64) as usize % shards.len()]
}

/// Expands states of the level at `depth` from `work` until it is empty.
fn expand(driver: &mut dyn Driver, bounds: &Bounds, level: &Level) -> Done {
    let Level { depth, work, shards, .. } = *level;
    let mut done = Done::default();
    loop {
        // Taken and checked against `last` under the queue's lock: the
        // parents expanded are then always every one from the first to
        // some parent, never one left out between two expanded (checked
        // after the lock, a parent taken could be dropped while a later
        // one taken before `last` fell was expanded).
        let next = {
            let mut queue = work.lock().unwrap();
            match queue.pop() {
                Some((i, _)) if i > level.last.load(Ordering::SeqCst) => {
                    // The search stops before this parent: leave the rest.
                    queue.clear();
                    None
                }
                next => next,
            }
        };
        let Some((i, node)) = next else { break };
        node.enter(driver, bounds);
        if driver.now() >= bounds.until {
            done.past_duration.push(i);
            if let Some(b) = broken(driver, bounds, true) {
                done.broken.push(((i, 0), b, node.path.clone()));
                level.last.fetch_min(i, Ordering::SeqCst);
            }
            continue;
        }
        if depth >= bounds.depth {
            done.cut_by_depth.push(i);
            continue;
        }
        let here = Arc::new(driver.snapshot());
        let stepped = left_to_step(driver, bounds);
        let mut fresh_here = 0;
        let mut made_here = 0;
        let mut seeded = Vec::new();
        let moves = moves(driver, node.used, bounds, stepped);
        let _ = successors(driver, &here, moves, bounds, &mut seeded, |driver, j, mv, made| {
            made_here += 1;
            if !made {
                done.skipped.push((i, j));
                if matches!(&mv, Move::Step(script) if script.is_empty())
                    && let Some(b) = broken(driver, bounds, true)
                {
                    done.broken.push(((i, j), b, node.path.clone()));
                    level.last.fetch_min(i, Ordering::SeqCst);
                }
                return ControlFlow::Continue(());
            }
            if driver.halted().is_some() {
                done.skipped.push((i, j));
                return ControlFlow::Continue(());
            }
            let used = spend(node.used, &mv);
            let key: Key = key(driver, bounds, used);
            if j == 0 {
                debug_assert_left_to_step(driver, &here, stepped, bounds, used, key);
            }
            let place = (i, j);
            let shard = shard(shards, &key);
            let later =
                |s: &Shard| s.seen.contains(&key) || s.level.get(&key).is_some_and(|f| f.place < place);
            if later(&shard.lock().unwrap()) {
                return ControlFlow::Continue(());
            }
            let path = Some(Arc::new(Link { parent: node.path.clone(), mv }));
            let found = Found {
                place,
                broken: broken(driver, bounds, quiescent(driver)),
                state: Node { from: here.clone(), depth: depth + 1, used, path, key },
            };
            // (A successor that breaks a check does not end the level
            // early: an earlier parent may yet reach the same state first,
            // and a checker that heard another history may judge it
            // otherwise; the walk after the level finds the first one
            // kept.)
            let mut s = shard.lock().unwrap();
            if later(&s) || s.level.insert(key, found).is_some() {
                return ControlFlow::Continue(());
            }
            drop(s);
            fresh_here += 1;
            ControlFlow::Continue(())
        });
        done.expanded.push((i, made_here));
        // Only a choice with more options than any before it in this
        // parent can raise the most up to a stop: the rest are not kept.
        let mut most = 0;
        for (j, options) in seeded {
            if options > most {
                most = options;
                done.seeded.push(((i, j), options));
            }
        }
        // Counted once per parent, not per state: the workers share the
        // count, and every parent taken is expanded in full anyway.
        if fresh_here > 0 {
            let before = level.fresh.fetch_add(fresh_here, Ordering::SeqCst);
            let after = before + fresh_here;
            if after >= level.wanted {
                level.last.fetch_min(i, Ordering::SeqCst);
            }
            if before / super::MEMORY_EVERY != after / super::MEMORY_EVERY && bounds.over_memory() {
                level.over_memory.store(true, Ordering::SeqCst);
                level.last.fetch_min(i, Ordering::SeqCst);
            }
        }
    }
    done
}

//! The tape: a run the student can wind forward and back.
//!
//! The [`Driver`] only goes forward. The tape adds the way back (design
//! rule 6): it snapshots the run every [`SNAPSHOT_EVERY`] steps near the
//! current step (more sparsely further away, see [`DENSE_WINDOW`]), and to
//! reach an earlier step it restores the nearest snapshot at or before it
//! and replays. Replays are exact because the run is
//! deterministic — with one exception the tape takes care of itself: a
//! student's interventions are not part of the scenario, so the tape keeps
//! them, keyed by the step they became, and applies each again when a
//! replay reaches that step.
//!
//! An intervention made after rewinding *forks* the run: the old future
//! (its step records, its snapshots, its later interventions) is discarded,
//! and [`Tape::forked`] says so from then on.
//!
//! The tape also keeps the step record of every step it has seen (for the
//! timeline and for jumping to a time), and the node views as they were
//! just before the current step, so a view can show what the last step
//! changed.

use crate::sim::{Driver, Fault, InterventionError, NodeSummary, SimTime, Snapshot, StepRecord};
use std::collections::BTreeMap;

/// Steps between two snapshots near the current step. A step back replays
/// at most this many steps minus one; a replay over known steps takes the
/// trace's events back instead of building their text again, so it costs
/// a few microseconds a step in a release build and a step back about a
/// millisecond (see the `tui_rewind` benchmark).
pub const SNAPSHOT_EVERY: u64 = 512;

/// Snapshots are kept every [`SNAPSHOT_EVERY`] steps within this many steps
/// of the current step, and only every [`SPARSE_EVERY`] steps further away.
/// A snapshot shares with the run what has not changed since it was taken
/// (each node and the checker sit behind an `Arc`, a replicated log in
/// shared chunks), but keeps whatever changed after it — the queue, the
/// nodes that moved on — so keeping all of them would still cost memory
/// that grows with the run's length; thinned, a jump anywhere — back, or forward over known steps —
/// replays at most `SPARSE_EVERY` steps (a few milliseconds), and the
/// dense ones are laid down again around wherever the tape goes.
pub const DENSE_WINDOW: u64 = 4 * SNAPSHOT_EVERY;
pub const SPARSE_EVERY: u64 = 8 * SNAPSHOT_EVERY;

/// A run that can be wound back. See the module docs.
pub struct Tape {
    driver: Box<dyn Driver>,
    /// Where the scenario ends: no step past this time is taken.
    end: SimTime,
    /// `(step, snapshot)`, by step; the first is step 0.
    snapshots: Vec<(u64, Snapshot)>,
    /// Interventions by the step they became.
    interventions: BTreeMap<u64, Fault>,
    /// The record of every step seen on this line of the run:
    /// `records[i]` is step `i + 1`. Longer than the current step after a
    /// rewind (the known future).
    records: Vec<StepRecord>,
    /// The node views just before the current step, if known (`step` they
    /// belong before).
    before: Option<(u64, Vec<NodeSummary>)>,
    forked: bool,
    /// Steps run so far, replays included.
    steps_run: u64,
    /// Where a move ([`Tape::rewind_to`]) is bound: the steps it runs on
    /// the way lay down only the snapshots the thinning keeps once it is
    /// there (each costs a clone of the checker).
    heading: Option<u64>,
}

impl Tape {
    /// Wraps a freshly built run (at step 0) of a scenario ending at `end`.
    pub fn new(mut driver: Box<dyn Driver>, end: SimTime) -> Self {
        assert_eq!(driver.stats().events, 0, "a tape starts at the beginning of a run");
        let first = driver.snapshot();
        Tape {
            driver,
            end,
            snapshots: vec![(0, first)],
            interventions: BTreeMap::new(),
            records: Vec::new(),
            before: None,
            forked: false,
            steps_run: 0,
            heading: None,
        }
    }

    pub fn driver(&self) -> &dyn Driver {
        self.driver.as_ref()
    }

    /// A snapshot of the run at the current step, like those the tape
    /// keeps as it goes: for the rewind bench, which measures one (the
    /// tape cannot be given it back).
    #[doc(hidden)]
    pub fn snapshot(&mut self) -> Snapshot {
        self.driver.snapshot()
    }

    /// The current step: how many events have been processed.
    pub fn step(&self) -> u64 {
        self.driver.stats().events
    }

    /// Where the scenario ends.
    pub fn end(&self) -> SimTime {
        self.end
    }

    /// The furthest step known on this line of the run.
    pub fn frontier(&self) -> u64 {
        self.records.len() as u64
    }

    /// Every step record known, `[i]` being step `i + 1`.
    pub fn records(&self) -> &[StepRecord] {
        &self.records
    }

    /// The record of the current step (`None` at step 0).
    pub fn current(&self) -> Option<&StepRecord> {
        let s = self.step();
        if s == 0 { None } else { self.records.get(s as usize - 1) }
    }

    /// Whether an intervention after a rewind discarded a future.
    pub fn forked(&self) -> bool {
        self.forked
    }

    /// The interventions on this line of the run, by step.
    pub fn interventions(&self) -> &BTreeMap<u64, Fault> {
        &self.interventions
    }

    /// How many steps the tape has run, replays included: what its moves
    /// cost.
    pub fn steps_run(&self) -> u64 {
        self.steps_run
    }

    /// How many snapshots are kept.
    pub fn snapshot_count(&self) -> usize {
        self.snapshots.len()
    }

    /// Whether the run is over: nothing left before the scenario's end.
    /// Then the clock moves on to the end, as `distlab run`'s does: what
    /// is measured up to *now* (time in doubt, lag) is measured where
    /// `run` measures it, and the last screen shows `run`'s verdicts.
    pub fn at_end(&mut self) -> bool {
        if self.interventions.contains_key(&(self.step() + 1)) {
            return false;
        }
        let over = self.driver.next_time().is_none_or(|t| t > self.end);
        if over && self.driver.now() < self.end {
            self.driver.run_until(self.end);
        }
        over
    }

    /// Takes one step (replaying an intervention if one was made here).
    /// Keeps the record and, at a new multiple of [`SNAPSHOT_EVERY`], a
    /// snapshot. `None` at the end.
    fn advance(&mut self) -> Option<StepRecord> {
        self.advance_within(self.end)
    }

    /// [`Tape::advance`], taking no event later than `limit` — not even
    /// after a void one (a cancelled timer) that was due before it.
    fn advance_within(&mut self, limit: SimTime) -> Option<StepRecord> {
        if self.at_end() {
            return None;
        }
        let next = self.step() + 1;
        let rec = match self.interventions.get(&next) {
            Some(f) => {
                let f = f.clone();
                self.driver.intervene(f).expect("an intervention replays as it was first applied")
            }
            // Bounded: a void event at the end must not let a later one
            // through (`distlab run` stops there too).
            None => self.driver.step_within(limit.min(self.end))?,
        };
        debug_assert_eq!(rec.step, next, "every step is numbered one more than the last");
        self.steps_run += 1;
        let i = rec.step as usize - 1;
        if i < self.records.len() {
            debug_assert_eq!(self.records[i], rec, "a replay reproduces the recorded step");
        } else {
            self.records.push(rec);
        }
        let kept = |s: u64| {
            s.is_multiple_of(SPARSE_EVERY) || self.heading.is_none_or(|h| h.abs_diff(s) <= DENSE_WINDOW)
        };
        if rec.step.is_multiple_of(SNAPSHOT_EVERY) && kept(rec.step) {
            let at = self.snapshots.partition_point(|(s, _)| *s < rec.step);
            if self.snapshots.get(at).is_none_or(|(s, _)| *s != rec.step) {
                self.snapshots.insert(at, (rec.step, self.driver.snapshot()));
                self.thin();
            }
        }
        Some(rec)
    }

    /// Drops the snapshots the thinning rule does not keep (see
    /// [`DENSE_WINDOW`]).
    fn thin(&mut self) {
        let now = self.step();
        self.snapshots
            .retain(|(s, _)| *s == 0 || s.is_multiple_of(SPARSE_EVERY) || s.abs_diff(now) <= DENSE_WINDOW);
    }

    /// Records the node views as they are now, as the views before the
    /// next step.
    fn capture_before(&mut self) {
        self.before = Some((self.step() + 1, self.driver.nodes()));
    }

    /// One step forward. `None` at the end of the scenario.
    pub fn forward(&mut self) -> Option<StepRecord> {
        if self.at_end() {
            return None;
        }
        self.capture_before();
        self.advance()
    }

    /// Steps forward until `stop` says so (it sees each step's record and
    /// the run after it), `limit` steps were taken, or the scenario ends.
    /// Returns the steps taken. Cheaper than [`Tape::forward`] per step:
    /// the views before the last step are not kept (see
    /// [`Tape::views_before`]).
    pub fn forward_while(
        &mut self,
        limit: u64,
        mut stop: impl FnMut(&dyn Driver, &StepRecord) -> bool,
    ) -> u64 {
        let mut taken = 0;
        while taken < limit {
            let Some(rec) = self.advance() else { break };
            taken += 1;
            if stop(self.driver.as_ref(), &rec) {
                break;
            }
        }
        taken
    }

    /// Steps forward through every step at or before time `t` (not past
    /// the scenario's end).
    pub fn forward_to_time(&mut self, t: SimTime) {
        let t = t.min(self.end);
        while self.interventions.contains_key(&(self.step() + 1))
            || self.driver.next_time().is_some_and(|n| n <= t)
        {
            if self.advance_within(t).is_none() {
                break;
            }
        }
    }

    /// Goes to step `target` (clamped to what the scenario reaches), back or
    /// forward, and keeps the views before it. A jump forward over known
    /// steps restores the last snapshot on the way and replays from there.
    pub fn seek(&mut self, target: u64) {
        let before_target = target.saturating_sub(1);
        if before_target != self.step() {
            self.rewind_to(before_target);
        }
        if self.step() == before_target && target > self.step() {
            self.forward();
        }
    }

    /// Goes `n` steps forward (fewer at the end of the scenario), as fast
    /// as the tape can: over known steps it jumps to the last snapshot on
    /// the way. Keeps no views. Returns the steps taken.
    pub fn skip(&mut self, n: u64) -> u64 {
        let from = self.step();
        self.rewind_to(from.saturating_add(n));
        self.step() - from
    }

    /// One step back. `false` at step 0.
    pub fn back(&mut self) -> bool {
        let s = self.step();
        if s == 0 {
            return false;
        }
        self.seek(s - 1);
        true
    }

    /// Restores the nearest snapshot at or before `target` (earlier or
    /// later than now) and replays to it (without keeping views). The
    /// driver keeps the logs' known future across the restore (see
    /// [`Driver::restore_keeping`]): every snapshot kept lies on this line
    /// of the run.
    fn rewind_to(&mut self, target: u64) {
        let i = self.snapshots.partition_point(|(s, _)| *s <= target) - 1;
        let (at, snap) = &self.snapshots[i];
        // Replay from here if that is shorter than from the snapshot.
        if self.step() > target || *at > self.step() {
            self.driver.restore_keeping(snap);
        }
        self.heading = Some(target);
        while self.step() < target {
            if self.advance().is_none() {
                break;
            }
        }
        self.heading = None;
        self.thin();
        self.before = None;
    }

    /// The node views just before the current step (`None` at step 0),
    /// replaying to find them if they are not known.
    pub fn views_before(&mut self) -> Option<&[NodeSummary]> {
        let s = self.step();
        if s == 0 {
            return None;
        }
        if self.before.as_ref().is_none_or(|(at, _)| *at != s) {
            self.rewind_to(s - 1);
            self.capture_before();
            self.advance();
            debug_assert_eq!(self.step(), s, "replaying returns to the same step");
        }
        self.before.as_ref().map(|(_, v)| v.as_slice())
    }

    /// Applies an intervention as the next step. If the run had been wound
    /// back, the old future is discarded first and the tape is forked.
    pub fn intervene(&mut self, fault: Fault) -> Result<StepRecord, InterventionError> {
        let s = self.step();
        self.capture_before();
        let forks = (s as usize) < self.records.len();
        let rec = if forks {
            // The known future is not this run's any more.
            self.driver.intervene_anew(fault.clone())?
        } else {
            self.driver.intervene(fault.clone())?
        };
        if forks {
            self.records.truncate(s as usize);
            self.snapshots.retain(|(at, _)| *at <= s);
            self.interventions.retain(|at, _| *at <= s);
            self.forked = true;
        }
        self.interventions.insert(rec.step, fault);
        self.records.push(rec);
        self.steps_run += 1;
        if rec.step.is_multiple_of(SNAPSHOT_EVERY) {
            self.snapshots.push((rec.step, self.driver.snapshot()));
            self.thin();
        }
        Ok(rec)
    }

    /// The time of step `s` (0 for step 0), if known.
    pub fn time_of(&self, s: u64) -> Option<SimTime> {
        if s == 0 { Some(SimTime::ZERO) } else { self.records.get(s as usize - 1).map(|r| r.time) }
    }

    /// The last known step at or before time `t` (on this line of the run).
    pub fn last_step_at(&self, t: SimTime) -> u64 {
        self.records.partition_point(|r| r.time <= t) as u64
    }
}

//! Retention: what a node forgets once it is older than a period, and the
//! clock it reads for that. Shared by the protocols that remember finished
//! work for a while (two-phase commit's decisions, a saga's idempotency
//! keys and ended sagas) so that each states only *what* it keeps and for
//! how long.

use super::WriteId;
use std::collections::VecDeque;

/// Things to forget once they are older than retention, oldest first,
/// each stamped with the local time its retention started. Volatile:
/// after a restart, what is on disk starts its retention again. An item
/// stamped later than the next one (a clock set back) holds it up:
/// forgotten late, never early.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Expiry<T> {
    queue: VecDeque<(i64, T)>,
    /// Items whose retention starts once their write is on disk, each
    /// with the earliest stamp it may get.
    waiting: VecDeque<(WriteId, i64, T)>,
}

impl<T> Default for Expiry<T> {
    fn default() -> Self {
        Expiry { queue: VecDeque::new(), waiting: VecDeque::new() }
    }
}

impl<T> Expiry<T> {
    /// Starts `item`'s retention at local time `now_us`.
    pub fn push(&mut self, now_us: i64, item: T) {
        self.queue.push_back((now_us, item));
    }
    /// Starts `item`'s retention when write `w` is on disk (see
    /// [`Expiry::persisted`]): what is kept to answer repeats must not
    /// start ageing before its answer can leave.
    pub fn push_once_durable(&mut self, w: WriteId, item: T) {
        self.push_once_durable_not_before(w, i64::MIN, item);
    }
    /// As [`Expiry::push_once_durable`], but its retention starts no
    /// earlier than `not_before_us` (say, when its request was made, by
    /// the requester's clock).
    pub fn push_once_durable_not_before(&mut self, w: WriteId, not_before_us: i64, item: T) {
        debug_assert!(self.waiting.back().is_none_or(|(last, _, _)| *last <= w), "writes complete in order");
        self.waiting.push_back((w, not_before_us, item));
    }
    /// Write `w` (and so every earlier one) is on disk at local time
    /// `now_us`: the retention of what waited for it starts.
    pub fn persisted(&mut self, w: WriteId, now_us: i64) {
        while self.waiting.front().is_some_and(|(x, _, _)| *x <= w) {
            let (_, not_before_us, item) = self.waiting.pop_front().expect("just seen");
            self.queue.push_back((now_us.max(not_before_us), item));
        }
    }
    /// The items whose retention started at or before `cutoff_us`, oldest
    /// first.
    pub fn due(&mut self, cutoff_us: i64) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(move || {
            if self.queue.front().is_some_and(|(t, _)| *t <= cutoff_us) {
                self.queue.pop_front().map(|(_, item)| item)
            } else {
                None
            }
        })
    }
}

/// The local clock as retention reads it: never earlier than a time
/// already read. A clock set back would otherwise make something forgotten
/// at that time young again. Its value is made durable with each
/// forgetting, and a recovering node starts from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClockFloor {
    floor_us: i64,
}

impl ClockFloor {
    /// Starts at `floor_us` (what the disk says was read last).
    pub fn new(floor_us: i64) -> Self {
        ClockFloor { floor_us }
    }
    /// Reads `local_us` (the node's clock), never going back.
    pub fn read(&mut self, local_us: i64) -> i64 {
        self.floor_us = self.floor_us.max(local_us);
        self.floor_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_wait_for_their_write_then_age_from_then() {
        let mut e = Expiry::default();
        e.push(0, "a");
        e.push_once_durable(WriteId(3), "b");
        e.push_once_durable(WriteId(5), "c");
        assert_eq!(e.due(100).collect::<Vec<_>>(), ["a"], "b and c are not ageing yet");
        e.push_once_durable_not_before(WriteId(6), 900, "d");
        e.persisted(WriteId(4), 200);
        e.persisted(WriteId(5), 300);
        assert_eq!(e.due(250).collect::<Vec<_>>(), ["b"]);
        assert_eq!(e.due(300).collect::<Vec<_>>(), ["c"]);
        e.persisted(WriteId(6), 400);
        assert_eq!(e.due(899).count(), 0, "d ages from its own time, later than the disk's");
        assert_eq!(e.due(900).collect::<Vec<_>>(), ["d"]);
    }

    #[test]
    fn a_clock_set_back_holds_the_queue_up() {
        let mut e = Expiry::default();
        e.push(500, 1);
        e.push(100, 2);
        assert_eq!(e.due(400).count(), 0, "forgotten late, never early");
        assert_eq!(e.due(500).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn the_floor_never_goes_back() {
        let mut f = ClockFloor::new(1_000);
        assert_eq!(f.read(500), 1_000);
        assert_eq!(f.read(2_000), 2_000);
        assert_eq!(f.read(1_500), 2_000);
    }
}

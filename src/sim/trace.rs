//! The trace: what happened, at three levels (design rule 8).
//!
//! - `off`: nothing is recorded, not even the digest (benchmarks only);
//! - `digest`: a running XXH3-128 over a canonical fixed-width encoding of
//!   every event — enough to tell whether two runs were identical, at
//!   nearly full speed;
//! - `full`: the digest plus every event, with human text.
//!
//! The trace lives outside the snapshotted simulation state; rewinding
//! truncates it.
//!
//! At `full`, the events are either kept in memory (the TUI steps back and
//! forth through them) or handed to a [`TraceSink`] as they happen and not
//! kept (`distlab run --trace` streams them to its file): nothing in the
//! trace then grows with the length of the run.

use super::hash::Digest;
use super::history::HistoryEvent;
use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

/// How much of a run is traced: nothing (benchmarks), the digest only,
/// or every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TraceLevel {
    Off,
    Digest,
    Full,
}

/// The kinds of trace event. The numbering is part of the digest encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum TraceKind {
    Start = 1,
    Send = 2,
    Deliver = 3,
    Drop = 4,
    Duplicate = 5,
    Timer = 6,
    Persisted = 7,
    Invoke = 8,
    Complete = 9,
    Retry = 10,
    Crash = 11,
    Restart = 12,
    Pause = 13,
    Resume = 14,
    Partition = 15,
    Heal = 16,
    Clock = 17,
    Link = 18,
    Command = 19,
    Observation = 20,
    Note = 21,
    Hold = 22,
    Choose = 23,
}

/// One trace event. `node` and `peer` are endpoint indices (`u32::MAX`:
/// none), `msg` a message id (0: none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceEvent {
    pub step: u64,
    pub time_us: u64,
    pub kind: TraceKind,
    #[serde(skip_serializing_if = "is_none_u32")]
    pub node: u32,
    #[serde(skip_serializing_if = "is_none_u32")]
    pub peer: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub msg: u64,
    pub text: String,
    /// For a message sent or delivered: its short label in the protocol's
    /// words ([`crate::nodes::Message::label`]), for the space-time
    /// diagram.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
}

fn is_none_u32(x: &u32) -> bool {
    *x == u32::MAX
}
fn is_zero(x: &u64) -> bool {
    *x == 0
}

pub const NONE: u32 = u32::MAX;

/// Where a streamed trace's events go, in order, as they happen. The sink
/// deals with its own errors (a file sink remembers the first and reports
/// it when the run ends): the run does not stop for them.
pub trait TraceSink: Send {
    fn event(&mut self, event: &TraceEvent);
    /// A client history entry (an invocation or a completion), right after
    /// the trace event that records it. Only sinks that write the history
    /// (the `--trace` file) care.
    fn history(&mut self, _entry: &HistoryEvent) {}
}

/// The trace of one run.
pub struct Trace {
    level: TraceLevel,
    hasher: Xxh3,
    count: u64,
    /// The events at level `full`, unless they are streamed to `sink`:
    /// the first `len` are the run so far, the rest the known future —
    /// events a rewind stepped back over ([`Trace::rewind_keeping`]). A
    /// replay takes each back instead of building its text again, and a
    /// rewind or a jump forward to a mark only moves `len`, however far.
    events: Vec<TraceEvent>,
    len: usize,
    sink: Option<Box<dyn TraceSink>>,
}

/// Where a trace was, for rewinding.
#[derive(Clone)]
pub struct TraceMark {
    /// The digest's state, `None` at level `off`, where it never changes.
    /// XXH3's streaming state is 576 bytes, and `distlab explore`, which
    /// traces nothing, keeps a mark in every snapshot; boxed, so the mark
    /// is small at the other levels too (the TUI's tape keeps a few).
    hasher: Option<Box<Xxh3>>,
    count: u64,
    events: usize,
}

impl Trace {
    pub fn new(level: TraceLevel) -> Self {
        Trace { level, hasher: Xxh3::new(), count: 0, events: Vec::new(), len: 0, sink: None }
    }

    /// From now on, hands every event to `sink` instead of keeping it:
    /// first the events kept so far (those of the nodes' start), then each
    /// one as it is recorded. A streamed trace cannot be rewound past what
    /// it has written (the TUI, which rewinds, keeps its trace in memory).
    pub fn stream_to(&mut self, mut sink: Box<dyn TraceSink>) {
        self.events.truncate(self.len);
        for e in self.events.drain(..) {
            sink.event(&e);
        }
        self.events = Vec::new();
        self.len = 0;
        self.sink = Some(sink);
    }

    /// Takes the sink back (the run is over, or it is to be closed).
    pub fn take_sink(&mut self) -> Option<Box<dyn TraceSink>> {
        self.sink.take()
    }

    /// Whether events go to a sink (which may want the history too, see
    /// [`Trace::history`]).
    #[inline]
    pub fn streaming(&self) -> bool {
        self.sink.is_some()
    }

    /// Hands a client history entry to the sink, if events are streamed.
    pub fn history(&mut self, entry: &HistoryEvent) {
        if let Some(sink) = self.sink.as_mut() {
            sink.history(entry);
        }
    }

    /// Events held in memory, the known future included (zero while
    /// streaming, and below level `full`): what the trace costs in memory.
    pub fn held(&self) -> usize {
        self.events.len()
    }

    /// Whether a replay is within the known future: the next event is
    /// taken back, not built.
    #[inline]
    fn replaying(&self) -> bool {
        self.len < self.events.len()
    }

    #[inline]
    fn keep(&mut self, event: TraceEvent) {
        match self.sink.as_mut() {
            Some(sink) => sink.event(&event),
            None => {
                debug_assert!(!self.replaying(), "a new event comes after the known future");
                self.events.push(event);
                self.len += 1;
            }
        }
    }
    pub fn level(&self) -> TraceLevel {
        self.level
    }
    /// Whether human text is wanted (build it only then).
    #[inline]
    pub fn full(&self) -> bool {
        self.level == TraceLevel::Full
    }
    /// Whether the next event's text is to be built: at `full`, unless a
    /// replay takes the event back from the known future.
    #[inline]
    pub fn builds_text(&self) -> bool {
        self.level == TraceLevel::Full && !self.replaying()
    }
    #[inline]
    pub fn on(&self) -> bool {
        self.level != TraceLevel::Off
    }

    /// Records one event. `payload` is a canonical hash of the message or
    /// detail (0 when there is none); `text` is only called at `full`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn record(
        &mut self,
        step: u64,
        time_us: u64,
        kind: TraceKind,
        node: u32,
        peer: u32,
        msg: u64,
        payload: u64,
        text: impl FnOnce() -> String,
    ) {
        self.record_message(step, time_us, kind, node, peer, msg, payload, || (text(), String::new()));
    }

    /// [`Trace::record`] for a message sent or delivered, with its short
    /// label (built, like the text, only at `full`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn record_message(
        &mut self,
        step: u64,
        time_us: u64,
        kind: TraceKind,
        node: u32,
        peer: u32,
        msg: u64,
        payload: u64,
        text_and_label: impl FnOnce() -> (String, String),
    ) {
        if self.level == TraceLevel::Off {
            return;
        }
        let mut buf = [0u8; 41];
        buf[0..8].copy_from_slice(&step.to_le_bytes());
        buf[8..16].copy_from_slice(&time_us.to_le_bytes());
        buf[16] = kind as u8;
        buf[17..21].copy_from_slice(&node.to_le_bytes());
        buf[21..25].copy_from_slice(&peer.to_le_bytes());
        buf[25..33].copy_from_slice(&msg.to_le_bytes());
        buf[33..41].copy_from_slice(&payload.to_le_bytes());
        self.hasher.update(&buf);
        self.count += 1;
        if self.level == TraceLevel::Full {
            if self.replaying() {
                let known = &self.events[self.len];
                debug_assert!(
                    (known.step, known.time_us, known.kind, known.node, known.peer, known.msg)
                        == (step, time_us, kind, node, peer, msg),
                    "a replay records the event it recorded before"
                );
                self.len += 1;
                return;
            }
            let (text, label) = text_and_label();
            self.keep(TraceEvent { step, time_us, kind, node, peer, msg, text, label });
        }
    }

    /// Records a human annotation (a protocol's note) at level `full` only.
    /// Notes are commentary, not behaviour: they stay out of the digest, so
    /// the digest is the same at every level.
    pub fn annotate(&mut self, step: u64, time_us: u64, node: u32, text: String) {
        if self.level == TraceLevel::Full {
            if self.replaying() {
                let known = &self.events[self.len];
                debug_assert!(
                    (known.step, known.kind, &known.text) == (step, TraceKind::Note, &text),
                    "a replay records the note it recorded before"
                );
                self.len += 1;
                return;
            }
            self.keep(TraceEvent {
                step,
                time_us,
                kind: TraceKind::Note,
                node,
                peer: NONE,
                msg: 0,
                text,
                label: String::new(),
            });
        }
    }

    /// The digest of everything recorded so far (`None` at level `off`).
    pub fn digest(&self) -> Option<Digest> {
        (self.level != TraceLevel::Off).then(|| Digest(self.hasher.digest128()))
    }
    /// Events recorded (at every level but `off`).
    pub fn count(&self) -> u64 {
        self.count
    }
    /// The events, at level `full` (empty otherwise, and while streaming).
    pub fn events(&self) -> &[TraceEvent] {
        &self.events[..self.len]
    }
    pub fn mark(&self) -> TraceMark {
        let hasher = (self.level != TraceLevel::Off).then(|| Box::new(self.hasher.clone()));
        TraceMark { hasher, count: self.count, events: self.len }
    }
    /// Returns to `mark`, forgetting every event after it.
    pub fn rewind(&mut self, mark: &TraceMark) {
        self.rewind_digest(mark);
        self.count = mark.count;
        self.len = self.len.min(mark.events);
        self.events.truncate(self.len);
    }

    /// Returns to `mark`, earlier or later on the same line of the run,
    /// keeping the events after it as the known future: a replay takes
    /// them back (see [`Trace::record_message`]) and a later mark brings
    /// them back at once. The caller vouches that the run goes on as it
    /// went (the same steps, no intervention in between), or calls
    /// [`Trace::forget_ahead`] first. Panics on a mark past the known
    /// future, which is a programming error.
    pub fn rewind_keeping(&mut self, mark: &TraceMark) {
        self.rewind_digest(mark);
        self.count = mark.count;
        assert!(mark.events <= self.events.len(), "a trace moves forward only within its known future");
        self.len = mark.events;
    }

    /// The digest's state as it was at `mark` (at level `off` it is the
    /// initial state throughout, and the mark keeps none).
    fn rewind_digest(&mut self, mark: &TraceMark) {
        // (A snapshot restored into a run traced at another level would
        // otherwise go on with a wrong digest, silently.)
        assert_eq!(
            mark.hasher.is_some(),
            self.level != TraceLevel::Off,
            "a mark of a run traced at this level"
        );
        if let Some(hasher) = &mark.hasher {
            self.hasher.clone_from(hasher);
        }
    }

    /// Forgets the known future (the run is about to go another way).
    pub fn forget_ahead(&mut self) {
        self.events.truncate(self.len);
    }
}

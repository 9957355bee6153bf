//! One node on real time and a real disk: runs the protocol's handlers and
//! performs what they recorded, with the meaning the simulator's host
//! gives each effect (`sim::host`, `Sim::perform`):
//!
//! - `Write`: the write is appended to the node's log file; once the
//!   handler's other effects are performed (and its loopbacks handled),
//!   the log is fsynced, the writes are applied to the node's disk image in
//!   issue order, and the node hears of each ([`Protocol::on_persisted`]).
//!   A crash before the fsync loses them: [`DurableLog::open`] reads back
//!   only complete records.
//! - Gated effects (recorded inside `once_durable`) wait until the write
//!   they name has been fsynced, in the order recorded.
//! - `SetTimer`: arms the timer with this key at a wall-clock deadline (the
//!   delay divided by the speed-up); a pending timer with the same key is
//!   replaced. `CancelTimer`: the key names no timer any more, also one
//!   still waiting for the disk.
//! - `Loopback`: the node's own `on_message`, right after the handler.
//! - `Send`, `Reply`, `Observe`, `Note`: handed to the caller ([`Output`]),
//!   which owns the network.
//!
//! Live nodes read an unskewed clock ([`LiveClock`]): real time since the
//! node's runtime started, times the speed-up, from an origin (0, or the
//! system's time for separate processes). A crash is the end of the [`LiveNode`]
//! value (or of the process): its timers and gated effects go with it.

use crate::nodes::{
    AnswerOf, ClientRef, ClientReply, ClientRequest, Clock, Cluster, Command, Context, Effect, NodeId,
    NodeIo, OpOf, Outbox, Protocol, TimerId, WriteId,
};
use crate::rng::{RngStream, StreamKind};
use crate::time::{SimDuration, SimTime};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a node's handlers produced that leaves the node.
#[derive(Debug)]
pub enum Output<P: Protocol> {
    Send {
        to: NodeId,
        msg: P::Msg,
    },
    Reply {
        to: ClientRef,
        reply: ClientReply<AnswerOf<P>>,
    },
    Observe(P::Observation),
    Note(String),
    /// Write `id` (and every earlier one) was fsynced: what follows may
    /// depend on it.
    Persisted(WriteId),
}

/// Real time, scaled: what a live node's clock reads.
#[derive(Clone, Copy, Debug)]
pub struct LiveClock {
    pub start: Instant,
    /// What the clock read at `start`, in µs.
    pub origin_us: u64,
    /// Simulated seconds per real second (1 for a real deployment).
    pub speed: f64,
}

impl LiveClock {
    /// A clock that starts at 0 now.
    pub fn new(speed: f64) -> Self {
        LiveClock { start: Instant::now(), origin_us: 0, speed }
    }
    /// A clock that reads the system's time (µs since the Unix epoch), so
    /// that separate processes on one machine agree on it, as
    /// last-writer-wins timestamps need.
    pub fn system() -> Self {
        let since_epoch =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        LiveClock { start: Instant::now(), origin_us: since_epoch.as_micros() as u64, speed: 1.0 }
    }
    /// The time now, in the protocol's units (µs since the start, scaled,
    /// from `origin_us`).
    pub fn now(&self) -> SimTime {
        self.at(Instant::now())
    }
    pub fn at(&self, instant: Instant) -> SimTime {
        let real = instant.saturating_duration_since(self.start).as_secs_f64();
        SimTime(self.origin_us + (real * self.speed * 1e6) as u64)
    }
    /// The real instant `after` of protocol time from `from`.
    pub fn deadline(&self, from: Instant, after: SimDuration) -> Instant {
        from + Duration::from_secs_f64(after.0 as f64 / 1e6 / self.speed)
    }
}

/// A node's durable log: one JSON line per write, appended, and fsynced
/// before anything that depends on it is released. A record is on disk
/// once [`DurableLog::sync`] returned; a crash before then may leave a
/// torn last line, which [`DurableLog::open`] ignores.
#[derive(Debug)]
pub struct DurableLog {
    path: PathBuf,
    file: File,
    /// Records appended since the last sync (the "page cache").
    pending: Vec<u8>,
}

impl DurableLog {
    /// Opens (creating) the log at `path` and reads back its complete
    /// records, oldest first. `None` when the file did not exist: the node
    /// starts for the first time.
    pub fn open<W: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<(Self, Option<Vec<W>>)> {
        let existed = path.exists();
        let mut records = Vec::new();
        let mut valid_len = 0u64;
        if existed {
            let mut reader = BufReader::new(File::open(path)?);
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader.read_line(&mut line)?;
                if n == 0 || !line.ends_with('\n') {
                    break; // the end, or a torn record the crash cut short
                }
                match serde_json::from_str(line.trim_end()) {
                    Ok(w) => records.push(w),
                    Err(e) => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("{}: record {}: {e}", path.display(), records.len() + 1),
                        ));
                    }
                }
                valid_len += n as u64;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        // Drop a torn tail so new records start on a line of their own.
        file.set_len(valid_len)?;
        file.sync_all()?;
        let log = DurableLog { path: path.to_path_buf(), file, pending: Vec::new() };
        Ok((log, existed.then_some(records)))
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Appends a record; it is durable only after [`Self::sync`].
    pub fn append<W: serde::Serialize>(&mut self, write: &W) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.pending, write).map_err(std::io::Error::other)?;
        self.pending.push(b'\n');
        Ok(())
    }
    /// Writes the appended records and waits until they are on disk.
    pub fn sync(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.pending)?;
        self.file.sync_data()?;
        self.pending.clear();
        Ok(())
    }
}

/// One running node: the protocol's state, its disk image and log, its
/// timers and the effects waiting for the disk.
pub struct LiveNode<P: Protocol> {
    me: NodeId,
    params: P::Params,
    cluster: Arc<Cluster>,
    clock: LiveClock,
    state: Option<P::State>,
    disk: P::Durable,
    log: DurableLog,
    unflushed: VecDeque<(WriteId, P::DurableWrite)>,
    timers: BTreeMap<P::Timer, (TimerId, Instant)>,
    after_disk: VecDeque<(WriteId, Effect<P>)>,
    io: NodeIo,
    out: Outbox<P>,
    /// Leave the handlers' writes unsynced until [`LiveNode::sync`] (a
    /// disk with latency); otherwise each handler's writes are fsynced
    /// before it returns.
    defer_sync: bool,
    /// Records read back from the log at start (`None`: a new log).
    recovered: Option<usize>,
    /// Records in the log that an fsync has made durable.
    durable: usize,
}

impl<P: Protocol> LiveNode<P> {
    /// Starts node `me` with its log at `log_path`: `init` on a new log,
    /// `recover` from the records of an existing one (a restart).
    pub fn start(
        me: NodeId,
        params: P::Params,
        cluster: Arc<Cluster>,
        seed: u64,
        clock: LiveClock,
        log_path: &Path,
        out: &mut Vec<Output<P>>,
    ) -> std::io::Result<Self> {
        Self::start_with(me, params, cluster, seed, clock, log_path, false, out)
    }

    /// [`LiveNode::start`], with the handlers' writes left unsynced until
    /// [`LiveNode::sync`] when `defer_sync` (the caller models a disk that
    /// takes time: a crash before the sync loses them, and what is gated on
    /// them waits).
    #[allow(clippy::too_many_arguments)]
    pub fn start_with(
        me: NodeId,
        params: P::Params,
        cluster: Arc<Cluster>,
        seed: u64,
        clock: LiveClock,
        log_path: &Path,
        defer_sync: bool,
        out: &mut Vec<Output<P>>,
    ) -> std::io::Result<Self> {
        let (log, records) = DurableLog::open::<P::DurableWrite>(log_path)?;
        let recovered = records.as_ref().map(Vec::len);
        let mut disk = P::Durable::default();
        let recovering = records.is_some();
        for w in records.iter().flatten() {
            P::apply_write(&mut disk, w);
        }
        let io = NodeIo {
            clock: Clock::new(SimTime(0), 0, 0),
            rng: RngStream::new(seed, StreamKind::Node, me.0 as u64, 0),
            next_timer: 0,
            next_write: 0,
            on_disk: 0,
        };
        let mut node = LiveNode {
            me,
            params,
            cluster,
            clock,
            state: None,
            disk,
            log,
            unflushed: VecDeque::new(),
            timers: BTreeMap::new(),
            after_disk: VecDeque::new(),
            io,
            out: Outbox::default(),
            defer_sync,
            recovered,
            durable: recovered.unwrap_or(0),
        };
        let now = node.clock.now();
        let mut ctx = Context::new(me, now, &node.params, &node.cluster, &mut node.io, false, &mut node.out);
        let state = if recovering { P::recover(&mut ctx, &node.disk) } else { P::init(&mut ctx) };
        node.state = Some(state);
        node.perform(out)?;
        Ok(node)
    }

    pub fn me(&self) -> NodeId {
        self.me
    }
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }
    /// The protocol time now.
    pub fn now(&self) -> SimTime {
        self.clock.now()
    }
    /// The node's state and disk (for views and tests).
    pub fn state(&self) -> Option<(&P::State, &P::Durable)> {
        self.state.as_ref().map(|s| (s, &self.disk))
    }
    pub fn log_path(&self) -> &Path {
        self.log.path()
    }
    /// How many records the node read back from its log when it started
    /// (`None`: it started on a new log).
    pub fn recovered(&self) -> Option<usize> {
        self.recovered
    }
    /// Records in the log that an fsync made durable (the recovered ones
    /// included): what a crash now leaves.
    pub fn durable(&self) -> usize {
        self.durable
    }
    /// Writes appended to the log and not yet fsynced (a crash now loses
    /// them).
    pub fn unsynced(&self) -> usize {
        self.unflushed.len()
    }

    /// An operator's command (`promote`, ...).
    pub fn on_command(&mut self, command: &Command, out: &mut Vec<Output<P>>) -> std::io::Result<()> {
        self.handle(out, |s, ctx| P::on_command(s, ctx, command))
    }

    /// A message from `from` arrives.
    pub fn on_message(&mut self, from: NodeId, msg: P::Msg, out: &mut Vec<Output<P>>) -> std::io::Result<()> {
        self.handle(out, |s, ctx| P::on_message(s, ctx, from, msg))
    }
    /// A client's request arrives.
    pub fn on_client_request(
        &mut self,
        request: ClientRequest<OpOf<P>>,
        out: &mut Vec<Output<P>>,
    ) -> std::io::Result<()> {
        self.handle(out, |s, ctx| P::on_client_request(s, ctx, request))
    }
    /// When the next timer is due, if one is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.values().map(|&(_, at)| at).min()
    }
    /// Fires every timer due by `now`, earliest first.
    pub fn fire_due_timers(&mut self, now: Instant, out: &mut Vec<Output<P>>) -> std::io::Result<()> {
        loop {
            let due = self
                .timers
                .iter()
                .filter(|(_, (_, at))| *at <= now)
                .min_by_key(|(_, (id, at))| (*at, *id))
                .map(|(t, _)| t.clone());
            let Some(timer) = due else { return Ok(()) };
            self.timers.remove(&timer);
            self.handle(out, |s, ctx| P::on_timer(s, ctx, timer))?;
        }
    }

    /// Runs one handler and performs what it recorded.
    fn handle(
        &mut self,
        out: &mut Vec<Output<P>>,
        f: impl FnOnce(&mut P::State, &mut Context<'_, P>),
    ) -> std::io::Result<()> {
        let now = self.clock.now();
        let Some(state) = self.state.as_mut() else { return Ok(()) };
        let mut ctx =
            Context::new(self.me, now, &self.params, &self.cluster, &mut self.io, false, &mut self.out);
        f(state, &mut ctx);
        self.perform(out)
    }

    /// Performs the recorded effects (see the module docs), then handles
    /// loopbacks, then makes the handler's writes durable and releases
    /// what waited for them.
    fn perform(&mut self, out: &mut Vec<Output<P>>) -> std::io::Result<()> {
        // Drained and put back: the outbox keeps its room for the next
        // handler (taken whole, every handler's first effect grew it anew).
        let mut effects = std::mem::take(&mut self.out.effects);
        let mut loopback = Vec::new();
        let now = Instant::now();
        for (gate, effect) in effects.drain(..) {
            if let Some(w) = gate {
                self.after_disk.push_back((w, effect));
                continue;
            }
            match effect {
                Effect::Write { id, write } => {
                    self.log.append(&write)?;
                    self.unflushed.push_back((id, write));
                }
                Effect::SetTimer { timer, after, generation } => {
                    let at = self.clock.deadline(now, after);
                    self.timers.insert(timer, (generation, at));
                }
                Effect::CancelTimer(timer) => {
                    self.timers.remove(&timer);
                    self.after_disk
                        .retain(|(_, e)| !matches!(e, Effect::SetTimer { timer: t, .. } if *t == timer));
                }
                Effect::Send { to, msg } => out.push(Output::Send { to, msg }),
                Effect::Reply { to, reply } => out.push(Output::Reply { to, reply }),
                Effect::Observe(o) => out.push(Output::Observe(o)),
                Effect::Note(text) => out.push(Output::Note(text)),
                Effect::Loopback(msg) => loopback.push(msg),
            }
        }
        self.out.effects = effects;
        let me = self.me;
        for msg in loopback {
            self.handle(out, |s, ctx| P::on_message(s, ctx, me, msg))?;
        }
        if self.defer_sync {
            return Ok(());
        }
        self.sync(out)
    }

    /// Makes every appended write durable (one fsync: group commit), then
    /// applies them to the disk image and releases what waited for them.
    pub fn sync(&mut self, out: &mut Vec<Output<P>>) -> std::io::Result<()> {
        if self.unflushed.is_empty() {
            return Ok(());
        }
        // Only the writes synced here: a handler run below may append more,
        // which wait for the next sync.
        let synced = self.unflushed.len();
        self.log.sync()?;
        self.durable += synced;
        for _ in 0..synced {
            // A nested sync (a handler below, not deferring) may have
            // released the rest already.
            let Some((id, write)) = self.unflushed.pop_front() else { break };
            P::apply_write(&mut self.disk, &write);
            self.persisted(id, out)?;
        }
        Ok(())
    }

    /// Write `id` (and every earlier one) is on disk: release what waited
    /// for it, then tell the protocol.
    fn persisted(&mut self, id: WriteId, out: &mut Vec<Output<P>>) -> std::io::Result<()> {
        self.io.on_disk = self.io.on_disk.max(id.0);
        out.push(Output::Persisted(id));
        while self.after_disk.front().is_some_and(|(w, _)| *w <= id) {
            if let Some((_, effect)) = self.after_disk.pop_front() {
                self.out.effects.push((None, effect));
            }
        }
        self.handle(out, |s, ctx| P::on_persisted(s, ctx, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::{ClientRequest, KvAnswer, KvOp, Outcome};
    use crate::protocols::quorum::Quorum;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("distlab-live-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A crash between the append and the fsync loses the record: only
    /// what [`DurableLog::sync`] returned for survives, and a torn last
    /// line (the crash cut a write short) is ignored and cut off.
    #[test]
    fn only_synced_records_survive_a_crash() {
        let dir = scratch("log");
        let path = dir.join("n1.log");
        let (mut log, first) = DurableLog::open::<u32>(&path).unwrap();
        assert!(first.is_none(), "a new log: the node starts fresh");
        for r in [1u32, 2] {
            log.append(&r).unwrap();
        }
        log.sync().unwrap();
        log.append(&3u32).unwrap(); // appended, never synced
        drop(log); // the crash
        // And the disk had started a record the crash cut short.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"4").unwrap();
        let (mut log, records) = DurableLog::open::<u32>(&path).unwrap();
        assert_eq!(records, Some(vec![1, 2]));
        log.append(&5u32).unwrap();
        log.sync().unwrap();
        let (_, records) = DurableLog::open::<u32>(&path).unwrap();
        assert_eq!(records, Some(vec![1, 2, 5]), "a new record after the torn one starts a line of its own");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn write(node: &mut LiveNode<Quorum>, op_id: u64, key: u32, value: u64) -> Outcome<KvAnswer> {
        let request = ClientRequest {
            from: ClientRef { endpoint: crate::nodes::EndpointId(1), op_id, attempt: 0 },
            idempotency_key: op_id,
            op: KvOp::Write { key, value },
            session: 0,
            invoked_at_us: node.now().0 as i64,
        };
        let mut out = Vec::new();
        node.on_client_request(request, &mut out).unwrap();
        // The acknowledgement is released only once the write is fsynced.
        let mut persisted = false;
        let mut replies = Vec::new();
        for o in out {
            match o {
                Output::Persisted(_) => persisted = true,
                Output::Reply { reply, .. } => {
                    assert!(persisted, "write {op_id} acknowledged before it was fsynced");
                    replies.push(reply.outcome);
                }
                _ => {}
            }
        }
        assert_eq!(replies.len(), 1, "one reply to one write");
        let (_, on_disk) = DurableLog::open::<<Quorum as Protocol>::DurableWrite>(node.log_path()).unwrap();
        assert_eq!(on_disk.unwrap().len() as u64, op_id, "every acknowledged write is in the log");
        replies.into_iter().next().unwrap()
    }

    /// A live quorum node (one replica) acknowledges each write once it
    /// is fsynced, and after a crash recovers every acknowledged write
    /// from its log.
    #[test]
    fn a_restarted_node_recovers_what_it_acknowledged() {
        let dir = scratch("restart");
        let path = dir.join("n1.log");
        let scenario = crate::scenario::load_str(
            &crate::protocols::registry(),
            "t.toml",
            "[scenario]\nname = \"t\"\nprotocol = \"quorum\"\nduration = \"1s\"\n[cluster]\nnodes = 1\n",
        )
        .unwrap();
        let params = scenario.params.downcast_ref::<<Quorum as Protocol>::Params>().unwrap().clone();
        let start = |out: &mut Vec<Output<Quorum>>| {
            LiveNode::<Quorum>::start(
                NodeId(0),
                params.clone(),
                scenario.cluster.clone(),
                0,
                LiveClock::new(1.0),
                &path,
                out,
            )
            .unwrap()
        };
        let mut node = start(&mut Vec::new());
        for (op_id, key, value) in [(1, 0, 10), (2, 1, 20), (3, 0, 30)] {
            assert!(matches!(write(&mut node, op_id, key, value), Outcome::Ok { .. }));
        }
        let before = format!("{:?}", node.state().unwrap().1);
        drop(node); // the crash
        let node = start(&mut Vec::new());
        assert_eq!(format!("{:?}", node.state().unwrap().1), before, "the disk after recovery");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

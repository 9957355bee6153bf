//! A distlab node as a [Maelstrom](https://github.com/jepsen-io/maelstrom)
//! binary: JSON messages, one per line, on standard input and output.
//!
//! Every message is `{"src": ..., "dest": ..., "body": {...}}`; a body has
//! a `type`, a `msg_id`, and in a reply `in_reply_to` (Maelstrom's
//! `doc/protocol.md`). This node answers:
//!
//! - `init` (`node_id`, `node_ids`) with `init_ok`: the cluster is the
//!   node ids in the order given (the first is `n1` of the protocol);
//! - `echo` with `echo_ok` carrying the same `echo` (Maelstrom's echo
//!   workload), whatever the protocol;
//! - the `lin-kv` workload's `read` (`read_ok` with `value`), `write`
//!   (`write_ok`) and `cas` (`cas_ok`), as the protocol's client
//!   operations. Keys and values are non-negative integers.
//!
//! Errors are Maelstrom's codes: 20 `key-does-not-exist` (a read or cas
//! of a key never written), 22 `precondition-failed` (cas found another
//! value), 11 `temporarily-unavailable` when the protocol says the
//! operation certainly did not happen (definite), 13 `crash` when it does
//! not know (indefinite: the write may have happened), 12
//! `malformed-request`, 10 `not-supported` for any other type.
//!
//! Between nodes, a body of type `distlab` carries the protocol's own
//! message (`msg`, its serde form). A node that answers a client with a
//! redirect (a replica, in primary–replica) has the operation forwarded to
//! the node it names (`distlab_forward`), which runs it — a cas whole —
//! and sends the answer back (`distlab_forwarded`); the first node
//! answers the client. At most one forward per node in the cluster, then
//! error 11.
//!
//! `cas` is a read followed, if the value matches, by a write, both
//! through the protocol (the protocols offer no compare-and-set of their
//! own). While a cas runs on a node, the writes and cas on its key that
//! reach that node wait for it, so a cas is atomic among the operations
//! one node runs: with primary–replica and `reads = "primary"` every
//! operation runs on the primary. Operations at *other* nodes (a quorum
//! coordinator elsewhere) may still slip between the read and the write;
//! Maelstrom's linearizability checker will find that, as it should.
//!
//! The node's clock is the system's (µs since the Unix epoch): nodes on
//! one machine agree on it, as last-writer-wins versions need.
//!
//! Durable writes go to a log file per node, fsynced before anything
//! gated on them is released ([`super::host`]); a node restarted with the
//! same data directory recovers from it. Timers run on the wall clock:
//! the node's thread waits for the next input line or its next timer.

use super::host::{LiveClock, LiveNode, Output};
use crate::nodes::{
    ClientRef, ClientReply, ClientRequest, EndpointId, KvAnswer, KvOp, NodeId, Outcome, Protocol, Workload,
};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

/// Maelstrom's error codes that this node sends.
pub mod code {
    pub const NOT_SUPPORTED: u64 = 10;
    pub const TEMPORARILY_UNAVAILABLE: u64 = 11;
    pub const MALFORMED_REQUEST: u64 = 12;
    pub const CRASH: u64 = 13;
    pub const KEY_DOES_NOT_EXIST: u64 = 20;
    pub const PRECONDITION_FAILED: u64 = 22;
}

/// How to run the node.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the node's log lives (`NODE_ID.log`); a restart with the same
    /// directory recovers from it.
    pub data_dir: PathBuf,
    /// Seed of the node's own random stream.
    pub seed: u64,
}

/// A protocol whose clients read and write keys (`lin-kv`).
pub trait KvProtocol: Protocol<Workload: Workload<Op = KvOp, Answer = KvAnswer>> {}
impl<P: Protocol<Workload: Workload<Op = KvOp, Answer = KvAnswer>>> KvProtocol for P {}

/// What a client operation in progress is for.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
enum Step {
    Read,
    Write,
    /// The read of a cas: write `to` if the key holds `from`.
    CasRead {
        from: u64,
        to: u64,
    },
    /// The write of a cas whose read matched.
    CasWrite,
}

/// Who waits for an operation: a Maelstrom client, or the node that
/// forwarded it.
#[derive(Clone, Debug)]
enum Origin {
    Client { src: String, msg_id: Option<u64> },
    Peer { node: NodeId, op_ref: u64 },
}

#[derive(Clone, Debug)]
struct Open {
    origin: Origin,
    /// Who sent it here: a client's name, or the forwarding node's.
    client: String,
    step: Step,
    op: KvOp,
    /// Forwards so far (at most one per node in the cluster).
    forwards: u32,
}

/// The node and its bookkeeping between Maelstrom and the protocol.
struct Server<P: KvProtocol> {
    node: LiveNode<P>,
    names: Vec<String>,
    clients: BTreeMap<String, u32>,
    open: BTreeMap<u64, Open>,
    /// Keys with a cas running on this node, and the operations on them
    /// that wait for it to end, in arrival order.
    locked: BTreeMap<u32, Vec<Open>>,
    next_op: u64,
    next_msg: u64,
    lines: Vec<String>,
}

/// Runs one node until standard input ends. `params` builds the
/// protocol's parameters for the cluster `init` names.
pub fn serve<P: KvProtocol>(
    options: &Options,
    params: impl FnOnce(&[String]) -> anyhow::Result<P::Params>,
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stdout = std::io::stdout();
    // Wait for `init`; what arrives before it (a peer initialised
    // earlier may already talk to this node) is handled after it.
    let mut early = Vec::new();
    let (init, me, names) = loop {
        let Ok(line) = rx.recv() else { return Ok(()) };
        let Some(msg) = parse(&line) else { continue };
        let body = &msg["body"];
        if body["type"] != "init" {
            early.push(msg);
            continue;
        }
        let me = body["node_id"].as_str().unwrap_or_default().to_string();
        let names: Vec<String> = body["node_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        match names.iter().position(|n| *n == me) {
            Some(i) => break (msg.clone(), NodeId(i as u32), names),
            None => {
                let e = error_body(body, code::MALFORMED_REQUEST, "init: node_id is not in node_ids");
                emit(&mut stdout.lock(), &me, &msg["src"], e)?;
            }
        }
    };
    let p = params(&names)?;
    let cluster = std::sync::Arc::new(crate::nodes::Cluster {
        names: names.clone(),
        region_of: vec![0; names.len()],
        regions: vec!["default".into()],
    });
    std::fs::create_dir_all(&options.data_dir)?;
    let log = options.data_dir.join(format!("{}.log", names[me.index()]));
    let mut outputs = Vec::new();
    let node = LiveNode::<P>::start(me, p, cluster, options.seed, LiveClock::system(), &log, &mut outputs)?;
    let mut server = Server {
        node,
        names,
        clients: BTreeMap::new(),
        open: BTreeMap::new(),
        locked: BTreeMap::new(),
        next_op: 0,
        next_msg: 0,
        lines: Vec::new(),
    };
    let reply = json!({"type": "init_ok", "in_reply_to": init["body"]["msg_id"]});
    server.to(&init["src"], reply);
    for msg in early {
        server.receive(&msg, &mut outputs)?;
    }
    server.route(outputs);
    server.flush(&stdout)?;

    loop {
        let wait = server.node.next_deadline().map(|d| d.saturating_duration_since(Instant::now()));
        let line = match wait {
            Some(w) => match rx.recv_timeout(w) {
                Ok(line) => Some(line),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(line) => Some(line),
                Err(_) => break,
            },
        };
        let mut outputs = Vec::new();
        if let Some(line) = line
            && let Some(msg) = parse(&line)
        {
            server.receive(&msg, &mut outputs)?;
        }
        server.node.fire_due_timers(Instant::now(), &mut outputs)?;
        server.route(outputs);
        server.flush(&stdout)?;
    }
    Ok(())
}

/// A line of input as JSON; a line that is not is reported on standard
/// error (Maelstrom's log) and skipped.
fn parse(line: &str) -> Option<Json> {
    match serde_json::from_str::<Json>(line) {
        Ok(v) if v["body"].is_object() => Some(v),
        Ok(_) => {
            eprintln!("distlab maelstrom: a message without a body: {line}");
            None
        }
        Err(e) => {
            eprintln!("distlab maelstrom: not JSON ({e}): {line}");
            None
        }
    }
}

/// An `error` body answering `request`.
fn error_body(request: &Json, code: u64, text: &str) -> Json {
    json!({"type": "error", "in_reply_to": request["msg_id"], "code": code, "text": text})
}

fn emit(out: &mut impl Write, src: &str, dest: &Json, body: Json) -> std::io::Result<()> {
    let line = json!({"src": src, "dest": dest, "body": body});
    writeln!(out, "{line}")?;
    out.flush()
}

impl<P: KvProtocol> Server<P> {
    fn me(&self) -> &str {
        &self.names[self.node.me().index()]
    }

    /// Queues a message with a fresh `msg_id`.
    fn to(&mut self, dest: &Json, mut body: Json) {
        self.next_msg += 1;
        body["msg_id"] = json!(self.next_msg);
        self.lines.push(json!({"src": self.me(), "dest": dest, "body": body}).to_string());
    }

    fn flush(&mut self, stdout: &std::io::Stdout) -> std::io::Result<()> {
        if self.lines.is_empty() {
            return Ok(());
        }
        let mut out = stdout.lock();
        for line in self.lines.drain(..) {
            writeln!(out, "{line}")?;
        }
        out.flush()
    }

    /// One incoming message.
    fn receive(&mut self, msg: &Json, outputs: &mut Vec<Output<P>>) -> std::io::Result<()> {
        let body = &msg["body"];
        let src = msg["src"].as_str().unwrap_or_default().to_string();
        let peer = self.names.iter().position(|n| *n == src).map(|i| NodeId(i as u32));
        match (body["type"].as_str().unwrap_or_default(), peer) {
            ("distlab", Some(from)) => match serde_json::from_value::<P::Msg>(body["msg"].clone()) {
                Ok(m) => self.node.on_message(from, m, outputs)?,
                Err(e) => eprintln!("distlab maelstrom: a message from {src} that is not {}'s: {e}", P::NAME),
            },
            ("distlab_forward", Some(from)) => {
                let op = serde_json::from_value::<KvOp>(body["op"].clone());
                let step = serde_json::from_value::<Step>(body["step"].clone());
                match (body["op_ref"].as_u64(), op, step, body["forwards"].as_u64()) {
                    (Some(op_ref), Ok(op), Ok(step), Some(forwards)) => {
                        let origin = Origin::Peer { node: from, op_ref };
                        let forwards = forwards as u32;
                        self.invoke(Open { origin, client: src.clone(), step, op, forwards }, outputs)?
                    }
                    _ => eprintln!("distlab maelstrom: a malformed forward from {src}"),
                }
            }
            ("distlab_forwarded", Some(_)) => match body["op_ref"].as_u64() {
                Some(op_ref) if body["body"].is_object() => {
                    if let Some(open) = self.open.remove(&op_ref) {
                        self.finish(open.origin, body["body"].clone());
                    }
                }
                _ => eprintln!("distlab maelstrom: a malformed forwarded reply from {src}"),
            },
            ("echo", _) => {
                let reply = json!({"type": "echo_ok", "in_reply_to": body["msg_id"], "echo": body["echo"]});
                self.to(&msg["src"], reply);
            }
            ("read", _) => match key(body) {
                Some(key) => self.client_op(&src, body, Step::Read, KvOp::Read { key }, outputs)?,
                None => self.malformed(&msg["src"], body, "read needs an integer key"),
            },
            ("write", _) => match (key(body), body["value"].as_u64()) {
                (Some(key), Some(value)) => {
                    self.client_op(&src, body, Step::Write, KvOp::Write { key, value }, outputs)?
                }
                _ => self.malformed(
                    &msg["src"],
                    body,
                    "write needs an integer key and a non-negative integer value",
                ),
            },
            ("cas", _) => match (key(body), body["from"].as_u64(), body["to"].as_u64()) {
                (Some(key), Some(from), Some(to)) => {
                    self.client_op(&src, body, Step::CasRead { from, to }, KvOp::Read { key }, outputs)?
                }
                _ => self.malformed(
                    &msg["src"],
                    body,
                    "cas needs an integer key and non-negative integers from and to",
                ),
            },
            ("init", _) => {
                let e = error_body(body, code::MALFORMED_REQUEST, "already initialised");
                self.to(&msg["src"], e);
            }
            (other, _) => {
                if body["msg_id"].is_u64() {
                    let e = error_body(body, code::NOT_SUPPORTED, &format!("{other:?} is not supported"));
                    self.to(&msg["src"], e);
                }
            }
        }
        Ok(())
    }

    fn malformed(&mut self, dest: &Json, body: &Json, text: &str) {
        let e = error_body(body, code::MALFORMED_REQUEST, text);
        self.to(dest, e);
    }

    /// A client's read, write or cas: the protocol's operation `op`.
    fn client_op(
        &mut self,
        src: &str,
        body: &Json,
        step: Step,
        op: KvOp,
        outputs: &mut Vec<Output<P>>,
    ) -> std::io::Result<()> {
        let origin = Origin::Client { src: src.to_string(), msg_id: body["msg_id"].as_u64() };
        self.invoke(Open { origin, client: src.to_string(), step, op, forwards: 0 }, outputs)
    }

    /// Hands an operation to the protocol as a client request — unless it
    /// writes (a write, a cas) a key a cas is running on here: then it
    /// waits for the cas to end, so that a cas is atomic among the
    /// operations this node runs. A read need not wait: it sees the value
    /// before the cas or after it, and either is a moment the cas was not
    /// yet, or already, done.
    fn invoke(&mut self, open: Open, outputs: &mut Vec<Output<P>>) -> std::io::Result<()> {
        let key = open.op.key();
        if matches!(open.step, Step::Write | Step::CasRead { .. })
            && let Some(waiting) = self.locked.get_mut(&key)
        {
            waiting.push(open);
            return Ok(());
        }
        if matches!(open.step, Step::CasRead { .. }) {
            self.locked.insert(key, Vec::new());
        }
        self.next_op += 1;
        let op_id = self.next_op;
        let n = self.names.len() as u32;
        let next_client = n + self.clients.len() as u32;
        let endpoint = EndpointId(*self.clients.entry(open.client.clone()).or_insert(next_client));
        let request = ClientRequest {
            from: ClientRef { endpoint, op_id, attempt: 0 },
            // Unique in the cluster: the node's index and its counter.
            idempotency_key: ((self.node.me().0 as u64) << 48) | op_id,
            op: open.op,
            session: 0,
            invoked_at_us: self.node.now().0 as i64,
        };
        self.open.insert(op_id, open);
        self.node.on_client_request(request, outputs)
    }

    /// The cas on `key` ended here (answered, or forwarded away): the
    /// operations that waited for it run, in arrival order.
    fn unlock(&mut self, key: u32, outputs: &mut Vec<Output<P>>) -> std::io::Result<()> {
        for open in self.locked.remove(&key).unwrap_or_default() {
            self.invoke(open, outputs)?;
        }
        Ok(())
    }

    /// Sends the answer `body` to whoever waits for it: the client, or the
    /// node that forwarded the operation here.
    fn finish(&mut self, origin: Origin, mut body: Json) {
        match origin {
            Origin::Client { src, msg_id } => {
                body["in_reply_to"] = json!(msg_id);
                self.to(&json!(src), body);
            }
            Origin::Peer { node, op_ref } => {
                let dest = json!(self.names[node.index()]);
                self.to(&dest, json!({"type": "distlab_forwarded", "op_ref": op_ref, "body": body}));
            }
        }
    }

    /// Sends the node's outputs: messages to peers, replies to clients.
    fn route(&mut self, outputs: Vec<Output<P>>) {
        let mut pending = outputs;
        while !pending.is_empty() {
            let mut more = Vec::new();
            for o in pending {
                match o {
                    Output::Send { to, msg } => {
                        let dest = json!(self.names[to.index()]);
                        match serde_json::to_value(&msg) {
                            Ok(m) => self.to(&dest, json!({"type": "distlab", "msg": m})),
                            Err(e) => eprintln!("distlab maelstrom: cannot encode {msg:?}: {e}"),
                        }
                    }
                    Output::Reply { to, reply } => {
                        if let Err(e) = self.complete(to.op_id, reply, &mut more) {
                            eprintln!("distlab maelstrom: {e}");
                        }
                    }
                    Output::Observe(_) | Output::Note(_) | Output::Persisted(_) => {}
                }
            }
            pending = more;
        }
    }

    /// The protocol answered operation `op_id`.
    fn complete(
        &mut self,
        op_id: u64,
        reply: ClientReply<KvAnswer>,
        outputs: &mut Vec<Output<P>>,
    ) -> std::io::Result<()> {
        let Some(mut open) = self.open.remove(&op_id) else { return Ok(()) }; // a late duplicate
        let key = open.op.key();
        let cas = matches!(open.step, Step::CasRead { .. } | Step::CasWrite);
        let error = |code: u64, text: &str| json!({"type": "error", "code": code, "text": text});
        let body = match reply.outcome {
            Outcome::Redirect { to: Some(to) }
                if to != self.node.me() && open.forwards < self.names.len() as u32 =>
            {
                // The whole operation (a cas too) runs on the node named.
                open.forwards += 1;
                let op = serde_json::to_value(open.op).map_err(std::io::Error::other)?;
                let step = serde_json::to_value(&open.step).map_err(std::io::Error::other)?;
                let forward = json!({"type": "distlab_forward", "op_ref": op_id, "op": op, "step": step, "forwards": open.forwards});
                let peer = json!(self.names[to.index()]);
                self.open.insert(op_id, open);
                self.to(&peer, forward);
                return if cas { self.unlock(key, outputs) } else { Ok(()) };
            }
            Outcome::Redirect { .. } => error(code::TEMPORARILY_UNAVAILABLE, "no primary known to this node"),
            Outcome::Fail { reason } => error(code::TEMPORARILY_UNAVAILABLE, &reason),
            Outcome::Unknown { reason } => error(code::CRASH, &reason),
            Outcome::Ok { answer } => match (&open.step, answer) {
                (Step::Read, KvAnswer::Value(v)) => json!({"type": "read_ok", "value": v}),
                (Step::Read | Step::CasRead { .. }, KvAnswer::None) => {
                    error(code::KEY_DOES_NOT_EXIST, "the key was never written")
                }
                (Step::Write, _) => json!({"type": "write_ok"}),
                (Step::CasWrite, _) => json!({"type": "cas_ok"}),
                (&Step::CasRead { from, to }, KvAnswer::Value(v)) => {
                    if v != from {
                        error(code::PRECONDITION_FAILED, &format!("expected {from}, found {v}"))
                    } else {
                        // The key stays locked until the write is answered.
                        let write = Open {
                            step: Step::CasWrite,
                            op: KvOp::Write { key, value: to },
                            forwards: open.forwards,
                            ..open
                        };
                        return self.invoke(write, outputs);
                    }
                }
            },
        };
        self.finish(open.origin, body);
        if cas { self.unlock(key, outputs) } else { Ok(()) }
    }
}

/// A body's `key`, as a distlab key (a small non-negative integer).
fn key(body: &Json) -> Option<u32> {
    body["key"].as_u64().and_then(|k| u32::try_from(k).ok())
}

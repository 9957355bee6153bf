//! Conformance of `distlab maelstrom` with Maelstrom's protocol
//! (`doc/protocol.md` of jepsen-io/maelstrom): a small harness that does
//! what Maelstrom does — spawns one process per node, sends `init`,
//! routes the nodes' messages to each other over their standard input and
//! output, and plays a client — and checks every reply: `init_ok`,
//! `echo_ok`, `lin-kv`'s `read_ok`/`write_ok`/`cas_ok`, and the error
//! codes (20 key-does-not-exist, 22 precondition-failed, 11 definite,
//! 13 indefinite, 12 malformed, 10 not supported). Timeouts are generous:
//! a reply is waited for up to a minute, never assumed fast.

use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(60);

struct Node {
    child: Child,
    stdin: ChildStdin,
}

/// A cluster of `distlab maelstrom` processes and the network between them.
struct Harness {
    names: Vec<String>,
    nodes: Vec<Option<Node>>,
    protocol: String,
    params: Vec<String>,
    dir: PathBuf,
    tx: Sender<Json>,
    rx: Receiver<Json>,
    next_msg: u64,
    /// Messages between nodes that were routed (for the tests' assertions).
    routed: u64,
    /// Requests not answered yet: msg_id → (client, node asked).
    asked: BTreeMap<u64, (String, String)>,
    /// Replies not collected yet, by the request's msg_id.
    answers: BTreeMap<u64, Json>,
}

impl Harness {
    fn new(protocol: &str, nodes: usize, params: &[&str]) -> Harness {
        let dir = std::env::temp_dir().join(format!(
            "distlab-maelstrom-test-{}-{protocol}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (tx, rx) = channel();
        let mut h = Harness {
            names: (1..=nodes).map(|i| format!("n{i}")).collect(),
            nodes: Vec::new(),
            protocol: protocol.into(),
            params: params.iter().map(|p| p.to_string()).collect(),
            dir,
            tx,
            rx,
            next_msg: 0,
            routed: 0,
            asked: BTreeMap::new(),
            answers: BTreeMap::new(),
        };
        // As Maelstrom does: every process runs before any is initialised.
        h.nodes.resize_with(nodes, || None);
        for i in 0..nodes {
            h.spawn(i);
        }
        for i in 0..nodes {
            h.init(i);
        }
        h
    }

    /// Starts (or restarts) node `i` and initialises it.
    fn start(&mut self, i: usize) {
        self.spawn(i);
        self.init(i);
    }

    fn spawn(&mut self, i: usize) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_distlab"));
        cmd.args(["maelstrom", &self.protocol, "--data-dir"]).arg(&self.dir);
        for p in &self.params {
            cmd.args(["--param", p]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn distlab");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let msg: Json =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        self.nodes[i] = Some(Node { child, stdin });
    }

    fn init(&mut self, i: usize) {
        let names = self.names.clone();
        let reply = self.call(i, json!({"type": "init", "node_id": names[i], "node_ids": names}));
        assert_eq!(reply["type"], "init_ok", "{reply}");
    }

    /// Kills node `i`'s process (SIGKILL: nothing is flushed on the way out).
    fn kill(&mut self, i: usize) {
        if let Some(mut node) = self.nodes[i].take() {
            node.child.kill().unwrap();
            node.child.wait().unwrap();
        }
    }

    fn deliver(&mut self, msg: &Json) {
        let dest = msg["dest"].as_str().unwrap();
        let i = self.names.iter().position(|n| n == dest).unwrap_or_else(|| panic!("no node {dest}"));
        // A message to a killed node is lost, as on a network.
        if let Some(node) = self.nodes[i].as_mut() {
            let _ = writeln!(node.stdin, "{msg}");
        }
    }

    /// Sends `body` from client `c1` to node `i` and waits for the reply,
    /// routing the nodes' messages meanwhile.
    fn call(&mut self, i: usize, body: Json) -> Json {
        let msg_id = self.request(i, "c1", body);
        self.reply(msg_id)
    }

    /// Sends `body` from `client` to node `i`; its `msg_id`.
    fn request(&mut self, i: usize, client: &str, mut body: Json) -> u64 {
        self.next_msg += 1;
        let msg_id = self.next_msg;
        body["msg_id"] = json!(msg_id);
        let msg = json!({"src": client, "dest": self.names[i], "body": body});
        self.deliver(&msg);
        self.asked.insert(msg_id, (client.to_string(), self.names[i].clone()));
        msg_id
    }

    /// Waits for the reply to request `msg_id`, routing the nodes'
    /// messages meanwhile (and keeping replies to other requests).
    fn reply(&mut self, msg_id: u64) -> Json {
        let deadline = Instant::now() + PATIENCE;
        while !self.answers.contains_key(&msg_id) {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg =
                self.rx.recv_timeout(left).unwrap_or_else(|_| panic!("no reply to {msg_id} in {PATIENCE:?}"));
            for field in ["src", "dest", "body"] {
                assert!(!msg[field].is_null(), "a message without {field}: {msg}");
            }
            assert!(msg["body"]["type"].is_string(), "a body without a type: {msg}");
            let dest = msg["dest"].as_str().unwrap();
            if self.names.iter().any(|n| n == dest) {
                self.routed += 1;
                self.deliver(&msg);
            } else if let Some(id) = msg["body"]["in_reply_to"].as_u64()
                && let Some((client, node)) = self.asked.remove(&id)
            {
                assert_eq!((dest, msg["src"].as_str().unwrap()), (client.as_str(), node.as_str()), "{msg}");
                self.answers.insert(id, msg["body"].clone());
            }
        }
        self.answers.remove(&msg_id).unwrap()
    }

    /// Routes the nodes' messages for `d` (timers keep running meanwhile).
    fn settle(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(msg) = self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if self.names.iter().any(|n| msg["dest"] == json!(n)) {
                self.routed += 1;
                self.deliver(&msg);
            }
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            if let Some(mut node) = self.nodes[i].take() {
                let _ = node.child.kill();
                let _ = node.child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn error_code(reply: &Json) -> u64 {
    assert_eq!(reply["type"], "error", "expected an error: {reply}");
    assert!(reply["text"].is_string(), "an error says why: {reply}");
    reply["code"].as_u64().unwrap()
}

#[test]
fn echo_answers_with_the_same_payload() {
    let mut h = Harness::new("echo", 2, &["window = 1"]);
    for (i, payload) in [(0, json!("hello")), (1, json!({"nested": [1, 2]}))] {
        let reply = h.call(i, json!({"type": "echo", "echo": payload}));
        assert_eq!(reply["type"], "echo_ok");
        assert_eq!(reply["echo"], payload);
    }
    // The pinger's pings travel between the processes as `distlab` bodies.
    h.settle(Duration::from_millis(200));
    assert!(h.routed > 0, "no ping was routed between the nodes");
}

#[test]
fn quorum_serves_lin_kv_with_maelstrom_error_codes() {
    let mut h = Harness::new("quorum", 3, &["n = 3", "r = 2", "w = 2", "timeout = \"2s\""]);
    // A key never written.
    assert_eq!(error_code(&h.call(0, json!({"type": "read", "key": 1}))), 20);
    assert_eq!(error_code(&h.call(1, json!({"type": "cas", "key": 1, "from": 1, "to": 2}))), 20);
    // A write at one node is read at another.
    assert_eq!(h.call(0, json!({"type": "write", "key": 1, "value": 10}))["type"], "write_ok");
    let read = h.call(2, json!({"type": "read", "key": 1}));
    assert_eq!((read["type"].as_str(), read["value"].as_u64()), (Some("read_ok"), Some(10)), "{read}");
    // Compare-and-set.
    assert_eq!(error_code(&h.call(1, json!({"type": "cas", "key": 1, "from": 9, "to": 11}))), 22);
    assert_eq!(h.call(1, json!({"type": "cas", "key": 1, "from": 10, "to": 11}))["type"], "cas_ok");
    assert_eq!(h.call(0, json!({"type": "read", "key": 1}))["value"], 11);
    // Requests this node cannot take.
    assert_eq!(error_code(&h.call(0, json!({"type": "write", "key": "k", "value": 1}))), 12);
    assert_eq!(error_code(&h.call(0, json!({"type": "txn", "txn": []}))), 10);
    assert!(h.routed > 0, "replicas answered the coordinators over the harness's network");

    // Two of three replicas gone: a read certainly did nothing (11, definite),
    // a write may have reached a replica (13, indefinite).
    h.kill(1);
    h.kill(2);
    assert_eq!(error_code(&h.call(0, json!({"type": "read", "key": 1}))), 11);
    assert_eq!(error_code(&h.call(0, json!({"type": "write", "key": 1, "value": 12}))), 13);
}

#[test]
fn primary_replica_forwards_writes_to_the_primary() {
    let mut h = Harness::new("primary-replica", 3, &["mode = \"sync\"", "failover = \"manual\""]);
    // n2 is a replica: it redirects, and the write is forwarded to n1.
    assert_eq!(h.call(1, json!({"type": "write", "key": 3, "value": 30}))["type"], "write_ok");
    // Sync replication: every replica has it once the write is acknowledged.
    for i in 0..3 {
        assert_eq!(h.call(i, json!({"type": "read", "key": 3}))["value"], 30, "n{}", i + 1);
    }
    assert_eq!(h.call(2, json!({"type": "cas", "key": 3, "from": 30, "to": 31}))["type"], "cas_ok");
    assert_eq!(h.call(0, json!({"type": "read", "key": 3}))["value"], 31);
}

/// A node killed with SIGKILL and started again with the same data
/// directory recovers what it acknowledged: the write was fsynced before
/// the acknowledgement was released.
#[test]
fn a_restarted_node_recovers_its_acknowledged_writes() {
    let mut h = Harness::new("quorum", 1, &["n = 1"]);
    for (key, value) in [(1, 100), (2, 200), (1, 101)] {
        assert_eq!(h.call(0, json!({"type": "write", "key": key, "value": value}))["type"], "write_ok");
    }
    h.kill(0);
    h.start(0);
    assert_eq!(h.call(0, json!({"type": "read", "key": 1}))["value"], 101);
    assert_eq!(h.call(0, json!({"type": "read", "key": 2}))["value"], 200);
    assert_eq!(error_code(&h.call(0, json!({"type": "read", "key": 3}))), 20);
}

/// Two clients' cas from the same value, at once: exactly one wins, and
/// the other finds the winner's value (22). The node runs a cas (a read,
/// then a write) with the other operations on its key waiting.
fn concurrent_cas_one_wins(h: &mut Harness, at: [usize; 2]) {
    assert_eq!(h.call(0, json!({"type": "write", "key": 5, "value": 1}))["type"], "write_ok");
    let a = h.request(at[0], "c2", json!({"type": "cas", "key": 5, "from": 1, "to": 2}));
    let b = h.request(at[1], "c3", json!({"type": "cas", "key": 5, "from": 1, "to": 3}));
    let (a, b) = (h.reply(a), h.reply(b));
    let won: Vec<bool> = [&a, &b].iter().map(|r| r["type"] == "cas_ok").collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "exactly one cas wins: {a} {b}");
    let loser = if won[0] { &b } else { &a };
    assert_eq!(error_code(loser), 22, "{loser}");
    let winner_value = if won[0] { 2 } else { 3 };
    assert_eq!(h.call(0, json!({"type": "read", "key": 5}))["value"], winner_value);
}

#[test]
fn concurrent_cas_at_one_quorum_node_is_atomic() {
    let mut h = Harness::new("quorum", 3, &["n = 3", "r = 2", "w = 2", "timeout = \"2s\""]);
    concurrent_cas_one_wins(&mut h, [0, 0]);
}

#[test]
fn concurrent_cas_at_replicas_runs_on_the_primary() {
    let mut h = Harness::new(
        "primary-replica",
        3,
        &["mode = \"sync\"", "failover = \"manual\"", "reads = \"primary\""],
    );
    concurrent_cas_one_wins(&mut h, [1, 2]);
}

/// A cas that cannot finish (sync replication, a replica gone) holds
/// back writes on its key, never reads: a read sees the value from
/// before the cas, which is not done yet.
#[test]
fn a_read_does_not_wait_for_a_stuck_cas() {
    let mut h = Harness::new("primary-replica", 3, &["mode = \"sync\"", "failover = \"manual\""]);
    assert_eq!(h.call(0, json!({"type": "write", "key": 7, "value": 1}))["type"], "write_ok");
    h.kill(2);
    let stuck = h.request(0, "c2", json!({"type": "cas", "key": 7, "from": 1, "to": 2}));
    let read = h.call(0, json!({"type": "read", "key": 7}));
    assert_eq!(read["type"], "read_ok", "{read}");
    assert!(h.asked.contains_key(&stuck), "the cas waits for the replica that is gone");
}

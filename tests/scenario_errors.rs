//! Pins the error messages of bad scenario files: for each mistake an
//! instructor is likely to make, the loader must name the exact
//! `file:line:column` of the offending key or value, say what was expected,
//! suggest the near miss where there is one, and never panic.

use distlab::scenario::{ScenarioError, load_str};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// One bad file: a label, the text, where the error must point
/// (`"line:column"`), a substring of the message, and optionally a
/// substring of the help line.
type Row = (&'static str, &'static str, &'static str, &'static str, Option<&'static str>);

/// A valid file; most rows below are this text plus the one mistake they are
/// about, and `base_is_valid` proves it loads.
const BASE: &str = r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3
"#;

const ROWS: &[Row] = &[
    // ---- TOML itself -------------------------------------------------
    (
        "TOML syntax error: key without `=`",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes 3
"#,
        "7:7",
        "key with no value, expected `=`",
        None,
    ),
    (
        "TOML duplicate key",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3
nodes = 4
"#,
        "8:1",
        "duplicate key",
        None,
    ),
    ("empty file never panics and asks for [scenario]", "", "1:1", "missing field `scenario`", None),
    (
        "wrong value type (crash = 1) never panics",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
crash = 1
"#,
        "11:9",
        "expected a string, found 1",
        Some("names are strings too"),
    ),
    // ---- [scenario] --------------------------------------------------
    (
        "unknown top-level table, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[netwerk]
latency = "1ms"
"#,
        "9:2",
        "unknown field `netwerk`, expected one of `scenario`, `cluster`, `protocol`, `network`",
        Some("did you mean `network`?"),
    ),
    (
        "unknown field in [scenario], near miss",
        r#"[scenario]
name = "t"
protocl = "primary-replica"
duration = "1s"

[cluster]
nodes = 3
"#,
        "3:1",
        "unknown field `protocl`, expected one of `name`, `description`, `protocol`",
        Some("did you mean `protocol`?"),
    ),
    (
        "missing required field in [scenario]",
        r#"[scenario]
name = "t"
duration = "1s"

[cluster]
nodes = 3
"#,
        "1:1",
        "missing field `protocol`",
        None,
    ),
    (
        "unknown protocol, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replca"
duration = "1s"

[cluster]
nodes = 3
"#,
        "3:12",
        "unknown protocol `primary-replca`",
        Some("did you mean `primary-replica`?"),
    ),
    (
        "positions survive CRLF line endings",
        "[scenario]\r\nname = \"t\"\r\nprotocol = \"primary-replca\"\r\nduration = \"1s\"\r\n\r\n[cluster]\r\nnodes = 3\r\n",
        "3:12",
        "unknown protocol `primary-replca`",
        Some("did you mean `primary-replica`?"),
    ),
    (
        "positions survive a multi-line string above",
        r#"[scenario]
name = "t"
description = """
line one
line two
"""
protocol = "primary-replca"
duration = "1s"

[cluster]
nodes = 3
"#,
        "7:12",
        "unknown protocol `primary-replca`",
        Some("did you mean `primary-replica`?"),
    ),
    (
        "blank name",
        r#"[scenario]
name = "  "
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3
"#,
        "2:8",
        "name must not be empty",
        None,
    ),
    // ---- durations ---------------------------------------------------
    (
        "duration without a unit",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "250"

[cluster]
nodes = 3
"#,
        "4:12",
        "`250` has no unit; write e.g. \"250ms\" (units: us, ms, s, m, h)",
        None,
    ),
    (
        "unknown time unit",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "3 fortnights"

[cluster]
nodes = 3
"#,
        "4:12",
        "unknown time unit `fortnights` in `3 fortnights` (expected us, ms, s, m or h)",
        None,
    ),
    (
        "duration zero",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "0s"

[cluster]
nodes = 3
"#,
        "4:12",
        "duration must be more than zero and at most one simulated day",
        None,
    ),
    (
        "duration over a day",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "25h"

[cluster]
nodes = 3
"#,
        "4:12",
        "at most one simulated day (\"24h\")",
        None,
    ),
    (
        "timeline `at` that is not a duration",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "soon"
crash = "n1"
"#,
        "10:6",
        "unknown time unit `soon`",
        None,
    ),
    // ---- [cluster] ---------------------------------------------------
    (
        "no [cluster] table",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"
"#,
        "1:1",
        "the scenario has no [cluster] table",
        Some("add `[cluster]` with `nodes = 3`"),
    ),
    (
        "nodes = 0",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 0
"#,
        "7:9",
        "nodes must be between 1 and 64",
        None,
    ),
    (
        "nodes = 100",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 100
"#,
        "7:9",
        "nodes must be between 1 and 64",
        None,
    ),
    (
        "nodes neither a count nor a list",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = "three"
"#,
        "7:9",
        "nodes must be a count (`nodes = 3`) or a list of names",
        None,
    ),
    (
        "empty node list",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = []
"#,
        "7:9",
        "there must be between 1 and 64 nodes",
        None,
    ),
    (
        "duplicate node names",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = ["a", "b", "a"]
"#,
        "7:9",
        "node `a` is listed twice",
        None,
    ),
    (
        "[cluster.node.nX] for a node that does not exist",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[cluster.node.n4]
clock_offset = "5ms"
"#,
        "9:15",
        "there is no node `n4`",
        Some("the nodes are: n1, n2, n3"),
    ),
    (
        "clock drift out of range",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[cluster.node.n2]
clock_drift_ppm = 200000
"#,
        "9:15",
        "clock_drift_ppm must be within ±100000 (10%)",
        None,
    ),
    // ---- [protocol] (second pass) ------------------------------------
    (
        "unknown field in [protocol] lists the fields",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[protocol]
repliation = "async"
"#,
        "10:1",
        "unknown field `repliation`, expected one of `mode`, `heartbeat`, `failover_timeout`, \
         `ship_interval`, `compact_after`, `failover`, `fencing`, `initial_primary`",
        None,
    ),
    (
        "bad mode, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[protocol]
mode = "asynk"
"#,
        "10:8",
        "unknown variant `asynk`, expected one of `async`, `semi-sync`, `sync`",
        Some("did you mean `async`?"),
    ),
    (
        "bad failover, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[protocol]
mode = "sync"
failover = "manul"
"#,
        "11:12",
        "unknown variant `manul`, expected `auto` or `manual`",
        Some("did you mean `manual`?"),
    ),
    (
        "failover_timeout shorter than heartbeat",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[protocol]
heartbeat = "100ms"
failover_timeout = "80ms"
"#,
        "11:20",
        "failover_timeout (80ms) must be longer than heartbeat (100ms)",
        Some("otherwise replicas elect a new primary"),
    ),
    (
        "heartbeat longer than the default failover_timeout points at heartbeat",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[protocol]
heartbeat = "1s"
"#,
        "10:13",
        "failover_timeout (300ms) must be longer than heartbeat (1s)",
        Some("otherwise replicas elect a new primary"),
    ),
    (
        "ship_interval with mode = sync",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[protocol]
mode = "sync"
ship_interval = "100ms"
"#,
        "11:17",
        "ship_interval applies to mode = \"async\" only",
        Some("semi-sync and sync ship at once"),
    ),
    (
        "initial_primary that does not exist",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[protocol]
initial_primary = "n9"
"#,
        "10:19",
        "there is no node `n9`",
        Some("the nodes are: n1, n2, n3"),
    ),
    (
        "echo window out of range",
        r#"[scenario]
name = "t"
protocol = "echo"
duration = "1s"

[cluster]
nodes = 3

[protocol]
window = 0
"#,
        "10:10",
        "window must be between 1 and 1024",
        None,
    ),
    // ---- [network] ---------------------------------------------------
    (
        "probability out of range",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[network]
drop = 1.5
"#,
        "10:8",
        "drop must be a probability between 0 and 1, not 1.5",
        None,
    ),
    (
        "fifo = true with reorder > 0",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[network]
fifo = true
reorder = 0.1
"#,
        "11:11",
        "reorder contradicts fifo = true: FIFO links never reorder",
        Some("remove one of the two"),
    ),
    (
        "bad distribution, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[network]
distribution = "lognormal"
"#,
        "10:16",
        "unknown variant `lognormal`",
        Some("did you mean `log-normal`?"),
    ),
    (
        "region_latency naming an unknown region, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 2
regions = { east = ["n1"], west = ["n2"] }

[[network.region_latency]]
from = "east"
to = "wset"
latency = "50ms"
"#,
        "12:6",
        "there is no region `wset`",
        Some("did you mean `west`?"),
    ),
    // ---- [[clients]] -------------------------------------------------
    (
        "client target, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[clients]]
ops = 10
target = "primery"
"#,
        "11:10",
        "unknown target `primery`: expected primary (or leader), random, any-replica or a node name",
        Some("did you mean `primary`?"),
    ),
    (
        "client processes = 0",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[clients]]
processes = 0
ops = 10
"#,
        "10:13",
        "processes must be at least 1, and at most 1024 in all",
        None,
    ),
    (
        "client read_your_writes, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[clients]]
ops = 10
read_your_writes = "sesion"
"#,
        "11:20",
        "unknown read_your_writes `sesion`: expected off, primary (or leader) or session",
        Some("did you mean `session`?"),
    ),
    (
        "client keys = 0",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[clients]]
ops = 10
keys = 0
"#,
        "11:8",
        "keys must be between 1 and 1000000",
        None,
    ),
    (
        "client named like a node",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[clients]]
name = "n1"
ops = 10
"#,
        "10:8",
        "the name `n1` is already taken",
        None,
    ),
    // ---- [[timeline]] ------------------------------------------------
    (
        "crash of a node past the count",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
crash = "n4"
"#,
        "11:9",
        "there is no node `n4`",
        Some("the nodes are: n1, n2, n3"),
    ),
    (
        "crash of a misspelt node",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
crash = "nn1"
"#,
        "11:9",
        "there is no node `nn1`",
        Some("the nodes are: n1, n2, n3"),
    ),
    (
        "crash of a misspelt named node, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = ["alpha", "beta", "gamma"]

[[timeline]]
at = "100ms"
crash = "gama"
"#,
        "11:9",
        "there is no node `gama`",
        Some("did you mean `gamma`?"),
    ),
    (
        "column counts characters, not bytes",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
clock = { offset = "5µs", node = "n9" }
"#,
        "11:34",
        "there is no node `n9`",
        Some("the nodes are: n1, n2, n3"),
    ),
    (
        "unknown timeline field, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
crsh = "n1"
"#,
        "11:1",
        "unknown field `crsh`",
        Some("did you mean `crash`?"),
    ),
    (
        "timeline `choose` with no values",
        r#"[scenario]
name = "t"
protocol = "two-phase-commit"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "10ms"
step = 4
choose = []
"#,
        "12:10",
        "`choose` takes 1 to 64 values (the next choices, in order)",
        None,
    ),
    (
        "timeline entry with two actions",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
crash = "n1"
restart = "n2"
"#,
        "9:1",
        "a timeline entry takes one action, this one has 2",
        Some("split it into several [[timeline]] entries at the same time"),
    ),
    (
        "timeline entry with nothing",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
"#,
        "9:1",
        "this timeline entry does nothing",
        Some("give it an action (crash, restart"),
    ),
    (
        "timeline wait without a note",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
crash = "n1"
wait = true
"#,
        "9:1",
        "`wait` goes with a `note`",
        None,
    ),
    (
        "partition that leaves out a node",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
partition = [["n1"], ["n2"]]
"#,
        "9:1",
        "the partition leaves out node `n3`",
        Some("every node must be in exactly one group"),
    ),
    (
        "partition with a node in two groups",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
partition = [["n1", "n2"], ["n2", "n3"]]
"#,
        "11:29",
        "`n2` is in two groups of the partition",
        None,
    ),
    (
        "promote in a protocol without one",
        r#"[scenario]
name = "t"
protocol = "echo"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "100ms"
promote = "n2"
"#,
        "11:11",
        "protocol `echo` has no manual promote",
        None,
    ),
    // ---- [nemesis] ---------------------------------------------------
    (
        "nemesis with an unknown fault kind, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[nemesis]
faults = ["crash", "partiton"]
interval = "200ms"
"#,
        "10:20",
        "unknown nemesis fault `partiton`: expected one of crash, pause, partition, clock, loss",
        Some("did you mean `partition`?"),
    ),
    (
        "nemesis interval zero",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[nemesis]
faults = ["crash"]
interval = "0ms"
"#,
        "11:12",
        "interval must be more than zero",
        None,
    ),
    (
        "nemesis loss out of range",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[nemesis]
faults = ["loss"]
interval = "200ms"
loss = 2.0
"#,
        "12:8",
        "loss must be a probability between 0 and 1",
        None,
    ),
    // ---- [[expect]] --------------------------------------------------
    (
        "expect an unknown check, near miss",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[expect]]
check = "acked-write-durable"
holds = false
"#,
        "10:9",
        "protocol `primary-replica` has no check `acked-write-durable`",
        Some("did you mean `acked-writes-durable`?"),
    ),
    (
        "an ungraded check with holds",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[expect]]
check = "acked-writes-durable"
graded = false
holds = false
"#,
        "9:1",
        "a check that is not graded has no `holds`",
        Some("does not judge it either way"),
    ),
    (
        "expect a metric without bounds",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[expect]]
metric = "failovers"
"#,
        "9:1",
        "a metric expectation needs at_least, at_most, or both",
        None,
    ),
    (
        "expect both a check and a metric",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[expect]]
check = "log-prefix"
metric = "failovers"
"#,
        "9:1",
        "an [[expect]] entry names either a `check` or a `metric`",
        None,
    ),
    // ---- regressions found by review --------------------------------
    (
        "regression: process counts that overflow u32 are an error, not a panic",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[clients]]
processes = 1
ops = 10

[[clients]]
processes = 4294967295
ops = 10
"#,
        "14:13",
        "processes must be at least 1, and at most 1024 in all",
        None,
    ),
    (
        "regression: echo with one node points at `nodes`",
        r#"[scenario]
name = "t"
protocol = "echo"
duration = "1s"

[cluster]
nodes = 1
"#,
        "7:9",
        "echo needs at least two nodes",
        None,
    ),
    (
        "regression: a region list naming no node or client",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3
regions = { east = ["n1", "n2"], west = ["n3", "n4"] }
"#,
        "8:48",
        "there is no node or client `n4`",
        None,
    ),
    (
        "regression: an explicit client name equal to a later default name",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[clients]]
name = "c2"
ops = 1

[[clients]]
ops = 1
"#,
        "10:8",
        "the name `c2` is already taken",
        Some("namespace"),
    ),
    (
        "regression: a default client name equal to a node name",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = ["c1", "n2"]

[[clients]]
ops = 1
"#,
        "9:1",
        "the name `c1` is already taken",
        None,
    ),
    (
        "regression: timeline clock drift is bounded like [cluster.node]",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "1ms"
clock = { node = "n2", drift_ppm = 9223372036854775000 }
"#,
        "11:18",
        "drift_ppm must be within",
        None,
    ),
    (
        "negative duration says so",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "-1s"

[cluster]
nodes = 3
"#,
        "4:12",
        "is negative",
        None,
    ),
    (
        "a timeline entry after the end",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "10s"
crash = "n1"
"#,
        "10:6",
        "after the end of the scenario",
        None,
    ),
    (
        "a nemesis that stops before it starts",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[nemesis]
faults = ["crash"]
interval = "10ms"
start = "900ms"
stop = "100ms"
"#,
        "13:8",
        "stops (100ms) before it starts (900ms)",
        None,
    ),
    (
        "a nemesis interval that would schedule too many faults",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "24h"

[cluster]
nodes = 3

[nemesis]
faults = ["crash"]
interval = "1us"
"#,
        "11:12",
        "would schedule more than",
        None,
    ),
    // ---- limits and nonsense values (issue 11, items 15, 16, 20) ------
    (
        "regression: operations are limited across all [[clients]] entries",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[clients]]
ops = 6000000

[[clients]]
ops = 5000000
"#,
        "13:7",
        "ops must be at most 10000000 in all [[clients]] entries",
        Some("ask for 6000000 already"),
    ),
    (
        "regression: a client listed in two regions",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3
regions = { a = ["n1", "n2", "n3", "c1"], b = ["c1"] }

[[clients]]
ops = 1
"#,
        "8:48",
        "`c1` is listed in two regions",
        None,
    ),
    (
        "a node listed twice in one region",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3
regions = { a = ["n1", "n2", "n3", "n1"] }
"#,
        "8:36",
        "`n1` is listed in two regions",
        None,
    ),
    (
        "a region name that is not a name",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3
regions = { "us east" = ["n1", "n2", "n3"] }
"#,
        "8:13",
        "region names must be 1 to 64 letters, digits, `-` and `_`",
        None,
    ),
    (
        "a client name with a terminal escape is refused, and echoed escaped",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[clients]]
name = "\u001b]0;pwned\u0007"
ops = 1
"#,
        "10:8",
        "client names must be 1 to 64 letters",
        None,
    ),
    (
        "a node name of 65 characters",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = ["n1", "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"]
"#,
        "7:9",
        "node names must be 1 to 64 letters",
        None,
    ),
    (
        "regression: a NaN metric bound",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[expect]]
metric = "ops_ok"
at_least = nan
"#,
        "11:12",
        "at_least must be a finite number, not NaN",
        None,
    ),
    (
        "an infinite metric bound",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[expect]]
metric = "ops_ok"
at_most = -inf
"#,
        "11:11",
        "at_most must be a finite number, not -inf",
        None,
    ),
    (
        "metric bounds no value can meet",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[expect]]
metric = "ops_ok"
at_least = 10
at_most = 5
"#,
        "12:11",
        "at_most (5) is below at_least (10)",
        None,
    ),
    (
        "regression: sigma = nan under a constant distribution",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[network]
sigma = nan
"#,
        "10:9",
        "sigma must be between 0 and 5, not NaN",
        None,
    ),
    (
        "an empty group in a partition",
        r#"[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"

[cluster]
nodes = 3

[[timeline]]
at = "1ms"
partition = [["n1", "n2", "n3"], []]
"#,
        "9:1",
        "a group of the partition is empty",
        None,
    ),
];

/// Loads `text`, turning a panic into a failure message.
fn load(text: &str) -> Result<Result<(), ScenarioError>, String> {
    catch_unwind(AssertUnwindSafe(|| load_str(&distlab::protocols::registry(), "bad.toml", text).map(|_| ())))
        .map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "(non-string panic)".into())
        })
}

/// What is wrong with one row's error, if anything.
fn check(row: &Row) -> Option<String> {
    let (_, text, at, message, help) = *row;
    check_text(text, at, message, help)
}

/// What is wrong with the error `text` gives, if anything.
fn check_text(text: &str, at: &str, message: &str, help: Option<&str>) -> Option<String> {
    let err = match load(text) {
        Err(panic) => return Some(format!("the loader panicked: {panic}")),
        Ok(Ok(())) => return Some("the file loaded without an error".into()),
        Ok(Err(e)) => e,
    };
    let mut problems = Vec::new();
    let actual_at = format!("{}:{}", err.line, err.column);
    if actual_at != at {
        problems.push(format!("at {actual_at}, expected {at}"));
    }
    let rendered = err.to_string();
    // An error about the whole text has no position: `bad.toml: ...`.
    let prefix = if at == "0:0" { "bad.toml: ".to_string() } else { format!("bad.toml:{at}: ") };
    if !rendered.starts_with(&prefix) {
        problems.push(format!("rendering does not start with `bad.toml:{at}: `"));
    }
    if !err.message.contains(message) {
        problems.push(format!("message lacks {message:?}"));
    }
    if let Some(h) = help
        && !err.help.as_deref().is_some_and(|actual| actual.contains(h))
    {
        problems.push(format!("help lacks {h:?}"));
    }
    if problems.is_empty() { None } else { Some(format!("{}\n    actual: {rendered}", problems.join("; "))) }
}

/// Every bad file in [`ROWS`] is rejected without a panic, at the exact
/// `line:column` of the mistake, with the pinned message and help; all
/// mismatches are reported together.
#[test]
fn bad_scenarios_point_at_the_mistake() {
    assert!(ROWS.len() >= 20);
    let failures: Vec<String> =
        ROWS.iter().filter_map(|row| check(row).map(|why| format!("- {}: {why}", row.0))).collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}

/// The text most rows start from is itself a valid scenario, so each row's
/// error comes from the mistake it is about.
#[test]
fn base_is_valid() {
    if let Err(e) = load_str(&distlab::protocols::registry(), "base.toml", BASE) {
        panic!("{e}");
    }
}

/// Files too large to write out above, generated: each is one past a
/// documented limit (issue 11, items 16 and 20), and each error points at
/// the value that crosses it. Before the limits, the regions and the
/// partition loaded (65,536 groups wrapped the engine's `u16` group number
/// to 0, so the last group reached everyone), and the long texts loaded.
#[test]
fn generated_files_past_a_limit_point_at_the_mistake() {
    let regions: Vec<String> = (0..65).map(|i| format!("r{i:02} = []")).collect();
    let many_groups = format!(
        "{BASE}\n[[timeline]]\nat = \"1ms\"\npartition = [[\"n1\", \"n2\", \"n3\"]{}]\n",
        ", []".repeat(65_535)
    );
    let clients: String = (0..1025).map(|i| format!("\n[[clients]]\nname = \"w{i}\"\nops = 1\n")).collect();
    let long = "x".repeat(20_001);
    let nodes: Vec<String> = (0..65).map(|i| format!("\"m{i}\"")).collect();
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "65 regions",
            format!("{BASE}regions = {{ {} }}\n", regions.join(", ")),
            "8:653",
            "at most 64 regions",
        ),
        ("65,536 partition groups", many_groups, "9:1", "a group of the partition is empty"),
        (
            "1,025 [[clients]] entries",
            format!("{BASE}{clients}"),
            "4105:1",
            "at most 1024 [[clients]] entries",
        ),
        (
            "65 node names",
            BASE.replace("nodes = 3", &format!("nodes = [{}]", nodes.join(", "))),
            "7:9",
            "there must be between 1 and 64 nodes",
        ),
        (
            "a long name",
            BASE.replace("name = \"t\"", &format!("name = \"{}\"", "n".repeat(201))),
            "2:8",
            "name must be at most 200 characters",
        ),
        (
            "a long description",
            BASE.replace("[cluster]", &format!("description = \"{long}\"\n\n[cluster]")),
            "6:15",
            "description must be at most 20000 characters",
        ),
        (
            "a long note",
            format!("{BASE}\n[[timeline]]\nat = \"1ms\"\nnote = \"{long}\"\n"),
            "11:8",
            "a note must be at most 20000 characters",
        ),
        ("text over 1 MiB", format!("{BASE}# {}\n", "x".repeat(1 << 20)), "0:0", "larger than 1 MiB"),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(label, text, at, message)| {
            check_text(text, at, message, None)
                .map(|why| format!("- {label}: {}", why.chars().take(300).collect::<String>()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Regression (issue 11, item 19): a scenario's name, description and
/// notes reached the terminal with their control characters. The loader
/// now keeps them as visible escapes (line breaks in prose stay).
#[test]
fn control_characters_in_text_are_kept_as_visible_escapes() {
    let text = BASE.replace(
        "name = \"t\"",
        "name = \"\\u001b]0;pwned\\u0007\\u001b[2J all checks hold\"\ndescription = \"one\\ntwo \\u009b31m\"",
    ) + "\n[[timeline]]\nat = \"1ms\"\nnote = \"clear \\u001b[2J\\u202e\"\n";
    let s = load_str(&distlab::protocols::registry(), "esc.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "\\x1b]0;pwned\\x07\\x1b[2J all checks hold");
    assert_eq!(s.description, "one\ntwo \\u{9b}31m");
    let note = s.timeline.iter().find_map(|f| match &f.fault {
        distlab::sim::Fault::Note { text, .. } => Some(text.clone()),
        _ => None,
    });
    assert_eq!(note.as_deref(), Some("clear \\x1b[2J\\u{202e}"));
}

/// `leader` names the same client policies as `primary` (the generic
/// client knows leaders, not primaries): for `target`, `read_target` and
/// `read_your_writes` both spellings load to the same policy.
#[test]
fn leader_is_a_synonym_for_primary() {
    use distlab::nodes::client::{ReadYourWrites, Target};
    let clients = |word: &str| {
        format!(
            "{BASE}\n[[clients]]\nops = 20\ntarget = \"{word}\"\nread_target = \"{word}\"\nread_your_writes = \"{word}\"\n"
        )
    };
    let reg = distlab::protocols::registry();
    let a = load_str(&reg, "a.toml", &clients("primary")).unwrap_or_else(|e| panic!("{e}"));
    let b = load_str(&reg, "b.toml", &clients("leader")).unwrap_or_else(|e| panic!("{e}"));
    for s in [&a, &b] {
        let c = &s.clients[0];
        assert_eq!(
            (c.target, c.read_target, c.read_your_writes),
            (Target::Leader, Some(Target::Leader), ReadYourWrites::Leader)
        );
    }
}

// ---- every mistake of a file (scenario::diagnose) -----------------------

use distlab::scenario::diagnose;

fn errors(src: &str) -> Vec<distlab::scenario::ScenarioError> {
    diagnose::errors(&distlab::protocols::registry(), "f.toml", src, diagnose::MAX_ERRORS)
}

const HEAD: &str =
    "[scenario]\nname = \"t\"\nprotocol = \"quorum\"\nduration = \"1s\"\n\n[cluster]\nnodes = 3\n\n";

/// Four independent mistakes, each found at its line.
#[test]
fn independent_mistakes_are_all_reported_where_they_are() {
    let src = format!(
        "{HEAD}[network]\nlatency = \"5 parsecs\"\n\n[[clients]]\nname = \"app\"\nprocesses = 1\nops = 2.5\nkeys = 1\n\n[[timeline]]\nat = \"10ms\"\ncrash = \"n9\"\n\n[[expect]]\ncheck = \"fresh-reeds\"\n"
    );
    let found = errors(&src);
    let lines: Vec<usize> = found.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![10, 15, 20, 23], "{found:#?}");
    assert!(found[1].message.contains("whole number"), "{}", found[1]);
    assert!(found[2].message.contains("n9"), "{}", found[2]);
}

/// No mistake, none; one, one; a missing table, not repeated.
#[test]
fn one_mistake_is_one_error_and_a_valid_file_none() {
    let valid = format!("{HEAD}[[clients]]\nname = \"app\"\nprocesses = 1\nops = 2\nkeys = 1\n");
    assert!(errors(&valid).is_empty());
    let one = valid.replace("ops = 2", "ops = -2");
    assert_eq!(errors(&one).len(), 1);
    // A missing required table is not reported again and again.
    let no_cluster = valid.replace("[cluster]\nnodes = 3\n", "").replace("duration = \"1s\"", "duration = 3");
    let e = errors(&no_cluster);
    assert!(!e.is_empty() && e.len() <= 2, "{e:#?}");
}

/// Thirty mistakes: ten reported.
#[test]
fn the_limit_holds() {
    let mut src = HEAD.to_string();
    for i in 0..30 {
        src.push_str(&format!("[[timeline]]\nat = \"{i}ms\"\ncrash = \"x{i}\"\n\n"));
    }
    assert_eq!(errors(&src).len(), diagnose::MAX_ERRORS);
}

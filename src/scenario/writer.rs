//! Writing scenario files: a loaded lesson's text, edited and extended —
//! the one writer behind the shrinker's counterexamples
//! (`distlab check --save-counterexample`) and the TUI's saved runs (`w`).
//!
//! The file is edited as TOML (with `toml_edit`), not as lines, so what
//! the author wrote stays as written — comments, blank lines, key order,
//! quoting — and only what is changed changes: the seed fixed, the
//! `[nemesis]` table gone, the clients' `ops`, the disk latency, an
//! expectation dropped, and new `[[timeline]]` entries at the end. A
//! multi-line description whose lines look like table headers or keys
//! (`[1] ...`, `seed = ...`) is a string to the writer, as to the loader.
//!
//! Faults are written by [`timeline_action`]: the same names and units the
//! loader reads back, so a written file replays the run it was written
//! from (a time in µs, `"1500us"`; a step-keyed entry runs exactly before
//! that event).

use super::Scenario;
use crate::nodes::NodeId;
use crate::sim::{EndpointId, Fault, SimDuration, SimTime};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike, Value};

/// A scenario file being edited; [`ScenarioWriter::finish`] gives its text.
pub struct ScenarioWriter {
    doc: DocumentMut,
    header: String,
    /// The comment to put before the next `[[timeline]]` or `[[expect]]`
    /// entry added.
    comment: Option<String>,
    /// Where the next added table goes: after every table of the file.
    next_position: isize,
}

/// Why a text cannot be edited (it is not TOML: a loaded scenario's text
/// always is).
#[derive(Debug)]
pub struct NotToml(pub String);

impl std::fmt::Display for NotToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the scenario text is not TOML: {}", self.0)
    }
}

impl std::error::Error for NotToml {}

impl ScenarioWriter {
    /// Starts from a scenario's text, as written.
    pub fn new(source: &str) -> Result<Self, NotToml> {
        let doc: DocumentMut = source.parse().map_err(|e: toml_edit::TomlError| NotToml(e.to_string()))?;
        let last = last_position(doc.as_table());
        Ok(ScenarioWriter { doc, header: String::new(), comment: None, next_position: last + 1 })
    }

    /// Comment lines for the top of the file (`text`'s lines, each as a
    /// `# ` comment), followed by a blank line.
    pub fn header(&mut self, text: &str) -> &mut Self {
        self.header = comment_lines(text) + "\n";
        self
    }

    /// Sets `[scenario] seed`, where it is written or at the end of the
    /// table.
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        let value = i64::try_from(seed).map_or_else(|_| Value::from(seed.to_string()), Value::from);
        set(table(&mut self.doc, "scenario"), "seed", value);
        self
    }

    /// Sets `[cluster] disk_latency`.
    pub fn disk_latency(&mut self, latency: SimDuration) -> &mut Self {
        set(table(&mut self.doc, "cluster"), "disk_latency", Value::from(format!("{}us", latency.0)));
        self
    }

    /// Sets each `[[clients]]` entry's `ops`, in file order.
    pub fn client_ops(&mut self, ops: &[u64]) -> &mut Self {
        if let Some(Item::ArrayOfTables(clients)) = self.doc.get_mut("clients") {
            for (client, &n) in clients.iter_mut().zip(ops) {
                set(client, "ops", Value::from(i64::try_from(n).unwrap_or(i64::MAX)));
            }
        }
        self
    }

    /// Removes the `[nemesis]` table (its faults are written out instead).
    pub fn without_nemesis(&mut self) -> &mut Self {
        self.doc.remove("nemesis");
        self
    }

    /// Removes the `[[expect]]` entries about check `name`.
    pub fn without_expectations_of(&mut self, name: &str) -> &mut Self {
        if let Some(Item::ArrayOfTables(expect)) = self.doc.get_mut("expect") {
            expect.retain(|e| e.get("check").and_then(Item::as_str) != Some(name));
            if expect.is_empty() {
                self.doc.remove("expect");
            }
        }
        self
    }

    /// A comment (`text`'s lines as `# ` comments) before the next entry
    /// added (after any comment given before it).
    pub fn comment(&mut self, text: &str) -> &mut Self {
        self.comment.get_or_insert_default().push_str(&comment_lines(text));
        self
    }

    /// Adds a `[[timeline]]` entry at `at` (and, if given, at event
    /// `step`) doing `fault`. `false` (and nothing written) when the file
    /// format cannot name the fault (see [`timeline_action`]).
    pub fn timeline(&mut self, scenario: &Scenario, at: SimTime, step: Option<u64>, fault: &Fault) -> bool {
        let Some(action) = timeline_action(scenario, fault) else {
            return false;
        };
        let mut entry = Table::new();
        entry.insert("at", toml_edit::value(format!("{}us", at.0)));
        if let Some(step) = step {
            entry.insert("step", toml_edit::value(i64::try_from(step).unwrap_or(i64::MAX)));
        }
        for (key, value) in action {
            entry.insert(key, Item::Value(value));
        }
        self.push("timeline", entry);
        true
    }

    /// Adds an `[[expect]]` entry: check `name` holds (or breaks).
    pub fn expect_check(&mut self, name: &str, holds: bool) -> &mut Self {
        let mut entry = Table::new();
        entry.insert("check", toml_edit::value(name));
        entry.insert("holds", toml_edit::value(holds));
        self.push("expect", entry);
        self
    }

    /// The file's text.
    pub fn finish(&self) -> String {
        format!("{}{}", self.header, self.doc)
    }

    /// Appends `entry` to the array of tables `key`, after every table of
    /// the file so far.
    fn push(&mut self, key: &str, mut entry: Table) {
        entry.set_position(Some(self.next_position));
        self.next_position += 1;
        let prefix = match self.comment.take() {
            Some(c) => format!("\n{c}\n"),
            None => "\n".to_string(),
        };
        entry.decor_mut().set_prefix(prefix);
        let item = self.doc.entry(key).or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
        if let Item::ArrayOfTables(a) = item {
            a.push(entry);
        }
    }
}

/// The greatest position of a table in `table` (itself included), so
/// tables added after it are written after every table of the file.
fn last_position(table: &Table) -> isize {
    let mut last = table.position().unwrap_or(0);
    for (_, item) in table.iter() {
        match item {
            Item::Table(t) => last = last.max(last_position(t)),
            Item::ArrayOfTables(a) => last = a.iter().map(last_position).fold(last, isize::max),
            _ => {}
        }
    }
    last
}

/// `text`'s lines as `# ` comments, each ending its line.
fn comment_lines(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { "#\n".to_string() } else { format!("# {l}\n") }).collect()
}

/// The table `key` of the document, made if the file has none (a file
/// may write it inline: `scenario = { ... }`).
fn table<'d>(doc: &'d mut DocumentMut, key: &str) -> &'d mut dyn TableLike {
    let item = doc.entry(key).or_insert_with(toml_edit::table);
    if item.as_table_like().is_none() {
        *item = toml_edit::table();
    }
    item.as_table_like_mut().expect("a table")
}

/// Sets `key` in `table` to `value`, keeping the key where it is written
/// (and the comment after its old value).
fn set(table: &mut dyn TableLike, key: &str, mut value: Value) {
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        Some(other) => *other = Item::Value(value),
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

/// One fault as the action of a `[[timeline]]` entry (`crash = "n1"`): the
/// keys and values the loader reads, or `None` if the file format cannot
/// name it (a cut or link naming one process of a multi-process client).
pub fn timeline_action(scenario: &Scenario, fault: &Fault) -> Option<Vec<(&'static str, Value)>> {
    let name = |n: NodeId| Value::from(scenario.cluster.name(n));
    let strings = |names: Vec<String>| Value::Array(names.into_iter().map(Value::from).collect::<Array>());
    let one = |e: &Option<EndpointId>| -> Option<Option<String>> {
        match e {
            None => Some(None),
            Some(e) => endpoint_names(scenario, &[*e]).map(|mut v| v.pop()),
        }
    };
    let inline = |fields: Vec<(&str, Value)>| {
        let mut t = InlineTable::new();
        for (k, v) in fields {
            t.insert(k, v);
        }
        Value::InlineTable(t)
    };
    Some(match fault {
        Fault::Crash(n) => vec![("crash", name(*n))],
        Fault::Restart(n) => vec![("restart", name(*n))],
        Fault::Pause(n) => vec![("pause", name(*n))],
        Fault::Resume(n) => vec![("resume", name(*n))],
        Fault::Heal => vec![("heal", Value::from(true))],
        Fault::Partition(groups) => {
            let groups: Option<Array> =
                groups.iter().map(|g| endpoint_names(scenario, g).map(strings)).collect();
            vec![("partition", Value::Array(groups?))]
        }
        Fault::Cut { from, to } => vec![(
            "cut",
            inline(vec![
                ("from", Value::from(single(endpoint_names(scenario, from)?)?)),
                ("to", Value::from(single(endpoint_names(scenario, to)?)?)),
            ]),
        )],
        Fault::Clock { node, offset_us, drift_ppm } => vec![(
            "clock",
            inline(vec![
                ("node", name(*node)),
                ("offset", Value::from(format!("{offset_us}us"))),
                ("drift_ppm", Value::from(*drift_ppm)),
            ]),
        )],
        Fault::Link { from, to, faults } => {
            let mut fields = Vec::new();
            for (key, e) in [("from", from), ("to", to)] {
                if let Some(n) = one(e)? {
                    fields.push((key, Value::from(n)));
                }
            }
            // No faults: back to the scenario's [network], every
            // probability left out.
            if let Some(f) = faults {
                fields.push(("drop", Value::from(f.drop.as_f64())));
                fields.push(("duplicate", Value::from(f.duplicate.as_f64())));
                fields.push(("reorder", Value::from(f.reorder.as_f64())));
            }
            vec![("link", inline(fields))]
        }
        Fault::Command { node, command } => vec![(command.name(), name(*node))],
        Fault::DropMessage(id) => vec![("drop_message", Value::from(i64::try_from(*id).ok()?))],
        Fault::DuplicateMessage(id) => vec![("duplicate_message", Value::from(i64::try_from(*id).ok()?))],
        Fault::DeliverNext(id) => vec![("deliver_next", Value::from(i64::try_from(*id).ok()?))],
        Fault::Choose(values) => {
            let values = values.iter().map(|&v| i64::try_from(v).ok()).collect::<Option<Array>>()?;
            vec![("choose", Value::Array(values))]
        }
        Fault::Note { text, pause } => {
            let mut out = vec![("note", Value::from(text.as_str()))];
            if *pause {
                out.push(("wait", Value::from(true)));
            }
            out
        }
    })
}

/// A cut's side as the file writes it: one name.
fn single(mut names: Vec<String>) -> Option<String> {
    if names.len() == 1 { names.pop() } else { None }
}

/// Endpoints by the names a scenario file gives them: nodes by name, a
/// client entry by its name when all its processes are there. `None` if
/// some client processes are there without the rest of their entry.
fn endpoint_names(scenario: &Scenario, endpoints: &[EndpointId]) -> Option<Vec<String>> {
    let nodes = scenario.cluster.len() as u32;
    let mut out: Vec<String> = endpoints
        .iter()
        .filter(|e| e.0 < nodes)
        .map(|e| scenario.cluster.name(NodeId(e.0)).to_string())
        .collect();
    let mut first = nodes;
    let mut covered = 0;
    for c in &scenario.clients {
        let range = first..first + c.processes;
        let here = endpoints.iter().filter(|e| range.contains(&e.0)).count();
        if here == c.processes as usize {
            out.push(c.name.clone());
        } else if here > 0 {
            return None;
        }
        covered += here;
        first += c.processes;
    }
    let known = endpoints.iter().filter(|e| e.0 < nodes).count() + covered;
    (known == endpoints.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::ScenarioWriter;
    use crate::time::SimDuration;

    fn edit(source: &str, change: impl FnOnce(&mut ScenarioWriter)) -> String {
        let mut w = ScenarioWriter::new(source).unwrap();
        change(&mut w);
        w.finish()
    }

    /// The seed is replaced where it is written (its comment kept), or
    /// added at the end of `[scenario]`.
    #[test]
    fn the_seed_is_fixed_in_the_scenario_table() {
        assert_eq!(
            edit("[scenario]\nseed = 1 # why\nname = \"a\"\n", |w| {
                w.seed(9);
            }),
            "[scenario]\nseed = 9 # why\nname = \"a\"\n"
        );
        assert_eq!(
            edit("[scenario]\nname = \"a\"\n\n[cluster]\nnodes = 3\n", |w| {
                w.seed(4);
            }),
            "[scenario]\nname = \"a\"\nseed = 4\n\n[cluster]\nnodes = 3\n"
        );
        assert_eq!(
            edit("[scenario]\nname = \"a\"", |w| {
                w.seed(5);
            }),
            "[scenario]\nname = \"a\"\nseed = 5\n"
        );
    }

    /// Regression: the line-based rewriters (the shrinker's and the TUI's)
    /// took a description line that starts with `[` for a table header
    /// and wrote `seed = N` inside the description, leaving the file's
    /// own seed: the saved file replayed another run.
    #[test]
    fn a_description_that_looks_like_tables_stays_a_string() {
        let src = "[scenario]\nname = \"x\"\ndescription = \"\"\"\nSee:\n[1] Lamport, 1978\nseed = 5, ops = 3\n\"\"\"\nseed = 1\n";
        let out = edit(src, |w| {
            w.seed(7);
        });
        assert_eq!(out, src.replace("seed = 1", "seed = 7"));
    }

    /// The run's disk latency replaces the file's, ends its `[cluster]`,
    /// or comes in a `[cluster]` of its own.
    #[test]
    fn the_disk_latency_is_written_where_it_belongs() {
        let ms = SimDuration::from_millis(1);
        let with = |src: &str| {
            edit(src, |w| {
                w.seed(2).disk_latency(ms);
            })
        };
        assert_eq!(
            with("[scenario]\nseed = 1\n[cluster]\nnodes = 3\ndisk_latency = \"5ms\"\n"),
            "[scenario]\nseed = 2\n[cluster]\nnodes = 3\ndisk_latency = \"1000us\"\n"
        );
        assert_eq!(
            with("[scenario]\nseed = 1\n[cluster]\nnodes = 3\n[network]\n"),
            "[scenario]\nseed = 2\n[cluster]\nnodes = 3\ndisk_latency = \"1000us\"\n[network]\n"
        );
        assert_eq!(
            with("[scenario]\nseed = 1\n"),
            "[scenario]\nseed = 2\n\n[cluster]\ndisk_latency = \"1000us\"\n"
        );
    }

    /// The nemesis goes with its comments; the clients' `ops` are set in
    /// file order; the rest stays as written.
    #[test]
    fn the_nemesis_goes_and_ops_are_fixed() {
        let src = "[scenario]\nname = \"x\" # keep\n\n[[clients]]\nops = 100\n\n# the nemesis\n[nemesis]\nfaults = [\"crash\"]\n\n[[clients]]\nops = 7 # few\n";
        let out = edit(src, |w| {
            w.without_nemesis().seed(42).client_ops(&[50, 3]);
        });
        assert_eq!(
            out,
            "[scenario]\nname = \"x\" # keep\nseed = 42\n\n[[clients]]\nops = 50\n\n[[clients]]\nops = 3 # few\n"
        );
    }

    /// Expectations about the check a counterexample breaks are dropped
    /// (however the name is quoted); the others stay; new entries come
    /// at the end, after a comment.
    #[test]
    fn expectations_of_a_check_are_replaced() {
        let src = "[scenario]\nname = \"x\"\n\n[[expect]]\ncheck = \"a\"\nholds = true\n\n[[expect]]\ncheck = 'b' # why\nholds = true\n\n[[expect]]\nmetric = \"m\"\nat_least = 1\n\n[network]\nlatency = \"1ms\"\n";
        let out = edit(src, |w| {
            w.without_expectations_of("b").comment("new").comment("two").expect_check("b", false);
        });
        assert_eq!(
            out,
            "[scenario]\nname = \"x\"\n\n[[expect]]\ncheck = \"a\"\nholds = true\n\n[[expect]]\nmetric = \"m\"\nat_least = 1\n\n[network]\nlatency = \"1ms\"\n\n# new\n# two\n\n[[expect]]\ncheck = \"b\"\nholds = false\n"
        );
    }

    #[test]
    fn a_header_comes_first() {
        let out = edit("# lesson\n[scenario]\nname = \"x\"\n", |w| {
            w.header("one\n\ntwo");
        });
        assert_eq!(out, "# one\n#\n# two\n\n# lesson\n[scenario]\nname = \"x\"\n");
    }
}

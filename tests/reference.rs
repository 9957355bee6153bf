//! The scenario file reference (`book/src/reference.md`) documents exactly
//! the fields the code reads, so it cannot drift.
//!
//! The tables and their fields come from the scenario format's JSON Schema
//! (`distlab schema`, derived from the structs the loader reads: see
//! `distlab::scenario::schema`). A new field, table or protocol the
//! reference does not document fails the test; so does a documented field
//! the code does not read. The schema itself is checked against the
//! parser: every table of a scenario file is a serde struct with
//! `deny_unknown_fields` (`distlab::scenario::raw`, and each protocol's
//! parameters behind the registry), and serde's error for an unknown field
//! lists every field the struct has; the test feeds each one a bogus key
//! and reads the list back.
//!
//! The reference's layout: a heading names the table it documents by its
//! first inline code span (`` ## `[network]` ``, `` ### `quorum` `` for
//! that protocol's `[protocol]` table) or, without one, by its text
//! (`## The tables`); the field rows of the markdown tables under it
//! (until the next heading) start with the field in backticks.

use distlab::scenario::raw::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const BOGUS: &str = "no_such_field_in_the_reference";

/// The names serde lists in "unknown field `x`, expected one of `a`, `b`"
/// (or "expected `a`" for a struct of one field).
fn expected_fields(message: &str) -> BTreeSet<String> {
    let line = message
        .lines()
        .find(|l| l.contains(&format!("unknown field `{BOGUS}`")))
        .unwrap_or_else(|| panic!("not an unknown-field error (is deny_unknown_fields set?):\n{message}"));
    let (_, list) = line.split_once("expected").unwrap_or_else(|| panic!("no field list in: {line}"));
    list.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The fields of a raw struct, read from its unknown-field error.
fn fields_of<T: DeserializeOwned + std::fmt::Debug>() -> BTreeSet<String> {
    match toml::from_str::<T>(&format!("{BOGUS} = 1")) {
        Ok(v) => panic!("{v:?} accepted an unknown field: it lacks deny_unknown_fields"),
        Err(e) => expected_fields(&e.to_string()),
    }
}

/// The smallest scenario every protocol loads (a saga needs four nodes).
const MINIMAL: &str =
    "[scenario]\nname = \"t\"\nprotocol = \"PROTOCOL\"\nduration = \"1s\"\n\n[cluster]\nnodes = 4\n";

/// The fields of a protocol's `[protocol]` table, read from the error its
/// parameter parser gives for an unknown one, through the registry as a
/// scenario file reaches it.
fn protocol_fields(name: &str) -> BTreeSet<String> {
    let minimal = MINIMAL.replace("PROTOCOL", name);
    distlab::scenario::load_str(&distlab::protocols::registry(), "t.toml", &minimal)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let with_bogus = format!("{minimal}\n[protocol]\n{BOGUS} = 1\n");
    match distlab::scenario::load_str(&distlab::protocols::registry(), "t.toml", &with_bogus) {
        Ok(_) => panic!("{name}: an unknown [protocol] field was accepted"),
        Err(e) => expected_fields(&e.to_string()),
    }
}

/// Every table a scenario file may hold, by the reference's section key,
/// with its fields as the schema names them: `The tables` (the top
/// level), `[name]` and `[[name]]` (a table, an array of tables), nested
/// ones as `[name.inner]`, `[[name.inner]]` or `[name.inner.NAME]` (a
/// table of tables by name), an inline table of an array's entry by its
/// key alone (`cut`), a protocol's `[protocol]` table by the protocol's
/// name, and the metrics every run reports.
fn code_tables() -> BTreeMap<String, BTreeSet<String>> {
    let schema = distlab::scenario::schema::json_schema(&distlab::protocols::registry());
    let defs = &schema["definitions"];
    // A subschema, through its `$ref` (alone or as `allOf: [{$ref}]`).
    let resolve = |s: &Value| -> Value {
        let r = s.get("$ref").or_else(|| s.pointer("/allOf/0/$ref"));
        match r.and_then(Value::as_str).and_then(|r| r.strip_prefix("#/definitions/")) {
            Some(name) => defs[name].clone(),
            None => s.clone(),
        }
    };
    let fields = |s: &Value| -> BTreeSet<String> {
        resolve(s)["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default()
    };
    let is_table = |s: &Value| resolve(s).get("properties").is_some();
    let mut t = BTreeMap::new();
    t.insert("The tables".to_string(), fields(&schema));
    for (key, prop) in schema["properties"].as_object().unwrap() {
        if key == "protocol" {
            continue;
        }
        let array = prop["type"] == "array";
        let table = if array { prop["items"].clone() } else { prop.clone() };
        let name = if array { format!("[[{key}]]") } else { format!("[{key}]") };
        t.insert(name, fields(&table));
        for (inner, p) in resolve(&table)["properties"].as_object().unwrap() {
            let p = resolve(p);
            if is_table(&p) {
                // An inline table of an array's entries, by its key.
                t.insert(if array { inner.clone() } else { format!("[{key}.{inner}]") }, fields(&p));
            } else if p["type"] == "array" && is_table(&p["items"]) {
                t.insert(format!("[[{key}.{inner}]]"), fields(&p["items"]));
            } else if p["additionalProperties"].is_object() && is_table(&p["additionalProperties"]) {
                t.insert(format!("[{key}.{inner}.NAME]"), fields(&p["additionalProperties"]));
            }
        }
    }
    for c in schema["allOf"].as_array().unwrap() {
        let name = c.pointer("/if/properties/scenario/properties/protocol/const").unwrap();
        t.insert(name.as_str().unwrap().to_string(), fields(&c["then"]["properties"]["protocol"]));
    }
    t.insert(
        "Metrics of every run".to_string(),
        distlab::protocols::registry().every_run_metrics().iter().map(|m| m.to_string()).collect(),
    );
    t
}

/// The same, read from the parser: serde's field lists (see the module
/// docs), each protocol's through the registry as a file reaches it.
fn parser_tables() -> BTreeMap<String, BTreeSet<String>> {
    let mut t = BTreeMap::new();
    t.insert("The tables".to_string(), fields_of::<RawFile>());
    t.insert("[scenario]".to_string(), fields_of::<RawMeta>());
    t.insert("[cluster]".to_string(), fields_of::<RawCluster>());
    t.insert("[cluster.node.NAME]".to_string(), fields_of::<RawNode>());
    t.insert("[network]".to_string(), fields_of::<RawNetwork>());
    t.insert("[[network.region_latency]]".to_string(), fields_of::<RawRegionLatency>());
    t.insert("[[clients]]".to_string(), fields_of::<RawClient>());
    t.insert("[capacity]".to_string(), fields_of::<RawCapacity>());
    t.insert("[[timeline]]".to_string(), fields_of::<RawTimeline>());
    t.insert("cut".to_string(), fields_of::<RawCut>());
    t.insert("clock".to_string(), fields_of::<RawClock>());
    t.insert("link".to_string(), fields_of::<RawLink>());
    t.insert("[nemesis]".to_string(), fields_of::<RawNemesis>());
    t.insert("[[expect]]".to_string(), fields_of::<RawExpect>());
    t.insert(
        "Metrics of every run".to_string(),
        distlab::protocols::GENERIC_METRICS.iter().map(|m| m.name.to_string()).collect(),
    );
    for p in distlab::protocols::registry().iter() {
        t.insert(p.name().to_string(), protocol_fields(p.name()));
    }
    t
}

/// `(section key, field, line)` of every field row of the reference.
fn documented(text: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    let mut section: Option<String> = None;
    let mut in_fence = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some(heading) = line.strip_prefix('#') {
            let heading = heading.trim_start_matches('#').trim();
            let code = heading.split('`').nth(1);
            section = Some(code.unwrap_or(heading).to_string());
            continue;
        }
        let Some(row) = line.trim().strip_prefix('|') else { continue };
        let first = row.split('|').next().unwrap_or("").trim();
        // A field: one code span alone in the first cell (not the header,
        // not the `---` rule).
        let Some(field) = first.strip_prefix('`').and_then(|f| f.strip_suffix('`')) else { continue };
        if field.contains('`') {
            continue;
        }
        let key = section.clone().unwrap_or_default();
        // `[scenario]` in the table of tables is the field `scenario`.
        let field = if key == "The tables" { field.trim_matches(|c| c == '[' || c == ']') } else { field };
        out.push((key, field.to_string(), i + 1));
    }
    out
}

fn reference() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/book/src/reference.md"))
        .expect("book/src/reference.md")
}

/// Every field of every table is documented, and nothing else is.
#[test]
fn the_reference_documents_every_field_and_only_those() {
    let code = code_tables();
    let text = reference();
    let mut doc: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (section, field, line) in documented(&text) {
        if !code.contains_key(&section) {
            problems.push(format!(
                "reference.md:{line}: `{field}` is under `{section}`, which is no table of a scenario file"
            ));
            continue;
        }
        if !doc.entry(section.clone()).or_default().insert(field.clone()) {
            problems.push(format!("reference.md:{line}: `{field}` is documented twice under `{section}`"));
        }
    }
    for (section, fields) in &code {
        let written = doc.get(section).cloned().unwrap_or_default();
        if written.is_empty() {
            problems.push(format!("no section documents `{section}` (fields: {fields:?})"));
            continue;
        }
        for f in fields.difference(&written) {
            problems.push(format!("`{section}` has a field `{f}` that the reference does not document"));
        }
        for f in written.difference(fields) {
            problems
                .push(format!("the reference documents `{f}` under `{section}`, which has no such field"));
        }
    }
    assert!(problems.is_empty(), "book/src/reference.md drifted from the code:\n{}", problems.join("\n"));
}

/// The schema the reference is checked against names exactly the tables
/// and fields the parser reads.
#[test]
fn the_schema_names_the_fields_the_parser_reads() {
    let (schema, parser) = (code_tables(), parser_tables());
    assert_eq!(schema.keys().collect::<Vec<_>>(), parser.keys().collect::<Vec<_>>());
    for (section, fields) in &parser {
        assert_eq!(&schema[section], fields, "{section}");
    }
}

/// The drift check fires: a missing field, an extra one, and an unknown
/// section are all caught (on a made-up reference), and the field lists
/// come out of serde's messages whole.
#[test]
fn the_drift_check_fires() {
    let fields = fields_of::<RawCut>();
    assert_eq!(fields, BTreeSet::from(["from".to_string(), "to".to_string()]));
    assert!(fields_of::<RawTimeline>().contains("drop_message"));
    assert!(protocol_fields("quorum").contains("write_back"));
    assert!(protocol_fields("echo").contains("patience"));
    // One field: serde says "expected `x`".
    assert_eq!(
        expected_fields(&format!("unknown field `{BOGUS}`, expected `only`")),
        BTreeSet::from(["only".to_string()])
    );

    let made_up = "# Title\n\n## `cut`\n\n| field | type |\n| --- | --- |\n| `from` | string |\n| `too` | string |\n\n```toml\n| `x` | y |\n```\n## `[nowhere]`\n| `a` | b |\n## The tables\n| `[scenario]` | x |\n";
    let rows = documented(made_up);
    let keys: Vec<(&str, &str)> = rows.iter().map(|(s, f, _)| (s.as_str(), f.as_str())).collect();
    assert_eq!(
        keys,
        [("cut", "from"), ("cut", "too"), ("[nowhere]", "a"), ("The tables", "scenario")],
        "fenced rows are not fields; headers are keyed by code span or text"
    );
    let code = code_tables();
    let cut: BTreeSet<String> = rows.iter().filter(|r| r.0 == "cut").map(|r| r.1.clone()).collect();
    assert_eq!(code["cut"].difference(&cut).collect::<Vec<_>>(), ["to"], "a missing field is found");
    assert_eq!(cut.difference(&code["cut"]).collect::<Vec<_>>(), ["too"], "an extra field is found");
    assert!(!code.contains_key("[nowhere]"), "an unknown section is found");
}

/// Each example block of the reference (`toml`) is a part of a valid
/// scenario: the complete examples load.
#[test]
fn the_reference_examples_load() {
    let text = reference();
    let mut loaded = 0;
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => block = Some(String::new()),
            (Some(b), l) if l.starts_with("```") => {
                if b.contains("[scenario]") {
                    distlab::scenario::load_str(&distlab::protocols::registry(), "reference.md", b)
                        .unwrap_or_else(|e| panic!("{e}\n{b}"));
                    loaded += 1;
                }
                block = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    assert!(loaded >= 1, "the reference shows a complete scenario");
}

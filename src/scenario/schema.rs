//! The scenario format as a JSON Schema (`distlab schema`), for editors
//! (completion, hover, errors as you type) and for tools that check
//! lessons before loading them.
//!
//! The schema is derived ([`schemars`]) from the very structs the loader
//! reads ([`super::raw`], and each protocol's `[protocol]` table behind
//! the [`Registry`]), so it names exactly the fields the loader accepts.
//! A `[protocol]` table depends on `[scenario] protocol`: the schema says
//! so with one `if`/`then` per protocol of the registry (`if` the file
//! names protocol P, `then` `[protocol]` is P's table and `[[expect]]`
//! names P's checks and metrics). JSON Schema draft 7, which the TOML
//! language servers (Taplo, Even Better TOML) read.
//!
//! What the schema cannot say, the loader still checks, with positions:
//! durations (`"250ms"`) are strings here, node names are not matched
//! against `[cluster] nodes`, and no limit across fields (one action per
//! timeline entry, `at_least <= at_most`) is expressed. A file the schema
//! accepts may still be refused by the loader; a file it refuses, the
//! loader refuses too.

use super::raw::RawFile;
use super::registry::Registry;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

/// The JSON Schema of a scenario file naming a protocol of `registry`.
pub fn json_schema(registry: &Registry) -> Value {
    let mut generator = SchemaSettings::draft07().into_generator();
    let mut conditions = Vec::new();
    for p in registry.iter() {
        let params = p.params_schema(&mut generator).to_value();
        let checks: Vec<&str> = p.checks().iter().map(|c| c.name).collect();
        let metrics: Vec<&str> =
            p.metrics().iter().map(|m| m.name).chain(registry.every_run_metrics().iter().copied()).collect();
        conditions.push(json!({
            "if": {
                "required": ["scenario"],
                "properties": {
                    "scenario": { "required": ["protocol"], "properties": { "protocol": { "const": p.name() } } }
                }
            },
            "then": {
                "properties": {
                    "protocol": params,
                    "expect": {
                        "items": {
                            "properties": {
                                "check": { "enum": checks },
                                "metric": { "enum": metrics }
                            }
                        }
                    }
                }
            }
        }));
    }
    let mut schema = generator.into_root_schema_for::<RawFile>().to_value();
    schema["title"] = json!("distlab scenario");
    let names: Vec<&str> = registry.names().collect();
    if let Some(protocol) = schema.pointer_mut("/definitions/RawMeta/properties/protocol") {
        protocol["enum"] = json!(names);
    }
    schema["allOf"] = Value::Array(conditions);
    tidy(&mut schema);
    schema
}

/// A string that is one of `names` (for a hand-written `JsonSchema` of a
/// hand-written `Deserialize`).
pub fn one_of(names: &[&str]) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "enum": names })
}

/// Fits the derived schema to TOML and to lessons:
///
/// - TOML has no null: an optional field is left out, never `null`, so
///   `"type": ["string", "null"]` becomes `"type": "string"`,
///   `anyOf: [T, null]` becomes `T`, and a `null` default goes;
/// - a choice of names is listed as `enum`, without each name's doc
///   comment (a deliberate bug's doc comment is an exercise's answer).
fn tidy(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.pop().expect("one");
                    map.insert("type".into(), only);
                }
            }
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            if let Some(Value::Array(names)) = map.get_mut("enum") {
                names.retain(|n| !n.is_null());
            }
            // `Option<T>` of a named `T`: `anyOf: [T, null]` is `T` (a
            // `$ref` alone: draft 7 ignores the keywords beside one).
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s.get("type") != Some(&json!("null")));
                if any.len() == 1 {
                    let only = any.pop().expect("one");
                    map.remove("anyOf");
                    match only {
                        Value::Object(r) if r.contains_key("$ref") => {
                            map.insert("allOf".into(), json!([r]));
                        }
                        Value::Object(only) => map.extend(only),
                        other => {
                            map.insert("allOf".into(), json!([other]));
                        }
                    }
                }
            }
            let names: Option<Vec<Value>> = match map.get("oneOf") {
                Some(Value::Array(variants)) => variants.iter().map(|v| v.get("const").cloned()).collect(),
                _ => None,
            };
            if let Some(names) = names {
                map.remove("oneOf");
                map.insert("type".into(), json!("string"));
                map.insert("enum".into(), Value::Array(names));
            }
            map.values_mut().for_each(tidy);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

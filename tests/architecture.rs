//! The architecture's layering, checked over `src/` (issue 12): imports go
//! down only. The engine never names the checkers, the runtime-neutral
//! contract never names the engine, the library never names the command
//! line, the file format never names the protocols. A cycle between two
//! of these makes the contract impossible to reuse (a live runtime, an
//! explorer) and the crate impossible to read in layers.

use std::path::{Path, PathBuf};

/// A module (a folder or file under `src/`) and the modules it must not name.
const RULES: &[(&str, &[&str])] = &[
    ("nodes", &["live", "sim", "check", "scenario", "protocols", "cli", "tui", "plot"]),
    ("time", &["live", "sim", "nodes", "check", "scenario", "protocols", "cli", "tui", "plot"]),
    ("rng", &["live", "sim", "nodes", "check", "scenario", "protocols", "cli", "tui", "plot"]),
    ("util", &["live", "sim", "nodes", "check", "scenario", "protocols", "cli", "tui", "plot"]),
    ("sim", &["live", "check", "scenario", "protocols", "cli", "tui", "plot"]),
    ("scenario", &["live", "check", "protocols", "cli", "tui", "plot"]),
    // The checks' vocabulary (the Checker trait, reports, histories) is
    // the engine's (sim::monitor); check is the harness above the
    // protocols: models, linearizability, grading, reports.
    ("check", &["live", "cli", "tui", "plot"]),
    ("protocols", &["live", "check", "cli", "tui", "plot"]),
    ("tui", &["cli"]),
    // The runtimes outside the simulator sit on top: nothing below names them.
    ("live", &["cli", "tui", "plot"]),
    ("plot", &["cli", "tui"]),
];

/// Every `.rs` file under `dir` (or the file `dir.rs`).
fn sources(module: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let mut stack = vec![src.join(module)];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The lines of `text` that name module `target` of this crate (outside
/// comments): `crate::target`, `distlab::target`, or a `use` of it
/// through `super::`.
fn naming(text: &str, target: &str) -> Vec<(usize, String)> {
    let needles = [format!("crate::{target}"), format!("distlab::{target}")];
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| {
            needles.iter().any(|n| {
                line.match_indices(n.as_str()).any(|(i, _)| {
                    let after = line[i + n.len()..].chars().next();
                    !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                })
            })
        })
        .map(|(i, line)| (i + 1, line.trim().to_string()))
        .collect()
}

/// Imports against the layering that the redesign has not removed yet, as
/// `(file under src/, module it names)`. A ratchet: the test fails on any
/// import not listed here, and on a listed one that is gone (delete it
/// from the list in the change that removes it).
const NOT_YET: &[(&str, &str)] = &[];

#[test]
fn imports_go_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (module, forbidden) in RULES {
        for file in sources(module) {
            let text = std::fs::read_to_string(&file).unwrap();
            let rel = file.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            for target in *forbidden {
                for (line, code) in naming(&text, target) {
                    if NOT_YET.contains(&(rel.as_str(), *target)) {
                        seen.push((rel.clone(), *target));
                        continue;
                    }
                    problems.push(format!("src/{rel}:{line}: {module} names {target}: {code}"));
                }
            }
        }
    }
    for (file, target) in NOT_YET {
        if !seen.iter().any(|(f, t)| f == file && t == target) {
            problems.push(format!("src/{file} no longer names {target}: remove it from NOT_YET"));
        }
    }
    assert!(problems.is_empty(), "{} imports against the layering:\n{}", problems.len(), problems.join("\n"));
}

/// The simulator core never touches an async runtime or the live
/// runtimes' sockets and threads: what runs under the simulator stays
/// deterministic.
#[test]
fn the_simulator_core_names_no_async_runtime() {
    let mut problems = Vec::new();
    for module in ["sim", "nodes", "protocols", "scenario", "check", "time", "rng"] {
        for file in sources(module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for needle in ["tokio", "std::net", "std::thread::spawn"] {
                for (i, line) in text.lines().enumerate() {
                    if !line.trim_start().starts_with("//") && line.contains(needle) {
                        problems.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "the simulator core names a runtime:\n{}", problems.join("\n"));
}

/// The command line is the binary's own: the library does not declare it,
/// so a library user (tests embedding the simulator, a live runtime, an
/// explorer) never compiles clap's argument types.
#[test]
fn the_library_has_no_cli_module() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    assert!(!lib.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("pub mod cli") || l.starts_with("mod cli")
    }));
}

/// The scanner finds what it should and ignores comments and longer names.
#[test]
fn the_scanner_fires() {
    let src =
        "use crate::sim::Sim;\n// crate::sim in a comment\nlet x = crate::simple;\nfoo(distlab::sim::X)";
    let found: Vec<usize> = naming(src, "sim").into_iter().map(|(l, _)| l).collect();
    assert_eq!(found, vec![1, 4]);
}

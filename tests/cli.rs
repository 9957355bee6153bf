//! The command line's conventions: completions and man pages generated
//! from the parser, `--trace -`, errors as JSON under `--json`, colour only
//! when asked for (or on a terminal), `-j`, and whole numbers as integers
//! in JSON.

use std::process::{Command, Output};

mod common;
use common::distlab;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn completions_for_every_shell_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = distlab(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let script = stdout(&o);
        for sub in ["run", "check", "sweep", "export", "tui"] {
            assert!(script.contains(sub), "{shell} completion lacks `{sub}`");
        }
    }
    let o = distlab(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn man_pages_are_written_for_every_subcommand() {
    let dir = std::env::temp_dir().join(format!("distlab-man-{}", std::process::id()));
    let o = distlab(&["man", "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for page in ["distlab.1", "distlab-run.1", "distlab-check.1", "distlab-export.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_else(|_| panic!("{page} written"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page} is a man page");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn trace_to_stdout_sends_the_report_to_stderr() {
    let o = distlab(&["run", "basics/reordering", "--trace", "-"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.lines().count() > 10);
    for line in out.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    assert!(String::from_utf8_lossy(&o.stderr).contains("trace-digest:"));
    let o = distlab(&["run", "basics/reordering", "--trace", "-", "--export", "jepsen=-"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn errors_under_json_are_json() {
    let o = distlab(&["run", "no-such-lesson", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("the error as JSON on stdout");
    assert_eq!(v["status"], 2);
    assert!(v["error"].as_str().unwrap().contains("no bundled lesson"));
    let o = distlab(&["check", "no-such-lesson", "--json", "-j", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(serde_json::from_str::<serde_json::Value>(stdout(&o).trim()).is_ok());
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let plain = distlab(&["run", "quorum/weak-quorum"]);
    assert!(!stdout(&plain).contains('\x1b'), "no colour into a pipe");
    let coloured = distlab(&["run", "quorum/weak-quorum", "--color", "always"]);
    assert!(stdout(&coloured).contains("\x1b[1m\x1b[31mBROKEN"), "{}", stdout(&coloured));
    let o = Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(["run", "quorum/weak-quorum", "--color", "never"])
        .output()
        .unwrap();
    assert!(!stdout(&o).contains('\x1b'));
}

#[test]
fn json_counts_are_integers() {
    let o = distlab(&["run", "quorum/weak-quorum", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["metrics"]["ops_ok"].is_u64(), "{}", v["metrics"]["ops_ok"]);
    assert!(v["metrics"]["latency_mean_ms"].is_f64());
    let o = distlab(&["check", "quorum/weak-quorum", "--seeds", "0..2", "-j", "1", "--json"]);
    assert!(!stdout(&o).contains(".0,") && !stdout(&o).contains(".0\n"), "{}", stdout(&o));
}

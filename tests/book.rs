//! Every command the book shows is run, so the book cannot rot.
//!
//! The harness reads every `book/src/**/*.md` and runs the fenced blocks
//! tagged `console` (the conventions every chapter writer follows):
//!
//! - A line `$ CMD` is a command; a trailing ` \` continues it on the next
//!   line. Words are split as a shell would split them (single and double
//!   quotes, backslash escapes), but nothing else of a shell is there: a
//!   pipe, a redirection, `;`, `&`, `$VAR` or a glob is refused.
//! - A command must start with `distlab`; it runs as the binary built for
//!   this test (`CARGO_BIN_EXE_distlab`). A few commands are shown but not
//!   run: `cargo ...`, `mdbook ...`, `git clone ...`, `cd ...`, and
//!   `distlab tui ...` (it needs a terminal). Any other command fails.
//! - The lines after a command, up to the next `$ ` line or the end of the
//!   block, are *expected output*: each must appear, in order, among the
//!   lines the command printed, stdout then stderr, after trimming trailing
//!   whitespace (leading whitespace counts). A `...` line marks an elision
//!   and blank lines are ignored. `[exit status: N]`, on its own line after
//!   the output, is the exit status expected (0 when left out).
//! - Each block runs in a fresh scratch folder (under the system's temp
//!   folder) in which `scenarios` is a symlink to the project's lessons and
//!   `book/examples/` a copy of the book's example scenarios, so commands
//!   use lesson names or the paths a reader types at the project's root.
//!   Commands in one block share the folder: a file one writes, the next
//!   can read.
//! - Every file under `book/` in the scratch folder after the block (for
//!   example a chart a `distlab sweep` writes under `book/src/charts/`)
//!   must be byte-identical to the project's file at the same path; a file
//!   the project lacks is a failure too. Run with `DISTLAB_BLESS=1` to copy
//!   those files into the project instead — that is how the book's charts
//!   are regenerated:
//!
//!   ```sh
//!   DISTLAB_BLESS=1 cargo test --test book
//!   ```
//!
//! - Outside `console` blocks, a line that looks like a `distlab` command
//!   (`$ ...` or `distlab ...` at the start of a line of a fenced block) is
//!   a failure: it would not be tested.
//!
//! Every failure names `book/src/FILE.md:LINE`, the command, the first
//! expected line not found (or the exit status) and the actual output; all
//! failures are collected before the test fails. Files run in parallel on
//! two workers. The tests at the end show the harness firing: a missing
//! line, a wrong exit status, an unknown command, a file written under
//! `book/` that the project lacks.
//!
//! A second test checks that every lesson the book names in backticks
//! (`quorum/weak-quorum`, `scenarios/quorum/weak-quorum.toml`) exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The project's root.
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The longest one command may run before it is killed (a debug build).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Actual output shown in a failure message, at most.
const SHOWN_LINES: usize = 200;

/// A problem found in the book, at `file:line`.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    /// Relative to the project's root: `book/src/quorum.md`.
    file: String,
    line: usize,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// One `console` block.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    file: String,
    /// The line of the opening fence.
    line: usize,
    commands: Vec<Shown>,
}

/// One command as the book shows it, with its expected output.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    /// The line of its `$ `.
    line: usize,
    /// The command, continuation lines joined.
    text: String,
    /// `(line, text)` of each expected output line, trailing whitespace
    /// trimmed; elisions and blank lines left out.
    expected: Vec<(usize, String)>,
    status: i32,
}

/// What the harness does with a command.
#[derive(Debug, PartialEq)]
enum Action {
    /// Run `distlab` with these arguments.
    Run(Vec<String>),
    /// Shown to readers, not run.
    Shown,
    /// Neither: the book may not show it.
    Refused(String),
}

/// How blocks are run.
struct Config {
    repo: PathBuf,
    distlab: PathBuf,
    /// Copy files written under `book/` into the project instead of
    /// comparing them.
    bless: bool,
}

impl Config {
    fn from_env() -> Config {
        Config {
            repo: PathBuf::from(REPO),
            distlab: PathBuf::from(env!("CARGO_BIN_EXE_distlab")),
            bless: std::env::var("DISTLAB_BLESS").is_ok_and(|v| v == "1"),
        }
    }
}

// ---------------------------------------------------------------------------
// Reading the book

/// A fenced code block: its tag, the line of its opening fence, and its
/// lines (indentation of the fence removed) with their line numbers.
struct Fence<'a> {
    tag: &'a str,
    line: usize,
    lines: Vec<(usize, &'a str)>,
}

/// The fenced code blocks of a markdown text.
fn fences(text: &str) -> Vec<Fence<'_>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, ch, count, info)) = opening_fence(lines[i]) else {
            i += 1;
            continue;
        };
        let tag = info.split(|c: char| c == ',' || c.is_whitespace()).next().unwrap_or("");
        let mut fence = Fence { tag, line: i + 1, lines: Vec::new() };
        i += 1;
        while i < lines.len() {
            let l = lines[i];
            let t = l.trim_start();
            let run = t.chars().take_while(|&c| c == ch).count();
            if run >= count && t[run..].trim().is_empty() {
                break;
            }
            // Remove up to the fence's own indentation.
            let strip = l.len() - l.trim_start_matches(' ').len();
            fence.lines.push((i + 1, &l[strip.min(indent)..]));
            i += 1;
        }
        out.push(fence);
        i += 1; // the closing fence (or the end of the text)
    }
    out
}

/// `(indentation, fence character, its count, info string)` if `line` opens
/// a fenced code block.
fn opening_fence(line: &str) -> Option<(usize, char, usize, &str)> {
    let t = line.trim_start_matches(' ');
    let indent = line.len() - t.len();
    let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let count = t.chars().take_while(|&c| c == ch).count();
    if count < 3 {
        return None;
    }
    let info = t[count..].trim();
    // "```x```" on one line is inline code, not a fence.
    if ch == '`' && info.contains('`') {
        return None;
    }
    Some((indent, ch, count, info))
}

/// The `console` blocks of one chapter, and the problems found reading it.
fn parse(file: &str, text: &str) -> (Vec<Block>, Vec<Failure>) {
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    let fail = |line: usize, message: String| Failure { file: file.to_string(), line, message };
    for fence in fences(text) {
        if fence.tag != "console" {
            for (n, l) in &fence.lines {
                let t = l.trim_start();
                if t.starts_with("$ ") || t.starts_with("distlab ") {
                    problems.push(fail(
                        *n,
                        format!(
                            "a command in a `{}` block is not tested: show commands in a `console` block",
                            if fence.tag.is_empty() { "plain" } else { fence.tag }
                        ),
                    ));
                }
            }
            continue;
        }
        let mut block = Block { file: file.to_string(), line: fence.line, commands: Vec::new() };
        let mut status_seen = false;
        let mut i = 0;
        while i < fence.lines.len() {
            let (n, l) = fence.lines[i];
            i += 1;
            if let Some(first) = l.strip_prefix("$ ").or(if l.trim_end() == "$" { Some("") } else { None }) {
                let mut text = first.trim_end().to_string();
                while let Some(head) = text.strip_suffix('\\') {
                    text = head.trim_end().to_string();
                    match fence.lines.get(i) {
                        Some((_, next)) => {
                            text.push(' ');
                            text.push_str(next.trim());
                            i += 1;
                        }
                        None => {
                            problems.push(fail(n, "the command's last line ends with `\\`".into()));
                            break;
                        }
                    }
                }
                block.commands.push(Shown { line: n, text, expected: Vec::new(), status: 0 });
                status_seen = false;
                continue;
            }
            let t = l.trim_end();
            if t.trim().is_empty() || t.trim() == "..." {
                continue;
            }
            let Some(cmd) = block.commands.last_mut() else {
                problems.push(fail(n, format!("output before any `$ ` command: `{t}`")));
                continue;
            };
            if status_seen {
                problems.push(fail(n, format!("output after `[exit status: N]`: `{t}`")));
                continue;
            }
            if let Some(inner) = t.trim().strip_prefix("[exit status:").and_then(|s| s.strip_suffix(']')) {
                match inner.trim().parse::<i32>() {
                    Ok(s) => cmd.status = s,
                    Err(_) => problems.push(fail(n, format!("`{t}` is not `[exit status: N]`"))),
                }
                status_seen = true;
                continue;
            }
            cmd.expected.push((n, t.to_string()));
        }
        if block.commands.is_empty() {
            problems.push(fail(fence.line, "a `console` block with no `$ ` command".into()));
        }
        blocks.push(block);
    }
    (blocks, problems)
}

/// Splits a command into words as a POSIX shell would — single quotes,
/// double quotes, backslashes — and refuses the rest of shell syntax.
fn split_words(cmd: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("an unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("an unclosed double quote".into()),
                        },
                        Some(c @ ('$' | '`')) => {
                            return Err(format!("`{c}` inside double quotes: the harness runs no shell"));
                        }
                        Some(c) => word.push(c),
                        None => return Err("an unclosed double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("a trailing backslash".into()),
                }
            }
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' | '{' | '~' | '#' => {
                // `#` and `~` only matter at a word's start, the others
                // anywhere; a lesson path never needs them.
                if matches!(c, '#' | '~') && in_word {
                    word.push(c);
                    continue;
                }
                return Err(format!("`{c}` is shell syntax, and the harness runs no shell"));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Whether a command is run, shown only, or refused.
fn classify(text: &str) -> Action {
    let words = match split_words(text) {
        Ok(w) => w,
        Err(e) => return Action::Refused(e),
    };
    let first = words.first().map(String::as_str);
    let second = words.get(1).map(String::as_str);
    match (first, second) {
        (Some("distlab"), Some("tui")) => Action::Shown,
        (Some("distlab"), _) => Action::Run(words[1..].to_vec()),
        (Some("cargo" | "mdbook" | "cd"), _) | (Some("git"), Some("clone")) => Action::Shown,
        (None, _) => Action::Refused("an empty command".into()),
        (Some(other), _) => Action::Refused(format!(
            "`{other}` is not `distlab`, nor shown-only (cargo, mdbook, git clone, cd, distlab tui)"
        )),
    }
}

/// The first expected line not found, in order, among `actual`.
fn first_missing<'a>(expected: &'a [(usize, String)], actual: &[String]) -> Option<&'a (usize, String)> {
    let mut from = 0;
    for e in expected {
        match actual[from..].iter().position(|a| a == &e.1) {
            Some(i) => from += i + 1,
            None => return Some(e),
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Running it

/// Every chapter, relative to the project's root, sorted.
fn chapters(repo: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![repo.join("book/src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                let rel =
                    p.strip_prefix(repo).expect("under the project").to_string_lossy().replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// A fresh, empty scratch folder.
fn scratch_dir(block: &Block) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let stem: String = block
        .file
        .rsplit('/')
        .next()
        .unwrap_or("book")
        .trim_end_matches(".md")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let dir = std::env::temp_dir().join(format!(
        "distlab-book-{}-{}-{stem}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        block.line
    ));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("removing an old scratch folder");
    }
    std::fs::create_dir_all(&dir).expect("creating a scratch folder");
    dir
}

#[cfg(unix)]
fn symlink_dir(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink_dir(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_dir(target, link)
}

/// Every file under `dir`, relative to `base`, not following symlinks.
fn files_under(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
        if meta.is_dir() {
            files_under(base, &p, out);
        } else if meta.is_file() {
            out.push(p.strip_prefix(base).expect("under base").to_path_buf());
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    let mut files = Vec::new();
    files_under(from, from, &mut files);
    for f in files {
        let dest = to.join(&f);
        std::fs::create_dir_all(dest.parent().expect("a file has a parent")).expect("creating a folder");
        std::fs::copy(from.join(&f), &dest).expect("copying an example");
    }
}

/// What one run of `distlab` printed.
struct Ran {
    /// The exit status, or `None` when it was killed.
    status: Option<i32>,
    /// stdout's lines then stderr's, trailing whitespace trimmed.
    lines: Vec<String>,
}

/// Runs `distlab ARGS` in `dir`, with a time limit.
fn run_distlab(config: &Config, dir: &Path, args: &[String]) -> Ran {
    // Output goes to files beside the scratch folder, so that the process
    // never blocks on a full pipe while we wait for it.
    let out_path = dir.with_extension("stdout");
    let err_path = dir.with_extension("stderr");
    let out = std::fs::File::create(&out_path).expect("creating a capture file");
    let err = std::fs::File::create(&err_path).expect("creating a capture file");
    let mut child = Command::new(&config.distlab)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("starting distlab");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for distlab") {
            break s.code();
        }
        if start.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut lines = Vec::new();
    for p in [&out_path, &err_path] {
        let text = String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
        lines.extend(text.lines().map(|l| l.trim_end().to_string()));
        let _ = std::fs::remove_file(p);
    }
    Ran { status, lines }
}

/// Runs one block in a scratch folder and returns what went wrong.
fn run_block(config: &Config, block: &Block) -> Vec<Failure> {
    let dir = scratch_dir(block);
    symlink_dir(&config.repo.join("scenarios"), &dir.join("scenarios")).expect("linking scenarios/");
    let examples = config.repo.join("book/examples");
    if examples.is_dir() {
        copy_tree(&examples, &dir.join("book/examples"));
    }
    // The book's folders, empty, for commands that write into them.
    let mut folders = vec![PathBuf::from("book/src")];
    while let Some(f) = folders.pop() {
        std::fs::create_dir_all(dir.join(&f)).expect("creating a folder");
        for e in std::fs::read_dir(config.repo.join(&f)).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                folders.push(f.join(e.file_name()));
            }
        }
    }
    let mut failures = Vec::new();
    let fail = |line: usize, message: String| Failure { file: block.file.clone(), line, message };
    for cmd in &block.commands {
        let args = match classify(&cmd.text) {
            Action::Shown => continue,
            Action::Refused(why) => {
                failures.push(fail(cmd.line, format!("`{}`: {why}", cmd.text)));
                break;
            }
            Action::Run(args) => args,
        };
        let ran = run_distlab(config, &dir, &args);
        let mut problems = Vec::new();
        match ran.status {
            Some(s) if s == cmd.status => {}
            Some(s) => problems.push(format!("exit status {s}, expected {}", cmd.status)),
            None => problems.push(format!("killed (by a signal, or after {}s)", COMMAND_TIMEOUT.as_secs())),
        }
        if let Some((line, text)) = first_missing(&cmd.expected, &ran.lines) {
            problems.push(format!("expected line {line} not found (in order):\n    {text}"));
        }
        if !problems.is_empty() {
            let shown: Vec<String> =
                ran.lines.iter().take(SHOWN_LINES).map(|l| format!("    | {l}")).collect();
            let more = if ran.lines.len() > SHOWN_LINES {
                format!("\n    ... {} more lines", ran.lines.len() - SHOWN_LINES)
            } else {
                String::new()
            };
            failures.push(fail(
                cmd.line,
                format!(
                    "`{}`\n  {}\n  actual output (stdout, then stderr):\n{}{more}",
                    cmd.text,
                    problems.join("\n  "),
                    shown.join("\n")
                ),
            ));
            // Later commands of the block may need this one's result.
            break;
        }
    }
    failures.extend(check_book_files(config, block, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    failures
}

/// Files under the scratch folder's `book/` must match the project's (or
/// are copied there, blessing).
fn check_book_files(config: &Config, block: &Block, dir: &Path) -> Vec<Failure> {
    let mut files = Vec::new();
    files_under(dir, &dir.join("book"), &mut files);
    files.sort();
    let mut failures = Vec::new();
    for f in files {
        let written = std::fs::read(dir.join(&f)).expect("reading a written file");
        let ours = config.repo.join(&f);
        let shown = f.to_string_lossy().replace('\\', "/");
        if config.bless {
            if std::fs::read(&ours).ok().as_ref() != Some(&written) {
                std::fs::create_dir_all(ours.parent().expect("a file has a parent"))
                    .expect("creating a folder");
                std::fs::write(&ours, &written).expect("blessing a file");
                eprintln!("blessed {shown} (from the block at {}:{})", block.file, block.line);
            }
            continue;
        }
        let message = match std::fs::read(&ours) {
            Ok(bytes) if bytes == written => continue,
            Ok(_) => format!(
                "the block writes {shown}, which differs from the project's file \
                 (run `DISTLAB_BLESS=1 cargo test --test book` to update it)"
            ),
            Err(_) => format!(
                "the block writes {shown}, which the project does not have \
                 (run `DISTLAB_BLESS=1 cargo test --test book` to add it)"
            ),
        };
        failures.push(Failure { file: block.file.clone(), line: block.line, message });
    }
    failures
}

/// Parses and runs every chapter, files in parallel on two workers.
fn check_book(config: &Config, files: &[String]) -> (Vec<Failure>, usize) {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let commands = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let text = std::fs::read_to_string(config.repo.join(file)).expect("reading a chapter");
                    let (blocks, mut found) = parse(file, &text);
                    for b in &blocks {
                        commands.fetch_add(b.commands.len(), Ordering::Relaxed);
                        found.extend(run_block(config, b));
                    }
                    failures.lock().expect("no worker panics holding the lock").extend(found);
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("the workers are done");
    failures.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    (failures, commands.into_inner())
}

#[test]
fn every_command_in_the_book_runs_as_shown() {
    let config = Config::from_env();
    let files = chapters(&config.repo);
    assert!(!files.is_empty(), "the book has chapters");
    let (failures, commands) = check_book(&config, &files);
    eprintln!("{commands} commands in {} chapters", files.len());
    if !failures.is_empty() {
        let all: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
        panic!("{} problems in the book:\n\n{}", failures.len(), all.join("\n\n"));
    }
}

// ---------------------------------------------------------------------------
// Lesson names

/// The inline code spans of a markdown text outside fenced blocks, with
/// their line numbers.
fn code_spans(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some((ch, count)) = fence {
            let t = line.trim_start();
            let run = t.chars().take_while(|&c| c == ch).count();
            if run >= count && t[run..].trim().is_empty() {
                fence = None;
            }
            continue;
        }
        if let Some((_, ch, count, _)) = opening_fence(line) {
            fence = Some((ch, count));
            continue;
        }
        let parts: Vec<&str> = line.split('`').collect();
        // Odd-numbered parts are inside single backticks (spans do not
        // cross lines in this book).
        out.extend(parts.iter().skip(1).step_by(2).map(|s| (i + 1, s.to_string())));
    }
    out
}

/// Why a code span that names a lesson names none, if it does.
fn missing_lesson(repo: &Path, span: &str) -> Option<String> {
    let scenarios = repo.join("scenarios");
    let lesson_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if let Some(path) = span.strip_prefix("scenarios/") {
        let plain = path.ends_with(".toml") && path.split('/').count() == 2;
        let name = path.trim_end_matches(".toml");
        if plain && name.chars().all(|c| lesson_char(c) || c == '/') && !repo.join(span).is_file() {
            return Some(format!("`{span}`: no such lesson file"));
        }
        return None;
    }
    let (folder, name) = span.split_once('/')?;
    let is_name = |s: &str| !s.is_empty() && s.chars().all(lesson_char);
    if !is_name(folder) || !is_name(name) || !scenarios.join(folder).is_dir() {
        return None;
    }
    if scenarios.join(folder).join(format!("{name}.toml")).is_file() {
        return None;
    }
    Some(format!("`{span}`: there is no lesson by that name (see `distlab list`)"))
}

#[test]
fn every_lesson_the_book_names_exists() {
    let repo = PathBuf::from(REPO);
    let mut failures = Vec::new();
    let mut named = 0;
    for file in chapters(&repo) {
        let text = std::fs::read_to_string(repo.join(&file)).expect("reading a chapter");
        for (line, span) in code_spans(&text) {
            match missing_lesson(&repo, &span) {
                Some(message) => failures.push(Failure { file: file.clone(), line, message }),
                None => named += 1,
            }
        }
    }
    let all: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
    assert!(failures.is_empty(), "{}", all.join("\n"));
    assert!(named > 0);
}

/// The book shows example files inline (so it reads on a forge without
/// mdBook's `{{#include}}`); each shown copy, marked
/// `<!-- the file PATH, checked by tests/book.rs -->` above its fence, is
/// the file as it is, and no chapter uses `{{#include}}`.
#[test]
fn files_the_book_shows_are_the_files() {
    let repo = PathBuf::from(REPO);
    let marker = "<!-- the file ";
    let mut shown = 0;
    for file in chapters(&repo) {
        let text = std::fs::read_to_string(repo.join(&file)).expect("reading a chapter");
        assert!(!text.contains("{{#include"), "{file}: show the file inline (marked), not {{{{#include}}}}");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(rest) = line.strip_prefix(marker) else { continue };
            let path = rest.split(',').next().expect("a path");
            assert!(
                lines.get(i + 1).is_some_and(|l| l.starts_with("```")),
                "{file}:{}: a fence follows the marker",
                i + 1
            );
            let body: Vec<&str> =
                lines[i + 2..].iter().take_while(|l| !l.starts_with("```")).copied().collect();
            let on_disk = std::fs::read_to_string(repo.join(path))
                .unwrap_or_else(|e| panic!("{file}:{}: {path}: {e}", i + 1));
            assert_eq!(
                body.join("\n") + "\n",
                on_disk,
                "{file}:{}: the copy of {path} differs from the file",
                i + 1
            );
            shown += 1;
        }
    }
    assert!(shown >= 2, "the two example lessons are shown");
}

// ---------------------------------------------------------------------------
// The harness itself

#[cfg(test)]
mod harness {
    use super::*;

    fn one_block(md: &str) -> Block {
        let (blocks, problems) = parse("book/src/test.md", md);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(blocks.len(), 1);
        blocks.into_iter().next().unwrap()
    }

    /// Runs the console blocks of `md` with the real binary.
    fn run(md: &str) -> Vec<Failure> {
        let (blocks, problems) = parse("book/src/test.md", md);
        assert!(problems.is_empty(), "{problems:?}");
        let config = Config { bless: false, ..Config::from_env() };
        blocks.iter().flat_map(|b| run_block(&config, b)).collect()
    }

    #[test]
    fn parses_commands_output_elisions_and_exit_statuses() {
        let md = "# T\n\ntext\n\n```console\n$ distlab validate \\\n    scenarios/quorum/weak-quorum.toml\nok   one\n...\n\n  two  \n[exit status: 1]\n$ cargo build\n```\n\n```toml\nx = 1\n```\n";
        let b = one_block(md);
        assert_eq!(b.line, 5);
        assert_eq!(b.commands.len(), 2);
        let c = &b.commands[0];
        assert_eq!(c.line, 6);
        assert_eq!(c.text, "distlab validate scenarios/quorum/weak-quorum.toml");
        assert_eq!(c.expected, vec![(8, "ok   one".to_string()), (11, "  two".to_string())]);
        assert_eq!(c.status, 1);
        assert_eq!(b.commands[1].status, 0);
        assert_eq!(classify(&b.commands[1].text), Action::Shown);
    }

    #[test]
    fn fences_indented_longer_and_tilde() {
        let md =
            "- item\n\n   ````console\n   $ distlab list\n   ```\n   ````\n~~~console\n$ distlab list\n~~~\n";
        let (blocks, problems) = parse("f.md", md);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].commands[0].expected, vec![(5, "```".to_string())]);
        assert_eq!(blocks[1].commands[0].text, "distlab list");
    }

    #[test]
    fn bad_blocks_are_reported() {
        let (_, p) = parse("f.md", "```console\nstray output\n$ distlab list\n[exit status: 1]\nmore\n```\n");
        let lines: Vec<usize> = p.iter().map(|f| f.line).collect();
        assert_eq!(lines, vec![2, 5], "{p:?}");
        let (_, p) = parse("f.md", "```console\n$ distlab list\n[exit status: one]\n```\n");
        assert_eq!(p.len(), 1);
        let (_, p) = parse("f.md", "```console\n$ distlab run \\\n```\n");
        assert_eq!(p.len(), 1);
        let (_, p) = parse("f.md", "```text\n$ distlab run quorum/weak-quorum\n```\n");
        assert!(p[0].message.contains("not tested"), "{p:?}");
        let (_, p) = parse("f.md", "```sh\ndistlab run quorum/weak-quorum\n```\n");
        assert_eq!(p.len(), 1);
        let (_, p) = parse("f.md", "```text\nreplay it: distlab run x --seed 1\n```\n");
        assert!(p.is_empty());
    }

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words("distlab run 'a b' \"c \\\" d\" e\\ f").unwrap(),
            ["distlab", "run", "a b", "c \" d", "e f"]
        );
        assert_eq!(split_words("  distlab   list  ").unwrap(), ["distlab", "list"]);
        assert_eq!(
            split_words("distlab check x --seeds 0..=9").unwrap(),
            ["distlab", "check", "x", "--seeds", "0..=9"]
        );
        for bad in [
            "distlab run x | head",
            "distlab run x > out",
            "distlab run $X",
            "distlab run 'x",
            "distlab run *.toml",
            "a; b",
        ] {
            assert!(split_words(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands_are_run_shown_or_refused() {
        assert_eq!(
            classify("distlab run x --seed 3"),
            Action::Run(vec!["run".into(), "x".into(), "--seed".into(), "3".into()])
        );
        for shown in [
            "distlab tui quorum/weak-quorum",
            "cargo install --path .",
            "mdbook serve book",
            "git clone https://example.org/distlab",
            "cd distlab",
        ] {
            assert_eq!(classify(shown), Action::Shown, "{shown}");
        }
        for refused in ["ls scenarios", "git pull", "rm -rf /", "", "distlab run x | grep y"] {
            assert!(matches!(classify(refused), Action::Refused(_)), "{refused}");
        }
    }

    #[test]
    fn expected_lines_are_an_ordered_subsequence() {
        let actual: Vec<String> = ["a", "b", "c", "  d"].iter().map(|s| s.to_string()).collect();
        let exp =
            |xs: &[&str]| xs.iter().enumerate().map(|(i, s)| (i + 1, s.to_string())).collect::<Vec<_>>();
        assert_eq!(first_missing(&exp(&["a", "c"]), &actual), None);
        assert_eq!(first_missing(&exp(&["  d"]), &actual), None);
        assert_eq!(first_missing(&exp(&[]), &actual), None);
        assert_eq!(first_missing(&exp(&["c", "a"]), &actual), Some(&(2, "a".to_string())));
        assert_eq!(first_missing(&exp(&["d"]), &actual), Some(&(1, "d".to_string())), "leading spaces count");
        assert_eq!(
            first_missing(&exp(&["a", "a"]), &actual),
            Some(&(2, "a".to_string())),
            "one line matches once"
        );
    }

    #[test]
    fn a_block_that_matches_passes_with_elisions() {
        let f = run(
            "```console\n$ distlab validate quorum/weak-quorum scenarios/quorum/strict-quorum.toml\n...\n```\n\
                     ```console\n$ distlab run quorum/weak-quorum\n...\nexpectations:\n...\n```\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn a_missing_expected_line_fails() {
        let md =
            "```console\n$ distlab run quorum/weak-quorum\nexpectations:\n  this line is not printed\n```\n";
        let f = run(md);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].line, 2);
        assert!(f[0].message.contains("expected line 4 not found"), "{}", f[0]);
        assert!(f[0].message.contains("this line is not printed"));
        assert!(f[0].message.contains("    | expectations:"), "the actual output is shown: {}", f[0]);
        assert!(f[0].to_string().starts_with("book/src/test.md:2: `distlab run quorum/weak-quorum`"));
        // Out of order is missing too.
        let f = run("```console\n$ distlab run quorum/weak-quorum\nexpectations:\nchecks:\n```\n");
        assert_eq!(f.len(), 1, "{f:?}");
    }

    #[test]
    fn a_wrong_exit_status_fails() {
        let f = run("```console\n$ distlab run scenarios/quorum/no-such-lesson.toml\n```\n");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("exit status 2, expected 0"), "{}", f[0]);
        let f = run("```console\n$ distlab run quorum/no-such-lesson\n[exit status: 2]\n```\n");
        assert!(f.is_empty(), "{f:?}");
        let f = run("```console\n$ distlab list\n[exit status: 1]\n```\n");
        assert!(f[0].message.contains("exit status 0, expected 1"), "{f:?}");
    }

    #[test]
    fn an_unknown_command_fails_and_stops_its_block() {
        let f = run("```console\n$ ls scenarios\n$ distlab run quorum/no-such-lesson\n```\n");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("`ls` is not `distlab`"), "{}", f[0]);
        let f = run("```console\n$ distlab list | head\n```\n");
        assert!(f[0].message.contains("shell syntax"), "{f:?}");
    }

    #[test]
    fn commands_of_a_block_share_a_folder_and_blocks_do_not() {
        // The trace the first command writes is there for the second (it
        // is no scenario, so validate reads it and rejects it).
        let md = "```console\n$ distlab run two-phase-commit/coordinator-crash --trace t.jsonl\n\
                  $ distlab validate t.jsonl\nt.jsonl:1:1: invalid key-value pair, expected key\n[exit status: 2]\n```\n";
        assert!(run(md).is_empty(), "{:?}", run(md));
        // A fresh folder: t.jsonl is not there any more.
        let md = "```console\n$ distlab validate t.jsonl\nt.jsonl: no such file, and no bundled lesson by that name\n[exit status: 2]\n```\n";
        assert!(run(md).is_empty(), "{:?}", run(md));
    }

    #[test]
    fn a_file_written_under_book_must_be_the_projects() {
        let md = "```console\n$ distlab check quorum/exercise-first-reply --seeds 0..10 \\\n    --save-counterexample book/src/not-in-the-project.toml\n...\n[exit status: 1]\n```\n";
        let f = run(md);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message.contains("book/src/not-in-the-project.toml, which the project does not have"),
            "{}",
            f[0]
        );
        assert!(!Path::new(REPO).join("book/src/not-in-the-project.toml").exists());
        // The book's examples are in the folder, and unchanged they pass.
        let examples = Path::new(REPO).join("book/examples");
        if examples.is_dir() {
            assert!(run("```console\n$ distlab list\n```\n").is_empty());
        }
    }

    /// Blessing copies a written file into the project; then the block
    /// passes; a file that differs fails. On a stand-in project folder, so
    /// the real one is never touched.
    #[test]
    fn blessing_copies_and_a_changed_file_fails() {
        let project = std::env::temp_dir().join(format!("distlab-book-bless-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&project);
        std::fs::create_dir_all(project.join("book/src/charts")).unwrap();
        symlink_dir(&Path::new(REPO).join("scenarios"), &project.join("scenarios")).unwrap();
        let config = |bless| Config { repo: project.clone(), bless, ..Config::from_env() };
        let (blocks, _) = parse(
            "book/src/test.md",
            "```console\n$ distlab check quorum/exercise-first-reply --seeds 0..10 \\\n    \
             --save-counterexample book/src/charts/found.toml\n[exit status: 1]\n```\n",
        );
        let written = project.join("book/src/charts/found.toml");

        let f = run_block(&config(true), &blocks[0]);
        assert!(f.is_empty(), "{f:?}");
        let blessed = std::fs::read_to_string(&written).expect("blessing wrote the file into the project");
        assert!(blessed.contains("[[timeline]]"));
        assert!(run_block(&config(false), &blocks[0]).is_empty(), "the same file passes");

        std::fs::write(&written, blessed.replace("seed = 1", "seed = 2")).unwrap();
        let f = run_block(&config(false), &blocks[0]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("book/src/charts/found.toml, which differs"), "{}", f[0]);
        assert_eq!(f[0].line, 1, "named by the block's line");
        let _ = std::fs::remove_dir_all(&project);
    }

    #[test]
    fn lesson_names_are_checked() {
        let repo = Path::new(REPO);
        assert_eq!(missing_lesson(repo, "quorum/weak-quorum"), None);
        assert_eq!(missing_lesson(repo, "scenarios/quorum/weak-quorum.toml"), None);
        assert!(missing_lesson(repo, "quorum/weak-quorom").is_some());
        assert!(missing_lesson(repo, "scenarios/quorum/weak.toml").is_some());
        // Not lesson names: other paths, patterns, prose.
        for other in ["src/protocols/quorum/mod.rs", "quorum/exercise-*", "r/w", "book/src/charts", "a + b"] {
            assert_eq!(missing_lesson(repo, other), None, "{other}");
        }
        let spans = code_spans("a `x` b `y/z`\n```console\n$ `q`\n```\n`w`\n");
        assert_eq!(spans, vec![(1, "x".into()), (1, "y/z".into()), (5, "w".into())]);
    }
}

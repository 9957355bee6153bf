//! The hostile corpus (issue 11): malformed and hostile scenario files, run
//! through the real `distlab` binary as a student or a CI job would.
//!
//! Every file must end in a bounded time with exit 2 and a message (bad
//! input), or — for the few that are valid — with a bounded run (exit 0 or
//! 1); never a signal, an abort or a hang. And whatever the file holds,
//! nothing distlab prints may carry a raw control character (a downloaded
//! lesson must not be able to retitle or clear the terminal, or print a
//! fake "all checks hold"), nor repeat a huge value whole.
//!
//! - `tests/hostile/invalid/*.toml`: each starts with `# error: TEXT`;
//!   `validate` and `run` exit 2 and the message contains TEXT.
//! - `tests/hostile/valid/*.toml`: files at the documented limits, or with
//!   escape sequences in their prose; `validate` exits 0, `run` 0 or 1.
//! - generated here (too large to commit): 20,000 regions, 65,536
//!   partition groups, 80,000-character near misses, a 10 MB line, deep
//!   nesting, raw escape bytes, non-UTF-8, `/dev/zero`, a FIFO, a folder.
//! - `tests/hostile/budget-bound/*.toml`: valid files whose run ends only
//!   because the engine bounds events at one instant and events in all
//!   (zero-latency livelocks, every message duplicated): `run` must end, by
//!   finishing or with the budget's exit 2 and message.
//!
//! Each child runs with a 4 GiB address-space limit and is killed after
//! [`HANG`], so a regression (reading `/dev/zero` into memory, a blocking
//! FIFO, quadratic work) fails the test instead of the machine.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far beyond any bounded run of these files (each takes milliseconds).
const HANG: Duration = Duration::from_secs(30);
/// What one command may print for a hostile file (errors clip what they
/// quote; valid runs are small).
const OUTPUT_BYTES: usize = 64 * 1024;

fn corpus(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// A scratch folder for generated files, new for each test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// How one command ended.
struct Ended {
    /// The exit code; `None` when killed by a signal.
    code: Option<i32>,
    output: String,
    bytes: usize,
}

/// Runs `distlab ARGS` with a memory limit, killing it after [`HANG`].
fn distlab(args: &[OsString], scratch: &Path) -> Result<Ended, String> {
    let out_path = scratch.join("stdout");
    let err_path = scratch.join("stderr");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_distlab"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .env_remove("RUST_BACKTRACE");
    limit_memory(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start distlab: {e}"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {HANG:?} (a hang): killed"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut raw = std::fs::read(&out_path).expect("stdout");
    raw.extend(std::fs::read(&err_path).expect("stderr"));
    Ok(Ended { code: status.code(), bytes: raw.len(), output: String::from_utf8_lossy(&raw).into_owned() })
}

/// Caps the child's address space, so a file that makes distlab allocate
/// without end fails fast instead of exhausting the machine.
#[cfg(unix)]
fn limit_memory(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: between fork and exec, setrlimit is async-signal-safe and
    // touches only this child's limits.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 4 << 30, rlim_max: 4 << 30 };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn limit_memory(_: &mut Command) {}

/// Characters a terminal acts on (control characters, bidi overrides),
/// written here independently of distlab's own list.
fn raw_control(output: &str) -> Option<(usize, char)> {
    output.char_indices().find(|&(_, c)| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// What is wrong with how a command ended, given the exit codes it may
/// end with and a text its output must contain.
fn judge(ended: Result<Ended, String>, codes: &[i32], contains: &str) -> Option<String> {
    let ended = match ended {
        Err(why) => return Some(why),
        Ok(e) => e,
    };
    let tail = |s: &str| s.chars().take(600).collect::<String>();
    let mut problems = Vec::new();
    match ended.code {
        None => problems.push("killed by a signal (a crash or an abort)".to_string()),
        Some(c) if !codes.contains(&c) => problems.push(format!("exit {c}, expected one of {codes:?}")),
        Some(_) => {}
    }
    if ended.code == Some(101) || ended.output.contains("panicked") {
        problems.push("it panicked".into());
    }
    if let Some((at, c)) = raw_control(&ended.output) {
        problems.push(format!("raw control character {c:?} at byte {at} of the output"));
    }
    if ended.bytes > OUTPUT_BYTES {
        problems.push(format!("printed {} bytes (more than {OUTPUT_BYTES})", ended.bytes));
    }
    if ended.code == Some(2) && !ended.output.contains("error") {
        problems.push("exit 2 without an error message".into());
    }
    if !ended.output.contains(contains) {
        problems.push(format!("the output lacks {contains:?}"));
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!("{}\n      output: {:?}", problems.join("; "), tail(&ended.output)))
    }
}

/// `validate FILE` and `run FILE`, both expected to end with one of
/// `codes` and to print `contains`; the problems found, labelled.
fn both_commands(
    file: &Path,
    codes_validate: &[i32],
    codes_run: &[i32],
    contains: &str,
    dir: &Path,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (command, codes) in [("validate", codes_validate), ("run", codes_run)] {
        let args = [OsString::from(command), file.as_os_str().to_owned()];
        if let Some(why) = judge(distlab(&args, dir), codes, contains) {
            problems.push(format!("- {command} {}: {why}", file.display()));
        }
    }
    problems
}

/// The text a committed invalid file's message must contain: its first
/// line, `# error: TEXT`.
fn expected_error(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let first = text.lines().next().unwrap_or_default();
    first
        .strip_prefix("# error:")
        .unwrap_or_else(|| panic!("{} must start with `# error: TEXT`", file.display()))
        .trim()
        .to_string()
}

/// Every committed invalid file gets exit 2 from `validate` and `run`,
/// with its pinned message, pointing at `file:line:column` (or the file),
/// with no raw control character in the output.
#[test]
fn invalid_files_exit_2_with_a_message() {
    let dir = scratch("invalid");
    let files = corpus("invalid");
    assert!(files.len() >= 50, "the corpus is there ({} files)", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let expected = expected_error(file);
        problems.extend(both_commands(file, &[2], &[2], &expected, &dir));
        // The message names the file (and a position when it has one).
        let args = [OsString::from("validate"), file.as_os_str().to_owned()];
        if let Ok(e) = distlab(&args, &dir)
            && !e.output.contains(&file.display().to_string())
        {
            problems.push(format!("- validate {}: the message does not name the file", file.display()));
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

/// The committed valid files (at the documented limits; escape sequences
/// in the prose) validate and run to a bounded end, printing their text
/// with every control character as a visible escape.
#[test]
fn valid_files_run_to_a_bounded_end() {
    let dir = scratch("valid");
    let files = corpus("valid");
    assert!(files.len() >= 5);
    let mut problems = Vec::new();
    for file in &files {
        problems.extend(both_commands(file, &[0], &[0, 1], "", &dir));
    }
    // The escapes are shown, not dropped: a student sees what the file holds.
    let esc = files.iter().find(|f| f.ends_with("ansi-everywhere.toml")).expect("the escapes file");
    let shown = distlab(&[OsString::from("run"), esc.as_os_str().to_owned()], &dir).expect("runs");
    for visible in ["\\x1b]0;pwned\\x07\\x1b[2J", "\\x1b[32mAll checks hold.", "\\u{9b}31m"] {
        if !shown.output.contains(visible) {
            problems.push(format!("- run {}: {visible:?} is not shown", esc.display()));
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

const BASE: &str = "[scenario]\nname = \"hostile\"\nprotocol = \"primary-replica\"\nduration = \"1s\"\n\n[cluster]\nnodes = 3\n";

/// Hostile files too large (or too strange) to commit, generated: each is
/// `(name, bytes, text the error must contain)`. Several hung or exhausted
/// memory before the limits (issue 11, item 16): 20,000 regions (the
/// regions² matrix), long near misses (did-you-mean), a 10 MB line (the
/// snippet repeated it), `/dev/zero` (read until memory ran out), a FIFO
/// (blocked); 65,536 groups loaded and wrapped the engine's group number.
fn generated() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let long = |c: &str, n: usize| c.repeat(n);
    let near = format!("{}x", long("n", 79_999));
    let name80k = long("n", 80_000);
    let mut files: Vec<(&'static str, Vec<u8>, &'static str)> = vec![
        (
            "20000-regions",
            format!(
                "{BASE}regions = {{ a = [\"n1\", \"n2\", \"n3\"], {} }}\n",
                (0..20_000).map(|i| format!("r{i} = []")).collect::<Vec<_>>().join(", ")
            )
            .into_bytes(),
            "at most 64 regions",
        ),
        (
            "65536-groups",
            format!("{BASE}\n[[timeline]]\nat = \"1ms\"\npartition = [[\"n1\", \"n2\", \"n3\"]{}]\n", ", []".repeat(65_535))
                .into_bytes(),
            "a group of the partition is empty",
        ),
        (
            "80000-char-node-and-near-miss",
            format!("{}\n[[timeline]]\nat = \"1ms\"\ncrash = \"{near}\"\n", BASE.replace("nodes = 3", &format!("nodes = [\"{name80k}\", \"b\"]")))
                .into_bytes(),
            "node names must be 1 to 64",
        ),
        (
            "80000-char-region-and-near-miss",
            format!("{BASE}regions = {{ {name80k} = [\"n1\", \"n2\", \"n3\"] }}\n\n[[network.region_latency]]\nfrom = \"{near}\"\nto = \"{near}\"\nlatency = \"1ms\"\n")
                .into_bytes(),
            "region names must be",
        ),
        (
            "80000-char-client-and-near-miss",
            format!("{BASE}\n[[clients]]\nname = \"{name80k}\"\nops = 1\n\n[[timeline]]\nat = \"1ms\"\ncut = {{ from = \"n1\", to = \"{near}\" }}\n")
                .into_bytes(),
            "client names must be",
        ),
        (
            "80000-char-unknown-node",
            format!("{BASE}\n[[timeline]]\nat = \"1ms\"\ncrash = \"{near}\"\n").into_bytes(),
            "there is no node `nnn",
        ),
        (
            "80000-char-unknown-field",
            format!("{BASE}\n[network]\n{near} = 1\n").into_bytes(),
            "unknown field `nnn",
        ),
        (
            "900k-char-line-in-limit",
            format!("{BASE}\n[protocol]\nmode = \"{}\"\n", long("x", 900_000)).into_bytes(),
            "unknown variant `xxx",
        ),
        ("10mb-line", format!("{BASE}# {}\n", long("x", 10_000_000)).into_bytes(), "larger than 1 MiB"),
        ("over-1mib-of-lines", format!("{BASE}{}", "# padding\n".repeat(110_000)).into_bytes(), "larger than 1 MiB"),
        ("deep-arrays", format!("{BASE}\n[protocol]\nx = {}{}\n", long("[", 200_000), long("]", 200_000)).into_bytes(), ""),
        (
            "deep-inline-tables",
            format!("{BASE}\n[protocol]\nx = {}1{}\n", long("{a=", 100_000), long("}", 100_000)).into_bytes(),
            "",
        ),
        (
            "100k-node-names",
            BASE.replace(
                "nodes = 3",
                &format!("nodes = [{}]", (0..100_000).map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(",")),
            )
            .into_bytes(),
            "between 1 and 64 nodes",
        ),
        (
            "28k-named-client-entries",
            format!("{BASE}{}", (0..28_000).map(|i| format!("[[clients]]\nname=\"w{i}\"\nops=1\n")).collect::<String>())
                .into_bytes(),
            "at most 1024 [[clients]] entries",
        ),
        (
            "100k-region-members",
            format!(
                "{BASE}regions = {{ a = [\"n1\", \"n2\", \"n3\", {}] }}\n",
                (0..100_000).map(|i| format!("\"w{i}\"")).collect::<Vec<_>>().join(",")
            )
            .into_bytes(),
            "the regions list more than",
        ),
        (
            "10001-timeline-entries",
            format!("{BASE}{}", "[[timeline]]\nat=\"1ms\"\nheal=true\n".repeat(10_001)).into_bytes(),
            "at most 10000 timeline entries",
        ),
        (
            "1001-expectations",
            format!("{BASE}{}", "[[expect]]\nmetric=\"ops_ok\"\nat_least=0\n".repeat(1_001)).into_bytes(),
            "at most 1000 [[expect]] entries",
        ),
        ("raw-escape-in-a-key", format!("{BASE}\n[network]\nlat\u{1b}]0;pwned\u{7}\u{1b}[2Jency = 1\n").into_bytes(), ""),
        ("raw-c1-in-a-value", format!("{BASE}\n[network]\nlatency = \u{9b}2J\n").into_bytes(), ""),
        ("not-utf8", [BASE.as_bytes(), b"\n# \xff\xfe\x1b[2J\n"].concat(), "not UTF-8"),
        ("nul-bytes", [BASE.as_bytes(), b"\n\0\0\0\n"].concat(), ""),
    ];
    // A file that is only a UTF-8 byte-order mark and garbage.
    files.push(("bom-and-garbage", b"\xef\xbb\xbf\x1b[2J[[[".to_vec(), ""));
    files
}

/// Every generated hostile file gets exit 2 from `validate` and `run`,
/// quickly, with a clipped message and no raw control character.
#[test]
fn generated_files_exit_2_quickly() {
    let dir = scratch("generated");
    let mut problems = Vec::new();
    for (name, bytes, expected) in generated() {
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, bytes).expect("write");
        problems.extend(both_commands(&file, &[2], &[2], expected, &dir));
        let _ = std::fs::remove_file(&file);
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

/// What is not a regular file is refused before it is opened: a device
/// that never ends (`/dev/zero` was read until memory ran out), a FIFO
/// (opening it blocked until a writer came), a folder.
#[test]
fn only_regular_files_are_read() {
    let dir = scratch("special");
    let mut cases: Vec<(PathBuf, &str)> = vec![(dir.clone(), "it is a folder")];
    if Path::new("/dev/zero").exists() {
        cases.push((PathBuf::from("/dev/zero"), "not a regular file"));
    }
    #[cfg(unix)]
    {
        let fifo = dir.join("lesson.toml");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("a path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        cases.push((fifo, "not a regular file"));
    }
    let mut problems = Vec::new();
    for (file, expected) in &cases {
        problems.extend(both_commands(file, &[2], &[2], expected, &dir));
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

/// Regression (issue 11, item 18): `distlab plot` joined gauge names from
/// the trace to the output folder as they were, so a gauge `../../x` or an
/// absolute path wrote outside it. Every file now lands in the folder
/// named, and the names are printed escaped.
#[test]
fn plot_writes_only_inside_its_folder() {
    let dir = scratch("plot");
    let outside_abs = dir.join("absolute");
    let gauges = [
        "../../escaped".to_string(),
        outside_abs.display().to_string(),
        "..".into(),
        "\u{1b}]0;pwned\u{7}".into(),
        "lag".into(),
        "LAG".into(),
    ];
    let mut trace = String::from("{\"step\":1,\"time_us\":0,\"kind\":\"send\",\"msg\":1,\"text\":\"x\"}\n");
    for (i, t) in [0u64, 1000].iter().enumerate() {
        let g: Vec<String> = gauges.iter().map(|n| format!("{}:{}", serde_json::json!(n), i)).collect();
        trace.push_str(&format!(
            "{{\"step\":1,\"time_us\":{t},\"kind\":\"sample\",\"gauges\":{{{}}}}}\n",
            g.join(",")
        ));
    }
    let trace_path = dir.join("run.jsonl");
    std::fs::write(&trace_path, trace).expect("write the trace");
    let out = dir.join("a/b/out");
    let args: Vec<OsString> =
        vec!["plot".into(), trace_path.clone().into(), "--out".into(), out.clone().into(), "--no-png".into()];
    let mut problems: Vec<String> = judge(distlab(&args, &dir), &[0], "wrote").into_iter().collect();
    // Everything under the scratch folder is ours or inside `out`.
    let mut stack = vec![dir.clone()];
    let mut written = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.starts_with(&out) {
                written += 1;
            } else if ![trace_path.as_path(), &dir.join("stdout"), &dir.join("stderr")].contains(&p.as_path())
            {
                problems.push(format!("wrote outside --out: {}", p.display()));
            }
        }
    }
    // messages_in_flight-over-time and one chart per gauge, none overwriting another.
    if written != 1 + gauges.len() {
        problems.push(format!("{written} files in --out, expected {}", 1 + gauges.len()));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Valid files whose run ends only under the engine's budgets (events at
/// one instant, events in all): they end, never hang or abort.
#[test]
fn files_bounded_by_engine_budgets_end() {
    let dir = scratch("budgets");
    let mut problems = Vec::new();
    let files = corpus("budget-bound");
    assert!(files.len() >= 3, "the corpus is there ({} files)", files.len());
    for file in &files {
        let validate = [OsString::from("validate"), file.as_os_str().to_owned()];
        if let Some(why) = judge(distlab(&validate, &dir), &[0], "") {
            problems.push(format!("- validate {}: {why}", file.display()));
        }
        // The default budgets (a million events at one instant, a billion
        // in all) end these runs too, in seconds to minutes of a release
        // build; the same mechanism with budgets a hundred and a thousand times smaller
        // keeps this debug-build test within the hang guard.
        let run = [
            OsString::from("run"),
            file.as_os_str().to_owned(),
            "--max-events-per-instant".into(),
            "10000".into(),
            "--max-events".into(),
            "1000000".into(),
        ];
        if let Some(why) = judge(distlab(&run, &dir), &[2], "stopped") {
            problems.push(format!("- run {}: {why}", file.display()));
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

/// Regression (issue 11, item 19), in the TUI: the lesson's title, its
/// description and its notes are drawn with their escape sequences
/// visible (before, ratatui dropped the control characters and drew the
/// rest, so `ESC]0;pwned` showed as `]0;pwned`), and no cell of the
/// screen holds a control character.
#[test]
fn the_tui_shows_escapes_visibly() {
    use distlab::tui::App;
    use distlab::tui::app::Msg;
    use distlab::tui::keys::Action;
    use distlab::tui::theme::Theme;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/valid/ansi-everywhere.toml");
    let mut app = App::open(&file, None, Theme { color: false }).unwrap_or_else(|e| panic!("{e}"));
    app.update(Msg::Action(Action::NextNote));
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("a test terminal");
    terminal.draw(|f| distlab::tui::ui::view(&app, f)).expect("drawn");
    let buffer = terminal.backend().buffer();
    let text: String = buffer.content().iter().map(|c| c.symbol()).collect();
    assert_eq!(raw_control(&text), None, "a control character on screen");
    for visible in ["\\x1b]0;pwned\\x07", "\\x1b[2J\\x1b[32mAll checks hold.", "\\x1b]2;owned\\x07"] {
        assert!(text.contains(visible), "{visible:?} is not on screen:\n{}", screen_lines(buffer));
    }
}

fn screen_lines(buffer: &ratatui::buffer::Buffer) -> String {
    let width = buffer.area.width as usize;
    let symbols: Vec<&str> = buffer.content().iter().map(|c| c.symbol()).collect();
    symbols.chunks(width).map(|row| row.concat()).collect::<Vec<_>>().join("\n")
}

/// `distlab plot` reads only a regular file, a line at a time: `/dev/zero`
/// (one endless line) was read into memory until it ran out, a FIFO
/// blocked; a file of one 2 MB line is refused at its first line.
#[test]
fn plot_reads_only_bounded_regular_files() {
    let dir = scratch("plot-input");
    let long = dir.join("one-line.jsonl");
    std::fs::write(&long, "x".repeat(2 << 20)).expect("write");
    let mut cases = vec![(long, "longer than 1 MiB"), (dir.clone(), "not a regular file")];
    if Path::new("/dev/zero").exists() {
        cases.push((PathBuf::from("/dev/zero"), "not a regular file"));
    }
    let mut problems = Vec::new();
    for (file, expected) in cases {
        let args =
            vec!["plot".into(), file.clone().into_os_string(), "--out".into(), dir.join("charts").into()];
        if let Some(why) = judge(distlab(&args, &dir), &[2], expected) {
            problems.push(format!("- plot {}: {why}", file.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

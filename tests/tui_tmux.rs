//! End to end: the real binary in a real terminal (tmux). Opens a lesson,
//! steps, jumps to a note, crashes a node by hand, checks the screen shows
//! it, quits, and checks the terminal was restored (alternate screen left,
//! canonical mode and echo back on). Skipped, with a message, where tmux
//! is not installed (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
    conf: PathBuf,
    dir: PathBuf,
}

impl Tmux {
    fn new(name: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("tmux is not installed: skipping the end-to-end test");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("distlab-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("tmux.conf");
        // Set before the session starts: a fast exit must leave the pane.
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n").unwrap();
        Some(Tmux { socket: format!("distlab-{name}-{}", std::process::id()), conf, dir })
    }

    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", self.conf.to_str().unwrap()])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p"])
    }

    /// Waits until the screen shows `text` (polling, not sleeping).
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "the screen never showed {text:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the TUI (`distlab tui ARGS`) in a `w`×`h` terminal, from the
    /// repository (see [`script`]).
    fn start(&self, args: &str, w: u16, h: u16) {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = script(self, args);
        let (w, h) = (w.to_string(), h.to_string());
        self.cmd(&[
            "new-session",
            "-d",
            "-x",
            &w,
            "-y",
            &h,
            "-c",
            repo.to_str().unwrap(),
            "sh",
            "-c",
            &script,
        ]);
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The command line for a pane: run the TUI, then write its exit status
/// and the terminal's mode (as `stty -a` sees it) to files.
fn script(tmux: &Tmux, args: &str) -> String {
    format!(
        "{} tui {args}; echo $? > {}; stty -a > {}",
        env!("CARGO_BIN_EXE_distlab"),
        tmux.dir.join("status").display(),
        tmux.dir.join("stty.txt").display()
    )
}

/// After the TUI exited: it exited 0, the pane left the alternate screen,
/// and the terminal is back in canonical mode with echo.
fn assert_restored(tmux: &Tmux) {
    let start = Instant::now();
    while !tmux.dir.join("stty.txt").exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "the TUI did not exit:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let status = std::fs::read_to_string(tmux.dir.join("status")).unwrap();
    assert_eq!(status.trim(), "0", "exit status");
    assert_eq!(tmux.cmd(&["display-message", "-p", "#{alternate_on}"]).trim(), "0", "alternate screen left");
    assert!(!tmux.screen().contains("Nodes"), "the TUI is gone from the screen:\n{}", tmux.screen());
    let mode = std::fs::read_to_string(tmux.dir.join("stty.txt")).unwrap();
    assert!(mode.contains(" icanon") && !mode.contains("-icanon"), "canonical mode is back: {mode}");
    assert!(mode.contains(" echo ") && !mode.contains("-echo "), "echo is back: {mode}");
}

/// Open, step, jump, crash a node, see it, quit: the terminal is restored.
#[test]
fn the_tui_in_a_real_terminal() {
    let Some(tmux) = Tmux::new("tui") else { return };
    tmux.start("primary-replica/async-crash", 100, 30);
    tmux.wait_for("async-crash-loses-writes");
    tmux.wait_for("step 0");
    tmux.keys(&["Right", "l"]);
    tmux.wait_for("step 2 ");
    tmux.keys(&["Left"]);
    tmux.wait_for("step 1 of 2 seen");
    // To the note that asks the student to wait (the note at 0ms is
    // already behind), then the scripted crash.
    tmux.keys(&["n"]);
    tmux.wait_for("The primary crashes now");
    tmux.keys(&["l"]);
    tmux.wait_for("n1 ✗ down");
    // Crash n2 by hand: select it, press c.
    tmux.keys(&["j", "c"]);
    tmux.wait_for("n2 ✗ down");
    let screen = tmux.wait_for("n2 crashes (your intervention)");
    assert!(screen.contains("1 intervention"), "{screen}");
    // The help overlay opens and closes.
    tmux.keys(&["?"]);
    tmux.wait_for("Keys");
    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
    assert_restored(&tmux);
}

/// Ctrl-C quits too, while playing, and also restores the terminal.
#[test]
fn ctrl_c_quits_and_restores() {
    let Some(tmux) = Tmux::new("tui-ctrl-c") else { return };
    tmux.start("quorum/strict-quorum --seed 3", 80, 24);
    tmux.wait_for("seed 3");
    tmux.keys(&["Space"]);
    tmux.wait_for("playing");
    tmux.keys(&["C-c"]);
    assert_restored(&tmux);
}

/// Regression (issue 13): Esc then ← arrives as `Esc Esc [ D` (Option+←
/// sends the same on some terminals); the decoder read it as Esc, `[`,
/// `D`, and `D` duplicated the selected message. Now it changes nothing;
/// a `D` typed on purpose still duplicates (so the test can tell).
#[test]
fn an_escape_sequence_never_intervenes() {
    let Some(tmux) = Tmux::new("tui-escape") else { return };
    tmux.start("primary-replica/async-crash", 100, 30);
    tmux.wait_for("step 0");
    tmux.keys(&["l", "l", "l", "l", "l", "l"]);
    tmux.wait_for("step 6 ");
    // Select the network pane, where `D` duplicates the selected message.
    tmux.keys(&["Tab"]);
    tmux.cmd(&["send-keys", "-t", "0", "-H", "1b", "1b", "5b", "44"]);
    tmux.cmd(&["send-keys", "-t", "0", "-H", "1b", "1b", "5b", "31", "3b", "33", "44"]);
    // Esc then d / D typed fast: decoded as Alt+d, Alt+D.
    tmux.cmd(&["send-keys", "-t", "0", "-H", "1b", "64"]);
    tmux.cmd(&["send-keys", "-t", "0", "-H", "1b", "44"]);
    tmux.keys(&["l"]);
    let screen = tmux.wait_for("step 7 ");
    assert!(!screen.contains("intervention"), "an escape sequence intervened:\n{screen}");
    tmux.keys(&["D"]);
    tmux.wait_for("1 intervention");
    tmux.keys(&["q"]);
    assert_restored(&tmux);
}

/// From a check failure to its cause (issue 13): at the end of async-crash,
/// Tab to the checks, select the broken check, Enter: the run goes back
/// to the step where it broke and says why, and lists the events that
/// caused it; choosing one goes to its step.
#[test]
fn a_check_failure_jumps_to_its_cause() {
    let Some(tmux) = Tmux::new("tui-cause") else { return };
    tmux.start("primary-replica/async-crash", 100, 30);
    tmux.wait_for("step 0");
    tmux.keys(&["g"]);
    tmux.wait_for("Go to a time");
    tmux.keys(&["2s", "Enter"]);
    tmux.wait_for("acked-writes-durable");
    tmux.keys(&["Tab", "Tab", "Tab", "Down", "Enter"]);
    tmux.wait_for("step 339: where acked-writes-durable broke");
    // The whole reason is open over the screen; Esc closes it, and the
    // space-time diagram shows what happened there.
    tmux.wait_for("Checks at step 339");
    // Its causes are listed: ↓ three times chooses the third (the crash
    // that lost the write), Enter goes there; Enter on the check lists
    // them again, and Esc closes the list.
    tmux.wait_for("Causes — ↑↓ choose");
    tmux.wait_for("n2 became primary in epoch 1 without k1=75");
    tmux.keys(&["Down", "Down", "Down", "Enter"]);
    tmux.wait_for("step 329: cause 3 of 5 of acked-writes-durable — n1 crashed");
    tmux.wait_for("n1 ✗ down");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Checks at step 329");
    tmux.keys(&["Escape"]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    tmux.keys(&["m"]);
    tmux.wait_for("Space-time diagram");
    tmux.keys(&["q"]);
    assert_restored(&tmux);
}

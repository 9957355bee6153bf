//! Rewind latency of the TUI at 100 000 events into a run.
//!
//! `cargo bench --bench tui_rewind` (release profile). Plays a
//! primary–replica run (crash and restart included) at full trace level to
//! step 100 000, then measures:
//! - a step back on the tape alone (restore the nearest snapshot, replay,
//!   keep the views before the step), over many consecutive steps back and
//!   over random jumps back;
//! - a step back as the student feels it: `App::update` with the key,
//!   including recomputing what the screen shows (views, messages in
//!   flight, every check and metric) and drawing an 80×24 frame;
//! - a step and a frame of the space-time diagram (which reads the whole
//!   trace so far);
//! - `g #STEP` to a seen step, key to frame;
//! - `v` from the start: how long one slice keeps the keys waiting (the
//!   search runs in slices between frames), and the whole search.
//!
//! It also counts the heap (a counting global allocator): what the app
//! holds at step 100 000 (the tape's snapshots, step records and the
//! trace), what one snapshot adds, and the peak.
//!
//! Reads the wall clock, as benchmarks do; nothing in the simulator does.

use distlab::tui::app::{App, Msg};
use distlab::tui::keys::Action;
use distlab::tui::tape::SNAPSHOT_EVERY;
use distlab::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, counting the bytes live and the most ever live.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let live =
                    LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

const SCENARIO: &str = r#"
[scenario]
name = "bench-tui-rewind"
protocol = "primary-replica"
seed = 1
duration = "40s"
[cluster]
nodes = 3
[protocol]
mode = "semi-sync"
reads = "primary"
[network]
latency = "2ms"
distribution = "uniform"
spread = "1ms"
[[clients]]
name = "app"
processes = 4
ops = 1000000
interval = "1ms"
read_fraction = 0.5
keys = 16
[[timeline]]
at = "5s"
crash = "n1"
[[timeline]]
at = "6s"
restart = "n1"
"#;

const TARGET: u64 = 100_000;

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    let p99 = v[(v.len() * 99).div_ceil(100) - 1];
    format!("mean {:.3} ms, p99 {:.3} ms, max {:.3} ms", ms(mean), ms(p99), ms(*v.last().unwrap()))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Resident memory of this process in MiB (Linux), for the snapshot cost.
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let scenario =
        distlab::scenario::load_str(&distlab::protocols::registry(), "bench-tui-rewind.toml", SCENARIO)
            .expect("the scenario is valid");
    let heap_before = LIVE.load(Ordering::Relaxed);
    let mut app =
        App::new(scenario, SCENARIO.into(), "bench-tui-rewind.toml".into(), None, Theme { color: true });
    let t0 = Instant::now();
    app.tape.seek(TARGET);
    let forward = t0.elapsed();
    assert_eq!(app.tape.step(), TARGET, "the run reaches {TARGET} events");
    println!(
        "forward to step {TARGET} at full trace: {:.2} s ({:.0} steps/s); {} snapshots kept (every {SNAPSHOT_EVERY} steps near the current one); RSS {}",
        forward.as_secs_f64(),
        TARGET as f64 / forward.as_secs_f64(),
        app.tape.snapshot_count(),
        rss_mib().map_or("?".into(), |m| format!("{m:.0} MiB")),
    );
    let held = LIVE.load(Ordering::Relaxed) - heap_before;
    // (A snapshot first gives back memory the nodes it shares hold but do
    // not use: the one taken and dropped here does that, so the next one
    // is measured by what it holds.)
    drop(app.tape.snapshot());
    let live = LIVE.load(Ordering::Relaxed);
    let snapshot = app.tape.snapshot();
    let one = LIVE.load(Ordering::Relaxed) - live;
    drop(snapshot);
    let trace = app.tape.driver().trace().events();
    let trace_bytes: usize =
        trace.iter().map(|e| std::mem::size_of_val(e) + e.text.capacity() + e.label.capacity()).sum();
    println!(
        "heap held at step {TARGET}: {:.1} MiB (of it the trace's {} events ~{:.1} MiB, the step records {:.1} MiB); a snapshot here {:.2} MiB; peak heap {:.1} MiB",
        mib(held),
        trace.len(),
        mib(trace_bytes),
        mib(std::mem::size_of_val(app.tape.records())),
        mib(one),
        mib(PEAK.load(Ordering::Relaxed)),
    );
    // What the tape adds to the run: the same run alone (traced, no tape)
    // at the same step. Snapshots share with the run and with each other
    // what did not change since (nodes and the checker behind `Arc`s, the
    // primary-replica logs in shared chunks), so what they cost is what
    // changed between them, not a copy of the state each.
    let live = LIVE.load(Ordering::Relaxed);
    let mut alone = app.lesson.scenario.protocol.build(
        &app.lesson.scenario,
        distlab::protocols::RunOptions {
            seed: Some(app.lesson.seed),
            trace: distlab::sim::TraceLevel::Full,
            ..Default::default()
        },
    );
    while alone.stats().events < TARGET && alone.step().is_some() {}
    let run = LIVE.load(Ordering::Relaxed) - live;
    drop(alone);
    println!(
        "  of it the run alone (no tape) {:.1} MiB; the tape's {} snapshots, step records and views {:.1} MiB",
        mib(run),
        app.tape.snapshot_count(),
        mib(held.saturating_sub(run)),
    );

    // Consecutive steps back on the tape: every replay length from the
    // longest (just past a snapshot) down.
    let mut backs = Vec::new();
    for _ in 0..2 * SNAPSHOT_EVERY {
        let t = Instant::now();
        assert!(app.tape.back());
        backs.push(t.elapsed());
    }
    println!("tape step back, {} consecutive: {}", backs.len(), stats(backs));

    // Random jumps back within the last 20 000 steps (deterministic
    // sequence), then forward again to the same step.
    let mut jumps = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let to = TARGET - 1 - x % 20_000;
        app.tape.seek(TARGET);
        let t = Instant::now();
        app.tape.seek(to);
        jumps.push(t.elapsed());
    }
    println!("tape jump back to a random step: {}", stats(jumps));

    // As the student feels it: the key, the model update and a frame.
    app.tape.seek(TARGET);
    app.update(Msg::Action(Action::StepForward));
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let (mut keys, mut updates, mut frames) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..SNAPSHOT_EVERY {
        let t = Instant::now();
        app.update(Msg::Action(Action::StepBack));
        let u = t.elapsed();
        term.draw(|f| distlab::tui::ui::view(&app, f)).unwrap();
        keys.push(t.elapsed());
        updates.push(u);
        frames.push(t.elapsed() - u);
    }
    println!("step back key at step ~{TARGET}, {} times:", keys.len());
    println!("  model update (tape + views, messages, checks): {}", stats(updates));
    println!("  drawing an 80x24 frame: {}", stats(frames));
    println!("  together: {}", stats(keys));

    // The space-time diagram at step ~100 000: a step and a frame.
    app.update(Msg::Action(Action::ShowSequence));
    let mut diagram = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        app.update(Msg::Action(Action::StepForward));
        term.draw(|f| distlab::tui::ui::view(&app, f)).unwrap();
        diagram.push(t.elapsed());
    }
    println!("step + 80x24 frame of the space-time diagram at step ~{TARGET}: {}", stats(diagram));
    app.update(Msg::Action(Action::ShowCluster));

    // `g #STEP` to a random seen step: the prompt's Enter to the frame.
    let mut gotos = Vec::new();
    for _ in 0..100 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let to = 1 + x % TARGET;
        app.update(Msg::Action(Action::GotoTime));
        for c in format!("#{to}").chars() {
            app.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
        }
        let t = Instant::now();
        app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        term.draw(|f| distlab::tui::ui::view(&app, f)).unwrap();
        gotos.push(t.elapsed());
        assert_eq!(app.tape.step(), to);
    }
    println!("g #STEP to a seen step, Enter to frame: {}", stats(gotos));

    // `v` from the start: no check breaks in this run (semi-sync, reads
    // at the primary), so the search goes to the end — the longest `v`.
    // Slices keep keys waiting at most one slice each. (Under async,
    // `acked-on-a-replica` broke at step 7 and `v` measured nothing.)
    app.update(Msg::Action(Action::GotoStart));
    let t = Instant::now();
    let mut slices = Vec::new();
    let s = Instant::now();
    app.update(Msg::Action(Action::NextViolation));
    slices.push(s.elapsed());
    while app.searching() {
        let s = Instant::now();
        app.update(Msg::Tick);
        slices.push(s.elapsed());
    }
    println!(
        "v from step 0: landed at step {} in {:.0} ms over {} slices; a slice (keys wait at most this): {}",
        app.tape.step(),
        ms(t.elapsed()),
        slices.len(),
        stats(slices)
    );
}

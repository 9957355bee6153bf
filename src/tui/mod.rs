//! The student's terminal UI: `distlab tui FILE [--seed N]`.
//!
//! A lesson opens at step 0 and the student moves through it one event at a
//! time, forward and back, or plays it; intervenes (crash, restart, pause a
//! node, partition it away, heal; drop, duplicate or deliver next a message
//! in flight); and saves the result as a scenario file that replays it.
//!
//! The parts, each testable on its own:
//! - [`tape`]: the run with a way back — snapshots every few hundred steps,
//!   rewind by restore and replay, interventions kept and replayed, forks;
//! - [`app`]: the model — the tape plus selection, overlays, filters, play
//!   state — changed only by `update(Msg)`;
//! - [`ui`]: drawing, a pure function of the model, one file per pane;
//! - [`keys`]: the one key table behind the handler, the help and the footer;
//! - [`save`]: the run as a scenario file;
//! - [`theme`]: colours, or none under `NO_COLOR`.
//!
//! The protocol is never named here: nodes are drawn from the generic
//! [`crate::nodes::NodeView`] every protocol fills, messages from the
//! driver's in-flight list and the trace, checks from the report — so a
//! protocol added later shows up without a change to this module.
//!
//! The terminal: `ratatui::try_init` enters raw mode and the alternate
//! screen and installs a panic hook that restores the terminal; the loop
//! restores it on every way out. While paused the loop blocks on input (no
//! CPU used); while playing it waits for input with a timeout of one frame.
//! It draws only after something changed, into ratatui's double buffer, so
//! only changed cells reach the terminal (no flicker).

pub mod app;
pub mod keys;
pub mod save;
pub mod tape;
pub mod theme;
pub mod ui;

pub use app::{App, Msg};
pub use tape::Tape;

use keys::EscapeFilter;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use std::io::IsTerminal as _;
use std::time::Instant;

/// Runs the UI on the terminal until the student quits.
pub fn run(mut app: App) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("`distlab tui` needs a terminal (use `distlab run` for a report)");
    }
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            anyhow::bail!("cannot take over the terminal: {e}");
        }
    };
    let result = event_loop(&mut terminal, &mut app);
    ratatui::restore();
    Ok(result?)
}

fn event_loop(terminal: &mut DefaultTerminal, app: &mut App) -> std::io::Result<()> {
    let mut last_frame = Instant::now();
    let mut dirty = true;
    // Escape sequences split by the decoder (see `EscapeFilter`): whether
    // the next key was already waiting when the last one was handled.
    let mut filter = EscapeFilter::default();
    let mut in_burst = false;
    loop {
        if dirty {
            terminal.draw(|f| ui::view(app, f))?;
            dirty = false;
        }
        if app.quit {
            return Ok(());
        }
        let was_playing = app.playing;
        let ev = if app.searching() {
            // A search runs in slices between frames; a key stops it.
            if event::poll(std::time::Duration::ZERO)? { Some(event::read()?) } else { None }
        } else if app.playing {
            let (frame, _) = app.tick();
            let wait = frame.saturating_sub(last_frame.elapsed());
            if event::poll(wait)? { Some(event::read()?) } else { None }
        } else {
            // Paused: sleep until the student does something.
            Some(event::read()?)
        };
        let was_key = matches!(ev, Some(Event::Key(_)));
        match ev {
            None => {
                app.update(Msg::Tick);
                last_frame = Instant::now();
                dirty = true;
            }
            Some(Event::Key(k)) if k.kind == KeyEventKind::Press => {
                if let Some(k) = filter.accept(k, in_burst) {
                    app.update(Msg::Key(k));
                }
                if app.playing && !was_playing {
                    last_frame = Instant::now();
                }
                dirty = true;
            }
            Some(Event::Resize(..)) => {
                app.update(Msg::Resize);
                dirty = true;
            }
            Some(_) => {}
        }
        in_burst = was_key && event::poll(std::time::Duration::ZERO)?;
    }
}

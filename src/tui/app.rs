//! The app model: everything the screen shows, changed only by
//! [`App::update`].
//!
//! Elm style: a key or a clock tick becomes a [`Msg`], `update` changes the
//! model (moving the [`Tape`], changing the selection, opening an overlay)
//! and refreshes [`Derived`] — the node views, messages in flight and check
//! verdicts of the current step — so that drawing ([`super::ui::view`]) is a
//! pure function of the model and never asks the simulation anything
//! costly. Tests drive `update` and inspect the model, or render it into a
//! test backend.

use super::keys::{Action, action_for};
use super::tape::Tape;
use super::theme::Theme;
use crate::check::history::CompletedOp;
use crate::check::{ExpectationResult, Report};
use crate::nodes::NodeId;
use crate::protocols::RunOptions;
use crate::scenario::Scenario;
use crate::sim::network::EndpointId;
use crate::sim::{
    Cause, Driver, Fault, InFlight, NodeStatus, NodeSummary, SimTime, StepRecord, TraceEvent, TraceKind,
    TraceLevel,
};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// The lesson being played: what the screen names and what `w` rewrites.
pub struct Lesson {
    pub scenario: Scenario,
    /// The file as written; a save writes it back with the interventions.
    pub source: String,
    pub path: PathBuf,
    pub seed: u64,
    /// Endpoint names: the nodes, then every client process.
    pub endpoints: Vec<String>,
}

impl Lesson {
    pub fn nodes(&self) -> usize {
        self.scenario.cluster.len()
    }
    /// An endpoint's name (`n1`, `writer.0`).
    pub fn name(&self, endpoint: u32) -> &str {
        self.endpoints.get(endpoint as usize).map_or("?", String::as_str)
    }
}

/// The pane that arrow keys and Enter act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Nodes,
    Network,
    /// The space-time diagram (its own view).
    Sequence,
    /// The client history (its own view).
    History,
    Log,
    Checks,
    Narrative,
}

impl Focus {
    /// The panes Tab visits: only those on the screen (the diagram and
    /// the history have no node or message to select).
    pub fn order(center: Center) -> &'static [Focus] {
        match center {
            Center::Cluster => &[Focus::Nodes, Focus::Network, Focus::Log, Focus::Checks, Focus::Narrative],
            Center::Sequence => &[Focus::Sequence, Focus::Log, Focus::Checks, Focus::Narrative],
            Center::History => &[Focus::History, Focus::Log, Focus::Checks, Focus::Narrative],
            Center::Logs => &[Focus::Log, Focus::Checks, Focus::Narrative],
        }
    }
    fn shift(self, center: Center, by: isize) -> Focus {
        let order = Self::order(center);
        let i = order.iter().position(|f| *f == self).unwrap_or(0) as isize;
        order[(i + by).rem_euclid(order.len() as isize) as usize]
    }
}

/// What the upper half of the screen shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Center {
    /// Node panels and the network.
    Cluster,
    /// The space-time diagram.
    Sequence,
    /// Client operations over time.
    History,
    /// The nodes' replicated logs aligned by index (log protocols).
    Logs,
}

/// A search for the next step at which a check breaks (`v`).
#[derive(Clone, Debug)]
struct Search {
    /// Where it started.
    start: u64,
    /// The checks already broken there (only a new one stops the search).
    held: BTreeSet<&'static str>,
    /// Steps to take before judging the checks again.
    chunk: u64,
    /// Only this check stops the search (a jump to where it broke).
    only: Option<&'static str>,
    /// Whether the last chunk replayed steps already seen (many times
    /// faster than new ones: its pace says nothing of theirs).
    replayed: bool,
}

impl Search {
    const FIRST_CHUNK: u64 = 64;
    const MAX_CHUNK: u64 = 16_384;
    /// The smallest a slow chunk shrinks to (a report per chunk costs
    /// too).
    const SLOW_CHUNK: u64 = 1024;
}

/// How long one slice of a search may take before the screen is drawn
/// again and keys are read (so a key stops it): within one frame at
/// 60 Hz, with the frame's own drawing.
const SEARCH_SLICE: Duration = Duration::from_millis(8);

/// The names of the checks broken now.
fn broken_checks(d: &dyn Driver) -> BTreeSet<&'static str> {
    d.report().checks.iter().filter(|v| !v.holds).map(|v| v.name).collect()
}

/// A window over the screen.
#[derive(Clone, Debug, PartialEq)]
pub enum Overlay {
    Help,
    /// What every symbol on the screen means (`?` twice).
    Legend,
    /// Everything about the selected node, message, event, or the whole
    /// narrative, depending on the focus.
    Details,
    Prompt(Prompt),
}

/// The evidence of a broken check, kept while the student walks through
/// its causes (stepping to a cause goes back to before the violation,
/// where the check still holds and the report names no cause).
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    pub check: &'static str,
    pub detail: String,
    /// Where it broke, when the check recorded it.
    pub broke: Option<u64>,
    pub causes: Vec<Cause>,
    /// The cause selected in the overlay (`None`: none yet).
    pub selected: Option<usize>,
}

impl Evidence {
    fn of(v: &crate::sim::Verdict, broke: Option<u64>) -> Self {
        Evidence {
            check: v.name,
            detail: v.detail.clone(),
            broke: v.first_violation.map(|at| at.step).or(broke),
            causes: v.causes.clone(),
            selected: None,
        }
    }
}

/// A one-line question.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PromptKind {
    GotoTime,
    Save,
    /// Confirm an intervention that forks the run: stepped back, a new
    /// intervention discards the run's old future (and the interventions
    /// in it). `y`/Enter does it, `n`/Esc does not.
    Fork {
        fault: Fault,
        after: u64,
        discards: usize,
    },
}

impl PromptKind {
    pub fn question(&self) -> String {
        match self {
            PromptKind::GotoTime => "Go to a time (600ms, 1.5s) or a step (#120):".into(),
            PromptKind::Save => "Save this run as a scenario file:".into(),
            PromptKind::Fork { after, discards, .. } => {
                let lost = match discards {
                    0 => String::new(),
                    1 => " and 1 intervention".into(),
                    n => format!(" and {n} interventions"),
                };
                format!(
                    "This forks the run: what you saw after step {after}{lost} is discarded. Go on? (y/n)"
                )
            }
        }
    }
    /// A yes/no question rather than a line of text.
    pub fn is_confirmation(&self) -> bool {
        matches!(self, PromptKind::Fork { .. })
    }
}

/// Which kinds of event the log shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindFilter {
    All,
    Messages,
    Timers,
    Clients,
    Faults,
    Notes,
    Observations,
}

impl KindFilter {
    const ORDER: [KindFilter; 7] = [
        KindFilter::All,
        KindFilter::Messages,
        KindFilter::Timers,
        KindFilter::Clients,
        KindFilter::Faults,
        KindFilter::Notes,
        KindFilter::Observations,
    ];
    pub fn name(self) -> &'static str {
        match self {
            KindFilter::All => "all",
            KindFilter::Messages => "messages",
            KindFilter::Timers => "timers & disk",
            KindFilter::Clients => "clients",
            KindFilter::Faults => "faults",
            KindFilter::Notes => "notes",
            KindFilter::Observations => "observations",
        }
    }
    pub fn admits(self, k: TraceKind) -> bool {
        use TraceKind::*;
        match self {
            KindFilter::All => true,
            KindFilter::Messages => matches!(k, Send | Deliver | Drop | Duplicate | Hold),
            KindFilter::Timers => matches!(k, Timer | Persisted),
            KindFilter::Clients => matches!(k, Invoke | Complete | Retry),
            KindFilter::Faults => {
                matches!(
                    k,
                    Start | Crash | Restart | Pause | Resume | Partition | Heal | Clock | Link | Command
                )
            }
            KindFilter::Notes => k == Note,
            KindFilter::Observations => k == Observation,
        }
    }
}

/// The event log's selection and filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogState {
    /// Index of the selected trace event; `None` follows the newest.
    pub selected: Option<usize>,
    /// Only events at or from this endpoint.
    pub node: Option<u32>,
    pub kind: KindFilter,
}

impl LogState {
    pub fn admits(&self, e: &TraceEvent) -> bool {
        self.kind.admits(e.kind) && self.node.is_none_or(|n| e.node == n || e.peer == n)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Info,
    Good,
    Bad,
}

/// A one-line message about the last thing done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub tone: Tone,
}

/// A timeline note that has been reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSeen {
    pub at: SimTime,
    pub text: String,
    /// The scenario asked the student to stop and think here.
    pub wait: bool,
}

/// What the screen shows of the current step, computed once per move.
#[derive(Default)]
pub struct Derived {
    pub nodes: Vec<NodeSummary>,
    /// The views just before the current step (to highlight changes).
    pub before: Option<Vec<NodeSummary>>,
    pub in_flight: Vec<InFlight>,
    /// Checks and metrics as of now, generic metrics included.
    pub report: Report,
    /// The scenario's expectations judged against `report`, in file order.
    pub expectations: Vec<ExpectationResult>,
    /// Checks that broke on the last move.
    pub newly_broken: BTreeSet<&'static str>,
    pub at_end: bool,
    /// `reach[a][b]`: node `a` can send to node `b`.
    pub reach: Vec<Vec<bool>>,
    pub notes: Vec<NoteSeen>,
    /// The current step is a note that asks the student to stop.
    pub waiting: bool,
    /// Client operations (only while the history view is shown).
    pub operations: Vec<CompletedOp>,
    /// Why the client history so far is not linearizable, if it is not
    /// (only while the history view is shown; register operations only;
    /// a search cut short by [`HISTORY_LIN_BUDGET`] says nothing).
    pub not_linearizable: Option<crate::check::linearizability::Violation>,
    /// Message ids that are duplicates (by the network or by hand), with
    /// the id they copy.
    pub duplicates: BTreeMap<u64, u64>,
}

/// Play speeds, in steps per second.
pub const SPEEDS: &[u32] = &[1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 5_000, 20_000];

/// The states the history view's linearizability search may explore per
/// key, so that a step stays fast with the view open.
pub const HISTORY_LIN_BUDGET: u64 = 20_000;

/// How far back the network pane looks for duplicates and drops.
const RECENT_EVENTS: usize = 4_000;

/// A message to the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Key(KeyEvent),
    Action(Action),
    /// A frame of playing went by.
    Tick,
    /// The terminal changed size (the next frame redraws everything).
    Resize,
}

/// The app. See the module docs.
pub struct App {
    pub lesson: Lesson,
    pub tape: Tape,
    pub theme: Theme,
    pub playing: bool,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    pub focus: Focus,
    pub center: Center,
    pub overlay: Option<Overlay>,
    /// The selected node (index).
    pub node: usize,
    /// The selected message (index into `derived.in_flight`).
    pub message: usize,
    pub log: LogState,
    /// Narrative lines scrolled up from the newest.
    /// The narrative's first line shown, once the student scrolled it
    /// (`None`: follow — the description's start before the first note,
    /// then the newest note).
    pub narrative_top: Option<u16>,
    /// The narrative's top line and the largest top as last drawn (the
    /// view knows the pane's size; ↑/↓ move from what is on screen).
    pub narrative_drawn: std::cell::Cell<(u16, u16)>,
    /// The check selected in the checks pane (an index into the report's
    /// checks): Enter jumps to where it broke.
    pub checks_sel: usize,
    /// The broken check whose causes the checks overlay lists (Enter on a
    /// broken check keeps it; ↑/↓ in the overlay choose a cause, Enter
    /// goes to its step).
    pub evidence: Option<Evidence>,
    /// The client history: lanes scrolled up from the newest, and whether
    /// it shows the whole run rather than the recent past.
    pub history_scroll: u16,
    pub history_whole: bool,
    /// The space-time diagram: rows scrolled up from the newest.
    pub sequence_scroll: u32,
    pub status: Option<Status>,
    pub quit: bool,
    pub derived: Derived,
    /// Duplicates made by hand: the copy's id → (the original's id, the
    /// step of the intervention).
    manual_duplicates: BTreeMap<u64, (u64, u64)>,
    /// What `derived` was computed for: (step, frontier, interventions,
    /// center).
    derived_for: Option<(u64, u64, usize, Center, SimTime)>,
    /// The last move stopped exactly where a check broke (next violation).
    landed_on_violation: bool,
    /// A search for the next violation under way (`v`).
    search: Option<Search>,
    /// How long one slice of a search may take (8 ms; tests
    /// set zero: one chunk a slice).
    pub search_slice: Duration,
}

impl App {
    /// Opens a lesson at step 0.
    pub fn new(scenario: Scenario, source: String, path: PathBuf, seed: Option<u64>, theme: Theme) -> Self {
        let seed = seed.unwrap_or(scenario.seed);
        let options = RunOptions { seed: Some(seed), trace: TraceLevel::Full, ..RunOptions::default() };
        let driver = scenario.protocol.build(&scenario, options);
        let endpoints_n =
            scenario.cluster.len() + scenario.clients.iter().map(|c| c.processes as usize).sum::<usize>();
        let endpoints = (0..endpoints_n as u32).map(|e| driver.endpoint_name(EndpointId(e))).collect();
        let end = scenario.duration;
        let mut app = App {
            lesson: Lesson { scenario, source, path, seed, endpoints },
            tape: Tape::new(driver, end),
            theme,
            playing: false,
            speed: 3,
            focus: Focus::Nodes,
            center: Center::Cluster,
            overlay: None,
            node: 0,
            message: 0,
            log: LogState { selected: None, node: None, kind: KindFilter::All },
            narrative_top: None,
            narrative_drawn: std::cell::Cell::new((0, 0)),
            checks_sel: 0,
            evidence: None,
            history_scroll: 0,
            history_whole: false,
            sequence_scroll: 0,
            status: None,
            quit: false,
            derived: Derived::default(),
            manual_duplicates: BTreeMap::new(),
            derived_for: None,
            landed_on_violation: false,
            search: None,
            search_slice: SEARCH_SLICE,
        };
        app.refresh();
        app
    }

    /// Opens a lesson file (a path or a bundled lesson name) naming one of
    /// the bundled protocols.
    pub fn open(arg: &std::path::Path, seed: Option<u64>, theme: Theme) -> anyhow::Result<Self> {
        Self::open_with(&crate::protocols::registry(), arg, seed, theme)
    }

    /// Opens a lesson file naming a protocol of `registry`.
    pub fn open_with(
        registry: &crate::scenario::Registry,
        arg: &std::path::Path,
        seed: Option<u64>,
        theme: Theme,
    ) -> anyhow::Result<Self> {
        let path = crate::scenario::library::resolve(arg);
        let scenario = crate::scenario::library::load(registry, arg).map_err(|e| anyhow::anyhow!("{e}"))?;
        let source = std::fs::read_to_string(&path)?;
        Ok(App::new(scenario, source, path, seed, theme))
    }

    pub fn driver(&self) -> &dyn Driver {
        self.tape.driver()
    }

    /// How long a frame of playing lasts, and how many steps it takes.
    pub fn tick(&self) -> (Duration, u64) {
        let per_second = SPEEDS[self.speed] as u64;
        let frame_ms = (1000 / per_second).max(33);
        (Duration::from_millis(frame_ms), (per_second * frame_ms).div_ceil(1000).max(1))
    }

    pub fn update(&mut self, msg: Msg) {
        // In case the tape was moved directly (tests do).
        self.refresh();
        match msg {
            Msg::Key(key) => self.on_key(key),
            Msg::Action(a) => self.act(a),
            Msg::Tick if self.searching() => self.search_slice(self.search_slice),
            Msg::Tick => self.play_frame(),
            Msg::Resize => {}
        }
        self.refresh();
    }

    fn on_key(&mut self, key: KeyEvent) {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        if self.searching() {
            // Any key stops a search (and does nothing else).
            self.stop_search();
            return;
        }
        if let Some(Overlay::Prompt(p)) = &mut self.overlay {
            if p.kind.is_confirmation() {
                match key.code {
                    KeyCode::Enter | KeyCode::Char('y' | 'Y') => {
                        let p = p.clone();
                        self.submit(p);
                    }
                    KeyCode::Esc | KeyCode::Char('n' | 'N') => {
                        self.overlay = None;
                        self.say(Tone::Info, "nothing changed: the run was not forked");
                    }
                    _ => {}
                }
                return;
            }
            match key.code {
                KeyCode::Esc => self.overlay = None,
                KeyCode::Enter => {
                    let p = p.clone();
                    self.submit(p);
                }
                KeyCode::Backspace => {
                    p.text.pop();
                    p.error = None;
                }
                // Ctrl-U clears the field, as in a shell (never types `u`).
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    p.text.clear();
                    p.error = None;
                }
                KeyCode::Char(_) if key.modifiers.contains(KeyModifiers::CONTROL) => {}
                KeyCode::Char(c) => {
                    p.text.push(c);
                    p.error = None;
                }
                _ => {}
            }
            return;
        }
        if let Some(a) = action_for(&key) {
            self.act(a);
        }
    }

    /// Does what a student asked for.
    pub fn act(&mut self, action: Action) {
        if self.overlay.is_some() {
            // An overlay takes the keys that close it; the rest wait.
            if self.overlay == Some(Overlay::Details) && self.focus == Focus::Checks && self.cause_key(action)
            {
                return;
            }
            match action {
                Action::Help if self.overlay == Some(Overlay::Help) => self.overlay = Some(Overlay::Legend),
                Action::Close | Action::Help | Action::Details => self.overlay = None,
                Action::Quit => self.quit = true,
                _ => {}
            }
            return;
        }
        self.status = None;
        match action {
            Action::StepForward => {
                self.playing = false;
                if self.tape.forward().is_none() {
                    self.say(Tone::Info, "the end of the scenario");
                }
            }
            Action::StepBack => {
                self.playing = false;
                if !self.tape.back() {
                    self.say(Tone::Info, "already at the start");
                }
            }
            Action::TogglePlay => {
                self.playing = !self.playing && !self.tape.at_end();
            }
            Action::Faster => self.speed = (self.speed + 1).min(SPEEDS.len() - 1),
            Action::Slower => self.speed = self.speed.saturating_sub(1),
            Action::NextNote => self.jump("note", |d, rec| {
                // A timeline note, or a protocol's own ("becomes primary
                // in epoch 1") among the step's events.
                rec.kind == TraceKind::Note
                    || d.trace()
                        .events()
                        .iter()
                        .rev()
                        .take_while(|e| e.step == rec.step)
                        .any(|e| e.kind == TraceKind::Note)
            }),
            Action::NextFault => {
                let mut seen = self.driver().applied_faults().len();
                self.jump("fault", move |d, _| {
                    let applied = d.applied_faults();
                    let grew = applied.len() > seen;
                    seen = applied.len();
                    grew && !matches!(applied.last().map(|f| &f.fault), Some(Fault::Note { .. }))
                })
            }
            Action::NextViolation => self.next_violation(),
            Action::GotoTime => self.ask(PromptKind::GotoTime, String::new()),
            Action::GotoStart => {
                self.playing = false;
                self.tape.seek(0);
            }
            Action::FocusNext => self.focus = self.focus.shift(self.center, 1),
            Action::FocusPrev => self.focus = self.focus.shift(self.center, -1),
            Action::Up => self.select(-1),
            Action::Down => self.select(1),
            Action::PageUp | Action::PageDown => {
                let by = if action == Action::PageUp { -10 } else { 10 };
                match self.focus {
                    Focus::Sequence | Focus::History | Focus::Checks => self.select(by),
                    _ => self.log_move(by),
                }
            }
            Action::Details if self.focus == Focus::Checks => self.jump_to_cause(),
            Action::Details => self.overlay = Some(Overlay::Details),
            Action::FilterNode => {
                let n = self.lesson.nodes() as u32;
                self.log.node = match self.log.node {
                    None if n > 0 => Some(0),
                    Some(i) if i + 1 < n => Some(i + 1),
                    _ => None,
                };
                self.log.selected = None;
            }
            Action::FilterKind => {
                let i = KindFilter::ORDER.iter().position(|k| *k == self.log.kind).unwrap_or(0);
                self.log.kind = KindFilter::ORDER[(i + 1) % KindFilter::ORDER.len()];
                self.log.selected = None;
            }
            Action::ShowCluster => self.show(Center::Cluster),
            Action::ShowSequence => {
                self.show(if self.center == Center::Sequence { Center::Cluster } else { Center::Sequence })
            }
            Action::ShowHistory => {
                self.show(if self.center == Center::History { Center::Cluster } else { Center::History })
            }
            Action::Crash | Action::Restart | Action::PauseResume | Action::Isolate | Action::Heal => {
                if !Focus::order(self.center).contains(&Focus::Nodes) {
                    self.say(Tone::Bad, "no node is on the screen: press 1 for the nodes, then choose one");
                } else if let Some(f) = self.node_fault(action) {
                    self.intervene(f);
                }
            }
            Action::DropMessage | Action::DuplicateMessage | Action::DeliverNext
                if !Focus::order(self.center).contains(&Focus::Network) =>
            {
                self.say(Tone::Bad, "no message is on the screen: press 1 for the network, then choose one")
            }
            Action::DropMessage | Action::DuplicateMessage | Action::DeliverNext => {
                match self.derived.in_flight.get(self.message) {
                    None => self.say(Tone::Bad, "no message is in flight (select one in the network pane)"),
                    Some(m) => {
                        let id = m.id;
                        self.intervene(match action {
                            Action::DropMessage => Fault::DropMessage(id),
                            Action::DuplicateMessage => Fault::DuplicateMessage(id),
                            _ => Fault::DeliverNext(id),
                        })
                    }
                }
            }
            Action::Save => {
                let stem =
                    self.lesson.path.file_stem().map_or("run".into(), |s| s.to_string_lossy().to_string());
                self.ask(PromptKind::Save, format!("{stem}-my-run.toml"))
            }
            Action::ShowLogs if !super::ui::has_logs(self) => {
                self.say(Tone::Info, "this protocol keeps no replicated log to align (try primary-replica)")
            }
            Action::ShowLogs => {
                self.show(if self.center == Center::Logs { Center::Cluster } else { Center::Logs })
            }
            Action::ZoomHistory => {
                if self.center == Center::History {
                    self.history_whole = !self.history_whole;
                } else {
                    self.say(Tone::Info, "z zooms the client history: press 3 to show it");
                }
            }
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::Close => {}
            Action::Quit => self.quit = true,
        }
    }

    /// Shows `center` in the upper half; the focus leaves a pane that is
    /// no longer on the screen.
    fn show(&mut self, center: Center) {
        self.center = center;
        if center == Center::History {
            self.focus = Focus::History;
        } else if center == Center::Sequence {
            self.focus = Focus::Sequence;
        } else if !Focus::order(center).contains(&self.focus) {
            self.focus = Focus::Log;
        }
    }

    fn say(&mut self, tone: Tone, text: impl Into<String>) {
        self.status = Some(Status { text: text.into(), tone });
    }

    fn ask(&mut self, kind: PromptKind, text: String) {
        self.playing = false;
        self.overlay = Some(Overlay::Prompt(Prompt { kind, text, error: None }));
    }

    fn submit(&mut self, p: Prompt) {
        let result = match &p.kind {
            PromptKind::GotoTime => self.goto(&p.text),
            PromptKind::Save => self.save(&p.text),
            PromptKind::Fork { fault, .. } => {
                self.overlay = None;
                self.perform(fault.clone());
                return;
            }
        };
        match result {
            Ok(()) => self.overlay = None,
            Err(e) => self.overlay = Some(Overlay::Prompt(Prompt { error: Some(e), ..p })),
        }
    }

    /// Goes to `#step` or to the last step at or before a time.
    fn goto(&mut self, text: &str) -> Result<(), String> {
        let t = text.trim();
        if let Some(n) = t.strip_prefix('#').or_else(|| t.strip_prefix("step ")) {
            let step: u64 = n.trim().parse().map_err(|_| format!("`{n}` is not a step number"))?;
            self.tape.seek(step);
            if self.tape.step() < step {
                self.say(Tone::Info, format!("the scenario ends at step {}", self.tape.step()));
            }
            return Ok(());
        }
        let at = SimTime(crate::time::parse_duration(t)?.0);
        if at > self.tape.end() {
            return Err(format!("the scenario ends at {}", self.tape.end()));
        }
        let known = self.tape.records().last().is_some_and(|r| r.time > at);
        if known || at < self.driver().now() {
            let step = self.tape.last_step_at(at);
            self.tape.seek(step);
        } else {
            self.tape.forward_to_time(at);
        }
        Ok(())
    }

    /// Steps until `stop` says so; if nothing after this step is what
    /// the student looks for, stays put and says so.
    fn jump(&mut self, what: &str, mut stop: impl FnMut(&dyn Driver, &StepRecord) -> bool) {
        self.playing = false;
        let from = self.tape.step();
        let mut found = false;
        self.tape.forward_while(u64::MAX, |d, rec| {
            found = stop(d, rec);
            found
        });
        if !found {
            self.tape.seek(from);
            self.say(Tone::Info, format!("no {what} after step {from}: stayed here"));
        }
    }

    /// Starts looking for the first step at which a check that held
    /// breaks. The search runs a slice at a time ([`App::search_slice`],
    /// from [`Msg::Tick`]), so the screen shows its progress and any key
    /// stops it.
    fn next_violation(&mut self) {
        self.playing = false;
        let start = self.tape.step();
        let held = broken_checks(self.driver());
        self.search = Some(Search { start, held, chunk: Search::FIRST_CHUNK, only: None, replayed: false });
        self.search_slice(self.search_slice);
    }

    /// Whether a check is judged on the state at the end of the run (see
    /// [`crate::sim::monitor::CheckInfo::at_end`]): before the end, its
    /// breaking is no violation.
    pub fn judged_at_end(&self, check: &str) -> bool {
        self.lesson.scenario.protocol.checks().iter().any(|c| c.name == check && c.at_end)
    }

    /// Whether a search for the next violation is under way.
    pub fn searching(&self) -> bool {
        self.search.is_some()
    }

    /// Stops the search where it got to.
    fn stop_search(&mut self) {
        if let Some(s) = self.search.take() {
            self.say(
                Tone::Info,
                format!(
                    "stopped: no check broke between step {} and step {} (g #{} goes back)",
                    s.start,
                    self.tape.step(),
                    s.start
                ),
            );
        }
    }

    /// Searches for about `budget` of wall-clock time. Checks are judged
    /// after chunks of steps that grow while nothing breaks and shrink
    /// when one takes more than half the budget; the slice ends once the
    /// budget is spent or the next chunk, at the last one's pace, would
    /// overrun it. (Which steps the checks are judged after never changes
    /// where the search lands.) In a chunk
    /// where one broke, the search goes straight to the step the check
    /// recorded (its first violation), or else runs the chunk again in
    /// small pieces and then step by step.
    fn search_slice(&mut self, budget: Duration) {
        let started = std::time::Instant::now();
        while let Some(search) = &mut self.search {
            let from = self.tape.step();
            let seen = self.tape.frontier();
            // A chunk stops where the steps seen end, and the first one
            // past them starts small again.
            if from >= seen && search.replayed {
                search.chunk = search.chunk.min(Search::SLOW_CHUNK);
            }
            search.replayed = from < seen;
            let chunk = if from < seen { search.chunk.min(seen - from) } else { search.chunk };
            let chunk_started = std::time::Instant::now();
            if self.tape.skip(chunk) == 0 {
                let start = search.start;
                self.search = None;
                self.tape.seek(start);
                self.say(Tone::Info, format!("no check breaks after step {start}: stayed here"));
                return;
            }
            let report = self.tape.driver().report();
            let at_end: BTreeSet<&str> =
                self.lesson.scenario.protocol.checks().iter().filter(|c| c.at_end).map(|c| c.name).collect();
            let search = self.search.as_mut().expect("searching");
            let newly: Vec<_> = report
                .checks
                .iter()
                .filter(|v| {
                    !v.holds
                        && !search.held.contains(v.name)
                        && search.only.is_none_or(|n| n == v.name)
                        && (search.only.is_some() || !at_end.contains(v.name))
                })
                .collect();
            // Whether the next chunk, at this one's pace, still fits in
            // the slice (so a slice ends near its budget, not a chunk past it).
            let mut next_fits = true;
            if newly.is_empty() {
                let took = chunk_started.elapsed();
                let slow = !budget.is_zero() && took > budget / 2;
                search.chunk = if slow {
                    // Halve, but not below the smallest (nor grow a small one).
                    (chunk / 2).max(Search::SLOW_CHUNK.min(chunk))
                } else {
                    (chunk * 2).min(Search::MAX_CHUNK)
                };
                let next = took.mul_f64(search.chunk as f64 / chunk as f64);
                next_fits = started.elapsed() + next <= budget;
            } else if let Some(step) =
                newly.iter().filter_map(|v| v.first_violation).map(|at| at.step).filter(|&s| s > from).min()
            {
                self.tape.seek(step);
                self.search = None;
                self.status = None;
                self.landed_on_violation = true;
                return;
            } else if chunk > 1 {
                // No step recorded: narrow down, from where this chunk began.
                search.chunk = (chunk / 16).max(1);
                self.tape.seek(from);
            } else {
                // Landed, step by step: say where (a jump to one check's
                // cause says it here; `v` lets the refresh name what broke).
                let only = search.only.and_then(|n| report.verdict(n).map(|v| (n, v.detail.clone())));
                if let Some(v) = search.only.and_then(|n| report.verdict(n)) {
                    // The causes as the student saw them when asking (later
                    // in the run, they may name more); where it broke, found.
                    let step = self.tape.step();
                    match self.evidence.as_mut().filter(|e| e.check == v.name) {
                        Some(e) => e.broke = e.broke.or(Some(step)),
                        None => self.evidence = Some(Evidence::of(v, Some(step))),
                    }
                }
                self.search = None;
                self.status = None;
                if let Some((name, detail)) = only {
                    let step = self.tape.step();
                    self.say(Tone::Bad, format!("step {step}: where {name} broke — {detail}"));
                    self.overlay = Some(Overlay::Details);
                }
                self.landed_on_violation = true;
                return;
            }
            if started.elapsed() >= budget || !next_fits {
                let step = self.tape.step();
                self.say(
                    Tone::Info,
                    format!("looking for a check that breaks: at step {step}… (any key stops)"),
                );
                return;
            }
        }
    }

    /// In the checks overlay, with a broken check's causes listed: ↑/↓
    /// choose a cause, Enter goes to its step (the overlay closes; Enter
    /// on the check opens the list again). Whether the key was taken.
    fn cause_key(&mut self, action: Action) -> bool {
        // Only the causes the overlay shows: those of the selected check.
        let shown = self.derived.report.checks.get(self.checks_sel).map(|v| v.name);
        let Some(ev) = self.evidence.as_mut().filter(|e| !e.causes.is_empty() && Some(e.check) == shown)
        else {
            return false;
        };
        let last = ev.causes.len() - 1;
        match action {
            Action::Down => ev.selected = Some(ev.selected.map_or(0, |i| (i + 1).min(last))),
            Action::Up => ev.selected = Some(ev.selected.map_or(0, |i| i.saturating_sub(1))),
            Action::Details => {
                let Some(i) = ev.selected else { return false };
                let (check, cause, n) = (ev.check, ev.causes[i].clone(), ev.causes.len());
                self.playing = false;
                self.overlay = None;
                self.tape.seek(cause.step);
                let here = if self.tape.step() < cause.step { " (the scenario ends before it)" } else { "" };
                self.say(
                    Tone::Bad,
                    format!(
                        "step {}: cause {} of {n} of {check} — {}{here} (Enter: the causes again)",
                        cause.step,
                        i + 1,
                        cause.what
                    ),
                );
            }
            _ => return false,
        }
        true
    }

    /// Goes to the step at which the selected check broke (the step the
    /// check recorded), or shows every reason when it holds or recorded
    /// none. The broken check's causes are kept for the overlay; after
    /// stepping to one (where the check may still hold), Enter on the
    /// check shows them again.
    fn jump_to_cause(&mut self) {
        let Some(v) = self.derived.report.checks.get(self.checks_sel).cloned() else {
            // A metric the lesson expects: every check and expectation.
            self.overlay = Some(Overlay::Details);
            return;
        };
        let step = self.tape.step();
        let kept = self.evidence.as_ref().filter(|e| e.check == v.name);
        if kept.is_some_and(|e| v.holds || e.causes.iter().any(|c| c.step == step)) {
            // At one of its causes (before the check broke, or after):
            // the list again, without moving.
            self.overlay = Some(Overlay::Details);
            return;
        }
        if !v.holds {
            let selected = kept.and_then(|e| e.selected);
            self.evidence = Some(Evidence { selected, ..Evidence::of(&v, None) });
        }
        match (v.holds, v.first_violation) {
            (false, Some(at)) => {
                self.playing = false;
                self.tape.seek(at.step);
                self.say(Tone::Bad, format!("step {}: where {} broke — {}", at.step, v.name, v.detail));
                // The whole reason, which the pane clips at 80x24.
                self.overlay = Some(Overlay::Details);
            }
            (false, None) => {
                // The check recorded no step (it judges a final state):
                // search from the start for the step where it first
                // reads broken, as `v` does.
                self.playing = false;
                self.tape.seek(0);
                let held = broken_checks(self.driver());
                self.search = Some(Search {
                    start: 0,
                    held,
                    chunk: Search::FIRST_CHUNK,
                    only: Some(v.name),
                    replayed: false,
                });
                self.search_slice(self.search_slice);
            }
            _ => self.overlay = Some(Overlay::Details),
        }
    }

    /// The fault a node action asks for, or why it makes no sense now.
    fn node_fault(&mut self, action: Action) -> Option<Fault> {
        let n = NodeId(self.node as u32);
        let Some(summary) = self.derived.nodes.get(self.node) else {
            self.say(Tone::Bad, "no node is selected");
            return None;
        };
        let name = summary.name.clone();
        let status = summary.status;
        let fault = match (action, status) {
            (Action::Crash, NodeStatus::Down) => Err(format!("{name} is already down")),
            (Action::Crash, _) => Ok(Fault::Crash(n)),
            (Action::Restart, NodeStatus::Down) => Ok(Fault::Restart(n)),
            (Action::Restart, _) => Err(format!("{name} is running; crash it first (c)")),
            (Action::PauseResume, NodeStatus::Up) => Ok(Fault::Pause(n)),
            (Action::PauseResume, NodeStatus::Paused) => Ok(Fault::Resume(n)),
            (Action::PauseResume, NodeStatus::Down) => Err(format!("{name} is down; restart it first (r)")),
            (Action::Isolate, _) => {
                let all = self.lesson.nodes() as u32;
                if all < 2 {
                    Err("there is no other node to partition it from".into())
                } else {
                    let others = (0..all).filter(|&i| i != n.0).map(EndpointId).collect();
                    Ok(Fault::Partition(vec![vec![EndpointId(n.0)], others]))
                }
            }
            (Action::Heal, _) => {
                if self.derived.reach.iter().all(|row| row.iter().all(|r| *r)) {
                    Err("every node reaches every other: nothing to heal".into())
                } else {
                    Ok(Fault::Heal)
                }
            }
            _ => Err("not a node action".into()),
        };
        fault.map_err(|e| self.say(Tone::Bad, e)).ok()
    }

    /// Applies an intervention as the next step — after asking, when it
    /// would fork the run (discard what was seen after this step).
    fn intervene(&mut self, fault: Fault) {
        let after = self.tape.step();
        if after < self.tape.frontier() {
            let discards = self.tape.interventions().range(after + 1..).count();
            self.ask(PromptKind::Fork { fault, after, discards }, String::new());
            return;
        }
        self.perform(fault);
    }

    /// Applies an intervention as the next step.
    fn perform(&mut self, fault: Fault) {
        let forking = self.tape.step() < self.tape.frontier();
        // The run changes: the causes listed belong to the old one.
        self.evidence = None;
        let ids_before: BTreeSet<u64> = self.derived.in_flight.iter().map(|m| m.id).collect();
        let words = self.driver().describe_fault(&fault);
        match self.tape.intervene(fault.clone()) {
            Ok(rec) => {
                if let Fault::DuplicateMessage(original) = fault {
                    for m in self.driver().in_flight() {
                        if !ids_before.contains(&m.id) {
                            self.manual_duplicates.insert(m.id, (original, rec.step));
                        }
                    }
                }
                let fork = if forking { " — the run is forked: its old future is discarded" } else { "" };
                self.say(Tone::Info, format!("step {}: {words} (your intervention){fork}", rec.step));
            }
            Err(e) => self.say(Tone::Bad, format!("cannot: {e}")),
        }
    }

    /// Writes the run as a scenario file (see [`super::save`]).
    fn save(&mut self, text: &str) -> Result<(), String> {
        let path = PathBuf::from(text.trim());
        if text.trim().is_empty() {
            return Err("give a file name".into());
        }
        let out = super::save::scenario_with_interventions(&self.lesson, &self.tape)
            .map_err(|e| format!("cannot save: {e}"))?;
        std::fs::write(&path, out).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let n = self.tape.interventions().len();
        self.say(
            Tone::Good,
            format!(
                "saved {} ({}): replay it with `distlab tui {}`",
                path.display(),
                crate::util::count(n, "intervention"),
                path.display()
            ),
        );
        Ok(())
    }

    /// Moves the selection of the focused pane.
    fn select(&mut self, by: isize) {
        match self.focus {
            Focus::Nodes => {
                let n = self.lesson.nodes().max(1) as isize;
                self.node = (self.node as isize + by).rem_euclid(n) as usize;
            }
            Focus::Network => {
                let n = self.derived.in_flight.len();
                self.message = (self.message as isize + by).clamp(0, n.saturating_sub(1) as isize) as usize;
            }
            Focus::Log => self.log_move(by),
            Focus::Checks => {
                // The checks, then the metrics the lesson expects.
                let metrics = self
                    .lesson
                    .scenario
                    .expectations
                    .iter()
                    .filter(|e| matches!(e, crate::check::Expectation::Metric { .. }))
                    .count();
                let n = (self.derived.report.checks.len() + metrics).max(1) as isize;
                self.checks_sel = (self.checks_sel as isize + by).clamp(0, n - 1) as usize;
            }
            Focus::Sequence => {
                let rows = super::ui::sequence_rows(self).len() as i64;
                self.sequence_scroll =
                    (self.sequence_scroll as i64 - by as i64).clamp(0, (rows - 1).max(0)) as u32;
            }
            Focus::History => {
                let lanes = self.derived.operations.iter().map(|o| o.process).max().map_or(0, |p| p + 1);
                self.history_scroll = (self.history_scroll as isize - by).clamp(0, lanes as isize) as u16;
            }
            Focus::Narrative => {
                let (drawn, max_top) = self.narrative_drawn.get();
                let from = self.narrative_top.unwrap_or(drawn);
                let top = (from as isize + by).clamp(0, max_top as isize) as u16;
                // Scrolled back to the bottom: follow the newest again.
                self.narrative_top =
                    if top == max_top && by > 0 && !self.derived.notes.is_empty() { None } else { Some(top) };
            }
        }
    }

    /// Moves the log selection by `by` shown events (negative: older).
    /// Moving past the newest follows the newest again.
    fn log_move(&mut self, by: isize) {
        let events = self.tape.driver().trace().events();
        let mut at = self.log.selected.unwrap_or(events.len());
        let mut left = by.unsigned_abs();
        if by < 0 {
            let mut found = self.log.selected;
            while left > 0 && at > 0 {
                at -= 1;
                if self.log.admits(&events[at]) {
                    found = Some(at);
                    left -= 1;
                }
            }
            self.log.selected = found;
        } else if let Some(mut i) = self.log.selected {
            while left > 0 {
                i += 1;
                if i >= events.len() {
                    self.log.selected = None;
                    return;
                }
                if self.log.admits(&events[i]) {
                    self.log.selected = Some(i);
                    left -= 1;
                }
            }
        }
    }

    /// One frame of playing.
    fn play_frame(&mut self) {
        if !self.playing || self.overlay.is_some() {
            return;
        }
        let (_, steps) = self.tick();
        let waits = |d: &dyn Driver, rec: &StepRecord| {
            rec.kind == TraceKind::Note
                && matches!(
                    d.applied_faults().last().map(|f| &f.fault),
                    Some(Fault::Note { pause: true, .. })
                )
        };
        self.tape.forward_while(steps, waits);
        if self.tape.current().is_some_and(|rec| waits(self.tape.driver(), rec)) {
            self.playing = false;
            self.say(Tone::Info, "paused at a note: read it, then press space to go on");
        } else if self.tape.at_end() {
            self.playing = false;
            self.say(Tone::Info, "the end of the scenario");
        }
    }

    /// Recomputes what the screen shows, if the run moved.
    fn refresh(&mut self) {
        // The views before this step first: getting them may replay the
        // step, which leaves the clock at it. Then whether the run is
        // over, which moves the clock on to the scenario's end, where
        // `distlab run` judges it (see `Tape::at_end`).
        let before = self.tape.views_before().map(<[NodeSummary]>::to_vec);
        let at_end = self.tape.at_end();
        let key = (
            self.tape.step(),
            self.tape.frontier(),
            self.tape.interventions().len(),
            self.center,
            self.driver().now(),
        );
        if self.derived_for == Some(key) {
            return;
        }
        let viewed_before = self.derived_for.map(|k| k.0);
        if viewed_before != Some(self.tape.step()) {
            // A step moved the run: the diagram follows the newest again.
            self.sequence_scroll = 0;
        }
        let landed = std::mem::take(&mut self.landed_on_violation);
        self.derived_for = Some(key);
        let d = self.tape.driver();
        let report = report_now(d, &self.lesson.scenario);
        let was_broken: BTreeSet<&'static str> =
            self.derived.report.checks.iter().filter(|v| !v.holds).map(|v| v.name).collect();
        let newly_broken: BTreeSet<&'static str> = report
            .checks
            .iter()
            .filter(|v| !v.holds && !was_broken.contains(v.name))
            .filter(|v| at_end || !self.judged_at_end(v.name))
            .map(|v| v.name)
            .collect();
        let nodes_n = self.lesson.nodes() as u32;
        let reach = (0..nodes_n)
            .map(|a| (0..nodes_n).map(|b| d.reachable(EndpointId(a), EndpointId(b))).collect())
            .collect();
        let notes = d
            .applied_faults()
            .iter()
            .filter_map(|f| match &f.fault {
                Fault::Note { text, pause } => Some(NoteSeen { at: f.at, text: text.clone(), wait: *pause }),
                _ => None,
            })
            .collect();
        let waiting = self.tape.current().is_some_and(|r| r.kind == TraceKind::Note)
            && matches!(d.applied_faults().last().map(|f| &f.fault), Some(Fault::Note { pause: true, .. }));
        let step = self.tape.step();
        let mut duplicates: BTreeMap<u64, u64> = self
            .manual_duplicates
            .iter()
            .filter(|(_, (orig, at))| {
                *at <= step && self.tape.interventions().get(at) == Some(&Fault::DuplicateMessage(*orig))
            })
            .map(|(dup, (orig, _))| (*dup, *orig))
            .collect();
        let events = d.trace().events();
        for e in events.iter().rev().take(RECENT_EVENTS) {
            if e.kind == TraceKind::Duplicate {
                // The network's copies: the event names the copy; its
                // text names the original.
                let orig = e.text.rsplit(' ').next().and_then(|s| s.parse().ok()).unwrap_or(0);
                duplicates.insert(e.msg, orig);
            }
        }
        let derived = Derived {
            nodes: d.nodes(),
            before,
            in_flight: d.in_flight(),
            expectations: self.lesson.scenario.expectations.iter().map(|e| e.evaluate(&report)).collect(),
            report,
            newly_broken,
            at_end,
            reach,
            notes,
            waiting,
            operations: if self.center == Center::History { d.history().operations() } else { Vec::new() },
            not_linearizable: if self.center == Center::History {
                crate::check::linearizability::check_history_within(d.history(), HISTORY_LIN_BUDGET).violation
            } else {
                None
            },
            duplicates,
        };
        self.derived = derived;
        // (A jump to a check's cause has said where it broke already.)
        let said = landed && self.status.is_some();
        if let Some(name) = self.derived.newly_broken.iter().next().filter(|_| !said) {
            let verdict = self.derived.report.verdict(name);
            let detail = verdict.map(|v| v.detail.clone()).unwrap_or_default();
            // After a jump, "newly" means since the last view, not at this
            // step: name the step the check itself recorded, if it did.
            let broke = match (verdict.and_then(|v| v.first_violation), viewed_before) {
                (Some(at), _) => format!("✗ {name} broke at step {}: {detail}", at.step),
                (None, Some(b)) if landed || b + 1 == step => {
                    format!("✗ {name} broke at step {step}: {detail}")
                }
                (None, Some(b)) if b < step => {
                    format!("✗ {name} broke between step {b} and step {step}: {detail}")
                }
                (None, _) => format!("✗ {name} broke by step {step}: {detail}"),
            };
            match &mut self.status {
                Some(s) => {
                    s.text = format!("{} · {broke}", s.text);
                    s.tone = Tone::Bad;
                }
                None => self.say(Tone::Bad, broke),
            }
        }
        if self.log.selected.is_some_and(|i| i >= self.tape.driver().trace().events().len()) {
            self.log.selected = None;
        }
        self.message = self.message.min(self.derived.in_flight.len().saturating_sub(1));
    }
}

/// Generic metrics computed from the whole client history: costly at every
/// step of a long run, so only computed when the lesson expects one.
const HISTORY_METRICS: &[&str] =
    &["latency_mean_ms", "latency_p99_ms", "ryw_anomalies", "monotonic_read_anomalies"];

/// The report as of now: the protocol's checks and metrics plus the
/// generic counters, and the generic history metrics when the lesson's
/// expectations name one (then exactly `distlab run`'s full report).
fn report_now(d: &dyn Driver, scenario: &Scenario) -> Report {
    // A run that models load reports its load metrics from the history too.
    let wanted = d.models_load()
        || scenario.expectations.iter().any(|e| {
        matches!(e, crate::check::Expectation::Metric { name, .. } if HISTORY_METRICS.contains(&name.as_str()))
    });
    if wanted {
        return crate::check::report::full_report(d);
    }
    crate::check::report::counters_report(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without history metrics in its expectations, a lesson's report in
    /// the TUI has the same checks and, for every metric it has, the same
    /// value as `distlab run`'s full report; with one, it is that report.
    #[test]
    fn report_now_agrees_with_the_full_report() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for rel in ["primary-replica/async-crash.toml", "quorum/local-quorum.toml"] {
            let mut s = crate::scenario::load(&crate::protocols::registry(), &dir.join(rel)).unwrap();
            let mut d = s.protocol.build(&s, RunOptions::default());
            d.run_until(s.duration);
            let full = crate::check::report::full_report(d.as_ref());
            let now = report_now(d.as_ref(), &s);
            assert_eq!(now.checks, full.checks);
            for (k, v) in &now.metrics {
                assert_eq!(full.metrics.get(k), Some(v), "{k}");
            }
            s.expectations.push(crate::check::Expectation::Metric {
                name: "latency_p99_ms".into(),
                at_least: None,
                at_most: None,
            });
            assert_eq!(report_now(d.as_ref(), &s), full);
        }
    }
}

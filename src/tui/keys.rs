//! Keys: what a student can do, and which keys do it.
//!
//! One table, [`BINDINGS`], is the single source for the key handling, the
//! `?` help overlay and the footer, so the three never disagree. Keys follow
//! the usual terminal conventions: arrows or vi keys to move, space to
//! play, `?` for help, `Esc` to close, `q` or Ctrl-C to quit.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a student asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    // Time.
    StepForward,
    StepBack,
    TogglePlay,
    Faster,
    Slower,
    NextNote,
    NextFault,
    NextViolation,
    GotoTime,
    GotoStart,
    // Selection and views.
    FocusNext,
    FocusPrev,
    Up,
    Down,
    PageUp,
    PageDown,
    Details,
    FilterNode,
    FilterKind,
    ShowCluster,
    ShowSequence,
    ShowHistory,
    ShowLogs,
    ZoomHistory,
    // Interventions.
    Crash,
    Restart,
    PauseResume,
    Isolate,
    Heal,
    DropMessage,
    DuplicateMessage,
    DeliverNext,
    // The session.
    Save,
    Help,
    Close,
    Quit,
}

/// A key as the help shows it and the handler matches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
}

impl Key {
    fn matches(&self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        match (self, ev.code) {
            (Key::Char(c), KeyCode::Char(k)) => !ctrl && *c == k,
            (Key::Ctrl(c), KeyCode::Char(k)) => ctrl && c.eq_ignore_ascii_case(&k),
            (Key::Code(code), k) => *code == k && !ctrl,
            _ => false,
        }
    }

    /// How the help writes the key.
    pub fn label(&self) -> String {
        match self {
            Key::Char(' ') => "space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            Key::Code(KeyCode::Right) => "→".into(),
            Key::Code(KeyCode::Left) => "←".into(),
            Key::Code(KeyCode::Up) => "↑".into(),
            Key::Code(KeyCode::Down) => "↓".into(),
            Key::Code(KeyCode::PageUp) => "PgUp".into(),
            Key::Code(KeyCode::PageDown) => "PgDn".into(),
            Key::Code(KeyCode::Home) => "Home".into(),
            Key::Code(KeyCode::Tab) => "Tab".into(),
            Key::Code(KeyCode::BackTab) => "Shift-Tab".into(),
            Key::Code(KeyCode::Enter) => "Enter".into(),
            Key::Code(KeyCode::Esc) => "Esc".into(),
            Key::Code(other) => format!("{other:?}"),
        }
    }
}

/// The groups the help overlay shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Time,
    View,
    Intervene,
    Session,
}

impl Group {
    pub const ALL: [Group; 4] = [Group::Time, Group::View, Group::Intervene, Group::Session];
    pub fn title(self) -> &'static str {
        match self {
            Group::Time => "Time",
            Group::View => "Look around",
            Group::Intervene => "Intervene (selection)",
            Group::Session => "Session",
        }
    }
}

/// One binding: keys, what they do, and where it is listed.
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub group: Group,
    pub help: &'static str,
    /// The footer's short word for it, if the footer lists it.
    pub footer: Option<&'static str>,
}

use Key::{Char as C, Code};

/// Every binding, in the order the help lists them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[Code(KeyCode::Right), C('l')],
        action: Action::StepForward,
        group: Group::Time,
        help: "step forward",
        footer: Some("step"),
    },
    Binding {
        keys: &[Code(KeyCode::Left), C('h')],
        action: Action::StepBack,
        group: Group::Time,
        help: "step back (rewind)",
        footer: Some("back"),
    },
    Binding {
        keys: &[C(' ')],
        action: Action::TogglePlay,
        group: Group::Time,
        help: "play / pause",
        footer: Some("play"),
    },
    Binding {
        keys: &[C('+'), C('=')],
        action: Action::Faster,
        group: Group::Time,
        help: "faster",
        footer: None,
    },
    Binding { keys: &[C('-')], action: Action::Slower, group: Group::Time, help: "slower", footer: None },
    Binding {
        keys: &[C('n')],
        action: Action::NextNote,
        group: Group::Time,
        help: "next note",
        footer: Some("note"),
    },
    Binding {
        keys: &[C('f')],
        action: Action::NextFault,
        group: Group::Time,
        help: "next fault",
        footer: Some("fault"),
    },
    Binding {
        keys: &[C('v')],
        action: Action::NextViolation,
        group: Group::Time,
        help: "next check that breaks",
        footer: Some("violation"),
    },
    Binding {
        keys: &[C('g')],
        action: Action::GotoTime,
        group: Group::Time,
        help: "go to a time or #step",
        footer: None,
    },
    Binding {
        keys: &[Code(KeyCode::Home), C('0')],
        action: Action::GotoStart,
        group: Group::Time,
        help: "back to the start",
        footer: None,
    },
    Binding {
        keys: &[Code(KeyCode::Tab)],
        action: Action::FocusNext,
        group: Group::View,
        help: "next pane",
        footer: Some("pane"),
    },
    Binding {
        keys: &[Code(KeyCode::BackTab)],
        action: Action::FocusPrev,
        group: Group::View,
        help: "previous pane",
        footer: None,
    },
    Binding {
        keys: &[Code(KeyCode::Up), C('k')],
        action: Action::Up,
        group: Group::View,
        help: "select previous",
        footer: None,
    },
    Binding {
        keys: &[Code(KeyCode::Down), C('j')],
        action: Action::Down,
        group: Group::View,
        help: "select next",
        footer: None,
    },
    Binding {
        keys: &[Code(KeyCode::PageUp)],
        action: Action::PageUp,
        group: Group::View,
        help: "log: page up",
        footer: None,
    },
    Binding {
        keys: &[Code(KeyCode::PageDown)],
        action: Action::PageDown,
        group: Group::View,
        help: "log: page down",
        footer: None,
    },
    Binding {
        keys: &[Code(KeyCode::Enter)],
        action: Action::Details,
        group: Group::View,
        help: "details of the selection",
        footer: None,
    },
    Binding {
        keys: &[C('o')],
        action: Action::FilterNode,
        group: Group::View,
        help: "log: only one node",
        footer: None,
    },
    Binding {
        keys: &[C('t')],
        action: Action::FilterKind,
        group: Group::View,
        help: "log: only one kind",
        footer: None,
    },
    Binding {
        keys: &[C('1')],
        action: Action::ShowCluster,
        group: Group::View,
        help: "nodes and network",
        footer: None,
    },
    Binding {
        keys: &[C('2'), C('m')],
        action: Action::ShowSequence,
        group: Group::View,
        help: "space-time diagram",
        footer: Some("seq"),
    },
    Binding {
        keys: &[C('3'), C('y')],
        action: Action::ShowHistory,
        group: Group::View,
        help: "client history",
        footer: Some("hist"),
    },
    Binding {
        keys: &[C('4')],
        action: Action::ShowLogs,
        group: Group::View,
        help: "logs aligned by index",
        footer: None,
    },
    Binding {
        keys: &[C('z')],
        action: Action::ZoomHistory,
        group: Group::View,
        help: "history: zoom to whole run",
        footer: None,
    },
    Binding {
        keys: &[C('c')],
        action: Action::Crash,
        group: Group::Intervene,
        help: "crash node",
        footer: None,
    },
    Binding {
        keys: &[C('r')],
        action: Action::Restart,
        group: Group::Intervene,
        help: "restart node",
        footer: None,
    },
    Binding {
        keys: &[C('p')],
        action: Action::PauseResume,
        group: Group::Intervene,
        help: "pause / resume node",
        footer: None,
    },
    Binding {
        keys: &[C('x')],
        action: Action::Isolate,
        group: Group::Intervene,
        help: "partition node away",
        footer: None,
    },
    Binding {
        keys: &[C('H')],
        action: Action::Heal,
        group: Group::Intervene,
        help: "heal partitions",
        footer: None,
    },
    Binding {
        keys: &[C('d')],
        action: Action::DropMessage,
        group: Group::Intervene,
        help: "drop message",
        footer: None,
    },
    Binding {
        keys: &[C('D')],
        action: Action::DuplicateMessage,
        group: Group::Intervene,
        help: "duplicate message",
        footer: None,
    },
    Binding {
        keys: &[C('e')],
        action: Action::DeliverNext,
        group: Group::Intervene,
        help: "deliver message next",
        footer: None,
    },
    Binding {
        keys: &[C('w')],
        action: Action::Save,
        group: Group::Session,
        help: "save run as a scenario",
        footer: None,
    },
    Binding {
        keys: &[C('?')],
        action: Action::Help,
        group: Group::Session,
        help: "this help",
        footer: Some("help"),
    },
    Binding {
        keys: &[Code(KeyCode::Esc)],
        action: Action::Close,
        group: Group::Session,
        help: "close overlay",
        footer: None,
    },
    Binding {
        keys: &[C('q'), Key::Ctrl('c')],
        action: Action::Quit,
        group: Group::Session,
        help: "quit",
        footer: Some("quit"),
    },
];

/// The action a key asks for, if any.
///
/// An Alt/Option chord is what a terminal sends for Esc pressed quickly
/// before a key (`Esc q` decodes as Alt+q), and for word moves (Option+←
/// is `Esc b`, or ← with Alt): it acts as the plain key, except that it
/// never intervenes — an intervention takes the plain key.
pub fn action_for(ev: &KeyEvent) -> Option<Action> {
    // Shifted letters arrive as the capital with SHIFT set; BackTab too.
    let alt = ev.modifiers.intersects(KeyModifiers::ALT | KeyModifiers::META | KeyModifiers::SUPER);
    BINDINGS
        .iter()
        .find(|b| b.keys.iter().any(|k| k.matches(ev)))
        .filter(|b| !(alt && b.group == Group::Intervene))
        .map(|b| b.action)
}

/// Keeps the tail of a terminal escape sequence from being read as keys.
///
/// Terminals encode keys like ← as escape sequences (`Esc [ D`). When a
/// sequence arrives after another Esc — Esc pressed just before an arrow,
/// or Option/Alt+← on terminals that send `Esc Esc [ D` — the decoder sees
/// `Esc Esc`, reports Esc, and reads what is left as the keys `[` and `D`:
/// and `D` duplicates a message. A student never types `[` within a few
/// milliseconds of Esc, so the filter drops a `[` or `O` that arrives
/// *immediately* after an Esc, and the parameter and final bytes of the
/// sequence that arrive with it. Whether a key arrived immediately (in the
/// same burst of input as the one before) is the caller's to say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EscapeFilter {
    state: EscapeState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum EscapeState {
    #[default]
    Idle,
    /// An Esc was just read.
    AfterEsc,
    /// Inside the rest of a sequence (`[` or `O` read): parameters follow,
    /// then one final byte.
    InSequence,
}

impl EscapeFilter {
    /// `ev` if it is a key the student pressed; `None` if it is the tail of
    /// an escape sequence. `immediate`: it arrived together with the key
    /// before it (no pause a human could make).
    pub fn accept(&mut self, ev: KeyEvent, immediate: bool) -> Option<KeyEvent> {
        let state = if immediate { self.state } else { EscapeState::Idle };
        let plain = !ev.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        match (state, ev.code) {
            (EscapeState::AfterEsc, KeyCode::Char('[' | 'O')) if plain => {
                self.state = EscapeState::InSequence;
                None
            }
            (EscapeState::InSequence, KeyCode::Char(c)) if c.is_ascii_digit() || c == ';' || c == '?' => None,
            (EscapeState::InSequence, KeyCode::Char(c)) if ('@'..='~').contains(&c) => {
                self.state = EscapeState::Idle;
                None
            }
            (_, KeyCode::Esc) => {
                self.state = EscapeState::AfterEsc;
                Some(ev)
            }
            _ => {
                self.state = EscapeState::Idle;
                Some(ev)
            }
        }
    }
}

/// The keys of an action as the help and the footer write them
/// (`→/l`).
pub fn keys_label(b: &Binding) -> String {
    b.keys.iter().map(Key::label).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No key is bound twice, so the help never lists a key that does
    /// something else.
    #[test]
    fn every_key_is_bound_once() {
        let all: Vec<Key> = BINDINGS.iter().flat_map(|b| b.keys.iter().copied()).collect();
        for (i, k) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(k), "{k:?} is bound twice");
        }
    }

    /// The conventional keys do what a terminal user expects.
    #[test]
    fn conventional_keys() {
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        assert_eq!(action_for(&key(KeyCode::Right)), Some(Action::StepForward));
        assert_eq!(action_for(&key(KeyCode::Char('l'))), Some(Action::StepForward));
        assert_eq!(action_for(&key(KeyCode::Left)), Some(Action::StepBack));
        assert_eq!(action_for(&key(KeyCode::Char(' '))), Some(Action::TogglePlay));
        assert_eq!(action_for(&key(KeyCode::Char('?'))), Some(Action::Help));
        assert_eq!(action_for(&key(KeyCode::Esc)), Some(Action::Close));
        assert_eq!(action_for(&key(KeyCode::Char('q'))), Some(Action::Quit));
        assert_eq!(action_for(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(action_for(&KeyEvent::new(KeyCode::Char('H'), KeyModifiers::SHIFT)), Some(Action::Heal));
    }

    /// Regression (issue 13): Esc then ←, or Option+← sent as
    /// `Esc Esc [ D`, reached the app as Esc, `[`, `D` — and `D`
    /// duplicated the selected message. Only the Esc survives now; the
    /// same keys typed by a human (with pauses) still act.
    #[test]
    fn an_escape_sequence_after_esc_is_not_keys() {
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        let shifted = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::SHIFT);
        let burst = [key(KeyCode::Esc), key(KeyCode::Char('[')), shifted('D')];
        let mut f = EscapeFilter::default();
        let through: Vec<KeyEvent> =
            burst.iter().enumerate().filter_map(|(i, ev)| f.accept(*ev, i > 0)).collect();
        assert_eq!(through, vec![key(KeyCode::Esc)]);
        assert!(through.iter().all(|ev| action_for(ev) != Some(Action::DuplicateMessage)));
        // Esc Esc [ 1 ; 3 D (Alt+← on some terminals), then a real key.
        let mut f = EscapeFilter::default();
        let burst = [
            key(KeyCode::Esc),
            key(KeyCode::Char('[')),
            key(KeyCode::Char('1')),
            key(KeyCode::Char(';')),
            key(KeyCode::Char('3')),
            shifted('D'),
        ];
        let through: Vec<KeyEvent> =
            burst.iter().enumerate().filter_map(|(i, ev)| f.accept(*ev, i > 0)).collect();
        assert_eq!(through, vec![key(KeyCode::Esc)]);
        assert_eq!(f.accept(shifted('D'), false), Some(shifted('D')), "typed later, D is a key");
        // Typed by a human: Esc, a pause, then `[` and `D` are keys.
        let mut f = EscapeFilter::default();
        assert!(f.accept(key(KeyCode::Esc), false).is_some());
        assert!(f.accept(key(KeyCode::Char('[')), false).is_some());
        assert!(f.accept(shifted('D'), false).is_some());
        // Keys in a burst that is not an escape sequence pass (a paste).
        let mut f = EscapeFilter::default();
        assert!(f.accept(key(KeyCode::Char('l')), false).is_some());
        assert!(f.accept(key(KeyCode::Char('l')), true).is_some());
    }

    /// Alt/Option chords never intervene (`Esc d` typed fast decodes as
    /// Alt+d); otherwise they act as the plain key, so Esc then q, typed
    /// fast, still quits.
    #[test]
    fn alt_chords_never_intervene() {
        let alt = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT);
        for c in ['c', 'r', 'p', 'x', 'H', 'd', 'D', 'e'] {
            assert_eq!(action_for(&alt(c)), None, "{c}");
        }
        assert_eq!(action_for(&alt('b')), None, "Option+← on macOS: bound to nothing");
        assert_eq!(action_for(&alt('q')), Some(Action::Quit));
        assert_eq!(action_for(&KeyEvent::new(KeyCode::Left, KeyModifiers::ALT)), Some(Action::StepBack));
    }
}

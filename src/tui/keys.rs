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
        help: "message sequence",
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
pub fn action_for(ev: &KeyEvent) -> Option<Action> {
    // Shifted letters arrive as the capital with SHIFT set; BackTab too.
    BINDINGS.iter().find(|b| b.keys.iter().any(|k| k.matches(ev))).map(|b| b.action)
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
}

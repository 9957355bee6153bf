//! The one place colours and emphasis are chosen.
//!
//! With `NO_COLOR` set (<https://no-color.org>), no colour is used at all;
//! meaning is carried by modifiers (bold, reversed, underlined, dim) and by
//! the symbols the panes draw anyway (`✓ ✗ ?`), so nothing depends on
//! colour alone.

use ratatui::style::{Color, Modifier, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to anything non-empty.
    pub fn from_env() -> Self {
        Theme { color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color { Style::new().fg(c) } else { Style::new() }
    }

    pub fn plain(&self) -> Style {
        Style::new()
    }
    /// Secondary text: times, labels.
    pub fn dim(&self) -> Style {
        if self.color { Style::new().fg(Color::DarkGray) } else { Style::new().add_modifier(Modifier::DIM) }
    }
    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    /// Good news: a check holds, a node is up, an operation succeeded.
    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    /// Bad news: a check broke, a node is down, a message was dropped.
    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    /// Neither: paused, unknown outcome, duplicated.
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }
    /// What the last step changed.
    pub fn changed(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        }
    }
    /// What a broken check names as its cause (the violating operations
    /// in the client history).
    pub fn evidence(&self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }
    /// The selected row of the focused pane.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn border(&self, focused: bool) -> Style {
        match (focused, self.color) {
            (true, true) => Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            (true, false) => Style::new().add_modifier(Modifier::BOLD),
            (false, _) => self.dim(),
        }
    }
    /// Timeline markers and notes.
    pub fn note(&self) -> Style {
        self.fg(Color::Magenta)
    }
    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
}

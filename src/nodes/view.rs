//! Generic node views: how a protocol shows a node to the CLI and the TUI
//! without either knowing the protocol (design rule 4).

use serde::Serialize;

/// A node as titled sections of `(label, value)` rows, plus the few fields
/// every protocol has in some form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeView {
    /// The node's role right now: `primary`, `replica`, `coordinator`, ...
    pub role: String,
    /// Epoch / term / view number, where the protocol has one.
    pub epoch: Option<u64>,
    pub sections: Vec<Section>,
    /// A replicated log, for protocols that keep one (primary–replica):
    /// the TUI aligns the nodes' logs by index, RaftScope-style.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogView>,
}

/// The tail of a node's replicated log, for aligning logs across nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogView {
    /// The last index in the log (0: empty).
    pub last: u64,
    /// Entries up to here are committed.
    pub commit: u64,
    /// Entries up to here are on this node's disk.
    pub on_disk: u64,
    /// The last few entries, oldest first ([`LogView::TAIL`] at most).
    pub entries: Vec<LogCell>,
}

impl LogView {
    /// How many of the last entries a view carries.
    pub const TAIL: usize = 48;
}

/// One log entry as the aligned view shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogCell {
    pub index: u64,
    /// The epoch (term) of the leader that appended it.
    pub epoch: u64,
    /// What it holds, short: `k1=5`, `no-op`.
    pub label: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Section {
    pub title: String,
    pub rows: Vec<(String, String)>,
}

impl NodeView {
    pub fn new(role: impl Into<String>, epoch: Option<u64>) -> Self {
        NodeView { role: role.into(), epoch, sections: Vec::new(), log: None }
    }
    /// Adds a section and returns it for rows.
    pub fn section(&mut self, title: impl Into<String>) -> &mut Section {
        self.sections.push(Section { title: title.into(), rows: Vec::new() });
        self.sections.last_mut().expect("just pushed")
    }
}

impl Section {
    pub fn row(&mut self, label: impl Into<String>, value: impl ToString) -> &mut Self {
        self.rows.push((label.into(), value.to_string()));
        self
    }
}

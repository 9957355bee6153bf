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
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Section {
    pub title: String,
    pub rows: Vec<(String, String)>,
}

impl NodeView {
    pub fn new(role: impl Into<String>, epoch: Option<u64>) -> Self {
        NodeView { role: role.into(), epoch, sections: Vec::new() }
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

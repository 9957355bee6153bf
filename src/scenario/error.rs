//! Scenario errors that point at `file:line:column`, say what was expected,
//! and suggest the near miss.

use std::fmt;
use std::ops::Range;

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based; 0 when the error has no position (e.g. the file is missing).
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
    /// The offending source line and the caret range within it.
    snippet: Option<Box<(String, usize, usize)>>,
}

impl ScenarioError {
    /// An error at a byte span of `source`.
    pub fn at(file: &str, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let text = source[line_start..line_end].trim_end_matches('\r').to_string();
        let width = source[start..span.end.clamp(start, line_end.max(start))].chars().count().max(1);
        ScenarioError {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
            help: None,
            snippet: Some(Box::new((text, column, width))),
        }
    }

    /// An error about the file as a whole.
    pub fn whole(file: &str, message: impl Into<String>) -> Self {
        ScenarioError {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: message.into(),
            help: None,
            snippet: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean `x`?" when `word` is a near miss of a candidate,
    /// otherwise the `otherwise` help (typically the list of valid names).
    pub fn suggest<'a>(
        self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str>,
        otherwise: Option<String>,
    ) -> Self {
        match (did_you_mean(word, candidates), otherwise) {
            (Some(m), _) => self.with_help(format!("did you mean `{m}`?")),
            (None, Some(help)) => self.with_help(help),
            (None, None) => self,
        }
    }

    /// `file:line:column` (or just the file).
    pub fn location(&self) -> String {
        if self.line == 0 {
            self.file.clone()
        } else {
            format!("{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)?;
        if let Some(snippet) = &self.snippet {
            let (text, col, width) = &**snippet;
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            write!(f, "\n{pad} |\n{num} | {text}\n{pad} | {}{}", " ".repeat(col - 1), "^".repeat(*width))?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// The closest candidate to `word`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Turns a TOML / serde error into a positioned error with a suggestion
/// for unknown fields and unknown variants.
pub fn from_toml(file: &str, source: &str, err: &toml::de::Error) -> ScenarioError {
    let message = err.message().trim().to_string();
    let span = err.span().unwrap_or(0..0);
    let mut e = ScenarioError::at(file, source, span, message.clone());
    if let Some(help) = suggestion_for(&message) {
        e = e.with_help(help);
    } else if message.starts_with("invalid type: integer") && message.contains("expected a string") {
        e = e
            .with_help("durations are strings with a unit, e.g. \"5ms\"; names are strings too, e.g. \"n1\"");
    }
    e
}

/// Parses serde's "unknown field `x`, expected one of `a`, `b`" (and the
/// same for variants) into a "did you mean" help line.
fn suggestion_for(message: &str) -> Option<String> {
    let rest =
        message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("unknown variant `"))?;
    let (word, expected) = rest.split_once('`')?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    // Without a near miss the message already lists what was expected.
    did_you_mean(word, candidates.iter().copied()).map(|best| format!("did you mean `{best}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Line and column are 1-based and the caret sits under the span.
    #[test]
    fn positions_and_caret() {
        let src = "a = 1\nbb = 2\n";
        let e = ScenarioError::at("f.toml", src, 6..8, "bad");
        assert_eq!((e.line, e.column), (2, 1));
        assert_eq!(e.to_string(), "f.toml:2:1: bad\n  |\n2 | bb = 2\n  | ^^");
    }

    /// serde's unknown-field message becomes a did-you-mean.
    #[test]
    fn near_miss() {
        let s = suggestion_for("unknown field `repliation`, expected one of `mode`, `replication`").unwrap();
        assert_eq!(s, "did you mean `replication`?");
        assert_eq!(did_you_mean("asynk", ["async", "sync", "semi-sync"]), Some("async"));
        assert_eq!(did_you_mean("zzz", ["async"]), None);
    }
}

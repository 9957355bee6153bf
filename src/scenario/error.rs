//! Scenario errors that point at `file:line:column`, say what was expected,
//! and suggest the near miss.

use crate::util::{clip, escape, escape_char};
use std::fmt;
use std::ops::Range;

/// One problem in a scenario file.
///
/// Its text is safe to print: whatever the file held, the message, the
/// help and the snippet carry no control characters (they are shown as
/// escapes, [`crate::util::escape`]), a value echoed in backticks is
/// clipped to [`ECHO_CHARS`], and the snippet to a window of the line
/// around the caret, so a 10 MB line or an 80,000-character name is never
/// repeated whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based; 0 when the error has no position (e.g. the file is missing).
    pub line: usize,
    /// 1-based, in characters of the line as written.
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
    /// The offending source line (as shown) and the caret under it.
    snippet: Option<Box<Snippet>>,
}

/// A window of the offending line, escaped, and where the caret goes in it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Snippet {
    text: String,
    /// Characters of `text` before the caret.
    caret_at: usize,
    caret_width: usize,
}

/// A value echoed in a message (between backticks) is shown by at most
/// this many characters (names are at most 64, so a name shows whole).
pub const ECHO_CHARS: usize = 80;
/// A message or help line is at most this many characters.
pub const MESSAGE_CHARS: usize = 1_000;
/// The snippet shows at most this many characters of the line...
const SNIPPET_CHARS: usize = 120;
/// ...of which this many before the caret, when the line is longer.
const SNIPPET_BEFORE: usize = 40;
/// Words (and candidates) longer than this get no did-you-mean: no name
/// is that long, and comparing long strings costs their product.
pub const SUGGEST_CHARS: usize = 128;

/// `message` made safe to print: values in backticks clipped, control
/// characters escaped, the whole clipped.
fn printable(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MESSAGE_CHARS));
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        let part = if i % 2 == 1 { clip(part, ECHO_CHARS) } else { part.into() };
        out.push_str(&escape(&part));
        if out.len() > 4 * MESSAGE_CHARS {
            break;
        }
    }
    clip(&out, MESSAGE_CHARS).into_owned()
}

/// The snippet of `line` for a caret `width` characters wide after `before`
/// characters.
fn snippet(line: &str, before: usize, width: usize) -> Snippet {
    let total = line.chars().count();
    let start = if total <= SNIPPET_CHARS { 0 } else { before.saturating_sub(SNIPPET_BEFORE) };
    let mut text = String::new();
    if start > 0 {
        text.push('…');
    }
    let (mut caret_at, mut caret_width) = (None, 0);
    let mut shown = 0;
    for (i, c) in line.chars().enumerate().skip(start).take(SNIPPET_CHARS) {
        let visible = escape_char(c);
        if i == before {
            caret_at = Some(text.chars().count());
        }
        if (before..before + width).contains(&i) {
            caret_width += visible.chars().count();
        }
        text.push_str(&visible);
        shown = i + 1;
    }
    let caret_at = caret_at.unwrap_or_else(|| text.chars().count());
    if shown < total && shown > start {
        text.push('…');
    }
    Snippet { text, caret_at, caret_width: caret_width.max(1) }
}

impl ScenarioError {
    /// An error at a byte span of `source`.
    pub fn at(file: &str, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let mut start = span.start.min(source.len());
        while !source.is_char_boundary(start) {
            start -= 1;
        }
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let text = source[line_start..line_end].trim_end_matches('\r');
        let mut end = span.end.clamp(start, line_end.max(start));
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        let width = source[start..end].chars().count().max(1);
        ScenarioError {
            file: escape(file).into_owned(),
            line,
            column,
            message: printable(&message.into()),
            help: None,
            snippet: Some(Box::new(snippet(text, column - 1, width))),
        }
    }

    /// An error about the file as a whole.
    pub fn whole(file: &str, message: impl Into<String>) -> Self {
        ScenarioError {
            file: escape(file).into_owned(),
            line: 0,
            column: 0,
            message: printable(&message.into()),
            help: None,
            snippet: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(printable(&help.into()));
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
            let Snippet { text, caret_at, caret_width } = &**snippet;
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            write!(
                f,
                "\n{pad} |\n{num} | {text}\n{pad} | {}{}",
                " ".repeat(*caret_at),
                "^".repeat(*caret_width)
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// The closest candidate to `word`, if it is close enough to be a typo.
/// Words and candidates longer than [`SUGGEST_CHARS`] are not compared
/// (Jaro–Winkler costs the product of the two lengths).
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > 4 * SUGGEST_CHARS || word.chars().count() > SUGGEST_CHARS {
        return None;
    }
    candidates
        .into_iter()
        .filter(|c| c.len() <= 4 * SUGGEST_CHARS && c.chars().count() <= SUGGEST_CHARS)
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Turns a TOML / serde error into a positioned error with a suggestion
/// for unknown fields and unknown variants.
pub fn from_toml(file: &str, source: &str, err: &toml::de::Error) -> ScenarioError {
    let span = err.span().unwrap_or(0..0);
    let mut message = plain_words(err.message().trim());
    // TOML's date-times reach serde as a table: say what was written.
    let written = source.get(span.clone()).unwrap_or_default().trim_start();
    if message.ends_with(", found a table") && written.starts_with(|c: char| c.is_ascii_digit()) {
        message = message.replace(", found a table", ", found a date-time");
    }
    let mut e = ScenarioError::at(file, source, span, message.clone());
    if let Some(help) = suggestion_for(&message) {
        e = e.with_help(help);
    } else if message.starts_with("expected a string, found") && !message.contains("found the string") {
        e = e
            .with_help("durations are strings with a unit, e.g. \"5ms\"; names are strings too, e.g. \"n1\"");
    }
    e
}

/// serde's "invalid type: floating point `1.5`, expected u64" in the
/// words of the scenario format: "expected a whole number, found 1.5".
/// Other messages are kept.
fn plain_words(message: &str) -> String {
    let rest = message.strip_prefix("invalid type: ").or_else(|| message.strip_prefix("invalid value: "));
    let Some((found, expected)) = rest.and_then(|r| r.split_once(", expected ")) else {
        return message.to_string();
    };
    let expected = match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number (0 or more)",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a sequence" => "a list (`[...]`)",
        "a map" => "a table",
        e if e.starts_with("struct ") => "a table",
        e if e.starts_with("a borrowed string") => "a string",
        e => e,
    };
    let value = |s: &str| s.trim_start_matches('`').trim_end_matches('`').to_string();
    let found = if let Some(v) = found.strip_prefix("floating point ") {
        value(v)
    } else if let Some(v) = found.strip_prefix("integer ") {
        value(v)
    } else if let Some(v) = found.strip_prefix("boolean ") {
        value(v)
    } else if let Some(v) = found.strip_prefix("string ") {
        format!("the string {v}")
    } else {
        match found {
            "sequence" => "a list".to_string(),
            "map" => "a table".to_string(),
            other => other.to_string(),
        }
    };
    format!("expected {expected}, found {found}")
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

    /// serde's type names become the scenario format's words.
    #[test]
    fn no_serde_jargon() {
        assert_eq!(
            plain_words("invalid type: floating point `1.5`, expected u64"),
            "expected a whole number (0 or more), found 1.5"
        );
        assert_eq!(
            plain_words("invalid value: integer `-1`, expected u32"),
            "expected a whole number (0 or more), found -1"
        );
        assert_eq!(
            plain_words("invalid type: string \"three\", expected usize"),
            "expected a whole number (0 or more), found the string \"three\""
        );
        assert_eq!(plain_words("invalid type: sequence, expected f64"), "expected a number, found a list");
        assert_eq!(plain_words("invalid type: integer `3`, expected a string"), "expected a string, found 3");
        assert_eq!(plain_words("missing field `name`"), "missing field `name`");
    }

    /// serde's unknown-field message becomes a did-you-mean.
    #[test]
    fn near_miss() {
        let s = suggestion_for("unknown field `repliation`, expected one of `mode`, `replication`").unwrap();
        assert_eq!(s, "did you mean `replication`?");
        assert_eq!(did_you_mean("asynk", ["async", "sync", "semi-sync"]), Some("async"));
        assert_eq!(did_you_mean("zzz", ["async"]), None);
    }

    /// Regression (issue 11, item 16): an error on a 10 MB line showed the
    /// whole line. The snippet is now a window around the caret, marked
    /// `…` where it is cut, with the caret still under the mistake.
    #[test]
    fn a_huge_line_is_clipped_around_the_caret() {
        let src = format!("x = \"{}\" oops = 1\n", "a".repeat(10_000_000));
        let at = src.find("oops").unwrap();
        let e = ScenarioError::at("f.toml", &src, at..at + 4, "bad");
        assert_eq!((e.line, e.column), (1, 10_000_008));
        let shown = e.to_string();
        assert!(shown.len() < 400, "{} bytes", shown.len());
        let lines: Vec<&str> = shown.lines().collect();
        let caret = lines[3].chars().position(|c| c == '^').unwrap();
        let above: String = lines[2].chars().skip(caret).take(4).collect();
        assert_eq!(above, "oops", "{shown}");
        assert!(lines[2].starts_with("1 | …aaa"), "{shown}");
    }

    /// Regression (issue 11, item 19): control characters on the offending
    /// line, and in values echoed by the message and the help, reached the
    /// terminal raw. They are shown as escapes, and the caret moves with
    /// the wider text.
    #[test]
    fn control_characters_are_escaped_everywhere() {
        let src = "latenc\u{1b}]0;x\u{7}y = 1\n";
        let e = ScenarioError::at("f\u{1b}.toml", src, 6..7, "unknown field `\u{1b}[2J`")
            .with_help("did you mean `\u{9b}x`?");
        let shown = e.to_string();
        assert!(!shown.chars().any(|c| crate::util::is_unsafe_char(c) && c != '\n'), "{shown:?}");
        assert_eq!(
            shown,
            "f\\x1b.toml:1:7: unknown field `\\x1b[2J`\n  |\n1 | latenc\\x1b]0;x\\x07y = 1\n  |       ^^^^\n  = help: did you mean `\\u{9b}x`?"
        );
    }

    /// Regression (issue 11, item 16): a value echoed in backticks is
    /// clipped, so an 80,000-character name is not repeated whole.
    #[test]
    fn echoed_values_are_clipped() {
        let long = "n".repeat(80_000);
        let e = ScenarioError::whole("f.toml", format!("there is no node `{long}` here"));
        assert!(e.message.starts_with("there is no node `nnn"));
        assert!(e.message.ends_with("…` here"), "{}", e.message);
        assert!(e.message.chars().count() < ECHO_CHARS + 30);
        assert!(ScenarioError::whole("f", "x".repeat(50_000)).message.chars().count() <= MESSAGE_CHARS);
    }

    /// Regression (issue 11, item 16): did-you-mean compared an
    /// 80,000-character near miss character by character (6 s). Words past
    /// [`SUGGEST_CHARS`] are not compared; names up to it still are.
    #[test]
    fn did_you_mean_skips_words_no_name_could_be() {
        let name = "n".repeat(64);
        let near = format!("{name}x");
        assert_eq!(did_you_mean(&near, [name.as_str()]), Some(name.as_str()));
        let huge = "n".repeat(80_000);
        assert_eq!(did_you_mean(&huge, [name.as_str(), huge.as_str()]), None);
    }
}

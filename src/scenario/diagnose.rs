//! Every mistake of a file in one go (`distlab validate`), not only the
//! first: after an error, the part of the file it points at is set aside
//! — the `[[timeline]]`, `[[clients]]` or `[[expect]]` entry it is in (a
//! second mistake in the same entry shows once the first is fixed), or the
//! line, with the rest of a multi-line value — and the file is loaded
//! again, up to [`MAX_ERRORS`] times. The errors are reported in file
//! order.
//!
//! Setting a part aside can only hide mistakes, never invent them, with
//! one exception: a required field or table now missing. So the search
//! stops at the first error about something missing (after the first
//! error), at an error with no position, when what is left is no longer
//! TOML, and when an error repeats a line already reported. Set-aside
//! lines keep their length, so every later error points at the same line
//! and column as in the file.

use super::{Registry, ScenarioError, load_str};

/// At most this many errors are reported per file.
pub const MAX_ERRORS: usize = 10;

/// The errors of scenario text `source` (empty when it is valid), at most
/// `limit`, in the order found.
pub fn errors(registry: &Registry, file: &str, source: &str, limit: usize) -> Vec<ScenarioError> {
    let mut found: Vec<ScenarioError> = Vec::new();
    let mut text = source.to_string();
    while found.len() < limit {
        let Err(e) = load_str(registry, file, &text) else { break };
        let follow_on = !found.is_empty()
            && (e.line == 0 || e.message.starts_with("missing") || found.iter().any(|f| f.line == e.line));
        if follow_on {
            break;
        }
        let line = e.line;
        found.push(e);
        if line == 0 {
            break;
        }
        let Some(next) = set_aside(&text, line) else { break };
        if toml::from_str::<toml::Table>(&next).is_err() {
            break;
        }
        text = next;
    }
    found.sort_by_key(|e| (e.line, e.column));
    found
}

/// `text` with the part holding 1-based line `line` turned into comments
/// of the same length, or `None` if there is nothing to set aside.
fn set_aside(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let at = line.checked_sub(1).filter(|&i| i < lines.len())?;
    let header = |l: &str| l.trim_start().starts_with('[');
    let entry_start = (0..=at).rev().find(|&i| header(lines[i]));
    let (from, to) = match entry_start {
        // In an array-of-tables entry, or on a table's header: the whole
        // entry or table, up to the next header.
        Some(h) if lines[h].trim_start().starts_with("[[") || h == at => {
            let end = (at + 1..lines.len()).find(|&i| header(lines[i])).unwrap_or(lines.len());
            (h, end)
        }
        // A key of a table: its line, and the rest of a multi-line value.
        _ => (at, at + 1 + continuation(&lines[at..])),
    };
    let mut out = String::with_capacity(text.len());
    for (i, l) in lines.iter().enumerate() {
        if (from..to).contains(&i) {
            out.push_str(&commented(l));
        } else {
            out.push_str(l);
        }
    }
    Some(out)
}

/// How many lines after the first a value started on `lines[0]` goes on
/// for: a multi-line string, or brackets left open.
fn continuation(lines: &[&str]) -> usize {
    let first = lines[0];
    for quotes in ["\"\"\"", "'''"] {
        if first.matches(quotes).count() == 1 {
            return lines[1..].iter().position(|l| l.contains(quotes)).map_or(0, |i| i + 1);
        }
    }
    let mut depth: i64 = 0;
    for (i, l) in lines.iter().enumerate() {
        // Brackets in strings are rare in a scenario; good enough to find
        // the end of a value.
        depth += l.matches(['[', '{']).count() as i64 - l.matches([']', '}']).count() as i64;
        if depth <= 0 {
            return i;
        }
    }
    0
}

/// A line as a comment of the same length in bytes (its line break kept).
fn commented(line: &str) -> String {
    let body = line.trim_end_matches(['\n', '\r']);
    let ending = &line[body.len()..];
    if body.is_empty() {
        return line.to_string();
    }
    format!("#{}{ending}", " ".repeat(body.len() - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_aside_keeps_every_offset() {
        let src = "a = 1\ndescription = \"\"\"\nx\ny\n\"\"\"\nb = [1,\n 2]\nc = 3\n";
        let out = set_aside(src, 2).unwrap();
        assert_eq!(out.len(), src.len());
        assert_eq!(out.lines().nth(5), Some("b = [1,"));
        assert!(out.lines().skip(1).take(4).all(|l| l.starts_with('#') || l.is_empty()), "{out}");
        let out = set_aside(src, 6).unwrap();
        assert!(out.lines().nth(5).unwrap().starts_with('#') && out.lines().nth(6).unwrap().starts_with('#'));
        assert_eq!(out.lines().nth(7), Some("c = 3"));
    }
}

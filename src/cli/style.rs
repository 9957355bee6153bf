//! Verdicts in colour: green for what holds, red for what broke. Printed
//! through `anstream`, which drops the colour when standard output is not
//! a terminal, when `NO_COLOR` is set, or with `--color never` (and keeps
//! it with `--color always`), as clap does for its help.

use anstyle::{AnsiColor, Style};

const GOOD: Style = AnsiColor::Green.on_default();
const BAD: Style = AnsiColor::Red.on_default().bold();

/// `word`, green if `ok`, red and bold if not.
pub fn verdict(ok: bool, word: &str) -> String {
    let style = if ok { GOOD } else { BAD };
    format!("{style}{word}{style:#}")
}

/// An expectation's or graded item's mark: `ok  ` or `FAIL`.
pub fn mark(ok: bool) -> String {
    verdict(ok, if ok { "ok  " } else { "FAIL" })
}

/// A check's verdict: `holds ` or `BROKEN`.
pub fn holds(ok: bool) -> String {
    verdict(ok, if ok { "holds " } else { "BROKEN" })
}

/// Applies `--color` to everything printed through `anstream`.
pub fn set_color(choice: clap::ColorChoice) {
    let choice = match choice {
        clap::ColorChoice::Auto => anstream::ColorChoice::Auto,
        clap::ColorChoice::Always => anstream::ColorChoice::Always,
        clap::ColorChoice::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

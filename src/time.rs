//! Virtual time.
//!
//! The simulator never reads a wall clock. Time is an integer count of
//! microseconds since the start of the run, and the clock jumps straight to
//! the next queued event (design rule 2), so an idle simulated hour costs
//! nothing but the events that actually happen in it.

use std::fmt;

/// A point in virtual (real, un-skewed) time, in microseconds since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A length of virtual time, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub fn as_micros(self) -> u64 {
        self.0
    }
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
    /// `self + d`, saturating at the end of time instead of overflowing.
    pub fn after(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
    /// How long from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us)
    }
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms * 1_000)
    }
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s * 1_000_000)
    }
    pub fn as_micros(self) -> u64 {
        self.0
    }
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

/// Formats a microsecond count the way a person writes it: `0s`, `250ms`,
/// `1.5s`, `12us`.
fn format_micros(us: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if us == 0 {
        write!(f, "0s")
    } else if us.is_multiple_of(1_000_000) {
        write!(f, "{}s", us / 1_000_000)
    } else if us >= 1_000_000 {
        write!(f, "{}s", trim_decimal(us as f64 / 1e6))
    } else if us.is_multiple_of(1_000) {
        write!(f, "{}ms", us / 1_000)
    } else if us >= 1_000 {
        write!(f, "{}ms", trim_decimal(us as f64 / 1e3))
    } else {
        write!(f, "{us}us")
    }
}

fn trim_decimal(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_micros(self.0, f)
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_micros(self.0, f)
    }
}

/// Parses a duration written with a unit: `"250ms"`, `"1.5s"`, `"20us"`,
/// `"2m"`, `"0"`. The error says what was expected.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("`{t}` is negative; a duration is zero or more"));
    }
    if t == "0" {
        return Ok(SimDuration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{t}` has no unit; write e.g. \"{t}ms\" (units: us, ms, s, m, h)"))?;
    let (num, unit) = t.split_at(split);
    let scale: u64 = match unit.trim() {
        "us" | "µs" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        other => {
            return Err(format!("unknown time unit `{other}` in `{t}` (expected us, ms, s, m or h)"));
        }
    };
    if num.is_empty() {
        return Err(format!("`{t}` has no number before its unit"));
    }
    let value: f64 = num.parse().map_err(|_| format!("`{num}` in `{t}` is not a number"))?;
    let us = value * scale as f64;
    if !us.is_finite() || us > 1e15 {
        return Err(format!("`{t}` is too long (at most about 31 years)"));
    }
    let rounded = us.round();
    if (rounded - us).abs() > 1e-6 {
        return Err(format!("`{t}` is finer than a microsecond"));
    }
    Ok(SimDuration(rounded as u64))
}

/// In JSON (as the history and `--json` outputs write it): whole
/// microseconds.
impl schemars::JsonSchema for SimTime {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SimTime".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "integer",
            "minimum": 0,
            "description": "simulated time, in microseconds since the start of the run"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Units parse to microseconds and print back the way they were written.
    #[test]
    fn durations_round_trip() {
        for (text, us) in [
            ("250ms", 250_000),
            ("1.5s", 1_500_000),
            ("20us", 20),
            ("2m", 120_000_000),
            ("0", 0),
            ("0.25ms", 250),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d.as_micros(), us, "{text}");
        }
        assert_eq!(SimDuration::from_millis(250).to_string(), "250ms");
        assert_eq!(SimDuration(1_500_000).to_string(), "1.5s");
        assert_eq!(SimDuration(250).to_string(), "250us");
    }

    /// A missing or unknown unit is an error that names the units.
    #[test]
    fn bad_durations_say_what_was_expected() {
        assert!(parse_duration("250").unwrap_err().contains("no unit"));
        assert!(parse_duration("3 weeks").unwrap_err().contains("unknown time unit"));
        assert!(parse_duration("ms").unwrap_err().contains("no number"));
        assert!(parse_duration("0.1us").unwrap_err().contains("finer"));
    }
}

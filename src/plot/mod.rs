//! Charts: line charts and scatter plots with a title, labelled axes with
//! units, a legend and marked events, drawn by plotters into SVG and PNG.
//!
//! `distlab sweep` draws trade-offs (a metric against a parameter, one line
//! per configuration; latency distributions; gauges over time) and `distlab
//! plot` draws one run from its trace. Both describe a [`Figure`] here and
//! call [`save`]; nothing else in the crate touches plotters.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (the font and its
//! licence are in `assets/fonts/`) and registered once, so a chart renders
//! the same on a headless machine with no fonts installed. Drawing uses no
//! clock and no randomness: the same figure gives the same bytes.

mod svg_text;
pub mod trace;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The family name charts ask for; the embedded font is registered under it.
const FONT: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// One panel's size in pixels; a figure puts its panels side by side.
pub const PANEL: (u32, u32) = (760, 480);

/// Tableau's twenty colours (ten, then their light companions):
/// distinguishable, and kind to colour-blind readers.
const PALETTE: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(174, 199, 232),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(247, 182, 210),
    RGBColor(199, 199, 199),
    RGBColor(219, 219, 141),
    RGBColor(158, 218, 229),
];

/// More named lines than this get their legend beside the plot, not on it.
const LEGEND_INSIDE_MAX: usize = 6;
/// The width of a legend beside the plot, in pixels.
const LEGEND_WIDTH: u32 = 190;

/// How a chart draws its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Points joined by lines (marked when there are few).
    Lines,
    /// Points only (a scatter plot).
    Points,
}

/// Where the legend goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Legend {
    /// The corner with the fewest points under it.
    Auto,
    UpperLeft,
    UpperRight,
    LowerLeft,
    LowerRight,
}

/// A named line of `(x, y)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A vertical line at `x` with a label: a fault, a crash.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub x: f64,
    pub label: String,
}

/// One chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub title: String,
    /// The x axis's name with its unit, e.g. `time (s)`.
    pub x_label: String,
    /// The y axis's name with its unit.
    pub y_label: String,
    /// When set, x values are indices into these labels (a parameter
    /// such as `mode = async | semi-sync | sync`).
    pub categories: Option<Vec<String>>,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
    pub kind: Kind,
    pub legend: Legend,
    /// Start the y axis at zero (counts, rates) rather than at the data.
    pub y_from_zero: bool,
    /// A logarithmic x axis (latencies with a long tail); values at or
    /// below zero are drawn at its left end.
    pub x_log: bool,
    /// Ticks exactly at these x values (a sweep's few parameter values)
    /// instead of round numbers.
    pub x_ticks: Option<Vec<f64>>,
}

impl Chart {
    /// A line chart with no series yet.
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            categories: None,
            series: Vec::new(),
            markers: Vec::new(),
            kind: Kind::Lines,
            legend: Legend::Auto,
            y_from_zero: true,
            x_log: false,
            x_ticks: None,
        }
    }
}

/// Charts side by side, written as one picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub panels: Vec<Chart>,
}

impl From<Chart> for Figure {
    fn from(chart: Chart) -> Self {
        Figure { panels: vec![chart] }
    }
}

/// Which files [`save`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Formats {
    pub svg: bool,
    pub png: bool,
}

/// Writes `figure` as `STEM.svg` and/or `STEM.png`; returns the paths.
pub fn save(figure: &Figure, stem: &Path, formats: Formats) -> Result<Vec<PathBuf>> {
    register_font()?;
    let panels = figure.panels.len().max(1) as u32;
    let size = (PANEL.0 * panels, PANEL.1);
    let mut written = Vec::new();
    let file = |ext: &str| {
        let mut name = stem.as_os_str().to_owned();
        name.push(".");
        name.push(ext);
        PathBuf::from(name)
    };
    if formats.svg {
        let path = file("svg");
        let mut svg = String::new();
        render(SVGBackend::with_string(&mut svg, size), figure, &path)?;
        // The text as the embedded font's outlines, as the PNG draws it.
        let font = ab_glyph::FontRef::try_from_slice(DEJAVU_SANS)
            .map_err(|_| anyhow!("the embedded DejaVu Sans font could not be read"))?;
        let svg = svg_text::outline_text(&svg, &font);
        std::fs::write(&path, svg).map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
        written.push(path);
    }
    if formats.png {
        let path = file("png");
        render(BitMapBackend::new(&path, size), figure, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// The longest file stem [`file_stem`] makes, in bytes.
pub const STEM_BYTES: usize = 64;

/// A file stem for a chart named `name`, safe to join to the output folder:
/// ASCII letters, digits, `-` and `_` are kept, anything else (`/`, `.`,
/// `\`, spaces, control characters) becomes `_`, at most [`STEM_BYTES`]
/// long, never empty. A name read from a file (a trace's gauge `../../x`
/// or `/etc/x`) so cannot leave the folder or name a hidden file.
pub fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(STEM_BYTES)
        .collect();
    if stem.is_empty() { "chart".to_string() } else { stem }
}

/// Draws `figure` with one backend and finishes its file.
fn render<DB: DrawingBackend>(backend: DB, figure: &Figure, path: &Path) -> Result<()> {
    let root = backend.into_drawing_area();
    draw_figure(&root, figure)
        .and_then(|()| root.present())
        .map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}

/// Registers the embedded font once per process.
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the embedded DejaVu Sans font could not be read".to_string())
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &Figure) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, figure.panels.len().max(1)));
    for (area, chart) in areas.iter().zip(&figure.panels) {
        draw_chart(area, chart)?;
    }
    Ok(())
}

fn draw_chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &Chart) -> DrawResult<DB> {
    let points = || c.series.iter().flat_map(|s| s.points.iter().copied());
    let xs = || points().map(|p| p.0).chain(c.markers.iter().map(|m| m.x));
    let x_axis = match (&c.categories, &c.x_ticks) {
        (Some(labels), _) => Axis::categories(labels.len()),
        (None, Some(ticks)) if !ticks.is_empty() => Axis::at(ticks.clone(), xs()),
        (None, _) if c.x_log => Axis::fit_log(xs()),
        (None, _) => Axis::fit(xs(), false),
    };
    let y_axis = Axis::fit(points().map(|p| p.1), c.y_from_zero);
    let x_format = |v: &f64| match &c.categories {
        Some(labels) => labels.get(v.round().max(0.0) as usize).cloned().unwrap_or_default(),
        None if x_axis.log => format_tick(*v, *v),
        None => format_tick(*v, x_axis.step),
    };
    let y_format = |v: &f64| format_tick(*v, y_axis.step);
    let named = c.series.iter().filter(|s| !s.name.is_empty()).count();
    let area = area.margin(6, 0, 0, 0).titled(&c.title, (FONT, 18))?;
    let (plot_area, legend_area) = if named > LEGEND_INSIDE_MAX {
        let width = area.dim_in_pixel().0;
        let (plot, legend) = area.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
        (plot, Some(legend))
    } else {
        (area, None)
    };
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x_axis.clone(), y_axis.clone())?;
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .bold_line_style(BLACK.mix(0.08))
        .light_line_style(TRANSPARENT)
        .draw()?;

    // Fault markers: a dashed line each, and a label at the top, moved
    // down a row while it would overlap a label already placed.
    let grey = RGBColor(90, 90, 90);
    let plot_height = f64::from(chart.plotting_area().dim_in_pixel().1.max(1));
    let row = (y_axis.hi - y_axis.lo) * 15.0 / plot_height;
    let mut placed: Vec<(i32, i32, usize)> = Vec::new();
    let mut markers: Vec<&Marker> = c.markers.iter().collect();
    markers.sort_by(|a, b| a.x.total_cmp(&b.x));
    for m in markers {
        chart.draw_series(DashedLineSeries::new(
            [(m.x, y_axis.lo), (m.x, y_axis.hi)],
            6,
            4,
            grey.stroke_width(1),
        ))?;
        let label = format!(" {}", m.label);
        let start = chart.backend_coord(&(m.x, y_axis.hi)).0;
        let end = start + (label.chars().count() as f64 * 6.8) as i32;
        let free =
            (0..MARKER_ROWS).find(|&r| !placed.iter().any(|&(s, e, pr)| pr == r && s < end && start < e));
        if let Some(r) = free {
            placed.push((start, end, r));
            let at = (m.x, y_axis.hi - row * (0.3 + r as f64));
            chart.draw_series(std::iter::once(Text::new(label, at, (FONT, 12).into_font().color(&grey))))?;
        }
    }

    for (i, s) in c.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let drawn = match c.kind {
            Kind::Lines => {
                if s.points.len() <= 40 {
                    chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
                }
                chart.draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))?
            }
            Kind::Points => {
                chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 2, color.mix(0.7).filled())))?
            }
        };
        if !s.name.is_empty() && legend_area.is_none() {
            drawn
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3)));
        }
    }
    if let Some(legend) = &legend_area {
        draw_legend_beside(legend, c)?;
    } else if named > 0 {
        let legend = match c.legend {
            Legend::Auto => emptiest_corner(&x_axis, &y_axis, points()),
            chosen => chosen,
        };
        chart
            .configure_series_labels()
            .position(match legend {
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::UpperRight | Legend::Auto => SeriesLabelPosition::UpperRight,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
            })
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
    }
    Ok(())
}

/// The most rows of fault labels; a label with no free row is left out
/// (its dashed line is still drawn).
const MARKER_ROWS: usize = 6;

/// A legend in its own column beside the plot: a line per named series,
/// as many as fit, then how many more there are.
fn draw_legend_beside<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &Chart) -> DrawResult<DB> {
    let named: Vec<(usize, &Series)> =
        c.series.iter().enumerate().filter(|(_, s)| !s.name.is_empty()).collect();
    let (_, height) = area.dim_in_pixel();
    let top = 24i32;
    let fits = ((height as i32 - top - 40) / 15).max(1) as usize;
    let shown = if named.len() > fits { fits - 1 } else { named.len() };
    let font = (FONT, 11).into_font();
    for (row, (i, s)) in named.iter().take(shown).enumerate() {
        let y = top + row as i32 * 15;
        let color = PALETTE[i % PALETTE.len()];
        area.draw(&PathElement::new(vec![(6, y), (26, y)], color.stroke_width(3)))?;
        let name: String = if s.name.chars().count() > 26 {
            s.name.chars().take(25).chain(std::iter::once('…')).collect()
        } else {
            s.name.clone()
        };
        area.draw(&Text::new(name, (32, y - 6), font.clone()))?;
    }
    if shown < named.len() {
        let y = top + shown as i32 * 15;
        area.draw(&Text::new(format!("… and {} more", named.len() - shown), (32, y - 6), font))?;
    }
    Ok(())
}

/// The corner of the plot (a third of its width, two fifths of its
/// height) with the fewest points in it; upper right on a tie.
fn emptiest_corner(x: &Axis, y: &Axis, points: impl Iterator<Item = (f64, f64)>) -> Legend {
    let corners = [Legend::UpperRight, Legend::UpperLeft, Legend::LowerRight, Legend::LowerLeft];
    let mut counts = [0usize; 4];
    for (px, py) in points {
        let (fx, fy) = (x.fraction(px), y.fraction(py));
        let (right, left, top, bottom) = (fx > 0.66, fx < 0.34, fy > 0.6, fy < 0.4);
        for (count, hit) in
            counts.iter_mut().zip([right && top, left && top, right && bottom, left && bottom])
        {
            *count += usize::from(hit);
        }
    }
    let best = (0..4).min_by_key(|&i| counts[i]).expect("four corners");
    corners[best]
}

/// An axis: its range, its ticks and their spacing.
#[derive(Clone, Debug, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    step: f64,
    log: bool,
}

impl Axis {
    /// Evenly spaced categories at 0, 1, 2, ...
    fn categories(n: usize) -> Axis {
        let n = n.max(1);
        Axis {
            lo: -0.5,
            hi: n as f64 - 0.5,
            ticks: (0..n).map(|i| i as f64).collect(),
            step: 1.0,
            log: false,
        }
    }

    /// Ticks exactly at `ticks`, the range a little wider than them (and
    /// than the data).
    fn at(mut ticks: Vec<f64>, values: impl Iterator<Item = f64>) -> Axis {
        ticks.sort_by(f64::total_cmp);
        let (lo, hi) = values
            .chain(ticks.iter().copied())
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let pad = if hi > lo { (hi - lo) * 0.04 } else { 1.0 };
        let step = ticks.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
        let step = if step.is_finite() && step > 0.0 { step } else { 1.0 };
        Axis { lo: lo - pad, hi: hi + pad, ticks, step, log: false }
    }

    /// A logarithmic range from a power of ten below the smallest positive
    /// value to one above the largest, ticks at 1, 2 and 5 times each.
    fn fit_log(values: impl Iterator<Item = f64>) -> Axis {
        let (lo, hi) = values
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo, hi) };
        let lo = 10f64.powf(lo.log10().floor());
        let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
        let mut ticks = Vec::new();
        let mut decade = lo;
        while decade < hi * 1.001 {
            ticks.extend([1.0, 2.0, 5.0].iter().map(|m| m * decade).filter(|t| *t <= hi * 1.001));
            decade *= 10.0;
        }
        Axis { lo, hi, ticks, step: lo, log: true }
    }

    /// Where `v` falls on the axis, 0 at its start and 1 at its end.
    fn fraction(&self, v: f64) -> f64 {
        if self.log {
            (v.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    /// A range that holds `values` (and zero, if asked), widened to round
    /// ticks about a sixth of it apart.
    fn fit(values: impl Iterator<Item = f64>, from_zero: bool) -> Axis {
        let (mut lo, mut hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        if from_zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        if hi - lo < 1e-12 {
            let pad = if hi.abs() > 1e-12 { hi.abs() * 0.1 } else { 1.0 };
            (lo, hi) = (lo - pad * f64::from(!from_zero || lo < 0.0), hi + pad);
        }
        let step = nice_step((hi - lo) / 6.0);
        let lo = (lo / step).floor() * step;
        let hi = (hi / step).ceil() * step;
        let count = ((hi - lo) / step).round() as usize;
        let ticks = (0..=count).map(|i| lo + i as f64 * step).collect();
        Axis { lo, hi, ticks, step, log: false }
    }
}

/// A linear axis whose grid lines and labels are exactly its ticks.
impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        limit.0 + (self.fraction(*value) * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The round number (1, 2 or 5 times a power of ten) nearest above `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A tick label with as many decimals as the spacing needs.
fn format_tick(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    let text = format!("{v:.decimals$}");
    // No "-0".
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') { "0".to_string() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 11, item 18): a chart's name from a trace was
    /// joined to the output folder as it was. Stems keep to one plain
    /// path component.
    #[test]
    fn file_stems_stay_in_the_folder() {
        assert_eq!(file_stem("replication_lag_ms"), "replication_lag_ms");
        assert_eq!(file_stem("../../x"), "______x");
        assert_eq!(file_stem("/etc/passwd"), "_etc_passwd");
        assert_eq!(file_stem("..\\evil"), "___evil");
        assert_eq!(file_stem(""), "chart");
        assert_eq!(file_stem("\u{1b}[2J"), "__2J");
        assert_eq!(file_stem(&"é".repeat(100)).len(), STEM_BYTES);
        for name in ["..", ".", "a/b", "C:\\x", "\0"] {
            let p = std::path::Path::new("out").join(file_stem(name));
            assert_eq!(p.parent(), Some(std::path::Path::new("out")), "{name}");
            assert!(!file_stem(name).starts_with('.'));
        }
    }

    #[test]
    fn axes_end_on_round_ticks() {
        let a = Axis::fit([0.13, 0.92].into_iter(), true);
        assert_eq!((a.lo, a.hi, a.step), (0.0, 1.0, 0.2));
        assert_eq!(a.ticks.len(), 6);
        let b = Axis::fit([103.0, 157.0].into_iter(), false);
        assert_eq!((b.lo, b.hi, b.step), (100.0, 160.0, 10.0));
        // One value, or none, still gives an axis with some height.
        let c = Axis::fit([5.0].into_iter(), false);
        assert!(c.lo < 5.0 && c.hi > 5.0);
        let d = Axis::fit(std::iter::empty(), true);
        assert_eq!((d.lo, d.hi), (0.0, 1.0));
    }

    #[test]
    fn tick_labels_have_the_decimals_their_spacing_needs() {
        assert_eq!(format_tick(0.25, 0.05), "0.25");
        assert_eq!(format_tick(150.0, 50.0), "150");
        assert_eq!(format_tick(-0.0, 0.1), "0");
        assert_eq!(format_tick(1e-17, 0.2), "0");
    }

    /// The same figure gives the same bytes, and text is drawn with the
    /// embedded font (no system font is needed).
    #[test]
    fn saving_is_deterministic_and_needs_no_system_fonts() {
        let mut chart = Chart::new("quorum: availability vs r", "protocol.r", "availability (fraction)");
        chart.series.push(Series { name: "w=1".into(), points: vec![(1.0, 0.9), (2.0, 0.95), (3.0, 1.0)] });
        chart.markers.push(Marker { x: 2.0, label: "n1 crashes".into() });
        let dir = std::env::temp_dir().join(format!("distlab-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let figure = Figure::from(chart);
        let both = Formats { svg: true, png: true };
        let first = save(&figure, &dir.join("a"), both).unwrap();
        let second = save(&figure, &dir.join("b"), both).unwrap();
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), "{}", a.display());
        }
        let svg = std::fs::read_to_string(&first[0]).unwrap();
        assert!(svg.contains("availability (fraction)") && svg.contains("w=1"), "labels are drawn");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! SVG charts that carry their font: every `<text>` the SVG backend writes
//! becomes the embedded DejaVu Sans's glyph outlines, so an SVG looks the
//! same in every browser and viewer as its PNG does, whatever fonts the
//! reader has. Each glyph used is defined once (`<defs>`, in font units)
//! and placed with `<use>`; the text stays readable to search and screen
//! readers as the group's `aria-label`.

use ab_glyph::{Font as _, FontRef, GlyphId, OutlineCurve};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Rewrites every `<text ...>words</text>` of `svg` (as plotters writes
/// it) into outlines of `font`.
pub fn outline_text(svg: &str, font: &FontRef) -> String {
    let upem = font.units_per_em().unwrap_or(2048.0);
    let x_height =
        font.outline(font.glyph_id('x')).map_or(0.55 * upem, |o| o.bounds.max.y - o.bounds.min.y) / upem;
    let mut glyphs: BTreeMap<u16, String> = BTreeMap::new();
    let mut body = String::with_capacity(svg.len());
    let mut rest = svg;
    while let Some(start) = rest.find("<text ") {
        body.push_str(&rest[..start]);
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else { break };
        let Some(close) = after.find("</text>") else { break };
        let attrs = &after[6..open_end];
        let words = unescape(after[open_end + 1..close].trim());
        body.push_str(&text_as_glyphs(attrs, &words, font, upem, x_height, &mut glyphs));
        rest = &after[close + "</text>".len()..];
    }
    body.push_str(rest);
    // The glyphs, defined once, right after the opening <svg ...> tag.
    let mut defs = String::from("<defs>\n");
    for (id, d) in &glyphs {
        let _ = writeln!(defs, "<path id=\"g{id}\" d=\"{d}\"/>");
    }
    defs.push_str("</defs>\n");
    match body.find('>') {
        Some(i) if body.starts_with("<svg") => {
            let mut out = String::with_capacity(body.len() + defs.len() + 64);
            out.push_str(&body[..i]);
            out.push_str(" xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n");
            out.push_str(&defs);
            out.push_str(body[i + 1..].trim_start_matches('\n'));
            out
        }
        _ => body,
    }
}

/// One text element as a group of placed glyphs.
fn text_as_glyphs(
    attrs: &str,
    words: &str,
    font: &FontRef,
    upem: f32,
    x_height: f32,
    glyphs: &mut BTreeMap<u16, String>,
) -> String {
    let num = |name: &str| attr(attrs, name).and_then(|v| v.parse::<f32>().ok());
    let (x, y, size) = (num("x").unwrap_or(0.0), num("y").unwrap_or(0.0), num("font-size").unwrap_or(12.0));
    let scale = size / upem;
    // The backend places text by its top (`0.76em`) or middle (`±0.5ex`).
    let dy = match attr(attrs, "dy") {
        Some(v) if v.ends_with("em") => v.trim_end_matches("em").parse::<f32>().unwrap_or(0.0) * size,
        Some(v) if v.ends_with("ex") => {
            v.trim_end_matches("ex").parse::<f32>().unwrap_or(0.0) * x_height * size
        }
        _ => 0.0,
    };
    // Lay the glyphs out: advances and kerning, in font units.
    let mut placed: Vec<(GlyphId, f32)> = Vec::new();
    let mut pen = 0.0;
    let mut previous: Option<GlyphId> = None;
    for c in words.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            pen += font.kern_unscaled(p, id);
        }
        placed.push((id, pen));
        pen += font.h_advance_unscaled(id);
        previous = Some(id);
    }
    let width = pen * scale;
    let start = match attr(attrs, "text-anchor") {
        Some("middle") => x - width / 2.0,
        Some("end") => x - width,
        _ => x,
    };
    let baseline = y + dy;
    let mut out = String::from("<g");
    for name in ["fill", "opacity", "transform"] {
        if let Some(v) = attr(attrs, name) {
            let _ = write!(out, " {name}=\"{v}\"");
        }
    }
    let _ = write!(out, " aria-label=\"{}\">", escape(words));
    for (id, at) in placed {
        let Some(path) = glyph_path(font, id) else { continue };
        glyphs.entry(id.0).or_insert(path);
        let _ = write!(
            out,
            "<use xlink:href=\"#g{}\" transform=\"translate({} {}) scale({} {})\"/>",
            id.0,
            short(start + at * scale),
            short(baseline),
            short4(scale),
            short4(-scale)
        );
    }
    out.push_str("</g>");
    out
}

/// A glyph's outline as SVG path data, in font units (y up); `None` for a
/// glyph with no outline (a space).
fn glyph_path(font: &FontRef, id: GlyphId) -> Option<String> {
    let outline = font.outline(id)?;
    let mut d = String::new();
    let mut end: Option<(f32, f32)> = None;
    for curve in &outline.curves {
        let (from, to) = match curve {
            OutlineCurve::Line(a, b) | OutlineCurve::Quad(a, _, b) | OutlineCurve::Cubic(a, _, _, b) => {
                (*a, *b)
            }
        };
        if end != Some((from.x, from.y)) {
            if end.is_some() {
                d.push('Z');
            }
            let _ = write!(d, "M{} {}", short(from.x), short(from.y));
        }
        match curve {
            OutlineCurve::Line(_, b) => {
                let _ = write!(d, "L{} {}", short(b.x), short(b.y));
            }
            OutlineCurve::Quad(_, c, b) => {
                let _ = write!(d, "Q{} {} {} {}", short(c.x), short(c.y), short(b.x), short(b.y));
            }
            OutlineCurve::Cubic(_, c1, c2, b) => {
                let _ = write!(
                    d,
                    "C{} {} {} {} {} {}",
                    short(c1.x),
                    short(c1.y),
                    short(c2.x),
                    short(c2.y),
                    short(b.x),
                    short(b.y)
                );
            }
        }
        end = Some((to.x, to.y));
    }
    if d.is_empty() {
        return None;
    }
    d.push('Z');
    Some(d)
}

/// The value of attribute `name` in `attrs` (`name="value"`).
fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    // The name at the start, or after a space (so `x` never matches `dx`).
    let at = if attrs.starts_with(&key) { 0 } else { attrs.find(&format!(" {key}"))? + 1 };
    let value = &attrs[at + key.len()..];
    value.find('"').map(|end| &value[..end])
}

/// A coordinate with at most two decimals (`12.5`, `3`).
fn short(v: f32) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r == r.trunc() { format!("{}", r as i64) } else { format!("{r}") }
}

/// A scale factor with at most five decimals.
fn short4(v: f32) -> String {
    let r = (v * 100_000.0).round() / 100_000.0;
    format!("{r}")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> FontRef<'static> {
        FontRef::try_from_slice(super::super::DEJAVU_SANS).expect("the embedded font")
    }

    #[test]
    fn text_becomes_outlines_defined_once() {
        let svg = "<svg width=\"100\" height=\"50\" xmlns=\"http://www.w3.org/2000/svg\">\n\
            <text x=\"10\" y=\"20\" dy=\"0.76em\" text-anchor=\"start\" font-family=\"sans-serif\" font-size=\"10\" opacity=\"1\" fill=\"#000000\">\n\
            a&lt;a\n</text>\n<text x=\"50\" y=\"30\" dy=\"0.5ex\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"12\" opacity=\"1\" fill=\"#FF0000\" transform=\"rotate(270, 50, 30)\">\naa\n</text>\n</svg>\n";
        let out = outline_text(svg, &font());
        assert!(!out.contains("<text"), "{out}");
        assert!(out.contains("xmlns:xlink"), "{out}");
        let a = font().glyph_id('a').0;
        assert_eq!(out.matches(&format!("<path id=\"g{a}\"")).count(), 1, "one definition per glyph: {out}");
        assert_eq!(out.matches(&format!("xlink:href=\"#g{a}\"")).count(), 4, "{out}");
        assert!(out.contains("aria-label=\"a&lt;a\""), "{out}");
        assert!(out.contains("transform=\"rotate(270, 50, 30)\""), "{out}");
        assert!(out.contains("fill=\"#FF0000\""), "{out}");
        // The first glyph starts at x = 10, its baseline at 20 + 0.76 × 10.
        assert!(out.contains("translate(10 27.6)"), "{out}");
    }

    #[test]
    fn middle_and_end_anchors_centre_and_right_align() {
        let f = font();
        let width =
            |s: &str| s.chars().map(|c| f.h_advance_unscaled(f.glyph_id(c))).sum::<f32>() * 10.0 / 2048.0;
        let one = |anchor: &str| {
            let svg = format!(
                "<svg a=\"1\">\n<text x=\"100\" y=\"0\" text-anchor=\"{anchor}\" font-size=\"10\">\nII\n</text>\n</svg>"
            );
            outline_text(&svg, &f)
        };
        assert!(one("middle").contains(&format!("translate({} 0)", short(100.0 - width("II") / 2.0))));
        assert!(one("end").contains(&format!("translate({} 0)", short(100.0 - width("II")))));
    }
}

//! Collisions between the text labels of a generated SVG, so that a test can
//! fail when two labels run into one another (they did, under the echo
//! charts' bars, before anyone looked at the picture).
//!
//! No font is at hand, so a label's extent is estimated: its width from its
//! length in characters times an average glyph width for the font size, its
//! height from the font size, placed by its `text-anchor` and `dy` the way
//! `plotters`' SVG backend writes them. Rotated labels (axis titles) are left
//! out: their boxes would need the rotation, and there is one per axis.

/// An average sans-serif glyph is a little over half as wide as the font size.
const GLYPH_WIDTH: f64 = 0.55;
/// Boxes that share less than this many pixels do not count as overlapping
/// (neighbouring labels may touch).
const SLACK: f64 = 1.0;

/// One horizontal label and its estimated box.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// The text.
    pub text: String,
    /// Left, top, right, bottom in pixels.
    pub bounds: (f64, f64, f64, f64),
}

/// The value of attribute `name` in a start tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag.get(start..)?.find('"')?;
    tag.get(start..start + len)
}

/// A `dy` in pixels for `size`: `0.76em`, `0.5ex`, or plain pixels.
fn dy(value: Option<&str>, size: f64) -> f64 {
    let Some(v) = value else { return 0.0 };
    if let Some(em) = v.strip_suffix("em") {
        em.parse::<f64>().map_or(0.0, |e| e * size)
    } else if let Some(ex) = v.strip_suffix("ex") {
        ex.parse::<f64>().map_or(0.0, |e| e * size * 0.5)
    } else {
        v.parse().unwrap_or(0.0)
    }
}

/// Undo the XML escapes `plotters` writes, so that `&amp;` counts as one character.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Every unrotated `<text>` of `svg` with its estimated box.
#[must_use]
pub fn labels(svg: &str) -> Vec<Label> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find("<text") {
        let after = &rest[open..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let tag = &after[..tag_end];
        let body = &after[tag_end + 1..];
        let Some(close) = body.find("</text>") else {
            break;
        };
        let text = unescape(body[..close].trim());
        rest = &body[close..];
        if tag.contains("transform=") || text.is_empty() {
            continue;
        }
        let num = |n: &str| attr(tag, n).and_then(|v| v.parse::<f64>().ok());
        let (Some(x), Some(y)) = (num("x"), num("y")) else {
            continue;
        };
        let size = num("font-size").unwrap_or(12.0);
        let width = text.chars().count() as f64 * size * GLYPH_WIDTH;
        let left = match attr(tag, "text-anchor") {
            Some("middle") => x - width / 2.0,
            Some("end") => x - width,
            _ => x,
        };
        let baseline = y + dy(attr(tag, "dy"), size);
        out.push(Label {
            text,
            bounds: (
                left,
                baseline - 0.75 * size,
                left + width,
                baseline + 0.2 * size,
            ),
        });
    }
    out
}

/// The pairs of labels of `svg` whose boxes overlap, by their texts.
#[must_use]
pub fn overlaps(svg: &str) -> Vec<(String, String)> {
    let labels = labels(svg);
    let mut out = Vec::new();
    for (i, a) in labels.iter().enumerate() {
        for b in &labels[i + 1..] {
            let (al, at, ar, ab) = a.bounds;
            let (bl, bt, br, bb) = b.bounds;
            let dx = ar.min(br) - al.max(bl);
            let dy = ab.min(bb) - at.max(bt);
            if dx > SLACK && dy > SLACK {
                out.push((a.text.clone(), b.text.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(x: u32, y: u32, anchor: &str, s: &str) -> String {
        format!(
            "<text x=\"{x}\" y=\"{y}\" dy=\"0.76em\" text-anchor=\"{anchor}\" font-size=\"12\">\n{s}\n</text>\n"
        )
    }

    #[test]
    fn neighbours_far_apart_do_not_overlap() {
        let svg = text(100, 10, "middle", "16KiB x 64") + &text(300, 10, "middle", "64B x 1");
        assert_eq!(overlaps(&svg), Vec::<(String, String)>::new());
    }

    #[test]
    fn labels_run_into_one_another() {
        let svg =
            text(100, 10, "middle", "1 in flight per conn") + &text(160, 10, "middle", "16KiB");
        assert_eq!(
            overlaps(&svg),
            vec![("1 in flight per conn".to_owned(), "16KiB".to_owned())]
        );
    }

    #[test]
    fn a_tick_printed_twice_overlaps_itself() {
        let svg = text(70, 77, "end", "10.0 ms") + &text(70, 80, "end", "10.0 ms");
        assert_eq!(overlaps(&svg).len(), 1);
    }

    #[test]
    fn stacked_lines_of_a_wrapped_label_do_not_overlap() {
        let svg = text(100, 10, "middle", "16KiB x 64") + &text(100, 24, "middle", "1 in flight");
        assert!(overlaps(&svg).is_empty());
    }

    #[test]
    fn rotated_labels_are_left_out() {
        let svg =
            "<text x=\"10\" y=\"10\" font-size=\"12\" transform=\"rotate(270, 10, 10)\">axis</text>"
                .to_owned() + &text(10, 10, "start", "axis");
        assert_eq!(labels(&svg).len(), 1);
    }
}

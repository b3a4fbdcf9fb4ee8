//! SVG plots drawn with `plotters`' SVG backend alone: text is written as SVG
//! `<text>` elements, so no font library or system font is needed to draw them.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::contenders::{self, CONTENDERS};
use crate::{Error, Result};

const WIDTH: u32 = 860;
const HEIGHT: u32 = 420;
// Wide enough for `ws-ref-broadcast/batched` at 13 px.
const LEGEND_WIDTH: u32 = 230;
const FONT: &str = "sans-serif";

/// One plotted series: a server and its values, one per category (None = no data).
#[derive(Clone, Debug)]
pub struct Series {
    /// Server name (its colour follows the contender order).
    pub name: String,
    /// Values.
    pub values: Vec<Option<f64>>,
}

/// A server's colour; its naive form (`server/each`) in a lighter shade of it.
fn colour(name: &str) -> RGBColor {
    let (server, flush) = contenders::split_flush(name);
    let base = server_colour(server);
    if flush == Some("each") {
        let light = |c: u8| c + (255 - c) / 2;
        RGBColor(light(base.0), light(base.1), light(base.2))
    } else {
        base
    }
}

fn server_colour(name: &str) -> RGBColor {
    const PALETTE: [RGBColor; 5] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(127, 127, 127),
    ];
    CONTENDERS
        .iter()
        .position(|c| c.name == name)
        .and_then(|i| PALETTE.get(i).copied())
        .unwrap_or(RGBColor(0, 0, 0))
}

fn err(name: &str) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Plot {
        name: name.to_owned(),
        message,
    }
}

/// Draw the legend in its own panel.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
) -> Result<(), String> {
    for (i, s) in series.iter().enumerate() {
        let y = 50 + i as i32 * 22;
        area.draw(&Rectangle::new(
            [(8, y), (22, y + 12)],
            colour(&s.name).filled(),
        ))
        .map_err(|e| e.to_string())?;
        area.draw(&Text::new(s.name.clone(), (28, y), (FONT, 13)))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Category labels under the x axis, centred at `i + 0.5`. A label wider
/// than its slot (at about 7 px a character) is wrapped at its ", " into
/// lines, so that neighbouring labels never run into one another.
fn category_labels<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    root: &DrawingArea<DB, Shift>,
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    categories: &[String],
    y: f64,
) -> Result<(), String> {
    let style = TextStyle::from((FONT, 12)).pos(Pos::new(HPos::Center, VPos::Top));
    let (left, _) = chart.backend_coord(&(0.0, y));
    let (right, _) = chart.backend_coord(&(categories.len() as f64, y));
    let slot =
        usize::try_from((right - left) / i32::try_from(categories.len().max(1)).unwrap_or(1))
            .unwrap_or(0);
    let fits = (slot / 7).max(8);
    for (i, c) in categories.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, y));
        for (line, text) in (0i32..).zip(wrap(c, fits)) {
            root.draw(&Text::new(text, (px, py + 6 + 14 * line), style.clone()))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// `label` in lines of at most `width` characters where it can be, broken
/// after its commas.
fn wrap(label: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for part in label.split(", ") {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 2 + part.chars().count() <= width => {
                line.push_str(", ");
                line.push_str(part);
            }
            _ => lines.push(part.to_owned()),
        }
    }
    lines
}

/// Grouped bars: one group per category, one bar per series; a dashed line at `reference`.
///
/// # Errors
/// [`Error::Plot`] when drawing fails.
pub fn grouped_bars(
    name: &str,
    title: &str,
    y_desc: &str,
    categories: &[String],
    series: &[Series],
    reference: Option<f64>,
) -> Result<String> {
    ranged_bars(name, title, y_desc, categories, series, &[], reference)
}

/// A series' min–max range per category (None = no range), beside its [`Series`].
pub type Ranges = Vec<Option<(f64, f64)>>;

/// [`grouped_bars`] with a min–max whisker on each bar, Criterion-style:
/// `ranges[j]` belongs to `series[j]` (a series without one has no whiskers).
///
/// # Errors
/// [`Error::Plot`] when drawing fails.
pub fn ranged_bars(
    name: &str,
    title: &str,
    y_desc: &str,
    categories: &[String],
    series: &[Series],
    ranges: &[Ranges],
    reference: Option<f64>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw_bars(&root, title, y_desc, categories, series, ranges, reference)
            .map_err(err(name))?;
        root.present().map_err(|e| err(name)(e.to_string()))?;
    }
    Ok(svg)
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    categories: &[String],
    series: &[Series],
    ranges: &[Ranges],
    reference: Option<f64>,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (plot, side) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .chain(ranges.iter().flatten().flatten().map(|r| r.1))
        .chain(reference)
        .fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max * 1.15 } else { 1.0 };
    let n = categories.len().max(1);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, (FONT, 16))
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n as f64, 0.0..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_desc)
        .label_style((FONT, 12))
        .draw()
        .map_err(|e| e.to_string())?;
    let k = series.len().max(1) as f64;
    let width = 0.8 / k;
    for (j, s) in series.iter().enumerate() {
        let bars = s.values.iter().enumerate().filter_map(|(i, v)| {
            let v = (*v)?;
            let x0 = i as f64 + 0.1 + j as f64 * width;
            Some(Rectangle::new(
                [(x0, 0.0), (x0 + width * 0.9, v)],
                colour(&s.name).filled(),
            ))
        });
        chart.draw_series(bars).map_err(|e| e.to_string())?;
        // Whiskers: a vertical line from min to max with short caps.
        let whiskers = ranges
            .get(j)
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, r)| {
                let (lo, hi) = (*r)?;
                let mid = i as f64 + 0.1 + (j as f64 + 0.45) * width;
                let cap = width * 0.2;
                Some(PathElement::new(
                    vec![
                        (mid - cap, lo),
                        (mid + cap, lo),
                        (mid, lo),
                        (mid, hi),
                        (mid - cap, hi),
                        (mid + cap, hi),
                    ],
                    BLACK.stroke_width(1),
                ))
            });
        chart.draw_series(whiskers).map_err(|e| e.to_string())?;
    }
    if let Some(r) = reference {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, r), (n as f64, r)],
                BLACK.stroke_width(1),
            )))
            .map_err(|e| e.to_string())?;
    }
    category_labels(&plot, &chart, categories, 0.0)?;
    legend(&side, series)
}

/// Latency percentiles: one line per series over `categories` (p50 … max), log-scale y in µs.
///
/// # Errors
/// [`Error::Plot`] when drawing fails.
pub fn percentile_lines(
    name: &str,
    title: &str,
    categories: &[String],
    series: &[Series],
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw_lines(&root, title, categories, series).map_err(err(name))?;
        root.present().map_err(|e| err(name)(e.to_string()))?;
    }
    Ok(svg)
}

fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    categories: &[String],
    series: &[Series],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (plot, side) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let values = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .copied()
    };
    let max = values().fold(1.0_f64, f64::max) * 2.0;
    let min = values().fold(max, f64::min).max(1.0) / 2.0;
    let n = categories.len().max(1);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, (FONT, 16))
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n as f64, (min..max).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("round-trip latency (log scale)")
        .y_label_formatter(&|v| super::format::micros(v.round() as u64))
        .label_style((FONT, 12))
        .draw()
        .map_err(|e| e.to_string())?;
    for s in series {
        let points: Vec<(f64, f64)> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as f64 + 0.5, v.max(min))))
            .collect();
        let style = colour(&s.name).stroke_width(2);
        chart
            .draw_series(std::iter::once(PathElement::new(points.clone(), style)))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour(&s.name).filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    category_labels(&plot, &chart, categories, min)?;
    legend(&side, series)
}

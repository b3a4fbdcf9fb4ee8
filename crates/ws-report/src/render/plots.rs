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
/// than its slot (at about 7 px a character) makes every label wrap at its
/// ", " into lines, so that neighbouring labels never run into one another.
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
    let mut fits = (slot / 7).max(8);
    // Once one label has to wrap, every label breaks at each comma, so that
    // the same part of each condition sits on the same line.
    if categories.iter().any(|c| c.chars().count() > fits) {
        fits = 0;
    }
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

/// One plotted line: a server and its (x, y) points.
#[derive(Clone, Debug)]
pub struct Line {
    /// Server name (its colour follows the contender order).
    pub name: String,
    /// Points in x order.
    pub points: Vec<(f64, f64)>,
}

/// The powers of ten from below `min` to above `max`: the ticks of a log
/// axis. One tick a decade, so that no two ticks round to the same label
/// (plotters' own log ticks printed "10.0 ms" twice).
fn decades(min: f64, max: f64) -> (f64, f64, Vec<f64>) {
    let lo = 10f64.powf(min.max(1e-9).log10().floor());
    let hi = 10f64.powf(max.max(lo * 10.0).log10().ceil());
    let mut ticks = Vec::new();
    let mut t = lo;
    while t <= hi * 1.0001 {
        ticks.push(t);
        t *= 10.0;
    }
    (lo, hi, ticks)
}

/// One panel of log-scale latency lines: `x_ticks` label the x axis through
/// `x_label`; `threshold`, when given, is drawn as a dashed horizontal line.
struct Panel<'a> {
    title: &'a str,
    x_desc: &'a str,
    x_range: (f64, f64),
    x_ticks: Vec<f64>,
    x_label: &'a dyn Fn(&f64) -> String,
    lines: &'a [Line],
    threshold: Option<f64>,
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel<'_>,
    (y_lo, y_hi, y_ticks): &(f64, f64, Vec<f64>),
    y_desc: &str,
) -> Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, (FONT, 15))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            panel.x_range.0..panel.x_range.1,
            (*y_lo..*y_hi).log_scale().with_key_points(y_ticks.clone()),
        )
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_labels(0)
        .y_desc(y_desc)
        .y_label_formatter(&|v| super::format::micros(v.round() as u64))
        .label_style((FONT, 12))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    // The x ticks by hand: plotters' linear axis takes no chosen key points
    // with a formatter, and a spectrum's ticks are not evenly spaced.
    let tick = TextStyle::from((FONT, 12)).pos(Pos::new(HPos::Center, VPos::Top));
    // The chart answers in the backend's pixels, the area draws in its own.
    let (bx, by) = area.get_base_pixel();
    let at = |x: f64| {
        let (px, py) = chart.backend_coord(&(x, *y_lo));
        (px - bx, py - by)
    };
    for x in &panel.x_ticks {
        let (px, py) = at(*x);
        area.draw(&PathElement::new(vec![(px, py), (px, py + 4)], BLACK))
            .map_err(|e| e.to_string())?;
        area.draw(&Text::new((panel.x_label)(x), (px, py + 6), tick.clone()))
            .map_err(|e| e.to_string())?;
    }
    let (cx, cy) = at(f64::midpoint(panel.x_range.0, panel.x_range.1));
    area.draw(&Text::new(panel.x_desc.to_owned(), (cx, cy + 22), tick))
        .map_err(|e| e.to_string())?;
    if let Some(t) = panel.threshold {
        // Dashes: short segments along the threshold.
        let (x0, x1) = panel.x_range;
        let step = (x1 - x0) / 60.0;
        let dashes = (0..60).step_by(2).map(|i| {
            let a = x0 + f64::from(i) * step;
            PathElement::new(vec![(a, t), (a + step, t)], BLACK.stroke_width(1))
        });
        chart.draw_series(dashes).map_err(|e| e.to_string())?;
    }
    // Earlier lines wider, so that a line drawn over an identical one
    // still shows the colour beneath it.
    let k = u32::try_from(panel.lines.len()).unwrap_or(1);
    for (i, l) in (0u32..).zip(panel.lines) {
        let points: Vec<(f64, f64)> = l
            .points
            .iter()
            .map(|&(x, y)| (x, y.clamp(*y_lo, *y_hi)))
            .collect();
        let style = colour(&l.name).stroke_width((1 + k - i).min(5));
        chart
            .draw_series(std::iter::once(PathElement::new(points, style)))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The y range of every line, or 1 µs … 1 s without points.
fn y_extent<'a>(lines: impl Iterator<Item = &'a Line>, extra: Option<f64>) -> (f64, f64) {
    let ys: Vec<f64> = lines
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(extra)
        .filter(|y| *y > 0.0)
        .collect();
    if ys.is_empty() {
        return (1.0, 1e6);
    }
    (
        ys.iter().copied().fold(f64::INFINITY, f64::min),
        ys.iter().copied().fold(0.0, f64::max),
    )
}

/// Legend entries: the servers of `lines`, each once, in contender order.
fn legend_series<'a>(lines: impl Iterator<Item = &'a Line>) -> Vec<Series> {
    let mut names: Vec<String> = lines.map(|l| l.name.clone()).collect();
    names.sort_by_key(|n| contenders::order_key(n));
    names.dedup();
    names
        .into_iter()
        .map(|name| Series {
            name,
            values: Vec::new(),
        })
        .collect()
}

/// A timeline: side-by-side panels (`(panel title, lines)`) of a latency in
/// µs per second of the run, on one log-scale y axis, with `threshold` dashed.
///
/// # Errors
/// [`Error::Plot`] when drawing fails.
pub fn timeline(
    name: &str,
    title: &str,
    y_desc: &str,
    panels: &[(String, Vec<Line>)],
    threshold: Option<f64>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw_timeline(&root, title, y_desc, panels, threshold).map_err(err(name))?;
        root.present().map_err(|e| err(name)(e.to_string()))?;
    }
    Ok(svg)
}

fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    panels: &[(String, Vec<Line>)],
    threshold: Option<f64>,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (plot, side) = root.split_horizontally(WIDTH - LEGEND_WIDTH + 60);
    let plot = plot.titled(title, (FONT, 16)).map_err(|e| e.to_string())?;
    let (lo, hi) = y_extent(panels.iter().flat_map(|p| &p.1), threshold);
    let y = decades(lo, hi);
    let seconds = panels
        .iter()
        .flat_map(|p| &p.1)
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(1.0_f64, f64::max);
    let step = if seconds > 12.0 { 5.0 } else { 2.0 };
    let x_ticks: Vec<f64> = (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|t| *t <= seconds)
        .collect();
    let label = |v: &f64| format!("{v:.0} s");
    let areas = plot.split_evenly((1, panels.len().max(1)));
    for (area, (panel_title, lines)) in areas.iter().zip(panels) {
        draw_panel(
            area,
            &Panel {
                title: panel_title,
                x_desc: "second of the measured run",
                x_range: (0.0, seconds),
                x_ticks: x_ticks.clone(),
                x_label: &label,
                lines,
                threshold,
            },
            &y,
            y_desc,
        )?;
    }
    legend(&side, &legend_series(panels.iter().flat_map(|p| &p.1)))
}

/// The percentiles labelled on a spectrum's x axis.
const SPECTRUM_TICKS: [(f64, &str); 6] = [
    (0.5, "50"),
    (0.9, "90"),
    (0.99, "99"),
    (0.999, "99.9"),
    (0.9999, "99.99"),
    (0.99999, "99.999"),
];

/// Where percentile `p` (a fraction) sits on the 1/(1−p) axis: log10(1/(1−p)).
#[must_use]
pub fn spectrum_x(p: f64) -> f64 {
    -(1.0 - p).max(1e-12).log10()
}

/// HdrHistogram's percentile spectrum: latency (µs, log scale) against the
/// percentile on the 1/(1−p) scale, one line per server. Each line's points
/// are `(spectrum_x(p), µs)`.
///
/// # Errors
/// [`Error::Plot`] when drawing fails.
pub fn spectrum(name: &str, title: &str, lines: &[Line]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw_spectrum(&root, title, lines).map_err(err(name))?;
        root.present().map_err(|e| err(name)(e.to_string()))?;
    }
    Ok(svg)
}

fn draw_spectrum<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    lines: &[Line],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (plot, side) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let (lo, hi) = y_extent(lines.iter(), None);
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(spectrum_x(0.99), f64::max);
    let ticks: Vec<(f64, &str)> = SPECTRUM_TICKS
        .iter()
        .map(|&(p, l)| (spectrum_x(p), l))
        .filter(|(x, _)| *x <= x_max + 1e-9)
        .collect();
    let label = move |v: &f64| {
        ticks
            .iter()
            .find(|(x, _)| (x - v).abs() < 1e-6)
            .map_or_else(String::new, |(_, l)| (*l).to_owned())
    };
    let x_ticks = SPECTRUM_TICKS
        .iter()
        .map(|&(p, _)| spectrum_x(p))
        .filter(|x| *x <= x_max + 1e-9)
        .collect();
    draw_panel(
        &plot,
        &Panel {
            title,
            x_desc: "percentile (1/(1−p) scale)",
            x_range: (0.0, x_max),
            x_ticks,
            x_label: &label,
            lines,
            threshold: None,
        },
        &decades(lo, hi),
        "round-trip latency (log scale)",
    )?;
    legend(&side, &legend_series(lines.iter()))
}

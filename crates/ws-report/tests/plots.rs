//! No two horizontal labels of a generated plot overlap: checked over every
//! SVG the renderer draws for the synthetic results and for the committed
//! ones, and shown to catch the echo chart as it was before its condition
//! labels wrapped.

mod fixtures;

use std::path::Path;

use ws_report::render::{self, svgtext};

/// The overlapping label pairs of every plot `results` render to, by plot.
fn collisions(results: &Path, report: &Path) -> Vec<(String, Vec<(String, String)>)> {
    let rendered = render::render(results, report).expect("render");
    assert!(!rendered.plots.is_empty(), "no plots rendered");
    rendered
        .plots
        .iter()
        .map(|(name, svg)| (name.clone(), svgtext::overlaps(svg)))
        .filter(|(_, o)| !o.is_empty())
        .collect()
}

#[test]
fn the_old_echo_chart_fails_the_check() {
    let svg = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/plots/criterion-echo-pinned-before-wrap.svg"),
    )
    .expect("fixture");
    let found = svgtext::overlaps(&svg);
    assert!(
        found
            .iter()
            .any(|(a, b)| a.contains("in flight") || b.contains("in flight")),
        "{found:?}"
    );
}

#[test]
fn fixture_plots_have_no_overlapping_labels() {
    let root = fixtures::scratch("plots-overlap");
    let results = root.join("results");
    fixtures::results(&results);
    let bad = collisions(&results, &root.join("RESULTS.md"));
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn committed_plots_have_no_overlapping_labels() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let results = root.join("results");
    if !results.join("run.json").is_file() {
        eprintln!("no committed results/run.json yet: nothing to check");
        return;
    }
    let bad = collisions(&results, &root.join("RESULTS.md"));
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn latency_is_drawn_as_a_percentile_spectrum_and_the_stall_as_a_timeline() {
    let root = fixtures::scratch("plots-spectrum");
    let results = root.join("results");
    fixtures::results(&results);
    let rendered = render::render(&results, &root.join("RESULTS.md")).expect("render");
    let plot = |part: &str| {
        rendered
            .plots
            .iter()
            .find(|(name, _)| name.contains(part))
            .unwrap_or_else(|| panic!("no plot named *{part}*"))
    };
    let (name, svg) = plot("spectrum");
    assert!(
        rendered.markdown.contains(&format!("/{name})")),
        "{name} not linked"
    );
    // The 1/(1−p) axis, labelled at the percentiles HdrHistogram's plotter uses.
    let labels: Vec<String> = svgtext::labels(svg).into_iter().map(|l| l.text).collect();
    for tick in ["50", "90", "99", "99.9"] {
        assert!(
            labels.iter().any(|l| l == tick),
            "{tick} missing from {labels:?}"
        );
    }
    let (name, svg) = plot("timeline");
    assert!(
        rendered.markdown.contains(&format!("/{name})")),
        "{name} not linked"
    );
    let labels: Vec<String> = svgtext::labels(svg).into_iter().map(|l| l.text).collect();
    assert!(
        labels.iter().any(|l| l == "one member stalled"),
        "{labels:?}"
    );
    // The old charts are gone: eight bars at 100%, five flat percentile lines.
    assert!(
        !rendered
            .plots
            .iter()
            .any(|(n, _)| n == "slow-isolation.svg")
    );
}

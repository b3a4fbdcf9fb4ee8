//! The slow-consumer and slow-reader figures from interleaved repeats (the
//! synthetic results of `fixtures/mod.rs`, with [`fixtures::repeat_slow`]):
//! every cell is the median (min–max) over the repeats, a ratio is taken
//! within each repeat, and results with a single run still render as
//! single runs, marked † in the verdict.

mod fixtures;

use ws_report::render::{flush::Spread, format};

/// The fixture's report, its slow runs repeated or single.
fn report(name: &str, repeated: bool) -> String {
    fixtures::report_with(name, |results| {
        fixtures::slow_readers(results);
        if repeated {
            fixtures::repeat_slow(results);
        }
    })
}

/// The text of the section titled `title`, up to the next one.
fn section<'a>(md: &'a str, title: &str) -> &'a str {
    let start = md
        .find(&format!("\n### {title}\n"))
        .unwrap_or_else(|| panic!("no section {title}"));
    let rest = &md[start + 1..];
    let end = rest[4..].find("\n### ").map_or(rest.len(), |e| e + 5);
    &rest[..end]
}

fn row<'a>(text: &'a str, starts: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no row {starts:?} in {text}"))
}

fn verdict_row<'a>(md: &'a str, situation: &str) -> &'a str {
    row(md, &format!("| [{situation}]"))
}

/// `median (min–max)` of `values`, each written by `show`.
fn spread(values: &[f64], show: fn(f64) -> String) -> String {
    Spread::of(values).expect("values").show(show)
}

/// `f` of each repeat, in order.
fn per_repeat(f: impl Fn(u32) -> f64) -> Vec<f64> {
    (1..=fixtures::SLOW_REPEATS).map(f).collect()
}

fn micros(us: f64) -> String {
    format::micros(us.round() as u64)
}

#[test]
fn the_isolation_ratio_is_taken_within_each_repeat() {
    let md = report("slow-repeats-isolation", true);
    let s = section(&md, "Slow consumer isolation");
    assert!(s.contains("3 repeats interleaved"), "{s}");
    let tokio = row(s, "| `ws-tokio-mutex` |");
    let p99 = |stalled| per_repeat(|r| fixtures::slow_p99(0, stalled, Some(r)) as f64);
    let ratios: Vec<f64> = p99(true)
        .iter()
        .zip(p99(false))
        .map(|(s, b)| s / b)
        .collect();
    let within = spread(&ratios, format::ratio);
    assert_eq!(within, "0.50× (0.50×–3.00×)");
    assert!(tokio.contains(&format!("| {within} |")), "{tokio}");
    // Not the ratio of the medians, which the fixture makes 1.00×.
    assert!(!tokio.contains("1.00×"), "{tokio}");
    // Both p99s with their ranges, the frozen seconds too.
    assert!(tokio.contains(&spread(&p99(false), micros)), "{tokio}");
    assert!(tokio.contains(&spread(&p99(true), micros)), "{tokio}");
    let std = row(s, "| `ws-std-mutex` |");
    assert!(std.contains("| 1 (1–1) of 10 |"), "{std}");
    // The plot's lines are each server's median repeat: the fixture's
    // stalled p99s are 3, 1 and 2 times the base, so repeat 3.
    assert!(s.contains("`ws-tokio-mutex` repeat 3"), "{s}");
    // The verdict cell carries the range and so loses the single-run mark.
    let stalled = verdict_row(&md, "A client that stops reading");
    assert!(!stalled.contains('†'), "{stalled}");
    assert!(stalled.contains(&spread(&p99(true), micros)), "{stalled}");
    // The finding compares within the tie rule: the tokio room's ranges
    // with and without the stalled member overlap.
    let finding = md
        .lines()
        .find(|l| l.starts_with("- **When a client can stop reading**"))
        .expect("the finding");
    assert!(
        finding.contains(&format!(
            "`ws-tokio-mutex`: p99 {}, about the same as {} without it ({within} within each repeat)",
            spread(&p99(true), micros),
            spread(&p99(false), micros)
        )),
        "{finding}"
    );
    // The method names the repeated scenarios.
    assert!(md.contains("slow-consumer isolation, slow readers) run every server"));
}

#[test]
fn repeated_slow_readers_show_ranges_and_the_worst_pace_within_each_repeat() {
    let md = report("slow-repeats-readers", true);
    let s = section(&md, "Slow readers");
    assert!(s.contains("3 repeats interleaved"), "{s}");
    let half = row(s, "| 50% | `ws-tokio-mutex` |");
    let at_50 = per_repeat(|r| 2_000.0 * fixtures::sweep_factor(50, Some(r)) as f64);
    assert!(half.contains(&spread(&at_50, micros)), "{half}");
    assert!(half.contains("| yes |"), "{half}");
    // The detection cells: when the counter had risen, over the repeats.
    let by =
        per_repeat(|r| fixtures::detect_by_s(0, true).expect("fired") + 0.1 * f64::from(r - 1));
    let detection = row(s, "| `ws-tokio-mutex` |");
    assert!(
        detection.contains(&format!("by {}", spread(&by, |s| format::nanos(s * 1e9)))),
        "{detection}"
    );
    assert!(row(s, "| `ws-mpsc-writer` |").contains("none during the run"));
    // The verdict: the worst of the slower paces within each repeat (4, 4
    // and 1 times the base), then over the repeats.
    let worst = per_repeat(|r| {
        [50, 80]
            .map(|p| 2_000.0 * fixtures::sweep_factor(p, Some(r)) as f64)
            .into_iter()
            .fold(0.0, f64::max)
    });
    let cell = spread(&worst, micros);
    assert_eq!(cell, "8.00 ms (2.00 ms–8.00 ms)");
    let reader = verdict_row(&md, "A slow reader");
    assert!(reader.contains(&cell), "{reader}");
    assert!(!reader.contains('†'), "{reader}");
}

#[test]
fn single_runs_render_as_single_runs_marked_in_the_verdict() {
    let md = report("slow-repeats-single", false);
    let s = section(&md, "Slow consumer isolation");
    assert!(!s.contains("repeats interleaved"), "{s}");
    let tokio = row(s, "| `ws-tokio-mutex` |");
    let (b, st) = (
        fixtures::slow_p99(0, false, None),
        fixtures::slow_p99(0, true, None),
    );
    assert!(
        tokio.contains(&format!(
            "| {} | {} | {} | 0 of 10 |",
            format::micros(b),
            format::micros(st),
            format::ratio(st as f64 / b as f64)
        )),
        "{tokio}"
    );
    for situation in ["A client that stops reading", "A slow reader"] {
        let cells: Vec<&str> = verdict_row(&md, situation)
            .split(" | ")
            .skip(2)
            .filter(|c| !c.contains("n/a"))
            .collect();
        assert!(!cells.is_empty());
        for cell in cells {
            assert!(cell.contains('†'), "{situation}: {cell}");
            assert!(!cell.contains("–"), "{situation}: {cell}");
        }
    }
    assert!(!md.contains("slow-consumer isolation, slow readers) run every server"));
}

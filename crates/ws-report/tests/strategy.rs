//! "What each strategy saw (from its /metrics)" against the synthetic
//! results of `fixtures/mod.rs`: without saved `/metrics` the section says
//! so and rendering still works; with hand-written `.metrics.txt` files for
//! some runs, their figures appear in the rows of those runs only.

mod fixtures;

use std::path::Path;

use ws_report::layout::Layout;
use ws_report::render;

/// A lock-per-sink server: 1,000 acquisitions, 40 contended, all but one
/// of those within 16 µs (so the p99, the 40th, is in the 64 µs bucket).
const LOCK: &str = "\
ws_messages_sent_total 99000
ws_sink_lock_acquisitions_total 1000
ws_sink_lock_contended_total 40
ws_sink_lock_wait_seconds_sum 0.0004
ws_sink_lock_wait_seconds_count 40
ws_sink_lock_wait_seconds_bucket{le=\"1e-6\"} 0
ws_sink_lock_wait_seconds_bucket{le=\"4e-6\"} 30
ws_sink_lock_wait_seconds_bucket{le=\"1.6e-5\"} 39
ws_sink_lock_wait_seconds_bucket{le=\"6.4e-5\"} 40
ws_sink_lock_wait_seconds_bucket{le=\"+Inf\"} 40
ws_writer_queue_depth_sum 0.0
ws_writer_queue_depth_count 0
ws_writer_queue_depth_bucket{le=\"+Inf\"} 0
# EOF
";

/// A writer-task server: 400 flushes of 1,000 messages.
const QUEUE: &str = "\
ws_messages_sent_total 1000
ws_sink_lock_acquisitions_total 0
ws_writer_queue_depth_sum 1000.0
ws_writer_queue_depth_count 400
ws_writer_queue_depth_bucket{le=\"1.0\"} 100
ws_writer_queue_depth_bucket{le=\"2.0\"} 300
ws_writer_queue_depth_bucket{le=\"4.0\"} 390
ws_writer_queue_depth_bucket{le=\"8.0\"} 396
ws_writer_queue_depth_bucket{le=\"+Inf\"} 400
# EOF
";

/// A reference: nothing shared, everything at zero.
const REFERENCE: &str = "\
ws_messages_sent_total 5000
ws_sink_lock_acquisitions_total 0
ws_sink_lock_contended_total 0
ws_writer_queue_depth_sum 0.0
ws_writer_queue_depth_count 0
# EOF
";

fn section(md: &str) -> Option<&str> {
    md.split("\n### What each strategy saw (from its /metrics)\n")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
}

fn row<'a>(section: &'a str, server: &str, case: &str) -> &'a str {
    section
        .lines()
        .find(|l| l.starts_with(&format!("| `{server}` | {case} |")))
        .unwrap_or_else(|| panic!("no row for {server} {case} in\n{section}"))
}

fn render(results: &Path) -> String {
    render::render(results, &results.with_file_name("RESULTS.md"))
        .expect("render")
        .markdown
}

#[test]
fn without_saved_metrics_the_section_says_so() {
    let results = fixtures::scratch("strategy-none").join("results");
    fixtures::results(&results);
    let md = render(&results);
    let section = section(&md).expect("the section");
    assert!(section.contains("No run in these results has a saved `GET /metrics`"));
    assert!(!section.contains('|'), "no table without files:\n{section}");
    // It comes right after the slow-consumer section.
    let slow = md.find("\n### Slow consumer isolation\n").expect("slow");
    let strategy = md.find("\n### What each strategy saw").expect("strategy");
    let memory = md.find("\n### Memory\n").expect("memory");
    assert!(slow < strategy && strategy < memory);
}

#[test]
fn saved_metrics_fill_the_rows_of_their_runs() {
    let results = fixtures::scratch("strategy-some").join("results");
    fixtures::results(&results);
    let layout = Layout::new(&results);
    for (stem, text) in [
        ("slow/pinned/ws-tokio-mutex-baseline", LOCK),
        ("slow/pinned/ws-tokio-mutex-stalled", LOCK),
        ("slow/pinned/ws-mpsc-writer-baseline", QUEUE),
        ("slow/pinned/ws-mpsc-writer-stalled", QUEUE),
        ("slow/pinned/ws-ref-broadcast-stalled", REFERENCE),
        ("reliability/pinned/ws-mpsc-writer-flood-stalled", QUEUE),
    ] {
        std::fs::write(layout.run_metrics(stem), text).expect("write metrics");
    }
    let md = render(&results);
    let section = section(&md).expect("the section");

    // Lock figures, and "–" in the queue columns.
    assert_eq!(
        row(section, "ws-tokio-mutex", "baseline"),
        "| `ws-tokio-mutex` | baseline | 99,000 | 1,000 | 40 (4.0%) | 10.0 µs | ≤ 64.0 µs | – | – | – |"
    );
    // Queue figures: mean depth 2.50, the 396th of 400 flushes in the bucket up to 8.
    assert_eq!(
        row(section, "ws-mpsc-writer", "1 stalled"),
        "| `ws-mpsc-writer` | 1 stalled | 1,000 | – | – | – | – | 400 | 2.50 | ≤ 8 |"
    );
    // A reference reports none of them.
    assert_eq!(
        row(section, "ws-ref-broadcast", "1 stalled"),
        "| `ws-ref-broadcast` | 1 stalled | 5,000 | – | – | – | – | – | – | – |"
    );
    // A run without a file says so instead of failing.
    assert!(row(section, "ws-std-mutex", "baseline").contains("no /metrics saved"));
    // The sentence from the data, both cases of a server.
    assert!(
        section.contains("`ws-tokio-mutex` found a sink's lock held at 4.0% of its acquisitions in the baseline and 4.0% with 1 stalled member(s)"),
        "{section}"
    );
    assert!(
        section.contains("`ws-mpsc-writer`'s writer tasks wrote 2.50 message(s) per flush on average in the baseline and 2.50 with 1 stalled member(s)"),
        "{section}"
    );
    // The flood table, with the fixture's 3 stalled members.
    let flood = section
        .split("**Stalled-consumer flood**")
        .nth(1)
        .expect("flood table");
    assert!(row(flood, "ws-mpsc-writer", "3 stalled").contains("| 400 | 2.50 | ≤ 8 |"));
}

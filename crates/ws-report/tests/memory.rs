//! The memory section and the verdict's idle-connections row read repeated
//! runs as one figure per server, median (min–max), and single runs as
//! before.

mod fixtures;

use ws_report::contenders::CONTENDERS;
use ws_report::render::{flush::Spread, format};

fn report(name: &str, repeated: bool) -> String {
    fixtures::report_with(name, |results| {
        if repeated {
            fixtures::repeat_memory(results);
        }
    })
}

/// The rows of the memory table.
fn memory_rows(md: &str) -> Vec<&str> {
    md.split("\n### Memory\n")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("a memory section")
        .lines()
        .filter(|l| l.starts_with("| `"))
        .collect()
}

#[test]
fn repeated_memory_runs_make_one_row_per_server_with_their_range() {
    let md = report("memory-repeated", true);
    let rows = memory_rows(&md);
    assert_eq!(rows.len(), CONTENDERS.len(), "{rows:#?}");
    for (i, c) in CONTENDERS.iter().enumerate() {
        let row = rows
            .iter()
            .find(|r| r.starts_with(&format!("| `{}` |", c.name)))
            .unwrap_or_else(|| panic!("no row for {}", c.name));
        let values: Vec<f64> = (1..=fixtures::MEMORY_REPEATS)
            .map(|k| fixtures::rss_in_repeat(i, k))
            .collect();
        let spread = Spread::of(&values).expect("values");
        assert!(row.contains(&spread.show(format::bytes)), "{row}");
    }
    assert!(md.contains("3 repeats interleaved"), "the method says so");
    let verdict = md
        .lines()
        .find(|l| l.starts_with("| [Many idle connections]"))
        .expect("the memory row");
    assert!(
        !verdict.contains('†'),
        "repeated figures are not single runs: {verdict}"
    );
}

#[test]
fn single_memory_runs_still_read_as_one_run() {
    let md = report("memory-single", false);
    let rows = memory_rows(&md);
    assert_eq!(rows.len(), CONTENDERS.len(), "{rows:#?}");
    let cells: Vec<&str> = rows[0].split(" | ").collect();
    assert_eq!(
        cells.get(4).copied(),
        Some(format::bytes(fixtures::rss_per_conn(0)).as_str()),
        "the RSS per connection alone, no range: {}",
        rows[0]
    );
    assert!(md.contains("One run per server."));
}

#[test]
fn the_scale_columns_show_handshakes_heartbeat_cpu_and_a_labelled_extrapolation() {
    let md = report("memory-scale", false);
    let rows = memory_rows(&md);
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 10, "{row}");
        let mark = if fixtures::connects_generator_bound(i) {
            " ‡"
        } else {
            ""
        };
        assert_eq!(
            cells[5],
            format!("{}{mark}", format::count(2_000.0)),
            "handshakes/s, marked when the generator was the bottleneck: {row}"
        );
        assert_eq!(cells[7], format::percent(fixtures::hold_cpu(i)), "{row}");
        let extrapolated = f64::from(5u32 << 20) + 100_000.0 * fixtures::rss_per_conn(i);
        assert_eq!(cells[9], format::bytes(extrapolated), "{row}");
    }
    assert!(
        md.contains("an extrapolation of the measured slope, not a measurement"),
        "the extrapolation says what it is"
    );
}

//! The verdict opens the report: its table's marks and its Pick lines come
//! from the results (the synthetic ones of `fixtures/mod.rs`), repeated
//! figures carry their range, single runs are marked as such, and the
//! environment and method follow the results.

mod fixtures;

use ws_report::contenders::{CONTENDERS, ECHO_REFERENCE};
use ws_report::render::{self, flush::Spread, format};

/// The fixture's report.
fn report(name: &str) -> String {
    let root = fixtures::scratch(name);
    let results = root.join("results");
    fixtures::results(&results);
    render::render(&results, &root.join("RESULTS.md"))
        .expect("render")
        .markdown
}

/// The verdict's table rows and Pick lines.
fn verdict(md: &str) -> (Vec<&str>, Vec<&str>) {
    let body = md
        .split("## Verdict\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a verdict section");
    let rows = body.lines().filter(|l| l.starts_with("| [")).collect();
    let picks = body.lines().filter(|l| l.starts_with("- **")).collect();
    (rows, picks)
}

/// The strategies marked best in a table row.
fn marked(row: &str) -> Vec<&'static str> {
    let cells: Vec<&str> = row.split(" | ").collect();
    CONTENDERS
        .iter()
        .enumerate()
        .filter(|(i, c)| !c.reference && cells.get(i + 2).is_some_and(|c| c.contains('✓')))
        .map(|(_, c)| c.name)
        .collect()
}

#[test]
fn the_verdict_comes_first_and_how_it_was_measured_last() {
    let md = report("verdict-order");
    let at = |h: &str| md.find(h).unwrap_or_else(|| panic!("no {h}"));
    assert!(at("# Results\n") < at("## Verdict\n"));
    assert!(at("## Verdict\n") < at("## Results\n"));
    assert!(at("## Results\n") < at("### Latency\n"));
    assert!(at("### Latency\n") < at("## Environment\n"));
    assert!(at("## Environment\n") < at("## Method\n"));
    // The first screen: the verdict starts within a few lines of the title.
    assert!(md[..at("## Verdict\n")].lines().count() < 10);
}

#[test]
fn the_environment_says_how_much_cpu_the_host_took() {
    let md = report("verdict-steal");
    let row = md
        .lines()
        .find(|l| l.starts_with("| Hypervisor steal |"))
        .expect("a steal row in the environment");
    let median = format::percent(fixtures::steal("ws-ref-unsplit"));
    let worst = format::percent(fixtures::steal("ws-std-mutex"));
    assert!(
        row.contains(&format!("{median} of CPU time per run (median)")),
        "{row}"
    );
    assert!(row.contains(&format!("{worst} at most (`")), "{row}");
    assert!(
        row.contains("/ws-std-mutex-"),
        "the worst run is named: {row}"
    );
    assert!(
        row.contains(" run again (at most 1 time) because the host took more than 5.0%"),
        "the runs run again for steal are counted: {row}"
    );
}

#[test]
fn each_pick_line_names_the_strategies_its_row_marks() {
    let md = report("verdict-picks");
    let (rows, picks) = verdict(&md);
    assert!(rows.len() >= 5, "{rows:?}");
    assert!(picks.len() <= rows.len() + 1, "{picks:?}");
    assert!(
        picks
            .iter()
            .filter(|p| p.contains("**Any of the three**"))
            .count()
            <= 1,
        "the ties share one line: {picks:?}"
    );
    for row in &rows {
        let situation = row
            .split("](#")
            .next()
            .and_then(|s| s.strip_prefix("| ["))
            .expect("situation");
        let link = row.split("](").nth(1).and_then(|s| s.split(')').next());
        let best = marked(row);
        assert!(!best.is_empty(), "nothing marked in {row}");
        let pick = picks
            .iter()
            .find(|p| {
                link.is_some_and(|l| p.contains(&format!("]({l})"))) && {
                    // Two rows share a section: match on the row's situation words too.
                    let words = match situation {
                        "Request/reply" => "waits for its reply",
                        "Pipelined replies" => "pipelines",
                        _ => "",
                    };
                    p.contains(words)
                }
            })
            .unwrap_or_else(|| panic!("no pick line for {situation}"));
        if pick.contains("Any of the three") {
            assert_eq!(best.len(), 3, "{row}\n{pick}");
        } else {
            for name in CONTENDERS.iter().filter(|c| !c.reference).map(|c| c.name) {
                let named = pick
                    .split(" when ")
                    .next()
                    .is_some_and(|head| head.contains(&format!("`{name}`")));
                assert_eq!(named, best.contains(&name), "{name}: {row}\n{pick}");
            }
        }
    }
}

#[test]
fn repeated_figures_carry_their_range_and_single_runs_are_marked() {
    let md = report("verdict-ranges");
    let (rows, _) = verdict(&md);
    let row = |s: &str| {
        *rows
            .iter()
            .find(|r| r.starts_with(&format!("| [{s}]")))
            .unwrap_or_else(|| panic!("no row {s}"))
    };
    // Pipelined: the median ratio to the reference per repeat, with min–max.
    let reference = CONTENDERS
        .iter()
        .position(|c| c.name == ECHO_REFERENCE)
        .expect("reference");
    let inflight = fixtures::INFLIGHT[1];
    let spread = |i: usize| {
        let ratios: Vec<f64> = (1..=fixtures::REPEATS)
            .map(|r| {
                fixtures::throughput(i, "batched", inflight, r)
                    / fixtures::throughput(reference, "batched", inflight, r)
            })
            .collect();
        Spread::of(&ratios).expect("ratios")
    };
    let pipelined = row("Pipelined replies");
    let best = (0..3)
        .max_by(|a, b| spread(*a).median.total_cmp(&spread(*b).median))
        .expect("a strategy");
    let s = spread(best);
    let want = format!(
        "**{} ({}–{})** ✓",
        format::ratio(s.median),
        format::ratio(s.min),
        format::ratio(s.max)
    );
    assert!(pipelined.contains(&want), "{want} not in {pipelined}");
    assert!(marked(pipelined).contains(&CONTENDERS[best].name));
    assert!(!pipelined.contains('†'), "{pipelined}");
    // Memory: one run per server, so a single value marked as such.
    let memory = row("Many idle connections");
    assert!(
        memory.contains(&format!("{}†", format::bytes(fixtures::rss_per_conn(0)))),
        "{memory}"
    );
}

#[test]
fn the_stalled_member_finding_names_the_rooms_that_froze() {
    let md = report("verdict-stalled-sentence");
    let line = md
        .lines()
        .find(|l| l.starts_with("- **When a client can stop reading**"))
        .expect("the stalled-member finding");
    // The fixture's stalled runs: server i has i frozen seconds, so every
    // room but the first froze, and the first did not.
    assert!(
        line.contains(
            "every healthy member of a `ws-std-mutex`, `ws-mpsc-writer` or `ws-ref-broadcast` room waited up to"
        ),
        "{line}"
    );
    assert!(
        line.contains("`ws-std-mutex`: p99 1.00 s, 1 of 10 seconds frozen"),
        "{line}"
    );
    assert!(line.contains("with `ws-tokio-mutex` "), "{line}");
    assert!(!line.contains("gained the least"), "{line}");
}

#[test]
fn the_contention_row_compares_latency_at_the_highest_rate_a_strategy_carried() {
    let md = report("verdict-contention");
    let (rows, _) = verdict(&md);
    let row = rows
        .iter()
        .find(|r| r.starts_with("| [Many writers per socket]"))
        .expect("a contention row");
    // The highest synthetic rate that some strategy delivers whole.
    let members = fixtures::SATURATION_MEMBERS as f64;
    let top = fixtures::SATURATION_RATES
        .iter()
        .rev()
        .find(|&&rate| {
            CONTENDERS
                .iter()
                .enumerate()
                .filter(|(_, c)| c.rooms && !c.reference)
                .any(|(i, _)| {
                    fixtures::saturation_delivered(i, "batched", rate) >= f64::from(rate) * members
                })
        })
        .expect("a carried rate");
    let offered = f64::from(*top) * members;
    assert!(
        row.contains(&format!("{} deliveries/s offered", format::count(offered))),
        "{row}"
    );
    // A server that fell behind at that rate says how much it delivered,
    // and is not marked best.
    let cells: Vec<&str> = row.split(" | ").collect();
    for (i, c) in CONTENDERS
        .iter()
        .enumerate()
        .filter(|(_, c)| c.rooms && !c.reference)
    {
        let share = fixtures::saturation_delivered(i, "batched", *top) / offered;
        let cell = cells[i + 2];
        if share < 0.99 {
            assert!(
                cell.contains(&format!("delivered {}", format::percent(share))),
                "{}: {cell}",
                c.name
            );
            assert!(!marked(row).contains(&c.name), "{row}");
        } else {
            assert!(!cell.contains("<br>delivered"), "{}: {cell}", c.name);
        }
    }
}

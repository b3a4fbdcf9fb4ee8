//! Criterion in passes: `import-criterion` takes every `pinned-r<N>`
//! baseline (and still the single `pinned` of older results), and the report
//! takes each ratio within one pass, shows median (min–max) over the passes,
//! and drops the verdict's † once there is more than one pass.
//!
//! The fake Criterion output is generated here from [`time_ns`], with a
//! machine speed that changes from pass to pass and a per-server jitter, so
//! that a ratio taken across passes would differ from one taken within.

mod fixtures;

use std::path::Path;

use ws_report::contenders::{CONTENDERS, ROOM_REFERENCE};
use ws_report::manifest::Mode;
use ws_report::render::{self, flush::Spread, flush::ratio_spread};

/// The passes of the fake run.
const PASSES: [u32; 3] = [1, 2, 3];
/// The broadcast conditions of the fake run.
const CONDITIONS: [&str; 2] = ["10 members", "100 members"];

/// The room servers, in report order.
fn room_servers() -> impl Iterator<Item = (usize, &'static str)> {
    CONTENDERS
        .iter()
        .enumerate()
        .filter(|(_, c)| c.rooms)
        .map(|(i, c)| (i, c.name))
}

/// Nanoseconds per iteration of server `i` under `flush` in `condition`
/// and `pass`: the whole machine's speed varies by pass (as on a shared VM),
/// and each server by up to 80 % more, differently per server.
fn time_ns(i: usize, flush: &str, condition: usize, pass: u32) -> f64 {
    let speed = [1.0, 1.3, 0.8][(pass as usize - 1) % 3];
    let jitter = 1.0 + 0.2 * ((i * 2 + pass as usize) % 5) as f64;
    let naive = if flush == "each" {
        1.5 + 0.1 * i as f64
    } else {
        1.0
    };
    90_000.0 * (1.0 + condition as f64) * (1.0 + 0.25 * i as f64) * speed * jitter * naive
}

/// Criterion 0.8's two files for one benchmark under `root` (a fake
/// `target/criterion`), in baseline `baseline`.
fn write_bench(root: &Path, function: &str, condition: &str, baseline: &str, ns: f64) {
    fixtures::criterion_bench(root, "broadcast", function, condition, baseline, ns);
}

/// A fake `target/criterion`: every room server under both policies in
/// every condition, once per pass in `passes` (`None`: the single `pinned`
/// baseline of older results), plus Criterion's own `new` that must be ignored.
fn criterion_dir(root: &Path, passes: &[Option<u32>]) {
    for (c, condition) in CONDITIONS.iter().enumerate() {
        for (i, name) in room_servers() {
            for flush in ["each", "batched"] {
                let function = format!("{name}/{flush}");
                for pass in passes {
                    let baseline =
                        pass.map_or_else(|| "pinned".to_owned(), |n| format!("pinned-r{n}"));
                    write_bench(
                        root,
                        &function,
                        condition,
                        &baseline,
                        time_ns(i, flush, c, pass.unwrap_or(1)),
                    );
                }
                write_bench(root, &function, condition, "new", 1.0);
            }
        }
    }
}

/// Imports `passes` into a fresh results directory and renders it.
fn render_passes(name: &str, passes: &[Option<u32>]) -> String {
    let root = fixtures::scratch(name);
    let target = root.join("target-criterion");
    criterion_dir(&target, passes);
    let results = root.join("results");
    ws_report::criterion::import(&target, &results.join("criterion"), &[]).expect("import");
    render::render(&results, &root.join("RESULTS.md"))
        .expect("render")
        .markdown
}

fn reference_index() -> usize {
    CONTENDERS
        .iter()
        .position(|c| c.name == ROOM_REFERENCE)
        .expect("the room reference")
}

/// Server `i`'s throughput ratio to the reference in `condition`, within each pass.
fn ratios_within(i: usize, flush: &str, condition: usize) -> Spread {
    let r = reference_index();
    let ratios: Vec<f64> = PASSES
        .iter()
        .map(|&p| time_ns(r, "batched", condition, p) / time_ns(i, flush, condition, p))
        .collect();
    Spread::of(&ratios).expect("ratios")
}

/// The verdict table's row for `situation`.
fn verdict_row<'a>(md: &'a str, situation: &str) -> &'a str {
    md.lines()
        .find(|l| l.starts_with(&format!("| [{situation}]")))
        .unwrap_or_else(|| panic!("no verdict row {situation}"))
}

#[test]
fn import_takes_every_pass_and_drops_stale_ones() {
    let root = fixtures::scratch("passes-import");
    let target = root.join("target-criterion");
    criterion_dir(&target, &PASSES.map(Some));
    let out = root.join("results/criterion");
    // A pass from an earlier run of more passes must not survive the import.
    let stale = out.join("pinned-r4/broadcast/x/y");
    std::fs::create_dir_all(&stale).expect("mkdir");
    let imported = ws_report::criterion::import(&target, &out, &[]).expect("import");
    let per_pass = CONDITIONS.len() * room_servers().count() * 2;
    assert_eq!(
        imported,
        vec![
            ("pinned".to_owned(), 0),
            ("pinned-r1".to_owned(), per_pass),
            ("pinned-r2".to_owned(), per_pass),
            ("pinned-r3".to_owned(), per_pass),
            ("unpinned".to_owned(), 0),
        ]
    );
    assert!(!out.join("pinned-r4").exists(), "the stale pass was kept");
    assert!(!out.join("new").exists());
    let benches = ws_report::criterion::load(&ws_report::layout::Layout::new(root.join("results")))
        .expect("load");
    assert_eq!(benches.len(), 3 * per_pass);
    for pass in PASSES {
        let b = benches
            .iter()
            .find(|b| {
                b.repeat == Some(pass)
                    && b.contender() == "ws-std-mutex/each"
                    && b.condition() == CONDITIONS[1]
            })
            .unwrap_or_else(|| panic!("pass {pass} of ws-std-mutex/each"));
        let i = CONTENDERS
            .iter()
            .position(|c| c.name == "ws-std-mutex")
            .expect("ws-std-mutex");
        assert_eq!(b.mode, Mode::Pinned);
        assert_eq!(
            b.estimates.typical().point_estimate,
            time_ns(i, "each", 1, pass)
        );
    }
}

#[test]
fn the_old_single_baseline_loads_without_a_pass() {
    let root = fixtures::scratch("passes-old-layout");
    let target = root.join("target-criterion");
    criterion_dir(&target, &[None]);
    let out = root.join("results/criterion");
    ws_report::criterion::import(&target, &out, &[]).expect("import");
    let benches = ws_report::criterion::load(&ws_report::layout::Layout::new(root.join("results")))
        .expect("load");
    assert!(!benches.is_empty());
    assert!(
        benches
            .iter()
            .all(|b| b.repeat.is_none() && b.mode == Mode::Pinned)
    );
}

#[test]
fn baseline_names_parse_to_mode_and_pass() {
    use ws_report::criterion::{baseline_name, parse_baseline};
    assert_eq!(parse_baseline("pinned"), Some((Mode::Pinned, None)));
    assert_eq!(parse_baseline("pinned-r2"), Some((Mode::Pinned, Some(2))));
    assert_eq!(
        parse_baseline("unpinned-r13"),
        Some((Mode::Unpinned, Some(13)))
    );
    for not in [
        "new",
        "base",
        "pinned-r",
        "pinned-r0",
        "pinned-rx",
        "pinned-r+1",
        "pinned-2",
    ] {
        assert_eq!(parse_baseline(not), None, "{not}");
    }
    assert_eq!(baseline_name(Mode::Pinned, Some(3)), "pinned-r3");
    assert_eq!(baseline_name(Mode::Unpinned, None), "unpinned");
}

#[test]
fn ratios_are_taken_within_each_pass() {
    let md = render_passes("passes-ratios", &PASSES.map(Some));
    let r = reference_index();
    for (c, condition) in CONDITIONS.iter().enumerate() {
        let heading = format!("#### `broadcast` · {condition} · pinned");
        let table = md
            .split(&heading)
            .nth(1)
            .unwrap_or_else(|| panic!("no table {heading}"))
            .split("\n\n")
            .nth(1)
            .expect("the table");
        assert!(table.contains("min–max of 3 passes"), "{table}");
        for (i, name) in room_servers() {
            for flush in ["each", "batched"] {
                let want = ratios_within(i, flush, c);
                let row = table
                    .lines()
                    .find(|l| l.starts_with(&format!("| `{name}/{flush}` |")))
                    .unwrap_or_else(|| panic!("no row {name}/{flush}"));
                // The reference's own ratio is 1.00× in every pass, shown without a range.
                let shown = if i == r && flush == "batched" {
                    ws_report::render::format::ratio(want.median)
                } else {
                    ratio_spread(&want)
                };
                assert!(row.ends_with(&format!("| {shown} |")), "{row}");
                // The fixture must tell the two apart: the ratio of the
                // median times, taken across passes, is another number.
                if i != r {
                    let times = |k, f| {
                        let v: Vec<f64> = PASSES.iter().map(|&p| time_ns(k, f, c, p)).collect();
                        Spread::of(&v).expect("times").median
                    };
                    let across = times(r, "batched") / times(i, flush);
                    assert_ne!(
                        ws_report::render::format::ratio(across),
                        ws_report::render::format::ratio(want.median),
                        "{name}/{flush}"
                    );
                }
            }
        }
    }
    // The flush gain: each over batched, within each pass.
    let (i, name) = room_servers().next().expect("a room server");
    let gains: Vec<f64> = PASSES
        .iter()
        .map(|&p| time_ns(i, "each", 0, p) / time_ns(i, "batched", 0, p))
        .collect();
    let gain = ratio_spread(&Spread::of(&gains).expect("gains"));
    let gains_table = md
        .split("`broadcast` (time with `each` / time with `batched`)")
        .nth(1)
        .expect("the broadcast gain table");
    let row = gains_table
        .lines()
        .find(|l| l.starts_with(&format!("| `{name}` |")))
        .expect("a gain row");
    assert!(row.contains(&gain), "{row} lacks {gain}");
    assert!(
        md.contains("Criterion ran in 3 passes"),
        "the gain tables say so"
    );
    assert!(!md.contains("Each Criterion figure is one process"));
    assert!(
        md.contains("Criterion ran pinned in 3 passes"),
        "the Method says so"
    );
}

#[test]
fn the_fan_out_row_has_a_range_with_passes_and_a_dagger_without() {
    let md = render_passes("passes-verdict", &PASSES.map(Some));
    let row = verdict_row(&md, "Fan-out to a room");
    assert!(!row.contains('†'), "{row}");
    // The geometric mean over the conditions, pass by pass.
    let (i, _) = room_servers().next().expect("a room server");
    let r = reference_index();
    let means: Vec<f64> = PASSES
        .iter()
        .map(|&p| {
            let ln: f64 = (0..CONDITIONS.len())
                .map(|c| (time_ns(r, "batched", c, p) / time_ns(i, "batched", c, p)).ln())
                .sum();
            (ln / CONDITIONS.len() as f64).exp()
        })
        .collect();
    let want = ratio_spread(&Spread::of(&means).expect("means"));
    assert!(row.contains(&want), "{want} not in {row}");

    let single = render_passes("passes-verdict-single", &[None]);
    let row = verdict_row(&single, "Fan-out to a room");
    assert!(row.contains('†'), "{row}");
    assert!(single.contains("Each Criterion figure is one process"));
    assert!(single.contains("Criterion ran pinned in one process"));
}

#[test]
fn a_group_in_fewer_passes_is_not_called_repeated() {
    let root = fixtures::scratch("passes-uneven");
    let target = root.join("target-criterion");
    criterion_dir(&target, &PASSES.map(Some));
    // `echo` in the first pass only, as after a pass cut short.
    for (i, c) in CONTENDERS.iter().enumerate() {
        let function = format!("{}/batched", c.name);
        let ns = 40_000.0 * (1.0 + 0.1 * i as f64);
        fixtures::criterion_bench(&target, "echo", &function, "64B x 1 conn", "pinned-r1", ns);
    }
    let results = root.join("results");
    ws_report::criterion::import(&target, &results.join("criterion"), &[]).expect("import");
    let md = render::render(&results, &root.join("RESULTS.md"))
        .expect("render")
        .markdown;
    let intro = |group: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("Criterion group `{group}`")))
            .unwrap_or_else(|| panic!("no intro for {group}"))
            .to_owned()
    };
    assert!(
        intro("broadcast").contains("each of 3 Criterion passes"),
        "{}",
        intro("broadcast")
    );
    assert!(!intro("echo").contains("passes"), "{}", intro("echo"));
    let echo_table = md
        .split("#### `echo` · 64B x 1 conn · pinned")
        .nth(1)
        .expect("the echo table");
    let header = echo_table.lines().nth(2).expect("the header");
    assert!(header.starts_with("| Server |"), "{header}");
    assert!(!header.contains("passes"), "{header}");
}

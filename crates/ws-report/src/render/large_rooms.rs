//! "Large rooms": one member sending into a room of thousands on every room
//! server: deliveries per second, fan-out latency, the server's CPU per
//! delivery (the strategy's cost, with its ratio to the room reference
//! taken within each repeat) and the generator's, from which its own
//! receive limit follows.

use super::Ctx;
use super::data::Run;
use super::flush::{GENERATOR_BOUND, Spread};
use super::format;
use super::scenarios::failed;
use super::table::{Align, Table};
use crate::collect::plan::LARGE_ROOM;
use crate::contenders::{CONTENDERS, ROOM_REFERENCE};
use crate::loadgen::RoomResult;

/// The server's CPU seconds per delivery in the measured window, in µs.
fn server_us_per_delivery(r: &RoomResult) -> Option<f64> {
    let cpu = r.server.as_ref()?.measured_cpu_seconds?;
    (r.deliveries > 0).then(|| cpu * 1e6 / r.deliveries as f64)
}

/// The generator's CPU seconds per delivery it received, in µs.
fn generator_us_per_delivery(r: &RoomResult) -> Option<f64> {
    let cpu = r.generator.cpu_seconds?;
    let total = r.deliveries_total?;
    (total > 0).then(|| cpu * 1e6 / total as f64)
}

/// The room size a run's case names (`large-room-5000`).
fn members_of(run: &Run<RoomResult>) -> Option<usize> {
    run.record.case.strip_prefix(LARGE_ROOM)?.parse().ok()
}

/// The runs of one server at one room size, failed ones included.
fn runs_at<'a>(
    runs: &'a [Run<RoomResult>],
    server: &'a str,
    members: usize,
) -> impl Iterator<Item = &'a Run<RoomResult>> {
    runs.iter()
        .filter(move |r| r.record.server == server && members_of(r) == Some(members))
}

/// The successful runs of one server at one room size: (repeat, result).
fn runs_of<'a>(
    runs: &'a [Run<RoomResult>],
    server: &'a str,
    members: usize,
) -> Vec<(u32, &'a RoomResult)> {
    runs_at(runs, server, members)
        .filter(|r| r.record.error.is_none())
        .filter_map(|r| Some((r.record.repeat.unwrap_or(1), r.result.as_ref()?)))
        .collect()
}

/// The median (min–max) of `figure` over `runs`, or "–".
fn spread_of(
    runs: &[(u32, &RoomResult)],
    figure: fn(&RoomResult) -> Option<f64>,
    unit: fn(f64) -> String,
) -> (String, Option<Spread>) {
    let spread = Spread::of(
        &runs
            .iter()
            .filter_map(|(_, r)| figure(r))
            .collect::<Vec<_>>(),
    );
    (spread.map_or_else(|| "–".into(), |s| s.show(unit)), spread)
}

/// µs with two significant decimals where they matter.
fn micros_f(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.2} µs")
    } else {
        format!("{us:.1} µs")
    }
}

/// The section; empty when the results hold no large-room runs.
pub fn section(ctx: &Ctx<'_>) -> String {
    let runs = &ctx.data.large_rooms;
    let Some(first) = runs.iter().find_map(|r| r.result.as_ref()) else {
        return String::new();
    };
    let mut sizes: Vec<usize> = runs.iter().filter_map(members_of).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut t = Table::new(&[
        ("Members", Align::Right),
        ("Server", Align::Left),
        ("Deliveries/s (delivered)", Align::Right),
        ("Fan-out p50", Align::Right),
        ("Fan-out p99", Align::Right),
        ("Server CPU per delivery", Align::Right),
        ("… ÷ `ws-ref-broadcast`", Align::Right),
        ("Generator CPU per delivery", Align::Right),
    ]);
    let mut limited = false;
    let mut generator_limits = Vec::new();
    let mut costs = Vec::new();
    for &members in &sizes {
        let reference = runs_of(runs, ROOM_REFERENCE, members);
        let per_repeat = |of: &[(u32, &RoomResult)]| -> Vec<(u32, f64)> {
            of.iter()
                .filter_map(|(repeat, r)| Some((*repeat, server_us_per_delivery(r)?)))
                .collect()
        };
        for contender in CONTENDERS.iter().filter(|c| c.rooms) {
            let mine = runs_of(runs, contender.name, members);
            let mut row = vec![
                format::count(members as f64),
                format!("`{}`", contender.name),
            ];
            if mine.is_empty() {
                if let Some(run) = runs_at(runs, contender.name, members).next() {
                    row.push(failed(run));
                    t.row(row);
                }
                continue;
            }
            let bound = mine.iter().any(|(_, r)| r.generator.bottleneck);
            limited |= bound;
            let delivered = Spread::of(
                &mine
                    .iter()
                    .filter(|(_, r)| r.expected_deliveries > 0)
                    .map(|(_, r)| r.deliveries as f64 / r.expected_deliveries as f64)
                    .collect::<Vec<_>>(),
            );
            // The offered rate is the same in every run: a range only when
            // some run fell short of it.
            let (rate, spread) = spread_of(&mine, |r| Some(r.deliveries_per_s), format::count);
            let rate = match spread {
                Some(s) if s.min == s.max => format::count(s.median),
                _ => rate,
            };
            row.push(format!(
                "{rate} ({})",
                delivered.map_or_else(|| "–".into(), |d| format::percent(d.median))
            ));
            let mark = if bound {
                format!(" {GENERATOR_BOUND}")
            } else {
                String::new()
            };
            let (p50, _) = spread_of(
                &mine,
                |r| Some(r.latency.with_undelivered.p50_us as f64),
                |us| format::micros(us as u64),
            );
            let (p99, _) = spread_of(
                &mine,
                |r| Some(r.latency.with_undelivered.p99_us as f64),
                |us| format::micros(us as u64),
            );
            row.push(p50 + &mark);
            row.push(p99 + &mark);
            row.push(spread_of(&mine, server_us_per_delivery, micros_f).0);
            let ratio = Spread::of_ratios(per_repeat(&mine), &per_repeat(&reference))
                .filter(|_| contender.name != ROOM_REFERENCE);
            if let Some(r) = ratio {
                costs.push((members, contender.name, r));
            }
            row.push(ratio.map_or_else(|| "–".into(), |s| super::flush::ratio_spread(&s)));
            let (generator, spread) = spread_of(&mine, generator_us_per_delivery, micros_f);
            row.push(generator);
            if let Some(s) = spread {
                generator_limits.push((members, s.median));
            }
            t.row(row);
        }
    }
    let mut out = String::from("### Large rooms\n\n");
    out.push_str(&format!(
        "`ws-loadgen room`, pinned: one room of each size on every room server (default flags), one member sending {} B \
         messages, open loop, at {} deliveries/s in all ({} messages/s to the smallest room); {} measured after {} of warm-up. \
         Each cell is the median (min–max) over the memory repeats, each run a fresh server process. \
         *Fan-out* latency runs from a message's intended send time to each member's receipt of it, undelivered messages counted at the drain bound. \
         *Server CPU per delivery* is the server's CPU time in the measured window over the deliveries of the messages sent in it: \
         what the strategy spends to put one message on one member's socket; its ratio to `{ROOM_REFERENCE}` is taken within each repeat (below 1.00× is cheaper). \
         *Generator CPU per delivery* is the generator's CPU time over every delivery it read after the room settled: \
         one core of it reads at most the inverse of that.{}\n\n",
        first.config.size,
        format::count(first.config.rate.unwrap_or(0.0) * first.config.conns as f64),
        format::count(first.config.rate.unwrap_or(0.0)),
        seconds(first.config.duration.as_deref()),
        seconds(first.config.warmup.as_deref()),
        if limited {
            " ‡: in at least one run the generator was the bottleneck (its sender late on its schedule or its CPU near 100 %): \
             that latency is partly the generator's."
        } else {
            ""
        },
    ));
    out.push_str(&finding(&costs));
    out.push_str(&t.render());
    out.push('\n');
    out.push_str(&generator_limit(&generator_limits));
    out
}

/// A humantime duration as the report writes times (`2.50 s`).
fn seconds(humantime: Option<&str>) -> String {
    humantime
        .and_then(|d| humantime::parse_duration(d).ok())
        .map_or_else(|| "?".into(), |d| format::nanos(d.as_nanos() as f64))
}

/// The finding, from the ratios of the server's CPU per delivery to the
/// reference's: which strategies cost more or less per delivery in every
/// repeat, or that none did.
fn finding(costs: &[(usize, &str, Spread)]) -> String {
    if costs.is_empty() {
        return String::new();
    }
    let apart: Vec<String> = costs
        .iter()
        .filter(|(_, _, s)| s.min > 1.0 || s.max < 1.0)
        .map(|(members, server, s)| {
            format!(
                "`{server}` spent {} server CPU per delivery than `{ROOM_REFERENCE}` with {} members ({})",
                if s.min > 1.0 { "more" } else { "less" },
                format::count(*members as f64),
                super::flush::ratio_spread(s)
            )
        })
        .collect();
    if apart.is_empty() {
        format!(
            "**Finding**: every strategy's server CPU per delivery has a range that includes `{ROOM_REFERENCE}`'s (1.00×) at every size: \
             in a large room the cost is the write to each member's socket, whichever way the sink is shared.\n\n"
        )
    } else {
        format!(
            "**Finding**: in every repeat, {}; the others' ranges include 1.00×.\n\n",
            apart.join("; ")
        )
    }
}

/// What the generator's CPU per delivery means at each size: the deliveries
/// per second one core of it can read, and how long it takes to read one
/// message's fan-out to every member, the part of a fan-out latency that
/// is the generator's.
fn generator_limit(limits: &[(usize, f64)]) -> String {
    let mut sizes: Vec<usize> = limits.iter().map(|(m, _)| *m).collect();
    sizes.dedup();
    let parts: Vec<String> = sizes
        .iter()
        .filter_map(|&members| {
            let us: Vec<f64> = limits
                .iter()
                .filter(|(m, _)| *m == members)
                .map(|(_, us)| *us)
                .collect();
            let s = Spread::of(&us)?;
            Some(format!(
                "with {} members about {} deliveries/s ({}–{} over the servers' runs), \
                 so reading one message's fan-out to all of them takes it about {}",
                format::count(members as f64),
                format::count(1e6 / s.median),
                format::count(1e6 / s.max),
                format::count(1e6 / s.min),
                format::nanos(s.median * 1e3 * members as f64),
            ))
        })
        .collect();
    if parts.is_empty() {
        return String::new();
    }
    format!(
        "**The generator's own receive limit**, from its CPU per delivery: one core of it reads {}. \
         A fan-out latency near that is the generator's reading, not the server's writing; \
         the server's CPU per delivery compares the strategies.\n\n",
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Mode, RunRecord, Scenario};
    use crate::render::data::Data;

    /// A run of `server` in `repeat`: a room of `members`, 10,000 measured
    /// deliveries, the server's CPU in the window `server_cpu` seconds and
    /// the generator's 0.5 s over 50,000 deliveries (10 µs each).
    fn run(server: &str, members: usize, repeat: u32, server_cpu: f64) -> Run<RoomResult> {
        let summary = |p: u64| {
            serde_json::json!({"count": 10_000, "mean_us": 1.0, "p50_us": p / 2, "p90_us": p,
                "p99_us": p, "p99_9_us": p, "p99_99_us": p, "max_us": p})
        };
        let result = serde_json::from_value(serde_json::json!({
            "lost": 0, "duplicated": 0, "reordered": 0, "corrupted": 0, "close_codes": {}, "dropped_connections": 0,
            "config": {"conns": members, "size": 64, "rate": 2.0, "duration": "2500ms", "warmup": "500ms"},
            "senders": 1, "duration_s": 2.5, "deliveries": 10_000, "expected_deliveries": 10_000,
            "deliveries_per_s": 4_000.0, "deliveries_total": 50_000,
            "latency": {"delivered": summary(80_000), "with_undelivered": summary(80_000),
                        "undelivered": 0, "drain_bound_us": 2_000_000},
            "generator": {"threads": 1, "cpu_seconds": 0.5, "cpu_utilization": 0.3, "bottleneck": false},
            "server": {"baseline_rss_bytes": 1, "peak_rss_bytes": 2, "rss_per_connection_bytes": null,
                       "cpu_seconds": 9.0, "cpu_cores_used": 0.9, "measured_cpu_seconds": server_cpu}
        }))
        .expect("a room result");
        Run {
            record: RunRecord {
                scenario: Scenario::Memory,
                server: server.into(),
                mode: Mode::Pinned,
                stem: format!("memory/pinned/{server}-{members}-r{repeat}"),
                case: format!("{}{members}", crate::collect::plan::LARGE_ROOM),
                rate: None,
                server_command: Vec::new(),
                load_command: Vec::new(),
                error: None,
                server_panics: None,
                flush: None,
                repeat: Some(repeat),
                steal: None,
                steal_retries: None,
                shutdown: None,
            },
            result: Some(result),
        }
    }

    fn render(runs: Vec<Run<RoomResult>>) -> String {
        let data = Data {
            large_rooms: runs,
            ..Data::default()
        };
        section(&Ctx {
            data: &data,
            results_link: "results".into(),
            plots: Vec::new(),
        })
    }

    fn row<'a>(md: &'a str, members: &str, server: &str) -> &'a str {
        md.lines()
            .find(|l| l.starts_with(&format!("| {members} | `{server}`")))
            .unwrap_or_else(|| panic!("no row for {server} at {members}:\n{md}"))
    }

    #[test]
    fn no_runs_no_section() {
        assert_eq!(render(Vec::new()), "");
    }

    #[test]
    fn server_cost_per_delivery_is_compared_to_the_reference_within_each_repeat() {
        // 0.02 s over 10,000 deliveries: 2.00 µs. The reference takes 0.01 s
        // in repeat 1 and 0.04 s in repeat 2, the mutex 0.02 s in both: a
        // ratio of drifting medians would say 0.80×, within each repeat it
        // is 2.00× and 0.50×, median 1.25×.
        let md = render(vec![
            run(ROOM_REFERENCE, 15_000, 1, 0.01),
            run("ws-tokio-mutex", 15_000, 1, 0.02),
            run(ROOM_REFERENCE, 15_000, 2, 0.04),
            run("ws-tokio-mutex", 15_000, 2, 0.02),
        ]);
        let mutex = row(&md, "15,000", "ws-tokio-mutex");
        assert!(mutex.contains("2.00 µs"), "{mutex}");
        assert!(mutex.contains("1.25× (0.50×–2.00×)"), "{mutex}");
        assert!(
            mutex.contains("10.0 µs"),
            "generator µs per delivery: {mutex}"
        );
        let reference = row(&md, "15,000", ROOM_REFERENCE);
        assert!(
            reference.contains("| – |"),
            "no ratio to itself: {reference}"
        );
    }

    #[test]
    fn the_generator_limit_follows_from_its_cpu_per_delivery() {
        let md = render(vec![run(ROOM_REFERENCE, 15_000, 1, 0.01)]);
        // 10 µs a delivery: 100,000 a second, 150 ms for 15,000 of them.
        assert!(
            md.contains("with 15,000 members about 100,000 deliveries/s"),
            "{md}"
        );
        assert!(md.contains("150 ms"), "{md}");
        assert!(!md.contains('‡'), "no run was generator bound: {md}");
    }
}

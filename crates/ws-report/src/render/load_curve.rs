//! "Latency against load": open-loop echo latency at fractions of each
//! server's closed-loop maximum measured in the same repeat and flush mode
//! (the view wrk2 users expect: where each strategy's knee is), and at one
//! fixed offered rate. Every figure is the median of the interleaved
//! repeats with their min–max; a run whose generator could not keep its
//! schedule is counted beside it, since its latency describes the generator.
//!
//! The section is left out when the results hold no load-curve runs (results
//! collected before the scenario existed), so that those still render to
//! the report committed with them.

use super::Ctx;
use super::data::Run;
use super::flush::Spread;
use super::format;
use super::plots::{self, Ranges, Series};
use super::table::{Align, Table};
use crate::Result;
use crate::collect::plan::LOAD_CASE;
use crate::contenders::{CONTENDERS, ECHO_REFERENCE, FLUSH_MODES};
use crate::loadgen::EchoResult;

/// One point of the curve: a load level (percent of the maximum) or a fixed rate.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Point {
    Level(u32),
    Fixed(f64),
}

impl Point {
    /// The point a run's case (`batched-load-80`, `each-rate-20000`) names.
    fn of(run: &Run<EchoResult>) -> Option<Self> {
        let case = &run.record.case;
        if let Some((_, level)) = case.split_once(LOAD_CASE) {
            return level.parse().ok().map(Self::Level);
        }
        run.record.rate.map(Self::Fixed)
    }

    fn label(self) -> String {
        match self {
            Self::Level(l) => format!("{l}%"),
            Self::Fixed(r) => format::rate(r),
        }
    }
}

/// The successful runs of one server, mode and point: one per repeat.
fn results<'a>(
    runs: &'a [Run<EchoResult>],
    server: &str,
    flush: &str,
    point: Point,
) -> Vec<&'a EchoResult> {
    runs.iter()
        .filter(|r| {
            r.record.server == server
                && r.record.flush.as_deref() == Some(flush)
                && Point::of(r) == Some(point)
        })
        .filter_map(|r| r.result.as_ref())
        .collect()
}

/// The load levels present, ascending.
fn levels(runs: &[Run<EchoResult>]) -> Vec<u32> {
    let mut levels: Vec<u32> = runs
        .iter()
        .filter_map(|r| match Point::of(r) {
            Some(Point::Level(l)) => Some(l),
            _ => None,
        })
        .collect();
    levels.sort_unstable();
    levels.dedup();
    levels
}

/// The fixed rates present, ascending.
pub(crate) fn fixed_rates(runs: &[Run<EchoResult>]) -> Vec<f64> {
    let mut rates: Vec<f64> = runs
        .iter()
        .filter_map(|r| match Point::of(r) {
            Some(Point::Fixed(rate)) => Some(rate),
            _ => None,
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    rates
}

fn spread(results: &[&EchoResult], f: impl Fn(&EchoResult) -> Option<f64>) -> Option<Spread> {
    let values: Option<Vec<f64>> = results.iter().map(|r| f(r)).collect();
    Spread::of(&values?)
}

/// `64 µs (58 µs–71 µs)`; one run shows its value alone.
pub(crate) fn micros_spread(s: Option<Spread>) -> String {
    s.map_or_else(
        || "–".into(),
        |s| s.show(|us| format::micros(us.round() as u64)),
    )
}

/// One server's p99 at the fixed offered `rate` in one flush mode, over its repeats.
pub(crate) fn p99_at_rate(
    runs: &[Run<EchoResult>],
    server: &str,
    flush: &str,
    rate: f64,
) -> Option<Spread> {
    spread(&results(runs, server, flush, Point::Fixed(rate)), p99)
}

fn p50(e: &EchoResult) -> Option<f64> {
    Some(e.latency.with_undelivered.p50_us as f64)
}

fn p99(e: &EchoResult) -> Option<f64> {
    Some(e.latency.with_undelivered.p99_us as f64)
}

fn pacing_p99(e: &EchoResult) -> Option<f64> {
    e.generator.pacing_error.as_ref().map(|p| p.p99_us as f64)
}

/// `0 of 3`, the runs whose generator was the bottleneck.
fn limited(results: &[&EchoResult]) -> String {
    let n = results.iter().filter(|e| e.generator.bottleneck).count();
    format!("{n} of {}", results.len())
}

/// One row per server and point: offered, achieved, p50, p99, pacing p99, generator limited.
fn table(runs: &[Run<EchoResult>], flush: &str, points: &[Point]) -> String {
    let mut t = Table::new(&[
        ("Server", Align::Left),
        ("Load", Align::Right),
        ("Offered", Align::Right),
        ("Achieved", Align::Right),
        ("p50", Align::Right),
        ("p99", Align::Right),
        ("Pacing error p99", Align::Right),
        ("Generator limited", Align::Right),
    ]);
    for server in CONTENDERS.iter().map(|c| c.name) {
        for &point in points {
            let rs = results(runs, server, flush, point);
            if rs.is_empty() {
                continue;
            }
            let offered = spread(&rs, |e| e.config.rate);
            let achieved = spread(&rs, |e| Some(e.throughput_msgs_per_s));
            t.row(vec![
                format!("`{server}`"),
                point.label(),
                offered.map_or_else(|| "–".into(), |s| format::rate(s.median)),
                achieved.map_or_else(|| "–".into(), |s| format::rate(s.median)),
                micros_spread(spread(&rs, p50)),
                micros_spread(spread(&rs, p99)),
                micros_spread(spread(&rs, pacing_p99)),
                limited(&rs),
            ]);
        }
    }
    if t.is_empty() {
        String::new()
    } else {
        format!("{}\n", t.render())
    }
}

/// Which servers' p99 at `point` stand apart from the echo reference's
/// (ranges that do not overlap); the rest are "about the same".
fn verdict(runs: &[Run<EchoResult>], flush: &str, point: Point) -> Option<String> {
    let reference = spread(&results(runs, ECHO_REFERENCE, flush, point), p99)?;
    let mut apart = Vec::new();
    let mut same = Vec::new();
    for server in CONTENDERS.iter().map(|c| c.name) {
        if server == ECHO_REFERENCE {
            continue;
        }
        let Some(s) = spread(&results(runs, server, flush, point), p99) else {
            continue;
        };
        if s.overlaps(&reference) {
            same.push(format!("`{server}`"));
        } else {
            let side = if s.median > reference.median {
                "above"
            } else {
                "below"
            };
            apart.push(format!("`{server}` {side} it"));
        }
    }
    let mut line = format!(
        "At {}, against `{ECHO_REFERENCE}`'s p99 ({}): ",
        point.label(),
        micros_spread(Some(reference))
    );
    if !apart.is_empty() {
        line.push_str(&format!("{} (ranges apart)", apart.join(", ")));
    }
    if !same.is_empty() {
        if !apart.is_empty() {
            line.push_str("; ");
        }
        line.push_str(&format!(
            "{} about the same (ranges overlap)",
            same.join(", ")
        ));
    }
    line.push_str(".\n\n");
    Some(line)
}

/// A percentile's name and how to read it from a result.
type Percentile = (&'static str, fn(&EchoResult) -> Option<f64>);

/// The percentiles plotted: the median shows the knee even when the
/// generator's pacing tail (other processes preempting it) blurs the p99.
const PLOTTED: [Percentile; 2] = [("p50", p50), ("p99", p99)];

/// A percentile against load: a bar per server at each level, its median,
/// with a whisker over the repeats' min–max.
fn plot(
    ctx: &mut Ctx<'_>,
    flush: &str,
    levels: &[u32],
    (name, percentile): Percentile,
) -> Result<String> {
    let runs = &ctx.data.load_curve;
    let categories: Vec<String> = levels.iter().map(|&l| Point::Level(l).label()).collect();
    let mut series = Vec::new();
    let mut ranges: Vec<Ranges> = Vec::new();
    for c in &CONTENDERS {
        let spreads: Vec<Option<Spread>> = levels
            .iter()
            .map(|&l| spread(&results(runs, c.name, flush, Point::Level(l)), percentile))
            .collect();
        if spreads.iter().all(Option::is_none) {
            continue;
        }
        series.push(Series {
            name: format!("{}/{flush}", c.name),
            values: spreads.iter().map(|s| s.map(|s| s.median / 1e3)).collect(),
        });
        ranges.push(
            spreads
                .iter()
                .map(|s| s.map(|s| (s.min / 1e3, s.max / 1e3)))
                .collect(),
        );
    }
    if series.is_empty() {
        return Ok(String::new());
    }
    let file = format!("load-curve-{flush}-{name}.svg");
    let svg = plots::ranged_bars(
        &file,
        &format!("Echo {name} against load (share of closed-loop maximum), --flush {flush}"),
        &format!("{name} round trip, ms (median, min–max)"),
        &categories,
        &series,
        &ranges,
        None,
    )?;
    Ok(format!(
        "{}\n",
        ctx.plot(file, &format!("echo {name} against load, {flush}"), svg)
    ))
}

/// "Latency against load", or nothing when the results have no load-curve runs.
pub(crate) fn section(ctx: &mut Ctx<'_>) -> Result<String> {
    let runs = &ctx.data.load_curve;
    if runs.is_empty() {
        return Ok(String::new());
    }
    let repeats = runs
        .iter()
        .filter_map(|r| r.record.repeat)
        .max()
        .unwrap_or(1);
    let levels = levels(runs);
    let fixed = fixed_rates(runs);
    let mut out = String::from("### Latency against load\n\n");
    out.push_str(&format!(
        "`ws-loadgen echo`, open loop, pinned (server on core 0 with one worker, generator on core 1), \
         every echo server in both flush modes, {repeats} interleaved repeats, each its own server process. \
         Each *Load* is a share of the same server's closed-loop maximum (`throughput`, one message in flight \
         per connection) measured earlier in the same repeat and mode; the fixed rate is the same for all. \
         Latency is from each message's intended send time, undelivered messages counted at the drain bound. \
         Every figure is the median of the repeats with their min–max; *Generator limited* counts the runs whose \
         pacing error p99 was over a tenth of their latency p50 (their latency describes the generator). \
         The 1-in-flight maximum is used because the 64-in-flight one is ten times what the open-loop generator \
         can pace (see the generator's ceiling). The plots show p50 and p99 against load, whiskers over the \
         repeats' min–max. A difference is called only where ranges do not overlap.\n\n",
    ));
    let failed = runs.iter().filter(|r| r.result.is_none()).count();
    if failed > 0 {
        out.push_str(&format!(
            "{failed} run(s) failed and are left out (see `run.json`).\n\n"
        ));
    }
    for flush in FLUSH_MODES {
        let points: Vec<Point> = levels.iter().map(|&l| Point::Level(l)).collect();
        let t = table(runs, flush, &points);
        if t.is_empty() {
            continue;
        }
        out.push_str(&format!("#### `--flush {flush}`, against load\n\n"));
        out.push_str(&t);
        if let Some(&top) = levels.last()
            && let Some(v) = verdict(runs, flush, Point::Level(top))
        {
            out.push_str(&v);
        }
        for percentile in PLOTTED {
            out.push_str(&plot(ctx, flush, &levels, percentile)?);
        }
    }
    let runs = &ctx.data.load_curve;
    for &rate in &fixed {
        let point = Point::Fixed(rate);
        for flush in FLUSH_MODES {
            let t = table(runs, flush, &[point]);
            if t.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "#### `--flush {flush}`, {} offered\n\n",
                format::rate(rate)
            ));
            out.push_str(&t);
            if let Some(v) = verdict(runs, flush, point) {
                out.push_str(&v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Mode, RunRecord, Scenario};

    /// A `ws-loadgen echo --rate` result with the given figures.
    fn result(p99_us: u64, bottleneck: bool) -> EchoResult {
        let json = format!(
            r#"{{"lost":0,"duplicated":0,"reordered":0,"corrupted":0,"close_codes":{{}},"dropped_connections":0,
            "mode":"open","config":{{"conns":64,"size":64,"duration":"2s","warmup":"500ms","rate":20000.0,"inflight":1,"encoding":"binary","verify":true,"drain_timeout":"2s"}},
            "duration_s":2.0,"sent":40000,"received":40000,"throughput_msgs_per_s":20000.0,
            "latency":{{"delivered":{l},"with_undelivered":{l},"undelivered":0,"drain_bound_us":2000000}},
            "delivered_fraction_worst":1.0,
            "generator":{{"threads":1,"bottleneck":{bottleneck},"pacing_error":{{"p50_us":4,"p99_us":30,"max_us":900}}}},
            "server":null}}"#,
            l = format!(
                r#"{{"count":40000,"mean_us":60.0,"p50_us":50,"p90_us":80,"p99_us":{p99_us},"p99_9_us":900,"p99_99_us":950,"max_us":1000}}"#
            ),
        );
        serde_json::from_str(&json).expect("a valid fixture")
    }

    fn run(server: &str, case: &str, repeat: u32, p99_us: u64) -> Run<EchoResult> {
        Run {
            record: RunRecord {
                scenario: Scenario::LoadCurve,
                server: server.into(),
                mode: Mode::Pinned,
                case: format!("batched-{case}"),
                rate: Some(20_000.0),
                stem: format!("load-curve/pinned/{server}-batched-{case}-r{repeat}"),
                server_command: Vec::new(),
                load_command: Vec::new(),
                error: None,
                server_panics: None,
                flush: Some("batched".into()),
                repeat: Some(repeat),
                steal: None,
                steal_retries: None,
                shutdown: None,
            },
            result: Some(result(p99_us, repeat == 3)),
        }
    }

    #[test]
    fn cases_name_their_point() {
        let level = run("ws-std-mutex", "load-80", 1, 100);
        assert_eq!(Point::of(&level), Some(Point::Level(80)));
        let fixed = run("ws-std-mutex", "rate-20000", 1, 100);
        assert_eq!(Point::of(&fixed), Some(Point::Fixed(20_000.0)));
    }

    #[test]
    fn only_ranges_apart_are_called_a_difference() {
        let mut runs = Vec::new();
        for repeat in 1..=3 {
            let r = u64::from(repeat);
            runs.push(run(ECHO_REFERENCE, "load-95", repeat, 100 + r));
            // Far above the reference in every repeat.
            runs.push(run("ws-std-mutex", "load-95", repeat, 900 + r));
            // Inside the reference's range.
            runs.push(run("ws-tokio-mutex", "load-95", repeat, 101 + r));
        }
        let line = verdict(&runs, "batched", Point::Level(95)).expect("a reference");
        assert!(line.contains("`ws-std-mutex` above it"), "{line}");
        assert!(line.contains("`ws-tokio-mutex` about the same"), "{line}");
        let t = table(&runs, "batched", &[Point::Level(95)]);
        // Median with min–max, and the one generator-limited repeat counted.
        assert!(t.contains("902 µs (901 µs–903 µs)"), "{t}");
        assert!(t.contains("1 of 3"), "{t}");
    }

    #[test]
    fn no_load_curve_runs_render_nothing() {
        let data = super::super::data::Data::default();
        let mut ctx = Ctx {
            data: &data,
            results_link: "results".into(),
            plots: Vec::new(),
        };
        assert_eq!(section(&mut ctx).expect("renders"), "");
        assert!(ctx.plots.is_empty());
    }
}

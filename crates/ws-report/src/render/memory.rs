//! "Memory": idle connections held open on every server, with default flags
//! and with the README's idle profile, the server pinging each of them:
//! RSS per connection, handshakes per second, the heartbeat's CPU, and what
//! 100,000 connections would take, extrapolated from the measured slope;
//! and what the idle profile costs a busy connection (large-message echo
//! with and without it).

use super::data::Run;
use super::flush::Spread;
use super::plots::{self, Series};
use super::scenarios::{failed, sorted};
use super::table::{Align, Table};
use super::{Ctx, format};
use crate::Result;
use crate::collect::plan::{
    IDLE_PROFILE, MEMORY_DEFAULT, MEMORY_IDLE_PROFILE, PROFILE_COST_DEFAULT, PROFILE_COST_IDLE,
};
use crate::contenders::CONTENDERS;
use crate::loadgen::{ConnectResult, EchoResult};

/// The connection count the extrapolation is made for.
const EXTRAPOLATED_CONNS: f64 = 100_000.0;

/// The table's column for the idle profile.
const IDLE_PROFILE_COLUMN: &str = "RSS per connection, idle profile";

/// Marks a handshake rate measured while the generator was the bottleneck.
const GENERATOR_BOUND: &str = " ‡";

/// The table's column for the extrapolation.
const EXTRAPOLATED_COLUMN: &str = "RSS at 100,000 (extrapolated)";

/// The section: one row per server, each figure the median (min–max) over
/// the repeats when the runs were repeated.
pub fn section(ctx: &mut Ctx<'_>) -> Result<String> {
    let mut out = String::from("### Memory\n\n");
    let runs = sorted(ctx.data.memory.iter().collect());
    if runs.is_empty() {
        out.push_str("No `ws-loadgen connect` results in the results.\n\n");
        return Ok(out);
    }
    out.push_str(&method(&runs));
    let mut t = Table::new(&[
        ("Server", Align::Left),
        ("Established (fewest)", Align::Right),
        ("Baseline RSS", Align::Right),
        ("Peak RSS", Align::Right),
        ("RSS per connection", Align::Right),
        ("Handshakes/s", Align::Right),
        ("Handshake p99", Align::Right),
        ("Server CPU while holding", Align::Right),
        (IDLE_PROFILE_COLUMN, Align::Right),
        (EXTRAPOLATED_COLUMN, Align::Right),
    ]);
    let mut series = Vec::new();
    let mut ranges = Vec::new();
    for contender in CONTENDERS {
        let of_case = |case: &str| -> Vec<&Run<ConnectResult>> {
            runs.iter()
                .copied()
                .filter(|r| r.record.server == contender.name && r.record.case == case)
                .collect()
        };
        let default = of_case(MEMORY_DEFAULT);
        let Some(first) = default.first() else {
            continue;
        };
        let results: Vec<&ConnectResult> =
            default.iter().filter_map(|r| r.result.as_ref()).collect();
        let mut row = vec![format!("`{}`", contender.name)];
        if results.is_empty() {
            row.push(failed(first));
            t.row(row);
            continue;
        }
        let spread = |f: &dyn Fn(&ConnectResult) -> Option<f64>| {
            Spread::of(&results.iter().filter_map(|m| f(m)).collect::<Vec<_>>())
        };
        let show = |s: Option<Spread>, unit: fn(f64) -> String| {
            s.map_or_else(|| "–".into(), |s| s.show(unit))
        };
        let per = spread(&|m| m.server.as_ref()?.rss_per_connection_bytes);
        let baseline = spread(&|m| Some(m.server.as_ref()?.baseline_rss_bytes as f64));
        let profile = Spread::of(
            &of_case(MEMORY_IDLE_PROFILE)
                .iter()
                .filter_map(|r| r.result.as_ref()?.server.as_ref()?.rss_per_connection_bytes)
                .collect::<Vec<_>>(),
        );
        let fewest = results.iter().min_by_key(|m| m.established);
        row.push(fewest.map_or_else(
            || "–".into(),
            |m| {
                format!(
                    "{} of {}",
                    format::count(m.established as f64),
                    format::count(m.attempted as f64)
                )
            },
        ));
        row.push(show(baseline, format::bytes));
        row.push(show(
            spread(&|m| Some(m.server.as_ref()?.peak_rss_bytes as f64)),
            format::bytes,
        ));
        row.push(show(per, format::bytes));
        let generator_bound = results
            .iter()
            .any(|m| m.generator.as_ref().is_some_and(|g| g.bottleneck));
        row.push(
            show(
                spread(&|m| (m.connects_per_s > 0.0).then_some(m.connects_per_s)),
                format::count,
            ) + if generator_bound { GENERATOR_BOUND } else { "" },
        );
        row.push(show(spread(&|m| Some(m.handshake.p99_us as f64)), |us| {
            format::micros(us as u64)
        }));
        row.push(show(spread(&|m| m.hold_server_cpu_cores), format::percent));
        row.push(show(profile, format::bytes));
        row.push(match (baseline, per) {
            (Some(b), Some(p)) => format::bytes(b.median + EXTRAPOLATED_CONNS * p.median),
            _ => "–".into(),
        });
        t.row(row);
        let kib = |s: Option<Spread>| s.map(|s| s.median / 1024.0);
        let range = |s: Option<Spread>| {
            s.filter(|s| s.n > 1)
                .map(|s| (s.min / 1024.0, s.max / 1024.0))
        };
        series.push(Series {
            name: contender.name.to_owned(),
            values: vec![kib(per), kib(profile)],
        });
        ranges.push(vec![range(per), range(profile)]);
    }
    out.push_str(&t.render());
    out.push('\n');
    let file = "memory.svg".to_owned();
    let svg = plots::ranged_bars(
        &file,
        "Server RSS per idle connection",
        "KiB per connection",
        &["default flags".into(), IDLE_PROFILE.join(" ")],
        &series,
        &ranges,
        None,
    )?;
    out.push_str(&ctx.plot(file, "RSS per idle connection", svg));
    out.push('\n');
    out.push_str(&profile_cost(&ctx.data.profile_cost));
    Ok(out)
}

/// The successful runs of `case` by one server: (repeat, result).
fn cost_runs<'a>(
    runs: &'a [Run<EchoResult>],
    server: &str,
    case: &str,
) -> Vec<(u32, &'a EchoResult)> {
    runs.iter()
        .filter(|r| r.record.server == server && r.record.case == case)
        .filter(|r| r.record.error.is_none())
        .filter_map(|r| Some((r.record.repeat.unwrap_or(1), r.result.as_ref()?)))
        .collect()
}

/// The idle profile's price: per server, large-message echoes/s with
/// default flags and with the profile, and the ratio of the two within
/// each repeat. Empty when the results hold no such runs.
fn profile_cost(runs: &[Run<EchoResult>]) -> String {
    let Some(first) = runs.iter().find_map(|r| r.result.as_ref()) else {
        return String::new();
    };
    let mut t = Table::new(&[
        ("Server", Align::Left),
        ("Echoes/s, default flags", Align::Right),
        ("Echoes/s, idle profile", Align::Right),
        ("Echoes/s: idle profile ÷ default", Align::Right),
        (
            "Echoes per server core: idle profile ÷ default",
            Align::Right,
        ),
    ]);
    let mut limited = false;
    for contender in CONTENDERS {
        let default = cost_runs(runs, contender.name, PROFILE_COST_DEFAULT);
        let profile = cost_runs(runs, contender.name, PROFILE_COST_IDLE);
        if default.is_empty() && profile.is_empty() {
            continue;
        }
        let mut rate = |of: &[(u32, &EchoResult)]| {
            let bound = of.iter().any(|(_, e)| e.generator.bottleneck);
            limited |= bound;
            Spread::of(
                &of.iter()
                    .map(|(_, e)| e.throughput_msgs_per_s)
                    .collect::<Vec<_>>(),
            )
            .map_or_else(|| "–".into(), |s| s.show(format::count))
                + if bound { GENERATOR_BOUND } else { "" }
        };
        let ratio = |figure: fn(&EchoResult) -> Option<f64>| {
            let values = |of: &[(u32, &EchoResult)]| -> Vec<(u32, f64)> {
                of.iter()
                    .filter_map(|(repeat, e)| Some((*repeat, figure(e)?)))
                    .collect()
            };
            Spread::of_ratios(values(&profile), &values(&default))
                .map_or_else(|| "–".into(), |s| super::flush::ratio_spread(&s))
        };
        t.row(vec![
            format!("`{}`", contender.name),
            rate(&default),
            rate(&profile),
            ratio(|e| Some(e.throughput_msgs_per_s)),
            ratio(super::flush::per_server_core),
        ]);
    }
    format!(
        "#### What the idle profile costs a busy connection\n\n\
         `ws-loadgen echo`, closed loop, pinned, `--flush batched`: {} connections × {} × {} in flight, \
         with default flags and with `{}`, both in every memory repeat{}; the ratio is taken within a repeat, \
         median (min–max). A 4 KiB read buffer takes a message of this size in several reads.{}\n\n{}\n",
        first.config.conns,
        format::bytes(first.config.size as f64),
        first.config.inflight.unwrap_or(1),
        IDLE_PROFILE.join(" "),
        first.slicing.as_ref().map_or_else(String::new, |s| format!(
            ", by turns in one run ({} turns, {} of sending each, as the echo throughput runs)",
            s.slice,
            format::nanos(s.sending_s * 1e9)
        )),
        if limited {
            " ‡: the generator was the bottleneck in at least one of the runs (its own CPU near 100 %): \
             the server was at least that fast, and the echoes per server core (echoes ÷ the server's CPU seconds in the measured window) show the profile's cost."
        } else {
            ""
        },
        t.render()
    )
}

/// What was run, and how to read the columns.
fn method(runs: &[&Run<ConnectResult>]) -> String {
    let repeats = runs
        .iter()
        .filter_map(|r| r.record.repeat)
        .max()
        .unwrap_or(1);
    let ping = runs
        .iter()
        .find_map(|r| r.result.as_ref()?.config.ping_interval.clone());
    format!(
        "`ws-loadgen connect`, pinned: idle connections held open{}; the server's RSS and CPU read from `/proc`. {}\n\n\
         *Server CPU while holding*: the server's CPU during the hold, in share of a core: with nothing sent, what its heartbeat costs. \
         *{IDLE_PROFILE_COLUMN}*: the same runs with the README's \"many idle connections\" profile (`{}`). \
         *{EXTRAPOLATED_COLUMN}*: the baseline plus 100,000 × the RSS per connection, an extrapolation of the measured slope, \
         not a measurement (this machine allows 20,000 open files per process). \
         ‡: in at least one run the generator was the bottleneck while connecting (its own CPU near 100 %): \
         that handshake rate is the generator's, not the server's.\n\n",
        ping.map_or_else(String::new, |p| format!(
            ", the server pinging each every {p}"
        )),
        if repeats > 1 {
            format!("{repeats} repeats interleaved, each a fresh server process: median (min–max).")
        } else {
            "One run per server.".to_owned()
        },
        IDLE_PROFILE.join(" ")
    )
}

//! The `ws-loadgen` sections: slow-consumer isolation, memory, latency.

use super::benches;
use super::data::Run;
use super::flush::{Spread, ratio_spread};
use super::load_curve::micros_spread;
use super::plots::{self, Line};
use super::table::{Align, Table};
use super::{Ctx, format};
use crate::Result;
use crate::contenders;
use crate::loadgen::{Consumer, EchoResult, LatencySummary, SlowResult};
use crate::manifest::Mode;

/// A healthy delivery later than this counts as a "frozen" second.
pub const FROZEN_US: u64 = 100_000;

/// Runs sorted by contender order.
pub(crate) fn sorted<T>(runs: Vec<&Run<T>>) -> Vec<&Run<T>> {
    let mut runs = runs;
    runs.sort_by_key(|r| contenders::order_key(&r.record.server));
    runs
}

/// What happened to the stalled member of a run.
#[must_use]
pub fn stalled_fate(r: &SlowResult) -> String {
    r.consumers
        .iter()
        .find(|c| c.kind == "stalled")
        .map_or_else(|| "–".into(), consumer_fate)
}

/// What happened to one slow or stalled member, in words.
#[must_use]
pub fn consumer_fate(c: &Consumer) -> String {
    match c.outcome.as_str() {
        "closed" => {
            let reason = c
                .close_reason
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| format!(" \"{s}\""))
                .unwrap_or_default();
            format!(
                "closed {}{reason}",
                c.close_code.map_or_else(|| "?".into(), |c| c.to_string())
            )
        }
        "connected" => "still connected at the end".into(),
        "dropped" => "disconnected, no close frame reached it".into(),
        other => other.to_owned(),
    }
}

/// Seconds of the measured window in which some healthy delivery took over [`FROZEN_US`].
#[must_use]
pub fn frozen_seconds(r: &SlowResult) -> usize {
    r.timeline
        .iter()
        .filter(|p| p.healthy_max_latency_us > FROZEN_US)
        .count()
}

pub(crate) fn failed(run: &Run<impl Sized>) -> String {
    format!(
        "failed: {}",
        run.record.error.as_deref().unwrap_or("no result file")
    )
}

/// The slow-consumer runs of one case (`baseline` or `stalled`) by server
/// (a server's repeats in the order they were recorded).
pub fn slow_case<'a>(runs: &'a [Run<SlowResult>], case: &str) -> Vec<&'a Run<SlowResult>> {
    sorted(runs.iter().filter(|r| r.record.case == case).collect())
}

/// The servers of `runs`, once each, in their order.
pub(crate) fn servers<'a, T>(runs: &[&'a Run<T>]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for r in runs {
        if !out.contains(&r.record.server.as_str()) {
            out.push(&r.record.server);
        }
    }
    out
}

/// How many interleaved repeats `runs` hold (1 for runs without repeats).
pub(crate) fn repeat_count<T>(runs: &[Run<T>]) -> usize {
    let repeats: std::collections::BTreeSet<u32> =
        runs.iter().filter_map(|r| r.record.repeat).collect();
    repeats.len().max(1)
}

/// `server`'s results among `runs` with their repeat, in repeat order: one
/// for results without repeats, one a repeat for repeated ones.
pub(crate) fn results_of<'a, T>(runs: &[&'a Run<T>], server: &str) -> Vec<(Option<u32>, &'a T)> {
    let mut out: Vec<(Option<u32>, &T)> = runs
        .iter()
        .filter(|r| r.record.server == server)
        .filter_map(|r| Some((r.record.repeat, r.result.as_ref()?)))
        .collect();
    out.sort_by_key(|(repeat, _)| *repeat);
    out
}

/// The median (min–max) of `f` over `results`.
pub(crate) fn spread_by<T>(results: &[(Option<u32>, &T)], f: impl Fn(&T) -> f64) -> Option<Spread> {
    Spread::of(&results.iter().map(|(_, r)| f(r)).collect::<Vec<_>>())
}

/// The healthy members' delivery p99, undelivered messages counted at the drain bound, µs.
pub(crate) fn healthy_p99(r: &SlowResult) -> f64 {
    r.healthy.latency.with_undelivered.p99_us as f64
}

/// The isolation ratio of `server`: its healthy p99 with a stalled member
/// over the baseline's, taken within each repeat (against the same
/// repeat's baseline), as median (min–max).
pub(crate) fn isolation(
    stalled: &[&Run<SlowResult>],
    baseline: &[&Run<SlowResult>],
    server: &str,
) -> Option<Spread> {
    let p99s = |runs: &[&Run<SlowResult>]| -> Vec<(Option<u32>, f64)> {
        results_of(runs, server)
            .into_iter()
            .map(|(repeat, r)| (repeat, healthy_p99(r)))
            .collect()
    };
    Spread::of_ratios(p99s(stalled), &p99s(baseline))
}

/// The run of `server` that stands for its repeats where one run must (a
/// plot's line): the one whose healthy p99 is the median, the lower of the
/// middle two for an even count, the earlier repeat among equal p99s.
pub(crate) fn representative<'a>(
    runs: &[&'a Run<SlowResult>],
    server: &str,
) -> Option<&'a Run<SlowResult>> {
    let mut with: Vec<(f64, Option<u32>, &Run<SlowResult>)> = runs
        .iter()
        .filter(|r| r.record.server == server)
        .filter_map(|r| Some((healthy_p99(r.result.as_ref()?), r.record.repeat, *r)))
        .collect();
    with.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    with.get(with.len().saturating_sub(1) / 2).map(|w| w.2)
}

/// What the runs of a cell said, once when they agree; otherwise each
/// answer with how many of them gave it: `a (2 of 3); b (1 of 3)`.
pub(crate) fn agreed(answers: Vec<String>) -> String {
    let mut distinct: Vec<(String, usize)> = Vec::new();
    for a in &answers {
        match distinct.iter_mut().find(|(d, _)| d == a) {
            Some(d) => d.1 += 1,
            None => distinct.push((a.clone(), 1)),
        }
    }
    match distinct.as_slice() {
        [] => "–".into(),
        [(one, _)] => one.clone(),
        many => many
            .iter()
            .map(|(a, n)| format!("{a} ({n} of {})", answers.len()))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A count over repeats: `5`, or `5 (4–5)`.
pub(crate) fn count_spread(s: &Spread) -> String {
    s.show(|v| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    })
}

/// Late (or frozen) seconds over the repeats: `5 of 20`, or `5 (4–5) of 8`.
pub(crate) fn late_cell(results: &[(Option<u32>, &SlowResult)]) -> String {
    let seconds = results
        .iter()
        .map(|(_, r)| r.timeline.len())
        .max()
        .unwrap_or(0);
    spread_by(results, |r| frozen_seconds(r) as f64).map_or_else(
        || "–".into(),
        |s| format!("{} of {seconds}", count_spread(&s)),
    )
}

/// "Slow consumer isolation".
pub fn slow(ctx: &mut Ctx<'_>) -> Result<String> {
    let mut out = String::from("### Slow consumer isolation\n\n");
    let stalled = slow_case(&ctx.data.slow, "stalled");
    if stalled.is_empty() {
        out.push_str("No `ws-loadgen slow` results in the results.\n\n");
    } else {
        let repeats = repeat_count(&ctx.data.slow);
        let repeated = if repeats > 1 {
            format!(
                " {repeats} repeats interleaved (every server once per repeat, each run a fresh server process); \
                 each cell is the median (min–max) over them, *worst* the lowest share of any member in any repeat, \
                 and *p99 ÷ baseline* is taken within each repeat, against the same repeat's baseline."
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "`ws-loadgen slow`, pinned: the healthy members of a room with one stalled member, against the same room where that member reads (baseline). \
             *Delivered* is the mean share of the measured messages each healthy member received (worst member in brackets); \
             p99 counts undelivered messages at the drain bound; *p99 ÷ baseline* is the isolation ratio, the healthy p99 with the stalled member over the one without; \
             *frozen seconds* are seconds of the run in which some healthy delivery took over {}.{repeated}\n\n",
            format::micros(FROZEN_US)
        ));
        let mut t = Table::new(&[
            ("Server", Align::Left),
            ("Delivered, baseline", Align::Right),
            ("Delivered, 1 stalled", Align::Right),
            ("Deliveries/s, baseline", Align::Right),
            ("Deliveries/s, 1 stalled", Align::Right),
            ("p99, baseline", Align::Right),
            ("p99, 1 stalled", Align::Right),
            ("p99 ÷ baseline", Align::Right),
            ("Frozen seconds", Align::Right),
            ("The stalled member", Align::Left),
            ("Peak RSS, 1 stalled", Align::Right),
        ]);
        let baseline = slow_case(&ctx.data.slow, "baseline");
        let delivered = |rs: &[(Option<u32>, &SlowResult)]| {
            let Some(mean) = spread_by(rs, |r| r.healthy.delivered_fraction_mean) else {
                return "–".to_owned();
            };
            let worst = rs
                .iter()
                .map(|(_, r)| r.healthy.delivered_fraction_worst)
                .fold(f64::INFINITY, f64::min);
            if mean.n > 1 {
                format!(
                    "{}, worst {}",
                    mean.show(format::percent),
                    format::percent(worst)
                )
            } else {
                format!(
                    "{} ({})",
                    mean.show(format::percent),
                    format::percent(worst)
                )
            }
        };
        let shown = |s: Option<Spread>, show: fn(f64) -> String| {
            s.map_or_else(|| "–".into(), |s| s.show(show))
        };
        for server in servers(&stalled) {
            let mut row = vec![format!("`{server}`")];
            let rs = results_of(&stalled, server);
            let bs = results_of(&baseline, server);
            if rs.is_empty() {
                if let Some(s) = stalled.iter().find(|r| r.record.server == server) {
                    row.push(failed(s));
                }
                t.row(row);
                continue;
            }
            row.push(delivered(&bs));
            row.push(delivered(&rs));
            row.push(shown(
                spread_by(&bs, |r| r.healthy.deliveries_per_s),
                format::count,
            ));
            row.push(shown(
                spread_by(&rs, |r| r.healthy.deliveries_per_s),
                format::count,
            ));
            row.push(micros_spread(spread_by(&bs, healthy_p99)));
            row.push(micros_spread(spread_by(&rs, healthy_p99)));
            row.push(
                isolation(&stalled, &baseline, server)
                    .map_or_else(|| "–".into(), |s| ratio_spread(&s)),
            );
            row.push(late_cell(&rs));
            row.push(agreed(rs.iter().map(|(_, r)| stalled_fate(r)).collect()));
            let peaks: Vec<(Option<u32>, &SlowResult)> = rs
                .iter()
                .copied()
                .filter(|(_, r)| r.server.is_some())
                .collect();
            row.push(shown(
                spread_by(&peaks, |r| {
                    r.server.as_ref().map_or(0.0, |v| v.peak_rss_bytes as f64)
                }),
                format::bytes,
            ));
            t.row(row);
        }
        out.push_str(&t.render());
        out.push('\n');
        out.push_str(&slow_plot(ctx, &stalled, &baseline, repeats)?);
    }
    out.push_str(&benches::group_body(ctx, "slow_consumer")?);
    Ok(out)
}

/// The stalled-consumer story as a timeline: the slowest healthy delivery
/// of each second, per server, without and with the stalled member, so that
/// the seconds a room froze stand out against the threshold. With repeats,
/// each server's line is its [`representative`] stalled run and the
/// baseline of the same repeat.
fn slow_plot(
    ctx: &mut Ctx<'_>,
    stalled: &[&Run<SlowResult>],
    baseline: &[&Run<SlowResult>],
    repeats: usize,
) -> Result<String> {
    let chosen: Vec<&Run<SlowResult>> = servers(stalled)
        .into_iter()
        .filter_map(|s| representative(stalled, s))
        .collect();
    let twins: Vec<&Run<SlowResult>> = chosen
        .iter()
        .filter_map(|s| {
            baseline
                .iter()
                .copied()
                .find(|b| b.record.server == s.record.server && b.record.repeat == s.record.repeat)
        })
        .collect();
    let lines = |runs: &[&Run<SlowResult>]| -> Vec<Line> {
        runs.iter()
            .filter_map(|r| {
                let result = r.result.as_ref()?;
                Some(Line {
                    name: r.record.server.clone(),
                    points: result
                        .timeline
                        .iter()
                        .map(|p| (p.second as f64, p.healthy_max_latency_us as f64))
                        .collect(),
                })
            })
            .filter(|l| !l.points.is_empty())
            .collect()
    };
    let panels = vec![
        ("every member reading".to_owned(), lines(&twins)),
        ("one member stalled".to_owned(), lines(&chosen)),
    ];
    if panels.iter().all(|p| p.1.is_empty()) {
        return Ok(String::new());
    }
    let file = "slow-timeline.svg".to_owned();
    let svg = plots::timeline(
        &file,
        "Slowest healthy delivery in each second of the run",
        "latency (log scale)",
        &panels,
        Some(FROZEN_US as f64),
    )?;
    let which = if repeats > 1 {
        let picks: Vec<String> = chosen
            .iter()
            .filter_map(|r| Some(format!("`{}` repeat {}", r.record.server, r.record.repeat?)))
            .collect();
        format!(
            " Each server's lines are one of its {repeats} repeats, the one whose healthy p99 with the stalled member is the median ({}), \
             and the baseline of the same repeat.",
            picks.join(", ")
        )
    } else {
        String::new()
    };
    Ok(ctx.plot(
        file,
        "slowest healthy delivery per second, without and with a stalled member",
        svg,
    ) + &format!(
        "\nThe dashed line is {}: a second above it is a frozen second.{which}\n\n",
        format::micros(FROZEN_US)
    ))
}

/// The percentiles of the latency tables and plots.
fn percentiles(l: &LatencySummary) -> [u64; 5] {
    [l.p50_us, l.p90_us, l.p99_us, l.p99_9_us, l.max_us]
}

/// Latency runs of one mode and rate, by server.
pub fn latency_runs(runs: &[Run<EchoResult>], mode: Mode, rate: f64) -> Vec<&Run<EchoResult>> {
    sorted(
        runs.iter()
            .filter(|r| r.record.mode == mode && r.record.rate == Some(rate))
            .collect(),
    )
}

/// The offered rates present, ascending.
#[must_use]
pub fn rates(runs: &[Run<EchoResult>]) -> Vec<f64> {
    let mut rates: Vec<f64> = runs.iter().filter_map(|r| r.record.rate).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    rates
}

/// The spectra of `runs` that have one, as plot lines.
fn runs_with_spectra(ctx: &Ctx<'_>, runs: &[&Run<EchoResult>]) -> Vec<Line> {
    runs.iter()
        .filter_map(|r| {
            Some(Line {
                name: r.record.server.clone(),
                points: ctx.data.spectra.get(&r.record.stem)?.clone(),
            })
        })
        .collect()
}

/// "Latency".
pub fn latency(ctx: &mut Ctx<'_>) -> Result<String> {
    let mut out = String::from("### Latency\n\n");
    if ctx.data.latency.is_empty() {
        out.push_str("No `ws-loadgen echo` results in the results.\n\n");
        return Ok(out);
    }
    out.push_str(
        "`ws-loadgen echo`, open loop: round-trip latency at a fixed offered rate, from each message's intended send time, \
         undelivered messages counted at the drain bound. *Achieved* is echoes received per second of the measured window. \
         *Pacing error* is how late the generator sent each message against its intended time (p50 / p99 / max); a run whose \
         pacing p99 is over a tenth of its latency p50 counts as generator limited.\n\n",
    );
    for mode in [Mode::Pinned, Mode::Unpinned] {
        for rate in rates(&ctx.data.latency) {
            let runs = latency_runs(&ctx.data.latency, mode, rate);
            if runs.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "#### {}, {} offered\n\n",
                mode.title(),
                format::rate(rate)
            ));
            let mut t = Table::new(&[
                ("Server", Align::Left),
                ("Achieved", Align::Right),
                ("p50", Align::Right),
                ("p90", Align::Right),
                ("p99", Align::Right),
                ("p99.9", Align::Right),
                ("max", Align::Right),
                ("Undelivered", Align::Right),
                ("Server CPU (cores)", Align::Right),
                ("Pacing error", Align::Right),
                ("Generator limited", Align::Left),
            ]);
            for r in &runs {
                let mut row = vec![format!("`{}`", r.record.server)];
                let Some(e) = &r.result else {
                    row.push(failed(r));
                    t.row(row);
                    continue;
                };
                let l = &e.latency.with_undelivered;
                row.push(format::rate(e.throughput_msgs_per_s));
                row.extend(percentiles(l).map(format::micros));
                row.push(format::count(e.latency.undelivered as f64));
                row.push(
                    e.server
                        .as_ref()
                        .map_or_else(|| "–".into(), |s| format::cores(s.cpu_cores_used)),
                );
                row.push(format::pacing(e.generator.pacing_error.as_ref()));
                row.push(if e.generator.bottleneck { "yes" } else { "no" }.into());
                t.row(row);
            }
            out.push_str(&t.render());
            out.push('\n');
            let lines = runs_with_spectra(ctx, &runs);
            if !lines.is_empty() {
                let file = format!("latency-spectrum-{}-{rate:.0}.svg", mode.name());
                let svg = plots::spectrum(
                    &file,
                    &format!(
                        "Echo latency by percentile, {}, {} offered",
                        mode.name(),
                        format::rate(rate)
                    ),
                    &lines,
                )?;
                out.push_str(&ctx.plot(
                    file,
                    &format!(
                        "latency percentile spectrum, {} at {}",
                        mode.name(),
                        format::rate(rate)
                    ),
                    svg,
                ));
            }
            out.push('\n');
        }
    }
    Ok(out)
}

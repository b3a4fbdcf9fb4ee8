//! The `ws-loadgen` sections: slow-consumer isolation, memory, latency.

use super::benches;
use super::data::Run;
use super::plots::{self, Line, Series};
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

/// The slow-consumer runs of one case (`baseline` or `stalled`) by server.
pub fn slow_case<'a>(runs: &'a [Run<SlowResult>], case: &str) -> Vec<&'a Run<SlowResult>> {
    sorted(runs.iter().filter(|r| r.record.case == case).collect())
}

/// "Slow consumer isolation".
pub fn slow(ctx: &mut Ctx<'_>) -> Result<String> {
    let mut out = String::from("### Slow consumer isolation\n\n");
    let stalled = slow_case(&ctx.data.slow, "stalled");
    if stalled.is_empty() {
        out.push_str("No `ws-loadgen slow` results in the results.\n\n");
    } else {
        out.push_str(&format!(
            "`ws-loadgen slow`, pinned: the healthy members of a room with one stalled member, against the same room where that member reads (baseline). \
             *Delivered* is the mean share of the measured messages each healthy member received (worst member in brackets); \
             p99 counts undelivered messages at the drain bound; *frozen seconds* are seconds of the run in which some healthy delivery took over {}.\n\n",
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
            ("Frozen seconds", Align::Right),
            ("The stalled member", Align::Left),
            ("Peak RSS, 1 stalled", Align::Right),
        ]);
        let baseline = slow_case(&ctx.data.slow, "baseline");
        for s in &stalled {
            let b = baseline
                .iter()
                .find(|b| b.record.server == s.record.server)
                .and_then(|b| b.result.as_ref());
            let mut row = vec![format!("`{}`", s.record.server)];
            let delivered = |r: &SlowResult| {
                format!(
                    "{} ({})",
                    format::percent(r.healthy.delivered_fraction_mean),
                    format::percent(r.healthy.delivered_fraction_worst)
                )
            };
            let Some(sr) = s.result.as_ref() else {
                row.push(failed(s));
                t.row(row);
                continue;
            };
            row.push(b.map_or_else(|| "–".into(), delivered));
            row.push(delivered(sr));
            row.push(b.map_or_else(|| "–".into(), |b| format::count(b.healthy.deliveries_per_s)));
            row.push(format::count(sr.healthy.deliveries_per_s));
            row.push(b.map_or_else(
                || "–".into(),
                |b| format::micros(b.healthy.latency.with_undelivered.p99_us),
            ));
            row.push(format::micros(sr.healthy.latency.with_undelivered.p99_us));
            row.push(format!("{} of {}", frozen_seconds(sr), sr.timeline.len()));
            row.push(stalled_fate(sr));
            row.push(
                sr.server
                    .as_ref()
                    .map_or_else(|| "–".into(), |v| format::bytes(v.peak_rss_bytes as f64)),
            );
            t.row(row);
        }
        out.push_str(&t.render());
        out.push('\n');
        out.push_str(&slow_plot(ctx, &stalled, &baseline)?);
    }
    out.push_str(&benches::group_body(ctx, "slow_consumer")?);
    Ok(out)
}

/// The stalled-consumer story as a timeline: the slowest healthy delivery
/// of each second, per server, without and with the stalled member, so that
/// the seconds a room froze stand out against the threshold.
fn slow_plot(
    ctx: &mut Ctx<'_>,
    stalled: &[&Run<SlowResult>],
    baseline: &[&Run<SlowResult>],
) -> Result<String> {
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
        ("every member reading".to_owned(), lines(baseline)),
        ("one member stalled".to_owned(), lines(stalled)),
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
    Ok(ctx.plot(
        file,
        "slowest healthy delivery per second, without and with a stalled member",
        svg,
    ) + &format!(
        "\nThe dashed line is {}: a second above it is a frozen second.\n\n",
        format::micros(FROZEN_US)
    ))
}

/// "Memory".
pub fn memory(ctx: &mut Ctx<'_>) -> Result<String> {
    let mut out = String::from("### Memory\n\n");
    let runs = sorted(ctx.data.memory.iter().collect());
    if runs.is_empty() {
        out.push_str("No `ws-loadgen connect` results in the results.\n\n");
        return Ok(out);
    }
    out.push_str("`ws-loadgen connect`, pinned: idle connections held open; the server's RSS sampled from `/proc`.\n\n");
    let mut t = Table::new(&[
        ("Server", Align::Left),
        ("Established", Align::Right),
        ("Baseline RSS", Align::Right),
        ("Peak RSS", Align::Right),
        ("RSS per connection", Align::Right),
        ("Handshake p99", Align::Right),
    ]);
    let mut series = Vec::new();
    for r in &runs {
        let mut row = vec![format!("`{}`", r.record.server)];
        let Some(m) = &r.result else {
            row.push(failed(r));
            t.row(row);
            continue;
        };
        let per = m.server.as_ref().and_then(|s| s.rss_per_connection_bytes);
        row.push(format!(
            "{} of {}",
            format::count(m.established as f64),
            format::count(m.attempted as f64)
        ));
        row.push(m.server.as_ref().map_or_else(
            || "–".into(),
            |s| format::bytes(s.baseline_rss_bytes as f64),
        ));
        row.push(
            m.server
                .as_ref()
                .map_or_else(|| "–".into(), |s| format::bytes(s.peak_rss_bytes as f64)),
        );
        row.push(per.map_or_else(|| "–".into(), format::bytes));
        row.push(format::micros(m.handshake.p99_us));
        t.row(row);
        series.push(Series {
            name: r.record.server.clone(),
            values: vec![per.map(|b| b / 1024.0)],
        });
    }
    out.push_str(&t.render());
    out.push('\n');
    let file = "memory.svg".to_owned();
    let svg = plots::grouped_bars(
        &file,
        "Server RSS per idle connection",
        "KiB per connection",
        &["idle connection".into()],
        &series,
        None,
    )?;
    out.push_str(&ctx.plot(file, "RSS per idle connection", svg));
    out.push('\n');
    Ok(out)
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

//! "Slow readers": one member reading at a fraction of the room's rate, per
//! room server, and how long each slow-consumer policy takes to find a
//! member that stopped reading (issue 11, item 3 and the measured policy).
//!
//! Whether a slow reader set the pace of the room is judged from the room,
//! not the reader: a room held back by its slowest reader either stops
//! taking the sender's messages (TCP backpressure: the sender gets fewer
//! than [`HELD_BACK`] of the offered messages out in the measured window) or
//! delivers them later and later (most measured seconds carry a healthy
//! delivery later than [`scenarios::FROZEN_US`]); a room that left the
//! reader behind, or disconnected it, does neither.

use super::claims::join;
use super::data::Run;
use super::flush::Spread;
use super::load_curve::micros_spread;
use super::scenarios::{
    self, agreed, failed, frozen_seconds, late_cell, repeat_count, results_of, spread_by,
};
use super::table::{Align, Table};
use super::{Ctx, format};
use crate::collect::plan::{DETECT_BUSY, DETECT_QUIET, PACE_CASE};
use crate::contenders;
use crate::loadgen::{Consumer, CounterWatch, SlowResult};

const NONE: &str = "–";

/// A room that got less than this share of the offered messages sent ran
/// below the offered rate.
pub const HELD_BACK: f64 = 0.9;

/// The slow member's pace in a sweep run, percent of the offered rate (from the case name).
pub(crate) fn pace_of(run: &Run<SlowResult>) -> Option<u32> {
    run.record.case.strip_prefix(PACE_CASE)?.parse().ok()
}

/// The messages the sender got out in the measured window, as a share of
/// those offered (open loop only).
#[must_use]
pub fn room_pace(r: &SlowResult) -> Option<f64> {
    let offered = r.config.rate? * r.duration_s;
    (offered > 0.0).then(|| r.sent as f64 / offered)
}

/// A room that took less than [`HELD_BACK`] of the offered messages, or
/// whose healthy members were late in at least half of the measured
/// seconds, ran at its slowest reader's pace.
#[must_use]
pub fn held_back(r: &SlowResult) -> bool {
    let late = !r.timeline.is_empty() && frozen_seconds(r) * 2 >= r.timeline.len();
    late || room_pace(r).is_some_and(|p| p < HELD_BACK)
}

fn seconds(s: f64) -> String {
    format::nanos(s * 1e9)
}

/// When the server's counter rose first, as the interval the polling allows.
fn first_rise(w: Option<&CounterWatch>) -> String {
    let Some(w) = w else {
        return "not watched".into();
    };
    match w.rises.first() {
        Some(r) => format!("{}–{}", seconds(r.after_s), seconds(r.by_s)),
        None if w.scrapes == 0 => "no scrape answered".into(),
        None => "none during the run".into(),
    }
}

/// When the counter rose over the repeats: as [`first_rise`] for one run;
/// for several, the median (min–max) of the times by which it rose, and in
/// how many runs it did not.
fn rise_cell(rs: &[(Option<u32>, &SlowResult)]) -> String {
    if let [(_, r)] = rs {
        return first_rise(r.server_disconnects.as_ref());
    }
    let by: Vec<f64> = rs
        .iter()
        .filter_map(|(_, r)| Some(r.server_disconnects.as_ref()?.rises.first()?.by_s))
        .collect();
    let Some(s) = Spread::of(&by) else {
        return agreed(
            rs.iter()
                .map(|(_, r)| first_rise(r.server_disconnects.as_ref()))
                .collect(),
        );
    };
    let mut cell = format!("by {}", s.show(seconds));
    if by.len() < rs.len() {
        cell.push_str(&format!(
            "; none in {} of {} runs",
            rs.len() - by.len(),
            rs.len()
        ));
    }
    cell
}

/// The slow member's fate as the client saw it.
fn slow_fate(r: &SlowResult) -> String {
    slow_member(r).map_or_else(|| NONE.into(), fate_with_time)
}

fn slow_member(r: &SlowResult) -> Option<&Consumer> {
    r.consumers.iter().find(|c| c.kind == "slow")
}

/// The slow member's fate over the repeats: as [`slow_fate`] for one run;
/// for several, the fates and the median (min–max) of when it read its end.
fn slow_fates(rs: &[(Option<u32>, &SlowResult)]) -> String {
    if let [(_, r)] = rs {
        return slow_fate(r);
    }
    let fates = agreed(
        rs.iter()
            .map(|(_, r)| slow_member(r).map_or_else(|| NONE.into(), scenarios::consumer_fate))
            .collect(),
    );
    let read: Vec<f64> = rs
        .iter()
        .filter_map(|(_, r)| slow_member(r))
        .filter(|c| c.outcome != "connected")
        .filter_map(|c| c.disconnected_after_s)
        .collect();
    match Spread::of(&read) {
        Some(s) => format!("{fates}, read at {}", s.show(seconds)),
        None => fates,
    }
}

fn fate_with_time(c: &Consumer) -> String {
    let fate = scenarios::consumer_fate(c);
    match c.disconnected_after_s {
        Some(s) if c.outcome != "connected" => format!("{fate}, read at {}", seconds(s)),
        _ => fate,
    }
}

/// The sweep's runs by pace, then server, then repeat.
fn sweep(runs: &[Run<SlowResult>]) -> Vec<(u32, &Run<SlowResult>)> {
    let mut out: Vec<(u32, &Run<SlowResult>)> = runs
        .iter()
        .filter_map(|r| pace_of(r).map(|p| (p, r)))
        .collect();
    out.sort_by_key(|(p, r)| (*p, contenders::order_key(&r.record.server), r.record.repeat));
    out
}

/// The sweep's cells: each (pace, server) with its runs (one a repeat).
fn cells<'a>(runs: &[(u32, &'a Run<SlowResult>)]) -> Vec<(u32, &'a str, Vec<&'a Run<SlowResult>>)> {
    let mut out: Vec<(u32, &str, Vec<&Run<SlowResult>>)> = Vec::new();
    for &(pace, run) in runs {
        match out.last_mut() {
            Some((p, s, group)) if *p == pace && *s == run.record.server => group.push(run),
            _ => out.push((pace, &run.record.server, vec![run])),
        }
    }
    out
}

fn sweep_method(r: &SlowResult, repeats: usize) -> String {
    let repeated = if repeats > 1 {
        format!(
            " {repeats} repeats interleaved (every server and pace once per repeat, each run a fresh server process): \
             each cell is the median (min–max) over them, a yes/no or a fate the answer of every run or how many gave each, \
             and the counter's cell the time by which it rose."
        )
    } else {
        String::new()
    };
    format!(
        "`ws-loadgen slow --slow 1 --slow-pace F`, pinned: a room of {} members, one sending {} B messages at {}, one reading at the pace shown \
         (a share of that rate; SO_RCVBUF {}, so it falls behind within the run instead of into buffers Linux grows to tens of MB), the rest at full speed; \
         {} measured after {} warm-up. *Room pace* is the share of the offered messages the sender got out in the measured window (the room pushes back through TCP when a broadcast waits); \
         *delivered* is the mean share of those each healthy member received; p99 counts undelivered messages at the drain bound; \
         *late seconds* are seconds of the run with a healthy delivery over {}; a room ran at the slow member's pace when its pace was under {} or it was late in at least half of the seconds. \
         The slow member's fate is what it read (the Close arrives behind what was already buffered for it); the server's slow-consumer counter, \
         polled every {} through `/metrics`, says when the server gave up on it. Times are from the start of the run, warm-up included.{repeated}\n\n",
        r.config.conns,
        r.config.size,
        r.config
            .rate
            .map_or_else(|| "closed loop".to_owned(), format::rate),
        r.config.slow_rcvbuf.map_or_else(
            || "the kernel's".to_owned(),
            |b| format::bytes(f64::from(b))
        ),
        r.config.duration,
        r.config.warmup,
        format::micros(scenarios::FROZEN_US),
        format::percent(HELD_BACK),
        r.server_disconnects
            .as_ref()
            .map_or_else(|| NONE.to_owned(), |w| w.poll.clone()),
    )
}

fn sweep_table(runs: &[(u32, &Run<SlowResult>)]) -> String {
    let percent = |s: Option<Spread>| s.map_or_else(|| NONE.into(), |s| s.show(format::percent));
    let mut t = Table::new(&[
        ("Pace", Align::Right),
        ("Server", Align::Left),
        ("Room pace", Align::Right),
        ("Delivered", Align::Right),
        ("Healthy deliveries/s", Align::Right),
        ("Healthy p99", Align::Right),
        ("Late seconds", Align::Right),
        ("Room at the slow pace", Align::Left),
        ("The slow member", Align::Left),
        ("Server disconnected it", Align::Right),
    ]);
    for (pace, server, group) in cells(runs) {
        let mut row = vec![format!("{pace}%"), format!("`{server}`")];
        let rs = results_of(&group, server);
        if rs.is_empty() {
            row.push(failed(group[0]));
            t.row(row);
            continue;
        }
        let paced: Vec<(Option<u32>, &SlowResult)> = rs
            .iter()
            .copied()
            .filter(|(_, r)| room_pace(r).is_some())
            .collect();
        row.push(percent(spread_by(&paced, |r| room_pace(r).unwrap_or(0.0))));
        row.push(percent(spread_by(&rs, |r| {
            r.healthy.delivered_fraction_mean
        })));
        row.push(
            spread_by(&rs, |r| r.healthy.deliveries_per_s)
                .map_or_else(|| NONE.into(), |s| s.show(format::count)),
        );
        row.push(micros_spread(spread_by(&rs, scenarios::healthy_p99)));
        row.push(late_cell(&rs));
        row.push(agreed(
            rs.iter()
                .map(|(_, r)| if held_back(r) { "yes" } else { "no" }.to_owned())
                .collect(),
        ));
        row.push(slow_fates(&rs));
        row.push(rise_cell(&rs));
        t.row(row);
    }
    t.render()
}

/// Which servers' rooms a reader slower than the room held back, and at
/// which paces: held back in most of a cell's runs (with how many, when
/// they did not all agree).
fn pace_sentence(runs: &[(u32, &Run<SlowResult>)]) -> String {
    let mut servers: Vec<&str> = runs.iter().map(|(_, r)| r.record.server.as_str()).collect();
    servers.sort_by_key(|s| contenders::order_key(s));
    servers.dedup();
    let (mut held, mut kept) = (Vec::new(), Vec::new());
    for server in servers {
        let slower: Vec<(u32, Vec<&SlowResult>)> = cells(runs)
            .into_iter()
            .filter(|(p, s, _)| *p < 100 && *s == server)
            .map(|(p, _, group)| (p, group.iter().filter_map(|r| r.result.as_ref()).collect()))
            .filter(|(_, rs): &(u32, Vec<&SlowResult>)| !rs.is_empty())
            .collect();
        if slower.is_empty() {
            continue;
        }
        let paces: Vec<String> = slower
            .iter()
            .filter_map(|(p, rs)| {
                let k = rs.iter().filter(|r| held_back(r)).count();
                (k * 2 > rs.len()).then(|| {
                    if k == rs.len() {
                        format!("{p}%")
                    } else {
                        format!("{p}% in {k} of {} runs", rs.len())
                    }
                })
            })
            .collect();
        if paces.is_empty() {
            kept.push(format!("`{server}`"));
        } else {
            held.push(format!("`{server}` (at {})", join(paces)));
        }
    }
    let mut out = String::new();
    if !held.is_empty() {
        out.push_str(&format!(
            "A reader slower than the room set the pace of the whole room with {}. ",
            join(held)
        ));
    }
    if !kept.is_empty() {
        out.push_str(&format!(
            "With {} the healthy members kept the room's pace at every slower pace tried.",
            join(kept)
        ));
    }
    if out.is_empty() {
        return String::new();
    }
    format!("{}\n\n", out.trim_end())
}

fn detection_table(runs: &[Run<SlowResult>]) -> Option<String> {
    let cases = [DETECT_QUIET, DETECT_BUSY];
    let mut servers: Vec<&str> = runs
        .iter()
        .filter(|r| cases.contains(&r.record.case.as_str()))
        .map(|r| r.record.server.as_str())
        .collect();
    if servers.is_empty() {
        return None;
    }
    servers.sort_by_key(|s| contenders::order_key(s));
    servers.dedup();
    let room = |case: &str| {
        runs.iter()
            .filter(|r| r.record.case == case)
            .find_map(|r| r.result.as_ref())
            .map_or_else(
                || "no result".to_owned(),
                |r| {
                    format!(
                        "{} B at {}, {} members, {} measured",
                        r.config.size,
                        r.config
                            .rate
                            .map_or_else(|| "closed loop".to_owned(), format::rate),
                        r.config.conns,
                        r.config.duration
                    )
                },
            )
    };
    let repeats = repeat_count(runs);
    let repeated = if repeats > 1 {
        format!(
            " {repeats} repeats interleaved: the cell is the median (min–max) of the times by which the counter rose."
        )
    } else {
        String::new()
    };
    let mut out = format!(
        "**Detection time**: one member stops reading when the run starts (SO_RCVBUF as in the stalled runs); the cell is the interval in which the server's \
         slow-consumer counter rose, from the start of the run, i.e. the time from the member stopping to its disconnection, \
         including the time its buffers took to fill. Quiet room: {}; busy room: {}.{repeated}\n\n",
        room(DETECT_QUIET),
        room(DETECT_BUSY)
    );
    let mut t = Table::new(&[
        ("Server", Align::Left),
        ("Quiet room", Align::Right),
        ("Busy room", Align::Right),
    ]);
    for server in servers {
        let mut row = vec![format!("`{server}`")];
        for case in cases {
            let group: Vec<&Run<SlowResult>> = runs
                .iter()
                .filter(|r| r.record.server == server && r.record.case == case)
                .collect();
            let rs = results_of(&group, server);
            row.push(match group.first() {
                None => NONE.into(),
                Some(run) if rs.is_empty() => failed(run),
                Some(_) => rise_cell(&rs),
            });
        }
        t.row(row);
    }
    out.push_str(&t.render());
    out.push('\n');
    Some(out)
}

/// The section.
pub fn section(ctx: &Ctx<'_>) -> String {
    let mut out = String::from("### Slow readers\n\n");
    let runs = &ctx.data.slow_readers;
    let paced = sweep(runs);
    let detection = detection_table(runs);
    if paced.is_empty() && detection.is_none() {
        out.push_str(
            "No slow-reader runs in the results yet: `ws-report collect` plans them (`results/slow-readers/`), \
             a member reading at a share of the room's rate per room server, and the time each slow-consumer policy takes to find a member that stopped reading.\n\n",
        );
        return out;
    }
    if let Some(r) = paced.iter().find_map(|(_, r)| r.result.as_ref()) {
        out.push_str(&sweep_method(r, repeat_count(runs)));
    }
    if !paced.is_empty() {
        out.push_str(&pace_sentence(&paced));
        out.push_str(&sweep_table(&paced));
        out.push('\n');
    }
    if let Some(d) = detection {
        out.push_str(&d);
    }
    out
}

//! "Heartbeat punctuality" (issue 14, item 4): the intervals between the
//! server's pings as each client read them, as multiples of the server's
//! `--ping-interval`, on idle connections, under a closed-loop echo flood
//! (both flush policies) and on the healthy members of a room with a
//! stalled member; one table per server.
//!
//! Whether a server held its pings behind queued data is read off the same
//! figures by one rule: its idle connections got their pings on time (p99
//! within [`HELD_X`] × the interval) while a loaded case's p99 went beyond
//! it. When even idle connections saw late pings, the generator or the host
//! was late, not the strategy's queue, and no claim is made.

use super::claims::join;
use super::data::Run;
use super::flush::Spread;
use super::reliability::flag_value;
use super::scenarios::{count_spread, failed, repeat_count, results_of, spread_by};
use super::table::{Align, Table};
use super::{Ctx, format};
use crate::collect::plan::{HEARTBEAT_FLOOD, HEARTBEAT_IDLE, HEARTBEAT_STALLED};
use crate::contenders::{self, CONTENDERS};
use crate::loadgen::{HeartbeatReport, HeartbeatResult, Multiples};
use crate::manifest::RunRecord;
use ws_loadgen::heartbeat::SILENT_INTERVALS;

const NONE: &str = "–";

/// A ping interval's p99 beyond this multiple of the configured interval is
/// late: a ping held back by half an interval or more, far beyond the
/// timer's 1 ms wheel and the generator's own delay on idle connections.
pub const HELD_X: f64 = 1.5;

/// The value of `flag` in a run's `ws-loadgen` command line.
fn flag<'a>(record: &'a RunRecord, flag: &str) -> Option<&'a str> {
    flag_value(&record.load_command, flag)
}

/// A case's place in the tables: idle (the control) first, then the
/// flood in [`contenders::FLUSH_MODES`] order, then the room.
fn case_order(record: &RunRecord) -> usize {
    let flush = record
        .flush
        .as_deref()
        .and_then(|f| contenders::FLUSH_MODES.iter().position(|m| *m == f))
        .unwrap_or(0);
    match base_case(record) {
        HEARTBEAT_IDLE => 0,
        HEARTBEAT_FLOOD => 1 + flush,
        HEARTBEAT_STALLED => 1 + contenders::FLUSH_MODES.len(),
        _ => 2 + contenders::FLUSH_MODES.len(),
    }
}

/// The case without its flush policy: `flood` for `batched-flood`.
fn base_case(record: &RunRecord) -> &str {
    record
        .flush
        .as_deref()
        .and_then(|f| record.case.strip_prefix(f))
        .and_then(|c| c.strip_prefix('-'))
        .unwrap_or(&record.case)
}

/// A case in words, for the tables and the sentences.
fn case_words(record: &RunRecord) -> String {
    let words = match base_case(record) {
        HEARTBEAT_IDLE => "idle".to_owned(),
        HEARTBEAT_FLOOD => "echo flood".to_owned(),
        HEARTBEAT_STALLED => "stalled room".to_owned(),
        other => other.to_owned(),
    };
    match &record.flush {
        Some(f) => format!("{words}, `--flush {f}`"),
        None => words,
    }
}

/// The runs of one (server, case): every repeat.
struct Cell<'a> {
    server: &'a str,
    runs: Vec<&'a Run<HeartbeatResult>>,
}

impl Cell<'_> {
    fn first(&self) -> &RunRecord {
        &self.runs[0].record
    }

    /// The heartbeat of every run that measured one, in repeat order.
    fn reports(&self) -> Vec<(Option<u32>, &HeartbeatReport)> {
        results_of(&self.runs, self.server)
            .into_iter()
            .filter_map(|(k, r)| Some((k, r.heartbeat.as_ref()?)))
            .collect()
    }

    /// The spread over the repeats of one multiple.
    fn multiple(&self, pick: impl Fn(&Multiples) -> f64) -> Option<Spread> {
        let values: Vec<f64> = self
            .reports()
            .iter()
            .filter_map(|(_, h)| h.intervals_x.as_ref().map(&pick))
            .collect();
        Spread::of(&values)
    }

    fn p99(&self) -> Option<Spread> {
        self.multiple(|m| m.p99)
    }
}

/// Every (server, case) with its runs, servers in contender order, cases
/// in [`case_order`].
fn cells(runs: &[Run<HeartbeatResult>]) -> Vec<Cell<'_>> {
    let mut sorted: Vec<&Run<HeartbeatResult>> = runs.iter().collect();
    sorted.sort_by_key(|r| {
        (
            contenders::order_key(&r.record.server),
            case_order(&r.record),
            r.record.case.clone(),
            r.record.repeat,
        )
    });
    let mut out: Vec<Cell<'_>> = Vec::new();
    for run in sorted {
        match out.last_mut() {
            Some(c) if c.server == run.record.server && c.first().case == run.record.case => {
                c.runs.push(run);
            }
            _ => out.push(Cell {
                server: &run.record.server,
                runs: vec![run],
            }),
        }
    }
    out
}

fn times(s: Option<Spread>) -> String {
    s.map_or_else(|| NONE.into(), |s| s.show(format::ratio))
}

fn name(server: &str) -> String {
    if contenders::is_reference(server) {
        format!("`{server}` (reference)")
    } else {
        format!("`{server}`")
    }
}

fn server_table(cells: &[&Cell<'_>]) -> String {
    let silent = format!("Silent over {SILENT_INTERVALS}×");
    let mut t = Table::new(&[
        ("Case", Align::Left),
        ("p50", Align::Right),
        ("p99", Align::Right),
        ("max", Align::Right),
        (silent.as_str(), Align::Right),
    ]);
    for cell in cells {
        let mut row = vec![case_words(cell.first())];
        let reports = cell.reports();
        if reports.is_empty() {
            row.push(if cell.runs.iter().all(|r| r.result.is_none()) {
                failed(cell.runs[0])
            } else {
                "no connection measured".into()
            });
            t.row(row);
            continue;
        }
        row.push(times(cell.multiple(|m| m.p50)));
        row.push(times(cell.p99()));
        row.push(times(cell.multiple(|m| m.max)));
        let connections = reports
            .iter()
            .map(|(_, h)| h.connections)
            .max()
            .unwrap_or(0);
        let silent: Vec<(Option<u32>, &HeartbeatReport)> = reports
            .iter()
            .copied()
            .filter(|(_, h)| h.connections_silent_over_2x.is_some())
            .collect();
        row.push(
            spread_by(&silent, |h| {
                h.connections_silent_over_2x.unwrap_or(0) as f64
            })
            .map_or_else(
                || NONE.into(),
                |s| format!("{} of {connections}", count_spread(&s)),
            ),
        );
        t.row(row);
    }
    t.render()
}

/// What the rule says of one server.
#[derive(Debug)]
enum Finding {
    /// Idle on time, and these loaded cases late: (case in words, p99, max).
    Held {
        idle: Spread,
        late: Vec<(String, Spread, Option<Spread>)>,
    },
    /// Idle and every loaded case on time; the worst loaded p99.
    OnTime {
        idle: Spread,
        worst: Option<(String, Spread)>,
    },
    /// Idle connections already late: the figures say nothing of queues.
    LateIdle { idle: Spread },
}

/// [`HELD_X`] applied to one server's cells; `None` without an idle figure
/// to compare with.
fn finding(cells: &[&Cell<'_>]) -> Option<Finding> {
    let idle = cells
        .iter()
        .find(|c| base_case(c.first()) == HEARTBEAT_IDLE)
        .and_then(|c| c.p99())?;
    if idle.median > HELD_X {
        return Some(Finding::LateIdle { idle });
    }
    let loaded: Vec<(String, Spread, Option<Spread>)> = cells
        .iter()
        .filter(|c| base_case(c.first()) != HEARTBEAT_IDLE)
        .filter_map(|c| Some((case_words(c.first()), c.p99()?, c.multiple(|m| m.max))))
        .collect();
    let late: Vec<(String, Spread, Option<Spread>)> = loaded
        .iter()
        .filter(|(_, p99, _)| p99.median > HELD_X)
        .cloned()
        .collect();
    if late.is_empty() {
        let worst = loaded
            .into_iter()
            .max_by(|a, b| a.1.median.total_cmp(&b.1.median))
            .map(|(w, p99, _)| (w, p99));
        Some(Finding::OnTime { idle, worst })
    } else {
        Some(Finding::Held { idle, late })
    }
}

/// The finding of one server as a sentence.
fn sentence(server: &str, finding: &Finding) -> String {
    let who = name(server);
    let x = |s: &Spread| s.show(format::ratio);
    match finding {
        Finding::Held { idle, late } => {
            let cases = late
                .iter()
                .map(|(case, p99, max)| {
                    let max = max
                        .as_ref()
                        .map(|m| format!(", max {}", x(m)))
                        .unwrap_or_default();
                    format!("p99 {}{max} ({case})", x(p99))
                })
                .collect();
            format!(
                "{who} held pings behind queued data: {} against {} on idle connections.",
                join(cases),
                x(idle)
            )
        }
        Finding::OnTime { idle, worst } => match worst {
            Some((case, p99)) => format!(
                "{who} kept its pings on time under load: p99 at most {} ({case}), {} idle.",
                x(p99),
                x(idle)
            ),
            None => format!("{who}: p99 {} idle, no loaded case measured.", x(idle)),
        },
        Finding::LateIdle { idle } => format!(
            "{who}'s pings were late even on idle connections (p99 {}): the generator or the host, not queued data, set its figures, so no claim is made.",
            x(idle)
        ),
    }
}

/// How the runs were made, from their own command lines and results.
fn method(runs: &[Run<HeartbeatResult>], cells: &[Cell<'_>]) -> String {
    let interval = runs
        .iter()
        .filter_map(|r| r.result.as_ref()?.heartbeat.as_ref()?.ping_interval_us)
        .next()
        .map_or_else(|| "its `--ping-interval`".to_owned(), format::micros);
    let of_case = |case: &str| {
        cells
            .iter()
            .find(|c| base_case(c.first()) == case)
            .map(Cell::first)
    };
    let mut cases = Vec::new();
    if let Some(r) = of_case(HEARTBEAT_IDLE) {
        cases.push(format!(
            "*idle*: {} connections carrying nothing but pings, held {} (the control: what the generator and the host alone add)",
            flag(r, "--conns").unwrap_or(NONE),
            flag(r, "--hold").unwrap_or(NONE)
        ));
    }
    if let Some(r) = of_case(HEARTBEAT_FLOOD) {
        cases.push(format!(
            "*echo flood*: {} connections each keeping {} echoes of {} in flight (closed loop), {} measured, in each flush policy",
            flag(r, "--conns").unwrap_or(NONE),
            flag(r, "--inflight").unwrap_or(NONE),
            flag(r, "--size")
                .and_then(|s| s.parse::<f64>().ok())
                .map_or_else(|| NONE.to_owned(), format::bytes),
            flag(r, "--duration").unwrap_or(NONE)
        ));
    }
    if let Some(r) = of_case(HEARTBEAT_STALLED) {
        cases.push(format!(
            "*stalled room*: the healthy members of a room of {} where one member stops reading and one sends {} messages at {}/s (the server's default flush policy)",
            flag(r, "--conns").unwrap_or(NONE),
            flag(r, "--size")
                .and_then(|s| s.parse::<f64>().ok())
                .map_or_else(|| NONE.to_owned(), format::bytes),
            flag(r, "--rate").unwrap_or(NONE)
        ));
    }
    let repeats = repeat_count(runs);
    let repeated = if repeats > 1 {
        format!(
            " {repeats} repeats interleaved (every server and case once per repeat, each run a fresh server process): each cell is the median (min–max) over them."
        )
    } else {
        String::new()
    };
    format!(
        "Every server pings each connection every {interval} (`--ping-interval`, given to `ws-loadgen` too), through the same shared sink as its data, \
         and `ws-loadgen` stamps each Ping as it reads it, pinned as the other runs. A figure is the interval between two consecutive pings of one connection, \
         over every connection of the run, as a multiple of the ping interval (1.00× is on time); *silent over {}×* counts the connections that went longer without one. \
         Cases: {}.{repeated} A server *held pings behind queued data* when its idle p99 stayed within {}× and a loaded case's p99 went beyond it.\n\n",
        SILENT_INTERVALS,
        cases.join("; "),
        HELD_X
    )
}

/// The section.
pub fn section(ctx: &Ctx<'_>) -> String {
    let mut out = String::from("### Heartbeat punctuality\n\n");
    let runs = &ctx.data.heartbeat;
    if runs.is_empty() {
        out.push_str(
            "No heartbeat runs in the results yet: `ws-report collect` plans them (`results/heartbeat/`), \
             the intervals between the server's pings on idle connections, under an echo flood and in a room with a stalled member, per server.\n\n",
        );
        return out;
    }
    let cells = cells(runs);
    out.push_str(&method(runs, &cells));
    let mut sentences = Vec::new();
    let mut tables = String::new();
    for c in CONTENDERS {
        let mine: Vec<&Cell<'_>> = cells.iter().filter(|x| x.server == c.name).collect();
        if mine.is_empty() {
            continue;
        }
        if let Some(f) = finding(&mine) {
            sentences.push(sentence(c.name, &f));
        }
        tables.push_str(&format!("**{}**\n\n", name(c.name)));
        tables.push_str(&server_table(&mine));
        tables.push('\n');
    }
    if !sentences.is_empty() {
        out.push_str(&sentences.join(" "));
        out.push_str("\n\n");
    }
    out.push_str(&tables);
    out
}

/// A server's p99 ping interval (× the interval) under the echo flood with
/// `flush`, over the repeats: the verdict's figure.
pub(crate) fn flood_p99(
    runs: &[Run<HeartbeatResult>],
    server: &str,
    flush: &str,
) -> Option<Spread> {
    let runs: Vec<&Run<HeartbeatResult>> = runs
        .iter()
        .filter(|r| {
            r.record.server == server
                && r.record.flush.as_deref() == Some(flush)
                && base_case(&r.record) == HEARTBEAT_FLOOD
        })
        .collect();
    if runs.is_empty() {
        return None;
    }
    Cell { server, runs }.p99()
}

/// The flood's message size, from its command line, for the verdict's words.
pub(crate) fn flood_size(runs: &[Run<HeartbeatResult>]) -> Option<f64> {
    runs.iter()
        .filter(|r| base_case(&r.record) == HEARTBEAT_FLOOD)
        .find_map(|r| flag(&r.record, "--size")?.parse().ok())
}

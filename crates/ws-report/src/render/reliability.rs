//! "Reliability": the stalled-consumer flood, connection churn, bad input,
//! panics and shutdown under load, one row per server; and, in collections
//! that have them, the hostile clients (partial messages past the inbound
//! budget, slow requests), whose columns are left out of older ones so that
//! they render as they did (their cells and the canary's table are
//! [`super::hostile`]'s).

use std::collections::BTreeMap;

use super::data::Run;
use super::hostile::{
    canary_table, hostile_canary_of, hostile_cell, hostile_method, hostile_rss_of, hostile_runs,
    hostile_slow_of, with_control,
};
use super::scenarios::{self, consumer_fate};
use super::table::{Align, Table};
use super::{Ctx, format};
use crate::contenders::CONTENDERS;
use crate::loadgen::{BadinputResult, ChurnResult, EchoResult, SlowResult};
use crate::manifest::RunRecord;

/// Written where a scenario does not apply to a server.
pub(super) const NA: &str = "n/a";
/// Written where a figure is missing from a run's result.
pub(super) const NONE: &str = "–";

/// The run of `server` and `case`, if any.
pub fn find<'a, T>(runs: &'a [Run<T>], server: &str, case: &str) -> Option<&'a Run<T>> {
    runs.iter()
        .find(|r| r.record.server == server && r.record.case == case)
}

/// A cell from a run's result: `n/a` without a run, the error when it failed.
fn cell<T>(run: Option<&Run<T>>, f: impl FnOnce(&T) -> String) -> String {
    match run {
        None => NA.into(),
        Some(r) => r.result.as_ref().map_or_else(|| scenarios::failed(r), f),
    }
}

/// Peak RSS of a flood run.
pub fn peak_rss(r: &SlowResult) -> Option<u64> {
    r.server.as_ref().map(|s| s.peak_rss_bytes)
}

/// The stalled members' fates, grouped: `3 closed 1008 "slow consumer"`.
fn stalled_fates(r: &SlowResult) -> String {
    let mut fates: BTreeMap<String, usize> = BTreeMap::new();
    for c in r.consumers.iter().filter(|c| c.kind == "stalled") {
        *fates.entry(consumer_fate(c)).or_default() += 1;
    }
    if fates.is_empty() {
        return NONE.into();
    }
    fates
        .into_iter()
        .map(|(fate, n)| format!("{n} {fate}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lines with "panicked" in the server's logs, over all its runs; `None` when no log was read.
fn panics(ctx: &Ctx<'_>, server: &str) -> Option<(u64, usize)> {
    let counts: Vec<u64> = ctx
        .data
        .manifest
        .as_ref()?
        .runs
        .iter()
        .filter(|r| r.server == server)
        .filter_map(|r| r.server_panics)
        .collect();
    (!counts.is_empty()).then(|| (counts.iter().sum(), counts.len()))
}

/// The value after `flag` in a command line.
pub(crate) fn flag_value<'a>(command: &'a [String], flag: &str) -> Option<&'a str> {
    command
        .windows(2)
        .find(|w| w[0] == flag)
        .map(|w| w[1].as_str())
}

fn shutdown_cell(run: Option<&Run<EchoResult>>) -> String {
    let Some(r) = run else {
        return NA.into();
    };
    match &r.record.shutdown {
        Some(s) => s.exit_s.map_or_else(
            || format!("no exit: {}", s.status),
            |t| format::nanos(t * 1e9),
        ),
        None => scenarios::failed(r),
    }
}

fn closed_1001(e: &EchoResult) -> String {
    let n = e.integrity.close_codes.get("1001").copied().unwrap_or(0);
    format!(
        "{} of {}",
        format::count(n as f64),
        format::count(e.config.conns as f64)
    )
}

/// The method sentences, from the runs' own configurations.
fn method(ctx: &Ctx<'_>) -> String {
    let mut out = String::new();
    let stalled = ctx
        .data
        .flood
        .iter()
        .filter(|r| r.record.case == "flood-stalled")
        .find_map(|r| r.result.as_ref());
    let baseline = ctx
        .data
        .flood
        .iter()
        .filter(|r| r.record.case == "flood-baseline")
        .find_map(|r| r.result.as_ref());
    if let Some(f) = stalled {
        out.push_str(&format!(
            "- **Stalled-consumer flood** (`ws-loadgen slow`, room servers): a room of {} members, one sending {} B messages at {}, {} measured after {} warm-up; {} members stop reading after joining (SO_RCVBUF {} B). \
             *Lost / dup. / reordered* sums those integrity counters over the members that kept reading (must be 0); \
             *peak RSS* is the server's highest RSS during the run, against the same flood with no stalled member{}; \
             *stalled members* says what the server did with them.\n",
            f.config.conns,
            f.config.size,
            f.config.rate.map_or_else(|| "closed loop".to_owned(), format::rate),
            f.config.duration,
            f.config.warmup,
            f.config.stalled,
            f.config.stalled_rcvbuf,
            baseline.map_or_else(String::new, |b| format!(
                " ({} measured: memory settles within seconds without a stall)",
                b.config.duration
            )),
        ));
    }
    if let Some(c) = ctx.data.churn.iter().find_map(|r| r.result.as_ref()) {
        out.push_str(&format!(
            "- **Connection churn** (`ws-loadgen churn`, on `/ws/echo` and, for room servers, on a room): {} connect/disconnect cycles, {} at a time, {} of them reset without a Close ({} mid-frame). \
             *RSS after churn* is the server's RSS once its gauges reached zero (waiting up to {}) after the last of {} round(s) of cycles over its RSS before the first cycle, echo / room; \
             *second churn round* is the RSS after the last round over the RSS after the first (about 1.00×: what the first round left behind was reused, no leak); \
             *leaked* means `ws_connections`, `ws_rooms` or `ws_room_members` in `/metrics` was still above zero after that; \
             *failed cycles* (cycles whose message did not come back) are summed over both routes.\n",
            format::count(c.config.cycles as f64),
            c.config.concurrency,
            format::percent(c.config.abrupt_fraction),
            format::percent(c.config.mid_message_fraction),
            c.config.settle,
            c.config.rounds,
        ));
    }
    if let Some(b) = ctx.data.badinput.iter().find_map(|r| r.result.as_ref()) {
        out.push_str(&format!(
            "- **Bad input** (`ws-loadgen badinput`): every input of the `ws-rawframe` catalogue once, server and generator both at `--max-message-size {}`, each answer awaited up to {}. \
             *Not as RFC*: answers other than the close code or HTTP status RFC 6455 prescribes; \
             *canary failures*: inputs after which an open connection or a new one no longer echoed.\n",
            b.config.max_message_size, b.config.timeout,
        ));
    }
    if let Some(hostile) = hostile_method(&ctx.data.hostile) {
        out.push_str(&hostile);
    }
    let runs_per_server = ctx.data.manifest.as_ref().map_or(0, |m| {
        CONTENDERS
            .iter()
            .map(|c| m.runs.iter().filter(|r| r.server == c.name).count())
            .max()
            .unwrap_or(0)
    });
    if runs_per_server > 0 {
        out.push_str(&format!(
            "- **Panics**: lines containing `panicked` in the server's output, over every run of that server in this collection (all scenarios, up to {runs_per_server} runs per server).\n"
        ));
    }
    if let Some(r) = ctx.data.shutdown.iter().find(|r| r.result.is_some()) {
        let (Some(e), Some(s)) = (r.result.as_ref(), r.record.shutdown.as_ref()) else {
            return out;
        };
        out.push_str(&format!(
            "- **Shutdown under load** (`ws-loadgen echo`, closed loop): {} echo connections flooding the server; SIGTERM {} after the generator started (server `--shutdown-grace {}`). \
             *Shutdown* is the time from SIGTERM to the process's exit (polled every 2 ms); *closed 1001* counts the connections that received Close 1001 (going away) from the server.\n",
            e.config.conns,
            format::nanos((s.sigterm_after_s * 10.0).round() * 1e8),
            flag_value(&r.record.server_command, "--shutdown-grace").unwrap_or("5s (default)"),
        ));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// The load commands of one server's reliability runs, for the record.
fn commands<'a>(ctx: &Ctx<'a>) -> Vec<&'a RunRecord> {
    let Some(m) = ctx.data.manifest.as_ref() else {
        return Vec::new();
    };
    let Some(first) = m
        .runs
        .iter()
        .find(|r| r.scenario == crate::manifest::Scenario::Reliability && r.error.is_none())
    else {
        return Vec::new();
    };
    m.runs
        .iter()
        .filter(|r| {
            r.scenario == crate::manifest::Scenario::Reliability && r.server == first.server
        })
        .collect()
}

/// "Reliability".
pub fn section(ctx: &Ctx<'_>) -> String {
    let mut out = String::from("### Reliability\n\n");
    let data = ctx.data;
    if data.flood.is_empty()
        && data.churn.is_empty()
        && data.badinput.is_empty()
        && data.shutdown.is_empty()
        && data.hostile.is_empty()
    {
        out.push_str("No reliability runs in the results.\n\n");
        return out;
    }
    out.push_str("Pinned, each run on a freshly started server. `n/a`: the scenario does not apply (the unsplit reference serves no rooms).\n\n");
    out.push_str(&method(ctx));
    // Collections made before the hostile runs or churn rounds existed
    // render as they did.
    let with_hostile = !data.hostile.is_empty();
    let with_rounds = data
        .churn
        .iter()
        .filter_map(|r| r.result.as_ref())
        .any(|c| c.last_round_vs_first.is_some());
    let mut columns = vec![
        ("Server", Align::Left),
        ("Lost / dup. / reordered", Align::Right),
        ("Stalled members", Align::Left),
        ("Peak RSS, stalled (vs no stall)", Align::Right),
        ("RSS after churn, echo / room", Align::Right),
    ];
    if with_rounds {
        columns.push(("Second churn round ÷ first, echo / room", Align::Right));
    }
    columns.extend([
        ("Leaked gauges", Align::Left),
        ("Failed cycles", Align::Right),
        ("Bad inputs", Align::Right),
        ("Not as RFC", Align::Right),
        ("Canary failures", Align::Right),
        ("Panics", Align::Right),
        ("Shutdown under load", Align::Right),
        ("Closed 1001", Align::Right),
    ]);
    if with_hostile {
        columns.extend([
            (
                "Peak RSS, partial messages (≤ before + budget + 16 KiB per attacker)",
                Align::Right,
            ),
            ("Slow requests closed in time", Align::Right),
            ("Canary through the attacks", Align::Left),
        ]);
    }
    let control = with_control(&data.hostile);
    let mut t = Table::new(&columns);
    for c in CONTENDERS {
        let s = c.name;
        let stalled = find(&data.flood, s, "flood-stalled");
        let baseline = find(&data.flood, s, "flood-baseline").and_then(|r| r.result.as_ref());
        let churn: Vec<&Run<ChurnResult>> = ["churn-echo", "churn-room"]
            .iter()
            .filter_map(|case| find(&data.churn, s, case))
            .collect();
        let badinput = find(&data.badinput, s, "badinput");
        let shutdown = find(&data.shutdown, s, "shutdown");
        let mut row = vec![format!("`{s}`")];
        row.push(cell(stalled, |f| {
            format!(
                "{}",
                f.integrity.lost + f.integrity.duplicated + f.integrity.reordered
            )
        }));
        row.push(cell(stalled, stalled_fates));
        row.push(cell(stalled, |f| {
            let Some(peak) = peak_rss(f) else {
                return NONE.into();
            };
            let rel = baseline
                .and_then(peak_rss)
                .filter(|b| *b > 0)
                .map(|b| format!(" ({})", format::ratio(peak as f64 / b as f64)))
                .unwrap_or_default();
            format!("{}{rel}", format::bytes(peak as f64))
        }));
        let churn_echo = find(&data.churn, s, "churn-echo");
        let churn_room = find(&data.churn, s, "churn-room");
        let rss_after = |r: &ChurnResult| {
            r.rss_after_vs_baseline
                .map_or_else(|| NONE.into(), format::ratio)
        };
        row.push(format!(
            "{} / {}",
            cell(churn_echo, rss_after),
            cell(churn_room, rss_after)
        ));
        if with_rounds {
            let second = |r: &ChurnResult| {
                r.last_round_vs_first
                    .map_or_else(|| NONE.into(), format::ratio)
            };
            row.push(format!(
                "{} / {}",
                cell(churn_echo, second),
                cell(churn_room, second)
            ));
        }
        row.push(if churn.is_empty() {
            NA.into()
        } else if churn.iter().any(|r| r.result.is_none()) {
            churn
                .iter()
                .find(|r| r.result.is_none())
                .map(|r| scenarios::failed(r))
                .unwrap_or_default()
        } else {
            let leaked: Vec<Option<bool>> = churn
                .iter()
                .filter_map(|r| r.result.as_ref())
                .map(|r| r.leaked)
                .collect();
            if leaked.contains(&Some(true)) {
                "yes".into()
            } else if leaked.iter().all(Option::is_some) {
                "no".into()
            } else {
                "not read".into()
            }
        });
        row.push(if churn.is_empty() {
            NA.into()
        } else {
            let failed: u64 = churn
                .iter()
                .filter_map(|r| r.result.as_ref())
                .map(|r| r.failures)
                .sum();
            let cycles: u64 = churn
                .iter()
                .filter_map(|r| r.result.as_ref())
                .map(|r| r.cycles_done + r.failures)
                .sum();
            format!(
                "{} of {}",
                format::count(failed as f64),
                format::count(cycles as f64)
            )
        });
        let b = |f: fn(&BadinputResult) -> u64| cell(badinput, |r| format::count(f(r) as f64));
        row.push(b(|r| r.inputs_tried));
        row.push(b(|r| r.not_as_rfc));
        row.push(b(|r| r.canary_failures));
        row.push(panics(ctx, s).map_or_else(|| NONE.into(), |(n, _)| format::count(n as f64)));
        row.push(shutdown_cell(shutdown));
        row.push(cell(shutdown, closed_1001));
        if with_hostile {
            // Every run of the server, not the first: a repeated case shows
            // its worst run, so a bad repeat cannot hide behind a good one.
            let hostile = hostile_runs(&data.hostile, s);
            row.push(hostile_cell(&hostile, hostile_rss_of));
            row.push(hostile_cell(&hostile, hostile_slow_of));
            row.push(hostile_cell(&hostile, |r| hostile_canary_of(r, control)));
        }
        t.row(row);
    }
    out.push_str(&t.render());
    out.push('\n');
    out.push_str(&canary_table(&data.hostile));
    let cmds = commands(ctx);
    if let Some(first) = cmds.first() {
        out.push_str(&format!(
            "The commands of `{}`'s runs (the others differ only in binary and port; all are in `run.json`):\n\n```sh\n",
            first.server
        ));
        for r in cmds {
            // A repeated case lists each repeat's commands: say which is which.
            let repeat = r
                .repeat
                .map(|n| format!(", repeat {n}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "# {}{repeat}\n{}\n{}\n",
                r.case,
                r.server_command.join(" "),
                r.load_command.join(" ")
            ));
        }
        out.push_str("```\n\n");
    }
    out
}

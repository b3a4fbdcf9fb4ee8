//! The Criterion sections: one table per group, mode and condition, and a
//! plot of the ratios per group and mode.
//!
//! With several Criterion passes (each its own process), a ratio is taken
//! within each pass and shown as the median (min–max) over the passes, as
//! the repeated `ws-loadgen` figures are. The time per iteration stays the
//! median pass's, with Criterion's own interval: it describes one process
//! honestly, and the comparison between servers is the ratio's job.

use super::data::{self, BenchTable};
use super::flush::ratio_spread;
use super::plots::{self, Ranges, Series};
use super::table::{Align, Table};
use super::{Ctx, format};
use crate::Result;
use crate::contenders;
use crate::manifest::Mode;

/// What one iteration of a known group does.
fn describe(group: &str) -> &'static str {
    match group {
        "echo" => "round trips of a batch of echo messages",
        "broadcast" => "one message to a room, until every member has it",
        "contention" => {
            "many members sending into one room at once, so every sink has many concurrent writers"
        }
        "slow_consumer" => "a batch to the healthy members of a room with one stalled member",
        _ => "as defined in `benches/`",
    }
}

/// Why a known group may be absent: `scripts/compare.sh` leaves
/// `slow_consumer` out of its passes (see the script's header).
fn absent(group: &str) -> &'static str {
    match group {
        "slow_consumer" => {
            ": the comparison's Criterion passes leave it out (a stalled iteration of a mutex variant \
             lasts the send timeout, and the repeated runs above measure the same room); \
             `cargo bench -p benches -- slow_consumer` runs it"
        }
        _ => "",
    }
}

fn table_md(t: &BenchTable, passes: usize) -> String {
    let mut out = format!(
        "#### `{}` · {} · {}\n\n",
        t.group,
        t.condition,
        t.mode.name()
    );
    let (time_col, ratio_col) = if passes > 1 {
        (
            "Time per iteration (median pass)".to_owned(),
            format!(
                "Ratio to {} (median, min–max of {passes} passes)",
                t.reference
            ),
        )
    } else {
        (
            "Time per iteration".to_owned(),
            format!("Ratio to {}", t.reference),
        )
    };
    let mut table = Table::new(&[
        ("Server", Align::Left),
        (&time_col, Align::Right),
        ("95% CI", Align::Right),
        ("Throughput (elements/s)", Align::Right),
        (&ratio_col, Align::Right),
    ]);
    for r in &t.rows {
        let e = r.bench.estimates.typical();
        table.row(vec![
            format!("`{}`", r.contender),
            format::nanos(e.point_estimate),
            format!(
                "{} – {}",
                format::nanos(e.confidence_interval.lower_bound),
                format::nanos(e.confidence_interval.upper_bound)
            ),
            r.bench
                .elements_per_s()
                .map_or_else(|| "–".into(), format::count),
            // The reference's own ratio is 1.00× in every pass by
            // construction: a range of 1.00×–1.00× would say nothing.
            if contenders::is_best_form(&r.contender, t.reference) {
                r.ratio().map_or_else(|| "–".into(), format::ratio)
            } else {
                r.ratio_spread()
                    .as_ref()
                    .map_or_else(|| "–".into(), ratio_spread)
            },
        ]);
    }
    out.push_str(&table.render());
    out.push('\n');
    out
}

/// The plot of one group and mode: ratio to the reference per condition.
fn plot(ctx: &mut Ctx<'_>, group: &str, mode: Mode, tables: &[BenchTable]) -> Result<String> {
    let tables: Vec<&BenchTable> = tables.iter().filter(|t| t.mode == mode).collect();
    if tables
        .iter()
        .all(|t| t.rows.iter().all(|r| r.ratio().is_none()))
    {
        return Ok(String::new());
    }
    let categories: Vec<String> = tables.iter().map(|t| t.condition.clone()).collect();
    let mut names: Vec<String> = tables
        .iter()
        .flat_map(|t| t.rows.iter().map(|r| r.contender.clone()))
        .collect();
    names.sort_by_key(|n| contenders::order_key(n));
    names.dedup();
    let row = |t: &&BenchTable, name: &str| t.rows.iter().find(|r| r.contender == name).cloned();
    let passes = data::group_pass_count(&ctx.data.benches, mode, group);
    // Whiskers: min–max over the passes when there are several; from a
    // single pass, the ratio over the bench's 95% interval (the reference's
    // time held at its estimate), the only interval one process has.
    let ranges: Vec<Ranges> = names
        .iter()
        .map(|name| {
            tables
                .iter()
                .map(|t| {
                    let r = row(t, name)?;
                    if passes > 1 {
                        return r.ratio_spread().map(|s| (s.min, s.max));
                    }
                    let ratio = r.ratio()?;
                    let ci = &r.bench.estimates.typical().confidence_interval;
                    let t = r.bench.estimates.typical().point_estimate;
                    (ci.lower_bound > 0.0 && ci.upper_bound > 0.0)
                        .then(|| (ratio * t / ci.upper_bound, ratio * t / ci.lower_bound))
                })
                .collect()
        })
        .collect();
    let series: Vec<Series> = names
        .into_iter()
        .map(|name| Series {
            values: tables
                .iter()
                .map(|t| row(t, &name).and_then(|r| r.ratio()))
                .collect(),
            name,
        })
        .collect();
    let reference = data::reference_of(group);
    let file = format!("criterion-{group}-{}.svg", mode.name());
    // Short enough for the plot's width: a longer title is clipped.
    let whiskers = if passes > 1 {
        format!("median, min–max of {passes} passes")
    } else {
        "whiskers: 95% CI".to_owned()
    };
    let svg = plots::ranged_bars(
        &file,
        &format!("{group}, {}: × {reference} ({whiskers})", mode.name()),
        &format!("× {reference}"),
        &categories,
        &series,
        &ranges,
        Some(1.0),
    )?;
    Ok(ctx.plot(
        file,
        &format!("{group} {} throughput ratios", mode.name()),
        svg,
    ))
}

/// The tables and plots of one group, without a heading.
pub fn group_body(ctx: &mut Ctx<'_>, group: &str) -> Result<String> {
    let tables = data::bench_tables(&ctx.data.benches, group);
    if tables.is_empty() {
        return Ok(format!(
            "No Criterion results for `{group}` in the results{}.\n\n",
            absent(group)
        ));
    }
    let passes = data::group_pass_count(&ctx.data.benches, Mode::Pinned, group);
    let within = if passes > 1 {
        format!(
            ", taken within each of {passes} Criterion passes (each its own process) and shown as the median (min–max) over them"
        )
    } else {
        String::new()
    };
    let mut out = format!(
        "Criterion group `{group}`: {}. Ratios are to `{}`{within}.\n\n",
        describe(group),
        data::reference_of(group)
    );
    for mode in [Mode::Pinned, Mode::Unpinned] {
        let passes = data::group_pass_count(&ctx.data.benches, mode, group);
        for t in tables.iter().filter(|t| t.mode == mode) {
            out.push_str(&table_md(t, passes));
        }
        out.push_str(&plot(ctx, group, mode, &tables)?);
        out.push('\n');
    }
    Ok(out)
}

/// A `###` section for one group.
pub fn section(ctx: &mut Ctx<'_>, group: &str, title: &str) -> Result<String> {
    let mut out = format!("### {title}\n\n");
    out.push_str(&group_body(ctx, group)?);
    Ok(out)
}

/// Groups the report does not know by name, if any.
pub fn others(ctx: &mut Ctx<'_>) -> Result<String> {
    let known = ["echo", "broadcast", "contention", "slow_consumer"];
    let mut out = String::new();
    for group in data::groups(&ctx.data.benches) {
        if !known.contains(&group.as_str()) {
            out.push_str(&format!("### Criterion group `{group}`\n\n"));
            out.push_str(&group_body(ctx, &group)?);
        }
    }
    Ok(out)
}

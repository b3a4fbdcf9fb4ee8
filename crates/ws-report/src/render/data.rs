//! Everything the report is drawn from, loaded from `results/` alone.

use std::cmp::Ordering;

use serde::de::DeserializeOwned;

use super::flush::Spread;
use crate::contenders::{self, ECHO_REFERENCE, ROOM_REFERENCE};
use crate::criterion::{self, Bench, ImportIndex};
use crate::layout::Layout;
use crate::loadgen::{
    BadinputResult, ChurnResult, ConnectResult, EchoResult, HeartbeatResult, HostileResult,
    RoomResult, SlowResult,
};
use crate::manifest::{Mode, RunManifest, RunRecord, Scenario};
use crate::{Result, fsio};

/// A run's record and its parsed result (absent when the run failed).
#[derive(Clone, Debug)]
pub struct Run<T> {
    /// What ran.
    pub record: RunRecord,
    /// What it measured.
    pub result: Option<T>,
}

/// The contents of `results/`.
#[derive(Clone, Debug, Default)]
pub struct Data {
    /// `run.json`.
    pub manifest: Option<RunManifest>,
    /// `criterion/index.json`.
    pub index: Option<ImportIndex>,
    /// Every imported Criterion benchmark.
    pub benches: Vec<Bench>,
    /// Open-loop echo runs.
    pub latency: Vec<Run<EchoResult>>,
    /// Slow-consumer runs.
    pub slow: Vec<Run<SlowResult>>,
    /// Idle-connection runs.
    pub memory: Vec<Run<ConnectResult>>,
    /// The idle profile's price: large-message echo with and without it.
    pub profile_cost: Vec<Run<EchoResult>>,
    /// The slow-reader sweep (`pace-*`) and detection (`detect-*`) runs.
    pub slow_readers: Vec<Run<SlowResult>>,
    /// Reliability: the floods with and without stalled members (`flood-*`).
    pub flood: Vec<Run<SlowResult>>,
    /// Reliability: churn (`churn-echo`, `churn-room`).
    pub churn: Vec<Run<ChurnResult>>,
    /// Reliability: bad input.
    pub badinput: Vec<Run<BadinputResult>>,
    /// Reliability, hostile clients (absent from collections made before it existed).
    pub hostile: Vec<Run<HostileResult>>,
    /// Reliability: SIGTERM under an echo flood.
    pub shutdown: Vec<Run<EchoResult>>,
    /// Each run's saved `GET /metrics` samples, by stem (runs without a
    /// `<stem>.metrics.txt` are absent).
    pub server_metrics: std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>,
    /// The generator's ceiling against the echo reference.
    pub ceiling: Vec<Run<EchoResult>>,
    /// Closed-loop echo in both flush modes, repeated.
    pub throughput: Vec<Run<EchoResult>>,
    /// The throughput runs once more, at the end of the comparison.
    pub replay: Vec<Run<EchoResult>>,
    /// Every member of a room sending at rising rates, both flush modes.
    pub saturation: Vec<Run<RoomResult>>,
    /// One member sending into a room of thousands.
    pub large_rooms: Vec<Run<RoomResult>>,
    /// Open-loop echo against load, both flush modes, repeated.
    pub load_curve: Vec<Run<EchoResult>>,
    /// Ping intervals on idle, flooded and stalled-room connections, repeated.
    pub heartbeat: Vec<Run<HeartbeatResult>>,
    /// Each latency run's percentile spectrum from its `.hdr` file, by stem
    /// (runs without one are absent).
    pub spectra: std::collections::BTreeMap<String, Vec<(f64, f64)>>,
}

/// The histogram a spectrum is drawn from: undelivered messages at the
/// drain bound, as the latency tables count them; plain `latency` from
/// files without it.
const SPECTRUM_TAGS: [&str; 2] = ["latency_with_undelivered", "latency"];

/// Points of a spectrum per tenfold step of 1/(1−p).
const SPECTRUM_STEPS: u32 = 24;

/// A run's percentile spectrum: `(plots::spectrum_x(p), µs)` from p = 0 up
/// to the percentile its count still resolves (one in `count`), then the max.
fn spectrum(path: &std::path::Path) -> Result<Option<Vec<(f64, f64)>>> {
    if !path.is_file() {
        return Ok(None);
    }
    let (histograms, _) = ws_loadgen::merge::read_hdr(path)
        .map_err(|e| crate::Error::Invalid(format!("{}: {e}", path.display())))?;
    let Some(h) = SPECTRUM_TAGS
        .iter()
        .find_map(|t| histograms.iter().find(|h| h.tag == *t))
        .map(|h| &h.histogram)
    else {
        return Ok(None);
    };
    if h.is_empty() {
        return Ok(None);
    }
    let x_max = (h.len() as f64).log10();
    let mut points: Vec<(f64, f64)> = (0..)
        .map(|i| f64::from(i) / f64::from(SPECTRUM_STEPS))
        .take_while(|x| *x < x_max)
        .map(|x| {
            let p = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(p) as f64)
        })
        .collect();
    points.push((x_max, h.max() as f64));
    Ok(Some(points))
}

fn spectra(
    layout: &Layout,
    runs: &[Run<EchoResult>],
) -> Result<std::collections::BTreeMap<String, Vec<(f64, f64)>>> {
    let mut out = std::collections::BTreeMap::new();
    for r in runs {
        if let Some(s) = spectrum(&layout.run_file(&r.record.stem, "hdr"))? {
            out.insert(r.record.stem.clone(), s);
        }
    }
    Ok(out)
}

fn load_runs<T: DeserializeOwned>(
    layout: &Layout,
    manifest: Option<&RunManifest>,
    scenario: Scenario,
    case_prefix: &str,
) -> Result<Vec<Run<T>>> {
    let mut runs = Vec::new();
    for record in manifest
        .iter()
        .flat_map(|m| &m.runs)
        .filter(|r| r.scenario == scenario && r.case.starts_with(case_prefix))
    {
        let json = layout.run_file(&record.stem, "json");
        let result = if json.is_file() {
            Some(fsio::read_json(&json)?)
        } else {
            None
        };
        runs.push(Run {
            record: record.clone(),
            result,
        });
    }
    Ok(runs)
}

impl Data {
    /// Load everything under `layout`.
    ///
    /// # Errors
    /// I/O and JSON errors naming the file; missing files are not errors.
    pub fn load(layout: &Layout) -> Result<Self> {
        let manifest: Option<RunManifest> = if layout.run_json().is_file() {
            Some(fsio::read_json(&layout.run_json())?)
        } else {
            None
        };
        let latency = load_runs(layout, manifest.as_ref(), Scenario::Latency, "")?;
        Ok(Self {
            spectra: spectra(layout, &latency)?,
            latency,
            slow: load_runs(layout, manifest.as_ref(), Scenario::Slow, "")?,
            memory: load_runs(layout, manifest.as_ref(), Scenario::Memory, "idle")?,
            profile_cost: load_runs(layout, manifest.as_ref(), Scenario::Memory, "cost-")?,
            slow_readers: load_runs(layout, manifest.as_ref(), Scenario::SlowReaders, "")?,
            flood: load_runs(layout, manifest.as_ref(), Scenario::Reliability, "flood-")?,
            churn: load_runs(layout, manifest.as_ref(), Scenario::Reliability, "churn-")?,
            badinput: load_runs(layout, manifest.as_ref(), Scenario::Reliability, "badinput")?,
            hostile: load_runs(layout, manifest.as_ref(), Scenario::Reliability, "hostile")?,
            shutdown: load_runs(layout, manifest.as_ref(), Scenario::Reliability, "shutdown")?,
            ceiling: load_runs(layout, manifest.as_ref(), Scenario::Ceiling, "")?,
            throughput: load_runs(layout, manifest.as_ref(), Scenario::Throughput, "")?,
            replay: load_runs(layout, manifest.as_ref(), Scenario::Replay, "")?,
            saturation: load_runs(layout, manifest.as_ref(), Scenario::Saturation, "")?,
            large_rooms: load_runs(
                layout,
                manifest.as_ref(),
                Scenario::Memory,
                crate::collect::plan::LARGE_ROOM,
            )?,
            load_curve: load_runs(layout, manifest.as_ref(), Scenario::LoadCurve, "")?,
            heartbeat: load_runs(layout, manifest.as_ref(), Scenario::Heartbeat, "")?,
            server_metrics: super::strategy::load(layout, manifest.as_ref())?,
            index: criterion::load_index(layout)?,
            benches: criterion::load(layout)?,
            manifest,
        })
    }
}

/// One pass of one row: a Criterion process's figure.
#[derive(Clone, Debug)]
pub struct PassFigure {
    /// The pass (`None` for a baseline without one).
    pub repeat: Option<u32>,
    /// Typical time per iteration, ns.
    pub time: f64,
    /// The reference's time in the same pass over this time.
    pub ratio: Option<f64>,
}

/// One row of a Criterion table.
#[derive(Clone, Debug)]
pub struct BenchRow {
    /// The contender.
    pub contender: String,
    /// The benchmark of the median pass (by time per iteration).
    pub bench: Bench,
    /// Every pass's figures, in pass order.
    pub passes: Vec<PassFigure>,
}

impl BenchRow {
    /// Reference time / this time (above 1 = faster than the reference): the
    /// median over the passes of the ratio within each pass.
    #[must_use]
    pub fn ratio(&self) -> Option<f64> {
        self.ratio_spread().map(|s| s.median)
    }

    /// The ratio over the passes, each taken within its pass.
    #[must_use]
    pub fn ratio_spread(&self) -> Option<Spread> {
        let ratios: Vec<f64> = self.passes.iter().filter_map(|p| p.ratio).collect();
        Spread::of(&ratios)
    }

    /// This row's time over `other`'s, pass by pass (passes both have).
    #[must_use]
    pub fn time_over(&self, other: &Self) -> Option<Spread> {
        let times =
            |row: &Self| -> Vec<_> { row.passes.iter().map(|p| (p.repeat, p.time)).collect() };
        Spread::of_ratios(times(self), &times(other))
    }
}

/// One Criterion table: a group, a mode, a condition.
#[derive(Clone, Debug)]
pub struct BenchTable {
    /// Group id.
    pub group: String,
    /// Baseline.
    pub mode: Mode,
    /// Condition (parameter).
    pub condition: String,
    /// The reference the ratios are to.
    pub reference: &'static str,
    /// Rows in contender order.
    pub rows: Vec<BenchRow>,
}

/// How many Criterion passes `benches` hold in `mode` (a baseline without a
/// pass number counts as one).
#[must_use]
pub fn pass_count(benches: &[Bench], mode: Mode) -> usize {
    passes_of(benches.iter().filter(|b| b.mode == mode))
}

/// [`pass_count`] of one group: a group run in fewer passes than the others
/// (a pass cut short, a `--bench` left out) says so.
#[must_use]
pub fn group_pass_count(benches: &[Bench], mode: Mode, group: &str) -> usize {
    passes_of(
        benches
            .iter()
            .filter(|b| b.mode == mode && b.id.group_id == group),
    )
}

fn passes_of<'a>(benches: impl Iterator<Item = &'a Bench>) -> usize {
    let passes: std::collections::BTreeSet<Option<u32>> = benches.map(|b| b.repeat).collect();
    passes.len()
}

/// The reference of a Criterion group.
#[must_use]
pub fn reference_of(group: &str) -> &'static str {
    if group == "echo" {
        ECHO_REFERENCE
    } else {
        ROOM_REFERENCE
    }
}

/// Known groups first, in the report's order, then the others by name.
#[must_use]
pub fn group_order(group: &str) -> (usize, String) {
    let known = ["echo", "broadcast", "contention", "slow_consumer"];
    (
        known
            .iter()
            .position(|g| *g == group)
            .unwrap_or(known.len()),
        group.to_owned(),
    )
}

/// A piece of a name for natural ordering.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Chunk {
    Num(u128),
    Text(String),
}

/// Order names so that `10` sorts after `9`.
fn natural_key(s: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut digits = String::new();
    let mut text = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !text.is_empty() {
                out.push(Chunk::Text(std::mem::take(&mut text)));
            }
            digits.push(c);
        } else {
            if !digits.is_empty() {
                out.push(
                    digits
                        .parse()
                        .map_or_else(|_| Chunk::Text(digits.clone()), Chunk::Num),
                );
                digits.clear();
            }
            text.push(c);
        }
    }
    if !digits.is_empty() {
        out.push(
            digits
                .parse()
                .map_or_else(|_| Chunk::Text(digits.clone()), Chunk::Num),
        );
    }
    if !text.is_empty() {
        out.push(Chunk::Text(text));
    }
    out
}

/// Compare conditions naturally, then as plain strings.
#[must_use]
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    natural_key(a).cmp(&natural_key(b)).then_with(|| a.cmp(b))
}

/// The Criterion tables of `group`, for each mode then each condition.
#[must_use]
pub fn bench_tables(benches: &[Bench], group: &str) -> Vec<BenchTable> {
    let reference = reference_of(group);
    let mut tables = Vec::new();
    for mode in [Mode::Pinned, Mode::Unpinned] {
        let in_mode: Vec<&Bench> = benches
            .iter()
            .filter(|b| b.mode == mode && b.id.group_id == group)
            .collect();
        let mut conditions: Vec<&str> = in_mode.iter().map(|b| b.condition()).collect();
        conditions.sort_by(|a, b| natural_cmp(a, b));
        conditions.dedup();
        for condition in conditions {
            let mut rows: Vec<&Bench> = in_mode
                .iter()
                .copied()
                .filter(|b| b.condition() == condition)
                .collect();
            rows.sort_by_key(|b| contenders::order_key(b.contender()));
            // The reference at its best (`--flush batched`), in both modes'
            // rows, so that every ratio of a table has the same denominator;
            // per pass, so that a ratio is taken within one process.
            let ref_time = |repeat: Option<u32>| {
                rows.iter()
                    .find(|b| {
                        b.repeat == repeat && contenders::is_best_form(b.contender(), reference)
                    })
                    .map(|b| b.estimates.typical().point_estimate)
            };
            let mut names: Vec<&str> = Vec::new();
            for b in &rows {
                if !names.contains(&b.contender()) {
                    names.push(b.contender());
                }
            }
            let rows = names
                .into_iter()
                .filter_map(|name| {
                    let mut passes: Vec<&Bench> = rows
                        .iter()
                        .copied()
                        .filter(|b| b.contender() == name)
                        .collect();
                    passes.sort_by_key(|b| b.repeat);
                    let figures: Vec<PassFigure> = passes
                        .iter()
                        .map(|b| {
                            let t = b.estimates.typical().point_estimate;
                            PassFigure {
                                repeat: b.repeat,
                                time: t,
                                ratio: ref_time(b.repeat).filter(|_| t > 0.0).map(|r| r / t),
                            }
                        })
                        .collect();
                    // The median pass by time (the lower middle for an even
                    // count): its time and interval stand for the row.
                    let mut by_time = passes.clone();
                    by_time.sort_by(|a, b| {
                        a.estimates
                            .typical()
                            .point_estimate
                            .total_cmp(&b.estimates.typical().point_estimate)
                    });
                    let bench = (*by_time.get(by_time.len().saturating_sub(1) / 2)?).clone();
                    Some(BenchRow {
                        contender: name.to_owned(),
                        bench,
                        passes: figures,
                    })
                })
                .collect();
            tables.push(BenchTable {
                group: group.to_owned(),
                mode,
                condition: condition.to_owned(),
                reference,
                rows,
            });
        }
    }
    tables
}

/// Every group present, in report order.
#[must_use]
pub fn groups(benches: &[Bench]) -> Vec<String> {
    let mut groups: Vec<String> = benches.iter().map(|b| b.id.group_id.clone()).collect();
    groups.sort_by_key(|g| group_order(g));
    groups.dedup();
    groups
}

/// Geometric mean of a contender's ratios over a group's tables in one mode,
/// with the number of conditions it covers. `contender` is a server (its
/// rows at their best: `server/batched`, or `server` from results without
/// `--flush`) or an exact benchmark name such as `server/each`. The median
/// of [`geomean_spread`].
#[must_use]
pub fn geomean_ratio(tables: &[BenchTable], mode: Mode, contender: &str) -> Option<(f64, usize)> {
    geomean_spread(tables, mode, contender).map(|(s, n)| (s.median, n))
}

/// [`geomean_ratio`] pass by pass: the geometric mean of each pass's
/// ratios (each within its pass), summarized over the passes, with the
/// number of conditions covered.
#[must_use]
pub fn geomean_spread(
    tables: &[BenchTable],
    mode: Mode,
    contender: &str,
) -> Option<(Spread, usize)> {
    let rows: Vec<&BenchRow> = tables
        .iter()
        .filter(|t| t.mode == mode)
        .flat_map(|t| &t.rows)
        .filter(|r| r.contender == contender || contenders::is_best_form(&r.contender, contender))
        .collect();
    let mut by_pass: std::collections::BTreeMap<Option<u32>, Vec<f64>> =
        std::collections::BTreeMap::new();
    for p in rows.iter().flat_map(|r| &r.passes) {
        if let Some(r) = p.ratio.filter(|r| *r > 0.0) {
            by_pass.entry(p.repeat).or_default().push(r);
        }
    }
    let conditions = by_pass.values().map(Vec::len).max()?;
    let means: Vec<f64> = by_pass
        .values()
        .map(|ratios| (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp())
        .collect();
    Some((Spread::of(&means)?, conditions))
}

//! "What each strategy saw": the servers' own counters of their sharing
//! strategy, from the `<stem>.metrics.txt` that `collect` saves right after
//! each run's load (see [`crate::layout`]), for the slow-consumer runs and the
//! stalled-consumer floods.
//!
//! The figures are those of `crates/ws-common/src/metrics.rs`: lock
//! acquisitions, contended acquisitions and their waits for the servers that
//! put the sink behind a lock; writer wake-ups and the queue depth found at
//! each for the server whose writer task owns the sink. A server that reports
//! none of them (the references) gets "–"; a run without a saved file (results
//! collected before `collect` saved them) is shown as such, never an error.

use std::collections::BTreeMap;
use std::io::ErrorKind;

use super::data::Run;
use super::flush::Spread;
use super::table::{Align, Table};
use super::{Ctx, format};
use crate::contenders;
use crate::layout::Layout;
use crate::loadgen::SlowResult;
use crate::manifest::RunManifest;
use crate::{Result, fsio};

/// A run's `/metrics` samples by series name (labels included), as
/// [`ws_rawframe::parse_metrics`] reads them.
pub type Samples = BTreeMap<String, f64>;

/// Written where a server reports no such figure.
const NONE: &str = "–";
/// The percentile whose bucket the tables give.
const QUANTILE: f64 = 0.99;

const MESSAGES_SENT: &str = "ws_messages_sent_total";
const LOCK_ACQUISITIONS: &str = "ws_sink_lock_acquisitions_total";
const LOCK_CONTENDED: &str = "ws_sink_lock_contended_total";
const LOCK_WAIT: &str = "ws_sink_lock_wait_seconds";
const QUEUE_DEPTH: &str = "ws_writer_queue_depth";

/// Every run's saved `/metrics`, parsed, by stem; runs without a file are left out.
///
/// # Errors
/// [`crate::Error::Io`] when a file exists but cannot be read.
pub(crate) fn load(
    layout: &Layout,
    manifest: Option<&RunManifest>,
) -> Result<BTreeMap<String, Samples>> {
    let mut out = BTreeMap::new();
    for record in manifest.iter().flat_map(|m| &m.runs) {
        let path = layout.run_metrics(&record.stem);
        match std::fs::read(&path) {
            // Lossy: the parser skips what it cannot read, and so does a
            // stray invalid byte here, rather than failing the report.
            Ok(bytes) => {
                let samples = ws_rawframe::parse_metrics(&String::from_utf8_lossy(&bytes));
                out.insert(record.stem.clone(), samples);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(fsio::io_err(&path)(e)),
        }
    }
    Ok(out)
}

/// One Prometheus histogram: `<name>_sum`, `<name>_count` and its cumulative
/// `<name>_bucket{le="…"}` counts, by ascending upper bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations.
    pub count: f64,
    /// (upper bound, observations at or below it); the last bound is `+Inf`.
    pub buckets: Vec<(f64, f64)>,
}

/// The `le` label's bound in a series' label set (`{le="0.5"}`); `+Inf` is infinite.
fn le_bound(labels: &str) -> Option<f64> {
    let inner = labels.strip_prefix('{')?.strip_suffix('}')?;
    let value = inner
        .split(',')
        .find_map(|pair| pair.trim().strip_prefix("le="))?
        .trim_matches('"');
    match value {
        "+Inf" => Some(f64::INFINITY),
        other => other.parse().ok(),
    }
}

impl Histogram {
    /// The histogram `name` in `samples`, if its sum and count are there.
    #[must_use]
    pub fn from_samples(samples: &Samples, name: &str) -> Option<Self> {
        let sum = *samples.get(&format!("{name}_sum"))?;
        let count = *samples.get(&format!("{name}_count"))?;
        let prefix = format!("{name}_bucket");
        let mut buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter_map(|(series, n)| Some((le_bound(series.strip_prefix(&prefix)?)?, *n)))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Self {
            sum,
            count,
            buckets,
        })
    }

    /// Mean observation (sum / count); `None` without observations.
    #[must_use]
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// The upper bound of the bucket holding quantile `q` (nearest rank: the
    /// ⌈q·count⌉-th smallest observation), infinite when only `+Inf` holds
    /// it; `None` without observations. A bucket bound, not a measured
    /// value: the buckets are all the server kept.
    #[must_use]
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        // The epsilon keeps 0.99 × 100 at rank 99 despite rounding.
        let rank = (q * self.count - 1e-9).ceil().max(1.0);
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank)
            .map(|(bound, _)| *bound)
    }

    /// The largest finite bucket bound, for "above the last bucket".
    #[must_use]
    pub fn last_finite_bound(&self) -> Option<f64> {
        self.buckets
            .iter()
            .rev()
            .map(|(b, _)| *b)
            .find(|b| b.is_finite())
    }
}

/// What a server's sharing strategy reported in one run.
#[derive(Clone, Debug, PartialEq)]
pub enum Figures {
    /// The sink is behind a lock.
    Lock {
        /// Locks of a connection's sink taken.
        acquisitions: f64,
        /// Of those, the ones that found the lock held.
        contended: f64,
        /// How long contended acquisitions waited, in seconds.
        wait: Option<Histogram>,
    },
    /// A writer task owns the sink and drains a queue.
    Queue {
        /// Messages queued at each wake-up (one observation per flush).
        depth: Histogram,
    },
    /// Neither: nothing shared (or nothing happened).
    None,
}

/// Which strategy's figures a run's samples hold, judged from the samples
/// alone: lock acquisitions first, then writer wake-ups.
#[must_use]
pub fn figures(samples: &Samples) -> Figures {
    let acquisitions = samples.get(LOCK_ACQUISITIONS).copied().unwrap_or(0.0);
    if acquisitions > 0.0 {
        return Figures::Lock {
            acquisitions,
            contended: samples.get(LOCK_CONTENDED).copied().unwrap_or(0.0),
            wait: Histogram::from_samples(samples, LOCK_WAIT),
        };
    }
    match Histogram::from_samples(samples, QUEUE_DEPTH) {
        Some(depth) if depth.count > 0.0 => Figures::Queue { depth },
        _ => Figures::None,
    }
}

/// `≤ bound` for a quantile's bucket, `> last bound` for the `+Inf` bucket.
fn bound_cell(h: &Histogram, fmt: impl Fn(f64) -> String) -> String {
    match h.quantile_bound(QUANTILE) {
        Some(b) if b.is_finite() => format!("≤ {}", fmt(b)),
        Some(_) => h
            .last_finite_bound()
            .map_or_else(|| NONE.into(), |b| format!("> {}", fmt(b))),
        None => NONE.into(),
    }
}

fn seconds(s: f64) -> String {
    format::nanos(s * 1e9)
}

/// Lock cells: acquisitions, contended share, mean and p99 bucket of contended waits.
fn lock_cells(acquisitions: f64, contended: f64, wait: Option<&Histogram>) -> [String; 4] {
    let wait = wait.filter(|w| w.count > 0.0);
    [
        format::count(acquisitions),
        // Contention is rare and matters when it happens: the count, and a
        // share with significant digits rather than a rounded 0.0%.
        format!(
            "{} ({})",
            format::count(contended),
            small_percent(contended / acquisitions)
        ),
        wait.and_then(Histogram::mean)
            .map_or_else(|| NONE.into(), seconds),
        wait.map_or_else(|| NONE.into(), |w| bound_cell(w, seconds)),
    ]
}

/// A share as a percentage that stays readable when tiny: one decimal from
/// 0.1 % up, two significant digits below (`0.056%`), `0%` for none.
fn small_percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p <= 0.0 || !p.is_finite() {
        return "0%".into();
    }
    if p >= 0.1 {
        return format!("{p:.1}%");
    }
    // Two significant digits: one more decimal than the first non-zero one.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let decimals = (1.0 - p.log10().floor()) as usize;
    format!("{p:.decimals$}%")
}

/// Queue cells: wake-ups, mean depth, p99 bucket of the depth.
fn queue_cells(depth: &Histogram) -> [String; 3] {
    [
        format::count(depth.count),
        depth.mean().map_or_else(|| NONE.into(), format::number),
        bound_cell(depth, format::count),
    ]
}

/// A run's case in words: `baseline` or `3 stalled`.
fn case_label(run: &Run<SlowResult>) -> String {
    if run.record.case == "contention" {
        return run.result.as_ref().map_or_else(
            || "contention".into(),
            |r| format!("{} senders", r.config.senders),
        );
    }
    if run.record.case.ends_with("stalled") {
        run.result.as_ref().map_or_else(
            || "stalled".into(),
            |r| format!("{} stalled", r.config.stalled),
        )
    } else {
        "baseline".into()
    }
}

/// One table row: the server, the case (and the repeat, for repeated
/// runs), then its figures.
fn row(run: &Run<SlowResult>, samples: Option<&Samples>) -> Vec<String> {
    let case = match run.record.repeat {
        Some(repeat) => format!("{}, repeat {repeat}", case_label(run)),
        None => case_label(run),
    };
    let mut row = vec![format!("`{}`", run.record.server), case];
    let Some(s) = samples else {
        row.push("no /metrics saved".into());
        return row;
    };
    row.push(
        s.get(MESSAGES_SENT)
            .map_or_else(|| NONE.into(), |n| format::count(*n)),
    );
    let none = || NONE.to_owned();
    match figures(s) {
        Figures::Lock {
            acquisitions,
            contended,
            wait,
        } => {
            row.extend(lock_cells(acquisitions, contended, wait.as_ref()));
            row.extend(std::array::from_fn::<_, 3, _>(|_| none()));
        }
        Figures::Queue { depth } => {
            row.extend(std::array::from_fn::<_, 4, _>(|_| none()));
            row.extend(queue_cells(&depth));
        }
        Figures::None => row.extend(std::array::from_fn::<_, 7, _>(|_| none())),
    }
    row
}

/// The runs of `cases`, server by server, each server's cases in the order
/// given, each case's repeats in order.
fn runs_of<'a>(runs: &'a [Run<SlowResult>], cases: &[&str]) -> Vec<&'a Run<SlowResult>> {
    let mut out: Vec<&Run<SlowResult>> = runs
        .iter()
        .filter(|r| cases.contains(&r.record.case.as_str()))
        .collect();
    out.sort_by_key(|r| {
        (
            contenders::order_key(&r.record.server),
            cases.iter().position(|c| *c == r.record.case),
            r.record.repeat,
        )
    });
    out
}

/// The table of one scenario; `None` when none of its runs has saved metrics.
fn table(metrics: &BTreeMap<String, Samples>, runs: &[&Run<SlowResult>]) -> Option<String> {
    if !runs.iter().any(|r| metrics.contains_key(&r.record.stem)) {
        return None;
    }
    let mut t = Table::new(&[
        ("Server", Align::Left),
        ("Case", Align::Left),
        ("Messages sent", Align::Right),
        ("Lock acquisitions", Align::Right),
        ("Contended", Align::Right),
        ("Mean contended wait", Align::Right),
        ("p99 contended wait", Align::Right),
        ("Writer wake-ups", Align::Right),
        ("Mean queue depth", Align::Right),
        ("p99 queue depth", Align::Right),
    ]);
    for r in runs {
        t.row(row(r, metrics.get(&r.record.stem)));
    }
    Some(t.render())
}

/// One server's baseline-to-stalled change, in words, from the pairs of
/// runs (a stalled run and the baseline of its repeat) whose figures are of
/// the same kind; median (min–max) over the repeats.
fn change(
    metrics: &BTreeMap<String, Samples>,
    pairs: &[(&Run<SlowResult>, &Run<SlowResult>)],
) -> Option<String> {
    let (_, first) = pairs.first()?;
    let server = &first.record.server;
    let with = case_label(first);
    let (mut locks, mut queues) = (Vec::new(), Vec::new());
    for (baseline, stalled) in pairs {
        let (Some(b), Some(s)) = (
            metrics.get(&baseline.record.stem),
            metrics.get(&stalled.record.stem),
        ) else {
            continue;
        };
        match (figures(b), figures(s)) {
            (
                Figures::Lock {
                    acquisitions: ba,
                    contended: bc,
                    ..
                },
                Figures::Lock {
                    acquisitions: sa,
                    contended: sc,
                    ..
                },
            ) => locks.push((bc / ba, sc / sa)),
            (Figures::Queue { depth: bd }, Figures::Queue { depth: sd }) => {
                if let (Some(b), Some(s)) = (bd.mean(), sd.mean()) {
                    queues.push((b, s));
                }
            }
            _ => {}
        }
    }
    let spreads = |v: &[(f64, f64)]| {
        let (b, s): (Vec<f64>, Vec<f64>) = v.iter().copied().unzip();
        Some((Spread::of(&b)?, Spread::of(&s)?))
    };
    if let Some((b, s)) = spreads(&locks) {
        return Some(format!(
            "`{server}` found a sink's lock held at {} of its acquisitions in the baseline and {} with {with} member(s)",
            b.show(small_percent),
            s.show(small_percent)
        ));
    }
    let (b, s) = spreads(&queues)?;
    Some(format!(
        "`{server}`'s writer tasks wrote {} message(s) per flush on average in the baseline and {} with {with} member(s)",
        b.show(format::number),
        s.show(format::number)
    ))
}

/// "What each strategy saw (from its /metrics)".
pub fn section(ctx: &Ctx<'_>) -> String {
    let data = ctx.data;
    let slow = runs_of(&data.slow, &["baseline", "stalled"]);
    let contention = runs_of(&data.slow, &["contention"]);
    let flood = runs_of(&data.flood, &["flood-baseline", "flood-stalled"]);
    if slow.is_empty() && flood.is_empty() && contention.is_empty() {
        return String::new();
    }
    let mut out = String::from("### What each strategy saw (from its /metrics)\n\n");
    let metrics = &data.server_metrics;
    let slow_table = table(metrics, &slow);
    let flood_table = table(metrics, &flood);
    let contention_table = table(metrics, &contention);
    if slow_table.is_none() && flood_table.is_none() && contention_table.is_none() {
        out.push_str(
            "No run in these results has a saved `GET /metrics` (`<run>.metrics.txt`): they were collected before `ws-report collect` saved it.\n\n",
        );
        return out;
    }
    out.push_str(
        "Each server's own counters, read from its `GET /metrics` by `ws-report collect` right after the load ended and before the server was stopped \
         (`<run>.metrics.txt` beside the run's other files), so they cover the whole run, warm-up included. \
         For a server that puts the sink behind a lock, *contended* is the share of lock acquisitions that found the lock already held by another writer, \
         and the wait columns describe those contended acquisitions only (mean = sum / count of `ws_sink_lock_wait_seconds`). \
         For a server whose writer task owns the sink, each wake-up of that task is one flush, so the *mean queue depth* is the messages written per flush. \
         The p99 columns give the upper bound of the histogram bucket holding the 99th percentile, a bound rather than a measured value; \
         – where a server reports no such figure.\n\n",
    );
    if let Some(t) = slow_table {
        out.push_str("**Slow consumer** (the runs of [Slow consumer isolation](#slow-consumer-isolation)):\n\n");
        out.push_str(&t);
        out.push('\n');
        let pairs: Vec<(&Run<SlowResult>, &Run<SlowResult>)> = slow
            .iter()
            .filter(|r| r.record.case == "stalled")
            .filter_map(|s| {
                let b = slow.iter().find(|b| {
                    b.record.server == s.record.server
                        && b.record.case == "baseline"
                        && b.record.repeat == s.record.repeat
                })?;
                Some((*b, *s))
            })
            .collect();
        let changes: Vec<String> = super::scenarios::servers(&slow)
            .into_iter()
            .filter_map(|server| {
                let own: Vec<_> = pairs
                    .iter()
                    .copied()
                    .filter(|(_, s)| s.record.server == server)
                    .collect();
                change(metrics, &own)
            })
            .collect();
        if !changes.is_empty() {
            out.push_str(&format!("In these runs, {}.\n\n", changes.join("; ")));
        }
    }
    if let Some(t) = contention_table {
        let senders = contention
            .iter()
            .find_map(|r| r.result.as_ref())
            .map_or_else(String::new, |r| {
                format!(
                    ": {} of {} members sending {} B messages at {} in total, nobody slow",
                    r.config.senders,
                    r.config.conns,
                    r.config.size,
                    r.config
                        .rate
                        .map_or_else(|| "closed loop".to_owned(), format::rate)
                )
            });
        out.push_str(&format!(
            "**Contention** (several writers to every sink{senders}):\n\n"
        ));
        out.push_str(&t);
        out.push('\n');
    }
    if let Some(t) = flood_table {
        out.push_str("**Stalled-consumer flood** (the floods of [Reliability](#reliability)):\n\n");
        out.push_str(&t);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mutex server's exposition, in prometheus-client's format: 200
    /// acquisitions, 10 contended; of those 8 waited ≤ 4 µs, one ≤ 16 µs
    /// and one ≤ 64 µs (the 10th, so the p99).
    const LOCK: &str = "\
# HELP ws_messages_sent_total Text and Binary messages handed to a connection's writer.
# TYPE ws_messages_sent_total counter
ws_messages_sent_total 5000
# TYPE ws_sink_lock_acquisitions_total counter
ws_sink_lock_acquisitions_total 200
# TYPE ws_sink_lock_contended_total counter
ws_sink_lock_contended_total 10
# TYPE ws_sink_lock_wait_seconds histogram
ws_sink_lock_wait_seconds_sum 0.0001
ws_sink_lock_wait_seconds_count 10
ws_sink_lock_wait_seconds_bucket{le=\"1e-6\"} 0
ws_sink_lock_wait_seconds_bucket{le=\"4e-6\"} 8
ws_sink_lock_wait_seconds_bucket{le=\"1.6e-5\"} 9
ws_sink_lock_wait_seconds_bucket{le=\"6.4e-5\"} 10
ws_sink_lock_wait_seconds_bucket{le=\"+Inf\"} 10
# TYPE ws_writer_queue_depth histogram
ws_writer_queue_depth_sum 0.0
ws_writer_queue_depth_count 0
ws_writer_queue_depth_bucket{le=\"1.0\"} 0
ws_writer_queue_depth_bucket{le=\"+Inf\"} 0
# EOF
";

    /// An mpsc server's: 100 flushes of 250 messages, 99 of them at most 4 deep.
    const QUEUE: &str = "\
ws_messages_sent_total 250
ws_sink_lock_acquisitions_total 0
ws_sink_lock_contended_total 0
ws_writer_queue_depth_sum 250.0
ws_writer_queue_depth_count 100
ws_writer_queue_depth_bucket{le=\"1.0\"} 60
ws_writer_queue_depth_bucket{le=\"2.0\"} 90
ws_writer_queue_depth_bucket{le=\"4.0\"} 99
ws_writer_queue_depth_bucket{le=\"8.0\"} 100
ws_writer_queue_depth_bucket{le=\"+Inf\"} 100
";

    fn hist(count: f64, buckets: &[(f64, f64)]) -> Histogram {
        Histogram {
            sum: 0.0,
            count,
            buckets: buckets.to_vec(),
        }
    }

    #[test]
    fn reads_the_le_label() {
        assert_eq!(le_bound("{le=\"1e-6\"}"), Some(1e-6));
        assert_eq!(le_bound("{le=\"2.0\"}"), Some(2.0));
        assert_eq!(le_bound("{le=\"+Inf\"}"), Some(f64::INFINITY));
        assert_eq!(le_bound("{a=\"b\",le=\"4\"}"), Some(4.0));
        assert_eq!(le_bound("{a=\"b\"}"), None);
        assert_eq!(le_bound("{le=\"x\"}"), None);
        assert_eq!(le_bound("_sum"), None);
    }

    #[test]
    fn parses_a_histogram_in_bound_order() {
        let samples = ws_rawframe::parse_metrics(LOCK);
        let h = Histogram::from_samples(&samples, LOCK_WAIT).expect("histogram");
        assert_eq!(h.count, 10.0);
        assert_eq!(h.sum, 0.0001);
        // The series sort as text (`1.6e-5` before `1e-6`); the buckets by value.
        let bounds: Vec<f64> = h.buckets.iter().map(|b| b.0).collect();
        assert_eq!(bounds, [1e-6, 4e-6, 1.6e-5, 6.4e-5, f64::INFINITY]);
        assert_eq!(h.mean(), Some(1e-5));
        assert_eq!(h.last_finite_bound(), Some(6.4e-5));
        assert!(Histogram::from_samples(&samples, "ws_nothing").is_none());
    }

    #[test]
    fn the_quantile_bucket_is_the_first_reaching_its_rank() {
        let samples = ws_rawframe::parse_metrics(QUEUE);
        let h = Histogram::from_samples(&samples, QUEUE_DEPTH).expect("histogram");
        // Rank 99 of 100: the bucket up to 4 holds 99.
        assert_eq!(h.quantile_bound(0.99), Some(4.0));
        assert_eq!(h.quantile_bound(0.5), Some(1.0));
        assert_eq!(h.quantile_bound(0.6), Some(1.0));
        assert_eq!(h.quantile_bound(0.61), Some(2.0));
        assert_eq!(h.quantile_bound(1.0), Some(8.0));
        // One observation: it is the p99.
        assert_eq!(
            hist(1.0, &[(1.0, 0.0), (2.0, 1.0), (f64::INFINITY, 1.0)]).quantile_bound(0.99),
            Some(2.0)
        );
        // Beyond the last finite bucket.
        let over = hist(10.0, &[(1.0, 5.0), (f64::INFINITY, 10.0)]);
        assert_eq!(over.quantile_bound(0.99), Some(f64::INFINITY));
        assert_eq!(bound_cell(&over, format::count), "> 1");
        // No observations: no quantile.
        assert_eq!(hist(0.0, &[(1.0, 0.0)]).quantile_bound(0.99), None);
    }

    #[test]
    fn figures_follow_what_the_server_reported() {
        let lock = figures(&ws_rawframe::parse_metrics(LOCK));
        let Figures::Lock {
            acquisitions,
            contended,
            wait,
        } = &lock
        else {
            panic!("expected lock figures, got {lock:?}");
        };
        assert_eq!(
            lock_cells(*acquisitions, *contended, wait.as_ref()),
            ["200", "10 (5.0%)", "10.0 µs", "≤ 64.0 µs"].map(String::from)
        );
        let queue = figures(&ws_rawframe::parse_metrics(QUEUE));
        let Figures::Queue { depth } = &queue else {
            panic!("expected queue figures, got {queue:?}");
        };
        assert_eq!(queue_cells(depth), ["100", "2.50", "≤ 4"].map(String::from));
        // A reference: everything at zero.
        let zeros = "ws_sink_lock_acquisitions_total 0\nws_writer_queue_depth_count 0\nws_writer_queue_depth_sum 0\n";
        assert_eq!(figures(&ws_rawframe::parse_metrics(zeros)), Figures::None);
        assert_eq!(figures(&Samples::new()), Figures::None);
    }

    #[test]
    fn uncontended_locks_have_no_wait_figures() {
        let h = hist(0.0, &[(1e-6, 0.0), (f64::INFINITY, 0.0)]);
        assert_eq!(
            lock_cells(50.0, 0.0, Some(&h)),
            ["50", "0 (0%)", NONE, NONE].map(String::from)
        );
    }

    #[test]
    fn tiny_shares_keep_two_significant_digits() {
        assert_eq!(small_percent(0.0), "0%");
        assert_eq!(small_percent(0.05), "5.0%");
        assert_eq!(small_percent(0.001), "0.1%");
        assert_eq!(small_percent(0.000_562), "0.056%");
        assert_eq!(small_percent(0.000_005_2), "0.00052%");
    }
}

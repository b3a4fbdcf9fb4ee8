//! Report pieces shared by the scenarios, and the human table rendering.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::heartbeat::HeartbeatReport;
use crate::procmon::ServerReport;
use crate::stats::{Integrity, LatencySummary, new_histogram, record_ns};

/// CPU utilization of its threads above which the generator is called the bottleneck.
pub const CPU_SATURATED: f64 = 0.90;
/// Fraction of scheduled messages that must have been sent on time-ish.
pub const SCHEDULE_KEPT: f64 = 0.99;
/// 99th-percentile schedule lag above which the generator is called behind.
pub const LAG_P99_LIMIT_US: u64 = 5_000;
/// Open loop: a pacing error p99 above this share of the measured latency
/// p50 makes the latency partly the generator's own lateness.
pub const PACING_P99_SHARE_OF_P50: f64 = 0.1;

/// What every scenario's report can do.
pub trait Report: Serialize {
    /// The compact human table.
    fn table(&self) -> String;
    /// The integrity counters.
    fn integrity(&self) -> &Integrity;
    /// Histograms for `--hdr`, by tag (values in microseconds).
    fn histograms(&self) -> &[NamedHistogram];
    /// Whether `--strict` makes the binary exit with 1: integrity failures,
    /// plus what a scenario counts as failing (a leak after `churn`, a
    /// canary failure or a non-RFC answer in `badinput`).
    fn failed(&self) -> bool {
        self.integrity().has_failures()
    }
}

/// A histogram with the tag it is written under in `--hdr` files.
#[derive(Clone, Debug)]
pub struct NamedHistogram {
    /// Tag, e.g. `latency` or `latency_with_undelivered`.
    pub tag: String,
    /// Values in microseconds.
    pub histogram: Histogram<u64>,
}

impl NamedHistogram {
    /// `histogram` under `tag`.
    #[must_use]
    pub fn new(tag: impl Into<String>, histogram: Histogram<u64>) -> Self {
        Self {
            tag: tag.into(),
            histogram,
        }
    }

    /// The two latency histograms of a group of receivers, as every
    /// message scenario writes them: `{prefix}latency` (delivered messages)
    /// and `{prefix}latency_with_undelivered`.
    #[must_use]
    pub fn latency_pair(
        prefix: &str,
        latency: Histogram<u64>,
        with_undelivered: Histogram<u64>,
    ) -> [Self; 2] {
        [
            Self::new(format!("{prefix}latency"), latency),
            Self::new(
                format!("{prefix}latency_with_undelivered"),
                with_undelivered,
            ),
        ]
    }
}

/// Latency over delivered messages, and with the undelivered ones counted at the drain bound.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencyReport {
    /// Over delivered messages only.
    pub delivered: LatencySummary,
    /// Each undelivered message recorded at `drain_bound_us`, so a frozen
    /// receiver cannot look fast by delivering little.
    pub with_undelivered: LatencySummary,
    /// Messages (per receiver) counted at the drain bound.
    pub undelivered: u64,
    /// The value undelivered messages are recorded at: the drain timeout, a
    /// lower bound on how late each of them is.
    pub drain_bound_us: u64,
}

impl LatencyReport {
    /// Build from the delivered histogram and the undelivered count; also
    /// returns the second histogram for `--hdr`.
    #[must_use]
    pub fn build(
        delivered: &Histogram<u64>,
        undelivered: u64,
        drain_bound_ns: u64,
    ) -> (Self, Histogram<u64>) {
        let mut with = new_histogram();
        // Same bounds on both sides, so this cannot fail; ignore rather than panic.
        let _ = with.add(delivered);
        if undelivered > 0 {
            let mut one = new_histogram();
            record_ns(&mut one, drain_bound_ns);
            let v = one.max();
            with.saturating_record_n(v, undelivered);
        }
        (
            Self {
                delivered: LatencySummary::of(delivered),
                with_undelivered: LatencySummary::of(&with),
                undelivered,
                drain_bound_us: drain_bound_ns / 1_000,
            },
            with,
        )
    }
}

/// What every load scenario's report ends with, after its own figures: who
/// limited the run, the server's resources, the errors seen, and the
/// histograms for `--hdr`.
///
/// Scenario reports embed it with `#[serde(flatten)]` as their last field,
/// so `generator`, `server` and `errors` stay top-level keys after the
/// scenario's own figures: that is where `ws-report` and the committed
/// `results/` files have them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunOutcome {
    /// Was the generator the limit?
    pub generator: GeneratorReport,
    /// The server process, with `server_pid`.
    pub server: Option<ServerReport>,
    /// The first distinct errors the run met. `None` for `connect`, which
    /// tallies its failures by text in its own `failures` map instead;
    /// `None` leaves the key out of the JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
    /// Histograms for `--hdr`.
    #[serde(skip)]
    pub histograms: Vec<NamedHistogram>,
}

/// A scenario's report and the heartbeat its connections saw.
///
/// Every scenario that reads its connections through a window (`echo`,
/// `room`, `slow`, `connect` with a hold) measures the server's pings
/// ([`crate::heartbeat`]), so the result is added here, once, rather than to
/// each scenario's report: the JSON gains a top-level `heartbeat` key (for
/// `slow`: the healthy members, plus `heartbeat_slow_readers`), left out
/// when there is nothing to say, and the table its rows at the end. The
/// scenario's own figures are `report`, also reached through `Deref`.
#[derive(Clone, Debug, Serialize)]
pub struct WithHeartbeat<R> {
    /// The scenario's own figures (their keys stay at the top level in JSON).
    #[serde(flatten)]
    pub report: R,
    /// The pings of the connections whose punctuality matters: all of them,
    /// or in `slow` the healthy members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatReport>,
    /// `slow` with `--slow`: the slow readers' pings, stamped at their own
    /// reading pace (so they say more about the reader than the server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_slow_readers: Option<HeartbeatReport>,
}

impl<R> WithHeartbeat<R> {
    /// `report` with the heartbeat of all its connections.
    #[must_use]
    pub fn new(report: R, heartbeat: Option<HeartbeatReport>) -> Self {
        Self {
            report,
            heartbeat,
            heartbeat_slow_readers: None,
        }
    }
}

impl<R> std::ops::Deref for WithHeartbeat<R> {
    type Target = R;
    fn deref(&self) -> &R {
        &self.report
    }
}

impl<R: Report> Report for WithHeartbeat<R> {
    fn table(&self) -> String {
        let mut t = Table {
            out: self.report.table(),
        };
        if let Some(h) = &self.heartbeat {
            t.heartbeat("heartbeat", h);
        }
        if let Some(h) = &self.heartbeat_slow_readers {
            t.heartbeat("heartbeat (slow readers)", h);
        }
        t.finish()
    }
    fn integrity(&self) -> &Integrity {
        self.report.integrity()
    }
    fn histograms(&self) -> &[NamedHistogram] {
        self.report.histograms()
    }
    fn failed(&self) -> bool {
        self.report.failed()
    }
}

/// Whether the generator itself limited the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GeneratorReport {
    /// Worker threads of the runtime the generator ran on.
    pub threads: usize,
    /// CPU seconds of the whole generator process during the run (includes an
    /// in-process server, if any).
    pub cpu_seconds: Option<f64>,
    /// `cpu_seconds / (wall seconds * threads)`.
    pub cpu_utilization: Option<f64>,
    /// Open loop only: messages the schedule called for.
    pub scheduled: Option<u64>,
    /// Open loop only: messages sent.
    pub sent: Option<u64>,
    /// Open loop only: actual send time minus intended send time.
    pub schedule_lag: Option<LatencySummary>,
    /// Open loop only: how late messages left against their intended send
    /// time (the same measurement as `schedule_lag`, under the name the
    /// report and the README use for the pacer's precision).
    pub pacing_error: Option<PacingError>,
    /// True when the numbers may describe the generator rather than the server.
    pub bottleneck: bool,
    /// Why `bottleneck` is set.
    pub bottleneck_reasons: Vec<String>,
}

/// How late open-loop messages left against their intended send time, µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacingError {
    /// Median lateness.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
}

impl PacingError {
    /// The pacing error in a lag summary.
    #[must_use]
    pub fn of(lag: &LatencySummary) -> Self {
        Self {
            p50_us: lag.p50_us,
            p99_us: lag.p99_us,
            max_us: lag.max_us,
        }
    }
}

/// What an open-loop run reports about keeping its schedule.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleKept<'a> {
    /// Messages the schedule called for.
    pub scheduled: u64,
    /// Messages sent.
    pub sent: u64,
    /// Actual minus intended send time of each message.
    pub lag: &'a Histogram<u64>,
    /// The run's measured latency p50, µs, which the pacing error is judged against.
    pub latency_p50_us: u64,
}

impl GeneratorReport {
    /// Judge the run; `schedule` in open loop.
    ///
    /// In open loop the pacer spins out the last stretch before each send
    /// time (see `pacing.rs`), so the generator's CPU is near 100 % by design
    /// and is not judged; a late schedule or a pacing error p99 above a
    /// tenth of the latency p50 is. In closed loop the CPU is judged.
    #[must_use]
    pub fn judge(cpu: (Option<f64>, f64), schedule: Option<ScheduleKept<'_>>) -> Self {
        let threads = tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_workers())
            .unwrap_or(1)
            .max(1);
        let (cpu_seconds, wall) = cpu;
        let cpu_utilization = cpu_seconds
            .filter(|_| wall > 0.0)
            .map(|c| c / (wall * threads as f64));
        let mut reasons = Vec::new();
        if let Some(u) = cpu_utilization
            && u >= CPU_SATURATED
            && schedule.is_none()
        {
            reasons.push(format!(
                "own CPU at {:.0}% of {threads} thread(s)",
                u * 100.0
            ));
        }
        let mut report = Self {
            threads,
            cpu_seconds,
            cpu_utilization,
            ..Self::default()
        };
        if let Some(ScheduleKept {
            scheduled,
            sent,
            lag,
            latency_p50_us,
        }) = schedule
        {
            let lag = LatencySummary::of(lag);
            let pacing = PacingError::of(&lag);
            if (sent as f64) < scheduled as f64 * SCHEDULE_KEPT {
                reasons.push(format!(
                    "behind schedule: sent {sent} of {scheduled} scheduled messages (TCP backpressure from a slow server also causes this)"
                ));
            } else if lag.p99_us > LAG_P99_LIMIT_US {
                reasons.push(format!(
                    "behind schedule: p99 send lag {} (TCP backpressure from a slow server also causes this)",
                    fmt_us(lag.p99_us)
                ));
            }
            if pacing.p99_us as f64 > latency_p50_us as f64 * PACING_P99_SHARE_OF_P50 {
                reasons.push(format!(
                    "pacing error p99 {} is over a tenth of the latency p50 {}",
                    fmt_us(pacing.p99_us),
                    fmt_us(latency_p50_us)
                ));
            }
            report.scheduled = Some(scheduled);
            report.sent = Some(sent);
            report.schedule_lag = Some(lag);
            report.pacing_error = Some(pacing);
        }
        report.bottleneck = !reasons.is_empty();
        report.bottleneck_reasons = reasons;
        report
    }
}

/// Format microseconds with a readable unit.
#[must_use]
pub fn fmt_us(us: u64) -> String {
    if us >= 10_000_000 {
        format!("{:.1}s", us as f64 / 1e6)
    } else if us >= 10_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{us}µs")
    }
}

/// Format a rate.
#[must_use]
pub fn fmt_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2}M/s", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.1}k/s", per_s / 1e3)
    } else {
        format!("{per_s:.1}/s")
    }
}

/// Format bytes.
#[must_use]
pub fn fmt_bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

/// A small two-column table with section headings, for the human report.
#[derive(Default)]
pub struct Table {
    out: String,
}

impl Table {
    /// Start a table with a title line.
    #[must_use]
    pub fn new(title: &str) -> Self {
        let mut t = Self::default();
        let _ = writeln!(t.out, "{title}");
        t
    }

    /// A `label: value` row.
    pub fn row(&mut self, label: &str, value: impl std::fmt::Display) -> &mut Self {
        let _ = writeln!(self.out, "  {label:<28} {value}");
        self
    }

    /// A latency row set: a header line and one line per summary.
    pub fn latency(&mut self, rows: &[(&str, &LatencySummary)]) -> &mut Self {
        let _ = writeln!(
            self.out,
            "  {:<28} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max"
        );
        for (name, s) in rows {
            let _ = writeln!(
                self.out,
                "  {:<28} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                name,
                s.count,
                fmt_us(s.p50_us),
                fmt_us(s.p90_us),
                fmt_us(s.p99_us),
                fmt_us(s.p99_9_us),
                fmt_us(s.p99_99_us),
                fmt_us(s.max_us)
            );
        }
        self
    }

    /// The heartbeat block: pings, their intervals, the longest silence,
    /// and a `LATE PINGS` row when a connection went over twice the
    /// interval without one.
    pub fn heartbeat(&mut self, label: &str, h: &HeartbeatReport) -> &mut Self {
        let times = |x: Option<f64>| x.map(|x| format!(" ({x:.2}×)")).unwrap_or_default();
        let every = h.ping_interval_us.map_or_else(
            || "server's --ping-interval not given".to_owned(),
            |i| format!("server pings every {}", fmt_us(i)),
        );
        self.row(
            label,
            format!(
                "{} pings on {} connections ({every})",
                h.pings, h.connections
            ),
        );
        if h.intervals.count > 0 {
            let x = h.intervals_x;
            self.row(
                "  ping intervals",
                format!(
                    "p50 {}{} p99 {}{} max {}{}",
                    fmt_us(h.intervals.p50_us),
                    times(x.map(|x| x.p50)),
                    fmt_us(h.intervals.p99_us),
                    times(x.map(|x| x.p99)),
                    fmt_us(h.intervals.max_us),
                    times(x.map(|x| x.max)),
                ),
            );
        }
        let silent = h
            .connections_silent_over_2x
            .map(|n| format!(", {n} connection(s) over 2× the interval"))
            .unwrap_or_default();
        self.row(
            "  longest without a ping",
            format!(
                "{}{}{silent}, {} without any",
                fmt_us(h.longest_silence_us),
                times(h.longest_silence_x),
                h.connections_without_ping
            ),
        );
        if let Some(n) = h.connections_silent_over_2x.filter(|&n| n > 0) {
            self.row(
                "LATE PINGS",
                format!(
                    "{n} of {} connections went over twice the ping interval without a ping (held behind data, or a server starved of CPU)",
                    h.connections
                ),
            );
        }
        self
    }

    /// The integrity block.
    pub fn integrity(&mut self, i: &Integrity) -> &mut Self {
        let codes = if i.close_codes.is_empty() {
            "none".to_owned()
        } else {
            i.close_codes
                .iter()
                .map(|(c, n)| format!("{c}×{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let verdict = if i.has_failures() { "FAILED" } else { "ok" };
        self.row(
            "integrity",
            format!(
                "{verdict}: lost {} duplicated {} reordered {} corrupted {}",
                i.lost, i.duplicated, i.reordered, i.corrupted
            ),
        );
        self.row(
            "server closes / drops",
            format!("{codes} / {} dropped", i.dropped_connections),
        )
    }

    /// The generator block.
    pub fn generator(&mut self, g: &GeneratorReport) -> &mut Self {
        let cpu = match g.cpu_utilization {
            Some(u) => format!("{:.0}% of {} thread(s)", u * 100.0, g.threads),
            None => "unknown".to_owned(),
        };
        self.row("generator CPU", cpu);
        if let (Some(s), Some(sent), Some(lag)) = (g.scheduled, g.sent, &g.schedule_lag) {
            self.row(
                "schedule",
                format!(
                    "sent {sent} of {s}, lag p99 {} max {}",
                    fmt_us(lag.p99_us),
                    fmt_us(lag.max_us)
                ),
            );
        }
        if let Some(p) = &g.pacing_error {
            self.row(
                "pacing error",
                format!(
                    "p50 {} p99 {} max {}",
                    fmt_us(p.p50_us),
                    fmt_us(p.p99_us),
                    fmt_us(p.max_us)
                ),
            );
        }
        if g.bottleneck {
            self.row(
                "GENERATOR IS THE BOTTLENECK",
                g.bottleneck_reasons.join("; "),
            );
        }
        self
    }

    /// The server block.
    pub fn server(&mut self, s: Option<&ServerReport>) -> &mut Self {
        if let Some(s) = s {
            let per = s
                .rss_per_connection_bytes
                .map(fmt_bytes)
                .unwrap_or_else(|| "-".into());
            let measured = s
                .measured_cpu_seconds
                .map(|c| format!(", {c:.2}s in the measured window"))
                .unwrap_or_default();
            self.row(
                "server",
                format!(
                    "pid {} peak RSS {} ({} per conn), CPU {:.2}s ({:.2} cores){measured}",
                    s.pid,
                    fmt_bytes(s.peak_rss_bytes as f64),
                    per,
                    s.cpu_seconds,
                    s.cpu_cores_used
                ),
            );
            if let Some(e) = &s.error {
                self.row("server sampling stopped", e);
            }
        }
        self
    }

    /// The closing rows every load scenario shares, in this order: the
    /// integrity block, the generator block, the server block, one row per
    /// error. Integrity stays a separate argument because it is a report's
    /// first field in JSON, not part of its [`RunOutcome`].
    pub fn outcome(&mut self, integrity: &Integrity, o: &RunOutcome) -> &mut Self {
        self.integrity(integrity)
            .generator(&o.generator)
            .server(o.server.as_ref());
        for e in o.errors.iter().flatten() {
            self.row("error", e);
        }
        self
    }

    /// The rendered text.
    #[must_use]
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(errors: Option<Vec<String>>) -> RunOutcome {
        RunOutcome {
            server: Some(ServerReport {
                pid: 7,
                samples: 1,
                baseline_rss_bytes: 0,
                peak_rss_bytes: 0,
                rss_per_connection_bytes: None,
                cpu_seconds: 0.0,
                cpu_cores_used: 0.0,
                measured_cpu_seconds: None,
                error: None,
            }),
            errors,
            ..RunOutcome::default()
        }
    }

    fn labels(text: &str) -> Vec<&str> {
        text.lines()
            .skip(1)
            .filter_map(|l| l.trim_start().split("  ").next())
            .collect()
    }

    #[test]
    fn closing_rows_come_in_a_fixed_order() {
        let o = outcome(Some(vec!["boom".into(), "bang".into()]));
        let text = Table::new("t").outcome(&Integrity::default(), &o).finish();
        assert_eq!(
            labels(&text),
            [
                "integrity",
                "server closes / drops",
                "generator CPU",
                "server",
                "error",
                "error"
            ],
            "{text}"
        );
        let without = Table::new("t")
            .outcome(&Integrity::default(), &outcome(None))
            .finish();
        assert!(!without.contains("error"), "{without}");
    }

    /// A lag histogram with every message `lag_us` late.
    fn lag(lag_us: u64) -> Histogram<u64> {
        let mut h = new_histogram();
        for _ in 0..1_000 {
            record_ns(&mut h, lag_us * 1_000);
        }
        h
    }

    fn open_loop(lag: &Histogram<u64>, latency_p50_us: u64) -> ScheduleKept<'_> {
        ScheduleKept {
            scheduled: 1_000,
            sent: 1_000,
            lag,
            latency_p50_us,
        }
    }

    #[test]
    fn pacing_error_over_a_tenth_of_the_p50_makes_the_generator_the_limit() {
        let late = lag(30);
        let g = GeneratorReport::judge((Some(1.0), 10.0), Some(open_loop(&late, 100)));
        assert!(g.bottleneck, "{g:?}");
        assert!(
            g.bottleneck_reasons[0].starts_with("pacing error p99"),
            "{g:?}"
        );
        let p = g.pacing_error.expect("pacing error");
        assert!(p.p50_us <= p.p99_us && p.p99_us <= p.max_us, "{p:?}");

        let g = GeneratorReport::judge((Some(1.0), 10.0), Some(open_loop(&late, 1_000)));
        assert!(!g.bottleneck, "{g:?}");
    }

    #[test]
    fn a_spinning_pacer_is_not_judged_by_its_cpu() {
        let on_time = lag(5);
        // 100 % of one thread: by design in open loop, the limit in closed loop.
        let open = GeneratorReport::judge((Some(10.0), 10.0), Some(open_loop(&on_time, 1_000)));
        assert!(!open.bottleneck, "{open:?}");
        assert!(open.cpu_utilization.is_some_and(|u| u > 0.99), "{open:?}");
        let closed = GeneratorReport::judge((Some(10.0), 10.0), None);
        assert!(closed.bottleneck, "{closed:?}");
        assert!(closed.pacing_error.is_none(), "{closed:?}");
    }

    #[test]
    fn errors_key_is_left_out_only_when_none() {
        let keys = |o: &RunOutcome| {
            let mut keys = serde_json::to_value(o)
                .ok()
                .and_then(|v| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()))
                .unwrap_or_default();
            keys.sort();
            keys
        };
        assert_eq!(
            keys(&outcome(Some(Vec::new()))),
            ["errors", "generator", "server"]
        );
        assert_eq!(keys(&outcome(None)), ["generator", "server"]);
    }
}

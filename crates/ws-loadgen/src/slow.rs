//! The `slow` scenario: a room flood in which some members read slowly (a
//! fixed delay per message) or stop reading entirely, to answer: does one
//! slow consumer hurt everyone else, and for how long?
//!
//! Members are laid out as: healthy ones first (the first `senders` of them
//! send), then `slow` slow readers, then `stalled` members that never read
//! after joining. A slow reader reads one message per `slow_delay`, or, with
//! `slow_pace`, at that fraction of the offered rate (0.8: it can take 80 %
//! of what the room is offered, so it falls behind by the rest); with
//! `slow_rcvbuf` it connects with that `SO_RCVBUF`, so that falling behind
//! fills its kernel buffers within the run rather than after autotuning
//! grew them to tens of megabytes.
//!
//! With `metrics_url` the run polls the server's slow-consumer counter while
//! it lasts ([`crate::watch`]): a stalled member cannot read the server's
//! Close, so only the server can say when it was disconnected. Stalled members connect with a small `SO_RCVBUF` so kernel
//! buffers fill quickly. Healthy and slow members are reported separately, and
//! so is what happened to each slow or stalled member (closed by the server,
//! with which code, after how long).
//!
//! Integrity: healthy members count every missing message as lost. A slow
//! member may legitimately be dropped by the server, so for it only gaps
//! *inside* what it received count (the protocol promises no gap while
//! connected); messages after its disconnection are not losses.

use std::time::Duration;

use serde::Serialize;

use crate::LoadgenError;
use crate::client::{self, ConnectOptions, End, Target};
use crate::common::{self, ser_duration};
use crate::heartbeat::PingTally;
use crate::load::MessageLoad;
use crate::payload::PayloadCodec;
use crate::procmon::{OwnCpu, ServerSampler};
use crate::report::{
    GeneratorReport, LatencyReport, NamedHistogram, RunOutcome, Table, WithHeartbeat, fmt_rate,
    fmt_us,
};
use crate::room::{self, Group, MemberRun};
use crate::stats::{Integrity, duration_ns};
use crate::watch::{CounterWatch, MetricsEndpoint, SLOW_CONSUMER_COUNTER, Watcher};

/// How long to read a stalled member's buffered data at the end, looking for a close frame.
const STALLED_DRAIN: Duration = Duration::from_secs(2);

/// Configuration of a slow-consumer run.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// `ws://host:port/ws/room/{name}`.
    pub url: String,
    /// Members in total (healthy + slow + stalled).
    pub conns: usize,
    /// Healthy members that send.
    pub senders: usize,
    /// Members that read with a delay per message.
    pub slow: usize,
    /// The delay per message of slow members (without `slow_pace`).
    #[serde(serialize_with = "ser_duration")]
    pub slow_delay: Duration,
    /// Slow members read at this fraction of the offered rate (needs a rate;
    /// replaces `slow_delay`).
    pub slow_pace: Option<f64>,
    /// `SO_RCVBUF` of slow members, bytes (default: the kernel's, autotuned).
    pub slow_rcvbuf: Option<u32>,
    /// Members that stop reading after joining.
    pub stalled: usize,
    /// `SO_RCVBUF` of stalled members, bytes.
    pub stalled_rcvbuf: u32,
    /// Message size, timing, rate and checking.
    #[serde(flatten)]
    pub load: MessageLoad,
    /// Bound on the join-and-settle phase.
    #[serde(serialize_with = "ser_duration")]
    pub join_timeout: Duration,
    /// Sample this process's memory and CPU during the run.
    pub server_pid: Option<i32>,
    /// `http://host:port/metrics`: watch the server's slow-consumer counter during the run.
    pub metrics_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: "ws://127.0.0.1:3000/ws/room/slow".into(),
            conns: 8,
            senders: 1,
            slow: 0,
            slow_delay: Duration::from_millis(5),
            slow_pace: None,
            slow_rcvbuf: None,
            stalled: 1,
            stalled_rcvbuf: 4096,
            load: MessageLoad {
                size: 1024,
                rate: Some(1000.0),
                ..MessageLoad::default()
            },
            join_timeout: room::DEFAULT_JOIN_TIMEOUT,
            server_pid: None,
            metrics_url: None,
        }
    }
}

impl Config {
    /// Check the combination of values.
    ///
    /// # Errors
    /// [`LoadgenError::Config`] or [`LoadgenError::Payload`] naming the first problem.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        PayloadCodec::new(self.load.encoding, self.load.size)?;
        if self.slow + self.stalled == 0 {
            return Err(LoadgenError::Config(
                "slow needs --slow K or --stalled K (at least one)".into(),
            ));
        }
        let healthy = self.conns.saturating_sub(self.slow + self.stalled);
        if self.senders == 0 || healthy < self.senders {
            return Err(LoadgenError::Config(format!(
                "--conns {} leaves {healthy} healthy members after --slow {} --stalled {}, but --senders {} need at least that many (and at least 1)",
                self.conns, self.slow, self.stalled, self.senders
            )));
        }
        if self.conns > u32::MAX as usize {
            return Err(LoadgenError::Config("--conns is too large".into()));
        }
        self.slow_interval()?;
        common::validate_ping_interval(self.load.ping_interval)?;
        if let Some(url) = &self.metrics_url {
            MetricsEndpoint::check(url)?;
        }
        room::validate_common(self.load.duration, self.load.rate, self.load.inflight)
    }

    /// The time between two reads of a slow member: `slow_delay`, or one
    /// message at `slow_pace` × the offered rate.
    ///
    /// # Errors
    /// [`LoadgenError::Config`] for a pace that is not a positive number, or
    /// a pace without a rate (a closed loop has no rate to be a fraction of).
    pub fn slow_interval(&self) -> Result<Duration, LoadgenError> {
        let Some(pace) = self.slow_pace else {
            return Ok(self.slow_delay);
        };
        if !(pace.is_finite() && pace > 0.0) {
            return Err(LoadgenError::Config(format!(
                "--slow-pace must be a positive fraction of the rate, not {pace}"
            )));
        }
        let Some(rate) = self.load.rate else {
            return Err(LoadgenError::Config(
                "--slow-pace is a fraction of the offered rate: it needs --rate".into(),
            ));
        };
        Duration::try_from_secs_f64(1.0 / (pace * rate))
            .map_err(|e| LoadgenError::Config(format!("--slow-pace {pace} at --rate {rate}: {e}")))
    }
}

/// Delivery figures of a group of members.
#[derive(Clone, Debug, Serialize)]
pub struct GroupReport {
    /// Members in the group.
    pub members: usize,
    /// Deliveries of messages sent in the measured window.
    pub deliveries: u64,
    /// Deliveries that should have happened.
    pub expected_deliveries: u64,
    /// `deliveries / duration`.
    pub deliveries_per_s: f64,
    /// Fan-out latency.
    pub latency: LatencyReport,
    /// Lowest per-member share of expected messages received.
    pub delivered_fraction_worst: f64,
    /// Mean per-member share.
    pub delivered_fraction_mean: f64,
}

impl GroupReport {
    fn of(g: &Group, duration_s: f64, drain_ns: u64) -> (Self, hdrhistogram::Histogram<u64>) {
        let (latency, with) = LatencyReport::build(&g.latency, g.undelivered(), drain_ns);
        (
            Self {
                members: g.members,
                deliveries: g.deliveries,
                expected_deliveries: g.expected_measured,
                deliveries_per_s: g.deliveries as f64 / duration_s,
                latency,
                delivered_fraction_worst: if g.members == 0 {
                    1.0
                } else {
                    g.worst_fraction
                },
                delivered_fraction_mean: g.fraction_sum / g.members.max(1) as f64,
            },
            with,
        )
    }
}

/// What happened to one slow or stalled member.
#[derive(Clone, Debug, Serialize)]
pub struct ConsumerReport {
    /// Member index.
    pub member: u32,
    /// `"slow"` or `"stalled"`.
    pub kind: &'static str,
    /// `"connected"` (to the end), `"closed"` (close frame from the server), `"dropped"` (no close frame), `"unknown"`.
    pub outcome: &'static str,
    /// The server's close code.
    pub close_code: Option<u16>,
    /// The server's close reason.
    pub close_reason: Option<String>,
    /// Slow members: seconds from the start of the run (warm-up included) to the disconnection.
    /// Stalled members do not read, so the time is not known.
    pub disconnected_after_s: Option<f64>,
    /// Slow members: distinct messages received.
    pub received: Option<u64>,
    /// Slow members: share of expected messages received.
    pub delivered_fraction: Option<f64>,
}

/// One second of the measured window, healthy members only.
#[derive(Clone, Debug, Serialize)]
pub struct TimelinePoint {
    /// Second of the measured window (by send time).
    pub second: usize,
    /// Deliveries to healthy members of messages sent in that second.
    pub healthy_deliveries: u64,
    /// Their highest latency.
    pub healthy_max_latency_us: u64,
}

/// The result of a slow-consumer run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `"slow"`.
    pub scenario: &'static str,
    /// Integrity counters (top level in JSON); see the module doc for what counts for slow members.
    #[serde(flatten)]
    pub integrity: Integrity,
    /// `"closed"` or `"open"`.
    pub mode: &'static str,
    /// The configuration.
    pub config: Config,
    /// Measured seconds.
    pub duration_s: f64,
    /// Messages sent in the measured window.
    pub sent: u64,
    /// The healthy members.
    pub healthy: GroupReport,
    /// The slow readers (absent without `--slow`).
    pub slow: Option<GroupReport>,
    /// Each slow or stalled member.
    pub consumers: Vec<ConsumerReport>,
    /// Healthy deliveries per second of the measured window: how long the harm lasted.
    pub timeline: Vec<TimelinePoint>,
    /// The server's slow-consumer counter during the run (with `metrics_url`).
    pub server_disconnects: Option<CounterWatch>,
    /// Generator, server, errors, histograms (top level in JSON).
    #[serde(flatten)]
    pub outcome: RunOutcome,
}

impl crate::report::Report for Report {
    fn table(&self) -> String {
        let c = &self.config;
        let pace = match c.slow_pace {
            Some(p) => format!("{:.0} % of the rate", p * 100.0),
            None => format!("{}/msg", humantime::format_duration(c.slow_delay)),
        };
        let mut t = Table::new(&format!(
            "slow: {} members ({} healthy, {} slow at {pace}, {} stalled), {} sending, {} B, {} loop, {:.1}s measured",
            c.conns,
            c.conns - c.slow - c.stalled,
            c.slow,
            c.stalled,
            c.senders,
            c.load.size,
            self.mode,
            self.duration_s
        ));
        t.row(
            "sent",
            format!(
                "{} ({})",
                self.sent,
                fmt_rate(self.sent as f64 / self.duration_s)
            ),
        );
        t.row(
            "healthy deliveries",
            format!(
                "{} of {} ({}), worst fraction {:.4}",
                self.healthy.deliveries,
                self.healthy.expected_deliveries,
                fmt_rate(self.healthy.deliveries_per_s),
                self.healthy.delivered_fraction_worst
            ),
        );
        let mut rows = vec![
            ("healthy (delivered)", &self.healthy.latency.delivered),
            (
                "healthy with undelivered",
                &self.healthy.latency.with_undelivered,
            ),
        ];
        if let Some(s) = &self.slow {
            rows.push(("slow (delivered)", &s.latency.delivered));
            rows.push(("slow with undelivered", &s.latency.with_undelivered));
        }
        t.latency(&rows);
        if let Some(s) = &self.slow {
            t.row(
                "slow deliveries",
                format!(
                    "{} of {}, worst fraction {:.4}",
                    s.deliveries, s.expected_deliveries, s.delivered_fraction_worst
                ),
            );
        }
        for c in &self.consumers {
            let when = c
                .disconnected_after_s
                .map(|s| format!(" after {s:.2}s"))
                .unwrap_or_default();
            let code = c
                .close_code
                .map(|c| format!(" code {c}"))
                .unwrap_or_default();
            let reason = c
                .close_reason
                .as_ref()
                .filter(|r| !r.is_empty())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            t.row(
                &format!("{} member {}", c.kind, c.member),
                format!("{}{code}{reason}{when}", c.outcome),
            );
        }
        if let Some(worst) = self
            .timeline
            .iter()
            .max_by_key(|p| p.healthy_max_latency_us)
        {
            let slow_secs = self
                .timeline
                .iter()
                .filter(|p| p.healthy_max_latency_us > 100_000)
                .count();
            t.row(
                "healthy timeline",
                format!(
                    "worst second {} (max {}), {} second(s) with a delivery over 100ms",
                    worst.second,
                    fmt_us(worst.healthy_max_latency_us),
                    slow_secs
                ),
            );
        }
        if let Some(w) = &self.server_disconnects {
            let seen = match w.rises.as_slice() {
                [] => "none seen".to_owned(),
                rises => rises
                    .iter()
                    .map(|r| format!("{} between {:.2}s and {:.2}s", r.count, r.after_s, r.by_s))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let failed = w
                .error
                .as_ref()
                .map(|e| format!(" ({} failed scrapes: {e})", w.failed_scrapes))
                .unwrap_or_default();
            t.row("policy disconnects", format!("{seen}{failed}"));
        }
        t.outcome(&self.integrity, &self.outcome);
        t.finish()
    }
    fn integrity(&self) -> &Integrity {
        &self.integrity
    }
    fn histograms(&self) -> &[NamedHistogram] {
        &self.outcome.histograms
    }
}

fn consumer(
    member: u32,
    kind: &'static str,
    end: Option<&End>,
    at_s: Option<f64>,
) -> ConsumerReport {
    let mut r = ConsumerReport {
        member,
        kind,
        outcome: "unknown",
        close_code: None,
        close_reason: None,
        disconnected_after_s: None,
        received: None,
        delivered_fraction: None,
    };
    match end {
        Some(End::Finished | End::Deadline) => r.outcome = "connected",
        Some(End::Closed(f)) => {
            r.outcome = "closed";
            r.close_code = Some(common::close_code(f.as_ref()));
            r.close_reason = f.as_ref().map(|f| f.reason.to_string());
            r.disconnected_after_s = at_s;
        }
        Some(End::Dropped(_)) => {
            r.outcome = "dropped";
            r.disconnected_after_s = at_s;
        }
        None => {}
    }
    r
}

/// Run the slow-consumer scenario. The heartbeat is the healthy members'
/// (`heartbeat`) and, apart, the slow readers' (`heartbeat_slow_readers`);
/// stalled members read nothing until the end, so their pings are not
/// measured.
///
/// # Errors
/// Configuration, URL, connection-setup and join errors. Problems after the
/// room settled are counted in the report instead.
pub async fn run(config: Config) -> Result<WithHeartbeat<Report>, LoadgenError> {
    config.validate()?;
    let codec = PayloadCodec::new(config.load.encoding, config.load.size)?;
    let slow_interval = config.slow_interval()?;
    let target = Target::resolve(&config.url).await?;
    let endpoint = match &config.metrics_url {
        Some(url) => Some(MetricsEndpoint::resolve(url).await?),
        None => None,
    };
    let n = config.conns;
    let healthy = n - config.slow - config.stalled;
    let stalled_from = healthy + config.slow;
    let sampler = config.server_pid.map(ServerSampler::start).transpose()?;
    let mut conns = common::connect_all(std::slice::from_ref(&target), n, |i| ConnectOptions {
        timeout: config.load.connect_timeout,
        recv_buffer: if i >= stalled_from {
            Some(config.stalled_rcvbuf)
        } else if i >= healthy {
            config.slow_rcvbuf
        } else {
            None
        },
    })
    .await?;
    let run = MemberRun::settle(
        &mut conns,
        1,
        config.senders,
        &codec,
        &config.load,
        config.join_timeout,
    )
    .await?;
    let watcher = endpoint.map(|e| {
        let (clock, start) = run.clock_and_start();
        Watcher::start(e, SLOW_CONSUMER_COUNTER, clock, start)
    });
    let cpu = OwnCpu::start();
    let healthy_pings = PingTally::new(config.load.ping_interval);
    let slow_pings = PingTally::new(config.load.ping_interval);
    let mut handles = Vec::with_capacity(stalled_from);
    let mut stalled = Vec::with_capacity(config.stalled);
    for (i, ws) in conns.into_iter().enumerate() {
        if i >= stalled_from {
            stalled.push((i as u32, ws));
            continue;
        }
        let is_slow = i >= healthy;
        let pings = if is_slow { &slow_pings } else { &healthy_pings };
        handles.push(run.spawn(i, ws, is_slow.then_some(slow_interval), !is_slow, pings));
    }
    let mut results = room::join_members(handles).await?;
    let cpu_used = cpu.elapsed();
    // Stalled members: only now read what they have buffered, looking for the server's close.
    let stalled_ends = futures_util::future::join_all(
        stalled
            .iter_mut()
            .map(|(_, ws)| client::drain_for_close(ws, STALLED_DRAIN)),
    )
    .await;
    // Stopped only now, so that a disconnection the stalled drain finds is seen too.
    let server_disconnects = match watcher {
        Some(w) => Some(w.finish().await),
        None => None,
    };
    room::close_members(&mut results).await;
    let closes = stalled
        .iter_mut()
        .zip(&stalled_ends)
        .map(|((_, ws), end)| async move {
            if end.is_none() {
                client::close(ws, common::CLOSE_BOUND).await;
            }
        });
    futures_util::future::join_all(closes).await;

    let mut healthy_g = Group::new();
    let mut slow_g = Group::new();
    let mut consumers = Vec::new();
    for (m, end, at, _) in &results {
        if (m.id as usize) < healthy {
            healthy_g.add(m, end, true)?;
        } else {
            slow_g.add(m, end, false)?;
            let mut c = consumer(m.id, "slow", Some(end), Some(*at));
            c.received = Some(m.received());
            let (all, _) = m.expected();
            c.delivered_fraction = Some(if all == 0 {
                1.0
            } else {
                m.received() as f64 / all as f64
            });
            consumers.push(c);
        }
    }
    let mut integrity = healthy_g.integrity.clone();
    integrity.add(&slow_g.integrity);
    let mut errors = healthy_g.errors.clone();
    for e in &slow_g.errors {
        common::push_error(&mut errors, Some(e.clone()));
    }
    for ((id, _), end) in stalled.iter().zip(&stalled_ends) {
        match end {
            Some(e) => {
                common::tally_end(e, &mut integrity);
                // A stalled member still connected at the end reads until the bound and finds nothing.
                consumers.push(consumer(*id, "stalled", Some(e), None));
            }
            None => consumers.push(consumer(*id, "stalled", Some(&End::Deadline), None)),
        }
    }
    let server = match sampler {
        Some(s) => Some(s.finish(n).await),
        None => None,
    };
    let duration_s = config.load.duration.as_secs_f64();
    let drain_ns = duration_ns(config.load.drain_timeout);
    let (healthy_r, healthy_with) = GroupReport::of(&healthy_g, duration_s, drain_ns);
    let mut histograms = Vec::from(NamedHistogram::latency_pair(
        "healthy_",
        healthy_g.latency.clone(),
        healthy_with,
    ));
    let slow_r = if config.slow > 0 {
        let (r, with) = GroupReport::of(&slow_g, duration_s, drain_ns);
        histograms.extend(NamedHistogram::latency_pair(
            "slow_",
            slow_g.latency.clone(),
            with,
        ));
        Some(r)
    } else {
        None
    };
    let generator = GeneratorReport::judge(
        cpu_used,
        config.load.rate.map(|_| healthy_g.schedule_kept()),
    );
    if config.load.rate.is_some() {
        histograms.push(NamedHistogram::new("schedule_lag", healthy_g.lag.clone()));
    }
    let heartbeat = healthy_pings.report_into("healthy_heartbeat_intervals", &mut histograms);
    let timeline = healthy_g
        .timeline
        .buckets
        .iter()
        .enumerate()
        .map(|(second, &(n, max))| TimelinePoint {
            second,
            healthy_deliveries: n,
            healthy_max_latency_us: max,
        })
        .collect();
    let report = Report {
        scenario: "slow",
        integrity,
        mode: config.load.mode(),
        duration_s,
        sent: healthy_g.sent_measured,
        healthy: healthy_r,
        slow: slow_r,
        consumers,
        timeline,
        server_disconnects,
        outcome: RunOutcome {
            generator,
            server,
            errors: Some(errors),
            histograms,
        },
        config,
    };
    Ok(WithHeartbeat {
        report,
        heartbeat,
        heartbeat_slow_readers: slow_pings.report(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_is_a_fraction_of_the_rate() {
        let c = |pace, rate| Config {
            slow_pace: pace,
            load: MessageLoad {
                rate,
                ..Config::default().load
            },
            ..Config::default()
        };
        assert_eq!(
            c(Some(0.8), Some(500.0)).slow_interval().ok(),
            Some(Duration::from_micros(2500))
        );
        assert_eq!(
            c(None, Some(500.0)).slow_interval().ok(),
            Some(Config::default().slow_delay)
        );
        for bad in [
            c(Some(0.8), None),
            c(Some(0.0), Some(500.0)),
            c(Some(f64::NAN), Some(1.0)),
        ] {
            assert!(matches!(bad.validate(), Err(LoadgenError::Config(_))));
        }
    }

    #[test]
    fn a_paced_reader_keeps_its_average_despite_late_timers() {
        // Read at 1 ms intervals, woken 0.3 ms late every time: still 1,000 reads in a second.
        let (interval, late) = (1_000_000, 300_000);
        let (mut allowed, mut reads) = (0, 0);
        let mut now = 0;
        while now < 1_000_000_000 {
            allowed = room::next_read_at(allowed, now, interval);
            reads += 1;
            now = allowed + late;
        }
        assert_eq!(reads, 1_000);
        // A reader that found nothing for a while may read two at once, not more.
        assert_eq!(
            room::next_read_at(allowed, allowed + 50 * interval, interval),
            allowed + 50 * interval
        );
    }
}

//! The `echo` scenario: N connections to `/ws/echo`, each message checked byte
//! for byte when it comes back.
//!
//! Closed loop (`inflight`): each connection keeps K messages outstanding and
//! sends the next as soon as one returns; latency runs from the actual send.
//! Open loop (`rate`): a fixed total rate spread evenly over the connections,
//! latency from the *intended* send time, so a stalled server shows its stall
//! in the percentiles (coordinated omission corrected, as wrk2 does).

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::LoadgenError;
use crate::client::{self, ConnectOptions, Driver, End, Target};
use crate::common;
use crate::heartbeat::{PingRecorder, PingTally};
use crate::load::MessageLoad;
use crate::payload::{self, Kind, PayloadCodec};
use crate::procmon::{OwnCpu, ServerSampler};
use crate::report::{
    GeneratorReport, LatencyReport, NamedHistogram, RunOutcome, ScheduleKept, Table, WithHeartbeat,
    fmt_rate,
};
use crate::sender::{Phases, SendMode, Sender};
use crate::stats::{
    Clock, Integrity, SeqTracker, duration_ns, merge_into, new_histogram, record_ns,
};

/// Configuration of an echo run.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// `ws://host:port/ws/echo`.
    pub url: String,
    /// Number of connections.
    pub conns: usize,
    /// Message size, timing, rate and checking.
    #[serde(flatten)]
    pub load: MessageLoad,
    /// Sample this process's memory and CPU during the run.
    pub server_pid: Option<i32>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: "ws://127.0.0.1:3000/ws/echo".into(),
            conns: 64,
            load: MessageLoad {
                inflight: 1,
                ..MessageLoad::default()
            },
            server_pid: None,
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
        if self.conns == 0 {
            return Err(LoadgenError::Config("--conns must be at least 1".into()));
        }
        if self.conns > u32::MAX as usize {
            return Err(LoadgenError::Config("--conns is too large".into()));
        }
        if self.load.duration.is_zero() {
            return Err(LoadgenError::Config(
                "--duration must be more than 0".into(),
            ));
        }
        match self.load.rate {
            Some(r) if !(r.is_finite() && r > 0.0) => {
                return Err(LoadgenError::Config(format!(
                    "--rate must be a positive number, got {r}"
                )));
            }
            None if self.load.inflight == 0 => {
                return Err(LoadgenError::Config("--inflight must be at least 1".into()));
            }
            _ => {}
        }
        common::validate_ping_interval(self.load.ping_interval)
    }
}

/// The result of an echo run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `"echo"`.
    pub scenario: &'static str,
    /// Integrity counters (top level in JSON).
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
    /// Echoes received of messages sent in the measured window.
    pub received: u64,
    /// `received / duration_s`.
    pub throughput_msgs_per_s: f64,
    /// Payload bytes echoed per second.
    pub throughput_bytes_per_s: f64,
    /// Round-trip latency.
    pub latency: LatencyReport,
    /// Lowest per-connection share of sent messages that came back.
    pub delivered_fraction_worst: f64,
    /// Generator, server, errors, histograms (top level in JSON).
    #[serde(flatten)]
    pub outcome: RunOutcome,
}

impl crate::report::Report for Report {
    fn table(&self) -> String {
        let mut t = Table::new(&format!(
            "echo: {} connections, {} B {:?}, {} loop, {:.1}s measured",
            self.config.conns,
            self.config.load.size,
            self.config.load.encoding,
            self.mode,
            self.duration_s
        ));
        t.row(
            "throughput",
            format!(
                "{} ({} sent)",
                fmt_rate(self.throughput_msgs_per_s),
                self.sent
            ),
        )
        .latency(&[
            ("round trip (delivered)", &self.latency.delivered),
            ("with undelivered at drain", &self.latency.with_undelivered),
        ])
        .row(
            "worst delivered fraction",
            format!("{:.4}", self.delivered_fraction_worst),
        )
        .outcome(&self.integrity, &self.outcome);
        t.finish()
    }
    fn integrity(&self) -> &Integrity {
        &self.integrity
    }
    fn histograms(&self) -> &[NamedHistogram] {
        &self.outcome.histograms
    }
}

/// One connection's state while it runs.
struct EchoConn {
    id: u32,
    codec: PayloadCodec,
    verify: bool,
    phases: Phases,
    sender: Sender,
    tracker: SeqTracker,
    latency: Histogram<u64>,
    corrupted: u64,
    received_measured: u64,
    pings: PingRecorder,
}

impl Driver for EchoConn {
    fn next_send(&mut self, now: u64) -> Option<Message> {
        let (seq, sent_ns) = self
            .sender
            .take(now, &self.phases, Some(&mut self.tracker))?;
        Some(self.codec.encode(Kind::Data, self.id, seq, sent_ns))
    }

    fn on_message(&mut self, msg: Message, now: u64) {
        let h = match payload::decode(&msg, self.codec.encoding(), self.verify) {
            Ok(h)
                if h.kind == Kind::Data
                    && h.sender == self.id
                    && h.len as usize == self.codec.size() =>
            {
                h
            }
            _ => {
                self.corrupted += 1;
                return;
            }
        };
        self.sender.progressed(now);
        match self.tracker.observe(h.seq) {
            crate::stats::SeqEvent::Duplicate => {}
            _ => {
                if self.phases.measured(h.sent_ns) {
                    self.received_measured += 1;
                    record_ns(&mut self.latency, now.saturating_sub(h.sent_ns));
                }
            }
        }
    }

    fn wake_at(&self, now: u64) -> Option<u64> {
        if now >= self.phases.end {
            return None;
        }
        self.sender.wake_at(&self.phases, Some(&self.tracker))
    }

    fn paced(&self, _now: u64) -> bool {
        self.sender.paced()
    }

    fn finished(&mut self, now: u64) -> bool {
        now >= self.phases.end
            && !self.sender.schedule_pending()
            && self.tracker.next_expected() >= self.sender.next_seq
    }

    fn pings(&mut self) -> Option<&mut PingRecorder> {
        Some(&mut self.pings)
    }
}

struct ConnResult {
    conn: EchoConn,
    end: End,
}

/// Run the echo scenario; the heartbeat is that of every connection in the
/// measured window.
///
/// # Errors
/// Configuration, URL and connection-setup errors. Problems after setup
/// (closes, drops, bad echoes) are counted in the report instead.
pub async fn run(config: Config) -> Result<WithHeartbeat<Report>, LoadgenError> {
    config.validate()?;
    let codec = PayloadCodec::new(config.load.encoding, config.load.size)?;
    let target = Target::resolve(&config.url).await?;
    let mut sampler = config.server_pid.map(ServerSampler::start).transpose()?;
    let opts = ConnectOptions {
        timeout: config.load.connect_timeout,
        ..ConnectOptions::default()
    };
    let conns = common::connect_all(std::slice::from_ref(&target), config.conns, |_| opts).await?;

    let clock = Clock::new();
    let cpu = OwnCpu::start();
    let phases = Phases::starting_now(
        &clock,
        config.load.warmup,
        config.load.duration,
        config.load.drain_timeout,
    );
    if let Some(s) = sampler.as_mut() {
        // The echoes counted are those of the measured window, so the
        // server's CPU they are divided by is the window's too.
        s.measure_window(
            clock.instant_at(phases.warmup_end),
            clock.instant_at(phases.end),
        );
    }
    let n = conns.len();
    let pings = PingTally::new(config.load.ping_interval);
    let mut handles = Vec::with_capacity(n);
    for (i, mut ws) in conns.into_iter().enumerate() {
        // Every connection is a sender: open loop at an even share of the rate.
        let mode = SendMode::for_sender(config.load.rate, config.load.inflight, i, n, &phases);
        let mut conn = EchoConn {
            id: i as u32,
            codec: codec.clone(),
            verify: config.load.verify,
            phases,
            sender: Sender::new(mode, &phases, config.load.response_timeout),
            tracker: SeqTracker::new(),
            latency: new_histogram(),
            corrupted: 0,
            received_measured: 0,
            pings: pings.recorder(phases.warmup_end, phases.end),
        };
        let deadline = phases.deadline;
        handles.push(tokio::spawn(async move {
            let end = client::drive(&mut ws, &mut conn, &clock, deadline).await;
            if matches!(end, End::Finished | End::Deadline) {
                client::close(&mut ws, common::CLOSE_BOUND).await;
            }
            ConnResult { conn, end }
        }));
    }

    let mut integrity = Integrity::default();
    let mut errors = Vec::new();
    let mut latency = new_histogram();
    let mut lag = new_histogram();
    let (mut sent, mut received, mut scheduled, mut sent_total) = (0u64, 0u64, 0u64, 0u64);
    let mut worst = 1.0f64;
    let mut cpu_used = None;
    for h in handles {
        let r = h
            .await
            .map_err(|e| LoadgenError::Connection(format!("connection task failed: {e}")))?;
        if cpu_used.is_none() {
            // First task done means the measured phase is over; read CPU before closes add noise.
            cpu_used = Some(cpu.elapsed());
        }
        common::push_error(&mut errors, common::tally_end(&r.end, &mut integrity));
        let c = &r.conn;
        let s = &c.sender;
        integrity.lost += c.tracker.lost(s.next_seq);
        integrity.duplicated += c.tracker.duplicated();
        integrity.reordered += c.tracker.reordered();
        integrity.corrupted += c.corrupted;
        sent += s.sent_measured;
        received += c.received_measured;
        sent_total += s.next_seq;
        if s.sent_measured > 0 {
            worst = worst.min(c.received_measured as f64 / s.sent_measured as f64);
        }
        merge_into(&mut latency, &c.latency)?;
        merge_into(&mut lag, &s.lag)?;
        scheduled += s.scheduled_by(c.phases.end);
    }
    let server = match sampler {
        Some(s) => Some(s.finish(n).await),
        None => None,
    };
    let undelivered = sent.saturating_sub(received);
    let (latency_report, with_undelivered) = LatencyReport::build(
        &latency,
        undelivered,
        duration_ns(config.load.drain_timeout),
    );
    let generator = GeneratorReport::judge(
        cpu_used.unwrap_or_else(|| cpu.elapsed()),
        config.load.rate.map(|_| ScheduleKept {
            scheduled,
            sent: sent_total,
            lag: &lag,
            latency_p50_us: latency_report.delivered.p50_us,
        }),
    );
    let duration_s = config.load.duration.as_secs_f64();
    let mut histograms = vec![
        NamedHistogram {
            tag: "latency".into(),
            histogram: latency,
        },
        NamedHistogram {
            tag: "latency_with_undelivered".into(),
            histogram: with_undelivered,
        },
    ];
    if config.load.rate.is_some() {
        histograms.push(NamedHistogram {
            tag: "schedule_lag".into(),
            histogram: lag,
        });
    }
    let heartbeat = pings.report_into("heartbeat_intervals", &mut histograms);
    let report = Report {
        scenario: "echo",
        integrity,
        mode: if config.load.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        duration_s,
        sent,
        received,
        throughput_msgs_per_s: received as f64 / duration_s,
        throughput_bytes_per_s: (received as f64 * config.load.size as f64) / duration_s,
        latency: latency_report,
        delivered_fraction_worst: worst,
        outcome: RunOutcome {
            generator,
            server,
            errors: Some(errors),
            histograms,
        },
        config,
    };
    Ok(WithHeartbeat::new(report, heartbeat))
}

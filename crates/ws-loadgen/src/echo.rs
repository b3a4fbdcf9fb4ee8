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
use crate::load::MessageLoad;
use crate::payload::{self, Kind, PayloadCodec};
use crate::procmon::{OwnCpu, ServerSampler};
use crate::report::{GeneratorReport, LatencyReport, NamedHistogram, RunOutcome, Table, fmt_rate};
use crate::stats::{
    Clock, Integrity, Schedule, SeqTracker, duration_ns, merge_into, new_histogram, record_ns,
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
        Ok(())
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

enum Mode {
    Closed { window: u64 },
    Open { schedule: Schedule },
}

/// One connection's state while it runs.
struct EchoConn {
    id: u32,
    codec: PayloadCodec,
    verify: bool,
    warmup_end: u64,
    end: u64,
    mode: Mode,
    next_seq: u64,
    tracker: SeqTracker,
    latency: Histogram<u64>,
    lag: Histogram<u64>,
    corrupted: u64,
    sent_measured: u64,
    received_measured: u64,
    last_progress: u64,
    response_timeout: u64,
}

impl EchoConn {
    fn outstanding(&self) -> u64 {
        self.next_seq.saturating_sub(self.tracker.next_expected())
    }
    fn measured(&self, t: u64) -> bool {
        t >= self.warmup_end && t < self.end
    }
}

impl Driver for EchoConn {
    fn next_send(&mut self, now: u64) -> Option<Message> {
        let sent_ns = match &mut self.mode {
            Mode::Closed { window } => {
                if now >= self.end {
                    return None;
                }
                if self.next_seq - self.tracker.next_expected() >= *window {
                    // A window that gets no answer at all: declare it missing and go on,
                    // so one dropped message does not stop the connection for the run.
                    if now.saturating_sub(self.last_progress) < self.response_timeout {
                        return None;
                    }
                    self.tracker.skip_to(self.next_seq);
                    self.last_progress = now;
                }
                now
            }
            Mode::Open { schedule } => {
                let t = schedule.take_due(now)?;
                record_ns(&mut self.lag, now.saturating_sub(t));
                t
            }
        };
        if self.measured(sent_ns) {
            self.sent_measured += 1;
        }
        let msg = self
            .codec
            .encode(Kind::Data, self.id, self.next_seq, sent_ns);
        self.next_seq += 1;
        Some(msg)
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
        self.last_progress = now;
        match self.tracker.observe(h.seq) {
            crate::stats::SeqEvent::Duplicate => {}
            _ => {
                if self.measured(h.sent_ns) {
                    self.received_measured += 1;
                    record_ns(&mut self.latency, now.saturating_sub(h.sent_ns));
                }
            }
        }
    }

    fn wake_at(&self, now: u64) -> Option<u64> {
        match &self.mode {
            Mode::Closed { window } => {
                if now >= self.end {
                    None
                } else if self.outstanding() >= *window {
                    Some((self.last_progress + self.response_timeout).min(self.end))
                } else {
                    Some(self.end)
                }
            }
            Mode::Open { schedule } => schedule.next_due_ns(),
        }
    }

    fn finished(&mut self, now: u64) -> bool {
        // A message due just before the end may still be untaken when the timer fires late.
        let schedule_done = match &self.mode {
            Mode::Open { schedule } => schedule.next_due_ns().is_none(),
            Mode::Closed { .. } => true,
        };
        now >= self.end && schedule_done && self.tracker.next_expected() >= self.next_seq
    }
}

struct ConnResult {
    conn: EchoConn,
    end: End,
}

/// Run the echo scenario.
///
/// # Errors
/// Configuration, URL and connection-setup errors. Problems after setup
/// (closes, drops, bad echoes) are counted in the report instead.
pub async fn run(config: Config) -> Result<Report, LoadgenError> {
    config.validate()?;
    let codec = PayloadCodec::new(config.load.encoding, config.load.size)?;
    let target = Target::resolve(&config.url).await?;
    let sampler = config.server_pid.map(ServerSampler::start).transpose()?;
    let opts = ConnectOptions {
        timeout: config.load.connect_timeout,
        ..ConnectOptions::default()
    };
    let conns = common::connect_all(std::slice::from_ref(&target), config.conns, |_| opts).await?;

    let clock = Clock::new();
    let cpu = OwnCpu::start();
    let start = clock.now_ns();
    let warmup_end = start + duration_ns(config.load.warmup);
    let end = warmup_end + duration_ns(config.load.duration);
    let deadline = end + duration_ns(config.load.drain_timeout);
    let n = conns.len();
    let mut handles = Vec::with_capacity(n);
    for (i, mut ws) in conns.into_iter().enumerate() {
        let mode = match config.load.rate {
            Some(rate) => {
                let per_conn = rate / n as f64;
                // Stagger the connections so the total rate is smooth, not bursts of n.
                let offset = (i as f64 / rate * 1e9) as u64;
                Mode::Open {
                    schedule: Schedule::with_rate(start + offset, per_conn, end),
                }
            }
            None => Mode::Closed {
                window: config.load.inflight as u64,
            },
        };
        let mut conn = EchoConn {
            id: i as u32,
            codec: codec.clone(),
            verify: config.load.verify,
            warmup_end,
            end,
            mode,
            next_seq: 0,
            tracker: SeqTracker::new(),
            latency: new_histogram(),
            lag: new_histogram(),
            corrupted: 0,
            sent_measured: 0,
            received_measured: 0,
            last_progress: start,
            response_timeout: duration_ns(config.load.response_timeout),
        };
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
        integrity.lost += c.tracker.lost(c.next_seq);
        integrity.duplicated += c.tracker.duplicated();
        integrity.reordered += c.tracker.reordered();
        integrity.corrupted += c.corrupted;
        sent += c.sent_measured;
        received += c.received_measured;
        sent_total += c.next_seq;
        if c.sent_measured > 0 {
            worst = worst.min(c.received_measured as f64 / c.sent_measured as f64);
        }
        merge_into(&mut latency, &c.latency)?;
        merge_into(&mut lag, &c.lag)?;
        if let Mode::Open { schedule } = &c.mode {
            scheduled += schedule.scheduled_by(end);
        }
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
        config.load.rate.map(|_| (scheduled, sent_total, &lag)),
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
    Ok(Report {
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
    })
}

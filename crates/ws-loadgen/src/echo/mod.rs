//! The `echo` scenario: N connections to `/ws/echo`, each message checked byte
//! for byte when it comes back.
//!
//! Closed loop (`inflight`): each connection keeps K messages outstanding and
//! sends the next as soon as one returns; latency runs from the actual send.
//! Open loop (`rate`): a fixed total rate spread evenly over the connections,
//! latency from the *intended* send time, so a stalled server shows its stall
//! in the percentiles (coordinated omission corrected, as wrk2 does).
//! Several servers by turns in one closed-loop run: [`run_sliced`] (see
//! [`slicing`](crate::slicing)), each target reported as a run of its own.

mod sliced;
mod tally;

pub use sliced::{SliceInfo, SlicedConfig, SlicedReport, run_sliced};
use tally::Tally;

use std::time::Duration;

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
use crate::report::{LatencyReport, NamedHistogram, RunOutcome, Table, WithHeartbeat, fmt_rate};
use crate::sender::{Phases, SendMode, Sender};
use crate::slicing::Slicing;
use crate::stats::{Clock, Integrity, SeqTracker, new_histogram, record_ns};

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
    /// `received / duration_s` (sliced: the echoes that arrived while its
    /// target could send, over that time; see [`SliceInfo`]).
    pub throughput_msgs_per_s: f64,
    /// Payload bytes echoed per second.
    pub throughput_bytes_per_s: f64,
    /// Round-trip latency.
    pub latency: LatencyReport,
    /// Lowest per-connection share of sent messages that came back.
    pub delivered_fraction_worst: f64,
    /// In a sliced run ([`run_sliced`]): where this target's turns fell;
    /// `duration_s` is then the sum of its turns in the measured window
    /// (left out of the JSON otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slicing: Option<SliceInfo>,
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
        );
        if let Some(s) = &self.slicing {
            t.row(
                "turns",
                format!(
                    "{} of {}, {} each ({} gap): {:.2}s sending, {} replies after its turn",
                    s.position + 1,
                    s.targets,
                    humantime::format_duration(s.slice),
                    humantime::format_duration(s.gap),
                    s.sending_s,
                    s.replies_after_turn
                ),
            );
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

/// One connection's state while it runs.
struct EchoConn {
    id: u32,
    codec: PayloadCodec,
    verify: bool,
    phases: Phases,
    sender: Sender,
    /// In a sliced run, the turn order and this connection's target's place in it.
    turns: Option<(Slicing, usize)>,
    /// Sliced: echoes received in the measured window while its target could send.
    received_while_sending: u64,
    /// Sliced: echoes received after its target's turn had ended.
    replies_after_turn: u64,
    tracker: SeqTracker,
    latency: Histogram<u64>,
    corrupted: u64,
    received_measured: u64,
    pings: PingRecorder,
}

impl Driver for EchoConn {
    fn next_send(&mut self, now: u64) -> Option<Message> {
        if self.turns.is_some_and(|(t, p)| !t.sending(p, now)) {
            return None;
        }
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
                if let Some((t, p)) = self.turns {
                    if !t.in_turn(p, now) {
                        self.replies_after_turn += 1;
                    } else if t.sending(p, now) && self.phases.measured(now) {
                        self.received_while_sending += 1;
                    }
                }
            }
        }
    }

    fn wake_at(&self, now: u64) -> Option<u64> {
        if now >= self.phases.end {
            return None;
        }
        if let Some((t, p)) = self.turns
            && !t.sending(p, now)
        {
            return Some(t.next_sending(p, now).min(self.phases.end));
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
    let mut reports = run_targets(vec![config], None).await?;
    reports
        .pop()
        .ok_or_else(|| LoadgenError::Config("no target".into()))
}

/// One target's connections and counters while it runs.
struct TargetRun {
    config: Config,
    sampler: Option<ServerSampler>,
    handles: Vec<tokio::task::JoinHandle<ConnResult>>,
    pings: PingTally,
}

/// Run `configs` (same load, one URL each) at once: by turns when `slice`
/// (turn and gap) is given, else there is one config and it runs throughout.
async fn run_targets(
    configs: Vec<Config>,
    slice: Option<(Duration, Duration)>,
) -> Result<Vec<WithHeartbeat<Report>>, LoadgenError> {
    let Some(first) = configs.first() else {
        return Ok(Vec::new());
    };
    let load = first.load.clone();
    let codec = PayloadCodec::new(load.encoding, load.size)?;
    let opts = ConnectOptions {
        timeout: load.connect_timeout,
        ..ConnectOptions::default()
    };
    let mut prepared = Vec::with_capacity(configs.len());
    for config in configs {
        let target = Target::resolve(&config.url).await?;
        let sampler = config.server_pid.map(ServerSampler::start).transpose()?;
        let conns =
            common::connect_all(std::slice::from_ref(&target), config.conns, |_| opts).await?;
        prepared.push((config, sampler, conns));
    }

    let clock = Clock::new();
    let cpu = OwnCpu::start();
    let phases = Phases::starting_now(&clock, load.warmup, load.duration, load.drain_timeout);
    let turns = slice.map(|(s, gap)| Slicing::new(phases.start, s, gap, prepared.len()));
    let mut runs = Vec::with_capacity(prepared.len());
    for (position, (config, mut sampler, conns)) in prepared.into_iter().enumerate() {
        if let Some(s) = sampler.as_mut() {
            // The echoes counted are those of the measured window, so the
            // server's CPU they are divided by is the window's too (in a
            // sliced run the server idles outside its turns).
            s.measure_window(
                clock.instant_at(phases.warmup_end),
                clock.instant_at(phases.end),
            );
        }
        let n = conns.len();
        let pings = PingTally::new(load.ping_interval);
        let mut handles = Vec::with_capacity(n);
        for (i, mut ws) in conns.into_iter().enumerate() {
            // Every connection is a sender: open loop at an even share of the rate.
            let mode = SendMode::for_sender(load.rate, load.inflight, i, n, &phases);
            let mut conn = EchoConn {
                id: i as u32,
                codec: codec.clone(),
                verify: load.verify,
                phases,
                sender: Sender::new(mode, &phases, load.response_timeout),
                turns: turns.map(|t| (t, position)),
                received_while_sending: 0,
                replies_after_turn: 0,
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
        runs.push(TargetRun {
            config,
            sampler,
            handles,
            pings,
        });
    }

    let mut cpu_used = None;
    let mut tallies = Vec::with_capacity(runs.len());
    for run in runs {
        let mut tally = Tally::default();
        for h in run.handles {
            let r = h
                .await
                .map_err(|e| LoadgenError::Connection(format!("connection task failed: {e}")))?;
            if cpu_used.is_none() {
                // First task done means the measured phase is over; read CPU before closes add noise.
                cpu_used = Some(cpu.elapsed());
            }
            tally.add(&r)?;
        }
        let n = run.config.conns;
        let server = match run.sampler {
            Some(s) => Some(s.finish(n).await),
            None => None,
        };
        tallies.push((run.config, run.pings, tally, server));
    }
    let mut cpu_used = cpu_used.unwrap_or_else(|| cpu.elapsed());
    if let Some((slice, gap)) = slice {
        // Judged over the time some target may send: in the gaps the
        // generator only takes the last replies, and a generator busy
        // whenever it can send is the bottleneck though its average is not.
        cpu_used.1 *= (slice - gap).as_secs_f64() / slice.as_secs_f64();
    }
    let count = tallies.len();
    let mut reports = Vec::with_capacity(count);
    for (position, (config, pings, tally, server)) in tallies.into_iter().enumerate() {
        let info = slice.zip(turns).map(|((slice, gap), t)| SliceInfo {
            slice,
            gap,
            targets: count,
            position,
            sending_s: t.sending_ns(position, phases.warmup_end, phases.end) as f64 / 1e9,
            received_while_sending: tally.received_while_sending,
            replies_after_turn: tally.replies_after_turn,
        });
        reports.push(tally.report(config, pings, server, cpu_used, info)?);
    }
    Ok(reports)
}

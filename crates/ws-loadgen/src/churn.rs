//! The `churn` scenario: many short connections, to show that a server
//! releases everything a connection held however it ends.
//!
//! Each cycle connects, sends one message and waits until it comes back (an
//! echo, or the room's delivery to its sender), then leaves one of three
//! ways: a Close handshake; a TCP reset without a Close (zero linger); or,
//! for mid-message cycles, a reset after only the start of a frame was sent
//! (no message is exchanged first). Kinds are spread evenly over the run by
//! a low-discrepancy sequence, `--concurrency` cycles at a time.
//!
//! Afterwards the run waits up to `settle` for the server to report zero
//! connections, rooms and room members (with `metrics_url`), then reads the
//! server's RSS (with `server_pid`): after churn it should be back near its
//! baseline. A message that does not come back is counted as lost.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::LoadgenError;
use crate::client::{self, ConnectOptions, End, Target};
use crate::common::{self, EchoFailure, ser_duration};
use crate::procmon::{self, OwnCpu, ServerSampler};
use crate::report::{GeneratorReport, NamedHistogram, RunOutcome, Table, fmt_bytes, fmt_rate};
use crate::stats::{Clock, Integrity, LatencySummary, new_histogram, record_ns};
use crate::watch::MetricsEndpoint;

/// How often the server's metrics are read while settling.
const SETTLE_POLL: Duration = Duration::from_millis(100);

/// Configuration of a churn run.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// `ws://host:port/ws/echo` or `ws://host:port/ws/room/{name}`.
    pub url: String,
    /// Connect/disconnect cycles per round.
    pub cycles: usize,
    /// Rounds of `cycles`, each followed by the settle and an RSS reading:
    /// a second round that ends where the first did tells a leak (which
    /// grows with every round) from the allocator and the runtime keeping
    /// memory they may reuse (which does not).
    pub rounds: usize,
    /// Cycles in progress at once.
    pub concurrency: usize,
    /// Share of cycles that end with a TCP reset instead of a Close
    /// (mid-message cycles included).
    pub abrupt_fraction: f64,
    /// Share of cycles that reset in the middle of a frame (part of the
    /// abrupt ones, so at most `abrupt_fraction`).
    pub mid_message_fraction: f64,
    /// Size of each cycle's message, in bytes (at least 8).
    pub size: usize,
    /// Bound on each TCP connect plus handshake.
    #[serde(serialize_with = "ser_duration")]
    pub connect_timeout: Duration,
    /// Bound on waiting for a cycle's own message.
    #[serde(serialize_with = "ser_duration")]
    pub response_timeout: Duration,
    /// How long to wait after the last cycle for the server's gauges to
    /// reach zero (and before reading its RSS).
    #[serde(serialize_with = "ser_duration")]
    pub settle: Duration,
    /// Sample this process's memory and CPU during the run.
    pub server_pid: Option<i32>,
    /// `http://host:port/metrics`: read the server's gauges after the run.
    pub metrics_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: "ws://127.0.0.1:3000/ws/echo".into(),
            cycles: 10_000,
            rounds: 1,
            concurrency: 64,
            abrupt_fraction: 0.33,
            mid_message_fraction: 0.1,
            size: 64,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            settle: Duration::from_secs(5),
            server_pid: None,
            metrics_url: None,
        }
    }
}

impl Config {
    /// Check the combination of values.
    ///
    /// # Errors
    /// [`LoadgenError::Config`] naming the first problem.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        if self.cycles == 0 {
            return Err(LoadgenError::Config("--cycles must be at least 1".into()));
        }
        if !(1..=MAX_ROUNDS).contains(&self.rounds) {
            return Err(LoadgenError::Config(format!(
                "--rounds must be between 1 and {MAX_ROUNDS}, got {}",
                self.rounds
            )));
        }
        if self.concurrency == 0 {
            return Err(LoadgenError::Config(
                "--concurrency must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.abrupt_fraction) {
            return Err(LoadgenError::Config(format!(
                "--abrupt-fraction must be between 0 and 1, got {}",
                self.abrupt_fraction
            )));
        }
        if !(0.0..=self.abrupt_fraction).contains(&self.mid_message_fraction) {
            return Err(LoadgenError::Config(format!(
                "--mid-message-fraction must be between 0 and --abrupt-fraction ({}), got {}",
                self.abrupt_fraction, self.mid_message_fraction
            )));
        }
        if self.size < 8 {
            return Err(LoadgenError::Config("--size must be at least 8".into()));
        }
        if let Some(url) = &self.metrics_url {
            MetricsEndpoint::check(url)?;
        }
        Ok(())
    }
}

/// How one cycle leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leave {
    Polite,
    Reset,
    MidMessage,
}

/// Spreads the kinds evenly: cycle `i` takes the fractional part of
/// `i × (golden ratio − 1)`, which covers [0, 1) uniformly for any prefix.
fn leave_of(i: usize, config: &Config) -> Leave {
    let x = (i as f64 * 0.618_033_988_749_895).fract();
    if x < config.mid_message_fraction {
        Leave::MidMessage
    } else if x < config.abrupt_fraction {
        Leave::Reset
    } else {
        Leave::Polite
    }
}

/// What one cycle came to.
#[derive(Debug)]
enum CycleEnd {
    /// Left as planned.
    Done(Leave),
    /// Could not connect.
    ConnectFailed(String),
    /// Its message did not come back.
    NoEcho(EchoFailure),
    /// The mid-message write failed.
    WriteFailed(String),
}

/// The server's gauges after the run, from `metrics_url`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GaugesAfter {
    /// `ws_connections`.
    pub connections: Option<f64>,
    /// `ws_rooms`.
    pub rooms: Option<f64>,
    /// `ws_room_members`.
    pub room_members: Option<f64>,
}

impl GaugesAfter {
    fn all_zero(&self) -> bool {
        [self.connections, self.rooms, self.room_members]
            .iter()
            .all(|g| *g == Some(0.0))
    }
}

/// The result of a churn run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `"churn"`.
    pub scenario: &'static str,
    /// Integrity counters (top level in JSON): `lost` counts cycles whose
    /// message did not come back; server closes and drops during a cycle.
    #[serde(flatten)]
    pub integrity: Integrity,
    /// The configuration.
    pub config: Config,
    /// Cycles that went as planned.
    pub cycles_done: u64,
    /// Of those: ended with a Close handshake.
    pub polite: u64,
    /// Of those: reset after their message.
    pub abrupt: u64,
    /// Of those: reset in the middle of a frame.
    pub mid_message: u64,
    /// Cycles that failed (connect, echo or write).
    pub failures: u64,
    /// Failures by cause.
    pub failure_kinds: BTreeMap<String, u64>,
    /// Seconds from the first connect to the last cycle's end.
    pub elapsed_s: f64,
    /// `cycles_done / elapsed_s`.
    pub cycles_per_s: f64,
    /// Handshake latency (TCP connect + upgrade).
    pub handshake: LatencySummary,
    /// Seconds waited after the run for the gauges to reach zero (the whole
    /// `settle` when they never did, or without `metrics_url`).
    pub settle_s: f64,
    /// The server's gauges at the end of the settle period.
    pub metrics_after: Option<GaugesAfter>,
    /// Why the gauges could not be read.
    pub metrics_error: Option<String>,
    /// True when a gauge was still above zero after settling (None without `metrics_url`).
    pub leaked: Option<bool>,
    /// The server's RSS after settling.
    pub rss_after_bytes: Option<u64>,
    /// `rss_after_bytes / server.baseline_rss_bytes`.
    pub rss_after_vs_baseline: Option<f64>,
    /// The server's RSS after each round's settle (the last is
    /// `rss_after_bytes`).
    pub rss_after_rounds: Vec<u64>,
    /// The last round's RSS after over the first's: about 1 when the
    /// memory a round leaves behind is reused by the next.
    pub last_round_vs_first: Option<f64>,
    /// Generator, server, errors, histograms (top level in JSON); the
    /// server's baseline and peak RSS frame `rss_after_bytes`.
    #[serde(flatten)]
    pub outcome: RunOutcome,
}

impl crate::report::Report for Report {
    fn table(&self) -> String {
        let c = &self.config;
        let mut t = Table::new(&format!(
            "churn: {} cycles{}, {} at once, {:.0}% abrupt ({:.0}% mid-message)",
            c.cycles,
            if c.rounds > 1 {
                format!(" × {} rounds", c.rounds)
            } else {
                String::new()
            },
            c.concurrency,
            c.abrupt_fraction * 100.0,
            c.mid_message_fraction * 100.0
        ));
        t.row(
            "cycles done",
            format!(
                "{} of {} in {:.2}s ({}): {} polite, {} reset, {} mid-message",
                self.cycles_done,
                c.cycles * c.rounds,
                self.elapsed_s,
                fmt_rate(self.cycles_per_s),
                self.polite,
                self.abrupt,
                self.mid_message
            ),
        );
        for (e, n) in &self.failure_kinds {
            t.row("failed", format!("{n} × {e}"));
        }
        t.latency(&[("handshake", &self.handshake)]);
        if let Some(g) = &self.metrics_after {
            let show = |v: Option<f64>| v.map_or_else(|| "?".to_owned(), |v| format!("{v}"));
            t.row(
                "server gauges after settle",
                format!(
                    "connections {} rooms {} room members {} ({:.2}s){}",
                    show(g.connections),
                    show(g.rooms),
                    show(g.room_members),
                    self.settle_s,
                    if self.leaked == Some(true) {
                        ": LEAKED"
                    } else {
                        ""
                    }
                ),
            );
        }
        if let Some(e) = &self.metrics_error {
            t.row("metrics", e);
        }
        if self.rss_after_rounds.len() > 1 {
            t.row(
                "server RSS after each round",
                format!(
                    "{} (last ÷ first {:.2}×)",
                    self.rss_after_rounds
                        .iter()
                        .map(|&b| fmt_bytes(b as f64))
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.last_round_vs_first.unwrap_or(f64::NAN)
                ),
            );
        }
        if let (Some(after), Some(s)) = (self.rss_after_bytes, &self.outcome.server) {
            t.row(
                "server RSS",
                format!(
                    "baseline {} peak {} after {} ({:.2}× baseline)",
                    fmt_bytes(s.baseline_rss_bytes as f64),
                    fmt_bytes(s.peak_rss_bytes as f64),
                    fmt_bytes(after as f64),
                    self.rss_after_vs_baseline.unwrap_or(f64::NAN)
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
    fn failed(&self) -> bool {
        self.integrity.has_failures() || self.failures > 0 || self.leaked == Some(true)
    }
}

/// One cycle; returns how it ended and its handshake time.
async fn cycle(target: &Target, config: &Config, i: usize, clock: &Clock) -> (CycleEnd, u64) {
    let opts = ConnectOptions {
        timeout: config.connect_timeout,
        ..ConnectOptions::default()
    };
    let leave = leave_of(i, config);
    let t0 = clock.now_ns();
    let mut ws = match client::connect(target, opts).await {
        Ok(ws) => ws,
        Err(e) => return (CycleEnd::ConnectFailed(e.to_string()), 0),
    };
    let handshake = clock.now_ns().saturating_sub(t0);
    if leave == Leave::MidMessage {
        // The start of a frame (header and a few payload bytes) and no more.
        let frame = ws_rawframe::Frame::binary(vec![b'm'; config.size.max(64)]).encode();
        let written = ws.get_mut().write_all(&frame[..frame.len() / 2]).await;
        common::reset(ws);
        return match written {
            Ok(()) => (CycleEnd::Done(leave), handshake),
            Err(e) => (CycleEnd::WriteFailed(e.to_string()), handshake),
        };
    }
    let mut payload = vec![0u8; config.size];
    payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
    if let Err(failure) = common::echo_once(&mut ws, payload, config.response_timeout).await {
        common::reset(ws);
        return (CycleEnd::NoEcho(failure), handshake);
    }
    match leave {
        Leave::Reset => common::reset(ws),
        _ => client::close(&mut ws, common::CLOSE_BOUND).await,
    }
    (CycleEnd::Done(leave), handshake)
}

/// Reads the server's gauges once.
async fn read_gauges(endpoint: &MetricsEndpoint) -> Result<GaugesAfter, String> {
    let samples = endpoint.scrape().await?;
    Ok(GaugesAfter {
        connections: samples.get("ws_connections").copied(),
        rooms: samples.get("ws_rooms").copied(),
        room_members: samples.get("ws_room_members").copied(),
    })
}

/// The most `--rounds`: each round is a full set of cycles and a settle.
pub const MAX_ROUNDS: usize = 10;

/// What the cycles of every round came to.
struct Tally {
    integrity: Integrity,
    handshakes: hdrhistogram::Histogram<u64>,
    polite: u64,
    abrupt: u64,
    mid_message: u64,
    failure_kinds: BTreeMap<String, u64>,
    errors: Vec<String>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            integrity: Integrity::default(),
            handshakes: new_histogram(),
            polite: 0,
            abrupt: 0,
            mid_message: 0,
            failure_kinds: BTreeMap::new(),
            errors: Vec::new(),
        }
    }
}

impl Tally {
    fn add(&mut self, end: CycleEnd, handshake: u64) {
        if handshake > 0 {
            record_ns(&mut self.handshakes, handshake);
        }
        let failure = match end {
            CycleEnd::Done(Leave::Polite) => {
                self.polite += 1;
                return;
            }
            CycleEnd::Done(Leave::Reset) => {
                self.abrupt += 1;
                return;
            }
            CycleEnd::Done(Leave::MidMessage) => {
                self.mid_message += 1;
                return;
            }
            CycleEnd::ConnectFailed(e) => ("connect failed".to_owned(), Some(e)),
            CycleEnd::WriteFailed(e) => ("mid-message write failed".to_owned(), Some(e)),
            CycleEnd::NoEcho(EchoFailure::TimedOut) => {
                self.integrity.lost += 1;
                (
                    "message did not come back in time".to_owned(),
                    Some("message did not come back in time".to_owned()),
                )
            }
            CycleEnd::NoEcho(EchoFailure::Ended(end)) => {
                self.integrity.lost += 1;
                let text = common::tally_end(&end, &mut self.integrity);
                let kind = match end {
                    End::Closed(_) => "closed by the server before the echo",
                    _ => "dropped before the echo",
                };
                (kind.to_owned(), text)
            }
        };
        *self.failure_kinds.entry(failure.0).or_default() += 1;
        common::push_error(&mut self.errors, failure.1);
    }
}

/// The server after a round: its gauges once they reached zero (or the
/// settle ran out), and its RSS then.
#[derive(Default)]
struct Settled {
    settle_s: f64,
    metrics_after: Option<GaugesAfter>,
    metrics_error: Option<String>,
    rss_after_bytes: Option<u64>,
}

/// Waits for the server to let go of everything, then reads it.
async fn settle(config: &Config, metrics: Option<&MetricsEndpoint>) -> Settled {
    let start = Instant::now();
    let (mut metrics_after, mut metrics_error) = (None, None);
    match metrics {
        Some(endpoint) => loop {
            match read_gauges(endpoint).await {
                Ok(g) => {
                    let zero = g.all_zero();
                    metrics_after = Some(g);
                    metrics_error = None;
                    if zero {
                        break;
                    }
                }
                Err(e) => metrics_error = Some(e),
            }
            if start.elapsed() >= config.settle {
                break;
            }
            tokio::time::sleep(SETTLE_POLL).await;
        },
        None => tokio::time::sleep(config.settle).await,
    }
    Settled {
        settle_s: start.elapsed().as_secs_f64(),
        metrics_after,
        metrics_error,
        rss_after_bytes: config.server_pid.and_then(|pid| procmon::rss_of(pid).ok()),
    }
}

/// Run the churn scenario.
///
/// # Errors
/// Configuration, URL and `--server-pid` errors, and a connection error when
/// the very first cycles cannot connect at all. Later failures are counted.
pub async fn run(config: Config) -> Result<Report, LoadgenError> {
    config.validate()?;
    let target = Target::resolve(&config.url).await?;
    let metrics_addr = match &config.metrics_url {
        Some(url) => Some(MetricsEndpoint::resolve(url).await?),
        None => None,
    };
    // Fail fast, with exit code 2, on a server that is not there.
    let probe = client::connect(
        &target,
        ConnectOptions {
            timeout: config.connect_timeout,
            ..ConnectOptions::default()
        },
    )
    .await?;
    common::reset(probe);

    let sampler = config.server_pid.map(ServerSampler::start).transpose()?;
    let clock = Clock::new();
    let cpu = OwnCpu::start();
    let mut tally = Tally::default();
    let mut elapsed_s = 0.0;
    let mut rss_after_rounds = Vec::with_capacity(config.rounds);
    let mut settled = Settled::default();
    for round in 0..config.rounds {
        let started = Instant::now();
        let first = round * config.cycles;
        let mut ends = futures_util::stream::iter(first..first + config.cycles)
            .map(|i| {
                let target = &target;
                let config = &config;
                let clock = &clock;
                async move { cycle(target, config, i, clock).await }
            })
            .buffer_unordered(config.concurrency);
        while let Some((end, handshake)) = ends.next().await {
            tally.add(end, handshake);
        }
        drop(ends);
        elapsed_s += started.elapsed().as_secs_f64();
        settled = settle(&config, metrics_addr.as_ref()).await;
        if let Some(rss) = settled.rss_after_bytes {
            rss_after_rounds.push(rss);
        }
    }
    let cpu_used = cpu.elapsed();
    let Tally {
        integrity,
        handshakes,
        polite,
        abrupt,
        mid_message,
        failure_kinds,
        errors,
    } = tally;
    let cycles_done = polite + abrupt + mid_message;
    let Settled {
        settle_s,
        metrics_after,
        metrics_error,
        rss_after_bytes,
    } = settled;
    let leaked = metrics_after.as_ref().map(|g| !g.all_zero());
    let server = match sampler {
        Some(s) => Some(s.finish(0).await),
        None => None,
    };
    let rss_after_vs_baseline = match (rss_after_bytes, &server) {
        (Some(after), Some(s)) if s.baseline_rss_bytes > 0 => {
            Some(after as f64 / s.baseline_rss_bytes as f64)
        }
        _ => None,
    };
    let last_round_vs_first = match (rss_after_rounds.first(), rss_after_rounds.last()) {
        (Some(&first), Some(&last)) if rss_after_rounds.len() > 1 && first > 0 => {
            Some(last as f64 / first as f64)
        }
        _ => None,
    };
    let failures: u64 = failure_kinds.values().sum();
    Ok(Report {
        scenario: "churn",
        integrity,
        cycles_done,
        polite,
        abrupt,
        mid_message,
        failures,
        failure_kinds,
        elapsed_s,
        cycles_per_s: if elapsed_s > 0.0 {
            cycles_done as f64 / elapsed_s
        } else {
            0.0
        },
        handshake: LatencySummary::of(&handshakes),
        settle_s,
        metrics_after,
        metrics_error,
        leaked,
        rss_after_bytes,
        rss_after_vs_baseline,
        rss_after_rounds,
        last_round_vs_first,
        outcome: RunOutcome {
            generator: GeneratorReport::judge(cpu_used, None),
            server,
            errors: Some(errors),
            histograms: vec![NamedHistogram {
                tag: "handshake".into(),
                histogram: handshakes,
            }],
        },
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_fractions() {
        let config = Config::default();
        let mut counts = BTreeMap::new();
        for i in 0..10_000 {
            *counts
                .entry(format!("{:?}", leave_of(i, &config)))
                .or_insert(0) += 1;
        }
        let share = |k: &str| f64::from(counts[k]) / 10_000.0;
        assert!((share("MidMessage") - 0.10).abs() < 0.01, "{counts:?}");
        assert!((share("Reset") - 0.23).abs() < 0.01, "{counts:?}");
        assert!((share("Polite") - 0.67).abs() < 0.01, "{counts:?}");
    }
}

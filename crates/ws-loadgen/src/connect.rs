//! The `connect` scenario: open N connections as fast as allowed (or at a
//! given rate), report handshake latency and failures, and optionally hold
//! them idle so the server's memory per connection can be read.
//!
//! Handshake latency runs from the *intended* start when `rate` is set (so a
//! server that accepts slowly cannot hide it behind a generator that waits),
//! and from the actual start otherwise. It covers TCP connect plus the HTTP
//! upgrade.
//!
//! During the hold the connections are read (nothing else), so the server's
//! pings to idle connections are timed: the report's `heartbeat`. With
//! `--server-pid`, the server's CPU during the hold is what holding them
//! costs it: with nothing sent, its heartbeat.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::LoadgenError;
use crate::client::{self, ConnectOptions, Driver, End, Target, Ws};
use crate::common::{self, ser_duration, ser_opt_duration};
use crate::heartbeat::{PingRecorder, PingTally};
use crate::procmon::{OwnCpu, ServerSampler};
use crate::report::{GeneratorReport, NamedHistogram, RunOutcome, Table, WithHeartbeat, fmt_rate};
use crate::stats::{Clock, Integrity, LatencySummary, duration_ns, new_histogram, record_ns};

/// Configuration of a connect run.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// `ws://host:port/ws/echo` (any WebSocket URL of the server).
    pub url: String,
    /// Connections to open.
    pub conns: usize,
    /// Handshakes in progress at once.
    pub concurrency: usize,
    /// Connections started per second (`None` = as fast as `concurrency` allows).
    pub rate: Option<f64>,
    /// How long to keep all connections open, idle, once opened.
    #[serde(serialize_with = "ser_duration")]
    pub hold: Duration,
    /// Bound on each TCP connect plus handshake.
    #[serde(serialize_with = "ser_duration")]
    pub connect_timeout: Duration,
    /// Sample this process's memory and CPU during the run.
    pub server_pid: Option<i32>,
    /// The server's `--ping-interval`, when known: the hold's ping intervals
    /// are then also reported as multiples of it.
    #[serde(
        serialize_with = "ser_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub ping_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: "ws://127.0.0.1:3000/ws/echo".into(),
            conns: 1000,
            concurrency: 64,
            rate: None,
            hold: Duration::ZERO,
            connect_timeout: Duration::from_secs(5),
            server_pid: None,
            ping_interval: None,
        }
    }
}

impl Config {
    /// Check the combination of values.
    ///
    /// # Errors
    /// [`LoadgenError::Config`] naming the first problem.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        if self.conns == 0 {
            return Err(LoadgenError::Config("--conns must be at least 1".into()));
        }
        if self.concurrency == 0 {
            return Err(LoadgenError::Config(
                "--inflight (handshakes at once) must be at least 1".into(),
            ));
        }
        if let Some(r) = self.rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(LoadgenError::Config(format!(
                "--rate must be a positive number, got {r}"
            )));
        }
        common::validate_ping_interval(self.ping_interval)
    }
}

/// The result of a connect run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `"connect"`.
    pub scenario: &'static str,
    /// Integrity counters (top level in JSON): only server closes and drops during the hold apply.
    #[serde(flatten)]
    pub integrity: Integrity,
    /// The configuration.
    pub config: Config,
    /// Connections attempted.
    pub attempted: u64,
    /// Connections established.
    pub established: u64,
    /// Connections that failed.
    pub failed: u64,
    /// Failures by error text.
    pub failures: BTreeMap<String, u64>,
    /// Seconds from the first attempt to the last handshake's end.
    pub elapsed_s: f64,
    /// `established / elapsed_s`.
    pub connects_per_s: f64,
    /// Handshake latency (TCP connect + upgrade).
    pub handshake: LatencySummary,
    /// Connections still open at the end of the hold.
    pub open_after_hold: u64,
    /// The server's CPU during the hold, in cores (1.0 = one core busy):
    /// with nothing sent, what its heartbeat and timers cost. `None`
    /// without `--server-pid` or a hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_server_cpu_cores: Option<f64>,
    /// Generator, server, histograms (top level in JSON; no `errors`, the
    /// failures are above); of the server's figures,
    /// `rss_per_connection_bytes` is the one to read.
    #[serde(flatten)]
    pub outcome: RunOutcome,
}

impl crate::report::Report for Report {
    fn table(&self) -> String {
        let mut t = Table::new(&format!(
            "connect: {} connections, {} at once{}, hold {}",
            self.config.conns,
            self.config.concurrency,
            self.config
                .rate
                .map(|r| format!(", {r}/s"))
                .unwrap_or_default(),
            humantime::format_duration(self.config.hold)
        ));
        t.row(
            "established",
            format!(
                "{} of {} in {:.2}s ({})",
                self.established,
                self.attempted,
                self.elapsed_s,
                fmt_rate(self.connects_per_s)
            ),
        );
        for (e, n) in &self.failures {
            t.row("failed", format!("{n} × {e}"));
        }
        t.latency(&[("handshake", &self.handshake)]);
        if !self.config.hold.is_zero() {
            t.row("open after hold", self.open_after_hold);
        }
        if let Some(cores) = self.hold_server_cpu_cores {
            t.row(
                "server CPU during hold",
                format!("{:.1}% of a core", cores * 100.0),
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

/// An idle connection: sends nothing, reads (so tungstenite answers pings),
/// and records the pings.
struct Idle {
    pings: PingRecorder,
}

impl Driver for Idle {
    fn next_send(&mut self, _now: u64) -> Option<Message> {
        None
    }
    fn on_message(&mut self, _msg: Message, _now: u64) {}
    fn wake_at(&self, _now: u64) -> Option<u64> {
        None
    }
    fn finished(&mut self, _now: u64) -> bool {
        false
    }
    fn pings(&mut self) -> Option<&mut PingRecorder> {
        Some(&mut self.pings)
    }
}

/// Keep a connection open and idle until `until_ns`; `None` when it was
/// still open then, else how the server ended it.
async fn hold(ws: &mut Ws, clock: &Clock, until_ns: u64, pings: PingRecorder) -> Option<End> {
    match client::drive(ws, &mut Idle { pings }, clock, until_ns).await {
        End::Finished | End::Deadline => None,
        end => Some(end),
    }
}

/// Run the connect scenario; the heartbeat is that of the idle connections
/// during the hold (none without one).
///
/// # Errors
/// Configuration and URL errors, and a connection error when *no* connection
/// could be established. Partial failure is counted in the report.
pub async fn run(config: Config) -> Result<WithHeartbeat<Report>, LoadgenError> {
    config.validate()?;
    let target = Target::resolve(&config.url).await?;
    let mut sampler = config.server_pid.map(ServerSampler::start).transpose()?;
    let opts = ConnectOptions {
        timeout: config.connect_timeout,
        ..ConnectOptions::default()
    };
    let clock = Clock::new();
    let cpu = OwnCpu::start();
    let start = clock.now_ns();
    let permits = Arc::new(tokio::sync::Semaphore::new(config.concurrency));
    let mut handles = Vec::with_capacity(config.conns);
    for i in 0..config.conns {
        let intended = match config.rate {
            Some(r) => {
                let t = start + (i as f64 / r * 1e9) as u64;
                tokio::time::sleep_until(clock.instant_at(t).into()).await;
                Some(t)
            }
            None => None,
        };
        let permit = Arc::clone(&permits).acquire_owned().await;
        let target = target.clone();
        handles.push(tokio::spawn(async move {
            let t0 = intended.unwrap_or_else(|| clock.now_ns());
            let r = client::connect(&target, opts).await;
            drop(permit);
            let t1 = clock.now_ns();
            (r, t1.saturating_sub(t0), t1)
        }));
    }
    let mut latency = new_histogram();
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut open = Vec::with_capacity(config.conns);
    let mut last = start;
    let mut first_error = None;
    for h in handles {
        let (r, lat, t1) = h
            .await
            .map_err(|e| LoadgenError::Connection(format!("connect task failed: {e}")))?;
        last = last.max(t1);
        match r {
            Ok(ws) => {
                record_ns(&mut latency, lat);
                open.push(ws);
            }
            Err(e) => {
                *failures.entry(e.to_string()).or_default() += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if open.is_empty() {
        if let Some(s) = sampler {
            s.finish(0).await;
        }
        return Err(first_error
            .unwrap_or_else(|| LoadgenError::Connection("no connection established".into())));
    }
    let elapsed_s = last.saturating_sub(start) as f64 / 1e9;
    let cpu_used = cpu.elapsed();
    let mut integrity = Integrity::default();
    let hold_from = clock.now_ns();
    let hold_until = hold_from + duration_ns(config.hold);
    let pings = PingTally::new(config.ping_interval);
    if let Some(s) = sampler.as_mut().filter(|_| !config.hold.is_zero()) {
        // The hold is the measured window: the server's CPU in it is what
        // holding the connections costs.
        s.measure_window(clock.instant_at(hold_from), clock.instant_at(hold_until));
    }
    // Every connection is read from this one task. Under tokio's budget (128
    // reads a poll) the connections after the first 128 would each be polled
    // in vain, every poll, so that with many thousands the generator's core
    // saturated and most pings went unread. The hold only reads and answers
    // pings, so it cannot starve anything by running unconstrained.
    let ends = tokio::task::coop::unconstrained(futures_util::future::join_all(
        open.iter_mut().map(|ws| {
            hold(
                ws,
                &clock,
                hold_until,
                pings.recorder(hold_from, hold_until),
            )
        }),
    ))
    .await;
    let mut open_after_hold = 0;
    for e in ends.iter() {
        match e {
            Some(e) => {
                common::tally_end(e, &mut integrity);
            }
            None => open_after_hold += 1,
        }
    }
    let established = open.len();
    // Read the server while everything is still open, then close.
    let server = match sampler {
        Some(s) => Some(s.finish(established).await),
        None => None,
    };
    let hold_s = config.hold.as_secs_f64();
    let hold_server_cpu_cores = server
        .as_ref()
        .and_then(|s| s.measured_cpu_seconds)
        .filter(|_| hold_s > 0.0)
        .map(|cpu| cpu / hold_s);
    futures_util::future::join_all(
        open.iter_mut()
            .zip(&ends)
            .filter(|(_, e)| e.is_none())
            .map(|(ws, _)| client::close(ws, common::CLOSE_BOUND)),
    )
    .await;
    let failed: u64 = failures.values().sum();
    let mut histograms = vec![NamedHistogram {
        tag: "handshake".into(),
        histogram: latency.clone(),
    }];
    let heartbeat = pings.report_into("heartbeat_intervals", &mut histograms);
    let report = Report {
        scenario: "connect",
        integrity,
        attempted: config.conns as u64,
        established: established as u64,
        failed,
        failures,
        elapsed_s,
        connects_per_s: if elapsed_s > 0.0 {
            established as f64 / elapsed_s
        } else {
            0.0
        },
        handshake: LatencySummary::of(&latency),
        open_after_hold,
        hold_server_cpu_cores,
        outcome: RunOutcome {
            generator: GeneratorReport::judge(cpu_used, None),
            server,
            errors: None,
            histograms,
        },
        config,
    };
    Ok(WithHeartbeat::new(report, heartbeat))
}

//! The `hostile` scenario: the two attacks on a server's limits that cost
//! the client almost nothing, each with a canary connection echoing
//! throughout, and a control for the first.
//!
//! 0. **Abandoned messages** (the control): the same `--attackers` send the
//!    same partial messages one after another, but each half-closes its
//!    connection as soon as it has sent, so the server reads the same bytes
//!    at the same pace without ever holding more than about one message:
//!    no eviction. What the canary loses here is the cost of the bytes; what
//!    it loses on top under the attack is the cost of the budget's handling.
//! 1. **Partial messages**: `--attackers` connections each send
//!    `--partial` bytes of a frame that announces `--declared`, and then
//!    nothing. A server with an inbound memory budget closes the largest
//!    holders (1009) until the rest fits; one without holds them all. The
//!    server's peak RSS is sampled (`--server-pid`) against its RSS before.
//! 2. **Slow requests**: `--slow` sockets each send the start of an upgrade
//!    request and nothing more. Each should be closed within the server's
//!    `--handshake-timeout` plus a second, while new clients keep being
//!    served.
//!
//! The canary echoes every [`CANARY_EVERY`] from its own real-time thread
//! ([`CanaryThread`]) throughout, each round trip timed without
//! coordinated omission ([`CanaryClock`]):
//! for [`QUIET_FOR`] before the attacks (its baseline), then during the
//! control and each attack.
//! Its round trips are kept by phase, so the report can say whether an
//! attack left the well-behaved client's latency where it was, not only
//! whether it was served.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws_rawframe::{Frame, Outcome, RawClient};

use crate::LoadgenError;
use crate::client::{self, ConnectOptions, Target, Ws};
use crate::common::{self, ser_duration};
use crate::procmon::{ServerReport, ServerSampler};
use crate::report::{NamedHistogram, Table};
use crate::stats::{
    Clock, Integrity, LatencySummary, Schedule, duration_ns, new_histogram, record_ns,
};

/// How far past the handshake timeout a slow socket may be closed.
pub const CLOSE_SLACK: Duration = Duration::from_secs(1);

/// How long the attackers' outcomes are awaited once all have sent.
pub const OUTCOME_BOUND: Duration = Duration::from_secs(1);

/// Between two new-client probes during the slow requests.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// Between two canary echoes' intended send times: some 1,400 round trips
/// while the partial-message attack's bytes arrive (about 0.35 s), so that
/// their p99 is the 14th-worst echo, not the 4th (at 1 ms it was, of ~350),
/// and still light next to the attacks (4,000 small echoes a second).
/// Tokio's timer cannot wait this finely (it rounds up to whole
/// milliseconds), so the canary's own thread sleeps.
pub const CANARY_EVERY: Duration = Duration::from_micros(250);

/// How long the canary echoes before the attacks start: its baseline.
pub const QUIET_FOR: Duration = Duration::from_secs(1);

/// Configuration of a hostile run.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// `ws://host:port/ws/echo`.
    pub url: String,
    /// Connections sending a partial message.
    pub attackers: usize,
    /// Bytes of its message each attacker sends.
    pub partial: usize,
    /// The length each attacker's frame announces (at most the server's
    /// `--max-message-size`, or the server refuses it at once).
    pub declared: usize,
    /// The server's `--max-inbound-bytes`, for the report.
    pub budget: Option<usize>,
    /// Sockets sending a request that never completes.
    pub slow: usize,
    /// The server's `--handshake-timeout`.
    #[serde(serialize_with = "ser_duration")]
    pub handshake_timeout: Duration,
    /// Bound on each connect and each echo.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// The server's pid, for its RSS.
    pub server_pid: Option<i32>,
}

impl Config {
    /// Check the combination of values.
    ///
    /// # Errors
    /// [`LoadgenError::Config`] naming the first problem.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        if self.partial > self.declared {
            return Err(LoadgenError::Config(
                "--partial must not exceed --declared: the message must stay incomplete".into(),
            ));
        }
        if self.handshake_timeout.is_zero() || self.timeout.is_zero() {
            return Err(LoadgenError::Config(
                "--handshake-timeout and --timeout must be above zero".into(),
            ));
        }
        Ok(())
    }
}

/// What the partial-message attack did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PartialReport {
    /// Bytes the attackers sent in all.
    pub bytes_sent: u64,
    /// Attackers closed with 1009.
    pub closed_1009: u64,
    /// Attackers still open at the end.
    pub left_open: u64,
    /// Attackers that ended any other way, in words.
    pub other: Vec<String>,
    /// Canary echoes that failed during the attack.
    pub canary_failures: u64,
    /// The server's RSS before the control and the attack, and at its
    /// highest through both (the control holds far less than the attack).
    pub server: Option<ServerReport>,
}

/// What the abandoned messages (the control) did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AbandonedReport {
    /// Connections that sent their message and half-closed.
    pub messages: u64,
    /// Bytes they sent in all.
    pub bytes_sent: u64,
    /// Connections the server closed with 1009: a control that met the
    /// budget is no control (expected 0).
    pub closed_1009: u64,
    /// Connections the server ended any other way once it saw the end of
    /// the stream (expected: all of them).
    pub released: u64,
    /// Connections that could not send, or got no answer in time, in words.
    pub other: Vec<String>,
    /// Canary echoes that failed meanwhile.
    pub canary_failures: u64,
}

/// What the slow requests did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SlowReport {
    /// Sockets opened.
    pub opened: u64,
    /// Sockets whose TCP connect took over half a second (a SYN dropped
    /// while the server's listen backlog was full, retried by the kernel).
    pub slow_connects: u64,
    /// Sockets the server closed within the handshake timeout + 1 s of
    /// their connection being established.
    pub closed_in_time: u64,
    /// The longest a socket stayed open, in seconds (up to the bound).
    pub longest_open_s: f64,
    /// New clients that connected and echoed while the sockets were open.
    pub new_clients_ok: u64,
    /// New clients that did not.
    pub new_clients_failed: u64,
    /// Canary echoes that failed meanwhile.
    pub canary_failures: u64,
}

/// The canary's round trips in one phase of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CanaryPhase {
    /// Round trips that came back, µs.
    pub latency: LatencySummary,
    /// Echoes that did not come back within `--timeout` (or the connection ended).
    pub failures: u64,
}

/// The canary's echoes through the run, by phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CanaryReport {
    /// Before the attacks.
    pub quiet: CanaryPhase,
    /// While the same bytes arrived as abandoned messages (the control).
    pub abandoned: CanaryPhase,
    /// During the partial-message attack, while its bytes arrived (the
    /// same window as `abandoned`'s).
    pub partial: CanaryPhase,
    /// After the attack's last byte, while the attackers left open held
    /// their messages and their outcomes were awaited: an idle server, kept
    /// apart so that it does not dilute `partial`.
    #[serde(default)]
    pub held: CanaryPhase,
    /// While the slow-request sockets were open.
    pub slow: CanaryPhase,
    /// Always true: the canary echoes from its own thread ([`CanaryThread`]).
    pub own_thread: bool,
    /// Between two echoes' intended send times ([`CANARY_EVERY`]), in µs.
    pub every_us: u64,
    /// Always true: each round trip is timed from the echo's intended send
    /// time when it was held up by the echo before it ([`CanaryClock`]).
    pub from_intended: bool,
    /// Whether the canary's thread ran on the real-time scheduler
    /// (`raise_to_realtime`), so that the generator's own busy threads on
    /// its core could not delay it.
    pub realtime: bool,
}

/// Which part of the run a canary round trip belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Quiet,
    Abandoned,
    Partial,
    Held,
    Slow,
    Done,
}

/// The result of a hostile run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `"hostile"`.
    pub scenario: &'static str,
    /// Integrity counters (top level in JSON).
    #[serde(flatten)]
    pub integrity: Integrity,
    /// The configuration.
    pub config: Config,
    /// The abandoned messages: the control for the partial-message attack.
    pub abandoned: AbandonedReport,
    /// The partial-message attack.
    pub partial: PartialReport,
    /// The slow requests.
    pub slow: SlowReport,
    /// The canary's round trips, by phase.
    pub canary: CanaryReport,
    /// Seconds the run took.
    pub elapsed_s: f64,
    /// Histograms for `--hdr` (none).
    #[serde(skip)]
    pub histograms: Vec<NamedHistogram>,
}

impl crate::report::Report for Report {
    fn table(&self) -> String {
        let mut t = Table::new(&format!("hostile: against {}", self.config.url));
        let a = &self.abandoned;
        t.row(
            "abandoned messages",
            format!(
                "{} sent and half-closed: {} released, {} closed 1009, {} other; canary failures {}",
                a.messages,
                a.released,
                a.closed_1009,
                a.other.len(),
                a.canary_failures
            ),
        );
        let p = &self.partial;
        t.row(
            "partial messages",
            format!(
                "{} attackers x {} B: {} closed 1009, {} open, {} other; canary failures {}",
                self.config.attackers,
                self.config.partial,
                p.closed_1009,
                p.left_open,
                p.other.len(),
                p.canary_failures
            ),
        );
        if let Some(s) = &p.server {
            t.row(
                "server RSS",
                format!(
                    "{} before, {} at peak",
                    s.baseline_rss_bytes, s.peak_rss_bytes
                ),
            );
        }
        let s = &self.slow;
        let c = &self.canary;
        t.row(
            "canary p50 / p99",
            format!(
                "quiet {} / {} us, abandoned messages {} / {} us, partial messages {} / {} us, slow requests {} / {} us",
                c.quiet.latency.p50_us,
                c.quiet.latency.p99_us,
                c.abandoned.latency.p50_us,
                c.abandoned.latency.p99_us,
                c.partial.latency.p50_us,
                c.partial.latency.p99_us,
                c.slow.latency.p50_us,
                c.slow.latency.p99_us
            ),
        );
        t.row(
            "slow requests",
            format!(
                "{} of {} closed within {:?} + 1s (longest {:.2}s; {} connects retried); new clients {} ok, {} failed; canary failures {}",
                s.closed_in_time,
                s.opened,
                self.config.handshake_timeout,
                s.longest_open_s,
                s.slow_connects,
                s.new_clients_ok,
                s.new_clients_failed,
                s.canary_failures
            ),
        );
        t.finish()
    }
    fn integrity(&self) -> &Integrity {
        &self.integrity
    }
    fn histograms(&self) -> &[NamedHistogram] {
        &self.histograms
    }
    fn failed(&self) -> bool {
        self.canary.quiet.failures > 0
            || self.abandoned.canary_failures > 0
            || self.partial.canary_failures > 0
            || !self.partial.other.is_empty()
            || self.slow.canary_failures > 0
            || self.slow.new_clients_failed > 0
            || self.slow.closed_in_time < self.slow.opened
    }
}

fn path_of(url: &str) -> String {
    url.strip_prefix("ws://")
        .and_then(|rest| rest.find('/').map(|at| rest[at..].to_owned()))
        .unwrap_or_else(|| "/".to_owned())
}

/// Bytes an attacker writes before it lets the canary's task run: one
/// `write` to a loopback socket copies as much as its buffers take (MiBs
/// while the server reads fast), and the generator runs on one thread, so
/// an attacker writing 31 MiB in one go could hold the canary's echo back
/// and charge that delay to the server.
const ATTACK_SLICE: usize = 64 * 1024;

/// The attackers' `SO_SNDBUF` (Linux doubles it: 128 KiB). On loopback,
/// bytes queued in a client's socket are sent by whichever side opens the
/// window: with the default buffer (MiBs, autotuned) each of the server's
/// reads also ran the attacker's TCP transmit work on the server's core,
/// in the kernel, where a real attacker's would run on its own machine.
/// With 64 KiB the attack goes about as fast (9 × 31 MiB in ~0.35 s
/// either way) and the canary's p99 under its bytes on `ws-tokio-mutex`
/// was 112–197 µs instead of 384–2,387 µs (quiet 84–127 µs; by hand, 3
/// runs each, 2026-12-05). At 16 KiB the attack itself slowed tenfold.
const ATTACK_SNDBUF: u32 = 64 * 1024;

/// Writes `bytes` [`ATTACK_SLICE`] at a time, yielding between slices.
async fn send_in_slices(attacker: &mut RawClient, bytes: &[u8]) -> std::io::Result<()> {
    for slice in bytes.chunks(ATTACK_SLICE) {
        attacker.send(slice).await?;
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// One canary round trip; `false` when it failed.
async fn canary_echoes(canary: &mut Ws, n: u64, bound: Duration) -> bool {
    let mut payload = b"canary:".to_vec();
    payload.extend_from_slice(&n.to_be_bytes());
    common::echo_once(canary, payload, bound).await.is_ok()
}

/// The canary's own thread: where its round trips are timed.
///
/// The attackers write their slices from the generator's runtime; on that
/// runtime the canary's reply would wait in the run queue behind up to one
/// slice write per attacker (hundreds of µs in all), and that wait would be
/// charged to the server. On its own OS thread with its own current-thread
/// runtime the canary is a sleeping thread the kernel wakes when its reply
/// arrives, on the real-time scheduler where it may be
/// ([`raise_to_realtime`]) so that it runs ahead of the busy attack thread
/// on the core the two share (the thread inherits the generator's pinning).
struct CanaryThread {
    report: tokio::sync::oneshot::Receiver<CanaryReport>,
}

impl CanaryThread {
    /// Connects the canary on its own thread and starts it echoing; returns
    /// once it is connected (or could not be).
    async fn start(
        target: Target,
        opts: ConnectOptions,
        phase: tokio::sync::watch::Receiver<Phase>,
    ) -> Result<Self, LoadgenError> {
        let (connected_tx, connected) = tokio::sync::oneshot::channel();
        let (report_tx, report) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("ws-loadgen-canary".into())
            .spawn(move || {
                let realtime = raise_to_realtime();
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = connected_tx.send(Err(LoadgenError::Connection(format!(
                            "canary runtime: {err}"
                        ))));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match client::connect(&target, opts).await {
                        Ok(ws) => {
                            if connected_tx.send(Ok(())).is_ok() {
                                let report = canary(ws, opts.timeout, phase, realtime).await;
                                let _ = report_tx.send(report);
                            }
                        }
                        Err(err) => {
                            let _ = connected_tx.send(Err(err));
                        }
                    }
                });
            })
            .map_err(|err| LoadgenError::Connection(format!("canary thread: {err}")))?;
        match connected.await {
            Ok(Ok(())) => Ok(Self { report }),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(LoadgenError::Connection("canary thread ended early".into())),
        }
    }

    /// Waits for the canary's report once its phase is [`Phase::Done`]:
    /// at most its last echo's `--timeout` and its close. The thread ends
    /// on its own once it has sent it.
    async fn finish(self) -> Result<CanaryReport, LoadgenError> {
        self.report
            .await
            .map_err(|_| LoadgenError::Connection("canary thread failed".into()))
    }
}

/// Puts the calling thread (the canary's) on the real-time scheduler, at
/// its lowest priority; whether it could (it takes `CAP_SYS_NICE`, or an
/// `RLIMIT_RTPRIO` above zero).
///
/// The canary shares its core with the generator's busy threads (the
/// attackers' writes, the slow sockets' connects), and an ordinary thread
/// woken by its reply does not always preempt them: on the 2-core VM,
/// `perf sched timehist` showed the canary runnable for 2–4 ms (a
/// scheduler tick) behind the thread opening the slow sockets, while the
/// server's core sat idle (by hand, 2026-12-05). That wait was the
/// generator's, charged to the server. A real-time thread runs as soon as
/// it is woken.
fn raise_to_realtime() -> bool {
    use thread_priority::unix::{
        RealtimeThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    )
    .is_ok()
}

/// The canary: it echoes every [`CANARY_EVERY`] and keeps each round trip,
/// timed by its [`CanaryClock`], under the phase it was sent in, until the
/// phase is [`Phase::Done`] or its sender is gone; then it closes and
/// reports. `realtime`: whether its thread got the real-time scheduler.
async fn canary(
    mut ws: Ws,
    timeout: Duration,
    mut phase: tokio::sync::watch::Receiver<Phase>,
    realtime: bool,
) -> CanaryReport {
    let mut latency: [_; 5] = std::array::from_fn(|_| new_histogram());
    let mut failures = [0u64; 5];
    let time = Clock::new();
    let mut clock = CanaryClock::new(CANARY_EVERY);
    let mut previous_done = time.now_ns();
    for n in 0u64.. {
        let wait = clock.until_due(time.now_ns());
        if !wait.is_zero() {
            // Blocking is fine here: this is the canary's own thread, and
            // nothing else runs on its runtime (see `CanaryThread`).
            std::thread::sleep(wait);
        }
        if phase.has_changed().is_err() {
            break;
        }
        let slot = match *phase.borrow_and_update() {
            Phase::Quiet => 0,
            Phase::Abandoned => 1,
            Phase::Partial => 2,
            Phase::Held => 3,
            Phase::Slow => 4,
            Phase::Done => break,
        };
        let timed_from = clock.take(time.now_ns(), previous_done);
        let echoed = canary_echoes(&mut ws, n, timeout).await;
        previous_done = time.now_ns();
        if echoed {
            record_ns(&mut latency[slot], previous_done.saturating_sub(timed_from));
        } else {
            failures[slot] += 1;
            // A failure is counted as one; the echoes due while it was
            // awaited (up to `--timeout`, 20,000 of them) are not sent.
            clock.skip_overdue(previous_done);
        }
    }
    client::close(&mut ws, common::CLOSE_BOUND).await;
    let of = |slot: usize| CanaryPhase {
        latency: LatencySummary::of(&latency[slot]),
        failures: failures[slot],
    };
    CanaryReport {
        quiet: of(0),
        abandoned: of(1),
        partial: of(2),
        held: of(3),
        slow: of(4),
        own_thread: true,
        every_us: u64::try_from(CANARY_EVERY.as_micros()).unwrap_or(u64::MAX),
        from_intended: true,
        realtime,
    }
}

/// When the canary's echoes are due ([`Schedule`]), and what each round
/// trip is timed from, without coordinated omission and without the
/// generator's own lateness; times in ns since the canary started.
///
/// An echo that falls due while the one before it is still out is sent as
/// soon as that one is back and timed from its due time: a server that
/// stalls the canary for 20 ms delays the 80 echoes that should have left
/// meanwhile, and they all count it (wrk2's correction). An echo that
/// falls due while the canary sleeps is timed from when it is sent: how
/// late the sleeping thread woke up is the generator's, not the server's.
#[derive(Debug)]
struct CanaryClock {
    schedule: Schedule,
}

impl CanaryClock {
    /// One echo due every `every`, the first at once.
    fn new(every: Duration) -> Self {
        Self {
            schedule: Schedule::new(0, duration_ns(every), u64::MAX),
        }
    }

    /// How long from `now_ns` until the next echo is due; zero once it is.
    fn until_due(&self, now_ns: u64) -> Duration {
        self.schedule.next_due_ns().map_or(Duration::ZERO, |due| {
            Duration::from_nanos(due.saturating_sub(now_ns))
        })
    }

    /// Takes the echo due by `now_ns`, the one before it having come back
    /// at `previous_done_ns`; returns the time its round trip is timed from.
    fn take(&mut self, now_ns: u64, previous_done_ns: u64) -> u64 {
        match self.schedule.take_due(now_ns) {
            Some(due) if previous_done_ns > due => due,
            _ => now_ns,
        }
    }

    /// Drops the echoes due by `now_ns`.
    fn skip_overdue(&mut self, now_ns: u64) {
        self.schedule.skip_due(now_ns);
    }
}

/// What every attacker sends: the start of a frame announcing
/// `--declared` bytes, `--partial` of them. Encoded (and masked) before the
/// canary starts: tens of milliseconds of the generator's CPU that must not
/// fall into the canary's attack phase.
fn attack_bytes(config: &Config) -> Vec<u8> {
    Frame::binary(vec![0x5a; config.partial])
        .declaring_len(config.declared as u64)
        .encode()
}

/// Upgrades attacker `i`; what went wrong in words.
async fn attacker(
    config: &Config,
    target: &Target,
    path: &str,
    i: usize,
) -> Result<RawClient, String> {
    let upgrade = RawClient::upgrade_with(target.addr(), path, Some(ATTACK_SNDBUF));
    match tokio::time::timeout(config.timeout, upgrade).await {
        Ok(Ok(attacker)) => Ok(attacker),
        Ok(Err(err)) => Err(format!("attacker {i}: upgrade: {err}")),
        Err(_) => Err(format!("attacker {i}: upgrade timed out")),
    }
}

/// Sends `bytes` within the timeout; how many count as sent: all, or none
/// when the send was cut short (the server closed the socket already: the
/// outcome says how).
async fn sends(config: &Config, attacker: &mut RawClient, bytes: &[u8]) -> u64 {
    match tokio::time::timeout(config.timeout, send_in_slices(attacker, bytes)).await {
        Ok(Ok(())) => bytes.len() as u64,
        _ => 0,
    }
}

/// What both the control and the attack send, and where.
struct Attack<'a> {
    config: &'a Config,
    target: &'a Target,
    path: &'a str,
    /// Each attacker's partial message, encoded.
    bytes: &'a [u8],
}

impl Attack<'_> {
    /// Attacker `i` upgrades and sends the message: counted in
    /// `bytes_sent` when sent in full, an upgrade that failed told in
    /// `other`.
    async fn send(
        &self,
        i: usize,
        other: &mut Vec<String>,
        bytes_sent: &mut u64,
    ) -> Option<RawClient> {
        match attacker(self.config, self.target, self.path, i).await {
            Ok(mut attacker) => {
                *bytes_sent += sends(self.config, &mut attacker, self.bytes).await;
                Some(attacker)
            }
            Err(err) => {
                other.push(err);
                None
            }
        }
    }
}

/// The control: each attacker in turn sends its partial message, half-closes
/// and waits for the server to end the connection, so the server reads the
/// attack's bytes at the attack's pace but never holds two messages for
/// long, and its budget is never reached.
async fn abandoned_messages(attack: &Attack<'_>) -> AbandonedReport {
    let config = attack.config;
    let mut report = AbandonedReport::default();
    for i in 0..config.attackers {
        let Some(mut attacker) = attack
            .send(i, &mut report.other, &mut report.bytes_sent)
            .await
        else {
            continue;
        };
        report.messages += 1;
        // Half-closed, the server sees the stream end inside the message and
        // drops the connection and its buffer; a write error here means it
        // had already closed, and the outcome says how.
        let _ = attacker.shutdown_write().await;
        match attacker.outcome(config.timeout).await {
            Outcome::Closed {
                code: Some(1009), ..
            } => report.closed_1009 += 1,
            Outcome::TimedOut => report.other.push(format!(
                "attacker {i}: not released within {:?}",
                config.timeout
            )),
            _ => report.released += 1,
        }
    }
    report
}

/// The attack; `sampler` has watched the server's RSS since before the
/// control, so the baseline is the server's before either. Once every
/// attacker has sent, the canary's phase turns to [`Phase::Held`].
async fn partial_attack(
    attack: &Attack<'_>,
    sampler: Option<ServerSampler>,
    phase: &tokio::sync::watch::Sender<Phase>,
) -> PartialReport {
    let config = attack.config;
    let mut report = PartialReport::default();
    let mut attackers = Vec::with_capacity(config.attackers);
    for i in 0..config.attackers {
        let Some(attacker) = attack
            .send(i, &mut report.other, &mut report.bytes_sent)
            .await
        else {
            continue;
        };
        attackers.push(attacker);
    }
    phase.send_replace(Phase::Held);
    let outcomes = futures_util::future::join_all(
        attackers
            .iter_mut()
            .map(|attacker| attacker.outcome(OUTCOME_BOUND)),
    )
    .await;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Outcome::Closed {
                code: Some(1009), ..
            } => report.closed_1009 += 1,
            Outcome::TimedOut => report.left_open += 1,
            other => report.other.push(format!("attacker {i}: {other}")),
        }
    }
    if let Some(sampler) = sampler {
        report.server = Some(sampler.finish(attackers.len()).await);
    }
    report
}

/// Opens a socket and sends the start of an upgrade request; returns it
/// with the moment its TCP connection was established. The server cannot
/// time a socket before that: a connect whose SYN was dropped (the listen
/// backlog full during the burst) is retried by the kernel a second later,
/// and that second is the backlog's, not the handshake timeout's.
async fn slow_socket(target: &Target, path: &str) -> std::io::Result<(TcpStream, Instant)> {
    let mut socket = TcpStream::connect(target.addr()).await?;
    let established = Instant::now();
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n").as_bytes())
        .await?;
    Ok((socket, established))
}

/// A connect slower than this had its SYN retried.
const SLOW_CONNECT: Duration = Duration::from_millis(500);

/// How long until the server closes `socket`, up to `bound`.
async fn time_to_close(mut socket: TcpStream, opened: Instant, bound: Duration) -> Duration {
    let mut buf = [0u8; 512];
    let closed = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(bound.saturating_sub(opened.elapsed()), closed).await;
    opened.elapsed()
}

async fn slow_requests(
    config: &Config,
    target: &Target,
    path: &str,
) -> Result<SlowReport, LoadgenError> {
    let mut report = SlowReport::default();
    let limit = config.handshake_timeout + CLOSE_SLACK;
    // Waited for a little past the limit, so a late close is measured.
    let bound = limit + CLOSE_SLACK;
    let mut waits = tokio::task::JoinSet::new();
    for _ in 0..config.slow {
        let connecting = Instant::now();
        match slow_socket(target, path).await {
            Ok((socket, established)) => {
                report.opened += 1;
                if established - connecting > SLOW_CONNECT {
                    report.slow_connects += 1;
                }
                waits.spawn(time_to_close(socket, established, bound));
            }
            Err(err) => {
                return Err(LoadgenError::Connection(format!(
                    "slow request socket: {err}"
                )));
            }
        }
    }
    let opts = ConnectOptions {
        timeout: config.timeout,
        ..ConnectOptions::default()
    };
    let mut n = 0u64;
    let mut probes = tokio::time::interval(PROBE_EVERY);
    loop {
        tokio::select! {
            joined = waits.join_next() => match joined {
                Some(Ok(open_for)) => {
                    if open_for <= limit {
                        report.closed_in_time += 1;
                    }
                    report.longest_open_s = report.longest_open_s.max(open_for.as_secs_f64());
                }
                Some(Err(_)) => {}
                None => break,
            },
            _ = probes.tick() => {
                n += 1;
                let fresh = match client::connect(target, opts).await {
                    Ok(mut ws) => {
                        let ok = canary_echoes(&mut ws, n, config.timeout).await;
                        client::close(&mut ws, common::CLOSE_BOUND).await;
                        ok
                    }
                    Err(_) => false,
                };
                if fresh {
                    report.new_clients_ok += 1;
                } else {
                    report.new_clients_failed += 1;
                }
            }
        }
    }
    Ok(report)
}

/// Run the hostile scenario.
///
/// # Errors
/// Configuration and URL errors, and a connection error when the canary
/// cannot be opened.
pub async fn run(config: Config) -> Result<Report, LoadgenError> {
    config.validate()?;
    let target = Target::resolve(&config.url).await?;
    let path = path_of(&config.url);
    let opts = ConnectOptions {
        timeout: config.timeout,
        ..ConnectOptions::default()
    };
    let message = attack_bytes(&config);
    let started = Instant::now();
    let (phase, watched) = tokio::sync::watch::channel(Phase::Quiet);
    let canary = CanaryThread::start(target.clone(), opts, watched).await?;
    tokio::time::sleep(QUIET_FOR).await;
    let sampler = config.server_pid.map(ServerSampler::start).transpose()?;
    phase.send_replace(Phase::Abandoned);
    let attack = Attack {
        config: &config,
        target: &target,
        path: &path,
        bytes: &message,
    };
    let mut abandoned = abandoned_messages(&attack).await;
    phase.send_replace(Phase::Partial);
    let mut partial = partial_attack(&attack, sampler, &phase).await;
    phase.send_replace(Phase::Slow);
    let mut slow = slow_requests(&config, &target, &path).await?;
    phase.send_replace(Phase::Done);
    let canary = canary.finish().await?;
    abandoned.canary_failures = canary.abandoned.failures;
    // The attack in place is part of the attack.
    partial.canary_failures = canary.partial.failures + canary.held.failures;
    slow.canary_failures = canary.slow.failures;
    Ok(Report {
        scenario: "hostile",
        integrity: Integrity::default(),
        abandoned,
        partial,
        slow,
        canary,
        elapsed_s: started.elapsed().as_secs_f64(),
        histograms: Vec::new(),
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_micros(250);

    const US: u64 = 1_000;

    /// Echoes that fell due while a slow one was out are timed from their
    /// due times; one sent after a sleep from its send, however late the
    /// thread woke.
    #[test]
    fn a_stall_is_counted_by_every_echo_it_held_up() {
        let mut clock = CanaryClock::new(EVERY);
        // Echo 0 leaves on time and is out for 1 ms: echoes 1..=4 fall due.
        assert_eq!(clock.until_due(0), Duration::ZERO);
        assert_eq!(clock.take(0, 0), 0);
        let back = 1_000 * US;
        for k in 1..=4u64 {
            assert_eq!(clock.until_due(back), Duration::ZERO, "echo {k} is overdue");
            let sent = back + 10 * US * k;
            assert_eq!(clock.take(sent, sent), 250 * US * k, "echo {k}");
        }
        // Caught up: echo 5 is due at 1.25 ms, the canary sleeps and wakes
        // 60 µs late; the round trip runs from the send.
        let now = 1_050 * US;
        assert_eq!(clock.until_due(now), Duration::from_micros(200));
        let woke = 1_310 * US;
        assert_eq!(clock.take(woke, now), woke);
    }

    /// After a failed echo, what fell due while it was awaited is dropped,
    /// not sent in a burst.
    #[test]
    fn a_failure_drops_the_echoes_due_meanwhile() {
        let mut clock = CanaryClock::new(EVERY);
        clock.take(0, 0);
        let gave_up = 5_000_100 * US;
        clock.skip_overdue(gave_up);
        assert_eq!(clock.until_due(gave_up), Duration::from_micros(150));
        let woke = 5_000_300 * US;
        assert_eq!(clock.take(woke, gave_up), woke);
    }
}

//! The parts of `ws-loadgen --json` output the report reads.
//!
//! Field names follow `ws-loadgen`'s `echo`, `room`, `slow` and `connect` reports
//! (its README's "The JSON"); the latency summary and the heartbeat are
//! `ws-loadgen`'s own types, so the two cannot drift apart. Everything else in the files is ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
pub use ws_loadgen::heartbeat::{HeartbeatReport, Multiples};
pub use ws_loadgen::report::PacingError;
pub use ws_loadgen::stats::LatencySummary;

/// `latency` of echo results and of slow's groups.
#[derive(Clone, Debug, Deserialize)]
pub struct Latency {
    /// Over delivered messages.
    pub delivered: LatencySummary,
    /// With every undelivered message counted at the drain bound.
    pub with_undelivered: LatencySummary,
    /// Messages counted at the drain bound.
    pub undelivered: u64,
    /// The drain bound, µs.
    pub drain_bound_us: u64,
}

/// `generator`.
#[derive(Clone, Debug, Deserialize)]
pub struct Generator {
    /// Runtime threads.
    pub threads: usize,
    /// CPU seconds its threads used (absent from some scenarios' results).
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// Share of its threads' CPU time it used.
    pub cpu_utilization: Option<f64>,
    /// The numbers may describe the generator rather than the server.
    pub bottleneck: bool,
    /// Why.
    #[serde(default)]
    pub bottleneck_reasons: Vec<String>,
    /// Open loop: lateness of actual over intended send time; absent in
    /// results from before the generator reported it.
    #[serde(default)]
    pub pacing_error: Option<PacingError>,
}

/// `server` (with `--server-pid`).
#[derive(Clone, Debug, Deserialize)]
pub struct ServerStats {
    /// RSS before the run's connections.
    pub baseline_rss_bytes: u64,
    /// Highest RSS seen.
    pub peak_rss_bytes: u64,
    /// (peak - baseline) / connections.
    pub rss_per_connection_bytes: Option<f64>,
    /// CPU seconds used during the run.
    pub cpu_seconds: f64,
    /// Cores used on average.
    pub cpu_cores_used: f64,
    /// CPU seconds used within the measured window alone (`echo`, `room`
    /// and `connect`'s hold; absent from results from before the generator
    /// read it).
    #[serde(default)]
    pub measured_cpu_seconds: Option<f64>,
}

/// The integrity counters at the top level of every result.
#[derive(Clone, Debug, Deserialize)]
pub struct Integrity {
    /// Messages lost.
    pub lost: u64,
    /// Extra copies.
    pub duplicated: u64,
    /// Out of order.
    pub reordered: u64,
    /// Failed verification.
    pub corrupted: u64,
    /// Closes the server started, by code.
    pub close_codes: BTreeMap<String, u64>,
    /// Connections ended without a close frame.
    pub dropped_connections: u64,
}

/// `config` of an echo run.
#[derive(Clone, Debug, Deserialize)]
pub struct EchoConfig {
    /// Connections.
    pub conns: usize,
    /// Message size, bytes.
    pub size: usize,
    /// Measured time (humantime).
    pub duration: String,
    /// Warm-up (humantime).
    pub warmup: String,
    /// Open-loop total rate.
    pub rate: Option<f64>,
    /// Closed loop: messages outstanding per connection.
    #[serde(default)]
    pub inflight: Option<u64>,
    /// Every body byte checked (`--no-verify` turns it off).
    #[serde(default)]
    pub verify: Option<bool>,
    /// `binary` or `text`.
    #[serde(default)]
    pub encoding: Option<String>,
    /// Drain timeout (humantime).
    pub drain_timeout: String,
}

/// An `echo` result.
#[derive(Clone, Debug, Deserialize)]
pub struct EchoResult {
    /// Integrity.
    #[serde(flatten)]
    pub integrity: Integrity,
    /// `open` or `closed`.
    pub mode: String,
    /// Configuration.
    pub config: EchoConfig,
    /// Measured seconds.
    pub duration_s: f64,
    /// Sent in the measured window.
    pub sent: u64,
    /// Received of those.
    pub received: u64,
    /// Echoes per second.
    pub throughput_msgs_per_s: f64,
    /// Round-trip latency.
    pub latency: Latency,
    /// Lowest per-connection delivered share.
    pub delivered_fraction_worst: f64,
    /// The generator.
    pub generator: Generator,
    /// The server process.
    pub server: Option<ServerStats>,
    /// A sliced run's target: where its turns fell (`None` for a run with one server).
    #[serde(default)]
    pub slicing: Option<Slicing>,
}

/// `slicing` of a target of a sliced `echo` run (several servers measured
/// by turns, `ws-loadgen echo --url … --url …`).
#[derive(Clone, Debug, Deserialize)]
pub struct Slicing {
    /// One turn, its gap included (humantime).
    pub slice: String,
    /// The end of each turn in which the target gets no new messages (humantime).
    pub gap: String,
    /// Servers taking turns.
    pub targets: usize,
    /// Seconds of the measured window in which this target could send.
    pub sending_s: f64,
    /// Its replies that arrived after its turn, in the next target's.
    pub replies_after_turn: u64,
}

/// `config` of a slow run.
#[derive(Clone, Debug, Deserialize)]
pub struct SlowConfig {
    /// Members in total.
    pub conns: usize,
    /// Sending members.
    pub senders: usize,
    /// Slow readers.
    pub slow: usize,
    /// Their delay per message (humantime).
    pub slow_delay: String,
    /// Their reading pace, a fraction of the offered rate (replaces the delay).
    #[serde(default)]
    pub slow_pace: Option<f64>,
    /// Their `SO_RCVBUF`, when set.
    #[serde(default)]
    pub slow_rcvbuf: Option<u32>,
    /// Members that stop reading.
    pub stalled: usize,
    /// Their `SO_RCVBUF`.
    pub stalled_rcvbuf: u32,
    /// Message size, bytes.
    pub size: usize,
    /// Measured time (humantime).
    pub duration: String,
    /// Warm-up (humantime).
    pub warmup: String,
    /// Open-loop total rate.
    pub rate: Option<f64>,
}

/// A group of members in a slow result.
#[derive(Clone, Debug, Deserialize)]
pub struct Group {
    /// Members.
    pub members: usize,
    /// Deliveries of measured messages.
    pub deliveries: u64,
    /// Deliveries expected.
    pub expected_deliveries: u64,
    /// Deliveries per second.
    pub deliveries_per_s: f64,
    /// Fan-out latency.
    pub latency: Latency,
    /// Lowest per-member share.
    pub delivered_fraction_worst: f64,
    /// Mean per-member share.
    pub delivered_fraction_mean: f64,
}

/// What happened to one slow or stalled member.
#[derive(Clone, Debug, Deserialize)]
pub struct Consumer {
    /// Member index.
    pub member: u32,
    /// `slow` or `stalled`.
    pub kind: String,
    /// `connected`, `closed`, `dropped`, `unknown`.
    pub outcome: String,
    /// Close code from the server.
    pub close_code: Option<u16>,
    /// Close reason from the server.
    pub close_reason: Option<String>,
    /// Seconds from the start to the disconnection (slow members only).
    pub disconnected_after_s: Option<f64>,
    /// Slow members: distinct messages received.
    #[serde(default)]
    pub received: Option<u64>,
}

/// One rise of a watched counter: it happened after `after_s` and by `by_s`
/// (seconds from the start of the run).
#[derive(Clone, Debug, Deserialize)]
pub struct Rise {
    /// Lower bound.
    pub after_s: f64,
    /// Upper bound.
    pub by_s: f64,
    /// By how much.
    pub count: u64,
}

/// `server_disconnects` of a slow result.
#[derive(Clone, Debug, Deserialize)]
pub struct CounterWatch {
    /// The series watched.
    pub metric: String,
    /// Time between scrapes (humantime).
    pub poll: String,
    /// Scrapes answered.
    pub scrapes: u64,
    /// Scrapes that failed.
    pub failed_scrapes: u64,
    /// Each rise, in order.
    pub rises: Vec<Rise>,
}

/// One second of the healthy members' timeline.
#[derive(Clone, Debug, Deserialize)]
pub struct TimelinePoint {
    /// Second of the measured window.
    pub second: usize,
    /// Deliveries of messages sent in it.
    pub healthy_deliveries: u64,
    /// Their highest latency, µs.
    pub healthy_max_latency_us: u64,
}

/// A `slow` result.
#[derive(Clone, Debug, Deserialize)]
pub struct SlowResult {
    /// Integrity.
    #[serde(flatten)]
    pub integrity: Integrity,
    /// Configuration.
    pub config: SlowConfig,
    /// Measured seconds.
    pub duration_s: f64,
    /// Sent in the measured window.
    pub sent: u64,
    /// The healthy members.
    pub healthy: Group,
    /// The slow readers.
    pub slow: Option<Group>,
    /// Each slow or stalled member.
    pub consumers: Vec<Consumer>,
    /// Healthy deliveries per second.
    pub timeline: Vec<TimelinePoint>,
    /// The server's slow-consumer counter during the run (with `--metrics-url`).
    #[serde(default)]
    pub server_disconnects: Option<CounterWatch>,
    /// The generator.
    pub generator: Generator,
    /// The server process.
    pub server: Option<ServerStats>,
}

/// `config` of a room run.
#[derive(Clone, Debug, Deserialize)]
pub struct RoomConfig {
    /// Members in total.
    pub conns: usize,
    /// Message size, bytes.
    pub size: usize,
    /// Open-loop total rate of all senders.
    pub rate: Option<f64>,
    /// Measured time (humantime).
    #[serde(default)]
    pub duration: Option<String>,
    /// Warm-up (humantime).
    #[serde(default)]
    pub warmup: Option<String>,
}

/// A `room` result.
#[derive(Clone, Debug, Deserialize)]
pub struct RoomResult {
    /// Integrity.
    #[serde(flatten)]
    pub integrity: Integrity,
    /// Configuration.
    pub config: RoomConfig,
    /// Members that sent.
    pub senders: usize,
    /// Measured seconds.
    pub duration_s: f64,
    /// Deliveries (message × receiver) of measured messages.
    pub deliveries: u64,
    /// Deliveries that should have happened.
    pub expected_deliveries: u64,
    /// Deliveries per second.
    pub deliveries_per_s: f64,
    /// Every delivery after the room settled, warm-up and drain included:
    /// the span of `generator.cpu_seconds` (absent from older results).
    #[serde(default)]
    pub deliveries_total: Option<u64>,
    /// Fan-out latency.
    pub latency: Latency,
    /// The generator.
    pub generator: Generator,
    /// The server process.
    pub server: Option<ServerStats>,
}

/// `config` of a connect run.
#[derive(Clone, Debug, Deserialize)]
pub struct ConnectConfig {
    /// Connections to open.
    pub conns: usize,
    /// Handshakes at once.
    pub concurrency: usize,
    /// Hold time (humantime).
    pub hold: String,
    /// The server's `--ping-interval`, when the run passed it (humantime).
    #[serde(default)]
    pub ping_interval: Option<String>,
}

/// A `connect` result.
#[derive(Clone, Debug, Deserialize)]
pub struct ConnectResult {
    /// Configuration.
    pub config: ConnectConfig,
    /// Attempted.
    pub attempted: u64,
    /// Established.
    pub established: u64,
    /// Failed.
    pub failed: u64,
    /// Handshake latency.
    pub handshake: LatencySummary,
    /// Still open after the hold.
    pub open_after_hold: u64,
    /// `established` over the seconds from the first attempt to the last
    /// handshake's end (0 in results from before it was recorded).
    #[serde(default)]
    pub connects_per_s: f64,
    /// The server's CPU during the hold, in cores: its heartbeat's cost.
    #[serde(default)]
    pub hold_server_cpu_cores: Option<f64>,
    /// The generator, during the connects.
    #[serde(default)]
    pub generator: Option<Generator>,
    /// The server process.
    pub server: Option<ServerStats>,
}

/// `config` of a churn run.
#[derive(Clone, Debug, Deserialize)]
pub struct ChurnConfig {
    /// Cycles per round.
    pub cycles: usize,
    /// Rounds (1 in results from before there were rounds).
    #[serde(default = "one")]
    pub rounds: usize,
    /// Cycles at once.
    pub concurrency: usize,
    /// Share reset without a Close.
    pub abrupt_fraction: f64,
    /// Share reset mid-frame.
    pub mid_message_fraction: f64,
    /// How long the gauges may take to reach zero (humantime).
    pub settle: String,
}

/// `metrics_after` of a churn run.
#[derive(Clone, Debug, Deserialize)]
pub struct GaugesAfter {
    /// `ws_connections`.
    pub connections: Option<f64>,
    /// `ws_rooms`.
    pub rooms: Option<f64>,
    /// `ws_room_members`.
    pub room_members: Option<f64>,
}

/// A `churn` result.
#[derive(Clone, Debug, Deserialize)]
pub struct ChurnResult {
    /// Configuration.
    pub config: ChurnConfig,
    /// Cycles that went as planned.
    pub cycles_done: u64,
    /// Cycles that failed.
    pub failures: u64,
    /// The gauges after settling.
    pub metrics_after: Option<GaugesAfter>,
    /// A gauge above zero after settling (absent without `--metrics-url`).
    pub leaked: Option<bool>,
    /// RSS after settling.
    pub rss_after_bytes: Option<u64>,
    /// RSS after settling / RSS before the run.
    pub rss_after_vs_baseline: Option<f64>,
    /// The last round's RSS after settling over the first's (with rounds).
    #[serde(default)]
    pub last_round_vs_first: Option<f64>,
    /// The server process.
    pub server: Option<ServerStats>,
}

/// `config` of a badinput run.
#[derive(Clone, Debug, Deserialize)]
pub struct BadinputConfig {
    /// The `--max-message-size` the oversized inputs exceed.
    pub max_message_size: usize,
    /// Bound on each answer (humantime).
    pub timeout: String,
}

/// A `badinput` result.
#[derive(Clone, Debug, Deserialize)]
pub struct BadinputResult {
    /// Configuration.
    pub config: BadinputConfig,
    /// Inputs thrown.
    pub inputs_tried: u64,
    /// Inputs after which the canary or a new connection did not echo.
    pub canary_failures: u64,
    /// Inputs answered otherwise than RFC 6455 prescribes.
    pub not_as_rfc: u64,
}

/// `config` of a hostile run.
#[derive(Clone, Debug, Deserialize)]
pub struct HostileConfig {
    /// Connections holding a partial message.
    pub attackers: usize,
    /// Bytes each sent of its message.
    pub partial: usize,
    /// The length their frames announced.
    pub declared: usize,
    /// The server's `--max-inbound-bytes`.
    pub budget: Option<usize>,
    /// Sockets sending a request that never completes.
    pub slow: usize,
    /// The server's `--handshake-timeout` (humantime).
    pub handshake_timeout: String,
}

/// The partial-message attack of a hostile run.
#[derive(Clone, Debug, Deserialize)]
pub struct HostilePartial {
    /// Attackers closed with 1009.
    pub closed_1009: u64,
    /// Attackers still open at the end.
    pub left_open: u64,
    /// Attackers that ended any other way.
    pub other: Vec<String>,
    /// Canary echoes that failed.
    pub canary_failures: u64,
    /// The server process.
    pub server: Option<ServerStats>,
}

/// The abandoned messages of a hostile run: the attack's partial messages
/// sent one after another, each connection closed as soon as it has sent,
/// so the server reads the same bytes without reaching its budget. The
/// control for the partial-message attack.
#[derive(Clone, Debug, Deserialize)]
pub struct HostileAbandoned {
    /// Connections that sent their message.
    pub messages: u64,
    /// Bytes they sent in all.
    pub bytes_sent: u64,
    /// Connections the server closed with 1009: expected 0, for a control
    /// that met the budget evicted and is no control.
    pub closed_1009: u64,
    /// Connections the server ended without 1009.
    pub released: u64,
    /// Connections that ended neither way, in words.
    #[serde(default)]
    pub other: Vec<String>,
}

/// The slow requests of a hostile run.
#[derive(Clone, Debug, Deserialize)]
pub struct HostileSlow {
    /// Sockets opened.
    pub opened: u64,
    /// Connects that took over 500 ms (a SYN retried; absent from results
    /// that timed each socket from before its connect).
    #[serde(default)]
    pub slow_connects: Option<u64>,
    /// Closed within the handshake timeout + 1 s.
    pub closed_in_time: u64,
    /// The longest one stayed open, in seconds.
    pub longest_open_s: f64,
    /// New clients served meanwhile.
    pub new_clients_ok: u64,
    /// New clients not served.
    pub new_clients_failed: u64,
    /// Canary echoes that failed.
    pub canary_failures: u64,
}

/// The canary's round trips in one phase of a hostile run.
#[derive(Clone, Debug, Deserialize)]
pub struct CanaryPhase {
    /// Round trips that came back.
    pub latency: LatencySummary,
    /// Echoes that did not.
    pub failures: u64,
}

/// The canary's echoes through a hostile run, by phase.
#[derive(Clone, Debug, Deserialize)]
pub struct HostileCanary {
    /// Before the attacks.
    pub quiet: CanaryPhase,
    /// While the same bytes arrived as abandoned messages, the control for
    /// the partial-message attack (absent from results before the control).
    #[serde(default)]
    pub abandoned: Option<CanaryPhase>,
    /// During the partial-message attack: the whole attack in results
    /// before the control, only while its bytes arrived since.
    pub partial: CanaryPhase,
    /// After the attack's last byte, while the attackers left open held
    /// their messages: the attack in place (absent from results before the
    /// control, whose `partial` included it).
    #[serde(default)]
    pub held: Option<CanaryPhase>,
    /// While the slow-request sockets were open.
    pub slow: CanaryPhase,
    /// Whether the canary echoed from its own thread (absent from results
    /// whose canary shared the attackers' thread).
    #[serde(default)]
    pub own_thread: bool,
    /// Between two echoes, in µs ([`CANARY_EVERY_US_BEFORE`] in results
    /// from before the field).
    #[serde(default = "canary_every_us_before")]
    pub every_us: u64,
    /// Whether an echo held up by the one before it was timed from its
    /// intended send time (absent, so false, from results whose canary
    /// timed every echo from its send: coordinated omission).
    #[serde(default)]
    pub from_intended: bool,
    /// Whether the canary's thread ran on the real-time scheduler, so that
    /// the generator's busy threads could not delay it (absent, so false,
    /// from results before the field).
    #[serde(default)]
    pub realtime: bool,
}

/// The canary's interval before results said it: 5 ms.
pub const CANARY_EVERY_US_BEFORE: u64 = 5_000;

fn canary_every_us_before() -> u64 {
    CANARY_EVERY_US_BEFORE
}

/// A `hostile` result.
#[derive(Clone, Debug, Deserialize)]
pub struct HostileResult {
    /// Configuration.
    pub config: HostileConfig,
    /// The control for the partial messages (absent from results before it).
    #[serde(default)]
    pub abandoned: Option<HostileAbandoned>,
    /// Partial messages past the budget.
    pub partial: HostilePartial,
    /// Slow requests.
    pub slow: HostileSlow,
    /// The canary by phase (absent from results before it was timed).
    #[serde(default)]
    pub canary: Option<HostileCanary>,
}

/// The heartbeat of any `echo`, `room`, `slow` or `connect` result: the
/// top-level `heartbeat` key (for `slow`, the healthy members'), whatever
/// the scenario's other figures.
#[derive(Clone, Debug, Deserialize)]
pub struct HeartbeatResult {
    /// Absent when the run saw no connection in its window (or, without
    /// `--ping-interval`, no ping at all).
    #[serde(default)]
    pub heartbeat: Option<HeartbeatReport>,
}

/// The default of a count that older results did not record.
const fn one() -> usize {
    1
}

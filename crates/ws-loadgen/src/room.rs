//! The `room` scenario: N members of one room (or R rooms), M of them
//! sending; every member receives and verifies.
//!
//! Each receiver tracks every sender of its room separately: order, no gap,
//! no duplicate, and that each sender hears itself. Latency is fan-out
//! latency: from the (intended) send time to each delivery.
//!
//! Members first join and *settle*: the first member of each room sends a
//! hello every 200 ms until every member has heard one, because a server may
//! register a member a moment after the upgrade answer, and a message sent in
//! that moment would look lost. Members share that count in memory, so a
//! round costs one delivery per member, not one per pair (a room of 1,000 is
//! 1,000 deliveries, not a million). Only then does the measured traffic
//! start; hellos that arrive after it are ignored, never counted as traffic.
//!
//! This module also holds the member machinery the `slow` scenario uses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::LoadgenError;
use crate::client::{self, ConnectOptions, Driver, End, Target, Ws};
use crate::common::{self, ser_duration};
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
    Clock, Integrity, Latencies, SeqEvent, SeqTracker, duration_ns, merge_into, new_histogram,
};

/// How often a room's caller repeats its hello while the room settles.
const HELLO_RESEND: Duration = Duration::from_millis(200);
/// Default bound on the join-and-settle phase: generous enough for 1,000 members.
pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an idle member re-checks shared state (join, drain), in a
/// room of up to 500 members.
const POLL_SHARED: Duration = Duration::from_millis(10);
/// With more members, each member's re-check interval grows by this much
/// per member, so that all of them together wake at most 50,000 times a
/// second: polling every 10 ms, 15,000 members would wake 1.5 million
/// times a second while the room settles and while it drains, and the
/// drain falls within the span of the generator's own CPU reading (its CPU
/// per delivery).
const POLL_PER_MEMBER: Duration = Duration::from_micros(20);

/// Configuration of a room run.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// `ws://host:port/ws/room/{name}`; with `rooms > 1` the rooms are `{name}-0`, `{name}-1`, ...
    pub url: String,
    /// Members in total.
    pub conns: usize,
    /// Number of rooms the members are spread over (round robin).
    pub rooms: usize,
    /// How many members send (the first ones); `None` = all.
    pub senders: Option<usize>,
    /// Message size, timing, rate and checking.
    #[serde(flatten)]
    pub load: MessageLoad,
    /// Bound on the join-and-settle phase.
    #[serde(serialize_with = "ser_duration")]
    pub join_timeout: Duration,
    /// Sample this process's memory and CPU during the run.
    pub server_pid: Option<i32>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: "ws://127.0.0.1:3000/ws/room/bench".into(),
            conns: 16,
            rooms: 1,
            senders: None,
            load: MessageLoad::default(),
            join_timeout: DEFAULT_JOIN_TIMEOUT,
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
        let senders = self.senders.unwrap_or(self.conns);
        if self.conns == 0 || self.conns > u32::MAX as usize {
            return Err(LoadgenError::Config("--conns must be at least 1".into()));
        }
        if self.rooms == 0 || self.rooms > self.conns {
            return Err(LoadgenError::Config(format!(
                "--rooms {} needs 1..={} (at least one member per room)",
                self.rooms, self.conns
            )));
        }
        if senders == 0 || senders > self.conns {
            return Err(LoadgenError::Config(format!(
                "--senders {senders} must be between 1 and --conns {}",
                self.conns
            )));
        }
        common::validate_ping_interval(self.load.ping_interval)?;
        validate_common(self.load.duration, self.load.rate, self.load.inflight)
    }
}

pub(crate) fn validate_common(
    duration: Duration,
    rate: Option<f64>,
    inflight: usize,
) -> Result<(), LoadgenError> {
    if duration.is_zero() {
        return Err(LoadgenError::Config(
            "--duration must be more than 0".into(),
        ));
    }
    match rate {
        Some(r) if !(r.is_finite() && r > 0.0) => Err(LoadgenError::Config(format!(
            "--rate must be a positive number, got {r}"
        ))),
        None if inflight == 0 => Err(LoadgenError::Config("--inflight must be at least 1".into())),
        _ => Ok(()),
    }
}

/// Room URLs for `rooms` rooms: the URL itself for one, `{url}-{i}` for several.
///
/// # Errors
/// [`LoadgenError::Url`] when a derived room name would be invalid (over 64 characters).
pub fn room_urls(url: &str, rooms: usize) -> Result<Vec<String>, LoadgenError> {
    if rooms <= 1 {
        return Ok(vec![url.to_owned()]);
    }
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let name = base.rsplit('/').next().unwrap_or("");
    if name.is_empty() {
        return Err(LoadgenError::Url {
            url: url.into(),
            reason: "--rooms needs a URL ending in a room name".into(),
        });
    }
    (0..rooms)
        .map(|i| {
            let suffix = format!("-{i}");
            if name.len() + suffix.len() > 64 {
                return Err(LoadgenError::Url {
                    url: url.into(),
                    reason: format!("room name {name:?}{suffix} would exceed 64 characters"),
                });
            }
            Ok(match query {
                Some(q) => format!("{base}{suffix}?{q}"),
                None => format!("{base}{suffix}"),
            })
        })
        .collect()
}

/// Who is in which room and who sends.
#[derive(Debug)]
pub(crate) struct Plan {
    pub room_of: Vec<usize>,
    pub room_size: Vec<usize>,
    /// Sender index -> member id.
    pub sender_members: Vec<u32>,
    /// Member id -> sender index.
    pub sender_index_of: Vec<Option<usize>>,
}

impl Plan {
    /// How often an idle member re-checks shared state: [`POLL_SHARED`], or
    /// [`POLL_PER_MEMBER`] per member when that is longer.
    pub fn poll_shared(&self) -> Duration {
        let members = u32::try_from(self.room_of.len()).unwrap_or(u32::MAX);
        POLL_SHARED.max(POLL_PER_MEMBER.saturating_mul(members))
    }

    /// `members` spread round robin over `rooms`; the members in `senders` send.
    pub fn new(members: usize, rooms: usize, senders: &[u32]) -> Self {
        let room_of: Vec<usize> = (0..members).map(|m| m % rooms).collect();
        let mut room_size = vec![0; rooms];
        for &r in &room_of {
            room_size[r] += 1;
        }
        let mut sender_index_of = vec![None; members];
        for (i, &m) in senders.iter().enumerate() {
            sender_index_of[m as usize] = Some(i);
        }
        Self {
            room_of,
            room_size,
            sender_members: senders.to_vec(),
            sender_index_of,
        }
    }

    fn senders_in_room(&self, room: usize) -> impl Iterator<Item = usize> + '_ {
        self.sender_members
            .iter()
            .enumerate()
            .filter(move |(_, m)| self.room_of[**m as usize] == room)
            .map(|(i, _)| i)
    }
}

/// State all members of a run share: what each sender sent, who is done.
#[derive(Debug)]
pub(crate) struct Shared {
    sent: Vec<AtomicU64>,
    sent_measured: Vec<AtomicU64>,
    senders_done: AtomicUsize,
    hello_done: AtomicUsize,
}

impl Shared {
    pub fn new(senders: usize) -> Self {
        Self {
            sent: (0..senders).map(|_| AtomicU64::new(0)).collect(),
            sent_measured: (0..senders).map(|_| AtomicU64::new(0)).collect(),
            senders_done: AtomicUsize::new(0),
            hello_done: AtomicUsize::new(0),
        }
    }
}

/// The join-and-settle driver.
///
/// Settling costs O(N) deliveries per round, not O(N²): the first member of
/// each room (the *caller*) sends a hello every `HELLO_RESEND`, and every
/// member that hears a hello of its room counts itself once in
/// `Shared::hello_done`. All members are in this process, so that shared
/// count is the whole handshake: no member has to greet any other. A member
/// the server registers late simply hears the next hello.
struct Hello {
    room: usize,
    /// Is this member its room's caller?
    caller: bool,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    codec: PayloadCodec,
    heard: bool,
    id: u32,
    next_hello: u64,
}

impl Hello {
    fn settled(&self) -> bool {
        self.shared.hello_done.load(Ordering::Acquire) >= self.plan.room_of.len()
    }
}

impl Driver for Hello {
    fn next_send(&mut self, now: u64) -> Option<Message> {
        if !self.caller || now < self.next_hello || self.settled() {
            return None;
        }
        self.next_hello = now + duration_ns(HELLO_RESEND);
        Some(self.codec.encode(Kind::Hello, self.id, 0, now))
    }
    fn on_message(&mut self, msg: Message, _now: u64) {
        if self.heard {
            return;
        }
        if let Ok(h) = payload::decode(&msg, self.codec.encoding(), false) {
            let m = h.sender as usize;
            if h.kind == Kind::Hello && self.plan.room_of.get(m) == Some(&self.room) {
                self.heard = true;
                self.shared.hello_done.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
    fn wake_at(&self, now: u64) -> Option<u64> {
        let poll = now + duration_ns(self.plan.poll_shared());
        Some(if self.caller {
            self.next_hello.min(poll)
        } else {
            poll
        })
    }
    fn finished(&mut self, _now: u64) -> bool {
        self.settled()
    }
}

/// Join: each room's first member says hello until every member has heard one.
///
/// Hellos still queued when this returns arrive later: every verifier ignores them.
///
/// # Errors
/// [`LoadgenError::Timeout`] when the room does not settle within `timeout`,
/// [`LoadgenError::Connection`] when the server closes a member meanwhile.
pub(crate) async fn settle(
    conns: &mut [Ws],
    plan: &Arc<Plan>,
    shared: &Arc<Shared>,
    codec: &PayloadCodec,
    clock: &Clock,
    timeout: Duration,
) -> Result<(), LoadgenError> {
    let deadline = clock.now_ns() + duration_ns(timeout);
    let mut callers = vec![None; plan.room_size.len()];
    for (i, &r) in plan.room_of.iter().enumerate() {
        callers[r].get_or_insert(i);
    }
    let mut drivers: Vec<Hello> = (0..conns.len())
        .map(|i| {
            let room = plan.room_of[i];
            Hello {
                room,
                caller: callers[room] == Some(i),
                plan: Arc::clone(plan),
                shared: Arc::clone(shared),
                codec: codec.clone(),
                heard: false,
                id: i as u32,
                next_hello: 0,
            }
        })
        .collect();
    // Every member is driven from this one task: unconstrained, or past the
    // first 128 reads of a poll every member would be polled in vain (see
    // the hold in `connect`), which makes a room of thousands settle slowly.
    let ends = tokio::task::coop::unconstrained(futures_util::future::join_all(
        conns
            .iter_mut()
            .zip(drivers.iter_mut())
            .map(|(ws, d)| client::drive(ws, d, clock, deadline)),
    ))
    .await;
    for (i, end) in ends.into_iter().enumerate() {
        match end {
            End::Finished => {}
            End::Deadline => {
                let first_deaf = drivers.iter().position(|d| !d.heard).unwrap_or(i);
                return Err(LoadgenError::Timeout(format!(
                    "room did not settle within {}: {} of {} members heard a hello, member {first_deaf} did not (is the URL a room?)",
                    humantime::format_duration(timeout),
                    shared.hello_done.load(Ordering::Acquire),
                    plan.room_of.len()
                )));
            }
            End::Closed(f) => {
                return Err(LoadgenError::Connection(format!(
                    "server closed member {i} while joining: {}",
                    f.map(|f| format!("{} {}", f.code, f.reason))
                        .unwrap_or_else(|| "no close frame".into())
                )));
            }
            End::Dropped(e) => {
                return Err(LoadgenError::Connection(format!(
                    "member {i} dropped while joining: {e}"
                )));
            }
        }
    }
    Ok(())
}

/// The timeline of deliveries per second (slow scenario).
#[derive(Clone, Debug, Default)]
pub(crate) struct Timeline {
    pub buckets: Vec<(u64, u64)>,
}

impl Timeline {
    fn record(&mut self, second: usize, latency_us: u64) {
        if self.buckets.len() <= second {
            self.buckets.resize(second + 1, (0, 0));
        }
        let b = &mut self.buckets[second];
        b.0 += 1;
        b.1 = b.1.max(latency_us);
    }
    pub fn add(&mut self, other: &Self) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), (0, 0));
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            a.0 += b.0;
            a.1 = a.1.max(b.1);
        }
    }
}

/// One member's state during the measured phase.
pub(crate) struct Member {
    pub id: u32,
    room: usize,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    codec: PayloadCodec,
    verify: bool,
    phases: Phases,
    sender_index: Option<usize>,
    pub sender: Sender,
    published: bool,
    pub trackers: Vec<SeqTracker>,
    pub latency: Latencies,
    pub corrupted: u64,
    pub received_measured: u64,
    slow_delay: Option<u64>,
    pause_until: u64,
    pub timeline: Option<Timeline>,
    pings: PingRecorder,
}

/// What makes members differ.
pub(crate) struct MemberSpec {
    pub send: SendMode,
    pub slow_delay: Option<Duration>,
    pub timeline: bool,
    /// Where its read loop records the server's pings.
    pub pings: PingRecorder,
}

impl Member {
    #[allow(clippy::too_many_arguments)] // Internal constructor; a builder would only add noise.
    pub fn new(
        id: u32,
        plan: &Arc<Plan>,
        shared: &Arc<Shared>,
        codec: &PayloadCodec,
        verify: bool,
        phases: Phases,
        response_timeout: Duration,
        spec: MemberSpec,
    ) -> Self {
        Self {
            id,
            room: plan.room_of[id as usize],
            sender_index: plan.sender_index_of[id as usize],
            trackers: vec![SeqTracker::new(); plan.sender_members.len()],
            plan: Arc::clone(plan),
            shared: Arc::clone(shared),
            codec: codec.clone(),
            verify,
            phases,
            sender: Sender::new(spec.send, &phases, response_timeout),
            published: false,
            latency: Latencies::default(),
            corrupted: 0,
            received_measured: 0,
            slow_delay: spec.slow_delay.map(duration_ns),
            pause_until: 0,
            timeline: spec.timeline.then(Timeline::default),
            pings: spec.pings,
        }
    }

    /// Publish what this member sent (once), so receivers know what to expect.
    pub fn publish(&mut self) {
        if let (Some(s), false) = (self.sender_index, self.published) {
            self.shared.sent[s].store(self.sender.next_seq, Ordering::Release);
            self.shared.sent_measured[s].store(self.sender.sent_measured, Ordering::Release);
            self.shared.senders_done.fetch_add(1, Ordering::AcqRel);
            self.published = true;
        }
    }

    /// Messages the member should have received: (all, measured window). Valid once all senders published.
    pub fn expected(&self) -> (u64, u64) {
        self.plan
            .senders_in_room(self.room)
            .fold((0, 0), |(a, b), s| {
                (
                    a + self.shared.sent[s].load(Ordering::Acquire),
                    b + self.shared.sent_measured[s].load(Ordering::Acquire),
                )
            })
    }

    /// Distinct messages received, all windows.
    pub fn received(&self) -> u64 {
        self.plan
            .senders_in_room(self.room)
            .map(|s| self.trackers[s].received())
            .sum()
    }

    /// Add this member's counters. With `tail_is_loss` false (a slow member the
    /// server may legitimately drop) only gaps inside what it received count as lost.
    pub fn add_integrity(&self, i: &mut Integrity, tail_is_loss: bool) {
        for s in self.plan.senders_in_room(self.room) {
            let t = &self.trackers[s];
            i.lost += if tail_is_loss {
                t.lost(self.shared.sent[s].load(Ordering::Acquire))
            } else {
                t.missing_interior()
            };
            i.duplicated += t.duplicated();
            i.reordered += t.reordered();
        }
        i.corrupted += self.corrupted;
    }

    /// Did this member hear all of its own messages?
    pub fn heard_self(&self) -> bool {
        match self.sender_index {
            Some(s) => self.trackers[s].received() >= self.sender.next_seq,
            None => true,
        }
    }
}

impl Driver for Member {
    fn next_send(&mut self, now: u64) -> Option<Message> {
        let acked = self.sender_index.map(|s| &mut self.trackers[s]);
        let (seq, sent_ns) = self.sender.take(now, &self.phases, acked)?;
        Some(self.codec.encode(Kind::Data, self.id, seq, sent_ns))
    }

    fn on_message(&mut self, msg: Message, now: u64) {
        if let Some(d) = self.slow_delay {
            self.pause_until = next_read_at(self.pause_until, now, d);
        }
        let h = match payload::decode(&msg, self.codec.encoding(), self.verify) {
            Ok(h) if h.len as usize == self.codec.size() => h,
            _ => {
                self.corrupted += 1;
                return;
            }
        };
        if h.kind == Kind::Hello {
            return;
        }
        let s = match self
            .plan
            .sender_index_of
            .get(h.sender as usize)
            .copied()
            .flatten()
        {
            Some(s) if self.plan.room_of[h.sender as usize] == self.room => s,
            // A sender that is not in this room, or not a sender at all.
            _ => {
                self.corrupted += 1;
                return;
            }
        };
        if Some(s) == self.sender_index {
            self.sender.progressed(now);
        }
        if self.trackers[s].observe(h.seq) == SeqEvent::Duplicate {
            return;
        }
        if self.phases.measured(h.sent_ns) {
            self.received_measured += 1;
            let lat = now.saturating_sub(h.sent_ns);
            self.latency.record_ns(lat);
            if let Some(tl) = &mut self.timeline {
                let second = ((h.sent_ns - self.phases.warmup_end) / 1_000_000_000) as usize;
                tl.record(second, lat / 1_000);
            }
        }
    }

    fn wake_at(&self, now: u64) -> Option<u64> {
        if now >= self.phases.end {
            return Some(now + duration_ns(self.plan.poll_shared()));
        }
        let acked = self.sender_index.map(|s| &self.trackers[s]);
        self.sender.wake_at(&self.phases, acked)
    }

    fn paced(&self, now: u64) -> bool {
        now < self.phases.end && self.sender.paced()
    }

    fn read_paused_until(&self) -> Option<u64> {
        self.slow_delay.map(|_| self.pause_until)
    }

    fn finished(&mut self, now: u64) -> bool {
        if now < self.phases.end {
            return false;
        }
        if self.sender.schedule_pending() {
            return false;
        }
        self.publish();
        if self.shared.senders_done.load(Ordering::Acquire) < self.plan.sender_members.len() {
            return false;
        }
        self.plan.senders_in_room(self.room).all(|s| {
            self.trackers[s].next_expected() >= self.shared.sent[s].load(Ordering::Acquire)
        })
    }

    fn pings(&mut self) -> Option<&mut PingRecorder> {
        Some(&mut self.pings)
    }
}

/// When a slow member may read its next message, having read one at `now`
/// when it was allowed to from `allowed`: one message per `interval` on
/// average. Counting from the slot rather than from `now` keeps the timer's
/// lateness (up to a millisecond a sleep) from adding up, so a member asked
/// to read at 400 messages/s does, not at 300; a member that found nothing
/// to read for a while gains one message of credit, no more.
pub(crate) fn next_read_at(allowed: u64, now: u64, interval: u64) -> u64 {
    allowed.max(now.saturating_sub(interval)) + interval
}

/// Sum of several members' measurements.
#[derive(Debug)]
pub(crate) struct Group {
    pub members: usize,
    pub latency: Histogram<u64>,
    pub lag: Histogram<u64>,
    pub integrity: Integrity,
    pub deliveries: u64,
    /// Every delivery since the room settled, warm-up and drain included.
    pub received_total: u64,
    pub expected_measured: u64,
    pub worst_fraction: f64,
    pub fraction_sum: f64,
    pub not_hearing_self: u64,
    pub scheduled: u64,
    pub sent_total: u64,
    pub sent_measured: u64,
    pub timeline: Timeline,
    pub errors: Vec<String>,
}

impl Group {
    pub fn new() -> Self {
        Self {
            members: 0,
            latency: new_histogram(),
            lag: new_histogram(),
            integrity: Integrity::default(),
            deliveries: 0,
            received_total: 0,
            expected_measured: 0,
            worst_fraction: 1.0,
            fraction_sum: 0.0,
            not_hearing_self: 0,
            scheduled: 0,
            sent_total: 0,
            sent_measured: 0,
            timeline: Timeline::default(),
            errors: Vec::new(),
        }
    }

    /// Add a member once all senders have published.
    pub fn add(&mut self, m: &Member, end: &End, tail_is_loss: bool) -> Result<(), LoadgenError> {
        self.members += 1;
        common::push_error(
            &mut self.errors,
            common::tally_end(end, &mut self.integrity),
        );
        m.add_integrity(&mut self.integrity, tail_is_loss);
        m.latency.merge_into(&mut self.latency)?;
        merge_into(&mut self.lag, &m.sender.lag)?;
        self.deliveries += m.received_measured;
        self.received_total += m.received();
        let (all, measured) = m.expected();
        self.expected_measured += measured;
        let frac = if all == 0 {
            1.0
        } else {
            m.received() as f64 / all as f64
        };
        self.worst_fraction = self.worst_fraction.min(frac);
        self.fraction_sum += frac;
        if !m.heard_self() {
            self.not_hearing_self += 1;
        }
        self.sent_total += m.sender.next_seq;
        self.sent_measured += m.sender.sent_measured;
        self.scheduled += m.sender.scheduled_by(m.phases.end);
        if let Some(t) = &m.timeline {
            self.timeline.add(t);
        }
        Ok(())
    }

    pub fn undelivered(&self) -> u64 {
        self.expected_measured.saturating_sub(self.deliveries)
    }

    /// How the group's senders kept their schedule, judged against its
    /// delivered latency p50.
    pub fn schedule_kept(&self) -> ScheduleKept<'_> {
        ScheduleKept {
            scheduled: self.scheduled,
            sent: self.sent_total,
            lag: &self.lag,
            latency_p50_us: self.latency.value_at_quantile(0.5),
        }
    }
}

/// The result of a room run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `"room"`.
    pub scenario: &'static str,
    /// Integrity counters (top level in JSON).
    #[serde(flatten)]
    pub integrity: Integrity,
    /// `"closed"` or `"open"`.
    pub mode: &'static str,
    /// The configuration.
    pub config: Config,
    /// Members that sent.
    pub senders: usize,
    /// Measured seconds.
    pub duration_s: f64,
    /// Messages sent in the measured window.
    pub sent: u64,
    /// Deliveries (message × receiver) of messages sent in the measured window.
    pub deliveries: u64,
    /// Deliveries that should have happened.
    pub expected_deliveries: u64,
    /// `deliveries / duration_s`.
    pub deliveries_per_s: f64,
    /// Every delivery the members received after the room settled, warm-up
    /// and drain included: the span of the generator's `cpu_seconds`, so
    /// the two give its CPU per delivery.
    pub deliveries_total: u64,
    /// Fan-out latency: send time to each delivery.
    pub latency: LatencyReport,
    /// Lowest per-member share of expected messages received.
    pub delivered_fraction_worst: f64,
    /// Mean per-member share.
    pub delivered_fraction_mean: f64,
    /// Senders that did not hear all of their own messages.
    pub members_not_hearing_self: u64,
    /// Generator, server, errors, histograms (top level in JSON).
    #[serde(flatten)]
    pub outcome: RunOutcome,
}

impl crate::report::Report for Report {
    fn table(&self) -> String {
        let mut t = Table::new(&format!(
            "room: {} members in {} room(s), {} sending, {} B {:?}, {} loop, {:.1}s measured",
            self.config.conns,
            self.config.rooms,
            self.senders,
            self.config.load.size,
            self.config.load.encoding,
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
        )
        .row(
            "deliveries",
            format!(
                "{} of {} ({})",
                self.deliveries,
                self.expected_deliveries,
                fmt_rate(self.deliveries_per_s)
            ),
        )
        .latency(&[
            ("fan-out (delivered)", &self.latency.delivered),
            ("with undelivered at drain", &self.latency.with_undelivered),
        ])
        .row(
            "delivered fraction",
            format!(
                "worst {:.4}, mean {:.4}",
                self.delivered_fraction_worst, self.delivered_fraction_mean
            ),
        )
        .row("senders not hearing self", self.members_not_hearing_self)
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

/// What every member task of one run shares: the settled room, the load and
/// the phases.
pub(crate) struct MemberRun {
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    codec: PayloadCodec,
    load: MessageLoad,
    /// Members that send, each at its share of the rate.
    senders: usize,
    pub clock: Clock,
    pub phases: Phases,
}

/// A member task's result: the member, how it ended, when (seconds after
/// the start of the run) and its socket, still open for a polite close.
pub(crate) type MemberDone = (Member, End, f64, Ws);

impl MemberRun {
    /// Spreads `conns` over `rooms`, makes the first `senders` of them
    /// senders, waits until every room has settled (within `join_timeout`),
    /// and starts the phases.
    ///
    /// # Errors
    /// A member that cannot join in time, or drops while joining.
    pub async fn settle(
        conns: &mut [Ws],
        rooms: usize,
        senders: usize,
        codec: &PayloadCodec,
        load: &MessageLoad,
        join_timeout: Duration,
    ) -> Result<Self, LoadgenError> {
        let sender_ids: Vec<u32> = (0..senders as u32).collect();
        let plan = Arc::new(Plan::new(conns.len(), rooms, &sender_ids));
        let shared = Arc::new(Shared::new(senders));
        let clock = Clock::new();
        settle(conns, &plan, &shared, codec, &clock, join_timeout).await?;
        Ok(Self {
            plan,
            shared,
            codec: codec.clone(),
            load: load.clone(),
            senders,
            clock,
            phases: Phases::starting_now(&clock, load.warmup, load.duration, load.drain_timeout),
        })
    }

    /// The run's clock and the start of its phases on it.
    pub fn clock_and_start(&self) -> (Clock, u64) {
        (self.clock, self.phases.start)
    }

    /// Drives member `i` on `ws` in a task of its own until the deadline; it
    /// sends if the plan makes it a sender, reads with `slow_delay` per
    /// message, keeps a per-second timeline when asked, and records the
    /// pings of the measured window in `pings`.
    pub fn spawn(
        &self,
        i: usize,
        mut ws: Ws,
        slow_delay: Option<Duration>,
        timeline: bool,
        pings: &PingTally,
    ) -> tokio::task::JoinHandle<MemberDone> {
        let send = match self.plan.sender_index_of[i] {
            Some(rank) => SendMode::for_sender(
                self.load.rate,
                self.load.inflight,
                rank,
                self.senders,
                &self.phases,
            ),
            None => SendMode::Silent,
        };
        let spec = MemberSpec {
            send,
            slow_delay,
            timeline,
            pings: pings.recorder(self.phases.warmup_end, self.phases.end),
        };
        let mut m = Member::new(
            i as u32,
            &self.plan,
            &self.shared,
            &self.codec,
            self.load.verify,
            self.phases,
            self.load.response_timeout,
            spec,
        );
        let (clock, p) = (self.clock, self.phases);
        tokio::spawn(async move {
            let end = client::drive(&mut ws, &mut m, &clock, p.deadline).await;
            let at = clock.now_ns().saturating_sub(p.start) as f64 / 1e9;
            // A member that ended early (closed, dropped) still counts as a sender that is done.
            m.publish();
            (m, end, at, ws)
        })
    }
}

/// Waits for every member task.
pub(crate) async fn join_members(
    handles: Vec<tokio::task::JoinHandle<MemberDone>>,
) -> Result<Vec<MemberDone>, LoadgenError> {
    let mut results = Vec::with_capacity(handles.len());
    for h in handles {
        results.push(
            h.await
                .map_err(|e| LoadgenError::Connection(format!("member task failed: {e}")))?,
        );
    }
    Ok(results)
}

/// Closes politely the members that ended by finishing or by the deadline
/// (the others were closed or dropped by the server).
pub(crate) async fn close_members(results: &mut [MemberDone]) {
    let closes = results.iter_mut().map(|(_, end, _, ws)| async move {
        if matches!(end, End::Finished | End::Deadline) {
            client::close(ws, common::CLOSE_BOUND).await;
        }
    });
    futures_util::future::join_all(closes).await;
}

/// Run the room scenario; the heartbeat is that of every member in the
/// measured window.
///
/// # Errors
/// Configuration, URL, connection-setup and join errors. Problems after the
/// room settled are counted in the report instead.
pub async fn run(config: Config) -> Result<WithHeartbeat<Report>, LoadgenError> {
    config.validate()?;
    let codec = PayloadCodec::new(config.load.encoding, config.load.size)?;
    let base = Target::resolve(&config.url).await?;
    let targets: Vec<Target> = room_urls(&config.url, config.rooms)?
        .into_iter()
        .map(|u| base.with_url(u))
        .collect();
    let n = config.conns;
    let senders = config.senders.unwrap_or(n);
    let mut sampler = config.server_pid.map(ServerSampler::start).transpose()?;
    let opts = ConnectOptions {
        timeout: config.load.connect_timeout,
        ..ConnectOptions::default()
    };
    let mut conns = common::connect_all(&targets, n, |_| opts).await?;
    let run = MemberRun::settle(
        &mut conns,
        config.rooms,
        senders,
        &codec,
        &config.load,
        config.join_timeout,
    )
    .await?;
    if let Some(s) = &mut sampler {
        // The server's CPU for the messages sent in the measured window: a
        // broadcast still being delivered when the window opens is in it,
        // one still being delivered when it closes is not, about the same.
        s.measure_window(
            run.clock.instant_at(run.phases.warmup_end),
            run.clock.instant_at(run.phases.end),
        );
    }
    let cpu = OwnCpu::start();
    let pings = PingTally::new(config.load.ping_interval);
    let handles = (0..n)
        .zip(conns)
        .map(|(i, ws)| run.spawn(i, ws, None, false, &pings))
        .collect();
    let mut results = join_members(handles).await?;
    let cpu_used = cpu.elapsed();
    close_members(&mut results).await;

    let mut g = Group::new();
    for (m, end, _, _) in &results {
        g.add(m, end, true)?;
    }
    let server = match sampler {
        Some(s) => Some(s.finish(n).await),
        None => None,
    };
    let (latency, with_undelivered) = LatencyReport::build(
        &g.latency,
        g.undelivered(),
        duration_ns(config.load.drain_timeout),
    );
    let generator = GeneratorReport::judge(cpu_used, config.load.rate.map(|_| g.schedule_kept()));
    let duration_s = config.load.duration.as_secs_f64();
    let mut histograms = Vec::from(NamedHistogram::latency_pair(
        "",
        g.latency.clone(),
        with_undelivered,
    ));
    if config.load.rate.is_some() {
        histograms.push(NamedHistogram::new("schedule_lag", g.lag.clone()));
    }
    let heartbeat = pings.report_into("heartbeat_intervals", &mut histograms);
    let report = Report {
        scenario: "room",
        integrity: g.integrity.clone(),
        mode: config.load.mode(),
        senders,
        duration_s,
        sent: g.sent_measured,
        deliveries: g.deliveries,
        expected_deliveries: g.expected_measured,
        deliveries_per_s: g.deliveries as f64 / duration_s,
        deliveries_total: g.received_total,
        latency,
        delivered_fraction_worst: g.worst_fraction,
        delivered_fraction_mean: g.fraction_sum / g.members.max(1) as f64,
        members_not_hearing_self: g.not_hearing_self,
        outcome: RunOutcome {
            generator,
            server,
            errors: Some(g.errors.clone()),
            histograms,
        },
        config,
    };
    Ok(WithHeartbeat::new(report, heartbeat))
}

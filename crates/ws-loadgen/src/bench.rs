//! Primitives for Criterion's `iter_custom`: connections are set up outside
//! the timed part, each call times only its own traffic and returns that
//! `Duration`, and every message is verified (order, no gap, no duplicate,
//! payload bytes): any failure is an error, never a silently fast number.
//!
//! Every call is bounded by a timeout (default 10 s, `with_timeout`), so a
//! server that stalls makes the bench fail instead of hang.
//!
//! All connections of one value are driven from the calling task (one
//! future per connection, joined), so the client side uses one core however
//! many worker threads the runtime has: pin it next to the server's core.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ws_loadgen::LoadgenError> {
//! use ws_loadgen::bench::EchoClients;
//! let mut clients = EchoClients::connect("ws://127.0.0.1:3000/ws/echo", 16).await?;
//! let took = clients.round_trips(100, 64).await?; // 16 × 100 echoes, verified
//! # let _ = took; Ok(()) }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Message;

use crate::LoadgenError;
use crate::client::{self, ConnectOptions, Driver, End, Target, Ws};
use crate::common;
use crate::payload::{self, Encoding, Kind, PayloadCodec};
use crate::room::{self, Plan, Shared};
use crate::stats::{Clock, SeqEvent, SeqTracker, duration_ns};

/// Messages a connection (or a sender) may have outstanding in a batch. Large
/// enough to pipeline, small enough not to overrun a server's bounded queue.
pub const WINDOW: u64 = 64;
/// Default bound on one timed call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on joining a room and letting it settle: generous enough for 1,000 members.
pub const DEFAULT_JOIN_TIMEOUT: Duration = room::DEFAULT_JOIN_TIMEOUT;

/// Drive one batch on every connection; time it; turn any failure into an error.
async fn run_batch<D: Driver + Failing>(
    conns: &mut [Ws],
    drivers: &mut [D],
    clock: &Clock,
    timeout: Duration,
) -> Result<Duration, LoadgenError> {
    let start = Instant::now();
    let deadline = clock.now_ns() + duration_ns(timeout);
    let ends = futures_util::future::join_all(
        conns
            .iter_mut()
            .zip(drivers.iter_mut())
            .map(|(ws, d)| client::drive(ws, d, clock, deadline)),
    )
    .await;
    let elapsed = start.elapsed();
    // Report the cause, not its symptom: a closed or failing connection makes
    // the others time out waiting for its messages, so look at those first.
    let mut order: Vec<usize> = (0..ends.len()).collect();
    order.sort_by_key(|&i| matches!(ends[i], End::Deadline) && drivers[i].failure().is_none());
    for i in order {
        let (end, d) = (&ends[i], &drivers[i]);
        if let Some(e) = d.failure() {
            return Err(LoadgenError::Integrity(format!("connection {i}: {e}")));
        }
        match end {
            End::Finished => {}
            End::Deadline => {
                return Err(LoadgenError::Timeout(format!(
                    "connection {i} incomplete after {}: {}",
                    humantime::format_duration(timeout),
                    d.progress()
                )));
            }
            End::Closed(f) => {
                return Err(LoadgenError::Connection(format!(
                    "server closed connection {i}: code {}",
                    common::close_code(f.as_ref())
                )));
            }
            End::Dropped(e) => {
                return Err(LoadgenError::Connection(format!("connection {i}: {e}")));
            }
        }
    }
    Ok(elapsed)
}

/// Drivers that can fail a batch and describe their progress.
trait Failing {
    fn failure(&self) -> Option<&str>;
    fn progress(&self) -> String;
}

/// How a bench primitive sends and checks its batches.
#[derive(Clone, Copy, Debug)]
pub struct BatchOptions {
    /// Binary (default) or Text frames.
    pub encoding: Encoding,
    /// Check every body byte (default) or headers only.
    pub verify: bool,
    /// Bound on one timed call.
    pub timeout: Duration,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            encoding: Encoding::Binary,
            verify: true,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Echo connections for round-trip benches.
pub struct EchoClients {
    conns: Vec<Ws>,
    seq: Vec<u64>,
    trackers: Vec<SeqTracker>,
    clock: Clock,
    options: BatchOptions,
}

impl EchoClients {
    /// Open `conns` connections to an echo URL.
    ///
    /// # Errors
    /// URL and connection errors.
    pub async fn connect(url: &str, conns: usize) -> Result<Self, LoadgenError> {
        if conns == 0 {
            return Err(LoadgenError::Config("at least one connection".into()));
        }
        let target = Target::resolve(url).await?;
        let conns = common::connect_all(std::slice::from_ref(&target), conns, |_| {
            ConnectOptions::default()
        })
        .await?;
        let n = conns.len();
        Ok(Self {
            conns,
            seq: vec![0; n],
            trackers: vec![SeqTracker::new(); n],
            clock: Clock::new(),
            options: BatchOptions::default(),
        })
    }

    /// How batches are sent and checked.
    #[must_use]
    pub fn with_options(mut self, options: BatchOptions) -> Self {
        self.options = options;
        self
    }

    /// Bound on one timed call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Every connection sends `messages_per_conn` messages of `payload_size`
    /// bytes, pipelined [`WINDOW`] deep, and waits for all echoes, verified.
    ///
    /// # Errors
    /// Payload size errors; [`LoadgenError::Integrity`] on a bad, missing,
    /// duplicated or reordered echo; timeout and connection errors.
    pub async fn round_trips(
        &mut self,
        messages_per_conn: u64,
        payload_size: usize,
    ) -> Result<Duration, LoadgenError> {
        self.round_trips_with_window(messages_per_conn, payload_size, WINDOW)
            .await
    }

    /// Like [`EchoClients::round_trips`], with at most `window` messages in
    /// flight per connection: `1` is plain round trips (send, wait for the
    /// echo, send the next), larger windows pipeline.
    ///
    /// # Errors
    /// [`LoadgenError::Config`] for a `window` of 0; otherwise as
    /// [`EchoClients::round_trips`].
    pub async fn round_trips_with_window(
        &mut self,
        messages_per_conn: u64,
        payload_size: usize,
        window: u64,
    ) -> Result<Duration, LoadgenError> {
        if window == 0 {
            return Err(LoadgenError::Config("window must be at least 1".into()));
        }
        let codec = PayloadCodec::new(self.options.encoding, payload_size)?;
        let mut drivers: Vec<EchoBatch<'_>> = self
            .seq
            .iter_mut()
            .zip(self.trackers.iter_mut())
            .enumerate()
            .map(|(i, (seq, tracker))| EchoBatch {
                id: i as u32,
                codec: codec.clone(),
                verify: self.options.verify,
                target: *seq + messages_per_conn,
                window,
                seq,
                tracker,
                failure: None,
            })
            .collect();
        run_batch(
            &mut self.conns,
            &mut drivers,
            &self.clock,
            self.options.timeout,
        )
        .await
    }

    /// Close every connection politely.
    pub async fn close(mut self) {
        futures_util::future::join_all(
            self.conns
                .iter_mut()
                .map(|ws| client::close(ws, common::CLOSE_BOUND)),
        )
        .await;
    }
}

struct EchoBatch<'a> {
    id: u32,
    codec: PayloadCodec,
    verify: bool,
    seq: &'a mut u64,
    target: u64,
    window: u64,
    tracker: &'a mut SeqTracker,
    failure: Option<String>,
}

impl Driver for EchoBatch<'_> {
    fn next_send(&mut self, now: u64) -> Option<Message> {
        if self.failure.is_some()
            || *self.seq >= self.target
            || *self.seq - self.tracker.next_expected() >= self.window
        {
            return None;
        }
        let m = self.codec.encode(Kind::Data, self.id, *self.seq, now);
        *self.seq += 1;
        Some(m)
    }
    fn on_message(&mut self, msg: Message, _now: u64) {
        match payload::decode(&msg, self.codec.encoding(), self.verify) {
            Ok(h) if h.sender == self.id && h.kind == Kind::Data => {
                match self.tracker.observe(h.seq) {
                    SeqEvent::InOrder => {}
                    e => self.failure = Some(format!("echo of seq {} out of order: {e:?}", h.seq)),
                }
            }
            Ok(h) => self.failure = Some(format!("echo from another sender ({})", h.sender)),
            Err(e) => self.failure = Some(format!("corrupted echo: {e}")),
        }
    }
    fn wake_at(&self, _now: u64) -> Option<u64> {
        None
    }
    fn finished(&mut self, _now: u64) -> bool {
        self.failure.is_some() || self.tracker.next_expected() >= self.target
    }
}

impl Failing for EchoBatch<'_> {
    fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
    fn progress(&self) -> String {
        format!(
            "{} of {} echoes back",
            self.tracker.next_expected(),
            self.target
        )
    }
}

/// Members of one room for fan-out benches.
pub struct RoomClients {
    conns: Vec<Ws>,
    seq: Vec<u64>,
    /// `trackers[receiver][sender]`, grown on demand.
    trackers: Vec<Vec<SeqTracker>>,
    clock: Clock,
    options: BatchOptions,
}

impl RoomClients {
    /// Join `members` members to the room at `url` and wait until the room has settled
    /// (every member has heard a hello; see [`crate::room`]), for at most
    /// [`DEFAULT_JOIN_TIMEOUT`].
    ///
    /// # Errors
    /// URL, connection and join errors.
    pub async fn join(url: &str, members: usize) -> Result<Self, LoadgenError> {
        Self::join_within(url, members, DEFAULT_JOIN_TIMEOUT).await
    }

    /// Like [`RoomClients::join`], with a bound on the join-and-settle phase.
    ///
    /// # Errors
    /// URL, connection and join errors ([`LoadgenError::Timeout`] after `join_timeout`).
    pub async fn join_within(
        url: &str,
        members: usize,
        join_timeout: Duration,
    ) -> Result<Self, LoadgenError> {
        Self::join_with(url, members, &[], join_timeout).await
    }

    async fn join_with(
        url: &str,
        members: usize,
        small_rcvbuf: &[usize],
        join_timeout: Duration,
    ) -> Result<Self, LoadgenError> {
        if members == 0 {
            return Err(LoadgenError::Config("at least one member".into()));
        }
        let target = Target::resolve(url).await?;
        let mut conns =
            common::connect_all(std::slice::from_ref(&target), members, |i| ConnectOptions {
                recv_buffer: small_rcvbuf.contains(&i).then_some(STALLED_RCVBUF),
                ..ConnectOptions::default()
            })
            .await?;
        let clock = Clock::new();
        let ids: Vec<u32> = (0..members as u32).collect();
        let plan = Arc::new(Plan::new(members, 1, &ids));
        let shared = Arc::new(Shared::new(members));
        let codec = PayloadCodec::new(Encoding::Binary, payload::HEADER_LEN_BINARY)?;
        room::settle(&mut conns, &plan, &shared, &codec, &clock, join_timeout).await?;
        Ok(Self {
            seq: vec![0; members],
            trackers: vec![Vec::new(); members],
            conns,
            clock,
            options: BatchOptions::default(),
        })
    }

    /// How batches are sent and checked.
    #[must_use]
    pub fn with_options(mut self, options: BatchOptions) -> Self {
        self.options = options;
        self
    }

    /// Bound on one timed call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Member 0 sends one message; the time until every member has it.
    ///
    /// # Errors
    /// As [`RoomClients::contention`].
    pub async fn broadcast_one(&mut self, payload_size: usize) -> Result<Duration, LoadgenError> {
        self.contention(1, 1, payload_size).await
    }

    /// Members `0..senders` each send `msgs_each` messages at once (pipelined
    /// [`WINDOW`] deep per sender); the time until every member has every
    /// message, each sender's in order.
    ///
    /// # Errors
    /// Payload size and configuration errors; [`LoadgenError::Integrity`] on
    /// a corrupted, missing, duplicated or reordered delivery; timeout and
    /// connection errors.
    pub async fn contention(
        &mut self,
        senders: usize,
        msgs_each: u64,
        payload_size: usize,
    ) -> Result<Duration, LoadgenError> {
        self.batch(senders, msgs_each, payload_size, self.conns.len())
            .await
    }

    /// Run a batch where the first `receivers` members are driven (the rest are left alone).
    async fn batch(
        &mut self,
        senders: usize,
        msgs_each: u64,
        payload_size: usize,
        receivers: usize,
    ) -> Result<Duration, LoadgenError> {
        if senders == 0 || senders > receivers {
            return Err(LoadgenError::Config(format!(
                "senders must be 1..={receivers}, got {senders}"
            )));
        }
        let codec = PayloadCodec::new(self.options.encoding, payload_size)?;
        let targets: Vec<u64> = self.seq[..senders].iter().map(|s| s + msgs_each).collect();
        for t in &mut self.trackers[..receivers] {
            if t.len() < senders {
                t.resize(senders, SeqTracker::new());
            }
        }
        let mut drivers: Vec<RoomBatch<'_>> = self.seq[..receivers]
            .iter_mut()
            .zip(self.trackers[..receivers].iter_mut())
            .enumerate()
            .map(|(i, (seq, trackers))| RoomBatch {
                id: i as u32,
                codec: codec.clone(),
                verify: self.options.verify,
                own_target: if i < senders { targets[i] } else { *seq },
                seq,
                trackers,
                targets: &targets,
                failure: None,
            })
            .collect();
        run_batch(
            &mut self.conns[..receivers],
            &mut drivers,
            &self.clock,
            self.options.timeout,
        )
        .await
    }

    /// Close every member politely.
    pub async fn close(mut self) {
        futures_util::future::join_all(
            self.conns
                .iter_mut()
                .map(|ws| client::close(ws, common::CLOSE_BOUND)),
        )
        .await;
    }
}

struct RoomBatch<'a> {
    id: u32,
    codec: PayloadCodec,
    verify: bool,
    seq: &'a mut u64,
    own_target: u64,
    trackers: &'a mut Vec<SeqTracker>,
    targets: &'a [u64],
    failure: Option<String>,
}

impl Driver for RoomBatch<'_> {
    fn next_send(&mut self, now: u64) -> Option<Message> {
        if self.failure.is_some() || *self.seq >= self.own_target {
            return None;
        }
        let heard = self
            .trackers
            .get(self.id as usize)
            .map_or(0, SeqTracker::next_expected);
        if *self.seq - heard >= WINDOW {
            return None;
        }
        let m = self.codec.encode(Kind::Data, self.id, *self.seq, now);
        *self.seq += 1;
        Some(m)
    }
    fn on_message(&mut self, msg: Message, _now: u64) {
        match payload::decode(&msg, self.codec.encoding(), self.verify) {
            Ok(h) if h.kind == Kind::Hello => {}
            Ok(h) => match self.trackers.get_mut(h.sender as usize) {
                Some(t) => match t.observe(h.seq) {
                    SeqEvent::InOrder => {}
                    e => {
                        self.failure =
                            Some(format!("message {} of sender {}: {e:?}", h.seq, h.sender))
                    }
                },
                None => self.failure = Some(format!("message from unexpected sender {}", h.sender)),
            },
            Err(e) => self.failure = Some(format!("corrupted delivery: {e}")),
        }
    }
    fn wake_at(&self, _now: u64) -> Option<u64> {
        None
    }
    fn finished(&mut self, _now: u64) -> bool {
        self.failure.is_some()
            || (*self.seq >= self.own_target
                && self.targets.iter().enumerate().all(|(s, &t)| {
                    self.trackers
                        .get(s)
                        .is_some_and(|tr| tr.next_expected() >= t)
                }))
    }
}

impl Failing for RoomBatch<'_> {
    fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
    fn progress(&self) -> String {
        let got: u64 = self.trackers.iter().map(SeqTracker::next_expected).sum();
        let want: u64 = self.targets.iter().sum();
        format!("member {} has {got} of {want} messages", self.id)
    }
}

/// `SO_RCVBUF` of stalled members: small, so kernel buffers fill after a few messages.
pub const STALLED_RCVBUF: u32 = 4096;

/// A room with healthy members and members that never read.
///
/// The first member sends; the healthy members are timed. Stalled members
/// join (and read while joining), then never read again: the server's buffers
/// towards them fill, and the server's slow-consumer policy decides what
/// happens to everyone else. After the server disconnects the stalled members
/// (a send timeout or a full queue), later batches no longer feel them: the
/// first timed batch is the one that pays.
pub struct SlowRoom {
    room: RoomClients,
    healthy: usize,
}

/// The outcome of [`SlowRoom::healthy_batch_outcome`].
#[derive(Clone, Debug)]
pub struct BatchOutcome {
    /// Time until every healthy member had every message, or until the timeout.
    pub elapsed: Duration,
    /// Deliveries to healthy members.
    pub delivered: u64,
    /// Deliveries that should have happened.
    pub expected: u64,
    /// `delivered == expected`.
    pub complete: bool,
}

impl SlowRoom {
    /// Join `members` healthy members plus `stalled` stalled ones to the room at `url`,
    /// settling within [`DEFAULT_JOIN_TIMEOUT`].
    ///
    /// # Errors
    /// URL, connection and join errors.
    pub async fn join(url: &str, members: usize, stalled: usize) -> Result<Self, LoadgenError> {
        Self::join_within(url, members, stalled, DEFAULT_JOIN_TIMEOUT).await
    }

    /// Like [`SlowRoom::join`], with a bound on the join-and-settle phase.
    ///
    /// # Errors
    /// URL, connection and join errors ([`LoadgenError::Timeout`] after `join_timeout`).
    pub async fn join_within(
        url: &str,
        members: usize,
        stalled: usize,
        join_timeout: Duration,
    ) -> Result<Self, LoadgenError> {
        if members == 0 {
            return Err(LoadgenError::Config("at least one healthy member".into()));
        }
        let stalled_ids: Vec<usize> = (members..members + stalled).collect();
        let room =
            RoomClients::join_with(url, members + stalled, &stalled_ids, join_timeout).await?;
        Ok(Self {
            room,
            healthy: members,
        })
    }

    /// Bound on one timed call (default 10 s; make it longer than the server's send timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.room.options.timeout = timeout;
        self
    }

    /// Member 0 sends `msgs` messages; the time until every healthy member has all of them.
    ///
    /// # Errors
    /// [`LoadgenError::Timeout`] when delivery is still partial at the timeout
    /// (use [`SlowRoom::healthy_batch_outcome`] to get the partial figures instead),
    /// and the errors of [`RoomClients::contention`].
    pub async fn healthy_batch(
        &mut self,
        msgs: u64,
        payload_size: usize,
    ) -> Result<Duration, LoadgenError> {
        self.room.batch(1, msgs, payload_size, self.healthy).await
    }

    /// Like [`SlowRoom::healthy_batch`], but partial delivery at the timeout is a result, not an error.
    ///
    /// # Errors
    /// Integrity, payload and connection errors.
    pub async fn healthy_batch_outcome(
        &mut self,
        msgs: u64,
        payload_size: usize,
    ) -> Result<BatchOutcome, LoadgenError> {
        let before: u64 = self.room.trackers[..self.healthy]
            .iter()
            .map(|t| t.first().map_or(0, SeqTracker::next_expected))
            .sum();
        let start = self.room.seq[0];
        match self.room.batch(1, msgs, payload_size, self.healthy).await {
            Ok(elapsed) => {
                let n = msgs * self.healthy as u64;
                Ok(BatchOutcome {
                    elapsed,
                    delivered: n,
                    expected: n,
                    complete: true,
                })
            }
            Err(LoadgenError::Timeout(_)) => {
                let after: u64 = self.room.trackers[..self.healthy]
                    .iter()
                    .map(|t| t.first().map_or(0, SeqTracker::next_expected))
                    .sum();
                let expected = (self.room.seq[0] - start) * self.healthy as u64;
                Ok(BatchOutcome {
                    elapsed: self.room.options.timeout,
                    delivered: after.saturating_sub(before),
                    expected,
                    complete: false,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Close every member politely.
    pub async fn close(self) {
        self.room.close().await;
    }
}

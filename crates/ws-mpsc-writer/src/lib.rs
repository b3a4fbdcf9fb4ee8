//! The write half owned by one writer task per connection, fed by a bounded
//! `tokio::sync::mpsc` channel.
//!
//! # How it works
//! Nobody shares the sink: a task spawned for each connection owns it and
//! writes whatever arrives on a bounded channel. Every writer (the
//! connection's own reader, other members' broadcasts, the heartbeat) holds
//! a clone of the channel's `Sender`. The channel keeps each sender's
//! messages in order. The writer task takes everything queued at once (up
//! to [`BATCH`] messages) and, under `--flush batched`, `feed`s them into
//! the sink and flushes once: under load many messages leave in one `write`
//! syscall, and the queue running dry is what ends a batch, so the reader's
//! [`Burst`] hint has nothing to add. Under `--flush each` it flushes after
//! every message, as axum's chat example does.
//!
//! The queue is bounded by `--queue-bytes`, counting each message's payload
//! plus [`QUEUED_OVERHEAD`], so that the budget bounds memory for tiny
//! messages too; the channel's own capacity is set just above what that
//! budget admits, so a count of messages never decides anything.
//!
//! # Trade-offs
//! - Batching: concurrent writers' messages share flushes. See "Flush policy
//!   or strategy?" and "Contention" in `RESULTS.md`.
//! - One extra task and one channel hop per message. See "Echo throughput".
//! - A queue per connection: up to `--queue-bytes` held for a stalled member
//!   before it is dropped. See "Memory".
//! - A broadcast never waits for a member: a stalled or slow member cannot
//!   slow the room. See "Slow consumer isolation" and "Slow readers".
//! - Replies still queued when the reader reads the peer's Close are lost:
//!   tungstenite refuses to write data after that, and the reader cannot see
//!   a Close coming without reading it. A client that sends a burst and a
//!   Close in one go gets the echoes the writer had already written, in
//!   order, then the Close reply (pinned by the conformance case
//!   `close_right_after_a_burst`). The loss is counted, never silent:
//!   `ws_queued_messages_dropped_total` (that case writes 50,000 messages
//!   and a Close in one go, and checks that echoes and dropped messages
//!   add up to all of them). Waiting
//!   for the queue to empty before every read would close the gap at the
//!   price of the batching.
//!
//! # Per connection
//! Beyond what every strategy pays for a connection (the socket,
//! tungstenite's buffers, the reader and heartbeat tasks):
//! - the writer task: while it waits, its state is the sink, the receiver
//!   and an empty batch `Vec`; the batch write and the close are boxed while
//!   they run, so an idle writer does not carry the largest write's state
//!   (the test `an_idle_writer_is_small` bounds it);
//! - the channel: tokio allocates its shared state and a first block of 32
//!   slots up front; a slot is one pointer (`Queued`), not a `Message`
//!   inline, so the block is 32 pointers (the test
//!   `a_queue_slot_is_one_pointer`), for one allocation per echo;
//! - the queue's byte count and signals (`QueueState`).
//!
//! "Memory" in `RESULTS.md` has the measured RSS per idle connection, with
//! default flags and with the README's idle profile.
//!
//! # Slow consumers
//! A member is disconnected when a write to its socket makes no progress for
//! `--send-timeout` (default 5s), or when a broadcast finds more than
//! `--queue-bytes` (default 4 MiB) waiting for it: a message is never
//! silently skipped. It gets Close 1008 ("slow consumer") if its socket still
//! takes one, and leaves its room. The connection's own echo replies (and
//! the heartbeat's pings) wait for room in the queue instead: a client that
//! outpaces its own echoes is slowed down, not cut off. A burst alone does
//! not fill a queue: the reader yields every 128 deliveries, and the writer
//! writes a taken batch without spending its cooperative budget one write
//! at a time.
//!
//! # Metrics
//! Besides the shared ones, `GET /metrics` has `ws_writer_queue_depth`: how
//! many messages were queued each time a writer task woke, one observation
//! per flush. Its mean is the batching the queue buys. And
//! `ws_queued_messages_dropped_total`: messages queued for a connection and
//! dropped unwritten because it ended first (see *Trade-offs*).
//!
//! # See also
//! [tokio's "Which kind of mutex should you use?"](https://docs.rs/tokio/latest/tokio/sync/struct.Mutex.html#which-kind-of-mutex-should-you-use),
//! which recommends this design for IO resources; `ws-tokio-mutex` and
//! `ws-std-mutex` (the sink behind a lock).
//!
//! Run it with `cargo run -p ws-mpsc-writer --release -- --help`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::SinkExt;
use tokio::sync::{Notify, mpsc, oneshot};
use ws_common::prelude::*;

/// Most messages written between two flushes: enough to share syscalls under
/// load, few enough that the first of them is not held back for long.
pub const BATCH: usize = 64;

/// What a queued message costs beyond its payload (its slot in the channel,
/// the `Bytes` handle, allocator rounding), counted into `--queue-bytes` so
/// that the budget bounds memory for tiny messages too.
pub const QUEUED_OVERHEAD: usize = 64;

/// A connection's shared write half: clones queue to the same writer task.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Queued>,
    queued: Arc<QueueState>,
    context: WriterContext,
}

/// The queue's state beside the channel: what is queued, in bytes (payload
/// plus [`QUEUED_OVERHEAD`] a message), which is the queue's real bound; the
/// signal the writer gives each time it has taken messages out; and whom to
/// tell when the Close frame is written.
#[derive(Debug, Default)]
struct QueueState {
    bytes: AtomicUsize,
    taken: Notify,
    closed: std::sync::Mutex<Option<oneshot::Sender<()>>>,
}

/// What the writer task is asked to do: write a message, or for a
/// `Message::Close`, close the connection with its frame (the close request,
/// made only by [`Writer::close`]). One pointer, shared by the members of a
/// broadcast: the channel allocates a block of 32 slots for every connection
/// up front, so its slot size is per-connection memory (a `Message` inline
/// is several pointers wide); the price is one allocation per echo.
type Queued = Arc<Message>;

impl Writer {
    /// Counts `message` into the queue's byte budget: `false` when it does
    /// not fit. A message always fits into an empty queue, so the budget
    /// never refuses a message just for being large.
    fn reserve(&self, message: &Message) -> bool {
        let size = queued_size(message);
        let before = self.queued.bytes.fetch_add(size, Ordering::AcqRel);
        if before > 0 && before + size > self.context.queue_bytes() {
            self.queued.bytes.fetch_sub(size, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Queues a message that has already been counted in, or gives its bytes
    /// back when it cannot be queued.
    fn queue_now(&self, message: Queued) -> Result<(), Disconnected> {
        let size = queued_size(&message);
        self.queue.try_send(message).map_err(|err| {
            self.queued.bytes.fetch_sub(size, Ordering::AcqRel);
            // The capacity is above what the byte budget admits, so a full
            // channel cannot happen; were it to, skipping the message
            // silently is what the protocol forbids. A closed one means the
            // writer is gone and has disconnected the member already.
            if let mpsc::error::TrySendError::Full(_) = err {
                self.context.disconnect(DisconnectReason::SlowConsumer);
            }
            Disconnected
        })
    }
}

impl SharedSink for Writer {
    const NAME: &'static str = "ws-mpsc-writer";
    const STRATEGY_METRICS: StrategyMetrics = StrategyMetrics::Queue;
    // Replies still in the queue when the reader reads the peer's Close
    // cannot be written any more (see "Trade-offs").
    const REPLIES_QUEUED_AT_PEER_CLOSE_ARE_LOST: bool = true;

    fn share(sink: WsSink, context: WriterContext) -> Self {
        // One slot more than the byte budget admits messages (each counts at
        // least `QUEUED_OVERHEAD`), and one for the close request: the count
        // is never what refuses a message.
        let capacity = (context.queue_bytes() / QUEUED_OVERHEAD)
            .saturating_add(2)
            .min(tokio::sync::Semaphore::MAX_PERMITS);
        let (queue, commands) = mpsc::channel(capacity);
        let queued = Arc::new(QueueState::default());
        tokio::spawn(write_loop(
            sink,
            commands,
            Arc::clone(&queued),
            context.clone(),
        ));
        Self {
            queue,
            queued,
            context,
        }
    }

    async fn send(&self, message: Message, _burst: Burst) -> Result<(), Disconnected> {
        if self.context.is_disconnected() {
            return Err(Disconnected);
        }
        // The connection's own replies (and its pings) wait for room in the
        // queue instead of disconnecting: a client that outpaces its own
        // echoes is slowed down, and only a socket that takes nothing for
        // `--send-timeout` (the writer's bound) makes it a slow consumer.
        let room = async {
            loop {
                let taken = self.queued.taken.notified();
                if self.reserve(&message) {
                    return;
                }
                taken.await;
            }
        };
        tokio::select! {
            biased;
            () = room => {}
            () = self.context.disconnected() => return Err(Disconnected),
        }
        self.queue_now(Arc::new(message))
    }

    async fn flush(_members: &[Self]) {
        // The writer task flushes whenever its queue runs dry.
    }

    async fn broadcast(members: &[Self], message: Message, _burst: Burst) {
        // Never waits for a member: one with more than `--queue-bytes`
        // waiting is a slow consumer. A burst alone does not get there: the
        // reader yields often enough for writers that keep up.
        let message = Arc::new(message);
        for member in members {
            if member.context.is_disconnected() {
                continue;
            }
            if !member.reserve(&message) {
                member.context.disconnect(DisconnectReason::SlowConsumer);
                continue;
            }
            // A closed queue means the writer is gone, and it has
            // disconnected the member already.
            let _ = member.queue_now(Arc::clone(&message));
        }
    }

    async fn close(&self, frame: Option<CloseFrame>) {
        let (done, closed) = oneshot::channel();
        *self
            .queued
            .closed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(done);
        let request = self.queue.send(Arc::new(Message::Close(frame)));
        // The writer skips what is still queued once the connection is torn
        // down, so the request gets a slot and an answer shortly.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            if request.await.is_ok() {
                let _ = closed.await;
            }
        })
        .await;
    }
}

/// The bytes a message counts for in the queue's budget.
fn queued_size(message: &Message) -> usize {
    QUEUED_OVERHEAD
        + match message {
            Message::Text(text) => text.len(),
            Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
            Message::Close(_) => 0,
        }
}

/// A close request: the frame to send.
type CloseRequest = Option<CloseFrame>;

/// The close request `queued` is, if it is one.
fn close_request(queued: &Queued) -> Option<CloseRequest> {
    match &**queued {
        Message::Close(frame) => Some(frame.clone()),
        _ => None,
    }
}

/// The writer task: the only code that touches the sink.
async fn write_loop(
    mut sink: WsSink,
    mut commands: mpsc::Receiver<Queued>,
    queued: Arc<QueueState>,
    context: WriterContext,
) {
    // Grown on the first message, not allocated up front: an idle
    // connection does not pay for it.
    let mut batch = Vec::new();
    let close = loop {
        if commands.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        // What was queued when the writer woke: this batch and what is behind it.
        context.metrics().queue_depth(batch.len() + commands.len());
        let (mut taken, mut sends) = (0, 0);
        for message in &batch {
            if !matches!(**message, Message::Close(_)) {
                (taken, sends) = (taken + queued_size(message), sends + 1);
            }
        }
        queued.bytes.fetch_sub(taken, Ordering::AcqRel);
        queued.taken.notify_waiters();
        if context.is_disconnected() {
            // Nothing more is written, but a close request in this batch is
            // still honoured.
            break drop_unwritten(&mut batch, &context);
        }
        // Bounded like every strategy's writes: a socket that takes nothing
        // for `--send-timeout` makes its member a slow consumer. The batch's
        // socket writes do not spend the task's cooperative budget one by
        // one: the batch is bounded, and under `--flush each` (a write per
        // message) the budget alone would let readers that parse bursts from
        // memory fill this queue faster than the writer may drain it, and
        // disconnect a member that reads at full speed.
        let mut written = 0;
        let batch_written = write_batch(&mut sink, &mut batch, context.flush(), &mut written);
        // Boxed, as is the close below: the task's own state is then what
        // an idle connection's writer needs while it waits, not the largest
        // write's, for one allocation per batch.
        match Box::pin(context.bounded(tokio::task::unconstrained(batch_written))).await {
            Ok(None) => {}
            Ok(Some(close)) => break Some(close),
            Err(Disconnected) => {
                batch.clear();
                context.metrics().queued_dropped(sends - written);
                break None;
            }
        }
    };
    // Torn down: write nothing more, but wait for the close request, which
    // the connection always makes, so that the Close frame is the last thing
    // this task writes.
    let frame = match close {
        Some(close) => close,
        None => loop {
            match commands.recv().await.as_ref().map(close_request) {
                Some(Some(frame)) => break frame,
                Some(None) => context.metrics().queued_dropped(1),
                None => return,
            }
        },
    };
    Box::pin(close_sink(&mut sink, frame)).await;
    let done = queued
        .closed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(done) = done {
        let _ = done.send(());
    }
}

/// Empties a batch that will not be written (the connection is torn down),
/// counting its messages as dropped; returns its close request, if any.
fn drop_unwritten(batch: &mut Vec<Queued>, context: &WriterContext) -> Option<CloseRequest> {
    let mut close = None;
    for message in batch.drain(..) {
        match close_request(&message) {
            None => context.metrics().queued_dropped(1),
            Some(frame) => close = close.or(Some(frame)),
        }
    }
    close
}

/// Writes a batch: under `--flush batched` fed into the sink and flushed
/// once, under `--flush each` flushed message by message. Stops at a close
/// request and returns it. Keeps in `written` how many of the batch's
/// messages tungstenite has accepted, which tells what a failed or timed-out
/// batch left unwritten. A fed message waits in `SplitSink`'s one-message
/// slot until the next feed or the flush pushes it on, and is lost with the
/// connection if that push fails: it counts as written only once pushed.
async fn write_batch(
    sink: &mut WsSink,
    batch: &mut Vec<Queued>,
    flush: FlushPolicy,
    written: &mut usize,
) -> Result<Option<CloseRequest>, Disconnected> {
    let mut close = None;
    let mut fed = 0;
    for queued in batch.drain(..) {
        // The last member of a broadcast to take its message takes it
        // whole; the others clone it (a reference count, not the payload).
        match Arc::unwrap_or_clone(queued) {
            Message::Close(frame) => {
                close = Some(frame);
                break;
            }
            message => {
                match flush {
                    FlushPolicy::Batched => sink.feed(message).await,
                    FlushPolicy::Each => sink.send(message).await,
                }
                .map_err(|_| Disconnected)?;
                fed += 1;
                *written = match flush {
                    FlushPolicy::Batched => fed - 1,
                    FlushPolicy::Each => fed,
                };
            }
        }
    }
    sink.flush().await.map_err(|_| Disconnected)?;
    *written = fed;
    Ok(close)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what a function's future is, without calling it.
    fn future_size<A, B, C, D, F>(_: fn(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// A queue slot is a pointer, not a `Message` inline: the channel's
    /// first block (32 slots, made for every connection) stays small.
    #[test]
    fn a_queue_slot_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Queued>(), std::mem::size_of::<usize>());
        assert!(std::mem::size_of::<Message>() >= 4 * std::mem::size_of::<usize>());
    }

    /// The writer task's state is what it holds while it waits: the batch
    /// write and the close are boxed, so their futures are not part of it.
    #[test]
    fn an_idle_writer_is_small() {
        let size = future_size(write_loop);
        assert!(size <= 512, "the writer task's state is {size} bytes");
    }
}

//! The room reference: rooms built on `tokio::sync::broadcast`, the pattern
//! of axum's own chat example.
//!
//! # How it works
//! Each room is one `broadcast` channel of `--queue-capacity` messages,
//! created by its first member and shared by the rest. Each connection
//! splits its socket: a writer task owns the write half and `select!`s over
//! the room's `broadcast::Receiver` (or, on `/ws/echo`, a bounded mpsc of
//! its own echo replies) and the heartbeat. Under `--flush batched` it
//! writes what its receiver has ready (up to [`BATCH`] messages) and
//! flushes once when nothing more is ready; under `--flush each` it flushes
//! every message, as axum's chat example does. The reader reaches the whole
//! room with one `broadcast::Sender::send`: no list of members is walked. A
//! broadcast channel is FIFO, so every member gets each sender's messages in
//! the order sent.
//!
//! # Trade-offs
//! - One send per room message, whatever the room's size; each member's
//!   writer then clones it out of the channel. See "Broadcast fan-out" in
//!   `RESULTS.md`.
//! - A sender never waits for a member: a stalled member cannot slow the
//!   room. See "Slow consumer isolation".
//! - Each room holds a ring of `--queue-capacity` slots, allocated when the
//!   room opens, and keeps every message until its slowest member has it.
//!   See "Memory".
//! - The ring cannot wait: a member more than `--queue-capacity` messages
//!   behind has lost messages and is cut off, even when it reads at full
//!   speed and only its writer has not run (a host that preempts the thread
//!   running it during a burst). The strategies judge by time and bytes
//!   instead.
//! - Echo replies still queued when the reader reads the peer's Close are
//!   lost, as in `ws-mpsc-writer`, and counted the same way in
//!   `ws_queued_messages_dropped_total` (with what a member that leaves or
//!   is cut off had not yet taken from its room's ring).
//!
//! # Slow consumers
//! axum's example lets a lagging receiver skip the messages it missed; our
//! protocol forbids silent skipping. A member that falls more than
//! `--queue-capacity` messages behind its room (`RecvError::Lagged`) is
//! disconnected, and so is one whose write makes no progress for
//! `--send-timeout` (a writer blocked on its socket never gets to see that
//! it lagged). It gets Close 1008 ("slow consumer") if its socket still
//! takes one, and leaves its room. On `/ws/echo` the reader waits for room
//! in the reply queue instead, as in `ws-mpsc-writer`.
//!
//! # See also
//! [axum's chat example](https://github.com/tokio-rs/axum/blob/main/examples/chat/src/main.rs);
//! `ws-ref-unsplit` (the echo reference); `ws-mpsc-writer`, which queues per
//! member rather than per room.
//!
//! Run it with `cargo run -p ws-ref-broadcast --release -- --help`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, MissedTickBehavior};
use ws_common::close::End;
use ws_common::connection::{await_close_reply, read_until_end};
use ws_common::rooms::{MemberId, Membership};
use ws_common::{
    AppState, DisconnectReason, FlushPolicy, Handler, Metrics, Route, SinkPolicy, WriterContext,
    WsSink, close_sink,
};

/// The room server built on `tokio::sync::broadcast`.
#[derive(Debug, Clone, Copy)]
pub struct Server;

/// What the registry keeps for each member: its room's channel, the same
/// for every member of the room.
pub type RoomSender = broadcast::Sender<Message>;

impl Handler for Server {
    const NAME: &'static str = "ws-ref-broadcast";
    // Replies still in the queue when the reader reads the peer's Close
    // cannot be written any more (see "Trade-offs").
    const REPLIES_QUEUED_AT_PEER_CLOSE_ARE_LOST: bool = true;
    type Member = RoomSender;

    async fn serve(socket: WebSocket, route: Route, app: Arc<AppState<RoomSender>>) {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id: MemberId = NEXT_ID.fetch_add(1, Ordering::Relaxed);

        let metrics = app.metrics();
        metrics.connections.inc();
        let _open = OpenConnection(metrics);

        let config = app.config();
        // Both channels panic on a capacity of zero or beyond the semaphore's
        // limit; the flag's own range never gets there, a struct built in
        // code might.
        let capacity = usize::try_from(config.queue_capacity)
            .unwrap_or(usize::MAX)
            .clamp(1, Semaphore::MAX_PERMITS);
        // Cancelling it tears the connection down without blaming anyone,
        // which is what the reader does when it ends.
        let teardown = app.shutdown().child_token();
        let context = WriterContext::new(
            teardown.clone(),
            SinkPolicy {
                queue_capacity: capacity,
                ..SinkPolicy::from_config(config)
            },
            metrics.clone(),
        );
        // A panic in this task still stops the writer task.
        let _teardown = context.teardown_on_drop();
        let (sink, mut stream) = socket.split();

        let (outbox, inbox) = match route {
            Route::Echo => {
                let (replies, queue) = mpsc::channel(capacity);
                (Outbox::Echo(replies), Inbox::Echo(queue))
            }
            Route::Room(name) => {
                let mut subscribed = None;
                let membership = app.rooms().join_with(name, id, |members| {
                    let room = members
                        .first()
                        .cloned()
                        .unwrap_or_else(|| broadcast::channel(capacity).0);
                    // Subscribed under the registry lock, before the join is
                    // visible: whoever sees this member in the room knows it
                    // receives what is sent from then on.
                    subscribed = Some((room.clone(), room.subscribe()));
                    room
                });
                match (membership, subscribed) {
                    (Some(membership), Some((room, receiver))) => (
                        Outbox::Room {
                            room,
                            _membership: membership,
                        },
                        Inbox::Room(receiver),
                    ),
                    _ => {
                        finish(Some(sink), &mut stream, End::RoomLimit).await;
                        return;
                    }
                }
            }
        };

        let writer = tokio::spawn(write_loop(
            sink,
            inbox,
            context.clone(),
            config.ping_interval,
        ));
        let end = read_until_end(
            &mut stream,
            &context,
            config.idle_timeout,
            metrics,
            |message, _burst| dispatch(&outbox, &context, metrics, message),
            // The writer task flushes whenever its inbox runs dry.
            || std::future::ready(()),
        )
        .await;
        // Leave the room before closing, so nothing more is queued for us.
        drop(outbox);
        teardown.cancel();
        // The writer stops promptly once torn down and hands the sink back
        // for the close; a writer that panicked leaves nothing to close.
        let sink = writer.await.ok();
        finish(sink, &mut stream, end).await;
    }
}

/// Keeps the open-connections gauge right however the connection ends.
struct OpenConnection<'a>(&'a Metrics);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}

/// Where the reader puts what it read.
enum Outbox {
    /// `/ws/echo`: this connection's own writer.
    Echo(mpsc::Sender<Message>),
    /// `/ws/room/{room}`: the whole room at once. Dropping the membership
    /// leaves the room.
    Room {
        room: RoomSender,
        _membership: Membership<RoomSender>,
    },
}

/// Where the writer takes what it writes from (besides the heartbeat).
enum Inbox {
    Echo(mpsc::Receiver<Message>),
    Room(broadcast::Receiver<Message>),
}

/// Why the inbox gave no message.
enum Missed {
    /// The member fell behind and messages were dropped for it.
    Lagged(u64),
    /// Every sender is gone: the reader has ended.
    Closed,
}

impl Inbox {
    /// The next message if one is ready now.
    fn try_next(&mut self) -> Option<Result<Message, Missed>> {
        match self {
            Inbox::Echo(queue) => queue.try_recv().ok().map(Ok),
            Inbox::Room(receiver) => match receiver.try_recv() {
                Ok(message) => Some(Ok(message)),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    Some(Err(Missed::Lagged(missed)))
                }
                Err(broadcast::error::TryRecvError::Closed) => Some(Err(Missed::Closed)),
                Err(broadcast::error::TryRecvError::Empty) => None,
            },
        }
    }

    /// Messages still waiting for this writer.
    fn len(&self) -> usize {
        match self {
            Inbox::Echo(queue) => queue.len(),
            Inbox::Room(receiver) => receiver.len(),
        }
    }

    /// The next message to write. Cancel safe, as both `recv`s are.
    async fn next(&mut self) -> Result<Message, Missed> {
        match self {
            Inbox::Echo(queue) => queue.recv().await.ok_or(Missed::Closed),
            Inbox::Room(receiver) => receiver.recv().await.map_err(|err| match err {
                RecvError::Lagged(missed) => Missed::Lagged(missed),
                RecvError::Closed => Missed::Closed,
            }),
        }
    }
}

/// Most messages written between two flushes under `--flush batched`, as in
/// `ws-mpsc-writer`.
pub const BATCH: usize = 64;

/// The writer task: the only code that touches the sink. Returns the sink
/// once the connection is torn down, so that the reader can close it.
async fn write_loop(
    mut sink: WsSink,
    mut inbox: Inbox,
    context: WriterContext,
    ping_interval: Duration,
) -> WsSink {
    let mut heartbeat = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    // After a stall, one ping is enough, as in the strategies' heartbeat.
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let disconnected = context.disconnected();
    tokio::pin!(disconnected);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut disconnected => break,
            _ = heartbeat.tick() => Ok(Message::Ping(Bytes::new())),
            next = inbox.next() => next,
        };
        // Bounded by `--send-timeout`: a writer stuck here would never see
        // that it lagged. The batch's socket writes do not spend the task's
        // cooperative budget one by one (see `write_ready`).
        let mut unwritten = 0;
        let written = context
            .bounded(tokio::task::unconstrained(write_ready(
                &mut sink,
                next,
                &mut inbox,
                context.flush(),
                &mut unwritten,
            )))
            .await;
        match written {
            Ok(None) => {}
            Ok(Some(Missed::Lagged(missed))) => {
                // The member has lost messages; skipping them silently is
                // what the protocol forbids.
                tracing::debug!(missed, "room member lagged");
                context.disconnect(DisconnectReason::SlowConsumer);
                break;
            }
            Ok(Some(Missed::Closed)) => break,
            Err(_) => {
                context.metrics().queued_dropped(unwritten);
                break;
            }
        }
    }
    context.metrics().queued_dropped(inbox.len());
    sink
}

/// Writes `first` and whatever else the inbox has ready (up to [`BATCH`]):
/// under `--flush batched` fed and flushed once, under `--flush each`
/// flushed one by one. Returns why the inbox stopped giving messages, if it
/// did.
///
/// Run unconstrained by tokio's cooperative budget: the batch is bounded,
/// and spending a unit per socket write would let a reader that parses a
/// burst from memory outrun this writer by budget alone, and the member
/// would lag behind its room without being slow.
async fn write_ready(
    sink: &mut WsSink,
    first: Result<Message, Missed>,
    inbox: &mut Inbox,
    flush: FlushPolicy,
    unwritten: &mut usize,
) -> Result<Option<Missed>, axum::Error> {
    let mut next = first;
    for written in 1..=BATCH {
        match next {
            Ok(message) => {
                // Taken out of the inbox, so lost if this write fails; a fed
                // message also waits in `SplitSink`'s slot until the next
                // feed or the flush pushes it on to tungstenite.
                *unwritten = match flush {
                    FlushPolicy::Batched => usize::from(written > 1) + 1,
                    FlushPolicy::Each => 1,
                };
                match flush {
                    FlushPolicy::Batched => sink.feed(message).await?,
                    FlushPolicy::Each => sink.send(message).await?,
                }
                *unwritten = usize::from(flush == FlushPolicy::Batched);
            }
            Err(missed) => {
                sink.flush().await?;
                return Ok(Some(missed));
            }
        }
        if written == BATCH {
            break;
        }
        match inbox.try_next() {
            Some(ready) => next = ready,
            None => break,
        }
    }
    sink.flush().await?;
    Ok(None)
}

/// Hands a message read from the client to its writer (echo) or to the
/// whole room (one send). Returns the deliveries it made.
async fn dispatch(
    outbox: &Outbox,
    context: &WriterContext,
    metrics: &Metrics,
    message: Message,
) -> usize {
    match outbox {
        Outbox::Echo(replies) => {
            metrics.messages_sent.inc();
            // The connection's own replies wait for room, as in
            // `ws-mpsc-writer`: a client that outpaces its own echoes is
            // slowed down, and only a socket that takes nothing for
            // `--send-timeout` (the writer's bound) makes it a slow consumer.
            // A closed queue means the writer is gone, and it has
            // disconnected us: the reader picks up why on its next turn.
            tokio::select! {
                biased;
                _ = replies.send(message) => {}
                () = context.disconnected() => {}
            }
            1
        }
        Outbox::Room { room, .. } => {
            // One send reaches every member; it fails only when nobody is
            // subscribed, and then there is nobody to reach.
            let members = room.send(message).unwrap_or(0);
            metrics.messages_sent.inc_by(members as u64);
            members
        }
    }
}

/// Closes the connection the way `end` calls for, then waits (bounded) for
/// the peer's Close reply so that the close handshake completes before the
/// socket is dropped. The same steps as `ws-common`'s connections take.
async fn finish(sink: Option<WsSink>, stream: &mut SplitStream<WebSocket>, end: End) {
    tracing::debug!(?end, "connection ending");
    if let Some(mut sink) = sink {
        close_sink(&mut sink, end.close_frame()).await;
    }
    await_close_reply(stream, &end).await;
}

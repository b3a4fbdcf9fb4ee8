//! The one thing a variant implements: how the write half of a split socket
//! is shared by the tasks that write to it (the connection's own reader, the
//! other members of its room, and its heartbeat).
//!
//! Everything else a connection needs, from reading to rooms to closing, is
//! driven by `ws-common` through this trait, so two variants can only differ
//! in how they get a message into the sink.

use std::future::Future;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::future::join_all;
use futures_util::stream::SplitSink;

use crate::metrics::StrategyMetrics;
use crate::writer::WriterContext;

/// The write half of an axum WebSocket after `split()`.
pub type WsSink = SplitSink<WebSocket, Message>;

/// The connection behind a writer is gone or was disconnected by the slow
/// consumer policy; the message was not (fully) delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection is gone")]
pub struct Disconnected;

/// What a writer tells a strategy about its next message when it sends one:
/// the hint that lets a strategy leave a flush to a later write under
/// `--flush batched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Burst {
    /// The caller may send again at once: the message only has to reach the
    /// sink's buffer. The caller promises another send to the same sinks or
    /// a [`SharedSink::flush`] of them, whichever comes first.
    More,
    /// Nothing more is known to follow from this caller: the message must
    /// reach the socket without any further call from this caller.
    Last,
}

/// A handle through which any task may write to one connection.
///
/// Clones are cheap and all write to the same connection. Implementations must
/// keep every caller's messages in the order that caller sent them, must not
/// lose or duplicate a message without disconnecting the member, and must
/// honour [`WriterContext`]'s disconnect signal promptly.
///
/// Under `--flush each` ([`WriterContext::flush`]) every message is flushed
/// on its own, whatever the hint. Under `--flush batched` a strategy may
/// leave a message in the sink's buffer, but only for as long as something
/// is certain to flush it: the caller's next send or flush ([`Burst::More`]),
/// another writer already waiting for the same sink (who then inherits the
/// job), or a flush the strategy has already scheduled. A message sent with
/// [`Burst::Last`], or covered by a [`SharedSink::flush`], reaches the socket
/// with no further call. Closing flushes whatever is left.
pub trait SharedSink: Clone + Send + Sync + 'static {
    /// The package name, printed on start and used in reports.
    const NAME: &'static str;

    /// The strategy-specific figures it records through
    /// [`WriterContext::metrics`].
    const STRATEGY_METRICS: StrategyMetrics;

    /// Whether replies still queued when the reader reads the peer's Close
    /// are lost (see [`crate::Handler::REPLIES_QUEUED_AT_PEER_CLOSE_ARE_LOST`]):
    /// true for a strategy that queues between the reader and the sink.
    const REPLIES_QUEUED_AT_PEER_CLOSE_ARE_LOST: bool = false;

    /// Takes ownership of a fresh connection's write half.
    ///
    /// Runs once per connection, right after the upgrade, on a runtime worker.
    fn share(sink: WsSink, context: WriterContext) -> Self;

    /// Delivers `message` to this connection.
    ///
    /// Resolves once the message is handed over far enough that a later
    /// `send` from the same caller cannot overtake it. An error means the
    /// connection is gone (or was just disconnected by the slow consumer
    /// policy): the caller stops writing to it, nothing else. `burst` says
    /// whether the caller's next message follows at once.
    fn send(
        &self,
        message: Message,
        burst: Burst,
    ) -> impl Future<Output = Result<(), Disconnected>> + Send;

    /// Ends the caller's burst: whatever it sent to `members` with
    /// [`Burst::More`] reaches their sockets with no further call. A strategy
    /// that flushes on its own schedule (a writer task that flushes whenever
    /// its queue runs dry) has nothing to do here.
    fn flush(members: &[Self]) -> impl Future<Output = ()> + Send;

    /// Delivers one message to every member of a room, in the order of the
    /// caller's earlier broadcasts.
    ///
    /// The default sends to all members concurrently and waits for all; a
    /// strategy overrides it when it has a cheaper way to reach many sinks.
    fn broadcast(
        members: &[Self],
        message: Message,
        burst: Burst,
    ) -> impl Future<Output = ()> + Send {
        async move {
            // A failed member has already been disconnected by its writer; the
            // rest of the room is unaffected.
            join_all(
                members
                    .iter()
                    .map(|member| member.send(message.clone(), burst)),
            )
            .await;
        }
    }

    /// Ends the connection's write side: sends `frame` when given (a
    /// server-initiated close), then closes the sink, which also flushes the
    /// Close reply tungstenite queued if the peer closed first, and whatever
    /// a batched writer left in the buffer.
    ///
    /// The contract it relies on: `ws-common` calls it once per connection,
    /// after teardown. By then the connection's [`WriterContext`] is
    /// disconnected (so every writer still waiting gives up, and every later
    /// `send` fails at once), the heartbeat is stopped and the member has
    /// left its room; nothing but late broadcasts already under way can
    /// still reach the sink. A strategy that owns a task must let it end
    /// here, or when its last handle is dropped, whichever comes first: a
    /// connection that ends by a panic never calls `close`.
    ///
    /// Bounded by [`crate::writer::CLOSE_TIMEOUT`]: a stalled peer cannot hold it.
    fn close(&self, frame: Option<CloseFrame>) -> impl Future<Output = ()> + Send;
}

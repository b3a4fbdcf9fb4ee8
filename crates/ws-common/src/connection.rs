//! One WebSocket connection's life, from the upgrade to the dropped socket,
//! the same for every strategy: split the socket, hand the write half to the
//! strategy, read until the connection ends, then close it properly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;

use crate::close::End;
use crate::config::FlushPolicy;
use crate::heartbeat;
use crate::lookahead::next_noting_wait;
use crate::metrics::Metrics;
use crate::rooms::{MemberId, Membership, RoomName};
use crate::state::AppState;
use crate::strategy::{Burst, SharedSink};
use crate::writer::{CLOSE_TIMEOUT, SinkPolicy, WriterContext};

/// What a connection was opened for.
#[derive(Debug, Clone)]
pub enum Route {
    /// `/ws/echo`.
    Echo,
    /// `/ws/room/{room}`.
    Room(RoomName),
}

/// Serves one upgraded socket until it ends. Runs in its own task, spawned by
/// axum after the upgrade response has been sent.
pub(crate) async fn serve<S: SharedSink>(socket: WebSocket, route: Route, app: Arc<AppState<S>>) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let id: MemberId = NEXT_ID.fetch_add(1, Ordering::Relaxed);

    app.metrics.connections.inc();
    let _open = scopeguard(|| {
        app.metrics.connections.dec();
    });

    let context = WriterContext::new(
        app.shutdown.child_token(),
        SinkPolicy::from_config(&app.config),
        app.metrics.clone(),
    );
    // However this task ends, a panic included, the strategy's tasks for
    // this connection (a writer task, say) see the teardown.
    let _teardown = context.teardown_on_drop();
    let (sink, mut stream) = socket.split();
    let writer = S::share(sink, context.clone());

    let membership = match route {
        Route::Echo => None,
        Route::Room(name) => match app.rooms.join(name, id, writer.clone()) {
            Some(membership) => Some(membership),
            None => {
                finish(&writer, &context, &mut stream, End::RoomLimit).await;
                return;
            }
        },
    };

    // Aborted when the connection ends, whichever way it ends: the handle
    // aborts the task when dropped, so a panic here cannot leave it pinging.
    let heartbeat = heartbeat::spawn(writer.clone(), app.config.ping_interval);
    let end = read_until_end(
        &mut stream,
        &context,
        app.config.idle_timeout,
        &app.metrics,
        {
            let (writer, membership, metrics) = (&writer, membership.as_ref(), &app.metrics);
            move |message, burst| dispatch(writer, membership, metrics, message, burst)
        },
        || end_burst(&writer, membership.as_ref()),
    )
    .await;
    heartbeat.abort();
    // Leave the room before closing, so nobody broadcasts into a closing sink.
    drop(membership);
    finish(&writer, &context, &mut stream, end).await;
}

/// Reads messages and hands each Text or Binary one to `dispatch`, until the
/// connection ends: the peer closes or vanishes, a read fails, nothing
/// arrives for `idle_timeout`, or `context` is torn down (by a writer's
/// policy or the server's shutdown). Pings and Pongs only count as life:
/// tungstenite answers Pings itself. Every server reads this way.
///
/// Under `--flush batched` each message is dispatched with [`Burst::More`];
/// then the reader looks, without waiting, whether another complete data
/// message is already readable (at most one extra non-blocking read per
/// burst). If so it dispatches that one the same way; if not, it calls
/// `end_burst`, which flushes what the burst left in the sinks. The look
/// ahead comes after the dispatch on purpose: once tungstenite has read the
/// peer's Close it refuses to write data, so a reply must be in its buffer
/// before the next frame is parsed, or a Close right behind a burst would
/// lose it. Under `--flush each` every message goes with [`Burst::Last`]
/// and `end_burst` is never called.
///
/// One exception keeps the hint free when there is nothing to batch: when
/// the previous burst was a lone message that made a single delivery (a
/// request/reply client), the next burst's first message goes with
/// [`Burst::Last`], written and flushed in one go, and `end_burst` is only
/// called if more followed it. Otherwise a lone reply would cost a second
/// pass through the sink (a second lock, for the lock strategies) just to
/// flush. If the reader also had to wait for that message, it skips the
/// look-ahead: going back to waiting is the look (see
/// [`crate::lookahead`]), and a message found there at once starts the
/// next burst. Broadcasts to a room of two or more keep [`Burst::More`]:
/// their deferred flush is shared with the room's other senders.
///
/// A burst already in memory is parsed without touching the socket, so
/// nothing would make the reader yield until the burst is over. It counts
/// the deliveries its messages made (`dispatch` returns them: one for an
/// echo, the room's size for a broadcast) and yields to the runtime every
/// [`YIELD_EVERY`]: the writers it feeds get to run, and a burst cannot
/// outrun them, or fill a queue, just by arriving at once.
pub async fn read_until_end<Dispatched, Ended>(
    stream: &mut SplitStream<WebSocket>,
    context: &WriterContext,
    idle_timeout: Duration,
    metrics: &Metrics,
    mut dispatch: impl FnMut(Message, Burst) -> Dispatched,
    mut end_burst: impl FnMut() -> Ended,
) -> End
where
    Dispatched: Future<Output = usize>,
    Ended: Future<Output = ()>,
{
    let mut delivered_since_yield = 0;
    let batched = context.flush() == FlushPolicy::Batched;
    // Whether the last burst was one message with one delivery.
    let mut lone_reply = false;
    let mut last_heard = Instant::now();
    // Re-armed only when it fires, rather than on every message, which keeps
    // the timer wheel out of the per-message path.
    let idle = tokio::time::sleep_until(last_heard + idle_timeout);
    tokio::pin!(idle);
    // Made once: registering for the cancellation on every message would be
    // a lock per message.
    let disconnected = context.disconnected();
    tokio::pin!(disconnected);
    // Something the look-ahead read that is not a data message: handled next.
    let mut read_ahead = None;
    // Whether the message in hand was waited for (see `crate::lookahead`).
    let mut waited = false;

    loop {
        let next = if let Some(next) = read_ahead.take() {
            waited = false;
            next
        } else {
            tokio::select! {
                biased;
                () = &mut disconnected => {
                    return match context.reason() {
                        Some(reason) => End::Disconnected(reason),
                        None => End::Shutdown,
                    };
                }
                () = &mut idle => {
                    if last_heard.elapsed() >= idle_timeout {
                        return End::Idle;
                    }
                    idle.as_mut().reset(last_heard + idle_timeout);
                    continue;
                }
                next = next_noting_wait(stream, &mut waited) => next,
            }
        };
        last_heard = Instant::now();
        let mut message = match next {
            None => return End::Vanished,
            Some(Err(err)) => return End::ReadError(err),
            Some(Ok(Message::Close(_))) => return End::PeerClosed,
            // tungstenite queues the Pong itself and flushes it on the next
            // read; a Pong only proves the peer is alive.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => message,
        };
        // This burst's messages and deliveries, and whether any of them was
        // sent with `More` (and so owes a flush).
        let (mut messages, mut deliveries, mut owes_flush) = (0, 0, false);
        loop {
            metrics.messages_received.inc();
            let burst = if batched && !(messages == 0 && lone_reply) {
                Burst::More
            } else {
                Burst::Last
            };
            owes_flush |= burst == Burst::More;
            let delivered = dispatch(message, burst).await;
            (messages, deliveries) = (messages + 1, deliveries + delivered);
            delivered_since_yield += delivered;
            if delivered_since_yield >= YIELD_EVERY {
                delivered_since_yield = 0;
                tokio::task::yield_now().await;
            }
            if !batched {
                break;
            }
            if burst == Burst::Last && waited {
                // A lone request, written and flushed: waiting for the next
                // message is the look-ahead.
                lone_reply = delivered == 1;
                break;
            }
            match stream.next().now_or_never() {
                Some(Some(Ok(next @ (Message::Text(_) | Message::Binary(_))))) => message = next,
                other => {
                    read_ahead = other;
                    if owes_flush {
                        end_burst().await;
                    }
                    lone_reply = messages == 1 && deliveries == 1;
                    break;
                }
            }
        }
    }
}

/// Deliveries a reader makes between two yields to the runtime: tokio's own
/// cooperative budget per task poll, so that a reader parsing a burst from
/// memory gives way as often as one reading from the socket would.
pub const YIELD_EVERY: usize = 128;

/// Echoes to the connection itself, or broadcasts to its room. Returns the
/// deliveries it made.
async fn dispatch<S: SharedSink>(
    writer: &S,
    membership: Option<&Membership<S>>,
    metrics: &Metrics,
    message: Message,
    burst: Burst,
) -> usize {
    match membership {
        None => {
            metrics.messages_sent.inc();
            // An error means the writer has disconnected us; the reader
            // picks up why on its next turn.
            let _ = writer.send(message, burst).await;
            1
        }
        Some(membership) => {
            let members = membership.members();
            metrics.messages_sent.inc_by(members.len() as u64);
            S::broadcast(&members, message, burst).await;
            members.len()
        }
    }
}

/// Flushes what a burst left in the sinks it reached: the connection's own,
/// or its room's.
async fn end_burst<S: SharedSink>(writer: &S, membership: Option<&Membership<S>>) {
    match membership {
        None => S::flush(std::slice::from_ref(writer)).await,
        Some(membership) => S::flush(&membership.members()).await,
    }
}

/// Waits (bounded by [`CLOSE_TIMEOUT`]) for the peer's answer to our Close,
/// when `end` calls for one, so that the close handshake completes before
/// the socket is dropped.
pub async fn await_close_reply(stream: &mut SplitStream<WebSocket>, end: &End) {
    if end.awaits_close_reply() {
        let drain = async { while let Some(Ok(_)) = stream.next().await {} };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
    }
}

/// Closes the connection the way `end` calls for, then waits (bounded) for
/// the peer's Close reply so that the close handshake completes before the
/// socket is dropped.
async fn finish<S: SharedSink>(
    writer: &S,
    context: &WriterContext,
    stream: &mut SplitStream<WebSocket>,
    end: End,
) {
    tracing::debug!(?end, "connection ending");
    // Whatever ended the reader, every other writer stops now.
    context.disconnect_quietly();
    writer.close(end.close_frame()).await;
    await_close_reply(stream, &end).await;
}

/// Runs `f` when dropped.
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

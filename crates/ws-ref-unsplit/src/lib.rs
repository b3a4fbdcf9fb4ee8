//! The echo reference: one task owns the whole, unsplit WebSocket, so
//! nothing is shared at all.
//!
//! # How it works
//! Each connection is served by one task that owns the socket without
//! splitting it. The task `select!`s over the next message, the heartbeat's
//! interval, the idle timer and the shutdown signal. It `feed`s each echo,
//! then echoes whatever else has already arrived (up to [`BATCH`] messages)
//! and flushes once: one `write` for a burst of pipelined messages, the best
//! an unsplit server can do (`--flush batched`; under `--flush each` every
//! echo is flushed on its own). No lock, no channel, no second task:
//! whatever the strategies pay for sharing the sink, this server does not,
//! so it is the ceiling they are read against. Rooms need many writers per
//! socket, so it serves `/ws/echo` and the plain HTTP routes only.
//!
//! # Trade-offs
//! - Nothing shared, nothing paid for sharing: the echo ceiling. See "Echo
//!   throughput" in `RESULTS.md`.
//! - One writer per socket, by construction: no rooms, and no way for
//!   anything but the connection's own task to write to it.
//! - Reading and writing take turns: while an echo waits for the socket,
//!   nothing is read. For echo that is the right back-pressure.
//!
//! # Slow consumers
//! A client that stops reading stalls only its own connection. A write
//! (echo or heartbeat ping) that does not complete within `--send-timeout`
//! disconnects it with Close 1008 ("slow consumer"), the mutex variants'
//! policy; the timer is only registered when a write has to wait.
//!
//! # See also
//! `ws-ref-broadcast` (the reference for rooms); axum's
//! `examples/websockets`, which drives an unsplit socket the same way; the
//! strategies `ws-tokio-mutex`, `ws-std-mutex` and `ws-mpsc-writer`.
//!
//! Run it with `cargo run -p ws-ref-unsplit --release -- --help`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::time::{Instant, MissedTickBehavior};
use ws_common::close::End;
use ws_common::lookahead::next_noting_wait;
use ws_common::{
    AppState, CLOSE_TIMEOUT, DisconnectReason, FlushPolicy, Handler, Metrics, Route, within,
};

/// Most echoes written between two flushes, as in `ws-mpsc-writer`.
pub const BATCH: usize = 64;

/// The unsplit echo server: one task per connection, owning the socket.
#[derive(Debug, Clone, Copy)]
pub struct Server;

impl Handler for Server {
    const NAME: &'static str = "ws-ref-unsplit";
    const SERVES_ROOMS: bool = false;
    type Member = ();

    async fn serve(mut socket: WebSocket, route: Route, app: Arc<AppState<()>>) {
        // Without rooms the router only ever upgrades `/ws/echo`.
        debug_assert!(matches!(route, Route::Echo), "{route:?}");
        let metrics = app.metrics();
        metrics.connections.inc();
        let _open = OpenConnection(metrics);
        let end = echo_until_end(&mut socket, &app).await;
        finish(&mut socket, end).await;
    }
}

/// Keeps the open-connections gauge right however the connection ends.
struct OpenConnection<'a>(&'a Metrics);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}

/// Echoes messages, pings on the heartbeat and watches the idle timer and
/// the shutdown signal, until the connection ends.
async fn echo_until_end(socket: &mut WebSocket, app: &AppState<()>) -> End {
    let config = app.config();
    let metrics = app.metrics();
    let send_timeout = config.send_timeout;
    let shutdown = app.shutdown().cancelled();
    tokio::pin!(shutdown);

    let ping_interval = config.ping_interval;
    let mut heartbeat = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    // After a stall, one ping is enough, as in the strategies' heartbeat.
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);

    let idle_timeout = config.idle_timeout;
    let mut last_heard = Instant::now();
    // Re-armed only when it fires, rather than on every message, which keeps
    // the timer wheel out of the per-message path (as in `ws-common`).
    let idle = tokio::time::sleep_until(last_heard + idle_timeout);
    tokio::pin!(idle);

    // `--flush each` flushes every echo on its own.
    let batch = match config.flush {
        FlushPolicy::Batched => BATCH,
        FlushPolicy::Each => 1,
    };
    // A message read while batching that is not an echo: handled next.
    let mut pending = None;
    // Whether the message in hand was waited for, and whether the last batch
    // was a single echo: a request/reply client (see `ws_common::lookahead`).
    let (mut waited, mut lone) = (false, false);
    loop {
        let next = if let Some(next) = pending.take() {
            waited = false;
            next
        } else {
            tokio::select! {
            biased;
            () = &mut shutdown => return End::Shutdown,
            () = &mut idle => {
                if last_heard.elapsed() >= idle_timeout {
                    return End::Idle;
                }
                idle.as_mut().reset(last_heard + idle_timeout);
                continue;
            }
            _ = heartbeat.tick() => {
                let ping = socket.send(Message::Ping(Bytes::new()));
                if let Err(end) = bounded(ping, shutdown.as_mut(), send_timeout, metrics).await {
                    return end;
                }
                continue;
            }
            next = next_noting_wait(socket, &mut waited) => next,
            }
        };
        last_heard = Instant::now();
        let message = match next {
            None => return End::Vanished,
            Some(Err(err)) => return End::ReadError(err),
            Some(Ok(Message::Close(_))) => return End::PeerClosed,
            Some(Ok(Message::Ping(_))) => {
                // tungstenite has queued the Pong; the next read would flush
                // it only if the socket had room at that moment, so flush it
                // now, like any other write.
                let flush = socket.flush();
                if let Err(end) = bounded(flush, shutdown.as_mut(), send_timeout, metrics).await {
                    return end;
                }
                continue;
            }
            // A Pong only proves the peer is alive.
            Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(message)) => message,
        };
        metrics.messages_received.inc();
        metrics.messages_sent.inc();
        let echo = socket.feed(message);
        if let Err(end) = bounded(echo, shutdown.as_mut(), send_timeout, metrics).await {
            return end;
        }
        // Echo what has already arrived before flushing: without waiting,
        // so a lone message is flushed at once. After a lone request, a
        // message that had to be waited for is flushed without the look:
        // waiting for the next one is the look.
        let batch = if lone && waited { 1 } else { batch };
        let mut echoed = 1;
        for _ in 1..batch {
            let message = match socket.next().now_or_never() {
                Some(Some(Ok(message @ (Message::Text(_) | Message::Binary(_))))) => message,
                Some(other) => {
                    pending = Some(other);
                    break;
                }
                None => break,
            };
            metrics.messages_received.inc();
            metrics.messages_sent.inc();
            echoed += 1;
            let echo = socket.feed(message);
            if let Err(end) = bounded(echo, shutdown.as_mut(), send_timeout, metrics).await {
                return end;
            }
        }
        lone = echoed == 1;
        let flush = socket.flush();
        if let Err(end) = bounded(flush, shutdown.as_mut(), send_timeout, metrics).await {
            return end;
        }
    }
}

/// Runs one write under the slow consumer policy: it ends the connection if
/// it fails, if it takes longer than `send_timeout`, or if the server starts
/// shutting down meanwhile. Bounded with `ws_common::within`, as the
/// strategies' writes are, so that a write that completes at once costs the
/// reference no more than it costs them.
async fn bounded(
    write: impl Future<Output = Result<(), axum::Error>>,
    shutdown: impl Future<Output = ()> + Unpin,
    send_timeout: Duration,
    metrics: &Metrics,
) -> Result<(), End> {
    let written = tokio::select! {
        biased;
        () = shutdown => return Err(End::Shutdown),
        written = within(send_timeout, write) => written,
    };
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => {
            metrics.write_failures.inc();
            Err(End::Disconnected(DisconnectReason::WriteFailed))
        }
        Err(_elapsed) => {
            metrics.slow_consumer_disconnects.inc();
            tracing::debug!("disconnecting a slow consumer");
            Err(End::Disconnected(DisconnectReason::SlowConsumer))
        }
    }
}

/// Closes the connection the way `end` calls for, then waits (bounded) for
/// the peer's Close reply so that the close handshake completes before the
/// socket is dropped. The same steps as `ws-common`'s connections take.
async fn finish(socket: &mut WebSocket, end: End) {
    tracing::debug!(?end, "connection ending");
    let frame = end.close_frame();
    let close = async {
        if let Some(frame) = frame {
            let _ = socket.send(Message::Close(Some(frame))).await;
        }
        // Flushes whatever tungstenite still holds: our Close, or the reply
        // it queued when the peer closed first. Errors mean the peer is gone
        // already, which is what closing wants anyway.
        let _ = SinkExt::close(socket).await;
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
    if end.awaits_close_reply() {
        let drain = async { while let Some(Ok(_)) = socket.next().await {} };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
    }
}

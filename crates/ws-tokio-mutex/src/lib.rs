//! The write half shared as `Arc<tokio::sync::Mutex<SplitSink<WebSocket, Message>>>`.
//!
//! # How it works
//! Every writer (the connection's own reader sending echo replies, other
//! members' readers broadcasting into the room, the heartbeat) locks the
//! mutex with `.lock().await` and sends while holding the guard. The async
//! lock queues waiting writers fairly (FIFO) and parks them without blocking a
//! thread, so holding the guard across the send's `.await` is what it is for.
//! Each caller awaits its own send, so its messages stay in order.
//!
//! # Trade-offs
//! - One lock acquisition and one flush (a `write` syscall) per message per
//!   receiver: nothing batches concurrent writers. See "Echo throughput" and
//!   "Contention" in `RESULTS.md`.
//! - A broadcast waits for every member's send: one member that does not read
//!   holds every sender in the room for up to `--send-timeout`. See "Slow
//!   consumer isolation" in `RESULTS.md`.
//! - No queue, so no per-connection buffer beyond the socket's own: memory
//!   stays flat under a stalled consumer. See "Memory".
//!
//! # Slow consumers
//! A send that does not complete within `--send-timeout` (default 5s)
//! disconnects that member: it gets Close 1008 ("slow consumer") if its socket
//! still takes one, every writer queued on its lock gives up at once, and it
//! leaves its room.
//!
//! # Metrics
//! Besides the shared ones, `GET /metrics` counts this variant's lock:
//! `ws_sink_lock_acquisitions_total`, `ws_sink_lock_contended_total` (those
//! that found it held) and `ws_sink_lock_wait_seconds` (how long each of
//! those waited). A free lock is counted without reading the clock.
//!
//! # See also
//! [tokio's "Which kind of mutex should you use?"](https://docs.rs/tokio/latest/tokio/sync/struct.Mutex.html#which-kind-of-mutex-should-you-use),
//! `ws-std-mutex` (the same with a blocking lock), `ws-mpsc-writer` (no lock).
//!
//! Run it with `cargo run -p ws-tokio-mutex --release -- --help`.

use std::sync::Arc;

use tokio::sync::Mutex;
use ws_common::prelude::*;

/// A connection's shared write half: clones lock the same sink.
#[derive(Debug, Clone)]
pub struct Writer {
    sink: Arc<Mutex<WsSink>>,
    context: WriterContext,
}

impl SharedSink for Writer {
    const NAME: &'static str = "ws-tokio-mutex";
    const STRATEGY_METRICS: StrategyMetrics = StrategyMetrics::Lock;

    fn share(sink: WsSink, context: WriterContext) -> Self {
        Self {
            sink: Arc::new(Mutex::new(sink)),
            context,
        }
    }

    async fn send(&self, message: Message, _burst: Burst) -> Result<(), Disconnected> {
        let metrics = self.context.metrics();
        // `try_lock` fails whenever writers are queued (the lock stays FIFO),
        // so it only tells the uncontended case apart, to time the others.
        let mut sink = if let Ok(sink) = self.sink.try_lock() {
            metrics.lock_taken();
            sink
        } else {
            let wait = metrics.lock_wait();
            // Waiting for the lock is not bounded by the send timeout: the
            // writer holding it is, and a disconnect releases every waiter
            // at once. The lock is polled first, so a lock that is free by
            // now never registers for the cancellation.
            let sink = tokio::select! {
                biased;
                sink = self.sink.lock() => sink,
                () = self.context.disconnected() => return Err(Disconnected),
            };
            wait.acquired();
            sink
        };
        self.context.send_with_timeout(&mut sink, message).await
    }

    async fn close(&self, frame: Option<CloseFrame>) {
        // Writers give the lock up as soon as the connection is torn down,
        // which it is by now; the bound is for the one that does not.
        let Ok(mut sink) = tokio::time::timeout(CLOSE_TIMEOUT, self.sink.lock()).await else {
            return;
        };
        close_sink(&mut sink, frame).await;
    }
}

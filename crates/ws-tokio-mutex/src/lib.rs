//! The write half shared as `Arc<tokio::sync::Mutex<SplitSink<WebSocket, Message>>>`.
//!
//! # How it works
//! Every writer (the connection's own reader sending echo replies, other
//! members' readers broadcasting into the room, the heartbeat) locks the
//! mutex and writes while holding the guard. A write first tries what needs
//! no waiting: `try_lock`, then one poll of each step of the write. When the
//! lock is busy or the socket is full, it waits with `.lock().await` and
//! finishes the write holding the guard across the `.await`, which is what
//! the async lock is for: it queues waiting writers fairly (FIFO) and parks
//! them without blocking a thread. Each caller awaits its own write, so its
//! messages stay in order. A broadcast makes the attempt for every member,
//! then waits for the members that need it, all at once.
//!
//! Under `--flush batched` a writer leaves the flush to someone certain to
//! make it: the caller's next write when more follows ([`Burst::More`]), or
//! the next holder of the lock when other writers are already waiting (write
//! combining). A flush that ends a broadcast is deferred: the broadcaster
//! yields once to the runtime and then flushes only the sinks still holding
//! unflushed messages, so that the broadcasts of every member that ran in
//! the same turn share one `write` per sink. The flush that ends an echo
//! burst is not deferred: nobody else writes to an echo connection but the
//! heartbeat. The shape of these steps is `ws_common::locked`'s, shared
//! with `ws-std-mutex`; this crate supplies how the lock is tried
//! (`try_lock`) and waited for (`.lock().await`).
//!
//! Why nothing is stranded: every message is written by a holder of the
//! lock that then flushes, or hands the flush to a writer that is certain
//! to hold the lock after it (the same caller, or one already queued);
//! queued writers only give up when the connection is torn down, and
//! closing flushes. Under `--flush each` every message is flushed on its
//! own.
//!
//! # Trade-offs
//! - One lock acquisition per message per receiver, one more for the flush
//!   that ends a burst of several (a lone reply is written and flushed in
//!   one), and under contention a FIFO hand-off through the runtime's
//!   queue. See "Flush policy or strategy?" and "Contention"
//!   in `RESULTS.md`.
//! - A broadcast waits for every member's write: one member that does not
//!   read holds every sender in the room for up to `--send-timeout`, and one
//!   that reads slowly sets the room's pace. See "Slow consumer isolation".
//! - No queue, so no per-connection buffer beyond the socket's own: memory
//!   stays flat under a stalled consumer. See "Memory".
//!
//! # Per connection
//! Beyond what every strategy pays for a connection (the socket,
//! tungstenite's buffers, the reader and heartbeat tasks): one allocation,
//! the `Arc` holding the sink behind its lock with the waiter count
//! (`Shared`). No task, no queue, nothing that grows
//! while the connection is idle. "Memory" in `RESULTS.md` has the measured
//! RSS per idle connection, with default flags and with the README's idle
//! profile.
//!
//! # Slow consumers
//! A write that does not complete within `--send-timeout` (default 5s)
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
use std::task::Context;

use futures_util::future::join_all;
use tokio::sync::{Mutex, MutexGuard};
use ws_common::locked;
use ws_common::prelude::*;

/// A connection's shared write half: clones lock the same sink.
#[derive(Debug, Clone)]
pub struct Writer {
    shared: Arc<Shared>,
    context: WriterContext,
}

/// The sink behind its lock, and who is waiting for it.
#[derive(Debug)]
struct Shared {
    sink: Mutex<LockedSink>,
    waiters: Waiters,
}

impl Writer {
    /// Waits for the lock (counted among the waiters meanwhile), then
    /// finishes `write` under the send timeout.
    async fn write_waiting(&self, write: Write) -> Result<(), Disconnected> {
        let mut sink = self.lock_waiting().await?;
        sink.write(&self.context, write, &self.shared.waiters).await
    }

    /// The lock, waited for. Not bounded by the send timeout: the writer
    /// holding it is, and a disconnect releases every waiter at once.
    async fn lock_waiting(&self) -> Result<MutexGuard<'_, LockedSink>, Disconnected> {
        let _waiting = self.shared.waiters.enter();
        let wait = self.context.metrics().lock_wait();
        // The lock is polled first, so a lock that is free by now never
        // registers for the cancellation.
        let sink = tokio::select! {
            biased;
            sink = self.shared.sink.lock() => sink,
            () = self.context.disconnected() => return Err(Disconnected),
        };
        wait.acquired();
        Ok(sink)
    }
}

impl LockedWriter for Writer {
    type Pending = Write;

    fn context(&self) -> &WriterContext {
        &self.context
    }

    fn write_now(&self, cx: &mut Context<'_>, write: Write) -> Option<Write> {
        let Ok(mut sink) = self.shared.sink.try_lock() else {
            return Some(write);
        };
        self.context.metrics().lock_taken();
        match sink.try_write(cx, write, &self.shared.waiters) {
            Rest::Done => None,
            Rest::Wait(rest) => Some(rest),
            Rest::Failed => {
                self.context.disconnect(DisconnectReason::WriteFailed);
                None
            }
        }
    }

    /// Each member waits for its own lock, all of them at once.
    async fn finish(waiting: Vec<(Self, Write)>) {
        join_all(
            waiting
                .into_iter()
                .map(|(member, rest)| async move { member.write_waiting(rest).await }),
        )
        .await;
    }
}

impl SharedSink for Writer {
    const NAME: &'static str = "ws-tokio-mutex";
    const STRATEGY_METRICS: StrategyMetrics = StrategyMetrics::Lock;

    fn share(sink: WsSink, context: WriterContext) -> Self {
        let shared = Shared {
            sink: Mutex::new(LockedSink::new(sink)),
            waiters: Waiters::default(),
        };
        Self {
            shared: Arc::new(shared),
            context,
        }
    }

    async fn send(&self, message: Message, burst: Burst) -> Result<(), Disconnected> {
        locked::send(self, message, burst).await
    }

    async fn flush(members: &[Self]) {
        locked::flush(members).await;
    }

    async fn broadcast(members: &[Self], message: Message, burst: Burst) {
        locked::broadcast(members, message, burst).await;
    }

    async fn close(&self, frame: Option<CloseFrame>) {
        // Writers give the lock up as soon as the connection is torn down,
        // which it is by now; the bound is for the one that does not.
        let Ok(mut sink) = tokio::time::timeout(CLOSE_TIMEOUT, self.shared.sink.lock()).await
        else {
            return;
        };
        close_sink(sink.sink(), frame).await;
    }
}

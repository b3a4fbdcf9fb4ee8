//! The write half shared as `Arc<std::sync::Mutex<SplitSink<WebSocket, Message>>>`,
//! locked only where blocking is allowed.
//!
//! # How it works
//! Holding a `std::sync::MutexGuard` across an `.await` in a task is the
//! misuse this variant exists to avoid (see `MISUSE.md`): the future is not
//! `Send`, and where it compiles it can deadlock a runtime thread. So a send
//! first tries what needs no waiting: `try_lock`, then one poll of each step
//! of the send, inside one synchronous call, so the guard never meets an
//! `.await`. When the lock is free and the socket takes the message, that is
//! the whole send. When the lock is busy or the socket is full, the send has
//! to wait, and the guard has to be held until it is done, or two writers
//! interleave: the rest moves to tokio's blocking pool (`spawn_blocking`),
//! where the thread locks the mutex, drives the send (or the flush of what
//! is already buffered) to completion with the runtime handle's `block_on`,
//! and unlocks. The async caller awaits that blocking task, so its messages
//! stay in order. A broadcast makes the attempt for every member, then takes
//! one blocking task for all the members that have to wait.
//!
//! Only the thread holding the lock ever waits on the sink. That matters:
//! tokio-tungstenite keeps a single write waker per socket, so a design that
//! takes the lock inside `poll_*` functions with several writers waiting
//! would let each waiter overwrite the last one's waker, and a writer could
//! sleep forever (the lost wakeup). Here an attempt that would wait gives up
//! the lock at once, and the blocking thread that then holds it registers
//! its own waker.
//!
//! # Trade-offs
//! - A thread hop (to the blocking pool and back) on every send that has to
//!   wait: under contention for the lock (see "Contention" in `RESULTS.md`)
//!   and whenever the socket is full. Compare pinned with unpinned runs: the
//!   blocking threads compete with the workers and the load for the CPUs.
//! - A stalled member ties up one blocking thread per writer waiting on its
//!   lock, up to `--send-timeout`; the pool has 512 threads, and when they
//!   are all taken every send in the process waits. See "Slow consumer
//!   isolation".
//! - Members of a broadcast are written one after another from one thread:
//!   a stalled member delays the members after it, once, up to the timeout.
//!
//! # Slow consumers
//! A send that does not complete within `--send-timeout` (default 5s)
//! disconnects that member: it gets Close 1008 ("slow consumer") if its socket
//! still takes one, every writer blocked on its lock gives up as soon as it
//! gets the lock, and it leaves its room.
//!
//! # Metrics
//! Besides the shared ones, `GET /metrics` counts this variant's lock:
//! `ws_sink_lock_acquisitions_total`, `ws_sink_lock_contended_total` (those
//! that found it held) and `ws_sink_lock_wait_seconds` (how long each of
//! those waited, the hop to the blocking pool included). A free lock is counted without reading the clock.
//!
//! # See also
//! [`MISUSE.md`](https://github.com/sink-sharing/sink-sharing/blob/main/crates/ws-std-mutex/MISUSE.md)
//! for what goes wrong with the naive form,
//! [tokio's "Which kind of mutex should you use?"](https://docs.rs/tokio/latest/tokio/sync/struct.Mutex.html#which-kind-of-mutex-should-you-use),
//! `ws-tokio-mutex` (the same with an async lock), `ws-mpsc-writer` (no lock).
//!
//! Run it with `cargo run -p ws-std-mutex --release -- --help`.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::task::{Context, Poll};

use futures_util::Sink;
use tokio::runtime::Handle;
use ws_common::prelude::*;

/// A connection's shared write half: clones lock the same sink.
#[derive(Debug, Clone)]
pub struct Writer {
    sink: Arc<Mutex<WsSink>>,
    context: WriterContext,
}

/// What is left of a send after the attempt that does not wait.
#[derive(Debug)]
enum Rest {
    /// Written and flushed.
    Done,
    /// In the sink's buffer; the flush has to wait for the socket.
    Flush,
    /// Not taken: the sink's buffer was full.
    Send(Message),
    /// Not taken: another writer held the lock; the wait is being timed.
    Locked(Message, LockWait),
    /// The write failed: the connection is gone.
    Failed,
}

impl Writer {
    /// Sends without blocking and without waiting: `try_lock`, then one poll
    /// of each step of the send. The guard lives inside this synchronous
    /// call only, never across an `.await`.
    fn send_now(&self, cx: &mut Context<'_>, message: Message) -> Rest {
        let Some(mut sink) = self.try_lock() else {
            return Rest::Locked(message, self.context.metrics().lock_wait());
        };
        self.context.metrics().lock_taken();
        let mut sink = Pin::new(&mut *sink);
        match sink.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return Rest::Failed,
            Poll::Pending => return Rest::Send(message),
        }
        if sink.as_mut().start_send(message).is_err() {
            return Rest::Failed;
        }
        match sink.poll_flush(cx) {
            Poll::Ready(Ok(())) => Rest::Done,
            Poll::Ready(Err(_)) => Rest::Failed,
            Poll::Pending => Rest::Flush,
        }
    }

    /// The lock if it is free now.
    fn try_lock(&self) -> Option<MutexGuard<'_, WsSink>> {
        match self.sink.try_lock() {
            Ok(sink) => Some(sink),
            // A poisoned lock means a send panicked half-way; the sink is
            // still a valid object, and the send timeout decides whether it
            // is usable.
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Takes the lock, blocking this thread, which must be a blocking-pool
    /// thread. `waiting` is a wait that began before the hop to this thread.
    fn lock_blocking(&self, waiting: Option<LockWait>) -> MutexGuard<'_, WsSink> {
        let metrics = self.context.metrics();
        if let Some(sink) = self.try_lock() {
            match waiting {
                Some(wait) => wait.acquired(),
                None => metrics.lock_taken(),
            }
            return sink;
        }
        let wait = waiting.unwrap_or_else(|| metrics.lock_wait());
        let sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        wait.acquired();
        sink
    }

    /// Finishes a send on this thread, which must be a blocking-pool thread:
    /// waits for the lock, then drives the rest under the send timeout.
    fn finish_blocking(&self, runtime: &Handle, rest: Rest) -> Result<(), Disconnected> {
        let (message, waiting) = match rest {
            Rest::Done => return Ok(()),
            Rest::Failed => {
                self.context.disconnect(DisconnectReason::WriteFailed);
                return Err(Disconnected);
            }
            Rest::Flush => (None, None),
            Rest::Send(message) => (Some(message), None),
            Rest::Locked(message, wait) => (Some(message), Some(wait)),
        };
        if self.context.is_disconnected() {
            return Err(Disconnected);
        }
        let mut sink = self.lock_blocking(waiting);
        match message {
            Some(message) => runtime.block_on(self.context.send_with_timeout(&mut sink, message)),
            None => runtime.block_on(self.context.flush_with_timeout(&mut sink)),
        }
    }
}

impl SharedSink for Writer {
    const NAME: &'static str = "ws-std-mutex";
    const STRATEGY_METRICS: StrategyMetrics = StrategyMetrics::Lock;

    fn share(sink: WsSink, context: WriterContext) -> Self {
        Self {
            sink: Arc::new(Mutex::new(sink)),
            context,
        }
    }

    async fn send(&self, message: Message, _burst: Burst) -> Result<(), Disconnected> {
        if self.context.is_disconnected() {
            return Err(Disconnected);
        }
        let mut message = Some(message);
        let rest = poll_fn(|cx| {
            Poll::Ready(match message.take() {
                Some(message) => self.send_now(cx, message),
                None => Rest::Failed,
            })
        })
        .await;
        match rest {
            Rest::Done => Ok(()),
            rest => {
                let writer = self.clone();
                let runtime = Handle::current();
                tokio::task::spawn_blocking(move || writer.finish_blocking(&runtime, rest))
                    .await
                    .unwrap_or(Err(Disconnected))
            }
        }
    }

    async fn broadcast(members: &[Self], message: Message, _burst: Burst) {
        // Every member gets the attempt that does not wait; those that need
        // to wait share one blocking task, written one after another.
        let mut waiting = Vec::new();
        poll_fn(|cx| {
            for member in members {
                if member.context.is_disconnected() {
                    continue;
                }
                match member.send_now(cx, message.clone()) {
                    Rest::Done => {}
                    rest => waiting.push((member.clone(), rest)),
                }
            }
            Poll::Ready(())
        })
        .await;
        if waiting.is_empty() {
            return;
        }
        let runtime = Handle::current();
        let sent = tokio::task::spawn_blocking(move || {
            for (member, rest) in waiting {
                // A failed member is disconnected by its own context.
                let _ = member.finish_blocking(&runtime, rest);
            }
        });
        let _ = sent.await;
    }

    async fn close(&self, frame: Option<CloseFrame>) {
        let writer = self.clone();
        let runtime = Handle::current();
        let closed = tokio::task::spawn_blocking(move || {
            // The connection is torn down by now, and a writer holding the
            // lock gives it up as soon as it sees that: this wait is short.
            let mut sink = writer.sink.lock().unwrap_or_else(PoisonError::into_inner);
            runtime.block_on(close_sink(&mut sink, frame));
        });
        let _ = closed.await;
    }
}

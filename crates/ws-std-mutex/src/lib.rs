//! The write half shared as `Arc<std::sync::Mutex<SplitSink<WebSocket, Message>>>`,
//! locked only where blocking is allowed.
//!
//! # How it works
//! Holding a `std::sync::MutexGuard` across an `.await` in a task is the
//! misuse this variant exists to avoid (see `MISUSE.md`): the future is not
//! `Send`, and where it compiles it can deadlock a runtime thread. So a write
//! first tries what needs no waiting, on the runtime worker: `try_lock`, then
//! one poll of each step of the write, inside one synchronous call, so the
//! guard never meets an `.await`. When the lock is free and the socket takes
//! the message, that is the whole write. When the lock is busy or the socket
//! is full, the write has to wait, and the guard has to be held until it is
//! done, or two writers interleave: the rest moves to tokio's blocking pool
//! (`spawn_blocking`), where the thread locks the mutex, drives the rest to
//! completion with the runtime handle's `block_on`, and unlocks. The async
//! caller awaits that blocking task, so its messages stay in order. A
//! broadcast makes the attempt for every member, then takes one blocking
//! task for all the members that have to wait.
//!
//! The write's steps and the flush policy are `ws_common::locked`'s, the
//! same as `ws-tokio-mutex`'s, so the two differ by the lock: under
//! `--flush batched` a writer leaves the flush to the caller's next write
//! when more follows, or to a writer already waiting for the lock, and a
//! broadcast's closing flush is deferred by one turn of the runtime so that
//! the broadcasts of that turn share it. Why nothing is stranded is argued
//! in `ws-tokio-mutex`'s crate doc and holds here unchanged: a thread waiting
//! in the blocking pool counts as a waiting writer only while it is blocked
//! on the lock, and it always writes after taking it.
//!
//! Only the thread holding the lock ever waits on the sink. That matters:
//! tokio-tungstenite keeps a single write waker per socket, so a design that
//! takes the lock inside `poll_*` functions with several writers waiting
//! would let each waiter overwrite the last one's waker, and a writer could
//! sleep forever (the lost wakeup). Here an attempt that would wait gives up
//! the lock at once, and the blocking thread that then holds it registers
//! its own waker.
//!
//! Tokio's cooperative budget (128 units a task poll) is spent by every
//! socket write, and a write refused for want of budget looks exactly like a
//! full socket: a single-poll broadcast would send every member after the
//! 127th or so to the blocking pool. Checked, not assumed: with the yield
//! below removed, the conformance case
//! `large_room_broadcast_takes_each_lock_once` (one message into a room of
//! 300) sees every member after the budget ran out take the lock a second
//! time, on the slow path. So the attempts yield once whenever the budget
//! runs out and go on with a fresh one, and the case sees exactly one
//! acquisition per member and step.
//!
//! # Trade-offs
//! - A thread hop (to the blocking pool and back) on every write that has to
//!   wait: under contention for the lock (see "Contention" in `RESULTS.md`)
//!   and whenever the socket is full. Compare pinned with unpinned runs: the
//!   blocking threads compete with the workers and the load for the CPUs.
//! - A stalled member ties up one blocking thread per writer waiting on its
//!   lock, up to `--send-timeout`; the pool has 512 threads, and when they
//!   are all taken every write in the process waits. See "Slow consumer
//!   isolation".
//! - Members of a broadcast that have to wait are written one after another
//!   from one thread: a stalled member delays the members after it, once, up
//!   to the timeout; a slow reader sets the room's pace, as with any lock.
//!   See "Slow readers".
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

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::task::Context;

use tokio::runtime::Handle;
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

/// What is left of a write after the attempt that does not wait, and
/// whether that attempt found the lock held (the wait is then being timed).
#[derive(Debug)]
pub struct Pending(Write, Option<LockWait>);

impl Writer {
    /// The lock if it is free now.
    fn try_lock(&self) -> Option<MutexGuard<'_, LockedSink>> {
        match self.shared.sink.try_lock() {
            Ok(sink) => Some(sink),
            // A poisoned lock means a write panicked half-way; the sink is
            // still a valid object, and the send timeout decides whether it
            // is usable.
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Takes the lock, blocking this thread, which must be a blocking-pool
    /// thread. `waiting` is a wait that began before the hop to this thread.
    fn lock_blocking(&self, waiting: Option<LockWait>) -> MutexGuard<'_, LockedSink> {
        let metrics = self.context.metrics();
        if let Some(sink) = self.try_lock() {
            match waiting {
                Some(wait) => wait.acquired(),
                None => metrics.lock_taken(),
            }
            return sink;
        }
        let _waiting = self.shared.waiters.enter();
        let wait = waiting.unwrap_or_else(|| metrics.lock_wait());
        let sink = self
            .shared
            .sink
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        wait.acquired();
        sink
    }

    /// Finishes a write on this thread, which must be a blocking-pool thread:
    /// waits for the lock, then drives the rest under the send timeout.
    fn finish_blocking(&self, runtime: &Handle, Pending(write, waiting): Pending) {
        if self.context.is_disconnected() {
            return;
        }
        let mut sink = self.lock_blocking(waiting);
        // A failure has disconnected the member through its context.
        let _ = runtime.block_on(sink.write(&self.context, write, &self.shared.waiters));
    }
}

impl LockedWriter for Writer {
    type Pending = Pending;

    fn context(&self) -> &WriterContext {
        &self.context
    }

    /// The guard lives inside this synchronous call only, never across an
    /// `.await`.
    fn write_now(&self, cx: &mut Context<'_>, write: Write) -> Option<Pending> {
        let Some(mut sink) = self.try_lock() else {
            return Some(Pending(write, Some(self.context.metrics().lock_wait())));
        };
        self.context.metrics().lock_taken();
        match sink.try_write(cx, write, &self.shared.waiters) {
            Rest::Done => None,
            Rest::Wait(rest) => Some(Pending(rest, None)),
            Rest::Failed => {
                self.context.disconnect(DisconnectReason::WriteFailed);
                None
            }
        }
    }

    /// Every write that has to wait, one after another on one blocking-pool
    /// thread, awaited.
    async fn finish(waiting: Vec<(Self, Pending)>) {
        let runtime = Handle::current();
        let written = tokio::task::spawn_blocking(move || {
            for (member, pending) in waiting {
                member.finish_blocking(&runtime, pending);
            }
        });
        let _ = written.await;
    }
}

impl SharedSink for Writer {
    const NAME: &'static str = "ws-std-mutex";
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
        let writer = self.clone();
        let runtime = Handle::current();
        let closed = tokio::task::spawn_blocking(move || {
            // The connection is torn down by now, and a writer holding the
            // lock gives it up as soon as it sees that: this wait is short.
            let mut sink = writer
                .shared
                .sink
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            runtime.block_on(close_sink(sink.sink(), frame));
        });
        let _ = closed.await;
    }
}

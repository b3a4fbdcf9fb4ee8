//! The write half shared as `Arc<std::sync::Mutex<SplitSink<WebSocket, Message>>>`,
//! locked only where blocking is allowed.
//!
//! # How it works
//! Holding a `std::sync::MutexGuard` across an `.await` in a task is the
//! misuse this variant exists to avoid (see `MISUSE.md`): the future is not
//! `Send`, and where it compiles it can deadlock a runtime thread. But a send
//! on a WebSocket sink has to wait for the socket, and the guard has to be
//! held until it is done, or two writers interleave. So every send is moved
//! to tokio's blocking pool (`spawn_blocking`): there the thread locks the
//! mutex, drives the send to completion with the runtime handle's
//! `block_on`, and unlocks. The async caller awaits that blocking task, so
//! its messages stay in order. A broadcast takes one blocking task for the
//! whole room rather than one per member.
//!
//! Only the thread holding the lock ever polls the sink. That matters:
//! tokio-tungstenite keeps a single write waker per socket, so a design that
//! takes the lock inside `poll_*` functions with several writers waiting
//! would let each waiter overwrite the last one's waker, and a writer could
//! sleep forever (the lost wakeup).
//!
//! # Trade-offs
//! - A thread hop (to the blocking pool and back) on every send. See "Echo
//!   throughput" in `RESULTS.md`, and compare pinned with unpinned runs: the
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
//! # See also
//! [`MISUSE.md`](https://github.com/sink-sharing/sink-sharing/blob/main/crates/ws-std-mutex/MISUSE.md)
//! for what goes wrong with the naive form,
//! [tokio's "Which kind of mutex should you use?"](https://docs.rs/tokio/latest/tokio/sync/struct.Mutex.html#which-kind-of-mutex-should-you-use),
//! `ws-tokio-mutex` (the same with an async lock), `ws-mpsc-writer` (no lock).
//!
//! Run it with `cargo run -p ws-std-mutex --release -- --help`.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::Handle;
use ws_common::prelude::*;

/// A connection's shared write half: clones lock the same sink.
#[derive(Debug, Clone)]
pub struct Writer {
    sink: Arc<Mutex<WsSink>>,
    context: WriterContext,
}

impl Writer {
    /// Sends on this thread, which must be a blocking-pool thread: waits for
    /// the lock, then drives the send under the send timeout.
    fn send_blocking(&self, runtime: &Handle, message: Message) -> Result<(), Disconnected> {
        if self.context.is_disconnected() {
            return Err(Disconnected);
        }
        // A poisoned lock means a send panicked half-way; the sink is still a
        // valid object, and the send timeout decides whether it is usable.
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        runtime.block_on(self.context.send_with_timeout(&mut sink, message))
    }
}

impl SharedSink for Writer {
    const NAME: &'static str = "ws-std-mutex";

    fn share(sink: WsSink, context: WriterContext) -> Self {
        Self {
            sink: Arc::new(Mutex::new(sink)),
            context,
        }
    }

    async fn send(&self, message: Message) -> Result<(), Disconnected> {
        let writer = self.clone();
        let runtime = Handle::current();
        tokio::task::spawn_blocking(move || writer.send_blocking(&runtime, message))
            .await
            .unwrap_or(Err(Disconnected))
    }

    async fn broadcast(members: &[Self], message: Message) {
        let members = members.to_vec();
        let runtime = Handle::current();
        let sent = tokio::task::spawn_blocking(move || {
            for member in &members {
                // A failed member is disconnected by its own context.
                let _ = member.send_blocking(&runtime, message.clone());
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

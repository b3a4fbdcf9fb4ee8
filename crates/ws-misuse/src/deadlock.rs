//! Where the naive form compiles, it deadlocks.
//!
//! `tokio::spawn` requires a `Send` future, which is what rejects a
//! `std::sync::MutexGuard` held across `.await` (see `tests/ui/`). On a
//! current-thread runtime with a `LocalSet`, `spawn_local` does not require
//! `Send`, so the same code compiles, and then:
//!
//! 1. task A locks the std mutex and awaits a send that cannot complete yet,
//!    because the peer is not reading; the guard stays held while A waits;
//! 2. task B, on the same and only thread, calls `lock()`: the mutex is held,
//!    so `lock()` blocks that thread;
//! 3. the peer starts reading, A's waker fires, but the only thread that
//!    could poll A is inside `lock()`, waiting for A. Nothing ever moves.
//!
//! With [`Guard::Tokio`] the same program completes: B's `lock().await`
//! yields the thread instead of blocking it, so A resumes when the peer
//! reads. The binary `deadlock` runs either; `tests/deadlock.rs` runs both
//! under a watchdog that kills the hung one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio::sync::oneshot;
use tokio::task::LocalSet;
use tokio_tungstenite::tungstenite::Message;

use crate::stalled::{self, BIG_MESSAGE, Sink};

/// How long the peer waits before it starts reading: long enough for B to
/// reach `lock()` first, short enough for the fixed form to finish at once.
pub const PEER_DELAY: Duration = Duration::from_millis(100);

/// Printed by task A once its send has completed: the line the watchdog test
/// checks is absent when the program hangs.
pub const A_DONE: &str = "A: send completed, guard dropped";

/// Printed last by a run that did not deadlock.
pub const FINISHED: &str = "finished";

/// Which mutex the two tasks share the sink through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// `std::sync::Mutex`, guard held across `.await`: deadlocks.
    Std,
    /// `tokio::sync::Mutex`: the control, completes.
    Tokio,
}

impl std::str::FromStr for Guard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "std" => Ok(Self::Std),
            "tokio" => Ok(Self::Tokio),
            other => Err(format!("expected `std` or `tokio`, got `{other}`")),
        }
    }
}

/// Runs tasks A and B on a current-thread runtime and prints each step.
///
/// With [`Guard::Std`] this never returns: run it in a process you can kill.
pub fn run(guard: Guard) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds");
    let local = LocalSet::new();
    local.block_on(&rt, async move {
        let started = Instant::now();
        let (sink, peer) = stalled::stalled_sink().await;
        let _peer = peer.read_after(PEER_DELAY, || {
            println!("peer: reading now, A's send can complete");
        });
        // A tells B when it holds the guard, so that B calls `lock()` while A
        // waits on the send: the order is fixed, not left to the scheduler.
        let (locked_tx, locked_rx) = oneshot::channel();
        let (a, b) = match guard {
            Guard::Std => {
                let shared = Arc::new(std::sync::Mutex::new(sink));
                let a = tokio::task::spawn_local(std_task_a(shared.clone(), locked_tx));
                let b = tokio::task::spawn_local(std_task_b(shared, locked_rx));
                (a, b)
            }
            Guard::Tokio => {
                let shared = Arc::new(tokio::sync::Mutex::new(sink));
                let a = tokio::task::spawn_local(tokio_task_a(shared.clone(), locked_tx));
                let b = tokio::task::spawn_local(tokio_task_b(shared, locked_rx));
                (a, b)
            }
        };
        a.await.expect("task A does not panic");
        b.await.expect("task B does not panic");
        println!("{FINISHED} in {} ms", started.elapsed().as_millis());
    });
}

/// Task A, naive: holds the std guard across a send the peer is not reading.
#[expect(
    clippy::await_holding_lock,
    reason = "this is the misuse being demonstrated"
)]
async fn std_task_a(shared: Arc<std::sync::Mutex<Sink>>, locked: oneshot::Sender<()>) {
    let mut sink = shared.lock().expect("not poisoned");
    println!("A: holding the std guard, sending {BIG_MESSAGE} bytes to a peer that is not reading");
    let _ = locked.send(());
    // Pending until the peer reads: A yields here with the guard still held.
    if sink.send(stalled::big_message()).await.is_err() {
        println!("A: the peer is gone");
        return;
    }
    println!("{A_DONE}");
}

/// Task B, naive: wants the sink too, on the same thread.
#[expect(
    clippy::await_holding_lock,
    reason = "this is the misuse being demonstrated"
)]
async fn std_task_b(shared: Arc<std::sync::Mutex<Sink>>, locked: oneshot::Receiver<()>) {
    let _ = locked.await;
    println!("B: calling std lock() on the runtime's only thread");
    // Blocks the thread that A needs in order to release the guard.
    let mut sink = shared.lock().expect("not poisoned");
    println!("B: got the guard");
    let _ = sink.send(Message::text("from B")).await;
}

/// Task A, control: the same code with a tokio mutex.
async fn tokio_task_a(shared: Arc<tokio::sync::Mutex<Sink>>, locked: oneshot::Sender<()>) {
    let mut sink = shared.lock().await;
    println!(
        "A: holding the tokio guard, sending {BIG_MESSAGE} bytes to a peer that is not reading"
    );
    let _ = locked.send(());
    if sink.send(stalled::big_message()).await.is_err() {
        println!("A: the peer is gone");
        return;
    }
    println!("{A_DONE}");
}

/// Task B, control: `lock().await` yields the thread instead of blocking it.
async fn tokio_task_b(shared: Arc<tokio::sync::Mutex<Sink>>, locked: oneshot::Receiver<()>) {
    let _ = locked.await;
    println!("B: calling tokio lock().await on the runtime's only thread");
    let mut sink = shared.lock().await;
    println!("B: got the guard");
    let _ = sink.send(Message::text("from B")).await;
}

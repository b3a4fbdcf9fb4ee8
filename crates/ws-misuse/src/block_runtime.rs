//! Blocking a runtime worker stalls everyone else on it.
//!
//! A heartbeat task ticks every [`HEARTBEAT`] on a multi-thread runtime with
//! a fixed number of workers, and records how late its ticks fire. Meanwhile
//! `blockers` sends, each to its own peer that does not read for `stall`,
//! are made in one of four ways ([`Scenario`]): two that block a worker
//! thread, and the two ways of doing the same without blocking one. While a
//! worker is blocked it runs no other task and drives no timer: once as many
//! sends are blocked as there are workers, the heartbeat fires only when a
//! blocked call returns.
//!
//! This measures a hazard, not a speed: [`Report::heartbeat_max_late`] says
//! whether unrelated work was stopped for about as long as the sends were,
//! and the binary `block-runtime` prints it for a few worker counts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio::sync::oneshot;
use tokio::time::MissedTickBehavior;

use crate::stalled::{self, Sink};

/// Period of the unrelated heartbeat task.
pub const HEARTBEAT: Duration = Duration::from_millis(10);

/// How the one slow send is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `futures::executor::block_on(sink.send(msg))` inside a tokio task:
    /// blocks the worker until the peer reads.
    BlockOn,
    /// `sink.send(msg).await`: the control for [`Scenario::BlockOn`].
    Await,
    /// A blocking-pool thread holds the std mutex during the slow send (as
    /// `ws-std-mutex` does), and a task calls `lock()` directly on a worker:
    /// blocks the worker until the holder is done.
    LockOnWorker,
    /// The same contender, but it locks inside `spawn_blocking` (as
    /// `ws-std-mutex` does): the control for [`Scenario::LockOnWorker`].
    LockInSpawnBlocking,
}

impl Scenario {
    /// All four, each hazard followed by its control.
    pub const ALL: [Self; 4] = [
        Self::BlockOn,
        Self::Await,
        Self::LockOnWorker,
        Self::LockInSpawnBlocking,
    ];

    /// Whether this scenario blocks a worker thread.
    pub fn blocks_a_worker(self) -> bool {
        matches!(self, Self::BlockOn | Self::LockOnWorker)
    }

    /// A short name for printed tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::BlockOn => "block_on(send) on a worker",
            Self::Await => "send().await (control)",
            Self::LockOnWorker => "contended std lock() on a worker",
            Self::LockInSpawnBlocking => "std lock() in spawn_blocking (control)",
        }
    }
}

/// What one run observed.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    /// The scenario that ran.
    pub scenario: Scenario,
    /// Runtime worker threads.
    pub workers: usize,
    /// Slow sends made at the same time, each to its own stalled peer.
    pub blockers: usize,
    /// How long the peer did not read.
    pub stall: Duration,
    /// How long the slowest of the slow operations (the send, or waiting
    /// for the lock) took, measured around it.
    pub slow_op: Duration,
    /// The latest any heartbeat tick fired after its deadline.
    pub heartbeat_max_late: Duration,
    /// Heartbeat ticks over the whole run: the warm-up, the slow operation
    /// and the pause after it (about 37 when nothing held the heartbeat up
    /// during a 300 ms stall).
    pub heartbeat_ticks: u32,
}

/// Runs `blockers` slow operations of `scenario` at once on a fresh runtime
/// with `workers` workers, each peer not reading for `stall`.
pub fn measure(scenario: Scenario, workers: usize, blockers: usize, stall: Duration) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a multi-thread runtime builds");
    rt.block_on(async move {
        let (stop_tx, stop_rx) = oneshot::channel();
        let heartbeat = tokio::spawn(heartbeat(stop_rx));
        // Let the heartbeat settle into its rhythm before anything blocks.
        tokio::time::sleep(HEARTBEAT * 3).await;

        let mut ops = Vec::with_capacity(blockers);
        for _ in 0..blockers {
            let (sink, peer) = stalled::stalled_sink().await;
            peer.read_after(stall, || {});
            ops.push(tokio::spawn(slow_op(scenario, sink)));
        }
        let mut slowest = Duration::ZERO;
        for op in ops {
            let took = op.await.expect("the slow operation does not panic");
            slowest = slowest.max(took);
        }
        // A tick held up by a blocked worker fires right after it unblocks:
        // give it a moment to be recorded.
        tokio::time::sleep(HEARTBEAT * 3).await;
        let _ = stop_tx.send(());
        let (heartbeat_ticks, heartbeat_max_late) =
            heartbeat.await.expect("the heartbeat does not panic");
        Report {
            scenario,
            workers,
            blockers,
            stall,
            slow_op: slowest,
            heartbeat_max_late,
            heartbeat_ticks,
        }
    })
}

/// The unrelated task: ticks until stopped, returns (ticks, max lateness).
async fn heartbeat(mut stop: oneshot::Receiver<()>) -> (u32, Duration) {
    let mut interval = tokio::time::interval(HEARTBEAT);
    // Delay, not Burst: after a stall we want one late tick, measured, not a
    // burst of catch-up ticks that would each look late.
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut ticks = 0;
    let mut max_late = Duration::ZERO;
    loop {
        tokio::select! {
            deadline = interval.tick() => {
                ticks += 1;
                max_late = max_late.max(deadline.elapsed());
            }
            _ = &mut stop => return (ticks, max_late),
        }
    }
}

/// Runs the slow operation of `scenario`, as a task on a worker, and returns
/// how long it took.
async fn slow_op(scenario: Scenario, mut sink: Sink) -> Duration {
    let started = Instant::now();
    match scenario {
        Scenario::BlockOn => {
            // The "it's only one send" shortcut: a whole executor, run on a
            // thread that belongs to tokio.
            let _ = futures::executor::block_on(sink.send(stalled::big_message()));
        }
        Scenario::Await => {
            let _ = sink.send(stalled::big_message()).await;
        }
        Scenario::LockOnWorker | Scenario::LockInSpawnBlocking => {
            let shared = Arc::new(std::sync::Mutex::new(sink));
            let holder = hold_during_slow_send(shared.clone()).await;
            if scenario == Scenario::LockOnWorker {
                // Looks harmless: no `.await` while the guard is held. But the
                // lock is contended, so this call blocks the worker.
                drop(shared.lock().expect("not poisoned"));
            } else {
                tokio::task::spawn_blocking(move || drop(shared.lock().expect("not poisoned")))
                    .await
                    .expect("the contender does not panic");
            }
            holder.await.expect("the holder does not panic");
        }
    }
    started.elapsed()
}

/// Starts a send on a blocking-pool thread that holds the std mutex for as
/// long as the send takes, the way `ws-std-mutex` sends, and returns once
/// the guard is held.
async fn hold_during_slow_send(shared: Arc<std::sync::Mutex<Sink>>) -> tokio::task::JoinHandle<()> {
    let (locked_tx, locked_rx) = oneshot::channel();
    let handle = tokio::runtime::Handle::current();
    let holder = tokio::task::spawn_blocking(move || {
        let mut sink = shared.lock().expect("not poisoned");
        let _ = locked_tx.send(());
        // Blocking here is allowed: this is a blocking-pool thread.
        let _ = handle.block_on(sink.send(stalled::big_message()));
    });
    let _ = locked_rx.await;
    holder
}

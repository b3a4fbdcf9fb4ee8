//! Blocking a runtime worker (with `futures::executor::block_on`, or a
//! contended std `lock()`) stalls an unrelated heartbeat for about as long as
//! the slow send lasts; the non-blocking controls do not.
//!
//! The assertions are about the hazard, not a speed: "the heartbeat was held
//! up for most of the stall" versus "for a small part of it".

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ws_misuse::block_runtime::{self, Report, Scenario};

/// How long each peer does not read.
const STALL: Duration = Duration::from_millis(300);

/// Each measurement takes about `STALL`; anything near this is a hang.
const LIMIT: Duration = Duration::from_secs(20);

/// Runs one measurement on its own thread and fails if it does not report
/// within [`LIMIT`], so a regression that hangs fails instead of hanging.
fn measure(scenario: Scenario, workers: usize, blockers: usize) -> Report {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(block_runtime::measure(scenario, workers, blockers, STALL));
    });
    let report = rx
        .recv_timeout(LIMIT)
        .unwrap_or_else(|e| panic!("{scenario:?} did not finish within {LIMIT:?}: {e}"));
    println!("{report:?}");
    report
}

/// The blocked worker stopped the heartbeat for most of the stall.
fn assert_stalled(r: &Report) {
    assert!(
        r.heartbeat_max_late >= r.stall * 3 / 4,
        "{:?} on {} worker(s) with {} slow send(s) should hold the heartbeat up for most of the {:?} stall; it was at most {:?} late",
        r.scenario,
        r.workers,
        r.blockers,
        r.stall,
        r.heartbeat_max_late
    );
}

/// The heartbeat kept ticking while the slow send waited.
fn assert_not_stalled(r: &Report) {
    // The send itself still had to wait for the peer: the control is the
    // same slow send, only made without blocking a worker.
    assert!(r.slow_op >= r.stall * 3 / 4, "{r:?}: the send did not wait");
    assert!(
        r.heartbeat_max_late < r.stall / 2,
        "{:?} on {} worker(s) should not hold the heartbeat up; it was {:?} late",
        r.scenario,
        r.workers,
        r.heartbeat_max_late
    );
}

#[test]
fn block_on_on_the_only_worker_stalls_unrelated_tasks() {
    assert_stalled(&measure(Scenario::BlockOn, 1, 1));
    assert_not_stalled(&measure(Scenario::Await, 1, 1));
}

#[test]
fn contended_std_lock_on_the_only_worker_stalls_unrelated_tasks() {
    assert_stalled(&measure(Scenario::LockOnWorker, 1, 1));
    assert_not_stalled(&measure(Scenario::LockInSpawnBlocking, 1, 1));
}

#[test]
fn as_many_blocked_sends_as_workers_stall_the_whole_runtime() {
    assert_stalled(&measure(Scenario::BlockOn, 2, 2));
    assert_not_stalled(&measure(Scenario::Await, 2, 2));
}

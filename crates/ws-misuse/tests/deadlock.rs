//! The naive form deadlocks a current-thread runtime; the tokio-mutex form
//! of the same program completes.
//!
//! Each run is the `deadlock` binary in a child process under a watchdog: a
//! hung process can be killed, a hung thread cannot, so the suite itself
//! never hangs. The test fails if the deadlock stops happening.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ws_misuse::deadlock::{A_DONE, FINISHED, PEER_DELAY};

/// How long the naive run gets before the watchdog kills it: many times
/// what the control needs, so a kill means a hang, not a slow machine.
const HANG_AFTER: Duration = Duration::from_secs(3);

/// How long the control may take before the test calls it hung too.
const CONTROL_LIMIT: Duration = Duration::from_secs(20);

/// What the watchdog saw.
struct Outcome {
    /// `None` if the watchdog had to kill the child.
    exit: Option<std::process::ExitStatus>,
    stdout: String,
}

/// Runs the `deadlock` binary with `guard`, killing it after `limit`.
fn run_with_watchdog(guard: &str, limit: Duration) -> Outcome {
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_deadlock"))
        .arg(guard)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the deadlock binary starts");
    let deadline = Instant::now() + limit;
    let exit = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            child.kill().expect("the hung child can be killed");
            child.wait().expect("the killed child is reaped");
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    // The child is gone either way, so this read ends at EOF.
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_string(&mut stdout)
        .expect("the child's stdout is UTF-8");
    Outcome { exit, stdout }
}

#[test]
fn std_guard_across_await_deadlocks_a_current_thread_runtime() {
    let naive = run_with_watchdog("std", HANG_AFTER);
    println!("--- naive run (std::sync::Mutex) ---\n{}", naive.stdout);
    assert!(
        naive.exit.is_none(),
        "the naive form was expected to hang until the watchdog killed it, but it exited with {:?}",
        naive.exit
    );
    // The hang is the one described, not some other: A holds the guard, B is
    // in lock(), the peer has started reading, and A still never finished.
    assert!(naive.stdout.contains("A: holding the std guard"));
    assert!(naive.stdout.contains("B: calling std lock()"));
    assert!(
        naive.stdout.contains("peer: reading now"),
        "the watchdog should fire well after the peer started reading ({PEER_DELAY:?})"
    );
    assert!(!naive.stdout.contains(A_DONE));
    assert!(!naive.stdout.contains(FINISHED));
}

#[test]
fn tokio_mutex_control_completes() {
    let control = run_with_watchdog("tokio", CONTROL_LIMIT);
    println!(
        "--- control run (tokio::sync::Mutex) ---\n{}",
        control.stdout
    );
    let status = control
        .exit
        .expect("the control must finish before the watchdog fires");
    assert!(status.success(), "the control exited with {status}");
    assert!(control.stdout.contains(A_DONE));
    assert!(control.stdout.contains("B: got the guard"));
    assert!(control.stdout.contains(FINISHED));
}

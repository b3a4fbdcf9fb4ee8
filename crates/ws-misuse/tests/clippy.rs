//! `clippy::await_holding_lock` flags a std `MutexGuard` held across
//! `.await`, and does not flag the fixed form.
//!
//! Runs `cargo clippy` on `fixtures/naive-clippy` (no dependencies, its own
//! workspace, its own target dir) with the lint as an error. If cargo or
//! clippy cannot be run, the test fails: a missing tool must not read as
//! "the lint stayed quiet".

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Linting a dependency-free crate takes seconds; this is a hang.
const LIMIT: Duration = Duration::from_secs(120);

/// The message clippy prints for the lint.
const LINT_MESSAGE: &str = "this `MutexGuard` is held across an await point";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/naive-clippy/Cargo.toml")
}

/// Runs clippy on the fixture (with `--features fixed` if `fixed`) and
/// returns (success, stderr), failing the test on timeout or spawn error.
fn clippy(fixed: bool) -> (bool, String) {
    // The cargo that runs this test, so the same toolchain lints the fixture.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("naive-clippy");
    let mut cmd = Command::new(&cargo);
    cmd.arg("clippy")
        .arg("--manifest-path")
        .arg(fixture())
        .arg("--offline")
        .arg("--quiet")
        .arg("--target-dir")
        .arg(&target_dir);
    if fixed {
        cmd.args(["--features", "fixed"]);
    }
    cmd.args(["--", "-D", "clippy::await_holding_lock"])
        // Whatever the outer build set must not redirect or recolour this one.
        .env_remove("CARGO_TARGET_DIR")
        .env("CARGO_TERM_COLOR", "never")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {cargo:?} clippy: {e}"));
    // Drain stderr on a thread so a chatty child cannot fill the pipe and
    // stall while we wait for it.
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cargo clippy did not finish within {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let stderr = reader.join().expect("the stderr reader does not panic");
    println!("--- cargo clippy (fixed: {fixed}) exited with {status} ---\n{stderr}");
    assert!(
        !stderr.contains("no such command: `clippy`") && !stderr.contains("is not installed"),
        "clippy is not available to {cargo:?}: install it (rustup component add clippy)"
    );
    (status.success(), stderr)
}

#[test]
fn clippy_rejects_the_naive_form() {
    let (ok, stderr) = clippy(false);
    assert!(!ok, "clippy should fail on the naive form");
    assert!(
        stderr.contains(LINT_MESSAGE),
        "unexpected clippy output:\n{stderr}"
    );
    assert!(
        stderr.contains("await_holding_lock") || stderr.contains("await-holding-lock"),
        "the failure should name the lint:\n{stderr}"
    );
}

#[test]
fn clippy_accepts_the_fixed_form() {
    let (ok, stderr) = clippy(true);
    assert!(ok, "clippy should pass on the fixed form:\n{stderr}");
    assert!(!stderr.contains(LINT_MESSAGE));
}

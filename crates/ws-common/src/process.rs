//! The suite a server binary runs as a process: what only a real process
//! shows (exit codes, usage errors, closed output, signals). A variant joins
//! with one line, `ws_common::process_tests!(env!("CARGO_BIN_EXE_<name>"));`.
//!
//! Every child is killed if it outlives its bound, and every wait is bounded,
//! so a server that hangs fails the test instead of hanging it.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// How long a process that should exit at once (a usage error) may take.
const EXIT_BOUND: Duration = Duration::from_secs(10);

/// `--shutdown-grace` of the server the signal case starts.
const GRACE: Duration = Duration::from_secs(2);

/// Runs the process suite against the binary at `$bin`.
#[macro_export]
macro_rules! process_tests {
    ($bin:expr) => {
        #[test]
        fn bad_flags_are_usage_errors() {
            $crate::process::bad_flags_are_usage_errors($bin);
        }

        #[test]
        fn closed_output_is_not_fatal_and_sigterm_ends_the_server() {
            $crate::process::closed_output_is_not_fatal_and_sigterm_ends_the_server($bin);
        }

        #[test]
        fn a_full_stderr_does_not_stall_the_server() {
            $crate::process::a_full_stderr_does_not_stall_the_server($bin);
        }

        #[test]
        fn out_of_descriptors_the_server_keeps_serving_and_recovers() {
            $crate::process::out_of_descriptors_the_server_keeps_serving_and_recovers($bin);
        }
    };
}

/// One bad value of each class, and a word its error must name.
const BAD_FLAGS: &[(&str, &[&str], &str)] = &[
    (
        "a zero duration",
        &["--ping-interval", "0s"],
        "--ping-interval",
    ),
    (
        "a zero idle timeout",
        &["--idle-timeout", "0s"],
        "--idle-timeout",
    ),
    (
        "a zero send timeout",
        &["--send-timeout", "0s"],
        "--send-timeout",
    ),
    (
        "a zero handshake timeout",
        &["--handshake-timeout", "0ms"],
        "--handshake-timeout",
    ),
    (
        "a negative duration",
        &["--shutdown-grace=-1s"],
        "--shutdown-grace",
    ),
    (
        "an absurd duration",
        &["--ping-interval", "300years"],
        "--ping-interval",
    ),
    ("zero workers", &["--workers", "0"], "--workers"),
    (
        "a size below the protocol's needs",
        &["--max-message-size", "100"],
        "--max-message-size",
    ),
    (
        "a read buffer too small",
        &["--read-buffer-size", "0"],
        "--read-buffer-size",
    ),
    (
        "a zero count",
        &["--max-connections", "0"],
        "--max-connections",
    ),
    (
        "a zero queue",
        &["--queue-capacity", "0"],
        "--queue-capacity",
    ),
    (
        "an idle timeout not longer than the ping interval",
        &["--ping-interval", "30s", "--idle-timeout", "30s"],
        "--idle-timeout",
    ),
];

/// Every class of bad value exits with code 2 and a clap error naming the
/// flag, before anything is served.
pub fn bad_flags_are_usage_errors(bin: &str) {
    for (class, args, flag) in BAD_FLAGS {
        let child = Command::new(bin)
            .args(["--addr", "127.0.0.1:0"])
            .args(*args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        let (status, stdout, stderr) = wait_with_output(child, EXIT_BOUND)
            .unwrap_or_else(|| panic!("{class} ({args:?}): the server kept running"));
        assert_eq!(status.code(), Some(2), "{class} ({args:?}): {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:") && first.contains(flag),
            "{class} ({args:?}): the first line must be the error, naming {flag}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{class} ({args:?}): {stderr}");
        assert_eq!(stdout, "", "{class} ({args:?}): nothing may be served");
    }
}

/// Started as `server | head -1` would leave it (stdout closed after the
/// first line) with stderr closed from the start and every log line on, the
/// server still serves an echo, and SIGTERM ends it within the grace.
pub fn closed_output_is_not_fatal_and_sigterm_ends_the_server(bin: &str) {
    let (stderr_reader, stderr_writer) = std::io::pipe().expect("a pipe");
    drop(stderr_reader);
    let mut child = Command::new(bin)
        .args(["--addr", "127.0.0.1:0", "--workers", "2"])
        .args(["--shutdown-grace", &format!("{}s", GRACE.as_secs())])
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr_writer)
        .spawn()
        .expect("the server binary starts");
    let guard = KillOnDrop(child.id());
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut first = String::new();
    // The banner is written once the socket is bound; a server that dies
    // first closes stdout, which ends the read.
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("read the banner's first line");
    // Dropping the reader above closed stdout: every later write fails.
    let addr: SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("the first line names the address: {first:?}"));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let echo = async {
            let url = format!("ws://{addr}/ws/echo");
            let (mut client, _) = tokio_tungstenite::connect_async(url).await?;
            for round in 0..20 {
                let text = format!("still serving {round}");
                client.send(Message::text(text.clone())).await?;
                match client.next().await {
                    Some(Ok(Message::Text(got))) if got.as_str() == text => {}
                    other => panic!("round {round}: expected the echo, got {other:?}"),
                }
            }
            Ok::<_, tokio_tungstenite::tungstenite::Error>(())
        };
        tokio::time::timeout(Duration::from_secs(10), echo)
            .await
            .expect("the echo within 10 s")
            .expect("the echo works");
    });
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the server is still running after its output closed"
    );

    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid fits")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("send SIGTERM");
    let bound = GRACE + Duration::from_secs(1);
    let status = wait_until(&mut child, bound)
        .unwrap_or_else(|| panic!("the server ignored SIGTERM for {bound:?}"));
    drop(guard);
    assert!(
        status.success(),
        "a clean shutdown exits with 0: {status} after {:?}",
        sent.elapsed()
    );
}

/// Echo round trips of the full-stderr case: with every log line on, each
/// writes a few lines, far more than a pipe holds.
const FULL_STDERR_ROUNDS: usize = 2000;

/// With stderr a pipe that nobody reads and every log line on, the pipe
/// fills within a few round trips; the server keeps echoing (its log lines
/// are dropped rather than waited for) and still stops on SIGTERM.
pub fn a_full_stderr_does_not_stall_the_server(bin: &str) {
    let mut child = Command::new(bin)
        .args(["--addr", "127.0.0.1:0", "--workers", "2"])
        .args(["--shutdown-grace", &format!("{}s", GRACE.as_secs())])
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let guard = KillOnDrop(child.id());
    // Held, never read, until the end.
    let _stderr = child.stderr.take();
    let mut first = String::new();
    let stdout = child.stdout.take().expect("stdout is piped");
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("read the banner's first line");
    let addr: SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("the first line names the address: {first:?}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let echo = async {
            let url = format!("ws://{addr}/ws/echo");
            let (mut client, _) = tokio_tungstenite::connect_async(url).await?;
            for round in 0..FULL_STDERR_ROUNDS {
                let text = format!("logging into a full pipe {round}");
                client.send(Message::text(text.clone())).await?;
                match client.next().await {
                    Some(Ok(Message::Text(got))) if got.as_str() == text => {}
                    other => panic!("round {round}: expected the echo, got {other:?}"),
                }
            }
            Ok::<_, tokio_tungstenite::tungstenite::Error>(())
        };
        tokio::time::timeout(Duration::from_secs(30), echo)
            .await
            .expect("every echo within 30 s: a server blocked on its log would stall")
            .expect("the echo works");
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid fits")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("send SIGTERM");
    let bound = GRACE + Duration::from_secs(1);
    wait_until(&mut child, bound)
        .unwrap_or_else(|| panic!("the server ignored SIGTERM for {bound:?}"));
    drop(guard);
}

/// The open-files limit the descriptor case runs the server under: a few
/// dozen sockets past what the runtime itself needs.
const LOW_FD_LIMIT: u32 = 48;

/// Clients the descriptor case tries to open: more than the limit allows.
const FD_CLIENTS: usize = 64;

/// Run under `prlimit --nofile` (util-linux) with few descriptors, the
/// server runs out of them: it keeps echoing on the connections it has,
/// logs one line for the episode (not one per failed accept), and once
/// clients leave it accepts again and logs that once.
pub fn out_of_descriptors_the_server_keeps_serving_and_recovers(bin: &str) {
    let limit = format!("--nofile={LOW_FD_LIMIT}:{LOW_FD_LIMIT}");
    let mut child = Command::new("prlimit")
        .args([
            limit.as_str(),
            "--",
            bin,
            "--addr",
            "127.0.0.1:0",
            "--workers",
            "2",
        ])
        .args(["--shutdown-grace", &format!("{}s", GRACE.as_secs())])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) runs the server binary");
    let guard = KillOnDrop(child.id());
    let mut first = String::new();
    let stdout = child.stdout.take().expect("stdout is piped");
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("read the banner's first line");
    let addr: SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("the first line names the address: {first:?}"));
    let stderr = child.stderr.take().expect("stderr is piped");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    // Ends when the server exits (its stderr closes).
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let count = |log: &[String], what: &str| log.iter().filter(|l| l.contains(what)).count();
    let mut log = Vec::new();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let url = format!("ws://{addr}/ws/echo");
        let mut open = Vec::new();
        let mut refused = 0;
        for _ in 0..FD_CLIENTS {
            // Past the limit the TCP handshake still completes (the kernel's
            // backlog), but the upgrade is never answered.
            match tokio::time::timeout(
                Duration::from_millis(300),
                tokio_tungstenite::connect_async(url.clone()),
            )
            .await
            {
                Ok(Ok((client, _))) => open.push(client),
                _ => refused += 1,
            }
            // A few unanswered ones are the episode; more only take time.
            if refused == 3 {
                break;
            }
        }
        assert!(
            refused > 0,
            "{FD_CLIENTS} clients all served under a limit of {LOW_FD_LIMIT} files"
        );
        assert!(!open.is_empty(), "no client served at all");
        // Several backoff periods: still one line for the episode.
        tokio::time::sleep(Duration::from_secs(2)).await;
        for (i, client) in open.iter_mut().enumerate() {
            let text = format!("out of descriptors {i}");
            let echoed = async {
                client.send(Message::text(text.clone())).await?;
                loop {
                    match client.next().await {
                        Some(Ok(Message::Text(got))) if got.as_str() == text => return Ok(()),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        other => panic!("client {i}: expected the echo, got {other:?}"),
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(5), echoed)
                .await
                .unwrap_or_else(|_| panic!("client {i}: no echo while out of descriptors"))
                .unwrap_or_else(|err: tokio_tungstenite::tungstenite::Error| {
                    panic!("client {i}: {err}")
                });
        }
        log.extend(lines.try_iter());
        assert_eq!(count(&log, "cannot accept connections"), 1, "{log:#?}");
        for mut client in open {
            let _ = client.close(None).await;
        }
        // Accepting again within a backoff period or so.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let attempt = tokio::time::timeout(
                Duration::from_secs(2),
                tokio_tungstenite::connect_async(url.clone()),
            )
            .await;
            if let Ok(Ok((mut client, _))) = attempt {
                let _ = client.close(None).await;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not accepting again after clients left"
            );
        }
    });
    // The "again" line may trail the first accept by a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&log, "accepting connections again") == 0 && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            log.push(line);
        }
    }
    assert_eq!(count(&log, "accepting connections again"), 1, "{log:#?}");
    assert_eq!(count(&log, "cannot accept connections"), 1, "{log:#?}");
    assert_eq!(count(&log, "panicked"), 0, "{log:#?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid fits")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("send SIGTERM");
    let bound = GRACE + Duration::from_secs(1);
    wait_until(&mut child, bound)
        .unwrap_or_else(|| panic!("the server ignored SIGTERM for {bound:?}"));
    drop(guard);
}

/// Waits for `child` to exit, polling, for at most `bound`; kills it and
/// returns `None` if it does not.
fn wait_until(child: &mut Child, bound: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Like [`wait_until`], then reads what the child wrote.
fn wait_with_output(mut child: Child, bound: Duration) -> Option<(ExitStatus, String, String)> {
    let status = wait_until(&mut child, bound)?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    Some((status, stdout, stderr))
}

/// Kills a child that a failed assertion would otherwise leave running.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

//! The binary: exit codes, one-line errors, and the outputs (--json, --hdr, merge).

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{Fault, TestServer};

const BIN: &str = env!("CARGO_BIN_EXE_ws-loadgen");

async fn run(args: &[&str]) -> Output {
    let fut = tokio::process::Command::new(BIN)
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(std::time::Duration::from_secs(30), fut)
        .await
        .expect("ws-loadgen exceeded its time bound")
        .expect("spawn ws-loadgen")
}

/// Exit code 2, nothing on stdout, exactly one line on stderr containing `needle`.
fn assert_usage_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ws-loadgen-test-{}-{name}", std::process::id()))
}

#[tokio::test]
async fn unknown_scenario_is_a_usage_error() {
    assert_usage_error(&run(&["flood"]).await, "unrecognized subcommand");
}

#[tokio::test]
async fn bad_url_is_a_usage_error() {
    assert_usage_error(
        &run(&["echo", "--url", "http://127.0.0.1:1/ws/echo"]).await,
        "not ws://",
    );
    assert_usage_error(&run(&["echo", "--url", "not a url"]).await, "invalid URL");
    assert_usage_error(
        &run(&["echo", "--url", "wss://127.0.0.1:1/"]).await,
        "not supported",
    );
}

#[tokio::test]
async fn refused_connection_is_a_connection_error() {
    // A port that was just free: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("ws://127.0.0.1:{port}/ws/echo");
    assert_usage_error(
        &run(&["echo", "--url", &url, "--duration", "1s"]).await,
        "cannot connect",
    );
    assert_usage_error(
        &run(&["connect", "--url", &url, "--conns", "3"]).await,
        "cannot connect",
    );
}

#[tokio::test]
async fn impossible_combinations_are_usage_errors() {
    assert_usage_error(
        &run(&["echo", "--rate", "100", "--inflight", "4"]).await,
        "cannot be used with",
    );
    assert_usage_error(
        &run(&["echo", "--size", "8"]).await,
        "smaller than the 32 B header",
    );
    assert_usage_error(
        &run(&["echo", "--size", "40", "--text"]).await,
        "smaller than the 64 B header",
    );
    assert_usage_error(
        &run(&["room", "--conns", "4", "--senders", "5"]).await,
        "--senders 5",
    );
    assert_usage_error(
        &run(&["slow", "--conns", "3", "--stalled", "3"]).await,
        "healthy",
    );
    assert_usage_error(&run(&["slow"]).await, "--slow K or --stalled K");
    // A paced slow reader: a fraction of a rate that must exist, instead of a delay.
    let paced: [(&[&str], &str); 4] = [
        (
            &["--slow-pace", "0.8", "--slow-delay", "1ms"],
            "cannot be used with",
        ),
        (&["--slow-pace", "0.8", "--inflight", "4"], "needs --rate"),
        (&["--slow-pace", "0"], "--slow-pace"),
        (&["--metrics-url", "ws://127.0.0.1:1/metrics"], "http://"),
    ];
    for (extra, needle) in paced {
        let args: Vec<&str> = ["slow", "--slow", "1"]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        assert_usage_error(&run(&args).await, needle);
    }
    assert_usage_error(&run(&["echo", "--duration", "ten"]).await, "--duration");
    assert_usage_error(&run(&["echo", "--threads", "0"]).await, "--threads");
    for scenario in ["echo", "room", "connect"] {
        assert_usage_error(
            &run(&[scenario, "--ping-interval", "0s"]).await,
            "--ping-interval must be more than 0",
        );
    }
    assert_usage_error(&run(&["merge"]).await, "required");
    // Several --url: by turns, closed loop, one --server-pid per URL.
    let two = [
        "echo",
        "--url",
        "ws://127.0.0.1:1/ws/echo",
        "--url",
        "ws://127.0.0.1:2/ws/echo",
    ];
    let sliced: [(&[&str], &str); 4] = [
        (&["--rate", "100"], "--rate takes one --url"),
        (&["--server-pid", "1"], "one per URL"),
        (&["--warmup", "100ms"], "one round of slices"),
        (&["--slice-gap", "150ms"], "at most half"),
    ];
    for (extra, needle) in sliced {
        let args: Vec<&str> = two.iter().chain(extra).copied().collect();
        assert_usage_error(&run(&args).await, needle);
    }
    assert_usage_error(
        &run(&["room", "--server-pid", "1", "--server-pid", "2"]).await,
        "--server-pid is given once",
    );
    assert_usage_error(
        &run(&["echo", "--slice", "100ms"]).await,
        "take several --url",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_run_writes_json_with_top_level_counters_and_hdr_that_merges() {
    let s = TestServer::start(Fault::None).await;
    let json = temp_path("run.json");
    let hdr = temp_path("run.hdr");
    let url = s.url("/ws/echo");
    let out = run(&[
        "echo",
        "--url",
        &url,
        "--conns",
        "2",
        "--duration",
        "500ms",
        "--warmup",
        "100ms",
        "--json",
        json.to_str().expect("utf8"),
        "--hdr",
        hdr.to_str().expect("utf8"),
        "--quiet",
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "--quiet prints nothing");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json file")).expect("valid json");
    for key in [
        "lost",
        "duplicated",
        "reordered",
        "corrupted",
        "close_codes",
    ] {
        assert!(v.get(key).is_some(), "{key} missing at top level: {v}");
    }
    assert_eq!(v["scenario"], "echo");
    assert_eq!(v["config"]["duration"], "500ms");
    assert!(v["latency"]["delivered"]["p99_us"].as_u64().is_some());

    // Two copies of the same run merge into twice the count.
    let merged = temp_path("merged.hdr");
    let out = run(&[
        "merge",
        hdr.to_str().expect("utf8"),
        hdr.to_str().expect("utf8"),
        "--json",
        "-",
        "--hdr",
        merged.to_str().expect("utf8"),
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find('{').expect("json on stdout");
    let m: serde_json::Value = serde_json::from_str(&text[start..]).expect("merge json");
    assert_eq!(
        m["distributions"]["latency"]["count"].as_u64(),
        v["latency"]["delivered"]["count"].as_u64().map(|c| c * 2)
    );
    assert_eq!(m["lost"], 0);
    for f in [json, hdr, merged] {
        let _ = std::fs::remove_file(f);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn strict_turns_integrity_failures_into_exit_code_1() {
    let s = TestServer::start(Fault::Duplicate(50)).await;
    let url = s.url("/ws/echo");
    let args = [
        "echo",
        "--url",
        &url,
        "--conns",
        "2",
        "--duration",
        "400ms",
        "--warmup",
        "0s",
        "--inflight",
        "4",
    ];
    let out = run(&args).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "without --strict a completed run exits 0"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED"));
    let mut strict = args.to_vec();
    strict.push("--strict");
    assert_eq!(run(&strict).await.status.code(), Some(1));
}

#[tokio::test]
async fn merge_of_a_missing_file_is_an_error() {
    assert_usage_error(
        &run(&["merge", "/nonexistent/ws-loadgen.hdr"]).await,
        "/nonexistent/ws-loadgen.hdr",
    );
}

//! The `churn`, `badinput` and `hostile` scenarios against real servers in process:
//! a correct server releases everything after churn and answers every bad
//! input as RFC 6455 prescribes, and both runs show it.

use std::time::Duration;

use ws_common::ServerConfig;
use ws_common::testkit::TestServer;
use ws_loadgen::{Report as _, badinput, churn, hostile};

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test exceeded its time bound")
}

fn config() -> ServerConfig {
    ServerConfig {
        workers: Some(1),
        max_message_size: 64 << 10,
        shutdown_grace: Duration::from_secs(1),
        ..ServerConfig::ephemeral()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaves_a_room_server_with_nothing_open() {
    let server = TestServer::start::<ws_mpsc_writer::Writer>(config()).expect("server");
    let report = bounded(churn::run(churn::Config {
        url: server.url("/ws/room/churn"),
        cycles: 300,
        rounds: 2,
        concurrency: 16,
        settle: Duration::from_secs(5),
        // The server runs in this process, so its RSS is ours.
        server_pid: Some(i32::try_from(std::process::id()).expect("pid")),
        metrics_url: Some(format!("http://{}/metrics", server.addr())),
        ..churn::Config::default()
    }))
    .await
    .expect("churn run");
    let table = report.table();
    assert_eq!(report.cycles_done, 600, "two rounds: {table}");
    assert_eq!(report.rss_after_rounds.len(), 2, "{table}");
    assert!(report.last_round_vs_first.is_some(), "{table}");
    assert!(table.contains("server RSS after each round"), "{table}");
    assert_eq!(report.failures, 0, "{table}");
    assert!(
        report.abrupt > 0 && report.mid_message > 0 && report.polite > 0,
        "{table}"
    );
    assert_eq!(report.leaked, Some(false), "{table}");
    assert!(!report.failed(), "{table}");
    assert!(report.rss_after_bytes.is_some(), "{table}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["lost"], 0);
    assert_eq!(json["metrics_after"]["connections"], 0.0);
    assert_eq!(server.metrics().connections.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badinput_finds_every_answer_as_the_rfc_prescribes() {
    let server = TestServer::start::<ws_tokio_mutex::Writer>(config()).expect("server");
    let report = bounded(badinput::run(badinput::Config {
        url: server.url("/ws/echo"),
        max_message_size: 64 << 10,
        ..badinput::Config::default()
    }))
    .await
    .expect("badinput run");
    let table = report.table();
    assert!(report.inputs_tried > 30, "{table}");
    assert_eq!(report.canary_failures, 0, "{table}");
    assert_eq!(report.not_as_rfc, 0, "{table}");
    assert!(report.integrity.close_codes.contains_key(&1002), "{table}");
    assert!(report.integrity.close_codes.contains_key(&1007), "{table}");
    assert!(report.integrity.close_codes.contains_key(&1009), "{table}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["inputs"][0]["http_status"], 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badinput_notices_a_wrong_limit() {
    // Told the limit is larger than it is, the oversized inputs are not
    // oversized for the run's expectations: the server's 1009 for the
    // two-fragment message then shows up as not as prescribed.
    let server = TestServer::start::<ws_tokio_mutex::Writer>(config()).expect("server");
    let report = bounded(badinput::run(badinput::Config {
        url: server.url("/ws/echo"),
        max_message_size: 32 << 10,
        timeout: Duration::from_millis(500),
        ..badinput::Config::default()
    }))
    .await
    .expect("badinput run");
    assert_eq!(report.canary_failures, 0, "{}", report.table());
    assert!(report.failed(), "{}", report.table());
}

const BIN: &str = env!("CARGO_BIN_EXE_ws-loadgen");

async fn run_bin(args: &[&str]) -> std::process::Output {
    let fut = tokio::process::Command::new(BIN)
        .args(args)
        .kill_on_drop(true)
        .output();
    bounded(fut).await.expect("spawn ws-loadgen")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_both_scenarios_with_json_and_exit_codes() {
    let server = TestServer::start::<ws_std_mutex::Writer>(config()).expect("server");
    let url = server.url("/ws/echo");
    let metrics = format!("http://{}/metrics", server.addr());
    let out = run_bin(&[
        "badinput",
        "--url",
        &url,
        "--max-message-size",
        "65536",
        "--json",
        "-",
        "--quiet",
        "--strict",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(json["scenario"], "badinput");
    assert_eq!(json["canary_failures"], 0);
    assert!(json["inputs_tried"].as_u64() > Some(30));

    let out = run_bin(&[
        "churn",
        "--url",
        &url,
        "--cycles",
        "100",
        "--settle",
        "3s",
        "--metrics-url",
        &metrics,
        "--json",
        "-",
        "--quiet",
        "--strict",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(json["cycles_done"], 100);
    assert_eq!(json["leaked"], false);

    let out = run_bin(&[
        "churn",
        "--url",
        &url,
        "--abrupt-fraction",
        "0.1",
        "--mid-message-fraction",
        "0.2",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mid-message-fraction"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_meet_the_budget_and_the_handshake_timeout() {
    let handshake_timeout = Duration::from_millis(500);
    let budget = 256 << 10;
    let server = TestServer::start::<ws_std_mutex::Writer>(ServerConfig {
        max_inbound_bytes: budget,
        handshake_timeout,
        ..config()
    })
    .expect("server");
    let report = bounded(hostile::run(hostile::Config {
        url: server.url("/ws/echo"),
        attackers: 8,
        partial: 60 << 10,
        declared: 64 << 10,
        budget: Some(budget),
        slow: 50,
        handshake_timeout,
        timeout: Duration::from_secs(5),
        server_pid: Some(i32::try_from(std::process::id()).expect("pid")),
    }))
    .await
    .expect("hostile run");
    let table = report.table();
    // The control sent the same messages one at a time: never near the
    // budget, each released when its sender half-closed.
    let control = &report.abandoned;
    assert_eq!(control.messages, 8, "{table}");
    assert_eq!(control.bytes_sent, report.partial.bytes_sent, "{table}");
    assert_eq!(control.closed_1009, 0, "{table}");
    assert_eq!(control.released, 8, "{table}");
    assert!(control.other.is_empty(), "{table}");
    // 8 x 60 KiB is almost twice the budget: at least 4 must go.
    assert!(report.partial.closed_1009 >= 4, "{table}");
    assert!(report.partial.left_open >= 1, "{table}");
    assert!(report.partial.server.is_some(), "{table}");
    assert_eq!(report.slow.opened, 50, "{table}");
    assert_eq!(report.slow.closed_in_time, 50, "{table}");
    assert!(report.slow.new_clients_ok > 0, "{table}");
    // The canary echoed before and after the bytes: a second of baseline at
    // one echo due every 250 µs is ~4,000 round trips, and the second in which the
    // attackers left open were awaited, and the slow requests. (Here the
    // control's and the attack's bytes take milliseconds: their phases may
    // hold no echo at all.)
    let canary = &report.canary;
    assert!(canary.quiet.latency.count >= 50, "{table}");
    assert!(canary.held.latency.count >= 50, "{table}");
    assert!(canary.slow.latency.count > 0, "{table}");
    assert!(
        canary.quiet.latency.p50_us > 0
            && canary.quiet.latency.p50_us <= canary.quiet.latency.max_us,
        "{table}"
    );
    assert!(!report.failed(), "{table}");
}

//! Heartbeat punctuality: the interval recorder on synthetic timestamps
//! (exact values), and the pings of real servers in process, pinging every
//! 100 ms, as idle connections, echo connections under a flood and a slow
//! room's healthy members see them. The bands on real runs are wide (a
//! loaded CI machine stays inside them); the counts are what a recorder
//! that missed pings, or counted some twice, could not meet.

use std::time::Duration;

use ws_common::ServerConfig;
use ws_common::testkit::TestServer;
use ws_loadgen::heartbeat::{HeartbeatReport, Multiples, PingTally};
use ws_loadgen::report::Table;
use ws_loadgen::{MessageLoad, Report as _, connect, echo, slow};

const PING: Duration = Duration::from_millis(100);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test exceeded its time bound")
}

fn server(ping_interval: Duration) -> TestServer {
    TestServer::start::<ws_mpsc_writer::Writer>(ServerConfig {
        workers: Some(1),
        ping_interval,
        send_timeout: Duration::from_millis(500),
        shutdown_grace: Duration::from_secs(1),
        ..ServerConfig::ephemeral()
    })
    .expect("start")
}

/// Intervals near the server's: p50 within a generous band of 1×.
fn assert_punctual(h: &HeartbeatReport, what: &str) {
    let x = h
        .intervals_x
        .unwrap_or_else(|| panic!("{what}: no multiples: {h:?}"));
    assert!((0.5..=3.0).contains(&x.p50), "{what}: p50 {x:?} of {h:?}");
    assert_eq!(h.ping_interval_us, Some(100_000), "{what}");
}

#[test]
fn the_recorder_measures_intervals_and_silences_exactly() {
    // Server interval 500 µs, window [0.25 ms, 3.5 ms); every value below
    // 2,048 µs, which the histogram holds exactly.
    let tally = PingTally::new(Some(Duration::from_micros(500)));
    let (from, to) = (250_000, 3_500_000);

    // A: one ping before the window (the first interval is a whole one),
    // then on time but one late by a whole interval: exactly 2×, not over.
    let mut a = tally.recorder(from, to);
    for t in [100_000, 600_000, 1_100_000, 1_600_000, 2_600_000, 3_750_000] {
        a.ping(t);
    }
    a.finish(4_000_000);
    // B: a 1.5 ms gap (3×), closed before the window's end.
    let mut b = tally.recorder(from, to);
    b.ping(500_000);
    b.ping(2_000_000);
    b.finish(3_000_000);
    b.finish(3_400_000); // only the first finish counts
    // C: no ping at all in the window: silent for all of it.
    let mut c = tally.recorder(from, to);
    c.finish(3_500_000);
    // D: gone before the window: not a connection of the window.
    let mut d = tally.recorder(from, to);
    d.ping(100_000);
    d.finish(200_000);

    let r = tally.report().expect("a report");
    assert_eq!(r.connections, 3);
    assert_eq!(r.pings, 6);
    assert_eq!(r.ping_interval_us, Some(500));
    assert_eq!(r.intervals.count, 5); // 500, 500, 500, 1000, 1500
    assert_eq!(
        (r.intervals.p50_us, r.intervals.p99_us, r.intervals.max_us),
        (500, 1_500, 1_500)
    );
    assert_eq!(
        r.intervals_x,
        Some(Multiples {
            p50: 1.0,
            p99: 3.0,
            max: 3.0
        })
    );
    assert_eq!(r.longest_silence_us, 3_250);
    assert_eq!(r.longest_silence_x, Some(6.5));
    assert_eq!(r.connections_silent_over_2x, Some(2));
    assert_eq!(r.connections_without_ping, 1);
    assert_eq!(tally.histogram().len(), 5);

    let table = Table::new("t").heartbeat("heartbeat", &r).finish();
    assert!(table.contains("6 pings on 3 connections"), "{table}");
    assert!(table.contains("p50 500µs (1.00×)"), "{table}");
    assert!(table.contains("LATE PINGS"), "{table}");
}

#[test]
fn without_the_interval_only_absolute_figures_are_reported() {
    let tally = PingTally::new(None);
    let mut a = tally.recorder(0, 10_000_000);
    for t in [1_000_000, 2_000_000, 3_000_000] {
        a.ping(t);
    }
    a.finish(10_000_000);
    let r = tally.report().expect("pings were seen");
    assert_eq!(
        (r.pings, r.intervals.count, r.intervals.p50_us),
        (3, 2, 1_000)
    );
    assert_eq!(r.ping_interval_us, None);
    assert_eq!(r.intervals_x, None);
    assert_eq!(r.longest_silence_us, 7_000);
    assert_eq!(r.longest_silence_x, None);
    assert_eq!(r.connections_silent_over_2x, None);
    let table = Table::new("t").heartbeat("heartbeat", &r).finish();
    assert!(!table.contains("LATE PINGS"), "{table}");

    // No interval and no ping: nothing to say.
    let quiet = PingTally::new(None);
    quiet.recorder(0, 10).finish(10);
    assert_eq!(quiet.report(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn idle_connections_see_pings_at_the_servers_interval() {
    let server = server(PING);
    let hold = Duration::from_secs(1);
    let conns = 4;
    let r = bounded(connect::run(connect::Config {
        url: server.url("/ws/echo"),
        conns,
        hold,
        ping_interval: Some(PING),
        // The server runs in this process: its CPU during the hold is read
        // (the heartbeat's cost), not judged.
        server_pid: Some(i32::try_from(std::process::id()).expect("pid")),
        ..connect::Config::default()
    }))
    .await
    .expect("connect run");
    let cores = r.hold_server_cpu_cores.expect("the hold's CPU");
    let measured = r
        .outcome
        .server
        .as_ref()
        .and_then(|s| s.measured_cpu_seconds)
        .expect("the hold is the measured window");
    assert!(cores >= 0.0, "{}", r.table());
    assert!(
        (cores * hold.as_secs_f64() - measured).abs() < 1e-9,
        "{}",
        r.table()
    );
    let h = r.heartbeat.as_ref().expect("a heartbeat");
    assert_eq!(h.connections, conns as u64, "{}", r.table());
    assert_punctual(h, "idle");
    // 1 s of hold at 100 ms: about 10 pings per connection.
    let per_conn = h.pings as f64 / conns as f64;
    assert!((7.0..=11.0).contains(&per_conn), "{}", r.table());
    assert!(h.intervals.count >= h.pings - conns as u64, "{h:?}");
    assert!(r.table().contains("ping intervals"), "{}", r.table());

    let json = serde_json::to_value(&r).expect("json");
    assert!(json["heartbeat"]["intervals_x"]["p50"].is_f64(), "{json}");
    assert!(json["heartbeat"]["intervals"]["p99_us"].is_u64(), "{json}");
    // The scenario's own keys stay at the top level.
    assert_eq!(json["established"], conns as u64);
    assert_eq!(json["config"]["ping_interval"], "100ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn echo_connections_under_a_flood_still_see_pings() {
    let server = server(PING);
    let r = bounded(echo::run(echo::Config {
        url: server.url("/ws/echo"),
        conns: 8,
        load: MessageLoad {
            inflight: 16,
            duration: Duration::from_secs(1),
            warmup: Duration::from_millis(200),
            ping_interval: Some(PING),
            ..echo::Config::default().load
        },
        ..echo::Config::default()
    }))
    .await
    .expect("echo run");
    assert!(!r.integrity.has_failures(), "{}", r.table());
    let h = r.heartbeat.as_ref().expect("a heartbeat");
    assert_eq!(h.connections, 8, "{}", r.table());
    assert!(h.pings >= 8 * 4, "{}", r.table());
    assert_punctual(h, "echo flood");
    assert!(
        r.histograms()
            .iter()
            .any(|n| n.tag == "heartbeat_intervals"),
        "--hdr gets the intervals"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_slow_room_reports_its_healthy_members_pings_apart() {
    let server = server(PING);
    let r = bounded(slow::run(slow::Config {
        url: server.url("/ws/room/heartbeat"),
        conns: 4,
        senders: 1,
        stalled: 1,
        load: MessageLoad {
            size: 16 * 1024,
            rate: Some(500.0),
            duration: Duration::from_millis(1500),
            warmup: Duration::from_millis(100),
            ping_interval: Some(PING),
            ..slow::Config::default().load
        },
        ..slow::Config::default()
    }))
    .await
    .expect("slow run");
    let h = r
        .heartbeat
        .as_ref()
        .expect("the healthy members' heartbeat");
    // Three healthy members; the stalled one reads nothing, so is not measured.
    assert_eq!(h.connections, 3, "{}", r.table());
    assert!(h.pings >= 3 * 5, "{}", r.table());
    assert!(r.heartbeat_slow_readers.is_none(), "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn without_pings_or_an_interval_the_key_is_left_out() {
    // The default interval (15 s) pings nobody in half a second.
    let server = server(Duration::from_secs(15));
    let r = bounded(echo::run(echo::Config {
        url: server.url("/ws/echo"),
        conns: 2,
        load: MessageLoad {
            duration: Duration::from_millis(300),
            warmup: Duration::from_millis(100),
            ..echo::Config::default().load
        },
        ..echo::Config::default()
    }))
    .await
    .expect("echo run");
    assert!(r.heartbeat.is_none(), "{}", r.table());
    let json = serde_json::to_value(&r).expect("json");
    assert!(json.get("heartbeat").is_none(), "{json}");
    assert!(json["config"].get("ping_interval").is_none(), "{json}");
    assert!(!r.table().contains("heartbeat"), "{}", r.table());
}

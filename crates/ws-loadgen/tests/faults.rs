//! The scenario runners against deliberately faulty servers: every fault
//! must be detected and counted, and a correct server must give zero
//! integrity failures. A check that cannot fail is worthless, so each fault
//! test also asserts that the *other* counters stay clean where they should.

mod common;

use std::time::Duration;

use common::{Fault, TestServer};
use ws_loadgen::{MessageLoad, Report as _, echo, room, slow};

const SHORT: Duration = Duration::from_millis(700);

fn echo_config(url: String) -> echo::Config {
    echo::Config {
        url,
        conns: 4,
        load: MessageLoad {
            inflight: 8,
            duration: SHORT,
            warmup: Duration::from_millis(100),
            drain_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(200),
            ..echo::Config::default().load
        },
        ..echo::Config::default()
    }
}

fn room_config(url: String) -> room::Config {
    room::Config {
        url,
        conns: 4,
        senders: Some(2),
        load: MessageLoad {
            duration: SHORT,
            warmup: Duration::from_millis(100),
            drain_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(200),
            ..room::Config::default().load
        },
        ..room::Config::default()
    }
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test exceeded its time bound")
}

#[tokio::test]
async fn correct_server_echo_has_no_integrity_failures() {
    let s = TestServer::start(Fault::None).await;
    let r = bounded(echo::run(echo_config(s.url("/ws/echo"))))
        .await
        .expect("run");
    assert!(!r.integrity.has_failures(), "{:?}", r.integrity);
    assert!(
        r.received > 100,
        "too little traffic to mean anything: {}",
        r.received
    );
    assert_eq!(r.received, r.sent);
    assert_eq!(r.delivered_fraction_worst, 1.0);
    assert!(r.integrity.close_codes.is_empty());
    assert_eq!(r.latency.undelivered, 0);
}

#[tokio::test]
async fn correct_server_echo_open_loop_text() {
    let s = TestServer::start(Fault::None).await;
    let mut c = echo_config(s.url("/ws/echo"));
    c.load.rate = Some(2000.0);
    c.load.encoding = ws_loadgen::Encoding::Text;
    c.load.size = 200;
    let r = bounded(echo::run(c)).await.expect("run");
    assert!(!r.integrity.has_failures(), "{:?}", r.integrity);
    assert_eq!(r.mode, "open");
    let expected = 2000.0 * SHORT.as_secs_f64();
    assert!(
        (r.sent as f64) > expected * 0.9,
        "sent {} of ~{expected}",
        r.sent
    );
    assert_eq!(
        r.outcome.generator.scheduled, r.outcome.generator.sent,
        "every scheduled message sent"
    );
}

#[tokio::test]
async fn correct_server_room_has_no_integrity_failures() {
    let s = TestServer::start(Fault::None).await;
    let r = bounded(room::run(room_config(s.url("/ws/room/ok"))))
        .await
        .expect("run");
    assert!(!r.integrity.has_failures(), "{:?}", r.integrity);
    assert!(r.deliveries > 100);
    assert_eq!(r.deliveries, r.expected_deliveries);
    // Every delivery after the room settled: the measured ones and those
    // of the warm-up, all of which arrive.
    assert!(
        r.deliveries_total > r.deliveries,
        "{} in all, {} measured",
        r.deliveries_total,
        r.deliveries
    );
    assert_eq!(r.delivered_fraction_worst, 1.0);
    assert_eq!(r.members_not_hearing_self, 0);
}

#[tokio::test]
async fn dropped_messages_are_counted_as_lost() {
    let s = TestServer::start(Fault::Drop(1000)).await;
    let r = bounded(echo::run(echo_config(s.url("/ws/echo"))))
        .await
        .expect("run");
    let i = &r.integrity;
    assert!(
        i.lost > 0,
        "drops not detected: {i:?} after {} sent",
        r.sent
    );
    // One in a thousand, per connection: the count must match the traffic.
    let total_sent = r.sent as f64;
    assert!(
        (i.lost as f64) <= total_sent / 1000.0 * 2.0 + 4.0,
        "lost {} of {total_sent}",
        i.lost
    );
    assert_eq!((i.duplicated, i.corrupted), (0, 0), "{i:?}");
}

#[tokio::test]
async fn dropped_room_deliveries_are_counted_as_lost() {
    let s = TestServer::start(Fault::Drop(1000)).await;
    let r = bounded(room::run(room_config(s.url("/ws/room/drop"))))
        .await
        .expect("run");
    assert!(r.integrity.lost > 0, "{:?}", r.integrity);
    assert!(r.delivered_fraction_worst < 1.0);
    assert_eq!(r.integrity.corrupted, 0);
}

#[tokio::test]
async fn reordered_messages_are_counted() {
    let s = TestServer::start(Fault::Reorder(50)).await;
    let r = bounded(echo::run(echo_config(s.url("/ws/echo"))))
        .await
        .expect("run");
    let i = &r.integrity;
    assert!(i.reordered > 0, "{i:?}");
    assert_eq!((i.duplicated, i.corrupted), (0, 0), "{i:?}");
}

#[tokio::test]
async fn reordered_room_deliveries_are_counted() {
    let s = TestServer::start(Fault::Reorder(50)).await;
    let r = bounded(room::run(room_config(s.url("/ws/room/reorder"))))
        .await
        .expect("run");
    eprintln!("{}", r.table());
    assert!(r.integrity.reordered > 0, "{:?}", r.integrity);
}

#[tokio::test]
async fn duplicated_messages_are_counted() {
    let s = TestServer::start(Fault::Duplicate(100)).await;
    let r = bounded(echo::run(echo_config(s.url("/ws/echo"))))
        .await
        .expect("run");
    let i = &r.integrity;
    assert!(i.duplicated > 0, "{i:?}");
    assert_eq!((i.lost, i.reordered, i.corrupted), (0, 0, 0), "{i:?}");
}

#[tokio::test]
async fn duplicated_room_deliveries_are_counted() {
    let s = TestServer::start(Fault::Duplicate(100)).await;
    let r = bounded(room::run(room_config(s.url("/ws/room/dup"))))
        .await
        .expect("run");
    assert!(r.integrity.duplicated > 0, "{:?}", r.integrity);
    assert_eq!(r.integrity.lost, 0, "{:?}", r.integrity);
}

#[tokio::test]
async fn truncated_payloads_are_counted_as_corrupted() {
    let s = TestServer::start(Fault::Truncate(100)).await;
    let mut c = echo_config(s.url("/ws/echo"));
    c.load.size = 256;
    let r = bounded(echo::run(c)).await.expect("run");
    assert!(r.integrity.corrupted > 0, "{:?}", r.integrity);
}

#[tokio::test]
async fn truncated_room_payloads_are_counted_as_corrupted() {
    let s = TestServer::start(Fault::Truncate(100)).await;
    let r = bounded(room::run(room_config(s.url("/ws/room/trunc"))))
        .await
        .expect("run");
    assert!(r.integrity.corrupted > 0, "{:?}", r.integrity);
}

#[tokio::test]
async fn truncated_payloads_are_caught_without_body_verification_too() {
    // --no-verify skips the body pattern, not the length check.
    let s = TestServer::start(Fault::Truncate(100)).await;
    let mut c = echo_config(s.url("/ws/echo"));
    c.load.verify = false;
    let r = bounded(echo::run(c)).await.expect("run");
    assert!(r.integrity.corrupted > 0, "{:?}", r.integrity);
}

#[tokio::test]
async fn a_stalled_server_shows_in_undelivered_latency_and_the_run_still_ends() {
    let s = TestServer::start(Fault::Stall(200)).await;
    let mut c = echo_config(s.url("/ws/echo"));
    c.load.rate = Some(2000.0);
    let started = std::time::Instant::now();
    let r = bounded(echo::run(c)).await.expect("run");
    // Bounded: warm-up + duration + drain + close, not forever.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    assert!(r.latency.undelivered > 0, "{:?}", r.latency);
    assert!(
        r.delivered_fraction_worst < 0.5,
        "{}",
        r.delivered_fraction_worst
    );
    assert!(r.integrity.lost > 0);
    // The undelivered messages sit at the drain bound in the second distribution.
    assert!(r.latency.with_undelivered.max_us >= r.latency.drain_bound_us * 99 / 100);
    assert!(r.latency.delivered.max_us < r.latency.drain_bound_us);
}

#[tokio::test]
async fn a_server_closing_mid_run_is_reported_with_its_close_code() {
    let s = TestServer::start(Fault::CloseAfter(100)).await;
    let r = bounded(echo::run(echo_config(s.url("/ws/echo"))))
        .await
        .expect("run");
    assert_eq!(
        r.integrity.close_codes.get(&1011),
        Some(&4),
        "{:?}",
        r.integrity
    );
    assert!(r.outcome.errors.as_ref().is_some_and(|e| !e.is_empty()));
}

/// Every connection closed long before its window would have: the CPU of
/// a window that never closed is not reported as if it had.
#[tokio::test]
async fn a_run_that_ends_before_its_window_closes_has_no_window_cpu() {
    let s = TestServer::start(Fault::CloseAfter(100)).await;
    let mut c = echo_config(s.url("/ws/echo"));
    c.load.duration = Duration::from_secs(10);
    c.server_pid = Some(i32::try_from(std::process::id()).expect("pid"));
    let r = bounded(echo::run(c)).await.expect("run");
    let server = r.outcome.server.as_ref().expect("a server report");
    assert_eq!(server.measured_cpu_seconds, None, "{}", r.table());
}

#[tokio::test]
async fn slow_scenario_reports_the_stalled_member_closed_by_policy() {
    // A server that gives each send 300 ms, then closes the member with 1008.
    let s = TestServer::start_with(Fault::None, Some(Duration::from_millis(300))).await;
    let c = slow::Config {
        url: s.url("/ws/room/slow"),
        conns: 4,
        senders: 1,
        stalled: 1,
        slow: 1,
        slow_delay: Duration::from_millis(2),
        load: MessageLoad {
            size: 16 * 1024,
            rate: Some(400.0),
            duration: Duration::from_millis(1500),
            warmup: Duration::from_millis(100),
            drain_timeout: Duration::from_millis(500),
            ..slow::Config::default().load
        },
        ..slow::Config::default()
    };
    let r = bounded(slow::run(c)).await.expect("run");
    eprintln!("{}", r.table());
    assert_eq!(r.healthy.members, 2);
    assert_eq!(r.healthy.delivered_fraction_worst, 1.0, "{:?}", r.healthy);
    assert_eq!(
        (r.integrity.lost, r.integrity.corrupted),
        (0, 0),
        "{:?}",
        r.integrity
    );
    let stalled = r
        .consumers
        .iter()
        .find(|c| c.kind == "stalled")
        .expect("stalled member reported");
    assert_ne!(stalled.outcome, "connected", "{stalled:?}");
    let slow = r
        .consumers
        .iter()
        .find(|c| c.kind == "slow")
        .expect("slow member reported");
    assert!(slow.received.is_some());
    assert!(r.slow.is_some());
}

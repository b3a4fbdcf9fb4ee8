//! The `slow` scenario's paced reader and its watch on the server's
//! slow-consumer counter, against real variants in process: a member asked
//! to read at half the rate reads about half, and a stalled member's
//! disconnection is seen through `/metrics` within the server's send timeout.

use std::time::Duration;

use ws_common::ServerConfig;
use ws_common::testkit::TestServer;
use ws_loadgen::{MessageLoad, Report as _, slow};

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test exceeded its time bound")
}

fn metrics_url(server: &TestServer) -> String {
    format!("http://{}/metrics", server.addr())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_paced_member_reads_its_fraction_of_the_rate_and_nobody_is_disconnected() {
    // A large queue and 1 KiB messages: the half-speed reader's backlog
    // (a few hundred KB) stays in buffers, so the policy never fires.
    let server = TestServer::start::<ws_mpsc_writer::Writer>(ServerConfig {
        workers: Some(1),
        queue_capacity: 4096,
        ..ServerConfig::ephemeral()
    })
    .expect("start");
    let (rate, pace) = (400.0, 0.5);
    let load = MessageLoad {
        size: 1024,
        rate: Some(rate),
        warmup: Duration::from_millis(100),
        duration: Duration::from_secs(1),
        drain_timeout: Duration::from_millis(300),
        ..slow::Config::default().load
    };
    let reading_s = (load.warmup + load.duration + load.drain_timeout).as_secs_f64();
    let sending_s = (load.warmup + load.duration).as_secs_f64();
    let r = bounded(slow::run(slow::Config {
        url: server.url("/ws/room/paced"),
        conns: 4,
        senders: 1,
        slow: 1,
        slow_pace: Some(pace),
        stalled: 0,
        metrics_url: Some(metrics_url(&server)),
        load,
        ..slow::Config::default()
    }))
    .await
    .expect("run");
    eprintln!("{}", r.table());
    let member = &r.consumers[0];
    assert_eq!(member.outcome, "connected", "{member:?}");
    let received = member.received.expect("slow members count what they read") as f64;
    // At most one message of credit beyond the pace; at least the pace for as
    // long as messages were sent (the timer is late, never early).
    assert!(
        received <= pace * rate * reading_s + 2.0,
        "read faster than its pace: {received}"
    );
    assert!(
        received >= 0.8 * pace * rate * sending_s,
        "read much slower than its pace: {received}"
    );
    assert!(
        received < 0.9 * (r.sent as f64),
        "the paced member kept up: {received} of {}",
        r.sent
    );
    assert_eq!(r.healthy.delivered_fraction_worst, 1.0, "{}", r.table());
    let watch = r
        .server_disconnects
        .as_ref()
        .expect("watched with --metrics-url");
    assert!(watch.scrapes > 10, "{watch:?}");
    assert_eq!(watch.initial, Some(0.0), "{watch:?}");
    assert!(watch.rises.is_empty(), "{watch:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_stalled_members_disconnection_is_seen_in_the_servers_counter() {
    let send_timeout = Duration::from_millis(300);
    let server = TestServer::start::<ws_tokio_mutex::Writer>(ServerConfig {
        workers: Some(1),
        send_timeout,
        ..ServerConfig::ephemeral()
    })
    .expect("start");
    let r = bounded(slow::run(slow::Config {
        url: server.url("/ws/room/stalled"),
        conns: 3,
        senders: 1,
        stalled: 1,
        metrics_url: Some(metrics_url(&server)),
        load: MessageLoad {
            size: 16 * 1024,
            rate: Some(500.0),
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(1500),
            drain_timeout: Duration::from_millis(300),
            ..slow::Config::default().load
        },
        ..slow::Config::default()
    }))
    .await
    .expect("run");
    eprintln!("{}", r.table());
    let watch = r
        .server_disconnects
        .as_ref()
        .expect("watched with --metrics-url");
    let first = watch.rises.first().expect("the counter rose");
    assert_eq!(first.count, 1, "{watch:?}");
    assert!(first.after_s < first.by_s, "{first:?}");
    // Not before the send timeout can have run out; well within the run.
    assert!(
        first.by_s >= send_timeout.as_secs_f64() && first.by_s < 1.6,
        "{first:?}"
    );
    assert!(
        r.consumers.iter().all(|c| c.outcome != "connected"),
        "{:?}",
        r.consumers
    );
}

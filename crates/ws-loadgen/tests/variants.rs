//! The scenario runners and bench primitives against the real variants,
//! in process: a correct server must show zero integrity failures, the
//! slow-consumer policy must disconnect a stalled member, and the server's
//! CPU in the measured window is a part of its CPU over the run.

use std::time::Duration;

use ws_common::ServerConfig;
use ws_common::testkit::TestServer;
use ws_loadgen::{MessageLoad, Report as _, bench, echo, room, slow};

fn config() -> ServerConfig {
    ServerConfig {
        workers: Some(1),
        send_timeout: Duration::from_millis(500),
        // Above what the bench's contention below can queue (4 senders × 50).
        queue_capacity: 300,
        shutdown_grace: Duration::from_secs(1),
        ..ServerConfig::ephemeral()
    }
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test exceeded its time bound")
}

async fn echo_and_room(server: TestServer) {
    let name = server.name();
    let e = bounded(echo::run(echo::Config {
        url: server.url("/ws/echo"),
        conns: 8,
        load: MessageLoad {
            inflight: 4,
            duration: Duration::from_millis(500),
            warmup: Duration::from_millis(100),
            ..echo::Config::default().load
        },
        ..echo::Config::default()
    }))
    .await
    .expect("echo run");
    assert!(
        !e.integrity.has_failures() && e.received > 100,
        "{name}: {}",
        e.table()
    );
    assert!(
        e.integrity.close_codes.is_empty(),
        "{name}: {:?}",
        e.integrity
    );

    let r = bounded(room::run(room::Config {
        url: server.url("/ws/room/loadgen"),
        conns: 6,
        senders: Some(3),
        load: MessageLoad {
            rate: Some(1500.0),
            duration: Duration::from_millis(500),
            warmup: Duration::from_millis(100),
            ..room::Config::default().load
        },
        ..room::Config::default()
    }))
    .await
    .expect("room run");
    assert!(!r.integrity.has_failures(), "{name}: {}", r.table());
    assert_eq!(r.deliveries, r.expected_deliveries, "{name}");
    assert_eq!(r.members_not_hearing_self, 0, "{name}");

    let mut clients = bounded(bench::RoomClients::join(&server.url("/ws/room/bench"), 4))
        .await
        .expect("join");
    bounded(clients.contention(4, 50, 64))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    clients.close().await;

    let s = bounded(slow::run(slow::Config {
        url: server.url("/ws/room/slow"),
        conns: 4,
        senders: 1,
        stalled: 1,
        load: MessageLoad {
            size: 16 * 1024,
            rate: Some(500.0),
            duration: Duration::from_millis(1500),
            warmup: Duration::from_millis(100),
            ..slow::Config::default().load
        },
        ..slow::Config::default()
    }))
    .await
    .expect("slow run");
    assert!(!s.integrity.has_failures(), "{name}: {}", s.table());
    assert_eq!(
        s.healthy.delivered_fraction_worst,
        1.0,
        "{name}: {}",
        s.table()
    );
    let stalled = &s.consumers[0];
    assert_ne!(
        stalled.outcome,
        "connected",
        "{name}: the stalled member was not disconnected: {}",
        s.table()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn tokio_mutex_variant_passes_echo_room_and_slow() {
    echo_and_room(TestServer::start::<ws_tokio_mutex::Writer>(config()).expect("start")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn std_mutex_variant_passes_echo_room_and_slow() {
    echo_and_room(TestServer::start::<ws_std_mutex::Writer>(config()).expect("start")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn mpsc_writer_variant_passes_echo_room_and_slow() {
    echo_and_room(TestServer::start::<ws_mpsc_writer::Writer>(config()).expect("start")).await;
}

/// The server runs in this process, so `--server-pid` is ours: the figures
/// say nothing about the server's speed, only that the window's reading is
/// taken and is a part of the whole run's.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn the_measured_window_cpu_is_a_part_of_the_whole_run() {
    let server = TestServer::start::<ws_mpsc_writer::Writer>(config()).expect("start");
    let e = bounded(echo::run(echo::Config {
        url: server.url("/ws/echo"),
        conns: 4,
        load: MessageLoad {
            inflight: 4,
            duration: Duration::from_millis(500),
            warmup: Duration::from_millis(100),
            ..echo::Config::default().load
        },
        server_pid: Some(i32::try_from(std::process::id()).expect("pid")),
    }))
    .await
    .expect("echo run");
    let table = e.table();
    let s = e.outcome.server.as_ref().expect("a server report");
    let measured = s.measured_cpu_seconds.expect("the window's CPU");
    assert!(measured >= 0.0, "{table}");
    // Both come from the same /proc counter, read at nested instants.
    assert!(measured <= s.cpu_seconds + 1e-9, "{table}");
    assert!(table.contains("in the measured window"), "{table}");
    let json = serde_json::to_value(&e).expect("json");
    assert!(json["server"]["measured_cpu_seconds"].is_number(), "{json}");
}

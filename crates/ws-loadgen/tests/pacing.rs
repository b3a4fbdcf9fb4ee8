//! The open-loop pacing error is recorded and reported: present in open
//! loop (JSON `generator.pacing_error` and the table), absent in closed
//! loop, and sane. Only structure and a coarse bound are checked, never a
//! precision a loaded CI machine could miss.

use std::time::Duration;

use ws_common::ServerConfig;
use ws_common::testkit::TestServer;
use ws_loadgen::{MessageLoad, Report as _, echo};

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test exceeded its time bound")
}

fn run(server: &TestServer, rate: Option<f64>) -> echo::Config {
    echo::Config {
        url: server.url("/ws/echo"),
        conns: 8,
        load: MessageLoad {
            rate,
            duration: Duration::from_millis(500),
            warmup: Duration::from_millis(100),
            ..echo::Config::default().load
        },
        ..echo::Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn open_loop_reports_its_pacing_error() {
    let server = TestServer::start::<ws_mpsc_writer::Writer>(ServerConfig {
        workers: Some(1),
        ..ServerConfig::ephemeral()
    })
    .expect("start");

    let open = bounded(echo::run(run(&server, Some(2000.0))))
        .await
        .expect("open-loop run");
    assert!(!open.integrity.has_failures(), "{}", open.table());
    let g = &open.outcome.generator;
    let p = g.pacing_error.expect("open loop reports a pacing error");
    assert!(p.p50_us <= p.p99_us && p.p99_us <= p.max_us, "{p:?}");
    // Coarse: a message that left a whole second late would be a broken
    // pacer, not a busy machine (the run is 600 ms of 2,000/s).
    assert!(p.p99_us < 1_000_000, "{}", open.table());
    // The same measurement as the schedule lag it is named beside.
    let lag = g.schedule_lag.as_ref().expect("schedule lag");
    assert_eq!(
        (p.p50_us, p.p99_us, p.max_us),
        (lag.p50_us, lag.p99_us, lag.max_us)
    );
    assert!(open.table().contains("pacing error"), "{}", open.table());

    let json = serde_json::to_value(&open).expect("json");
    let pacing = &json["generator"]["pacing_error"];
    for key in ["p50_us", "p99_us", "max_us"] {
        assert!(pacing[key].is_u64(), "{key} missing in {pacing}");
    }
    // Existing keys stay where they were.
    assert!(
        json["generator"]["schedule_lag"]["p99_us"].is_u64(),
        "{json}"
    );

    let closed = bounded(echo::run(run(&server, None)))
        .await
        .expect("closed-loop run");
    assert!(closed.outcome.generator.pacing_error.is_none());
    assert!(
        !closed.table().contains("pacing error"),
        "{}",
        closed.table()
    );
    let json = serde_json::to_value(&closed).expect("json");
    assert!(json["generator"]["pacing_error"].is_null(), "{json}");
}

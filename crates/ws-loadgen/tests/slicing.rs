//! Sliced echo runs (`echo::run_sliced`): several servers measured by turns
//! in one run. Each target's figures must be its own: a fault of one server
//! shows in its report and not in the other's, and the throughput counts
//! the replies that arrived while its target could send, over that time.

mod common;

use std::time::Duration;

use common::{Fault, TestServer};
use ws_loadgen::{MessageLoad, Report as _, echo};

fn sliced(urls: Vec<String>) -> echo::SlicedConfig {
    echo::SlicedConfig {
        echo: echo::Config {
            conns: 4,
            load: MessageLoad {
                inflight: 8,
                // 4 rounds of two 50 ms turns after one round of warm-up.
                duration: Duration::from_millis(400),
                warmup: Duration::from_millis(100),
                drain_timeout: Duration::from_millis(500),
                response_timeout: Duration::from_millis(200),
                ..echo::Config::default().load
            },
            ..echo::Config::default()
        },
        targets: urls.into_iter().map(|u| (u, None)).collect(),
        slice: Duration::from_millis(50),
        gap: Duration::from_millis(10),
    }
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test exceeded its time bound")
}

#[tokio::test]
async fn each_target_reports_its_own_traffic_and_faults() {
    let clean = TestServer::start(Fault::None).await;
    let faulty = TestServer::start(Fault::Reorder(50)).await;
    let r = bounded(echo::run_sliced(sliced(vec![
        clean.url("/ws/echo"),
        faulty.url("/ws/echo"),
    ])))
    .await
    .expect("run");
    assert_eq!(r.targets.len(), 2);
    let (a, b) = (&r.targets[0], &r.targets[1]);
    assert_eq!(a.config.url, clean.url("/ws/echo"));
    assert!(
        !a.integrity.has_failures(),
        "clean target: {:?}",
        a.integrity
    );
    assert!(
        b.integrity.reordered > 0,
        "faulty target: {:?}",
        b.integrity
    );
    assert!(r.failed(), "the run as a whole carries the fault");
    for (i, t) in r.targets.iter().enumerate() {
        let s = t.slicing.as_ref().expect("a sliced target says so");
        assert_eq!(s.position, i);
        // 4 rounds × (50 − 10) ms in which it may send.
        assert!((s.sending_s - 0.16).abs() < 1e-9, "{}", s.sending_s);
        assert!((t.duration_s - s.sending_s).abs() < 1e-9);
        assert!(t.received > 100, "too little traffic: {}", t.received);
        // The replies in flight when each turn's gap begins arrive in the gap.
        assert!(
            s.received_while_sending < t.received,
            "{} of {}",
            s.received_while_sending,
            t.received
        );
        assert_eq!(
            s.replies_after_turn, 0,
            "a local server answers within the gap"
        );
        let rate = s.received_while_sending as f64 / s.sending_s;
        assert!((t.throughput_msgs_per_s - rate).abs() < 1e-6);
    }
}

#[tokio::test]
async fn timing_that_would_favour_a_target_is_refused() {
    let mut c = sliced(vec![
        "ws://127.0.0.1:1/ws/echo".into(),
        "ws://127.0.0.1:2/ws/echo".into(),
    ]);
    c.echo.load.duration = Duration::from_millis(450);
    let e = echo::run_sliced(c).await.expect_err("uneven rounds");
    assert!(e.to_string().contains("whole number of rounds"), "{e}");
    let mut one = sliced(vec!["ws://127.0.0.1:1/ws/echo".into()]);
    one.echo.load.duration = Duration::from_millis(400);
    let e = echo::run_sliced(one).await.expect_err("one target");
    assert!(e.to_string().contains("at least two"), "{e}");
}

//! The bench primitives: correct servers give durations, faulty ones errors, never a hang.

mod common;

use std::time::Duration;

use common::{Fault, TestServer};
use ws_loadgen::LoadgenError;
use ws_loadgen::bench::{EchoClients, RoomClients, SlowRoom};

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test exceeded its time bound")
}

#[tokio::test]
async fn echo_round_trips_time_a_verified_batch_repeatedly() {
    let s = TestServer::start(Fault::None).await;
    let mut c = bounded(EchoClients::connect(&s.url("/ws/echo"), 4))
        .await
        .expect("connect");
    for _ in 0..3 {
        let d = bounded(c.round_trips(200, 64)).await.expect("batch");
        assert!(d > Duration::ZERO && d < Duration::from_secs(5), "{d:?}");
    }
    assert!(matches!(
        c.round_trips(1, 8).await,
        Err(LoadgenError::Payload(_))
    ));
    c.close().await;
}

#[tokio::test]
async fn echo_round_trips_with_a_window_of_one_are_plain_round_trips() {
    let s = TestServer::start(Fault::None).await;
    let mut c = bounded(EchoClients::connect(&s.url("/ws/echo"), 4))
        .await
        .expect("connect");
    for window in [1, 2, ws_loadgen::bench::WINDOW] {
        let d = bounded(c.round_trips_with_window(50, 64, window))
            .await
            .unwrap_or_else(|e| panic!("window {window}: {e}"));
        assert!(d > Duration::ZERO && d < Duration::from_secs(5), "{d:?}");
    }
    assert!(matches!(
        c.round_trips_with_window(1, 64, 0).await,
        Err(LoadgenError::Config(_))
    ));
    c.close().await;
}

#[tokio::test]
async fn echo_round_trips_fail_on_a_faulty_server() {
    for fault in [
        Fault::Duplicate(50),
        Fault::Reorder(50),
        Fault::Truncate(50),
    ] {
        let s = TestServer::start(fault).await;
        let mut c = bounded(EchoClients::connect(&s.url("/ws/echo"), 2))
            .await
            .expect("connect");
        let r = bounded(c.round_trips(200, 64)).await;
        assert!(
            matches!(r, Err(LoadgenError::Integrity(_))),
            "{fault:?}: {r:?}"
        );
    }
}

#[tokio::test]
async fn echo_round_trips_time_out_instead_of_hanging() {
    let s = TestServer::start(Fault::Stall(10)).await;
    let c = bounded(EchoClients::connect(&s.url("/ws/echo"), 1))
        .await
        .expect("connect");
    let mut c = c.with_timeout(Duration::from_millis(300));
    let r = bounded(c.round_trips(100, 64)).await;
    assert!(matches!(r, Err(LoadgenError::Timeout(_))), "{r:?}");
}

#[tokio::test]
async fn room_broadcast_and_contention_deliver_everything_in_order() {
    let s = TestServer::start(Fault::None).await;
    let mut r = bounded(RoomClients::join(&s.url("/ws/room/bench"), 5))
        .await
        .expect("join");
    for _ in 0..3 {
        bounded(r.broadcast_one(64)).await.expect("broadcast");
    }
    bounded(r.contention(3, 100, 128))
        .await
        .expect("contention");
    bounded(r.contention(5, 10, 64))
        .await
        .expect("contention, all senders");
    assert!(matches!(
        r.contention(6, 1, 64).await,
        Err(LoadgenError::Config(_))
    ));
    r.close().await;
}

#[tokio::test]
async fn room_contention_fails_on_a_duplicating_server() {
    let s = TestServer::start(Fault::Duplicate(20)).await;
    let mut r = bounded(RoomClients::join(&s.url("/ws/room/dup"), 3))
        .await
        .expect("join");
    let res = bounded(r.contention(2, 100, 64)).await;
    assert!(matches!(res, Err(LoadgenError::Integrity(_))), "{res:?}");
}

#[tokio::test]
async fn slow_room_healthy_batch_completes_once_the_server_drops_the_stalled_member() {
    let s = TestServer::start_with(Fault::None, Some(Duration::from_millis(200))).await;
    let room = bounded(SlowRoom::join(&s.url("/ws/room/slow"), 3, 1))
        .await
        .expect("join");
    let mut room = room.with_timeout(Duration::from_secs(5));
    // Large messages fill the stalled member's small buffers fast.
    for _ in 0..3 {
        let d = bounded(room.healthy_batch(100, 16 * 1024))
            .await
            .expect("healthy batch");
        assert!(d < Duration::from_secs(5));
    }
    let o = bounded(room.healthy_batch_outcome(10, 64))
        .await
        .expect("outcome");
    assert!(o.complete && o.delivered == o.expected, "{o:?}");
    room.close().await;
}

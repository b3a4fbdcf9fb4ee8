//! The conformance suite: the protocol in the README, checked against a
//! running server with a real client. Every variant runs all of it; a variant
//! joins with one line in its `tests/conformance.rs`:
//!
//! ```ignore
//! ws_common::conformance_tests!(ws_tokio_mutex::Writer);
//! ```
//!
//! Each case starts its own server on an ephemeral port, is bounded by
//! [`CASE_TIMEOUT`], and panics (fails) with a message saying what was wrong.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::config::{FlushPolicy, ServerConfig};
use crate::handler::Handler;
use crate::testkit::{self, Client, TestServer};

/// The longest any one case may take.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a client waits for one expected message.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Generates one `#[tokio::test]` per conformance case, and per case of the
/// [reliability suite](crate::reliability), for server `$server` (any
/// [`Handler`], so any [`crate::SharedSink`]). `echo_only: $server` runs
/// the cases that apply to a server without rooms.
#[macro_export]
macro_rules! conformance_tests {
    (echo_only: $server:ty) => {
        /// The protocol under `--flush batched`, each strategy at its best.
        mod batched {
            $crate::conformance_tests!(@echo $server, $crate::FlushPolicy::Batched);
        }
        /// The protocol under `--flush each`, the naive form.
        mod each {
            $crate::conformance_tests!(@echo $server, $crate::FlushPolicy::Each);
        }
        $crate::conformance_tests!(@reliability $server;
            handshake_garbage_is_refused, bad_frames_are_closed_with_the_rfc_code,
            fuzzed_frames_never_break_the_server, connection_limit_refuses_upgrades_with_503,
            echo_churn_releases_everything, shutdown_under_load_closes_everyone_with_1001,
            strategy_metrics_count_what_happened,
            slow_requests_are_closed_within_the_handshake_timeout,
            sockets_before_the_upgrade_are_limited,
            partial_messages_past_the_inbound_budget_are_closed_with_1009,
        );
    };
    ($server:ty) => {
        /// The protocol under `--flush batched`, each strategy at its best.
        mod batched {
            $crate::conformance_tests!(@echo $server, $crate::FlushPolicy::Batched);
            $crate::conformance_tests!(@rooms $server, $crate::FlushPolicy::Batched);
        }
        /// The protocol under `--flush each`, the naive form.
        mod each {
            $crate::conformance_tests!(@echo $server, $crate::FlushPolicy::Each);
            $crate::conformance_tests!(@rooms $server, $crate::FlushPolicy::Each);
        }
        $crate::conformance_tests!(@reliability $server;
            handshake_garbage_is_refused, bad_frames_are_closed_with_the_rfc_code,
            fuzzed_frames_never_break_the_server, connection_limit_refuses_upgrades_with_503,
            echo_churn_releases_everything, shutdown_under_load_closes_everyone_with_1001,
            strategy_metrics_count_what_happened,
            slow_requests_are_closed_within_the_handshake_timeout,
            sockets_before_the_upgrade_are_limited,
            partial_messages_past_the_inbound_budget_are_closed_with_1009,
            room_limit_refuses_new_rooms_with_503, room_churn_releases_everything,
        );
    };
    (@echo $server:ty, $flush:expr) => {
        $crate::conformance_tests!(@cases $server, $flush, conformance;
            echo_text, echo_binary, echo_empty, echo_unicode, echo_16_mib,
            pipelined_echo_keeps_order, hundred_concurrent_echo_connections,
            ping_is_answered_with_pong, client_close_is_answered_and_released,
            plain_http_routes, heartbeat_pings_arrive, idle_connection_is_closed,
            live_client_answering_pings_is_not_closed, shutdown_sends_1001,
            oversized_message_is_closed_with_1009,
        );
        $crate::conformance_tests!(@cases $server, $flush, bursts;
            echo_burst_arrives_whole_and_promptly, lone_message_after_a_burst_arrives_at_once,
            close_right_after_a_burst,
        );
    };
    (@rooms $server:ty, $flush:expr) => {
        $crate::conformance_tests!(@cases $server, $flush, conformance;
            room_fan_out_with_concurrent_senders, rooms_are_isolated,
            leaving_and_vanishing_members_leave_the_room_working,
            invalid_room_names_are_refused_with_400,
            stalled_member_is_disconnected_and_the_room_keeps_receiving,
            paused_member_with_many_writers_catches_up,
        );
        $crate::conformance_tests!(@cases $server, $flush, bursts;
            room_burst_reaches_every_reading_member, concurrent_room_bursts_keep_per_sender_order,
            stopped_member_in_a_quiet_room_is_disconnected,
            large_room_broadcast_takes_each_lock_once,
        );
    };
    (@reliability $writer:ty; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::run($crate::reliability::$case::<$writer>()).await;
            }
        )*
    };
    (@cases $writer:ty, $flush:expr, $suite:ident; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::run($crate::$suite::$case::<$writer>($flush)).await;
            }
        )*
    };
}

/// Runs one case under [`CASE_TIMEOUT`].
pub async fn run(case: impl Future<Output = ()>) {
    if tokio::time::timeout(CASE_TIMEOUT, case).await.is_err() {
        panic!("the case did not finish within {CASE_TIMEOUT:?}");
    }
}

/// The defaults on an ephemeral port, with a short shutdown grace and the
/// flush policy under test.
pub(crate) fn config(flush: FlushPolicy) -> ServerConfig {
    ServerConfig {
        workers: Some(2),
        shutdown_grace: Duration::from_secs(3),
        flush,
        ..ServerConfig::ephemeral()
    }
}

pub(crate) fn start<H: Handler>(config: ServerConfig) -> TestServer {
    TestServer::start::<H>(config).expect("the server starts")
}

pub(crate) async fn connect(url: &str) -> Client {
    testkit::connect(url)
        .await
        .unwrap_or_else(|err| panic!("connect to {url}: {err}"))
}

/// The next Text or Binary message (pings and pongs skipped), or what ended
/// the connection instead.
pub(crate) async fn next_data(client: &mut Client) -> Message {
    loop {
        let next = tokio::time::timeout(RECEIVE_TIMEOUT, client.next())
            .await
            .expect("a message arrives in time");
        match next {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return message,
            Some(Err(err)) => panic!("the connection failed while waiting for a message: {err}"),
            None => panic!("the connection ended while waiting for a message"),
        }
    }
}

/// Reads until the server's Close arrives and returns its frame.
pub(crate) async fn next_close(client: &mut Client) -> Option<CloseFrame> {
    loop {
        let next = tokio::time::timeout(RECEIVE_TIMEOUT, client.next())
            .await
            .expect("the close arrives in time");
        match next {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(_)) => continue,
            Some(Err(err)) => panic!("expected a Close frame, the connection failed: {err}"),
            None => panic!("expected a Close frame, the connection ended without one"),
        }
    }
}

pub(crate) async fn echo_round_trip(client: &mut Client, message: Message) {
    client.send(message.clone()).await.expect("send");
    assert_eq!(
        next_data(client).await,
        message,
        "the echo differs from what was sent"
    );
}

/// Polls `value` until it equals `expected` or `RECEIVE_TIMEOUT` passes.
pub(crate) async fn eventually(what: &str, expected: i64, value: impl Fn() -> i64) {
    let deadline = tokio::time::Instant::now() + RECEIVE_TIMEOUT;
    while value() != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: expected {expected}, still {} after {RECEIVE_TIMEOUT:?}",
            value()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Echo of a Text message.
pub async fn echo_text<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    echo_round_trip(&mut client, Message::text("hello")).await;
}

/// Echo of a Binary message, every byte value included.
pub async fn echo_binary<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    echo_round_trip(
        &mut client,
        Message::binary((0..=255u8).collect::<Vec<_>>()),
    )
    .await;
}

/// Echo of empty Text and Binary messages: same type back.
pub async fn echo_empty<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    echo_round_trip(&mut client, Message::text("")).await;
    echo_round_trip(&mut client, Message::binary(Bytes::new())).await;
}

/// Echo of multi-byte UTF-8.
pub async fn echo_unicode<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    echo_round_trip(&mut client, Message::text("héllo wörld, 你好, 🦀🦀")).await;
}

/// Echo of a 16 MiB message.
pub async fn echo_16_mib<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    let payload: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
    echo_round_trip(&mut client, Message::binary(payload)).await;
}

/// 1,000 messages sent back to back come back in the order sent.
pub async fn pipelined_echo_keeps_order<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    for i in 0..1000 {
        client
            .feed(Message::text(i.to_string()))
            .await
            .expect("feed");
    }
    client.flush().await.expect("flush");
    for i in 0..1000 {
        assert_eq!(
            next_data(&mut client).await,
            Message::text(i.to_string()),
            "echo {i} out of order"
        );
    }
}

/// 100 connections echo at the same time, each getting only its own messages.
pub async fn hundred_concurrent_echo_connections<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let url = server.url("/ws/echo");
    let clients = (0..100).map(|c| {
        let url = url.clone();
        async move {
            let mut client = connect(&url).await;
            for i in 0..10 {
                echo_round_trip(&mut client, Message::text(format!("{c}:{i}"))).await;
            }
        }
    });
    futures_util::future::join_all(clients).await;
}

/// A Ping gets a Pong with the same payload.
pub async fn ping_is_answered_with_pong<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    client
        .send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .expect("ping");
    loop {
        let next = tokio::time::timeout(RECEIVE_TIMEOUT, client.next())
            .await
            .expect("a pong in time");
        match next {
            Some(Ok(Message::Pong(payload))) => {
                assert_eq!(&payload[..], b"are you there");
                return;
            }
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("expected a Pong, got {other:?}"),
        }
    }
}

/// A client's Close is answered with a Close carrying its code, and the
/// server releases the connection.
pub async fn client_close_is_answered_and_released<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    echo_round_trip(&mut client, Message::text("before closing")).await;
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    client
        .send(Message::Close(Some(frame)))
        .await
        .expect("send close");
    let reply = next_close(&mut client)
        .await
        .expect("the reply carries a code");
    assert_eq!(reply.code, CloseCode::Normal);
    let after = tokio::time::timeout(RECEIVE_TIMEOUT, client.next())
        .await
        .expect("the stream ends");
    assert!(
        matches!(after, None | Some(Err(_))),
        "nothing may follow the close handshake, got {after:?}"
    );
    eventually("open connections", 0, || server.metrics().connections.get()).await;
}

/// Several members send at once; every member receives every message of
/// every sender in order, without gaps or duplicates, its own included.
pub async fn room_fan_out_with_concurrent_senders<H: Handler>(flush: FlushPolicy) {
    const MEMBERS: usize = 4;
    const MESSAGES: usize = 200;
    let server = start::<H>(config(flush));
    let url = server.url("/ws/room/fan-out");
    let mut clients = Vec::new();
    for _ in 0..MEMBERS {
        clients.push(connect(&url).await);
    }
    eventually("room members", MEMBERS as i64, || {
        server.metrics().room_members.get()
    })
    .await;
    let members = clients
        .into_iter()
        .enumerate()
        .map(|(me, client)| async move {
            let (mut tx, mut rx) = client.split();
            let send = async move {
                for seq in 0..MESSAGES {
                    tx.send(Message::text(format!("{me}:{seq}")))
                        .await
                        .expect("send");
                }
                tx
            };
            let receive = async move {
                let mut next_seq = [0usize; MEMBERS];
                for _ in 0..MEMBERS * MESSAGES {
                    let message = loop {
                        match tokio::time::timeout(RECEIVE_TIMEOUT, rx.next())
                            .await
                            .expect("delivery in time")
                        {
                            Some(Ok(Message::Text(text))) => break text,
                            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                            other => panic!("member {me}: unexpected {other:?}"),
                        }
                    };
                    let (sender, seq) = message.split_once(':').expect("sender:seq");
                    let sender: usize = sender.parse().expect("sender");
                    let seq: usize = seq.parse().expect("seq");
                    assert_eq!(
                        seq, next_seq[sender],
                        "member {me}: from {sender}, expected {} got {seq}",
                        next_seq[sender]
                    );
                    next_seq[sender] += 1;
                }
                assert_eq!(
                    next_seq, [MESSAGES; MEMBERS],
                    "member {me} heard everyone, itself included"
                );
                rx
            };
            let (_tx, _rx) = tokio::join!(send, receive);
        });
    futures_util::future::join_all(members).await;
}

/// Messages stay in their room.
pub async fn rooms_are_isolated<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let mut a1 = connect(&server.url("/ws/room/a")).await;
    let mut a2 = connect(&server.url("/ws/room/a")).await;
    let mut b = connect(&server.url("/ws/room/b")).await;
    eventually("room members", 3, || server.metrics().room_members.get()).await;
    a1.send(Message::text("for a")).await.expect("send");
    assert_eq!(next_data(&mut a1).await, Message::text("for a"));
    assert_eq!(next_data(&mut a2).await, Message::text("for a"));
    b.send(Message::text("for b")).await.expect("send");
    // b's own message is the first thing b receives: "for a" never reached it.
    assert_eq!(next_data(&mut b).await, Message::text("for b"));
    a2.send(Message::text("still a")).await.expect("send");
    assert_eq!(next_data(&mut a1).await, Message::text("still a"));
    assert_eq!(next_data(&mut a2).await, Message::text("still a"));
}

/// A member that closes and one whose TCP connection is reset both leave;
/// the room keeps working, and once everyone is gone the registry is empty.
pub async fn leaving_and_vanishing_members_leave_the_room_working<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let url = server.url("/ws/room/churn");
    let mut stays = connect(&url).await;
    let mut leaves = connect(&url).await;
    let vanishes = connect(&url).await;
    eventually("room members", 3, || server.metrics().room_members.get()).await;

    leaves.close(None).await.expect("close");
    testkit::reset(vanishes).expect("reset");
    eventually("room members", 1, || server.metrics().room_members.get()).await;

    echo_round_trip(&mut stays, Message::text("anyone?")).await;
    stays.close(None).await.expect("close");
    eventually("rooms", 0, || server.metrics().rooms.get()).await;
    eventually("room members", 0, || server.metrics().room_members.get()).await;
    eventually("open connections", 0, || server.metrics().connections.get()).await;
}

/// Bad room names get 400 with a reason, before any upgrade.
pub async fn invalid_room_names_are_refused_with_400<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let long = "a".repeat(65);
    let bad = [
        "/ws/room/",
        "/ws/room/a%20b",
        "/ws/room/%C3%A9t%C3%A9",
        "/ws/room/a.b",
    ];
    for path in bad
        .iter()
        .copied()
        .chain([format!("/ws/room/{long}").as_str()])
    {
        let (status, body) = tokio::time::timeout(
            RECEIVE_TIMEOUT,
            testkit::http_get(server.addr(), path, testkit::UPGRADE_HEADERS),
        )
        .await
        .expect("answer in time")
        .expect("HTTP exchange");
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body.contains("room name"),
            "{path}: the reason says what is wrong: {body:?}"
        );
    }
    // The longest valid name is accepted.
    let mut client = connect(&server.url(&format!("/ws/room/{}", "a".repeat(64)))).await;
    echo_round_trip(&mut client, Message::text("in")).await;
}

/// Health, metrics, 404 for unknown routes, 4xx for a WebSocket route
/// without an upgrade.
pub async fn plain_http_routes<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let get = |path: &'static str| {
        let addr = server.addr();
        async move {
            tokio::time::timeout(RECEIVE_TIMEOUT, testkit::http_get(addr, path, &[]))
                .await
                .expect("answer in time")
                .expect("HTTP exchange")
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    let (status, metrics) = get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("ws_connections"), "{metrics}");
    assert_eq!(get("/no/such/route").await.0, 404);
    for path in ["/ws/echo", "/ws/room/lobby"] {
        let status = get(path).await.0;
        assert!(
            (400..500).contains(&status),
            "{path} without upgrade: {status}"
        );
    }
}

/// The server pings on its own every `--ping-interval`.
pub async fn heartbeat_pings_arrive<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(ServerConfig {
        ping_interval: Duration::from_millis(100),
        ..config(flush)
    });
    let mut client = connect(&server.url("/ws/echo")).await;
    let mut pings = 0;
    while pings < 3 {
        match tokio::time::timeout(RECEIVE_TIMEOUT, client.next())
            .await
            .expect("a ping in time")
        {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("expected pings, got {other:?}"),
        }
    }
}

/// A connection from which nothing arrives is closed after `--idle-timeout`.
pub async fn idle_connection_is_closed<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(ServerConfig {
        ping_interval: Duration::from_secs(3600),
        idle_timeout: Duration::from_millis(300),
        ..config(flush)
    });
    let mut client = connect(&server.url("/ws/echo")).await;
    let started = tokio::time::Instant::now();
    let frame = next_close(&mut client).await.expect("a close code");
    assert_eq!(frame.code, CloseCode::Normal, "{frame:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed too early: {:?}",
        started.elapsed()
    );
    eventually("open connections", 0, || server.metrics().connections.get()).await;
}

/// A client that answers pings (tungstenite does while it reads) stays open
/// well past the idle timeout.
pub async fn live_client_answering_pings_is_not_closed<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(ServerConfig {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(400),
        ..config(flush)
    });
    let mut client = connect(&server.url("/ws/echo")).await;
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(next) = tokio::time::timeout_at(until, client.next()).await {
        match next {
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("a live client must not be closed, got {other:?}"),
        }
    }
    echo_round_trip(&mut client, Message::text("still here")).await;
}

/// Shutdown closes every connection with 1001 within the grace period.
pub async fn shutdown_sends_1001<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(config(flush));
    let paths = if H::SERVES_ROOMS {
        ["/ws/echo", "/ws/room/lobby", "/ws/room/lobby"]
    } else {
        ["/ws/echo"; 3]
    };
    let mut clients = Vec::new();
    for path in paths {
        clients.push(connect(&server.url(path)).await);
    }
    eventually("open connections", 3, || server.metrics().connections.get()).await;
    let stopping = tokio::task::spawn_blocking(move || server.shutdown());
    for client in &mut clients {
        let frame = next_close(client).await.expect("a close code");
        assert_eq!(frame.code, CloseCode::Away, "{frame:?}");
    }
    let report = stopping.await.expect("join").expect("a clean shutdown");
    assert!(
        report.clean,
        "every connection closed within the grace: {report:?}"
    );
}

/// A message over `--max-message-size` closes the connection with 1009.
pub async fn oversized_message_is_closed_with_1009<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(ServerConfig {
        max_message_size: 1024,
        ..config(flush)
    });
    let mut client = connect(&server.url("/ws/echo")).await;
    echo_round_trip(&mut client, Message::binary(vec![7u8; 1024])).await;
    client
        .send(Message::binary(vec![7u8; 2048]))
        .await
        .expect("send");
    let frame = next_close(&mut client).await.expect("a close code");
    assert_eq!(frame.code, CloseCode::Size, "{frame:?}");
}

/// Reads `count` binary messages of the form `[sender, seq(4 bytes), ...]`
/// and checks each sender's sequence.
pub(crate) async fn receive_in_order(client: &mut Client, senders: usize, count: usize) {
    let mut next_seq: HashMap<u8, u32> = HashMap::new();
    for _ in 0..count {
        let Message::Binary(data) = next_data(client).await else {
            panic!("expected binary messages");
        };
        let sender = data[0];
        let seq = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
        let expected = next_seq.entry(sender).or_insert(0);
        assert_eq!(
            seq, *expected,
            "from sender {sender}: gap, duplicate or reorder"
        );
        *expected += 1;
    }
    assert_eq!(next_seq.len(), senders, "heard every sender");
}

pub(crate) fn numbered(sender: u8, seq: u32, size: usize) -> Message {
    let mut data = vec![0u8; size];
    data[0] = sender;
    data[1..5].copy_from_slice(&seq.to_be_bytes());
    Message::binary(data)
}

/// A member that stops reading under a broadcast flood is disconnected by the
/// slow consumer policy, and the other members receive every message.
pub async fn stalled_member_is_disconnected_and_the_room_keeps_receiving<H: Handler>(
    flush: FlushPolicy,
) {
    const MESSAGES: u32 = 300;
    const SIZE: usize = 32 << 10;
    let server = start::<H>(ServerConfig {
        send_timeout: Duration::from_millis(300),
        queue_capacity: 128,
        ..config(flush)
    });
    let url = server.url("/ws/room/flood");
    let stalled = testkit::connect_with_receive_buffer(&url, 4096)
        .await
        .expect("connect");
    let sender = connect(&url).await;
    let mut listener = connect(&url).await;
    eventually("room members", 3, || server.metrics().room_members.get()).await;

    // The sender keeps at most WINDOW of its own messages unheard, so the
    // healthy members are never far behind and only the stalled one can
    // trip the policy.
    const WINDOW: u32 = 16;
    let flood = async move {
        let mut sender = sender;
        let mut heard = 0;
        for seq in 0..MESSAGES {
            sender.send(numbered(0, seq, SIZE)).await.expect("send");
            while heard + WINDOW <= seq {
                let Message::Binary(data) = next_data(&mut sender).await else {
                    panic!("expected binary messages");
                };
                assert_eq!(
                    u32::from_be_bytes([data[1], data[2], data[3], data[4]]),
                    heard,
                    "own delivery order"
                );
                heard += 1;
            }
        }
        while heard < MESSAGES {
            let Message::Binary(data) = next_data(&mut sender).await else {
                panic!("expected binary messages");
            };
            assert_eq!(
                u32::from_be_bytes([data[1], data[2], data[3], data[4]]),
                heard,
                "own delivery order"
            );
            heard += 1;
        }
        sender
    };
    let (_sender, ()) = tokio::join!(flood, receive_in_order(&mut listener, 1, MESSAGES as usize));

    // Not necessarily during the flood: a server may only notice the stall
    // when its send timeout fires.
    eventually("room members", 2, || server.metrics().room_members.get()).await;
    assert!(
        server.metrics().slow_consumer_disconnects.get() >= 1,
        "the stalled member was disconnected by the policy"
    );
    drop(stalled);
}

/// A member that pauses (shorter than the send timeout) while many members
/// write to it gets everything once it reads again. Catches lost wakeups:
/// with several writers parked on one socket, one of them must be woken when
/// the socket drains.
pub async fn paused_member_with_many_writers_catches_up<H: Handler>(flush: FlushPolicy) {
    const WRITERS: u8 = 8;
    const MESSAGES: u32 = 25;
    const SIZE: usize = 32 << 10;
    let server = start::<H>(ServerConfig {
        send_timeout: Duration::from_secs(20),
        ..config(flush)
    });
    let url = server.url("/ws/room/pause");
    let mut paused = testkit::connect_with_receive_buffer(&url, 4096)
        .await
        .expect("connect");
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        writers.push(connect(&url).await);
    }
    eventually("room members", i64::from(WRITERS) + 1, || {
        server.metrics().room_members.get()
    })
    .await;

    let total = usize::from(WRITERS) * MESSAGES as usize;
    let writing = writers
        .into_iter()
        .enumerate()
        .map(|(me, client)| async move {
            let me = u8::try_from(me).expect("few writers");
            let (mut tx, mut rx) = client.split();
            let send = async move {
                for seq in 0..MESSAGES {
                    tx.send(numbered(me, seq, SIZE)).await.expect("send");
                }
                tx
            };
            // Writers read too, or they would be stalled members themselves.
            let drain = async move {
                let mut seen = 0;
                while seen < total {
                    match tokio::time::timeout(RECEIVE_TIMEOUT, rx.next())
                        .await
                        .expect("delivery in time")
                    {
                        Some(Ok(Message::Binary(_))) => seen += 1,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        other => panic!("writer {me}: {other:?}"),
                    }
                }
                rx
            };
            let _ = tokio::join!(send, drain);
        });
    let resume = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        receive_in_order(&mut paused, usize::from(WRITERS), total).await;
    };
    let ((), _) = tokio::join!(resume, futures_util::future::join_all(writing));
    assert_eq!(
        server.metrics().slow_consumer_disconnects.get(),
        0,
        "nobody was disconnected"
    );
}

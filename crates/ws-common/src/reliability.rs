//! The reliability suite: what every server must survive, in a form short
//! enough for every test run (the full forms are `ws-loadgen churn` and
//! `ws-loadgen badinput` in the comparison script). It runs through the same
//! [`conformance_tests!`](crate::conformance_tests) line as the conformance
//! suite, so every server runs it with no change to its crate:
//!
//! - **bad input on the wire**: every input of [`raw::catalog`] (garbage
//!   instead of a handshake, unmasked frames, reserved bits and opcodes,
//!   fragmented or oversized control frames, invalid UTF-8, invalid close
//!   codes, messages over the limit, orphan continuations) is answered the
//!   way RFC 6455 prescribes, and after each one the server still serves;
//! - **a bounded fuzz**: [`FUZZ_CASES`] generated frame sequences (proptest,
//!   fixed seed) never stop the server from serving;
//! - **limits**: `--max-connections` and `--max-rooms` refuse with 503
//!   before the upgrade (`--max-message-size` is in the catalog and in the
//!   conformance suite, the room name length in the conformance suite);
//!   slow requests are closed within `--handshake-timeout` while a canary
//!   echoes and new clients connect, and sockets not yet upgraded count
//!   against `--max-handshakes`;
//! - **churn**: [`CHURN_CYCLES`] connect/disconnect cycles, a third of them
//!   reset without a Close (some in the middle of a frame), leave the
//!   connection, room and membership gauges at zero;
//! - **shutdown under load**: every flooding client gets Close 1001, stalled
//!   ones are cut off, and the shutdown is clean and within the grace;
//! - **the strategy's own metrics**: lock acquisitions and waits, or the
//!   writer queue's depth, count what happened, and only the server's own
//!   are non-zero.
//!
//! "The server still serves" is checked without installing anything global
//! (no panic hook): a canary connection opened before the bad input still
//! echoes, a new connection echoes, and the open-connections gauge is back
//! where it was. A panic in a connection task would leave the gauge or the
//! canary wrong; a panic that took the server down would fail the new
//! connection.
//!
//! Every case is bounded by [`crate::conformance::CASE_TIMEOUT`] and each
//! of its waits by a timeout of its own; servers listen on 127.0.0.1:0.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::{Just, Strategy, any, prop, prop_oneof};
use proptest::test_runner::{
    Config as ProptestConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::config::ServerConfig;
use crate::handler::Handler;
use crate::metrics::{Metrics, StrategyMetrics};
use crate::testkit::raw::{self, BadInput, Frame, RawClient, Stage};
use crate::testkit::{self, Client, TestServer};

/// How long a client waits for one expected message or state.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one bad input may take to be answered.
const BAD_INPUT_BOUND: Duration = Duration::from_secs(5);

/// `--max-message-size` of the servers in this suite: small, so the
/// over-the-limit inputs are cheap to send.
const MAX_MESSAGE_SIZE: usize = 64 << 10;

/// Generated frame sequences thrown at each server.
pub const FUZZ_CASES: u32 = 64;

/// How long one fuzz case may wait for the server's answer.
const FUZZ_BOUND: Duration = Duration::from_secs(2);

/// Connect/disconnect cycles of the churn cases.
pub const CHURN_CYCLES: usize = 300;

/// Cycles in progress at once.
const CHURN_CONCURRENCY: usize = 8;

/// The path every echo check uses.
const ECHO: &str = "/ws/echo";

/// The defaults on an ephemeral port, with a short shutdown grace and a
/// small message limit.
fn config() -> ServerConfig {
    ServerConfig {
        workers: Some(2),
        shutdown_grace: Duration::from_secs(3),
        max_message_size: MAX_MESSAGE_SIZE,
        ..ServerConfig::ephemeral()
    }
}

fn start<H: Handler>(config: ServerConfig) -> TestServer {
    TestServer::start::<H>(config).expect("the server starts")
}

async fn connect(url: &str) -> Client {
    tokio::time::timeout(RECEIVE_TIMEOUT, testkit::connect(url))
        .await
        .unwrap_or_else(|_| panic!("connect to {url}: no answer in time"))
        .unwrap_or_else(|err| panic!("connect to {url}: {err}"))
}

/// Sends `text` and waits until it comes back (an echo, or a room's
/// delivery to its sender), skipping anything else that arrives.
async fn try_echo(client: &mut Client, text: &str) -> Result<(), String> {
    let exchange = async {
        client
            .send(Message::text(text))
            .await
            .map_err(|err| format!("send: {err}"))?;
        loop {
            match client.next().await {
                Some(Ok(Message::Text(got))) if got.as_str() == text => return Ok(()),
                Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(format!("failed: {err}")),
                None => return Err("ended".to_owned()),
            }
        }
    };
    tokio::time::timeout(RECEIVE_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no echo within {RECEIVE_TIMEOUT:?}")))
}

/// Closes `client` and reads until the server's side is gone.
async fn close(mut client: Client) {
    let bye = async {
        let _ = client.close(None).await;
        while let Some(Ok(_)) = client.next().await {}
    };
    let _ = tokio::time::timeout(RECEIVE_TIMEOUT, bye).await;
}

/// Waits until `value` equals `expected`, or fails after `RECEIVE_TIMEOUT`.
async fn try_eventually(what: &str, expected: i64, value: impl Fn() -> i64) -> Result<(), String> {
    let deadline = Instant::now() + RECEIVE_TIMEOUT;
    while value() != expected {
        if Instant::now() >= deadline {
            return Err(format!(
                "{what}: expected {expected}, still {} after {RECEIVE_TIMEOUT:?}",
                value()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn eventually(what: &str, expected: i64, value: impl Fn() -> i64) {
    if let Err(err) = try_eventually(what, expected, value).await {
        panic!("{err}");
    }
}

/// Whether the server still serves after `what`: the canary (opened
/// before) echoes, a new connection echoes, and the open-connections gauge
/// is back at `baseline` once the new connection is closed.
async fn try_still_serves(
    url: &str,
    metrics: &Metrics,
    canary: &mut Client,
    baseline: i64,
    what: &str,
) -> Result<(), String> {
    try_echo(canary, &format!("canary after {what}"))
        .await
        .map_err(|err| format!("after {what}, the canary: {err}"))?;
    let mut fresh = tokio::time::timeout(RECEIVE_TIMEOUT, testkit::connect(url))
        .await
        .map_err(|_| format!("after {what}, a new connection: no answer in time"))?
        .map_err(|err| format!("after {what}, a new connection: {err}"))?;
    try_echo(&mut fresh, "fresh")
        .await
        .map_err(|err| format!("after {what}, a new connection: {err}"))?;
    close(fresh).await;
    try_eventually(&format!("open connections after {what}"), baseline, || {
        metrics.connections.get()
    })
    .await
}

/// Opens the canary of a bad-input case and waits until the server counts it.
async fn canary(server: &TestServer) -> Client {
    let client = connect(&server.url(ECHO)).await;
    eventually("open connections", 1, || server.metrics().connections.get()).await;
    client
}

/// Random bytes, a truncated request and a wrong version instead of a valid
/// upgrade get an HTTP 4xx or a closed connection, and the server still
/// serves after each.
pub async fn handshake_garbage_is_refused<H: Handler>() {
    bad_inputs::<H>(|input| matches!(input.stage, Stage::Handshake { .. })).await;
}

/// Every bad frame of the catalog is answered with the Close code RFC 6455
/// prescribes (1002, 1007 or 1009), and the server still serves after each.
pub async fn bad_frames_are_closed_with_the_rfc_code<H: Handler>() {
    bad_inputs::<H>(|input| matches!(input.stage, Stage::Frames(_))).await;
}

async fn bad_inputs<H: Handler>(select: impl Fn(&BadInput) -> bool) {
    let server = start::<H>(config());
    let url = server.url(ECHO);
    let mut canary = canary(&server).await;
    let mut wrong = Vec::new();
    for input in raw::catalog(ECHO, MAX_MESSAGE_SIZE)
        .iter()
        .filter(|input| select(input))
    {
        let outcome = raw::run_input(server.addr(), ECHO, input, BAD_INPUT_BOUND)
            .await
            .unwrap_or_else(|err| panic!("{}: the upgrade before it failed: {err}", input.name));
        // Shown with --nocapture: the answer of each server to each input.
        eprintln!("{}: {}: {outcome}", H::NAME, input.name);
        if !input.expect.accepts(&outcome) {
            wrong.push(format!(
                "{}: expected {}, got {outcome}",
                input.name, input.expect
            ));
        }
        if let Err(err) =
            try_still_serves(&url, server.metrics(), &mut canary, 1, &input.name).await
        {
            panic!("{err}");
        }
    }
    assert!(
        wrong.is_empty(),
        "{} answered bad input unlike RFC 6455:\n{}",
        H::NAME,
        wrong.join("\n")
    );
}

/// One generated frame: mostly plausible (known opcodes, masked, no
/// reserved bits, honest length), sometimes anything at all.
fn arb_frame() -> impl Strategy<Value = Frame> {
    let fin = prop_oneof![4 => Just(true), 1 => Just(false)];
    let rsv = prop_oneof![6 => Just(0u8), 1 => 0u8..8];
    let opcode = prop_oneof![
        6 => prop::sample::select(vec![0u8, 1, 2, 8, 9, 10]),
        1 => 0u8..16,
    ];
    let mask = prop_oneof![8 => any::<[u8; 4]>().prop_map(Some), 1 => Just(None)];
    let payload = prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..160),
        3 => prop::collection::vec(any::<char>(), 0..40)
            .prop_map(|chars| chars.into_iter().collect::<String>().into_bytes()),
        1 => (120usize..70_000).prop_map(|len| vec![b'x'; len]),
    ];
    let declared_len = prop_oneof![
        10 => Just(None),
        1 => (0u64..300).prop_map(Some),
        1 => any::<u64>().prop_map(Some),
    ];
    (fin, rsv, opcode, mask, payload, declared_len).prop_map(
        |(fin, rsv, opcode, mask, payload, declared_len)| Frame {
            fin,
            rsv,
            opcode,
            mask,
            payload,
            declared_len,
        },
    )
}

/// Generated frame sequences (up to 6 frames, some invalid, some announcing
/// more than they send, up to ~70 KB), each ended by a half-close or a
/// reset: the server answers or drops each connection, and after every one
/// it still serves (canary, new connection, gauge back to the canary alone).
/// The seed is fixed, so a failure reproduces; proptest shrinks it (briefly)
/// to a smaller sequence.
pub async fn fuzzed_frames_never_break_the_server<H: Handler>() {
    let server = start::<H>(config());
    let canary = Arc::new(tokio::sync::Mutex::new(canary(&server).await));
    let addr = server.addr();
    let url = server.url(ECHO);
    let metrics = server.metrics().clone();
    let runtime = tokio::runtime::Handle::current();
    // proptest drives its cases synchronously, so it runs on a blocking
    // thread and drives each case's async client on this test's runtime.
    let verdict = tokio::task::spawn_blocking(move || {
        let config = ProptestConfig {
            cases: FUZZ_CASES,
            max_shrink_iters: 16,
            max_shrink_time: 10_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        let sequences = (prop::collection::vec(arb_frame(), 1..7), any::<bool>());
        runner
            .run(&sequences, |(frames, reset)| {
                runtime
                    .block_on(fuzz_case(addr, &url, &metrics, &canary, &frames, reset))
                    .map_err(TestCaseError::fail)
            })
            .map_err(|err| err.to_string())
    })
    .await
    .expect("the fuzz thread");
    if let Err(err) = verdict {
        panic!("{}: {err}", H::NAME);
    }
}

async fn fuzz_case(
    addr: std::net::SocketAddr,
    url: &str,
    metrics: &Metrics,
    canary: &tokio::sync::Mutex<Client>,
    frames: &[Frame],
    reset: bool,
) -> Result<(), String> {
    let mut client = tokio::time::timeout(FUZZ_BOUND, RawClient::upgrade(addr, ECHO))
        .await
        .map_err(|_| "the upgrade did not finish in time".to_owned())?
        .map_err(|err| format!("upgrade: {err}"))?;
    let mut bytes = Vec::new();
    for frame in frames {
        frame.encode_into(&mut bytes);
    }
    // The server may close (and stop reading) before everything is written.
    let _ = tokio::time::timeout(FUZZ_BOUND, client.send(&bytes)).await;
    if reset {
        let _ = client.reset();
    } else {
        let _ = client.shutdown_write().await;
        let _ = client.outcome(FUZZ_BOUND).await;
    }
    let mut canary = canary.lock().await;
    try_still_serves(url, metrics, &mut canary, 1, "the generated frames").await
}

/// Over `--max-connections`, upgrades (echo and rooms) get 503 before the
/// upgrade; open connections keep working, and once one closes a new one is
/// admitted.
pub async fn connection_limit_refuses_upgrades_with_503<H: Handler>() {
    const LIMIT: usize = 3;
    let server = start::<H>(ServerConfig {
        max_connections: LIMIT,
        ..config()
    });
    let url = server.url(ECHO);
    let mut open = Vec::new();
    for _ in 0..LIMIT {
        open.push(connect(&url).await);
    }
    eventually("open connections", LIMIT as i64, || {
        server.metrics().connections.get()
    })
    .await;
    let mut refused_paths = vec![ECHO];
    if H::SERVES_ROOMS {
        refused_paths.push("/ws/room/lobby");
    }
    for path in &refused_paths {
        let refused =
            tokio::time::timeout(RECEIVE_TIMEOUT, RawClient::upgrade(server.addr(), path))
                .await
                .expect("an answer in time");
        assert!(
            matches!(refused, Err(raw::RawError::Refused(503))),
            "{path} over the connection limit: {refused:?}"
        );
    }
    match testkit::connect(&url).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("a client over the limit must get 503, got {other:?}"),
    }
    assert!(
        server.metrics().refused_upgrades.get() > refused_paths.len() as u64,
        "every refusal is counted"
    );
    for (i, client) in open.iter_mut().enumerate() {
        try_echo(client, &format!("still open {i}"))
            .await
            .unwrap_or_else(|err| panic!("connection {i} under the limit: {err}"));
    }
    if let Some(leaving) = open.pop() {
        close(leaving).await;
    }
    // The permit is released a moment after the gauge drops: retry briefly.
    let deadline = Instant::now() + RECEIVE_TIMEOUT;
    let mut admitted = loop {
        match testkit::connect(&url).await {
            Ok(client) => break client,
            Err(err) if Instant::now() >= deadline => {
                panic!("a connection under the limit again is admitted: {err}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    try_echo(&mut admitted, "admitted")
        .await
        .unwrap_or_else(|err| panic!("the admitted connection: {err}"));
}

/// `--max-inbound-bytes` of the partial-message case: a few messages' worth.
const INBOUND_BUDGET: usize = 256 << 10;

/// Connections of the partial-message case, each holding [`PARTIAL`] bytes
/// of a message it never finishes: twice the budget in all.
const ATTACKERS: usize = 10;

/// What each attacker sends of its message.
const PARTIAL: usize = 48 << 10;

/// `--read-buffer-size` of the partial-message case: each attacker is
/// charged one read on top of its bytes (see `ws_common::inbound`).
const READ_BUFFER: usize = 16 << 10;

/// Connections holding partial messages past `--max-inbound-bytes` are
/// closed with 1009, the largest first, until what is held fits the budget;
/// the rest stay open, a canary keeps echoing and new clients are served.
pub async fn partial_messages_past_the_inbound_budget_are_closed_with_1009<H: Handler>() {
    let server = start::<H>(ServerConfig {
        max_inbound_bytes: INBOUND_BUDGET,
        read_buffer_size: READ_BUFFER,
        ..config()
    });
    let mut canary = canary(&server).await;
    let mut attackers = Vec::new();
    for i in 0..ATTACKERS {
        let mut attacker =
            tokio::time::timeout(RECEIVE_TIMEOUT, RawClient::upgrade(server.addr(), ECHO))
                .await
                .expect("upgrade in time")
                .unwrap_or_else(|err| panic!("attacker {i}: {err}"));
        // A frame announcing more than it sends: the rest never comes.
        let frame = Frame::binary(vec![7; PARTIAL]).declaring_len(MAX_MESSAGE_SIZE as u64);
        attacker
            .send_frame(&frame)
            .await
            .unwrap_or_else(|err| panic!("attacker {i}: {err}"));
        try_echo(&mut canary, &format!("canary after attacker {i}"))
            .await
            .unwrap_or_else(|err| panic!("the canary after attacker {i}: {err}"));
        attackers.push(attacker);
    }
    // Each is charged a little more than PARTIAL (the frame header) plus
    // one read: at most this many fit in the budget.
    let fit = INBOUND_BUDGET / (PARTIAL + 1 + READ_BUFFER);
    let least_evicted = (ATTACKERS - fit) as u64;
    let deadline = Instant::now() + RECEIVE_TIMEOUT;
    while server.metrics().inbound_budget_evictions.get() < least_evicted {
        assert!(
            Instant::now() < deadline,
            "{} evictions, expected at least {least_evicted}",
            server.metrics().inbound_budget_evictions.get()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let outcomes = futures_util::future::join_all(
        attackers
            .iter_mut()
            .map(|attacker| attacker.outcome(Duration::from_millis(500))),
    )
    .await;
    let mut closed = 0;
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            raw::Outcome::Closed {
                code: Some(1009), ..
            } => closed += 1,
            raw::Outcome::TimedOut => {}
            other => panic!("attacker {i}: closed with 1009 or left open, got {other}"),
        }
    }
    assert_eq!(
        closed,
        server.metrics().inbound_budget_evictions.get(),
        "every eviction is counted, and only evictions close attackers: {outcomes:?}"
    );
    assert!(
        closed >= least_evicted && closed < ATTACKERS as u64,
        "{closed} of {ATTACKERS} attackers closed; at least {least_evicted}, and those that fit stay"
    );
    drop(attackers);
    try_still_serves(
        &server.url(ECHO),
        server.metrics(),
        &mut canary,
        1,
        "the attack",
    )
    .await
    .unwrap_or_else(|err| panic!("{err}"));
}

/// `--handshake-timeout` of the slow-request cases: short, so they are quick.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);

/// How far past the handshake timeout a slow socket may stay open.
const HANDSHAKE_SLACK: Duration = Duration::from_secs(1);

/// Opens a socket that sends the start of an upgrade request and nothing
/// more: the slow request of a slow-loris client.
async fn slow_request(server: &TestServer) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut socket = tokio::time::timeout(
        RECEIVE_TIMEOUT,
        tokio::net::TcpStream::connect(server.addr()),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    socket
        .write_all(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send the start of a request");
    socket
}

/// Whether the server closes `socket` within `bound` (EOF or a reset).
async fn closed_within(socket: &mut tokio::net::TcpStream, bound: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let read_until_closed = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                // A 408 or similar before the close is fine.
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(bound, read_until_closed).await.is_ok()
}

/// Sockets whose request never completes are closed within
/// `--handshake-timeout` (plus a second), while a canary connection keeps
/// echoing and new clients connect.
pub async fn slow_requests_are_closed_within_the_handshake_timeout<H: Handler>() {
    const SLOW: usize = 50;
    let server = start::<H>(ServerConfig {
        handshake_timeout: HANDSHAKE_TIMEOUT,
        ..config()
    });
    let mut canary = canary(&server).await;
    let opened = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        slow.push(slow_request(&server).await);
    }
    // New clients are served while the slow ones wait.
    try_still_serves(
        &server.url(ECHO),
        server.metrics(),
        &mut canary,
        1,
        "slow requests",
    )
    .await
    .unwrap_or_else(|err| panic!("{err}"));
    let bound = HANDSHAKE_TIMEOUT + HANDSHAKE_SLACK;
    for (i, socket) in slow.iter_mut().enumerate() {
        let left = bound.saturating_sub(opened.elapsed());
        assert!(
            closed_within(socket, left).await,
            "slow request {i} still open {:?} after it was opened",
            opened.elapsed()
        );
    }
    try_still_serves(
        &server.url(ECHO),
        server.metrics(),
        &mut canary,
        1,
        "the timeouts",
    )
    .await
    .unwrap_or_else(|err| panic!("{err}"));
}

/// Sockets not yet upgraded count against `--max-handshakes`: with the limit
/// taken by slow requests, a new client waits (in the kernel's backlog, not
/// holding a descriptor) until one of them times out, and is then served.
pub async fn sockets_before_the_upgrade_are_limited<H: Handler>() {
    const LIMIT: usize = 4;
    let server = start::<H>(ServerConfig {
        handshake_timeout: HANDSHAKE_TIMEOUT * 2,
        max_handshakes: LIMIT,
        ..config()
    });
    let mut slow = Vec::new();
    for _ in 0..LIMIT {
        slow.push(slow_request(&server).await);
    }
    let opened = Instant::now();
    let url = server.url(ECHO);
    let waiting = testkit::connect(&url);
    tokio::pin!(waiting);
    // Well within the timeout, the new client is still waiting: the slow
    // requests hold every permit.
    let early = tokio::time::timeout(HANDSHAKE_TIMEOUT / 2, waiting.as_mut()).await;
    assert!(
        early.is_err(),
        "a client over --max-handshakes {LIMIT} was served while the slow requests held every permit"
    );
    let mut client = tokio::time::timeout(RECEIVE_TIMEOUT, waiting)
        .await
        .expect("admitted once the slow requests time out")
        .unwrap_or_else(|err| panic!("the waiting client: {err}"));
    assert!(
        opened.elapsed() <= HANDSHAKE_TIMEOUT * 2 + HANDSHAKE_SLACK,
        "admitted only after {:?}",
        opened.elapsed()
    );
    try_echo(&mut client, "admitted")
        .await
        .unwrap_or_else(|err| panic!("the admitted client: {err}"));
}

/// Over `--max-rooms`, an upgrade to a new room gets 503 before the upgrade;
/// existing rooms still admit members, and once a room empties a new one
/// can be opened.
pub async fn room_limit_refuses_new_rooms_with_503<H: Handler>() {
    let server = start::<H>(ServerConfig {
        max_rooms: 2,
        ..config()
    });
    let _a = connect(&server.url("/ws/room/a")).await;
    let b = connect(&server.url("/ws/room/b")).await;
    eventually("rooms", 2, || server.metrics().rooms.get()).await;
    let (status, body) = tokio::time::timeout(
        RECEIVE_TIMEOUT,
        testkit::http_get(server.addr(), "/ws/room/c", testkit::UPGRADE_HEADERS),
    )
    .await
    .expect("an answer in time")
    .expect("an HTTP exchange");
    assert_eq!(status, 503, "a third room over --max-rooms 2: {body}");
    assert!(
        body.contains("rooms"),
        "the reason says what is wrong: {body:?}"
    );
    assert!(server.metrics().refused_upgrades.get() >= 1);
    let mut a2 = connect(&server.url("/ws/room/a")).await;
    try_echo(&mut a2, "an existing room still admits")
        .await
        .unwrap_or_else(|err| panic!("second member of room a: {err}"));
    close(b).await;
    eventually("rooms", 1, || server.metrics().rooms.get()).await;
    let mut c = connect(&server.url("/ws/room/c")).await;
    try_echo(&mut c, "a new room once one emptied")
        .await
        .unwrap_or_else(|err| panic!("member of room c: {err}"));
}

/// How one churn cycle ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    /// A Close handshake.
    Polite,
    /// A TCP reset without a Close, after a complete message.
    Reset,
    /// A TCP reset in the middle of a frame.
    MidFrame,
}

/// A third of the cycles reset, a third of those in the middle of a frame.
fn leave_of(cycle: usize) -> Leave {
    match cycle % 9 {
        0 => Leave::MidFrame,
        3 | 6 => Leave::Reset,
        _ => Leave::Polite,
    }
}

/// One cycle: connect to `path`, send a message and wait for it to come
/// back, then leave as `leave` says. Mid-frame cycles send only the start
/// of a frame. Returns whether a complete message was sent.
async fn churn_cycle(server: &TestServer, path: &str, cycle: usize) -> bool {
    let leave = leave_of(cycle);
    if leave == Leave::MidFrame {
        let mut client =
            tokio::time::timeout(RECEIVE_TIMEOUT, RawClient::upgrade(server.addr(), path))
                .await
                .unwrap_or_else(|_| panic!("cycle {cycle}: no upgrade in time"))
                .unwrap_or_else(|err| panic!("cycle {cycle}: {err}"));
        let frame = Frame::binary(vec![b'm'; 200]).encode();
        client
            .send(&frame[..40])
            .await
            .unwrap_or_else(|err| panic!("cycle {cycle}: {err}"));
        client
            .reset()
            .unwrap_or_else(|err| panic!("cycle {cycle}: {err}"));
        return false;
    }
    let mut client = connect(&server.url(path)).await;
    try_echo(&mut client, &format!("cycle {cycle}"))
        .await
        .unwrap_or_else(|err| panic!("cycle {cycle} on {path}: {err}"));
    match leave {
        Leave::Reset => testkit::reset(client).expect("reset"),
        _ => close(client).await,
    }
    true
}

/// Runs [`CHURN_CYCLES`] cycles on `path_of(cycle)`, [`CHURN_CONCURRENCY`]
/// at a time, then checks through [`TestServer::metrics`] and once through
/// `GET /metrics` that nothing is left: no connection, room or membership,
/// and exactly one message read per complete cycle.
async fn churn<H: Handler>(path_of: impl Fn(usize) -> String) {
    let server = start::<H>(config());
    let complete = futures_util::stream::iter(0..CHURN_CYCLES)
        .map(|cycle| {
            let path = path_of(cycle);
            let server = &server;
            async move { churn_cycle(server, &path, cycle).await }
        })
        .buffer_unordered(CHURN_CONCURRENCY)
        .filter(|complete| std::future::ready(*complete))
        .count()
        .await as u64;
    let metrics = server.metrics();
    eventually("open connections after churn", 0, || {
        metrics.connections.get()
    })
    .await;
    eventually("rooms after churn", 0, || metrics.rooms.get()).await;
    eventually("room members after churn", 0, || metrics.room_members.get()).await;
    assert_eq!(
        metrics.messages_received.get(),
        complete,
        "one message read per complete cycle"
    );
    // What an operator sees: the Prometheus text says the same.
    let scraped = tokio::time::timeout(RECEIVE_TIMEOUT, raw::scrape(server.addr(), "/metrics"))
        .await
        .expect("/metrics in time")
        .expect("/metrics answers 200");
    for (series, expected) in [
        ("ws_connections", 0.0),
        ("ws_rooms", 0.0),
        ("ws_room_members", 0.0),
        ("ws_messages_received_total", complete as f64),
    ] {
        assert_eq!(
            scraped.get(series),
            Some(&expected),
            "{series} in GET /metrics"
        );
    }
}

/// Echo churn: [`CHURN_CYCLES`] cycles, a third of them reset without a
/// Close (a third of those mid-frame); afterwards nothing is left open.
pub async fn echo_churn_releases_everything<H: Handler>() {
    churn::<H>(|_| ECHO.to_owned()).await;
}

/// Room churn: the same over four rooms; afterwards no connection, room or
/// membership is left.
pub async fn room_churn_releases_everything<H: Handler>() {
    churn::<H>(|cycle| format!("/ws/room/churn-{}", cycle % 4)).await;
}

/// Floods through `client` (tagged `id`), keeping at most 16 of its own
/// messages unanswered, until the server closes: returns the close code.
async fn flood(mut client: Client, id: u8) -> Result<Option<u16>, String> {
    const WINDOW: usize = 16;
    let mut outstanding = 0;
    let mut sending = true;
    loop {
        while sending && outstanding < WINDOW {
            let mut data = vec![0u8; 1024];
            data[0] = id;
            if client.feed(Message::binary(data)).await.is_err() {
                sending = false;
            }
            outstanding += 1;
        }
        if sending && client.flush().await.is_err() {
            sending = false;
        }
        match tokio::time::timeout(RECEIVE_TIMEOUT, client.next()).await {
            Err(_) => return Err(format!("flooder {id}: nothing arrived in time")),
            Ok(Some(Ok(Message::Binary(data)))) => {
                if data.first() == Some(&id) {
                    outstanding = outstanding.saturating_sub(1);
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => return Ok(frame.map(|f| u16::from(f.code))),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(err))) => {
                return Err(format!("flooder {id}: failed before a close: {err}"));
            }
            Ok(None) => return Err(format!("flooder {id}: ended without a close")),
        }
    }
}

/// Reads a stalled client's backlog until its connection ends, whichever way.
async fn ends(client: &mut Client, bound: Duration) -> bool {
    tokio::time::timeout(bound, async {
        while let Some(Ok(message)) = client.next().await {
            if matches!(message, Message::Close(_)) {
                return;
            }
        }
    })
    .await
    .is_ok()
}

/// A shutdown while clients flood echo (and a room): every flooding client
/// gets Close 1001, stalled clients (that stopped reading) are cut off, and
/// the shutdown is clean and shorter than the grace, although the send
/// timeout (5 s) is longer than the grace (3 s).
pub async fn shutdown_under_load_closes_everyone_with_1001<H: Handler>() {
    let config = config();
    let grace = config.shutdown_grace;
    let server = start::<H>(config);
    let mut paths = vec![ECHO; 3];
    if H::SERVES_ROOMS {
        paths.extend(["/ws/room/flood"; 3]);
    }
    let mut flooders = Vec::new();
    for path in &paths {
        flooders.push(connect(&server.url(path)).await);
    }
    let mut stalled_paths = vec![ECHO];
    if H::SERVES_ROOMS {
        stalled_paths.push("/ws/room/flood");
    }
    let mut stalled = Vec::new();
    for path in &stalled_paths {
        let client = testkit::connect_with_receive_buffer(&server.url(path), 4096)
            .await
            .expect("connect");
        stalled.push(client);
    }
    eventually(
        "open connections",
        (paths.len() + stalled.len()) as i64,
        || server.metrics().connections.get(),
    )
    .await;

    let floods: Vec<_> = flooders
        .into_iter()
        .enumerate()
        .map(|(id, client)| tokio::spawn(flood(client, u8::try_from(id).expect("few flooders"))))
        .collect();
    // The stalled echo client sends but never reads, so its echoes back up.
    let (mut stalled_tx, stalled_rx) = stalled.remove(0).split();
    let stalling = tokio::spawn(async move {
        for _ in 0..256 {
            let sent = stalled_tx.send(Message::binary(vec![0xEE; 16 << 10]));
            match tokio::time::timeout(Duration::from_secs(1), sent).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        stalled_tx
    });
    // Load is flowing before the shutdown starts.
    let deadline = Instant::now() + RECEIVE_TIMEOUT;
    while server.metrics().messages_received.get() < 500 {
        assert!(Instant::now() < deadline, "the flood did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let stopping = tokio::task::spawn_blocking(move || server.shutdown());
    for (id, flood) in floods.into_iter().enumerate() {
        let code = flood.await.expect("the flooder task");
        assert_eq!(
            code,
            Ok(Some(1001)),
            "{}: flooder {id} ({}) gets Close 1001",
            H::NAME,
            paths[id]
        );
    }
    let bound = grace + Duration::from_secs(2);
    let stalled_tx = stalling.await.expect("the stalled sender");
    let mut stalled_echo = stalled_tx
        .reunite(stalled_rx)
        .expect("halves of one client");
    assert!(
        ends(&mut stalled_echo, bound).await,
        "{}: the stalled echo client's connection ends",
        H::NAME
    );
    for client in &mut stalled {
        assert!(
            ends(client, bound).await,
            "{}: the stalled room member's connection ends",
            H::NAME
        );
    }
    let report = stopping
        .await
        .expect("join")
        .expect("the server shuts down");
    assert!(
        report.clean,
        "{}: every connection closed within the grace: {report:?}",
        H::NAME
    );
    assert!(
        report.took < grace,
        "{}: shutdown took {:?}, the grace is {grace:?}",
        H::NAME,
        report.took
    );
}

/// The strategy's own figures in `GET /metrics` count what happened, and a
/// server reports only its own: lock acquisitions (every delivery takes the
/// lock at least once; every contended acquisition is timed) for the mutex
/// variants, queue depth at each wake-up of the writer task (every message
/// is in the batch it is written in) for the mpsc variant, neither for the
/// reference servers.
pub async fn strategy_metrics_count_what_happened<H: Handler>() {
    const MEMBERS: usize = 4;
    const MESSAGES: usize = 50;
    let server = start::<H>(config());
    let path = if H::SERVES_ROOMS {
        "/ws/room/metrics"
    } else {
        ECHO
    };
    let mut clients = Vec::new();
    for _ in 0..MEMBERS {
        clients.push(connect(&server.url(path)).await);
    }
    if H::SERVES_ROOMS {
        eventually("room members", MEMBERS as i64, || {
            server.metrics().room_members.get()
        })
        .await;
    }
    let per_member = if H::SERVES_ROOMS {
        MEMBERS * MESSAGES
    } else {
        MESSAGES
    };
    // Every member sends all it has before reading, so writers meet on the sinks.
    let exchanges = clients.into_iter().enumerate().map(|(me, mut client)| {
        let exchange = async move {
            for seq in 0..MESSAGES {
                let text = format!("{me}:{seq}");
                client
                    .feed(Message::text(text))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            client.flush().await.map_err(|e| e.to_string())?;
            let mut received = 0;
            while received < per_member {
                match client.next().await {
                    Some(Ok(Message::Text(_))) => received += 1,
                    Some(Ok(_)) => {}
                    other => return Err(format!("member {me}: {other:?}")),
                }
            }
            Ok(client)
        };
        async move {
            tokio::time::timeout(RECEIVE_TIMEOUT, exchange)
                .await
                .unwrap_or_else(|_| Err(format!("member {me}: not everything in time")))
        }
    });
    let clients: Vec<Client> = futures_util::future::join_all(exchanges)
        .await
        .into_iter()
        .collect::<Result<_, String>>()
        .unwrap_or_else(|err| panic!("{}: {err}", H::NAME));

    let scraped = tokio::time::timeout(RECEIVE_TIMEOUT, raw::scrape(server.addr(), "/metrics"))
        .await
        .expect("/metrics in time")
        .expect("/metrics answers 200");
    let value = |series: &str| {
        scraped
            .get(series)
            .copied()
            .unwrap_or_else(|| panic!("{series} missing from GET /metrics"))
    };
    let acquisitions = value("ws_sink_lock_acquisitions_total");
    let contended = value("ws_sink_lock_contended_total");
    let timed_waits = value("ws_sink_lock_wait_seconds_count");
    let wakeups = value("ws_writer_queue_depth_count");
    let queued = value("ws_writer_queue_depth_sum");
    let delivered = (MEMBERS * per_member) as f64;
    let name = H::NAME;
    match H::STRATEGY_METRICS {
        StrategyMetrics::Lock => {
            assert!(
                acquisitions >= delivered,
                "{name}: {acquisitions} lock acquisitions for {delivered} deliveries"
            );
            assert!(contended <= acquisitions, "{name}: {contended} contended");
            assert_eq!(
                timed_waits, contended,
                "{name}: every contended wait is timed"
            );
            assert_eq!(wakeups, 0.0, "{name}: no writer queue");
        }
        StrategyMetrics::Queue => {
            assert!(
                (1.0..=delivered).contains(&wakeups),
                "{name}: {wakeups} writer wake-ups for {delivered} deliveries"
            );
            assert!(
                queued >= delivered,
                "{name}: queue depths add up to {queued}, below the {delivered} messages written"
            );
            assert_eq!(acquisitions, 0.0, "{name}: no lock");
        }
        StrategyMetrics::None => {
            assert_eq!(
                [acquisitions, wakeups],
                [0.0, 0.0],
                "{name}: no strategy figures"
            );
        }
    }
    for client in clients {
        close(client).await;
    }
}

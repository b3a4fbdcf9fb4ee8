//! The conformance cases for bursts, flushing and slow consumers: what a
//! hostile or merely eager client does that a well-behaved load generator
//! never does. Every server runs them under both flush policies, through
//! [`crate::conformance_tests!`].
//!
//! - A burst written in one go is parsed from memory without touching the
//!   socket; it must not trip a slow-consumer policy meant for readers that
//!   do not read, and it must arrive whole.
//! - Under `--flush batched` a message may sit in a sink's buffer while more
//!   follow; the last one of a burst must still leave without any further
//!   traffic ("nothing stranded"). The heartbeat is set far beyond the cases'
//!   bounds so that its pings cannot flush a stranded message by accident.
//! - A Close right behind a burst: tungstenite refuses to write data once it
//!   has read the peer's Close, so replies still queued at that moment are
//!   lost unless the server wrote them into the socket's buffer first.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::config::{FlushPolicy, ServerConfig};
use crate::conformance::{
    config, connect, eventually, next_data, numbered, receive_in_order, start,
};
use crate::handler::Handler;
use crate::testkit::{self, Client};

/// Frames in a burst: far more than any queue's worth between two turns of
/// a writer, and written by the client in one go; issue 11's target size
/// (the conformance suite takes about 2 s longer with it than with 5,000).
const BURST: u32 = 50_000;

/// Payload of a burst frame: small, so the whole burst is a few socket reads.
const FRAME: usize = 16;

/// How long the last message of a burst may take once everything before it
/// has arrived. Generous for a loaded 2-core CI machine, yet far below the
/// heartbeat that could flush a stranded message.
const PROMPTLY: Duration = Duration::from_secs(2);

/// The cases' server: the flush policy under test, and a heartbeat that never
/// fires within a case, so that only the flush policy can deliver.
///
/// `ws-ref-broadcast`'s room ring cannot wait for a member: one more than
/// `--queue-capacity` messages behind is cut off, even if only because the
/// host preempted the thread running its writer (see its Trade-offs). With a
/// ring that holds a whole burst, these cases check what every server must
/// do with one: deliver it whole. The strategies do not judge by a count.
fn quiet_config(flush: FlushPolicy) -> ServerConfig {
    ServerConfig {
        ping_interval: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(1200),
        queue_capacity: 8192,
        ..config(flush)
    }
}

/// Writes `count` numbered frames from `sender` into the client's buffer and
/// flushes once: they leave in as few writes as the socket allows.
async fn burst(client: &mut Client, sender: u8, count: u32) {
    for seq in 0..count {
        client
            .feed(numbered(sender, seq, FRAME))
            .await
            .expect("feed");
    }
    client.flush().await.expect("flush");
}

/// Receives the next data message within [`PROMPTLY`].
async fn next_promptly(client: &mut Client, what: &str) -> Message {
    tokio::time::timeout(PROMPTLY, next_data(client))
        .await
        .unwrap_or_else(|_| panic!("{what} did not arrive within {PROMPTLY:?}: stranded"))
}

/// A burst of [`BURST`] frames written at once to `/ws/echo` comes back whole,
/// in order, with no slow-consumer disconnect, and a lone message after it
/// comes back at once.
pub async fn echo_burst_arrives_whole_and_promptly<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(quiet_config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    burst(&mut client, 0, BURST).await;
    receive_in_order(&mut client, 1, BURST as usize - 1).await;
    let last = next_promptly(&mut client, "the burst's last echo").await;
    assert_eq!(last, numbered(0, BURST - 1, FRAME), "the burst's last echo");
    assert_eq!(
        server.metrics().slow_consumer_disconnects.get(),
        0,
        "a reading client is not a slow consumer"
    );
}

/// After a burst and its echoes, one more message alone comes back at once:
/// nothing of the burst's batching is left to hold it. And a burst that
/// follows a lone message (whose first message the reader writes and
/// flushes at once, see `read_until_end`) still arrives whole and promptly.
pub async fn lone_message_after_a_burst_arrives_at_once<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(quiet_config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    for round in 0..3u8 {
        burst(&mut client, round, 100).await;
        receive_in_order(&mut client, 1, 99).await;
        let last = next_promptly(&mut client, "the last echo of a burst").await;
        assert_eq!(last, numbered(round, 99, FRAME), "the burst's last echo");
        client
            .send(Message::text(format!("alone {round}")))
            .await
            .expect("send");
        let echo = next_promptly(&mut client, "a lone message").await;
        assert_eq!(echo, Message::text(format!("alone {round}")));
    }
}

/// A burst and a Close written in one go: the server answers the Close, and
/// every echo it accepted before reading the Close comes first. Servers whose
/// writer queue is behind the socket lose what is still queued when the
/// Close is read ([`Handler::REPLIES_QUEUED_AT_PEER_CLOSE_ARE_LOST`]): for
/// them the case checks that what does arrive is in order and complete up to
/// where it stops.
pub async fn close_right_after_a_burst<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(quiet_config(flush));
    let mut client = connect(&server.url("/ws/echo")).await;
    for seq in 0..BURST {
        client.feed(numbered(0, seq, FRAME)).await.expect("feed");
    }
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "done".into(),
    };
    client
        .feed(Message::Close(Some(frame)))
        .await
        .expect("feed close");
    client.flush().await.expect("flush");

    let mut echoed = 0u32;
    let reply = loop {
        let next = tokio::time::timeout(Duration::from_secs(10), client.next())
            .await
            .expect("the close reply arrives in time");
        match next {
            Some(Ok(Message::Binary(data))) => {
                assert_eq!(
                    &data[..],
                    &numbered(0, echoed, FRAME).into_data()[..],
                    "echo {echoed}"
                );
                echoed += 1;
            }
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected echoes, then the close reply; got {other:?}"),
        }
    };
    assert_eq!(
        reply.map(|f| f.code),
        Some(CloseCode::Normal),
        "the close reply"
    );
    if H::REPLIES_QUEUED_AT_PEER_CLOSE_ARE_LOST {
        // Lost, but never silently: every echo that did not come back is
        // counted in `ws_queued_messages_dropped_total`. The writer counts
        // when it stops, which may be just after the close reply left.
        let metrics = server.metrics();
        let accounted = async {
            loop {
                if u64::from(echoed) + metrics.queued_messages_dropped.get() >= u64::from(BURST) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), accounted).await;
        assert_eq!(
            u64::from(echoed) + metrics.queued_messages_dropped.get(),
            u64::from(BURST),
            "echoes that came back ({echoed}) and echoes counted as dropped make the burst"
        );
    } else {
        assert_eq!(
            echoed, BURST,
            "every message sent before the Close comes back"
        );
    }
}

/// One member writes [`BURST`] frames into a room of three at once; every
/// member, reading at full speed, receives all of them, and nobody is
/// disconnected: one member's burst cannot empty a room.
pub async fn room_burst_reaches_every_reading_member<H: Handler>(flush: FlushPolicy) {
    let server = start::<H>(quiet_config(flush));
    let url = server.url("/ws/room/burst");
    let mut sender = connect(&url).await;
    let mut listeners = [connect(&url).await, connect(&url).await];
    eventually("room members", 3, || server.metrics().room_members.get()).await;
    burst(&mut sender, 0, BURST).await;
    let everyone = std::iter::once(&mut sender).chain(listeners.iter_mut());
    futures_util::future::join_all(
        everyone.map(|client| receive_in_order(client, 1, BURST as usize)),
    )
    .await;
    assert_eq!(
        server.metrics().slow_consumer_disconnects.get(),
        0,
        "reading members are not slow consumers"
    );
    assert_eq!(server.metrics().room_members.get(), 3, "nobody left");
}

/// Four members burst into one room at the same time, so that each sink has
/// several writers, some leaving their flush to others; every member gets
/// every sender's messages in order, and a lone message from each sender
/// afterwards arrives at once.
pub async fn concurrent_room_bursts_keep_per_sender_order<H: Handler>(flush: FlushPolicy) {
    const MEMBERS: u8 = 4;
    const EACH: u32 = 1_000;
    let server = start::<H>(quiet_config(flush));
    let url = server.url("/ws/room/bursts");
    let mut members = Vec::new();
    for _ in 0..MEMBERS {
        members.push(connect(&url).await);
    }
    eventually("room members", i64::from(MEMBERS), || {
        server.metrics().room_members.get()
    })
    .await;
    let total = usize::from(MEMBERS) * EACH as usize;
    let rounds = members
        .into_iter()
        .enumerate()
        .map(|(me, client)| async move {
            let me = u8::try_from(me).expect("few members");
            let (mut tx, mut rx) = client.split();
            let send = async {
                for seq in 0..EACH {
                    tx.feed(numbered(me, seq, FRAME)).await.expect("feed");
                }
                tx.flush().await.expect("flush");
            };
            let receive = async {
                let mut client_rx = ReceiveHalf(&mut rx);
                client_rx.in_order(MEMBERS, total).await;
            };
            tokio::join!(send, receive);
            // Everyone has everything; now one lone message each.
            tx.send(numbered(me, EACH, FRAME)).await.expect("send");
            let mut lone = 0;
            while lone < MEMBERS {
                match tokio::time::timeout(PROMPTLY, rx.next()).await {
                    Ok(Some(Ok(Message::Binary(_)))) => lone += 1,
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                    Ok(other) => panic!("member {me}: expected the lone messages, got {other:?}"),
                    Err(_) => {
                        panic!("member {me}: a lone message is stranded ({lone} of {MEMBERS})")
                    }
                }
            }
        });
    futures_util::future::join_all(rounds).await;
    assert_eq!(server.metrics().slow_consumer_disconnects.get(), 0);
}

/// The receiving half of a split client, checked like [`receive_in_order`].
struct ReceiveHalf<'a>(&'a mut futures_util::stream::SplitStream<Client>);

impl ReceiveHalf<'_> {
    async fn in_order(&mut self, senders: u8, count: usize) {
        let mut next_seq = vec![0u32; usize::from(senders)];
        let mut seen = 0;
        while seen < count {
            let next = tokio::time::timeout(Duration::from_secs(10), self.0.next())
                .await
                .expect("a delivery in time");
            let data = match next {
                Some(Ok(Message::Binary(data))) => data,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected binary messages, got {other:?}"),
            };
            let sender = usize::from(data[0]);
            let seq = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
            assert_eq!(
                seq, next_seq[sender],
                "from sender {sender}: gap, duplicate or reorder"
            );
            next_seq[sender] += 1;
            seen += 1;
        }
    }
}

/// A member that stops reading in a room that then goes quiet is still
/// disconnected as a slow consumer within the send timeout: a write blocked
/// on its socket is bounded even when nothing else happens.
pub async fn stopped_member_in_a_quiet_room_is_disconnected<H: Handler>(flush: FlushPolicy) {
    const MESSAGES: u32 = 64;
    const SIZE: usize = 256 << 10;
    let send_timeout = Duration::from_millis(300);
    let server = start::<H>(ServerConfig {
        send_timeout,
        queue_bytes: 64 << 20,
        ..quiet_config(flush)
    });
    let url = server.url("/ws/room/quiet");
    let stopped = testkit::connect_with_receive_buffer(&url, 4096)
        .await
        .expect("connect");
    let sender = connect(&url).await;
    eventually("room members", 2, || server.metrics().room_members.get()).await;
    // 16 MiB: more than the stopped member's socket buffers hold, less than
    // its queue may (so only the bounded write can catch it); then the room
    // goes quiet. The sender reads its own copies meanwhile.
    let (mut tx, rx) = sender.split();
    let drain = tokio::spawn(async move {
        let mut rx = rx;
        let mut seen = 0;
        while seen < MESSAGES {
            match tokio::time::timeout(Duration::from_secs(10), rx.next()).await {
                Ok(Some(Ok(Message::Binary(_)))) => seen += 1,
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        seen
    });
    for seq in 0..MESSAGES {
        tx.send(numbered(0, seq, SIZE)).await.expect("send");
    }
    let deadline = send_timeout * 10 + Duration::from_secs(2);
    tokio::time::timeout(deadline, async {
        while server.metrics().slow_consumer_disconnects.get() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "a member that stopped reading was still connected {deadline:?} after the room went quiet"
        )
    });
    eventually("room members", 1, || server.metrics().room_members.get()).await;
    assert_eq!(
        drain.await.expect("the sender's reader"),
        MESSAGES,
        "the reading sender got every message"
    );
    drop(stopped);
}

/// One message into a room larger than tokio's cooperative budget (128
/// units a task poll): each member's lock is taken exactly once, and never
/// found held. A write refused for want of budget looks like a full socket,
/// so without care every member after the 128th or so would take the slow
/// path (a second acquisition, counted as contended; in `ws-std-mutex` a hop
/// to the blocking pool). Only servers that report a lock are checked.
pub async fn large_room_broadcast_takes_each_lock_once<H: Handler>(flush: FlushPolicy) {
    const MEMBERS: usize = 300;
    if H::STRATEGY_METRICS != crate::metrics::StrategyMetrics::Lock {
        return;
    }
    let server = start::<H>(quiet_config(flush));
    let url = server.url("/ws/room/large");
    let mut members = Vec::new();
    for _ in 0..MEMBERS {
        members.push(connect(&url).await);
    }
    eventually("room members", MEMBERS as i64, || {
        server.metrics().room_members.get()
    })
    .await;
    let metrics = server.metrics();
    let (taken, contended) = (
        metrics.sink_lock_acquisitions.get(),
        metrics.sink_lock_contended.get(),
    );
    members[0].send(numbered(0, 0, FRAME)).await.expect("send");
    futures_util::future::join_all(
        members
            .iter_mut()
            .map(|member| receive_in_order(member, 1, 1)),
    )
    .await;
    // The write and, under `--flush batched`, the flush that ends the burst.
    let per_member = match flush {
        FlushPolicy::Each => 1,
        FlushPolicy::Batched => 2,
    };
    assert_eq!(
        metrics.sink_lock_contended.get() - contended,
        0,
        "no member's lock was found held"
    );
    assert_eq!(
        metrics.sink_lock_acquisitions.get() - taken,
        (per_member * MEMBERS) as u64,
        "each member's lock taken once per step"
    );
}

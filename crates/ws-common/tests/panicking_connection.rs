//! A connection whose task panics ends whole: the tasks spawned for it (the
//! heartbeat, a strategy's writer task) stop, its socket is closed, and the
//! server goes on serving everyone else.
//!
//! No real strategy panics on purpose, so this runs a test strategy that
//! does when it is sent the text `panic`, and that spawns a task of its own
//! waiting for the connection's teardown, as a writer task does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message as ClientMessage;
use ws_common::prelude::*;
use ws_common::testkit::{TestServer, connect};
use ws_common::{FlushPolicy, ServerConfig};

/// Set by the strategy's own task once it has seen the teardown.
static SPAWNED_TASK_ENDED: AtomicBool = AtomicBool::new(false);

const CASE_TIMEOUT: Duration = Duration::from_secs(20);

/// Writes under a lock, and panics on the text `panic`.
#[derive(Debug, Clone)]
struct Panicking {
    sink: Arc<Mutex<WsSink>>,
    context: WriterContext,
}

impl SharedSink for Panicking {
    const NAME: &'static str = "panicking";
    const STRATEGY_METRICS: StrategyMetrics = StrategyMetrics::None;

    fn share(sink: WsSink, context: WriterContext) -> Self {
        let watched = context.clone();
        tokio::spawn(async move {
            watched.disconnected().await;
            SPAWNED_TASK_ENDED.store(true, Ordering::SeqCst);
        });
        Self {
            sink: Arc::new(Mutex::new(sink)),
            context,
        }
    }

    async fn send(&self, message: Message, _burst: Burst) -> Result<(), Disconnected> {
        assert!(message != Message::text("panic"), "a deliberate panic");
        let mut sink = self.sink.lock().await;
        self.context.bounded(sink.send(message)).await
    }

    async fn flush(_members: &[Self]) {}

    async fn close(&self, frame: Option<CloseFrame>) {
        close_sink(&mut *self.sink.lock().await, frame).await;
    }
}

#[tokio::test]
async fn a_panicking_connection_ends_whole_and_the_server_serves_on() {
    tokio::time::timeout(CASE_TIMEOUT, async {
        let config = ServerConfig {
            workers: Some(2),
            // A heartbeat left running would ping the client every 100 ms,
            // keeping the socket open.
            ping_interval: Duration::from_millis(100),
            flush: FlushPolicy::Batched,
            ..ServerConfig::ephemeral()
        };
        let server = TestServer::start::<Panicking>(config).expect("the server starts");
        let mut client = connect(&server.url("/ws/echo")).await.expect("connect");
        client
            .send(ClientMessage::text("hello"))
            .await
            .expect("send");
        loop {
            match client.next().await {
                Some(Ok(ClientMessage::Text(text))) => {
                    assert_eq!(text.as_str(), "hello");
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("expected the echo, got {other:?}"),
            }
        }

        client
            .send(ClientMessage::text("panic"))
            .await
            .expect("send");
        // The socket closes: nothing keeps the write half alive, no
        // heartbeat pings on. Pings already on their way may still arrive.
        let ended = async {
            loop {
                match client.next().await {
                    Some(Ok(ClientMessage::Ping(_) | ClientMessage::Pong(_))) => {}
                    Some(Ok(other)) => panic!("no data after the panic, got {other:?}"),
                    Some(Err(_)) | None => break,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), ended)
            .await
            .expect("the panicked connection's socket closes within 5 s");
        assert!(
            SPAWNED_TASK_ENDED.load(Ordering::SeqCst),
            "the strategy's own task saw the teardown"
        );

        let mut other = connect(&server.url("/ws/echo")).await.expect("connect");
        other
            .send(ClientMessage::text("still here"))
            .await
            .expect("send");
        let echo = loop {
            match other.next().await {
                Some(Ok(ClientMessage::Text(text))) => break text,
                Some(Ok(_)) => {}
                other => panic!("expected the echo, got {other:?}"),
            }
        };
        assert_eq!(echo.as_str(), "still here");
    })
    .await
    .expect("the case finishes in time");
}

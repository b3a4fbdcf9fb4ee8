//! What a strategy is given besides the sink: the connection's disconnect
//! signal, the slow consumer policy's settings, and the two sink operations
//! every strategy performs the same way (a bounded send and a bounded close).

use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use futures_util::SinkExt;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::config::{FlushPolicy, ServerConfig};
use crate::metrics::Metrics;
use crate::strategy::{Disconnected, WsSink};

/// How long closing a connection may take before the socket is simply
/// dropped: long enough for a healthy peer, short enough that a stalled one
/// cannot keep a task (or, in `ws-std-mutex`, a blocking thread) for long.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a writer gave up on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The slow consumer policy fired: a write made no progress for the send
    /// timeout, or the member's queue passed its budget.
    SlowConsumer,
    /// Writing to the socket failed: the peer is gone.
    WriteFailed,
}

/// The slow consumer policy's and the flush policy's settings: the same
/// flags, with the same meaning, for every server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkPolicy {
    /// A write that does not complete within this disconnects the member
    /// (`--send-timeout`).
    pub send_timeout: Duration,
    /// Messages a room ring holds (`--queue-capacity`, `ws-ref-broadcast`).
    pub queue_capacity: usize,
    /// Bytes a writer queue may hold for one member, beyond the first
    /// message waiting (`--queue-bytes`, `ws-mpsc-writer`).
    pub queue_bytes: usize,
    /// When writers flush (`--flush`).
    pub flush: FlushPolicy,
}

impl SinkPolicy {
    /// The policy `config` asks for.
    pub fn from_config(config: &ServerConfig) -> Self {
        Self {
            send_timeout: config.send_timeout,
            queue_capacity: usize::try_from(config.queue_capacity).unwrap_or(usize::MAX),
            queue_bytes: usize::try_from(config.queue_bytes).unwrap_or(usize::MAX),
            flush: config.flush,
        }
    }
}

/// Per-connection context handed to [`crate::SharedSink::share`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WriterContext {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    token: CancellationToken,
    reason: OnceLock<DisconnectReason>,
    policy: SinkPolicy,
    metrics: Metrics,
}

impl WriterContext {
    /// A context whose disconnect signal is `token` (cancel it to tear the
    /// connection down), with the slow consumer and flush policies' settings.
    pub fn new(token: CancellationToken, policy: SinkPolicy, metrics: Metrics) -> Self {
        let inner = Inner {
            token,
            reason: OnceLock::new(),
            policy,
            metrics,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The server's metrics, where a strategy records its own figures
    /// ([`Metrics::lock_wait`], [`Metrics::queue_depth`]).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The policies' settings.
    pub fn policy(&self) -> &SinkPolicy {
        &self.inner.policy
    }

    /// How long one write may take (`--send-timeout`).
    pub fn send_timeout(&self) -> Duration {
        self.inner.policy.send_timeout
    }

    /// Messages a room ring holds (`--queue-capacity`).
    pub fn queue_capacity(&self) -> usize {
        self.inner.policy.queue_capacity
    }

    /// Bytes a writer queue may hold for this connection beyond the first
    /// message waiting (`--queue-bytes`).
    pub fn queue_bytes(&self) -> usize {
        self.inner.policy.queue_bytes
    }

    /// When this connection's writers flush (`--flush`).
    pub fn flush(&self) -> FlushPolicy {
        self.inner.policy.flush
    }

    /// Gives up on this connection: every pending and future send fails, the
    /// reader stops, and the connection is closed with the code for `reason`.
    /// Only the first reason counts.
    pub fn disconnect(&self, reason: DisconnectReason) {
        if self.inner.reason.set(reason).is_ok() {
            match reason {
                DisconnectReason::SlowConsumer => {
                    self.inner.metrics.slow_consumer_disconnects.inc();
                    tracing::debug!("disconnecting a slow consumer");
                }
                DisconnectReason::WriteFailed => {
                    self.inner.metrics.write_failures.inc();
                }
            }
        }
        self.inner.token.cancel();
    }

    /// Tears the connection down without blaming the writer: the reader has
    /// ended, so every writer stops.
    pub(crate) fn disconnect_quietly(&self) {
        self.inner.token.cancel();
    }

    /// Tears the connection down when the returned guard is dropped: held by
    /// the task that drives the connection, so that a panic there stops
    /// every task the strategy spawned for it (they all wait on
    /// [`WriterContext::disconnected`]) as surely as a normal end does.
    pub fn teardown_on_drop(&self) -> DropGuard {
        self.inner.token.clone().drop_guard()
    }

    /// Resolves once the connection is being torn down, for whatever reason
    /// (policy, failed write, server shutdown, or the reader ending).
    pub async fn disconnected(&self) {
        self.inner.token.cancelled().await;
    }

    /// Whether the connection is being torn down.
    pub fn is_disconnected(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Why a writer disconnected this connection, if one did.
    pub fn reason(&self) -> Option<DisconnectReason> {
        self.inner.reason.get().copied()
    }

    /// Sends one message (write and flush) under the send timeout, or gives up
    /// at once if the connection is torn down meanwhile. A timeout or a failed
    /// write disconnects the connection.
    pub async fn send_with_timeout(
        &self,
        sink: &mut WsSink,
        message: Message,
    ) -> Result<(), Disconnected> {
        self.bounded(sink.send(message)).await
    }

    /// Runs one write to this connection's socket under the slow consumer
    /// policy: it disconnects the connection as a slow consumer when the
    /// write makes no progress for `--send-timeout`, and as gone when it
    /// fails; it gives up at once when the connection is torn down meanwhile.
    /// Every strategy bounds its writes with it.
    pub async fn bounded<T, E>(
        &self,
        write: impl Future<Output = Result<T, E>>,
    ) -> Result<T, Disconnected> {
        if self.is_disconnected() {
            return Err(Disconnected);
        }
        // The write comes first, so a write that completes at once never
        // registers the cancellation (nor, in `within`, the timer).
        let outcome = tokio::select! {
            biased;
            outcome = within(self.send_timeout(), write) => outcome,
            () = self.disconnected() => return Err(Disconnected),
        };
        match outcome {
            Ok(Ok(written)) => Ok(written),
            Ok(Err(_)) => {
                self.disconnect(DisconnectReason::WriteFailed);
                Err(Disconnected)
            }
            Err(_elapsed) => {
                self.disconnect(DisconnectReason::SlowConsumer);
                Err(Disconnected)
            }
        }
    }
}

/// `tokio::time::timeout(limit, write)`, except that `write` is polled once
/// before the timer exists: a write that completes at once, as writes do
/// unless the socket is full, then costs no clock read (a `timeout` reads
/// the clock for its deadline when it is made) and no timer. Every bounded
/// write goes through it, the references' too, so that none pays for the
/// policy on its fast path while another does not.
///
/// # Errors
/// [`tokio::time::error::Elapsed`] when `write` is still pending `limit`
/// after its first poll.
pub async fn within<F: Future>(
    limit: Duration,
    write: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut write = std::pin::pin!(write);
    match std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => tokio::time::timeout(limit, write).await,
    }
}

/// Closes a sink: sends `frame` first when given, then closes, which flushes
/// whatever tungstenite still holds (a Close reply, a Pong). Errors are the
/// peer being gone already, which is what closing wants anyway; a peer that
/// does not read cannot hold us past [`CLOSE_TIMEOUT`].
pub async fn close_sink(sink: &mut WsSink, frame: Option<CloseFrame>) {
    let close = async {
        if let Some(frame) = frame {
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        let _ = sink.close().await;
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::within;

    /// A write that is ready at once, one that finishes in time after waiting,
    /// and one that never finishes: the limit only ever ends the last.
    #[tokio::test]
    async fn within_bounds_only_writes_that_wait_too_long() {
        let case = async {
            assert_eq!(within(Duration::ZERO, async { 7 }).await.ok(), Some(7));
            let waits = async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                8
            };
            assert_eq!(within(Duration::from_secs(5), waits).await.ok(), Some(8));
            let never = std::future::pending::<()>();
            assert!(within(Duration::from_millis(20), never).await.is_err());
        };
        tokio::time::timeout(Duration::from_secs(10), case)
            .await
            .expect("within 10 s");
    }
}

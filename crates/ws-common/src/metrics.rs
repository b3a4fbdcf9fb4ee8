//! The server's counters, served at `GET /metrics` in the Prometheus text
//! format. One registry per server instance (not a process-wide recorder), so
//! that tests and benches running several servers in one process keep their
//! counts apart.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Which of the strategy-specific metrics a server reports. The others stay
/// at zero in its `/metrics`; the reliability suite checks both halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyMetrics {
    /// None: the writer is not shared (the reference servers).
    None,
    /// `ws_sink_lock_*`: the sink is behind a lock.
    Lock,
    /// `ws_writer_queue_depth`: the sink is owned by a task fed by a queue.
    Queue,
}

/// Counters shared by every connection of one server. Cheap to clone: clones
/// update the same values.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Rooms that currently have at least one member.
    pub rooms: Gauge,
    /// Memberships across all rooms (a connection is in at most one room).
    pub room_members: Gauge,
    /// Text and Binary messages read from clients.
    pub messages_received: Counter,
    /// Text and Binary messages handed to a connection's writer (echo replies
    /// and room deliveries).
    pub messages_sent: Counter,
    /// Connections disconnected by the slow consumer policy.
    pub slow_consumer_disconnects: Counter,
    /// Connections whose socket failed on write.
    pub write_failures: Counter,
    /// Upgrades refused because a limit was reached.
    pub refused_upgrades: Counter,
    /// Connections closed (1009) to keep the inbound memory budget.
    pub inbound_budget_evictions: Counter,
    /// Mutex variants: locks of a connection's shared sink taken.
    pub sink_lock_acquisitions: Counter,
    /// Mutex variants: of those, the ones that had to wait for another writer.
    pub sink_lock_contended: Counter,
    /// Mutex variants: how long each contended acquisition waited, in seconds.
    /// Uncontended ones are only counted, so the fast path reads no clock.
    pub sink_lock_wait_seconds: Histogram,
    /// mpsc variant: messages queued when a connection's writer task woke
    /// (one observation per wake-up, which is one flush).
    pub writer_queue_depth: Histogram,
    /// Queueing strategies: messages queued for a connection and dropped
    /// unwritten because it ended first (replies still queued when the
    /// peer's Close was read, or a disconnected member's queue).
    pub queued_messages_dropped: Counter,
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ws");
        let connections = Gauge::default();
        let rooms = Gauge::default();
        let room_members = Gauge::default();
        let messages_received = Counter::default();
        let messages_sent = Counter::default();
        let slow_consumer_disconnects = Counter::default();
        let write_failures = Counter::default();
        let refused_upgrades = Counter::default();
        let inbound_budget_evictions = Counter::default();
        let sink_lock_acquisitions = Counter::default();
        let sink_lock_contended = Counter::default();
        // 1 µs to ~4 s, a factor of 4 apart: from a short handover between
        // two writers to a send held up by a stalled peer.
        let sink_lock_wait_seconds = Histogram::new(exponential_buckets(1e-6, 4.0, 12));
        // 1 to 1024 (the default queue capacity), in powers of two.
        let writer_queue_depth = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        let queued_messages_dropped = Counter::default();
        registry.register(
            "connections",
            "Open WebSocket connections",
            connections.clone(),
        );
        registry.register("rooms", "Rooms with at least one member", rooms.clone());
        registry.register(
            "room_members",
            "Memberships across all rooms",
            room_members.clone(),
        );
        registry.register(
            "messages_received",
            "Text and Binary messages read from clients",
            messages_received.clone(),
        );
        registry.register(
            "messages_sent",
            "Text and Binary messages handed to a connection's writer",
            messages_sent.clone(),
        );
        registry.register(
            "slow_consumer_disconnects",
            "Connections disconnected by the slow consumer policy",
            slow_consumer_disconnects.clone(),
        );
        registry.register(
            "write_failures",
            "Connections whose socket failed on write",
            write_failures.clone(),
        );
        registry.register(
            "refused_upgrades",
            "Upgrades refused because a connection or room limit was reached",
            refused_upgrades.clone(),
        );
        registry.register(
            "inbound_budget_evictions",
            "Connections closed (1009) to keep the inbound memory budget (--max-inbound-bytes)",
            inbound_budget_evictions.clone(),
        );
        registry.register(
            "sink_lock_acquisitions",
            "Mutex variants: locks of a connection's shared sink taken",
            sink_lock_acquisitions.clone(),
        );
        registry.register(
            "sink_lock_contended",
            "Mutex variants: lock acquisitions that waited for another writer",
            sink_lock_contended.clone(),
        );
        registry.register(
            "sink_lock_wait_seconds",
            "Mutex variants: how long contended lock acquisitions waited",
            sink_lock_wait_seconds.clone(),
        );
        registry.register(
            "writer_queue_depth",
            "mpsc variant: messages queued when a connection's writer task woke",
            writer_queue_depth.clone(),
        );
        registry.register(
            "queued_messages_dropped",
            "Queueing strategies: messages queued for a connection and dropped unwritten because it ended first",
            queued_messages_dropped.clone(),
        );
        Self {
            registry: Arc::new(registry),
            connections,
            rooms,
            room_members,
            messages_received,
            messages_sent,
            slow_consumer_disconnects,
            write_failures,
            refused_upgrades,
            inbound_budget_evictions,
            sink_lock_acquisitions,
            sink_lock_contended,
            sink_lock_wait_seconds,
            writer_queue_depth,
            queued_messages_dropped,
        }
    }

    /// Counts a lock of a shared sink taken without waiting.
    pub fn lock_taken(&self) {
        self.sink_lock_acquisitions.inc();
    }

    /// Counts a lock of a shared sink that has to wait, and times the wait
    /// until the returned [`LockWait`] is dropped (acquired, or given up
    /// because the connection was torn down).
    pub fn lock_wait(&self) -> LockWait {
        self.sink_lock_acquisitions.inc();
        self.sink_lock_contended.inc();
        LockWait {
            started: Instant::now(),
            histogram: self.sink_lock_wait_seconds.clone(),
        }
    }

    /// Records how many messages a writer task found queued when it woke.
    #[allow(clippy::cast_precision_loss)] // exact up to 2^52 messages
    pub fn queue_depth(&self, messages: usize) {
        self.writer_queue_depth.observe(messages as f64);
    }

    /// Counts messages a queueing strategy dropped unwritten because their
    /// connection ended first.
    pub fn queued_dropped(&self, messages: usize) {
        self.queued_messages_dropped.inc_by(messages as u64);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// The `Content-Type` of [`Metrics::render`]'s output.
    pub const CONTENT_TYPE: &'static str = prometheus_text::CONTENT_TYPE;
}

/// A wait for a shared sink's lock, from [`Metrics::lock_wait`]: recorded
/// in `ws_sink_lock_wait_seconds` when dropped.
#[derive(Debug)]
#[must_use = "the wait is recorded when this is dropped: bind it until the lock is taken"]
pub struct LockWait {
    started: Instant,
    histogram: Histogram,
}

impl LockWait {
    /// The lock is taken: record the wait now.
    pub fn acquired(self) {}
}

impl Drop for LockWait {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_current_values() {
        let metrics = Metrics::new();
        metrics.connections.set(3);
        metrics.messages_sent.inc_by(7);
        let text = metrics
            .render()
            .expect("rendering into a String cannot fail");
        assert!(text.contains("# TYPE ws_connections gauge"), "{text}");
        assert!(text.contains("ws_connections 3"), "{text}");
        assert!(text.contains("ws_messages_sent_total 7"), "{text}");
    }

    #[test]
    fn lock_and_queue_figures_are_rendered() {
        let metrics = Metrics::new();
        metrics.lock_taken();
        metrics.lock_wait().acquired();
        metrics.queue_depth(3);
        let text = metrics
            .render()
            .expect("rendering into a String cannot fail");
        assert!(text.contains("ws_sink_lock_acquisitions_total 2"), "{text}");
        assert!(text.contains("ws_sink_lock_contended_total 1"), "{text}");
        assert!(text.contains("ws_sink_lock_wait_seconds_count 1"), "{text}");
        assert!(text.contains("ws_writer_queue_depth_count 1"), "{text}");
        assert!(text.contains("ws_writer_queue_depth_sum 3"), "{text}");
        // 3 lands in the bucket up to 4 and every bucket above it.
        assert!(
            text.contains("ws_writer_queue_depth_bucket{le=\"2\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("ws_writer_queue_depth_bucket{le=\"4\"} 1"),
            "{text}"
        );
    }
}

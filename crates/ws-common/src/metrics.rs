//! The server's counters, served at `GET /metrics` in the Prometheus text
//! format. One registry per server instance (not a process-wide recorder), so
//! that tests and benches running several servers in one process keep their
//! counts apart.

use std::sync::Arc;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

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
        }
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
}

//! What every request handler and connection of one server shares.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::inbound::Budget;
use crate::metrics::Metrics;
use crate::rooms::Rooms;

/// One server's shared state, generic over what the room registry keeps per
/// member. Handlers read it through its methods.
#[derive(Debug)]
pub struct AppState<W: Clone> {
    pub(crate) config: ServerConfig,
    pub(crate) rooms: Arc<Rooms<W>>,
    pub(crate) metrics: Metrics,
    /// Cancelled when the server starts shutting down.
    pub(crate) shutdown: CancellationToken,
    /// Every open connection's task, so shutdown can wait for them.
    pub(crate) connections: TaskTracker,
    /// One permit per connection allowed by `--max-connections`.
    pub(crate) connection_permits: Arc<Semaphore>,
    /// `--max-inbound-bytes`, shared by every upgraded connection's socket.
    pub(crate) inbound: Arc<Budget>,
}

impl<W: Clone> AppState<W> {
    /// The server's settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The room registry.
    pub fn rooms(&self) -> &Arc<Rooms<W>> {
        &self.rooms
    }

    /// Cancelled when the server starts shutting down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    pub(crate) fn new(config: ServerConfig, shutdown: CancellationToken, metrics: Metrics) -> Self {
        let rooms = Arc::new(Rooms::new(config.max_rooms, metrics.clone()));
        let permits = config.max_connections.min(Semaphore::MAX_PERMITS);
        let inbound = Budget::new(
            u64::try_from(config.max_inbound_bytes).unwrap_or(u64::MAX),
            u64::try_from(config.read_buffer_size).unwrap_or(u64::MAX),
            metrics.clone(),
        );
        Self {
            config,
            rooms,
            metrics,
            shutdown,
            connections: TaskTracker::new(),
            connection_permits: Arc::new(Semaphore::new(permits)),
            inbound,
        }
    }
}

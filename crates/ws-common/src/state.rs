//! What every request handler and connection of one server shares.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::rooms::Rooms;

/// One server's shared state, generic over the strategy's writer handle.
#[derive(Debug)]
pub(crate) struct AppState<W: Clone> {
    pub(crate) config: ServerConfig,
    pub(crate) rooms: Arc<Rooms<W>>,
    pub(crate) metrics: Metrics,
    /// Cancelled when the server starts shutting down.
    pub(crate) shutdown: CancellationToken,
    /// Every open connection's task, so shutdown can wait for them.
    pub(crate) connections: TaskTracker,
    /// One permit per connection allowed by `--max-connections`.
    pub(crate) connection_permits: Arc<Semaphore>,
}

impl<W: Clone> AppState<W> {
    pub(crate) fn new(config: ServerConfig, shutdown: CancellationToken, metrics: Metrics) -> Self {
        let rooms = Arc::new(Rooms::new(config.max_rooms, metrics.clone()));
        let permits = config.max_connections.min(Semaphore::MAX_PERMITS);
        Self {
            config,
            rooms,
            metrics,
            shutdown,
            connections: TaskTracker::new(),
            connection_permits: Arc::new(Semaphore::new(permits)),
        }
    }
}

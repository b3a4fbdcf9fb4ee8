//! Serving: bind, accept (see [`crate::accept`]), route, and shut down gracefully.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accept;
use crate::config::ServerConfig;
use crate::handler::Handler;
use crate::metrics::Metrics;
use crate::router::router;
use crate::state::AppState;

/// Why a server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// Accepting or serving failed.
    #[error("serving failed: {0}")]
    Io(#[from] io::Error),
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::flags::ConfigError),
    /// The async runtime could not be built.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(io::Error),
}

/// How a server's shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// From the shutdown signal to the last connection closed (or the grace ending).
    pub took: Duration,
    /// Whether every connection closed within the grace period.
    pub clean: bool,
}

/// Binds `config.addr`.
pub async fn bind(config: &ServerConfig) -> Result<TcpListener, ServeError> {
    TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.addr,
            source,
        })
}

/// Serves the protocol with handler `H` on `listener` until `shutdown` is
/// cancelled; then stops accepting, closes every connection with 1001, and
/// returns once they are closed or `--shutdown-grace` has passed.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    config: ServerConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<ShutdownReport, ServeError> {
    crate::flags::validate_values(&config)?;
    // Large freed buffers (an evicted connection's message) go back to the
    // kernel in the background (`ws_alloc`), counted in the inbound budget
    // until they have. Once per process; the first call waits for the
    // thread to start.
    ws_alloc::start(crate::limits::max_deferred_frees(&config))?;
    let grace = config.shutdown_grace;
    let state = Arc::new(AppState::<H::Member>::new(
        config,
        shutdown.clone(),
        metrics,
    ));
    let app = router::<H>(Arc::clone(&state));
    // Sockets before (or without) an upgrade: their HTTP connections' tasks.
    let http_connections = TaskTracker::new();
    // On a worker, as every other task: the thread that called `serve` (the
    // binary's main thread) only waits.
    let accepting = tokio::spawn(accept::accept_loop(
        listener,
        app,
        state.config.clone(),
        shutdown.clone(),
        http_connections.clone(),
    ));
    // It returns only once shutdown has begun; a panic in it must not skip
    // the shutdown below.
    if let Err(err) = accepting.await {
        tracing::error!(%err, "the accept loop failed");
    }
    // However the accept loop ended, every connection is told to close.
    shutdown.cancel();

    // Upgraded connections are no longer axum's: they are in our tracker,
    // and the cancelled token has told each of them to close with 1001.
    let started = tokio::time::Instant::now();
    state.connections.close();
    http_connections.close();
    let drained = tokio::time::timeout(grace, async {
        http_connections.wait().await;
        state.connections.wait().await;
    })
    .await;
    Ok(ShutdownReport {
        took: started.elapsed(),
        clean: drained.is_ok(),
    })
}

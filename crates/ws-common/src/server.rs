//! Serving: bind, accept with `TCP_NODELAY`, route, and shut down gracefully.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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
    let grace = config.shutdown_grace;
    let state = Arc::new(AppState::<H::Member>::new(
        config,
        shutdown.clone(),
        metrics,
    ));
    let app = router::<H>(Arc::clone(&state));
    // Without TCP_NODELAY small messages wait on Nagle's algorithm and the
    // comparison would measure the kernel; every server sets it identically.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "cannot set TCP_NODELAY");
        }
    });
    let http = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    let mut http = tokio::spawn(http);

    // Biased: once shutdown has begun, the accept loop ends at once too, and
    // that must not be mistaken for the loop failing on its own (which would
    // skip waiting for the WebSocket connections below).
    let http_ended = tokio::select! {
        biased;
        () = shutdown.cancelled() => false,
        joined = &mut http => match joined {
            Ok(Ok(())) => true,
            Ok(Err(err)) => return Err(ServeError::Io(err)),
            Err(join) => return Err(ServeError::Io(io::Error::other(join))),
        },
    };
    // However the accept loop ended, every connection is told to close.
    shutdown.cancel();

    // Upgraded connections are no longer axum's: they are in our tracker,
    // and the cancelled token has told each of them to close with 1001.
    let started = tokio::time::Instant::now();
    state.connections.close();
    let drained = tokio::time::timeout(grace, async {
        if !http_ended {
            let _ = http.await;
        }
        state.connections.wait().await;
    })
    .await;
    Ok(ShutdownReport {
        took: started.elapsed(),
        clean: drained.is_ok(),
    })
}

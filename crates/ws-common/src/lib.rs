//! Everything the sink-sharing variants have in common.
//!
//! A variant implements one trait, [`SharedSink`]: how the write half of a
//! split axum WebSocket is shared by the tasks that write to it. This crate
//! does the rest, identically for every variant: the command line
//! ([`ServerConfig`], checked by [`flags`]), the accept loop and its limits
//! on the way in (`accept`: `--handshake-timeout`, `--max-handshakes`, a
//! backoff when descriptors run out), the inbound memory budget
//! ([`inbound`]), the routes, the room registry, the heartbeat and idle
//! timeout, the close handshake, graceful shutdown ([`shutdown`]) and the
//! metrics. A variant's `main` is one call to [`cli::run`].
//!
//! With the `testkit` feature it also provides an in-process test server
//! ([`testkit::TestServer`]) and the suites every server runs through
//! [`conformance_tests!`]: the protocol ([`conformance`]) and its behaviour
//! under bad input, limits, churn and shutdown ([`reliability`]).
//!
//! Linking this crate installs its global allocator, [`ws_alloc::PiecewiseFree`]:
//! the system allocator, with freed blocks of 1 MiB or more returned to the
//! kernel in pieces by a background thread once a server has started, so
//! that freeing an evicted connection's buffer does not stop a worker for
//! milliseconds.

#[global_allocator]
static ALLOCATOR: ws_alloc::PiecewiseFree = ws_alloc::PiecewiseFree;

mod accept;
pub mod cli;
pub mod close;
pub mod config;
pub mod connection;
pub mod flags;
mod frames;
mod handler;
mod heartbeat;
pub mod inbound;
pub mod limits;
pub mod locked;
pub mod lookahead;
pub mod metrics;
mod output;
pub mod rooms;
mod router;
mod server;
pub mod shutdown;
mod socket;
pub mod state;
pub mod strategy;
pub mod writer;

#[cfg(feature = "testkit")]
pub mod bursts;
#[cfg(feature = "testkit")]
pub mod conformance;
#[cfg(feature = "testkit")]
pub mod process;
#[cfg(feature = "testkit")]
pub mod reliability;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::{FlushPolicy, ServerConfig};
pub use connection::Route;
pub use handler::Handler;
pub use metrics::{LockWait, Metrics, StrategyMetrics};
pub use server::{ServeError, ShutdownReport, bind, serve};
pub use state::AppState;
pub use strategy::{Burst, Disconnected, SharedSink, WsSink};
pub use writer::{CLOSE_TIMEOUT, DisconnectReason, SinkPolicy, WriterContext, close_sink, within};

/// Re-exports for the strategies, so that every variant names the same types
/// from one place.
pub mod prelude {
    pub use axum::extract::ws::{CloseFrame, Message};

    pub use crate::config::FlushPolicy;
    pub use crate::locked::{Flush, LockedSink, LockedWriter, Rest, Waiters, Write};
    pub use crate::metrics::{LockWait, StrategyMetrics};
    pub use crate::strategy::{Burst, Disconnected, SharedSink, WsSink};
    pub use crate::writer::{CLOSE_TIMEOUT, DisconnectReason, WriterContext, close_sink};
}

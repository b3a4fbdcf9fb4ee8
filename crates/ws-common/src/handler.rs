//! What a server does with an upgraded connection. The three strategies get
//! this for free from [`SharedSink`] (their connections are all driven by
//! `ws-common`); the reference servers implement it themselves, because
//! what they compare against is a different way of driving a connection.

use std::future::Future;
use std::sync::Arc;

use axum::extract::ws::WebSocket;

use crate::connection::{self, Route};
use crate::metrics::StrategyMetrics;
use crate::state::AppState;
use crate::strategy::SharedSink;

/// Serves upgraded WebSocket connections.
pub trait Handler: Send + Sync + 'static {
    /// The package name, printed on start and used in reports.
    const NAME: &'static str;

    /// Whether `/ws/room/{room}` is served; when not, it answers 404.
    const SERVES_ROOMS: bool = true;

    /// The strategy-specific figures its `/metrics` reports.
    const STRATEGY_METRICS: StrategyMetrics = StrategyMetrics::None;

    /// Whether replies still queued inside the server when it reads the
    /// peer's Close are lost: tungstenite refuses to write data after that,
    /// so a server that queues between its reader and the socket cannot send
    /// them. The conformance suite pins it either way.
    const REPLIES_QUEUED_AT_PEER_CLOSE_ARE_LOST: bool = false;

    /// What the room registry keeps for each member.
    type Member: Clone + Send + Sync + 'static;

    /// Serves one connection until it ends, in a task of its own.
    fn serve(
        socket: WebSocket,
        route: Route,
        app: Arc<AppState<Self::Member>>,
    ) -> impl Future<Output = ()> + Send;
}

impl<S: SharedSink> Handler for S {
    const NAME: &'static str = S::NAME;
    const STRATEGY_METRICS: StrategyMetrics = S::STRATEGY_METRICS;
    const REPLIES_QUEUED_AT_PEER_CLOSE_ARE_LOST: bool = S::REPLIES_QUEUED_AT_PEER_CLOSE_ARE_LOST;
    type Member = S;

    fn serve(
        socket: WebSocket,
        route: Route,
        app: Arc<AppState<S>>,
    ) -> impl Future<Output = ()> + Send {
        connection::serve::<S>(socket, route, app)
    }
}

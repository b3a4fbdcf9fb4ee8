//! The HTTP routes every server answers, and the upgrade from HTTP to a
//! WebSocket connection.

use std::sync::Arc;

use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};

use crate::connection::Route;
use crate::handler::Handler;
use crate::rooms::RoomName;
use crate::socket::InboundSlot;
use crate::state::AppState;

/// The routes, documented in the README's "Protocol" section.
pub(crate) fn router<H: Handler>(state: Arc<AppState<H::Member>>) -> Router {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::<H>))
        .route("/ws/echo", any(echo::<H>));
    let router = if H::SERVES_ROOMS {
        router
            .route(
                "/ws/room/",
                any(|| async { refuse_room_name("room name is empty") }),
            )
            .route("/ws/room/{room}", any(room::<H>))
    } else {
        router
    };
    router.with_state(state)
}

/// `GET /ws/echo`: every message comes back to its sender.
async fn echo<H: Handler>(
    State(app): State<Arc<AppState<H::Member>>>,
    slot: Option<Extension<InboundSlot>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    accept::<H>(app, slot, upgrade, Route::Echo)
}

/// `GET /ws/room/{room}`: every message goes to every member of the room.
async fn room<H: Handler>(
    State(app): State<Arc<AppState<H::Member>>>,
    Path(room): Path<String>,
    slot: Option<Extension<InboundSlot>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // The name is checked before the upgrade headers, so a bad name gets the
    // same answer whether or not the request was a valid upgrade.
    let name = match RoomName::parse(&room) {
        Ok(name) => name,
        Err(err) => return refuse_room_name(&err.to_string()),
    };
    if !app.rooms.admits(&name) {
        app.metrics.refused_upgrades.inc();
        return (StatusCode::SERVICE_UNAVAILABLE, "too many rooms\n").into_response();
    }
    accept::<H>(app, slot, upgrade, Route::Room(name))
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics<H: Handler>(State(app): State<Arc<AppState<H::Member>>>) -> Response {
    match app.metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, crate::Metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn refuse_room_name(reason: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response()
}

/// Upgrades the request with the configured limits and buffer sizes, and
/// serves the connection in a tracked task. From the upgrade on, its socket
/// counts what it holds against `--max-inbound-bytes` (the slot is there
/// on every socket the server accepted).
fn accept<H: Handler>(
    app: Arc<AppState<H::Member>>,
    slot: Option<Extension<InboundSlot>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    route: Route,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(permit) = Arc::clone(&app.connection_permits).try_acquire_owned() else {
        app.metrics.refused_upgrades.inc();
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections\n").into_response();
    };
    if let Some(Extension(slot)) = slot {
        slot.open(&app.inbound);
    }
    let config = &app.config;
    let max_message_size = config.max_message_size;
    upgrade
        .read_buffer_size(config.read_buffer_size)
        .write_buffer_size(config.write_buffer_size)
        .max_message_size(max_message_size)
        .max_frame_size(max_message_size)
        .on_failed_upgrade(|err| tracing::debug!(%err, "upgrade failed"))
        .on_upgrade(move |socket| {
            let tracker = app.connections.clone();
            tracker.track_future(async move {
                H::serve(socket, route, app).await;
                drop(permit);
            })
        })
}

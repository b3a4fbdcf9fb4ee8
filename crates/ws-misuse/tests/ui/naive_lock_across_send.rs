// The naive form: the guard lives to the end of the async block, so it is
// part of the future's state across `.await`, and `MutexGuard` is not `Send`.
// axum's `WebSocket` wraps the same `WebSocketStream`: an axum handler that
// shares `SplitSink<WebSocket, Message>` this way fails the same way.

use std::sync::{Arc, Mutex};

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type SharedSink = Arc<Mutex<SplitSink<WebSocketStream<TcpStream>, Message>>>;

fn broadcast(shared: SharedSink, msg: Message) {
    tokio::spawn(async move {
        let mut sink = shared.lock().unwrap();
        sink.send(msg).await
    });
}

fn main() {
    let _ = broadcast;
}

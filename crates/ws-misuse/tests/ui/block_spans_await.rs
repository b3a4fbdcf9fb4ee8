// Near miss: the guard is scoped to a block, but the block contains the
// `.await`, so the guard is still held while the future is suspended.

use std::sync::{Arc, Mutex};

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type SharedSink = Arc<Mutex<SplitSink<WebSocketStream<TcpStream>, Message>>>;

fn broadcast(shared: SharedSink, msg: Message) {
    tokio::spawn(async move {
        let result = {
            let mut sink = shared.lock().unwrap();
            sink.send(msg).await
        };
        result
    });
}

fn main() {
    let _ = broadcast;
}

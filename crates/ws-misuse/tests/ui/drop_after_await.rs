// Near miss: an explicit `drop(sink)`, but after the `.await`. The guard is
// still alive while the future is suspended, so the future is still not `Send`.

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
        let result = sink.send(msg).await;
        drop(sink);
        result
    });
}

fn main() {
    let _ = broadcast;
}

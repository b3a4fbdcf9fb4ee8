// Compiles: the fix for drop_before_await.rs. The guard lives in a block
// that ends before the `.await`, so it is not part of the suspended future.

use std::sync::{Arc, Mutex};

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

fn send_greeting(names: Arc<Mutex<Vec<String>>>, mut sink: Sink) {
    tokio::spawn(async move {
        let msg = {
            let guard = names.lock().unwrap();
            Message::text(format!("hello, {}", guard.join(", ")))
        };
        sink.send(msg).await
    });
}

fn main() {
    let _ = send_greeting;
}

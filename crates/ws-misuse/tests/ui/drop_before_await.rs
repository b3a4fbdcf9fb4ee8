// Near miss: `drop(guard)` before the `.await`. The guard is gone at run
// time, yet the future is still not `Send`: rustc 1.95 decides what a future
// holds across an `.await` from the binding's scope, which lasts to the end
// of the block, not from where the value was moved out (an open compiler
// issue: rust-lang/rust#115437). Only a scope that ends before the `.await`
// works (see pass/scope_ends_before_await.rs).

use std::sync::{Arc, Mutex};

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

fn send_greeting(names: Arc<Mutex<Vec<String>>>, mut sink: Sink) {
    tokio::spawn(async move {
        let guard = names.lock().unwrap();
        let msg = Message::text(format!("hello, {}", guard.join(", ")));
        drop(guard);
        sink.send(msg).await
    });
}

fn main() {
    let _ = send_greeting;
}

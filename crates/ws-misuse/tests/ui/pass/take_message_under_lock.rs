// Compiles: the lock only guards taking the next message out of a shared
// queue; the block ends, and the guard with it, before the `.await`. The
// sink itself is owned by this task and needs no lock (the shape of the
// `ws-mpsc-writer` variant, with a queue instead of a channel).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

fn writer(queue: Arc<Mutex<VecDeque<Message>>>, mut sink: Sink) {
    tokio::spawn(async move {
        loop {
            let next = {
                let mut queue = queue.lock().unwrap();
                queue.pop_front()
            };
            match next {
                Some(msg) => {
                    if sink.send(msg).await.is_err() {
                        return;
                    }
                }
                None => tokio::task::yield_now().await,
            }
        }
    });
}

fn main() {
    let _ = writer;
}

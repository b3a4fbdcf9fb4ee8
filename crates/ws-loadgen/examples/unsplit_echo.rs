//! The fastest reference echo server: one task owns each whole socket, no
//! split, no lock, no channel. It is the ceiling `ws-loadgen` is measured
//! against (see the crate README), not one of the compared variants.
//!
//! ```text
//! cargo run -p ws-loadgen --release --example unsplit_echo -- 127.0.0.1:3000
//! ```
//!
//! It answers any path with an echo WebSocket, on a one-thread runtime so that
//! `taskset -c 0` confines it to one core.

use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        eprintln!("unsplit_echo listening on ws://{}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(serve(stream));
        }
    })
}

/// Runs for the life of one connection: read, echo, flush once per burst.
async fn serve(stream: TcpStream) {
    // Nagle would hold small echoes back; every real server under test sets this too.
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20))
        // As the workspace's servers: tungstenite zero-fills the whole read
        // buffer before each read: 128 KiB by default, even to read one
        // 64-byte message.
        .read_buffer_size(16 << 10);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if !echo(&mut ws, msg).await {
            return;
        }
        // Echo whatever else has already arrived before paying for one flush.
        while let Some(Some(Ok(msg))) = ws.next().now_or_never() {
            if !echo(&mut ws, msg).await {
                return;
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

/// Queue the echo of a data message; false when the client is gone.
async fn echo(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>, msg: Message) -> bool {
    match msg {
        Message::Text(_) | Message::Binary(_) => ws.feed(msg).await.is_ok(),
        // Pings are answered by tungstenite; a close is answered and ends the stream.
        _ => true,
    }
}

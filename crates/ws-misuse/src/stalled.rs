//! A WebSocket write half whose peer has stopped reading, without a network.
//!
//! The socket is a `tokio::io::duplex` pipe of [`PIPE_CAPACITY`] bytes wrapped
//! in tokio-tungstenite's `WebSocketStream`, the type that axum's `WebSocket`
//! wraps too. A [`BIG_MESSAGE`]-byte send fills the pipe and then waits, for
//! as long as the [`Peer`] does not read: a slow consumer on demand, with no
//! kernel buffer sizes or timing of a real network involved.

use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::SplitSink;
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Bytes the pipe holds before a write must wait for the peer to read.
///
/// Not tiny on purpose: each successful write spends one unit of tokio's
/// cooperative budget, and a send driven by `futures::executor::block_on`
/// inside a tokio task never gets that budget back. A few large writes keep
/// the demonstrations about the lock, not about the budget.
pub const PIPE_CAPACITY: usize = 16 * 1024;

/// Size of the message that cannot be sent while the peer does not read:
/// many times [`PIPE_CAPACITY`], so the send stays pending until the peer
/// drains the pipe.
pub const BIG_MESSAGE: usize = 256 * 1024;

/// The write half, as every variant of the workspace shares it.
pub type Sink = SplitSink<WebSocketStream<DuplexStream>, Message>;

/// A message the peer cannot take in one go.
pub fn big_message() -> Message {
    Message::binary(vec![0u8; BIG_MESSAGE])
}

/// The far end of the pipe: holds it open without reading until told to.
pub struct Peer {
    io: DuplexStream,
}

/// Builds a server-side WebSocket over the pipe and returns its write half
/// and the peer, which is not reading yet.
pub async fn stalled_sink() -> (Sink, Peer) {
    let (ours, theirs) = tokio::io::duplex(PIPE_CAPACITY);
    // No handshake: both ends are ours, and the demonstrations are about
    // writing frames, not about negotiating them.
    let ws = WebSocketStream::from_raw_socket(ours, Role::Server, None).await;
    // The read half is not needed: the hazards are all on the write side.
    let (sink, _stream) = ws.split();
    (sink, Peer { io: theirs })
}

impl Peer {
    /// Starts reading after `delay`, on an OS thread of its own with its own
    /// runtime, the way a remote client is unaffected by whatever blocks our
    /// runtime. Calls `on_start` when it starts reading, then reads until
    /// the pipe is closed.
    pub fn read_after(
        self,
        delay: Duration,
        on_start: impl FnOnce() + Send + 'static,
    ) -> thread::JoinHandle<()> {
        let mut io = self.io;
        thread::spawn(move || {
            thread::sleep(delay);
            on_start();
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("the peer's runtime builds");
            rt.block_on(async move {
                let mut buf = vec![0u8; PIPE_CAPACITY];
                // Ends at EOF (0) or error: either way the server side is
                // gone and there is nothing left to drain.
                while matches!(io.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        })
    }
}

//! Test servers speaking the protocol (`/ws/echo`, `/ws/room/{room}`), with
//! deliberate faults, to prove that the load generator detects each one.
//!
//! One task owns each connection; room members get their deliveries through
//! an unbounded channel, and faults are applied to what a connection sends.
//! Everything binds 127.0.0.1:0 and stops when the `TestServer` is dropped.

#![allow(dead_code)] // Each test binary uses a different subset of this kit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// What the server does wrong, counted per connection over the data messages it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: a correct server.
    None,
    /// Drop message k when k % n == n - 1.
    Drop(u64),
    /// Hold message k when k % n == 0 and send it after the next one.
    Reorder(u64),
    /// Send message k twice when k % n == 0.
    Duplicate(u64),
    /// Cut message k to half its length when k % n == 0.
    Truncate(u64),
    /// After n messages, stop reading and writing (the socket stays open).
    Stall(u64),
    /// After n messages, close with code 1011.
    CloseAfter(u64),
}

/// Server-side slow-consumer policy: close with 1008 when one send takes longer than this.
pub type SendTimeout = Option<Duration>;

type Rooms = Arc<Mutex<HashMap<String, Vec<(u64, mpsc::UnboundedSender<Message>)>>>>;

/// A running test server.
pub struct TestServer {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Start a server with `fault`.
    pub async fn start(fault: Fault) -> Self {
        Self::start_with(fault, None).await
    }

    /// Start a server with `fault` and a slow-consumer send timeout.
    pub async fn start_with(fault: Fault, send_timeout: SendTimeout) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let rooms: Rooms = Arc::default();
        let task = tokio::spawn(async move {
            let mut next_id = 0u64;
            while let Ok((stream, _)) = listener.accept().await {
                next_id += 1;
                tokio::spawn(serve(
                    stream,
                    fault,
                    send_timeout,
                    Arc::clone(&rooms),
                    next_id,
                ));
            }
        });
        Self { addr, task }
    }

    /// `ws://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

/// Applies a fault to the data messages one connection sends.
struct Faulty {
    fault: Fault,
    k: u64,
    held: Option<Message>,
}

impl Faulty {
    /// The messages to actually send for `msg` (possibly none, possibly two).
    fn apply(&mut self, msg: Message) -> Vec<Message> {
        let k = self.k;
        self.k += 1;
        let mut out = Vec::with_capacity(2);
        match self.fault {
            Fault::Drop(n) if k % n == n - 1 => {}
            Fault::Reorder(n) if k.is_multiple_of(n) && self.held.is_none() => {
                self.held = Some(msg)
            }
            Fault::Duplicate(n) if k.is_multiple_of(n) => {
                out.push(msg.clone());
                out.push(msg);
            }
            Fault::Truncate(n) if k.is_multiple_of(n) => out.push(match msg {
                Message::Binary(b) => Message::Binary(b.slice(..b.len() / 2)),
                Message::Text(t) => Message::Text(t.as_str()[..t.len() / 2].into()),
                other => other,
            }),
            _ => {
                out.push(msg);
                if let Some(h) = self.held.take() {
                    out.push(h);
                }
            }
        }
        out
    }
    fn stalled(&self) -> bool {
        matches!(self.fault, Fault::Stall(n) if self.k >= n)
    }
    fn must_close(&self) -> bool {
        matches!(self.fault, Fault::CloseAfter(n) if self.k >= n)
    }
}

#[expect(
    clippy::result_large_err,
    reason = "tungstenite fixes the handshake callback's error type"
)]
async fn serve(stream: TcpStream, fault: Fault, send_timeout: SendTimeout, rooms: Rooms, id: u64) {
    let _ = stream.set_nodelay(true);
    let mut path = String::new();
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let config = WebSocketConfig::default().max_message_size(Some(17 << 20));
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await
    else {
        return;
    };
    let mut faulty = Faulty {
        fault,
        k: 0,
        held: None,
    };
    let room = path.strip_prefix("/ws/room/").map(str::to_owned);
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    if let Some(r) = &room {
        rooms
            .lock()
            .expect("rooms lock")
            .entry(r.clone())
            .or_default()
            .push((id, tx.clone()));
    }
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => match &room {
                    None => { let _ = tx.send(m); }
                    Some(r) => {
                        let members = rooms.lock().expect("rooms lock").get(r).cloned().unwrap_or_default();
                        for (_, member) in members {
                            let _ = member.send(m.clone());
                        }
                    }
                },
                Some(Ok(_)) => {}
                _ => break,
            },
            Some(out) = rx.recv() => {
                for m in faulty.apply(out) {
                    let send = ws.send(m);
                    let ok = match send_timeout {
                        Some(t) => matches!(tokio::time::timeout(t, send).await, Ok(Ok(()))),
                        None => send.await.is_ok(),
                    };
                    if !ok {
                        // The slow-consumer policy: try to say why, briefly, then drop.
                        let frame = CloseFrame { code: CloseCode::Policy, reason: "too slow".into() };
                        let _ = tokio::time::timeout(Duration::from_millis(100), ws.close(Some(frame))).await;
                        leave(&rooms, room.as_deref(), id);
                        return;
                    }
                }
                if faulty.must_close() {
                    let frame = CloseFrame { code: CloseCode::Error, reason: "fault injected".into() };
                    let _ = ws.close(Some(frame)).await;
                    break;
                }
                if faulty.stalled() {
                    leave(&rooms, room.as_deref(), id);
                    // Hold the socket open without reading or writing until the client goes.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
            }
        }
    }
    leave(&rooms, room.as_deref(), id);
}

fn leave(rooms: &Rooms, room: Option<&str>, id: u64) {
    if let Some(r) = room
        && let Some(v) = rooms.lock().expect("rooms lock").get_mut(r)
    {
        v.retain(|(i, _)| *i != id);
    }
}

/// Bytes helper for tests that build raw messages.
pub fn bytes(v: Vec<u8>) -> Bytes {
    Bytes::from(v)
}

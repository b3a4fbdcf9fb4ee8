//! Connecting, and driving one connection without splitting it.
//!
//! Each client connection is owned by one future that writes, flushes and
//! reads in a single poll loop (`drive`). Splitting the client socket would
//! put a lock between reader and writer: the very overhead the servers under
//! test are compared on, which the instrument must not add to its own side.
//! Writes are queued with `start_send` and flushed once per loop turn, so
//! a burst of replies costs one `write` system call, not one per message.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures_util::{Sink, Stream};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::LoadgenError;
use crate::heartbeat::PingRecorder;
use crate::pacing;
use crate::stats::Clock;

/// A client WebSocket over plain TCP.
pub type Ws = WebSocketStream<TcpStream>;

/// A parsed `ws://` URL with its address resolved once, so opening many
/// connections does not resolve the name each time.
#[derive(Clone, Debug)]
pub struct Target {
    url: String,
    addr: SocketAddr,
}

impl Target {
    /// Parse `url` and resolve its host.
    ///
    /// # Errors
    /// [`LoadgenError::Url`] for anything but `ws://host[:port]/path`, or a host that does not resolve.
    pub async fn resolve(url: &str) -> Result<Self, LoadgenError> {
        let bad = |reason: &str| LoadgenError::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: tungstenite::http::Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
        match uri.scheme_str() {
            Some("ws") => {}
            Some("wss") => return Err(bad("wss:// (TLS) is not supported; use ws://")),
            Some(other) => return Err(bad(&format!("scheme {other:?} is not ws://"))),
            None => return Err(bad("missing scheme, expected ws://host:port/path")),
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("missing host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let mut addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| bad(&format!("cannot resolve host: {e}")))?;
        let addr = addrs
            .next()
            .ok_or_else(|| bad("host resolves to no address"))?;
        Ok(Self {
            url: url.to_owned(),
            addr,
        })
    }

    /// The URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The resolved socket address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The same server with a different URL path (used for `--rooms`).
    #[must_use]
    pub fn with_url(&self, url: String) -> Self {
        Self {
            url,
            addr: self.addr,
        }
    }
}

/// How to open a connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnectOptions {
    /// Bound on TCP connect plus WebSocket handshake.
    pub timeout: Duration,
    /// `SO_RCVBUF` to set before connecting (a small one makes a stalled reader fill up fast).
    pub recv_buffer: Option<u32>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            recv_buffer: None,
        }
    }
}

/// The most one `read` takes in. tungstenite zero-fills this much before
/// every read: with its 128 KiB default, that `memset` was the largest item
/// of the generator's profile at one message in flight. 16 KiB still takes a
/// burst of 4 KiB messages in one read.
pub const READ_BUFFER_SIZE: usize = 16 << 10;

/// Client-side protocol limits (large enough for the servers' 16 MiB
/// messages) and the read buffer.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(crate::payload::MAX_PAYLOAD + 1024))
        .max_frame_size(Some(crate::payload::MAX_PAYLOAD + 1024))
        .read_buffer_size(READ_BUFFER_SIZE)
}

/// Open one WebSocket connection to `target`.
///
/// `TCP_NODELAY` is always set: without it Nagle's algorithm would hold small
/// messages back and the generator would measure its own kernel.
///
/// # Errors
/// [`LoadgenError::Connect`] for TCP failures, [`LoadgenError::Handshake`] for upgrade
/// failures (e.g. an HTTP 400), [`LoadgenError::Timeout`] past `opts.timeout`.
pub async fn connect(target: &Target, opts: ConnectOptions) -> Result<Ws, LoadgenError> {
    match tokio::time::timeout(opts.timeout, connect_inner(target, opts)).await {
        Ok(r) => r,
        Err(_) => Err(LoadgenError::Timeout(format!(
            "connecting to {} took longer than {}",
            target.url,
            humantime::format_duration(opts.timeout)
        ))),
    }
}

async fn connect_inner(target: &Target, opts: ConnectOptions) -> Result<Ws, LoadgenError> {
    let conn_err = |source: std::io::Error| LoadgenError::Connect {
        addr: target.addr.to_string(),
        source,
    };
    let socket = if target.addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(conn_err)?;
    if let Some(size) = opts.recv_buffer {
        socket.set_recv_buffer_size(size).map_err(conn_err)?;
    }
    let stream = socket.connect(target.addr).await.map_err(conn_err)?;
    stream.set_nodelay(true).map_err(conn_err)?;
    let request = target
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| LoadgenError::Url {
            url: target.url.clone(),
            reason: e.to_string(),
        })?;
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()))
            .await
            .map_err(|e| LoadgenError::Handshake {
                url: target.url.clone(),
                reason: handshake_reason(&e),
            })?;
    Ok(ws)
}

fn handshake_reason(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(resp) => format!("server answered HTTP {}", resp.status()),
        other => other.to_string(),
    }
}

/// What a connection's driver wants; implemented by each scenario's per-connection state.
pub(crate) trait Driver {
    /// The next message to send now, if any. Called only when the socket can take one.
    fn next_send(&mut self, now_ns: u64) -> Option<Message>;
    /// A Text or Binary message arrived.
    fn on_message(&mut self, msg: Message, now_ns: u64);
    /// When to call [`Driver::next_send`] again if nothing arrives (a schedule, an end of phase).
    fn wake_at(&self, now_ns: u64) -> Option<u64>;
    /// Whether [`Driver::wake_at`] is an open-loop send time, which [`drive`]
    /// keeps to microseconds (see [`pacing`](crate::pacing)) rather than to
    /// Tokio's millisecond timer.
    fn paced(&self, _now_ns: u64) -> bool {
        false
    }
    /// Do not read before this time (a deliberately slow reader).
    fn read_paused_until(&self) -> Option<u64> {
        None
    }
    /// True when this connection's work is done.
    fn finished(&mut self, now_ns: u64) -> bool;
    /// Where [`drive`] records the server's pings on this connection, if
    /// anywhere (see [`heartbeat`](crate::heartbeat)).
    fn pings(&mut self) -> Option<&mut PingRecorder> {
        None
    }
}

/// How [`drive`] ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The driver said it was done.
    Finished,
    /// The deadline passed first.
    Deadline,
    /// The server sent a close frame.
    Closed(Option<CloseFrame>),
    /// The connection ended without a close frame, or failed.
    Dropped(String),
}

/// Run `driver` on `ws` until it is finished, the server closes, or `deadline_ns` passes.
///
/// This is the one place every scenario reads its connections, so it is
/// where pings are stamped: each Ping frame at the moment it is read, into
/// the driver's [`PingRecorder`], which is finished when this returns.
pub(crate) async fn drive<D: Driver>(
    ws: &mut Ws,
    driver: &mut D,
    clock: &Clock,
    deadline_ns: u64,
) -> End {
    let end = drive_until_end(ws, driver, clock, deadline_ns).await;
    if let Some(pings) = driver.pings() {
        pings.finish(clock.now_ns());
    }
    end
}

async fn drive_until_end<D: Driver>(
    ws: &mut Ws,
    driver: &mut D,
    clock: &Clock,
    deadline_ns: u64,
) -> End {
    let mut timer = Box::pin(tokio::time::sleep_until(
        clock.instant_at(deadline_ns).into(),
    ));
    let mut timer_at = deadline_ns;
    let mut dirty = false;
    poll_fn(|cx| {
        loop {
            let now = clock.now_ns();
            if driver.finished(now) && !dirty {
                return Poll::Ready(End::Finished);
            }
            if now >= deadline_ns {
                return Poll::Ready(End::Deadline);
            }
            // Sends: as many as the driver has and the socket takes.
            let mut sink_ready;
            loop {
                match Pin::new(&mut *ws).poll_ready(cx) {
                    Poll::Ready(Ok(())) => sink_ready = true,
                    Poll::Ready(Err(e)) => return Poll::Ready(ws_end(e)),
                    Poll::Pending => {
                        sink_ready = false;
                        break;
                    }
                }
                // A fresh reading: the message's lateness is measured at the
                // moment it is handed to the socket.
                let Some(msg) = driver.next_send(clock.now_ns()) else {
                    break;
                };
                if let Err(e) = Pin::new(&mut *ws).start_send(msg) {
                    return Poll::Ready(ws_end(e));
                }
                dirty = true;
            }
            if dirty {
                match Pin::new(&mut *ws).poll_flush(cx) {
                    Poll::Ready(Ok(())) => dirty = false,
                    Poll::Ready(Err(e)) => return Poll::Ready(ws_end(e)),
                    Poll::Pending => {}
                }
            }
            // Reads: a bounded batch, then go round again so replies are sent.
            let paused_until = driver.read_paused_until().filter(|&t| t > now);
            let mut got = 0u32;
            if paused_until.is_none() {
                while got < 256 {
                    match Pin::new(&mut *ws).poll_next(cx) {
                        Poll::Ready(Some(Ok(msg))) => match msg {
                            Message::Text(_) | Message::Binary(_) => {
                                driver.on_message(msg, clock.now_ns());
                                got += 1;
                                if driver
                                    .read_paused_until()
                                    .is_some_and(|t| t > clock.now_ns())
                                {
                                    break;
                                }
                            }
                            Message::Close(frame) => return Poll::Ready(End::Closed(frame)),
                            // tungstenite queues the Pong itself; we only note the time.
                            Message::Ping(_) => {
                                if let Some(pings) = driver.pings() {
                                    pings.ping(clock.now_ns());
                                }
                            }
                            Message::Pong(_) | Message::Frame(_) => {}
                        },
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(ws_end(e)),
                        Poll::Ready(None) => {
                            return Poll::Ready(End::Dropped(
                                "connection closed without a close frame".into(),
                            ));
                        }
                        Poll::Pending => break,
                    }
                }
            }
            if got > 0 {
                continue;
            }
            // Timer: the driver's next wake-up (only while the socket can take a
            // message, else the write waker will call us), a read pause, the deadline.
            let mut at = deadline_ns;
            // Whether `at` is an open-loop send time, kept to microseconds.
            let mut send_time = false;
            if sink_ready
                && let Some(t) = driver.wake_at(now)
                && t < at
            {
                at = t;
                send_time = driver.paced(now);
            }
            if let Some(t) =
                paused_until.or_else(|| driver.read_paused_until().filter(|&t| t > now))
                && t < at
            {
                at = t;
                send_time = false;
            }
            if at <= now {
                continue;
            }
            // A send time: the millisecond timer only until shortly before
            // it, then spin (see `pacing`).
            let wake = if send_time {
                pacing::coarse_wake(at)
            } else {
                at
            };
            if wake <= now {
                return pacing::spin(cx);
            }
            if wake != timer_at {
                timer_at = wake;
                timer.as_mut().reset(clock.instant_at(wake).into());
            }
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

fn ws_end(e: tungstenite::Error) -> End {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            End::Dropped("connection closed".into())
        }
        other => End::Dropped(other.to_string()),
    }
}

/// Close politely: send a Close 1000, wait (bounded) for the server's reply.
pub(crate) async fn close(ws: &mut Ws, bound: Duration) {
    use futures_util::{SinkExt, StreamExt};
    let _ = tokio::time::timeout(bound, async {
        // Errors here mean the connection is already gone, which is what we want.
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    let _ = ws.flush().await;
}

/// Read whatever a stalled connection has buffered, to learn whether the server
/// closed it and with which code. Bounded by `bound`.
pub(crate) async fn drain_for_close(ws: &mut Ws, bound: Duration) -> Option<End> {
    use futures_util::StreamExt;
    tokio::time::timeout(bound, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return End::Closed(frame),
                Some(Ok(_)) => {}
                Some(Err(e)) => return ws_end(e),
                None => return End::Dropped("connection closed without a close frame".into()),
            }
        }
    })
    .await
    .ok()
}

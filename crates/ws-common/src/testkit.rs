//! An in-process server and small client helpers, for tests and benches.
//!
//! [`TestServer`] runs a strategy on its own multi-threaded runtime in its
//! own thread, as a real server process would, listening on an ephemeral
//! loopback port. Tests then talk to it over real sockets with
//! tokio-tungstenite, the same client a user would write.

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use crate::handler::Handler;
use crate::metrics::Metrics;
use crate::server::{self, ServeError, ShutdownReport};

/// The raw client: a hand-written upgrade, arbitrary (also invalid) frames,
/// the catalog of bad inputs and a `/metrics` scraper. It lives in its own
/// crate so `ws-loadgen badinput` throws exactly the same bytes.
pub use ws_rawframe as raw;

/// How long [`TestServer::start`] waits for the server to be listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A server running in this process, on `127.0.0.1:<ephemeral>`.
///
/// Dropping it starts the shutdown without waiting for it;
/// [`TestServer::shutdown`] waits and reports.
#[derive(Debug)]
pub struct TestServer {
    name: &'static str,
    addr: SocketAddr,
    metrics: Metrics,
    shutdown: CancellationToken,
    thread: Option<JoinHandle<Result<ShutdownReport, ServeError>>>,
}

/// The client side of a test connection.
pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

impl TestServer {
    /// Starts server `H` with `config` (whose `addr` should use port 0) on
    /// a runtime with `config.worker_threads()` workers, and returns once it
    /// is listening.
    pub fn start<H: Handler>(config: ServerConfig) -> Result<Self, ServeError> {
        Self::start_with(config, |_| {}, server::serve::<H>, H::NAME)
    }

    /// Like [`TestServer::start`], but runs `on_thread_start` on every thread
    /// of the server's runtime (workers and blocking pool) before it serves:
    /// benches pin the server to its core with it.
    pub fn start_pinned<H: Handler>(
        config: ServerConfig,
        on_thread_start: impl Fn(&str) + Send + Sync + Clone + 'static,
    ) -> Result<Self, ServeError> {
        Self::start_with(config, on_thread_start, server::serve::<H>, H::NAME)
    }

    fn start_with<F, Fut>(
        config: ServerConfig,
        on_thread_start: impl Fn(&str) + Send + Sync + Clone + 'static,
        serve: F,
        name: &'static str,
    ) -> Result<Self, ServeError>
    where
        F: FnOnce(tokio::net::TcpListener, ServerConfig, Metrics, CancellationToken) -> Fut
            + Send
            + 'static,
        Fut: Future<Output = Result<ShutdownReport, ServeError>>,
    {
        let metrics = Metrics::new();
        let shutdown = CancellationToken::new();
        let (started, listening) = std_mpsc::channel();
        let thread = {
            let metrics = metrics.clone();
            let shutdown = shutdown.clone();
            std::thread::Builder::new()
                .name(format!("{name}-server"))
                .spawn(move || {
                    on_thread_start(name);
                    let pin = on_thread_start.clone();
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(config.worker_threads())
                        .on_thread_start(move || pin(name))
                        .enable_all()
                        .build()
                        .map_err(ServeError::Runtime);
                    let runtime = match runtime {
                        Ok(runtime) => runtime,
                        Err(err) => {
                            let _ = started.send(Err(err));
                            return Err(ServeError::Io(std::io::Error::other("runtime failed")));
                        }
                    };
                    let outcome = runtime.block_on(async move {
                        let listener = match server::bind(&config).await {
                            Ok(listener) => listener,
                            Err(err) => {
                                let _ = started.send(Err(err));
                                return Err(ServeError::Io(std::io::Error::other("bind failed")));
                            }
                        };
                        let _ = started.send(listener.local_addr().map_err(ServeError::Io));
                        serve(listener, config, metrics, shutdown).await
                    });
                    runtime.shutdown_timeout(Duration::from_millis(100));
                    outcome
                })
                .map_err(ServeError::Runtime)?
        };
        let addr = listening
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| ServeError::Io(std::io::Error::other("server thread did not start")))??;
        Ok(Self {
            name,
            addr,
            metrics,
            shutdown,
            thread: Some(thread),
        })
    }

    /// The strategy's package name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The server's live metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Starts the shutdown (as SIGTERM would) and waits for the server thread.
    pub fn shutdown(mut self) -> Result<ShutdownReport, ServeError> {
        self.shutdown.cancel();
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| {
                Err(ServeError::Io(std::io::Error::other(
                    "server thread panicked",
                )))
            }),
            None => Err(ServeError::Io(std::io::Error::other("already shut down"))),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Connects a client to `url`.
pub async fn connect(url: &str) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let (client, _response) = tokio_tungstenite::connect_async(url).await?;
    Ok(client)
}

/// Connects a client whose socket has a receive buffer of about `bytes`
/// (the kernel doubles and clamps it). A client that then stops reading
/// fills the server's socket buffers in kilobytes, not megabytes, which is
/// how tests get a stalled consumer quickly.
pub async fn connect_with_receive_buffer(
    url: &str,
    bytes: usize,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let uri: axum::http::Uri = url.parse().map_err(|err: axum::http::uri::InvalidUri| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, err)
    })?;
    let authority = uri
        .authority()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "URL has no host"))?;
    let addr: SocketAddr = tokio::net::lookup_host(authority.as_str())
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "host did not resolve"))?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // Must be set before connecting: the window is negotiated in the handshake.
    socket.set_recv_buffer_size(bytes)?;
    socket.set_nonblocking(true)?;
    let socket = tokio::net::TcpSocket::from_std_stream(socket.into());
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let (client, _response) =
        tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await?;
    Ok(client)
}

/// Drops a client's TCP connection with a reset, without a Close frame: what a
/// crashed client or a pulled cable looks like to the server.
pub fn reset(client: Client) -> std::io::Result<()> {
    if let MaybeTlsStream::Plain(stream) = client.get_ref() {
        stream.set_zero_linger()?;
    }
    drop(client);
    Ok(())
}

/// A minimal HTTP/1.1 exchange: sends `GET path` with `headers`, returns the
/// status code and the body. For checking the plain HTTP answers (health,
/// 400, 404) without a WebSocket client in the way.
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no status line"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The headers of a valid WebSocket upgrade request, for [`http_get`].
pub const UPGRADE_HEADERS: &[(&str, &str)] = &[
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
];

//! A WebSocket client over a plain TCP socket, with nothing between the test
//! and the wire: the upgrade is written by hand, frames are written as given,
//! and what the server answers is read back frame by frame.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::frame::{Frame, opcode};

/// The `Sec-WebSocket-Key` sent by [`RawClient::upgrade`] (RFC 6455's example).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The largest frame payload read back from a server. Servers under test
/// answer bad input with small frames; anything larger is refused rather
/// than buffered.
const MAX_READ_PAYLOAD: u64 = 64 << 20;

/// The largest HTTP response head accepted.
const MAX_HEAD: usize = 16 << 10;

/// A valid upgrade request for `path` on `host`.
pub fn upgrade_request(host: &str, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
    )
}

/// Why a raw connection could not be set up.
#[derive(Debug)]
pub enum RawError {
    /// The socket failed.
    Io(io::Error),
    /// The server answered the upgrade with this HTTP status instead of 101.
    Refused(u16),
    /// The server's answer is not HTTP, or ended early.
    Malformed(String),
}

impl std::fmt::Display for RawError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawError::Io(err) => write!(f, "{err}"),
            RawError::Refused(status) => write!(f, "upgrade refused with HTTP {status}"),
            RawError::Malformed(what) => write!(f, "malformed answer: {what}"),
        }
    }
}

impl std::error::Error for RawError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RawError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for RawError {
    fn from(err: io::Error) -> Self {
        RawError::Io(err)
    }
}

/// How the server ended (or did not end) a raw connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A Close frame arrived: its code (`None` when it had no payload) and reason.
    Closed {
        /// The close code.
        code: Option<u16>,
        /// The reason, lossily decoded.
        reason: String,
    },
    /// The server answered with HTTP instead of an upgrade.
    Http(u16),
    /// The TCP connection ended (EOF) without a Close frame.
    Ended,
    /// The TCP connection failed (typically a reset), or the server's answer
    /// made no sense; the error text.
    Failed(String),
    /// Nothing conclusive arrived within the bound.
    TimedOut,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Closed {
                code: Some(code), ..
            } => write!(f, "close {code}"),
            Outcome::Closed { code: None, .. } => write!(f, "close without code"),
            Outcome::Http(status) => write!(f, "HTTP {status}"),
            Outcome::Ended => write!(f, "connection ended without a close"),
            Outcome::Failed(err) => write!(f, "connection failed: {err}"),
            Outcome::TimedOut => write!(f, "no answer in time"),
        }
    }
}

/// One raw connection.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    /// Bytes read but not yet consumed.
    buf: Vec<u8>,
}

impl RawClient {
    /// Opens a TCP connection (with `TCP_NODELAY`) without any handshake.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        Self::connect_with(addr, None).await
    }

    /// [`Self::connect`], with the socket's `SO_SNDBUF` set to `send_buffer`
    /// bytes first when given (Linux doubles it and keeps a minimum).
    pub async fn connect_with(addr: SocketAddr, send_buffer: Option<u32>) -> io::Result<Self> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(bytes) = send_buffer {
            socket.set_send_buffer_size(bytes)?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    /// Connects and upgrades `path` to a WebSocket.
    pub async fn upgrade(addr: SocketAddr, path: &str) -> Result<Self, RawError> {
        Self::upgrade_with(addr, path, None).await
    }

    /// [`Self::upgrade`] over [`Self::connect_with`]'s socket.
    pub async fn upgrade_with(
        addr: SocketAddr,
        path: &str,
        send_buffer: Option<u32>,
    ) -> Result<Self, RawError> {
        let mut client = Self::connect_with(addr, send_buffer).await?;
        client
            .send(upgrade_request(&addr.to_string(), path).as_bytes())
            .await?;
        match client.read_http_status().await? {
            Some(101) => Ok(client),
            Some(status) => Err(RawError::Refused(status)),
            None => Err(RawError::Malformed(
                "the connection ended before an answer".into(),
            )),
        }
    }

    /// Reads an HTTP response head and returns its status; `None` when the
    /// connection ends first. Bytes after the head stay buffered as frames.
    pub async fn read_http_status(&mut self) -> Result<Option<u16>, RawError> {
        let end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(RawError::Malformed("response head too long".into()));
            }
            if self.fill().await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(RawError::Malformed(
                    "the connection ended inside the response head".into(),
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end);
        let status = head
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| head.strip_prefix("HTTP/1.0 "))
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| RawError::Malformed(format!("not an HTTP status line: {head:?}")))?;
        Ok(Some(status))
    }

    /// Writes `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Writes one frame.
    pub async fn send_frame(&mut self, frame: &Frame) -> io::Result<()> {
        self.send(&frame.encode()).await
    }

    /// Reads the next frame; `None` when the server closed the TCP connection.
    pub async fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            match Frame::decode(&self.buf, MAX_READ_PAYLOAD) {
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    return Ok(Some(frame));
                }
                Ok(None) => {}
                Err(err) => return Err(io::Error::new(io::ErrorKind::InvalidData, err)),
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads the next Text or Binary frame's payload, skipping Pings and
    /// Pongs; an error if the connection ends or closes first.
    pub async fn read_data(&mut self) -> io::Result<Vec<u8>> {
        loop {
            match self.read_frame().await? {
                Some(frame) if matches!(frame.opcode, opcode::TEXT | opcode::BINARY) => {
                    return Ok(frame.payload);
                }
                Some(frame) if frame.opcode == opcode::CLOSE => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("closed by the server: {:?}", frame.close_code()),
                    ));
                }
                Some(_) => {}
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
    }

    /// Half-closes the connection: the server reads EOF, we can still read.
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown().await
    }

    /// Waits (at most `bound`) for the server to end the connection and says
    /// how it did. A Close from the server is answered with a Close carrying
    /// the same code, then our side is half-closed and the server's EOF
    /// awaited, so that the server's close handshake completes at once.
    pub async fn outcome(&mut self, bound: Duration) -> Outcome {
        let read = async {
            loop {
                match self.read_frame().await {
                    Ok(Some(frame)) if frame.opcode == opcode::CLOSE => {
                        let code = frame.close_code();
                        let reason = String::from_utf8_lossy(frame.payload.get(2..).unwrap_or(&[]))
                            .into_owned();
                        // The reply may fail when the server has already gone.
                        let reply = match code {
                            Some(code) => Frame::close(code, b""),
                            None => Frame::new(opcode::CLOSE, Vec::new()),
                        };
                        let _ = self.send_frame(&reply).await;
                        let _ = self.shutdown_write().await;
                        while let Ok(Some(_)) = self.read_frame().await {}
                        return Outcome::Closed { code, reason };
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => return Outcome::Ended,
                    Err(err) => return Outcome::Failed(err.to_string()),
                }
            }
        };
        tokio::time::timeout(bound, read)
            .await
            .unwrap_or(Outcome::TimedOut)
    }

    /// Drops the connection with a TCP reset (zero linger), without a Close.
    pub fn reset(self) -> io::Result<()> {
        self.stream.set_zero_linger()?;
        drop(self.stream);
        Ok(())
    }

    /// The socket, for anything the methods above do not cover.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size a connected socket reports for `SO_SNDBUF`.
    async fn send_buffer(send_buffer: Option<u32>) -> usize {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listener");
        let addr = listener.local_addr().expect("address");
        let connecting = RawClient::connect_with(addr, send_buffer);
        let (client, _accepted) = tokio::join!(connecting, listener.accept());
        let client = client.expect("connected");
        socket2::SockRef::from(&client.stream)
            .send_buffer_size()
            .expect("SO_SNDBUF")
    }

    #[tokio::test]
    async fn a_send_buffer_given_is_the_one_the_socket_gets() {
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            // Linux doubles what is asked for, and autotunes the default
            // (16 KiB to start, up to megabytes): 64 KiB asked is 128 KiB.
            let small = send_buffer(Some(64 * 1024)).await;
            assert_eq!(small, 128 * 1024);
            let default = send_buffer(None).await;
            assert_ne!(default, small);
        })
        .await;
        assert!(outcome.is_ok(), "timed out");
    }
}

//! The accepted socket as hyper and tungstenite see it: a `TcpStream` that,
//! once its connection is upgraded, follows the frames it reads and keeps
//! the connection's share of the inbound budget ([`crate::inbound`]) up to
//! date, and fails its reads once the connection has been evicted.
//!
//! Before the upgrade, a read never goes past the end of a request head
//! (`\r\n\r\n`): what follows stays here for the next read. So when the
//! upgrade request has been parsed, hyper holds none of the bytes after it,
//! and the frame tracker sees the WebSocket stream from its first byte even
//! if a client sends frames before the handshake response (which RFC 6455
//! forbids, and which would otherwise let it misalign the tracker).
//!
//! Once upgraded, a socket hands out at most [`READ_SLICE`] bytes between
//! two returns to the runtime. Tokio's cooperative budget counts reads, not
//! bytes, and tungstenite keeps reading while a frame is incomplete: a client
//! streaming a large message could keep its connection's task reading for
//! 128 reads of `--read-buffer-size` (16 MiB by default) in one poll, while
//! every other connection on that worker waits. Measured with
//! `ws-loadgen hostile` (8 clients each sending 31 MiB of a 32 MiB message,
//! one worker), before the slice: a canary's echo p99 went from 0.24 ms to
//! 6.3 ms during the attack. "Reliability" in `RESULTS.md` has the canary's
//! figures with it. The price is one futile read per slice (tungstenite
//! zero-fills its buffer before it learns the read would block).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::frames::FrameTracker;
use crate::inbound::{Account, Budget, BudgetExceeded};

/// Where the request handler opens the connection's account when it
/// upgrades it; the socket picks it up on its next read. One per socket,
/// handed to the handler as a request extension.
#[derive(Debug, Clone, Default)]
pub struct InboundSlot(Arc<OnceLock<Arc<Account>>>);

impl InboundSlot {
    /// Opens the account: from the next byte read, the socket counts.
    pub fn open(&self, budget: &Arc<Budget>) {
        let _ = self.0.set(budget.open());
    }
}

/// An accepted socket; see the module doc.
#[derive(Debug)]
pub struct Metered {
    tcp: TcpStream,
    slot: InboundSlot,
    /// Set once the connection is upgraded.
    account: Option<Arc<Account>>,
    frames: FrameTracker,
    /// Read from the socket but not yet handed out: what followed a request
    /// head in the read that ended it.
    stash: Vec<u8>,
    /// How much of `\r\n\r\n` the bytes handed out so far end with.
    head_end: usize,
    /// Bytes handed out since the reader last returned to the runtime.
    read_this_turn: usize,
}

/// Bytes an upgraded socket hands out before it makes its reader give way
/// to the other tasks of its worker: two reads of tungstenite's default
/// buffer, tens of microseconds of work. A reader of ordinary messages
/// rarely gets there (a 16 KiB echo client at 64 in flight gives way once
/// every 16 messages); one streaming a huge message does, once per slice.
pub const READ_SLICE: usize = 256 * 1024;

const HEAD_END: &[u8; 4] = b"\r\n\r\n";

impl Metered {
    /// Wraps an accepted socket; `slot` is how its handler opens its account.
    pub fn new(tcp: TcpStream, slot: InboundSlot) -> Self {
        Self {
            tcp,
            slot,
            account: None,
            frames: FrameTracker::default(),
            stash: Vec::new(),
            head_end: 0,
            read_this_turn: 0,
        }
    }

    /// Before the upgrade: gives back to the stash whatever `buf` received
    /// (from `start`) past the first end of a request head.
    fn stop_at_head_end(&mut self, buf: &mut ReadBuf<'_>, start: usize) {
        let received = &buf.filled()[start..];
        let mut end = None;
        for (i, &byte) in received.iter().enumerate() {
            self.head_end = if byte == HEAD_END[self.head_end] {
                self.head_end + 1
            } else if byte == b'\r' {
                1
            } else {
                0
            };
            if self.head_end == HEAD_END.len() {
                self.head_end = 0;
                end = Some(i + 1);
                break;
            }
        }
        if let Some(end) = end.filter(|&end| end < received.len()) {
            let mut rest = received[end..].to_vec();
            rest.append(&mut self.stash);
            self.stash = rest;
            buf.set_filled(start + end);
        }
    }
}

fn evicted() -> io::Error {
    io::Error::other(BudgetExceeded)
}

impl AsyncRead for Metered {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.account.is_none() {
            this.account = this.slot.0.get().cloned();
        }
        let start = buf.filled().len();
        if !this.stash.is_empty() {
            let n = this.stash.len().min(buf.remaining());
            buf.put_slice(&this.stash[..n]);
            this.stash.drain(..n);
        } else {
            if this.account.as_ref().is_some_and(|a| a.is_evicted()) {
                return Poll::Ready(Err(evicted()));
            }
            if this.read_this_turn >= READ_SLICE && this.account.is_some() {
                // Give way: the reader sees "would block" and returns to the
                // runtime, which polls it again after the tasks queued
                // meanwhile (a task that wakes itself goes to the back).
                this.read_this_turn = 0;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match Pin::new(&mut this.tcp).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {
                    this.read_this_turn += buf.filled().len() - start;
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => {
                    this.read_this_turn = 0;
                    // Only a reader that waits needs waking on eviction; one
                    // that reads sees the flag on its next read. Checked again
                    // after registering, so an eviction in between is not lost.
                    if let Some(account) = &this.account {
                        account.register_reader(cx.waker());
                        if account.is_evicted() {
                            return Poll::Ready(Err(evicted()));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
        match &this.account {
            None => this.stop_at_head_end(buf, start),
            Some(account) => {
                let before = this.frames.held();
                this.frames.feed(&buf.filled()[start..]);
                account.update(before, this.frames.held());
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::metrics::Metrics;

    /// A frame sent right behind the upgrade request, in the same write,
    /// is not handed to hyper with the request, and is counted once the
    /// account is open.
    #[tokio::test]
    async fn bytes_behind_a_request_head_wait_for_the_next_read() {
        let case = async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let mut client = TcpStream::connect(listener.local_addr()?).await?;
            let (tcp, _) = listener.accept().await?;
            let slot = InboundSlot::default();
            let mut socket = Metered::new(tcp, slot.clone());
            let head = b"GET /ws/echo HTTP/1.1\r\nHost: x\r\n\r\n";
            // A binary frame announcing 1000 bytes, 100 of them sent.
            let mut frame = vec![0x82, 0x80 | 126, 0x03, 0xe8, 0, 0, 0, 0];
            frame.extend([7u8; 100]);
            let mut sent = head.to_vec();
            sent.extend(&frame);
            client.write_all(&sent).await?;
            let mut buf = vec![0u8; 4096];
            let mut got: Vec<u8> = Vec::new();
            while got.len() < head.len() {
                let n = socket.read(&mut buf).await?;
                got.extend(&buf[..n]);
            }
            assert_eq!(got, head, "the first reads stop at the head's end");
            let budget = Budget::new(1 << 20, 0, Metrics::new());
            slot.open(&budget);
            let mut rest: Vec<u8> = Vec::new();
            while rest.len() < frame.len() {
                let n = socket.read(&mut buf).await?;
                rest.extend(&buf[..n]);
            }
            assert_eq!(rest, frame);
            assert_eq!(
                budget.total(),
                frame.len() as u64,
                "the partial frame is held"
            );
            // The server's own clones of the slot end with the HTTP
            // connection, at the upgrade; the socket's with the socket.
            drop(slot);
            drop(socket);
            assert_eq!(budget.total(), 0, "and released with the socket");
            Ok::<_, io::Error>(())
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), case)
            .await
            .expect("within 10 s")
            .expect("the socket works");
    }

    /// Counts the wakes a poll makes.
    #[derive(Default)]
    struct CountingWaker(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// With far more than a slice already readable, an upgraded socket hands
    /// out one slice (give or take one read), then says "would block" and
    /// wakes its reader at once; the next poll reads on.
    #[tokio::test]
    async fn an_upgraded_socket_gives_way_after_a_slice() {
        const CHUNK: usize = 64 * 1024;
        let case = async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let mut client = TcpStream::connect(listener.local_addr()?).await?;
            let (tcp, _) = listener.accept().await?;
            socket2::SockRef::from(&tcp).set_recv_buffer_size(4 << 20)?;
            let slot = InboundSlot::default();
            let mut socket = Metered::new(tcp, slot.clone());
            // Upgraded: the account is picked up on the first read.
            slot.open(&Budget::new(1 << 30, 0, Metrics::new()));
            let readable = READ_SLICE + 4 * CHUNK;
            let writer = tokio::spawn(async move {
                client.write_all(&vec![0x82; readable]).await?;
                Ok::<_, io::Error>(client)
            });
            // Wait until the kernel holds it all, so that only the slice can
            // make a read wait.
            let mut peek = vec![0u8; readable];
            while socket.tcp.peek(&mut peek).await? < readable {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let counter = Arc::new(CountingWaker::default());
            let waker = std::task::Waker::from(Arc::clone(&counter));
            let mut cx = Context::from_waker(&waker);
            let mut buf = vec![0u8; CHUNK];
            let mut handed_out = 0;
            let pending = loop {
                let mut read = ReadBuf::new(&mut buf);
                match Pin::new(&mut socket).poll_read(&mut cx, &mut read) {
                    Poll::Ready(result) => result?,
                    Poll::Pending => break true,
                }
                handed_out += read.filled().len();
                if handed_out >= readable {
                    break false;
                }
            };
            assert!(pending, "gave way before the data ran out");
            assert!(
                (READ_SLICE..READ_SLICE + CHUNK).contains(&handed_out),
                "gave way after {handed_out} bytes"
            );
            assert_eq!(
                counter.0.load(std::sync::atomic::Ordering::SeqCst),
                1,
                "and woke its reader"
            );
            let mut read = ReadBuf::new(&mut buf);
            match Pin::new(&mut socket).poll_read(&mut cx, &mut read) {
                Poll::Ready(result) => result?,
                Poll::Pending => panic!("the next poll reads on"),
            }
            assert!(!read.filled().is_empty(), "the next poll reads on");
            drop(writer.await.map_err(io::Error::other)??);
            Ok::<_, io::Error>(())
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), case)
            .await
            .expect("within 10 s")
            .expect("the socket works");
    }
}

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
//! Once upgraded, a socket charges its reader's task tokio's cooperative
//! budget by bytes as well as by reads: one more unit for every
//! [`BYTES_PER_BUDGET_UNIT`] it hands out. The budget alone counts reads, and
//! tungstenite keeps reading while a frame is incomplete, so a client
//! streaming a huge message could keep its task reading for 128 reads of
//! `--read-buffer-size` (2 MiB with its 16 KiB default) in one poll while
//! every other connection on that worker waited. When the budget runs out, tokio defers
//! the task's wake-up until it has polled for socket readiness, so the
//! others' sockets are seen first.
//!
//! The bytes of a message the connection holds more than
//! [`LARGE_MESSAGE_HELD`] of cost 64 times as much
//! ([`LARGE_MESSAGE_BYTES_PER_BUDGET_UNIT`]): they go to fresh pages of a
//! growing buffer, the slowest copy there is, so a poll of such a reader
//! ends after 8 KiB instead of 512 (pinned by a test): in practice after
//! each read. Ordinary messages never get there. At 32 KiB a poll (16
//! times), the canary's p99 under the partial-message attack was 0.29–0.51
//! ms on `ws-tokio-mutex`, and at one read a poll 0.15–0.31 ms, against
//! 0.11–0.15 ms before the attack (by hand, 4 runs each, canary every 1 ms,
//! large blocks already freed in the background; each window also held the
//! attackers' idle second after their last byte, which `ws-loadgen hostile`
//! now times apart, and came from the canary of the time: see `ws-alloc`'s
//! doc). Less than one read a poll did not help: capping a large-message
//! reader's reads at 4 KiB or 2 KiB, the canary's p99 under the attack's
//! bytes was 149–194 µs and 151–248 µs, against 141–168 µs at one read
//! (by hand, 3 runs each, 2026-12-05). RESULTS.md's reliability
//! table shows a canary's echo p99 during `ws-loadgen hostile`'s
//! partial-message attack beside its p99 before the attack, for every
//! server.
//!
//! What was left of the canary's delay was not the read but the eviction:
//! each evicted connection's 32 MiB buffer was one `munmap` of 2–3 ms on
//! the server's one worker (`perf trace`, `strace -T`, by hand). Tried by
//! hand before the fix: freeing the whole buffer on another thread (the
//! worker still waited, most likely for the memory-map lock);
//! `tikv-jemallocator` with a background thread (canary p99 0.4–1.0 ms, but
//! it kept the freed pages: peak RSS 99 MiB against the 70 MiB the budget
//! allows); glibc's `glibc.malloc.hugetlb=1` (worse, 2.3–4.7 ms); a second
//! worker, both processes unpinned (567–1,435 µs against 100–166 µs
//! quiet). What works is the servers' allocator, `ws-alloc`: large blocks
//! go back to the kernel a piece at a time from a thread of the lowest
//! priority, and the budget counts them until they have ([`crate::inbound`]).
//!
//! A byte limit that woke its own task instead (after 256 KiB, "would block"
//! and `wake_by_ref`) made things worse: a canary's echo p99 during
//! `ws-loadgen hostile`'s partial-message attack was 18.9–21.3 ms over the
//! five servers in the committed run at f9e1113, against 5.35–7.78 ms in the
//! run at 7a9e617 without it. Tasks that wake themselves keep the run queue
//! full, and a worker with a full queue polls for readiness only every 61
//! task polls.

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
    /// Bytes handed out since the reader's task was last charged for them.
    uncharged: usize,
}

/// Bytes an upgraded socket hands out per unit of tokio's cooperative budget
/// it charges on top of the read's own: 128 units (one task poll) then cover
/// at most 512 KiB, a fraction of a millisecond of copying. A reader of
/// ordinary messages never runs out this way (64 echoes of 64 B fit in one
/// unit, and the reader yields every 128 deliveries anyway).
pub const BYTES_PER_BUDGET_UNIT: usize = 4 * 1024;

/// Bytes per budget unit while the connection holds more than
/// [`LARGE_MESSAGE_HELD`] of a message in progress: 128 units then cover
/// 8 KiB, less than one read (`--read-buffer-size`, 16 KiB by default), so
/// a client streaming a huge message gets one read's worth of the worker
/// per poll (its bytes land in fresh pages of a growing buffer, the slowest
/// copy there is), some ten microseconds, not half a millisecond.
pub const LARGE_MESSAGE_BYTES_PER_BUDGET_UNIT: usize = 64;

/// What a connection must hold of messages in progress before its reads
/// cost [`LARGE_MESSAGE_BYTES_PER_BUDGET_UNIT`]: more than any ordinary
/// message, so echoes and chat traffic keep the cheaper rate.
pub const LARGE_MESSAGE_HELD: u64 = 64 * 1024;

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
            uncharged: 0,
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
            if let Some(account) = &this.account {
                if account.is_evicted() {
                    return Poll::Ready(Err(evicted()));
                }
                if account.must_wait(cx.waker()) {
                    return Poll::Pending;
                }
            }
            while this.uncharged >= BYTES_PER_BUDGET_UNIT {
                // Pending here means the budget is spent: tokio has taken
                // the waker and wakes the task after its readiness poll.
                std::task::ready!(tokio::task::coop::poll_proceed(cx)).made_progress();
                this.uncharged -= BYTES_PER_BUDGET_UNIT;
            }
            match Pin::new(&mut this.tcp).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => {
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
                let read = buf.filled().len() - start;
                let before = this.frames.held();
                this.frames.feed(&buf.filled()[start..]);
                let held = this.frames.held();
                account.update(before, held);
                this.uncharged += if held > LARGE_MESSAGE_HELD {
                    read * (BYTES_PER_BUDGET_UNIT / LARGE_MESSAGE_BYTES_PER_BUDGET_UNIT)
                } else {
                    read
                };
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
    use crate::inbound::DeferredFrees;
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
            let budget = Budget::with_frees(1 << 20, 0, Metrics::new(), DeferredFrees::NONE);
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

    /// Feeds `stream` to an upgraded socket, reading at most `read_size`
    /// bytes a read, and returns the most it handed out in one task poll
    /// (reading until it says "would block").
    async fn most_handed_out_in_one_poll(stream: Vec<u8>, read_size: usize) -> io::Result<usize> {
        let readable = stream.len();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (tcp, _) = listener.accept().await?;
        socket2::SockRef::from(&tcp).set_recv_buffer_size(readable * 2)?;
        let slot = InboundSlot::default();
        let mut socket = Metered::new(tcp, slot.clone());
        slot.open(&Budget::with_frees(
            1 << 30,
            0,
            Metrics::new(),
            DeferredFrees::NONE,
        ));
        let writer = tokio::spawn(async move {
            client.write_all(&stream).await?;
            Ok::<_, io::Error>(client)
        });
        let mut buf = vec![0u8; read_size];
        let mut total = 0;
        let mut per_poll = Vec::new();
        while total < readable && per_poll.len() < 10_000 {
            let got = std::future::poll_fn(|cx| {
                let mut got = 0;
                loop {
                    let mut read = ReadBuf::new(&mut buf);
                    match Pin::new(&mut socket).poll_read(cx, &mut read) {
                        Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                            got += read.filled().len();
                        }
                        Poll::Ready(other) => return Poll::Ready(other.map(|()| got)),
                        Poll::Pending if got > 0 => return Poll::Ready(Ok(got)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            })
            .await?;
            total += got;
            per_poll.push(got);
        }
        assert_eq!(total, readable, "everything arrives");
        drop(writer.await.map_err(io::Error::other)??);
        Ok(per_poll.iter().copied().max().unwrap_or(0))
    }

    /// With far more readable than one task poll's budget covers, an
    /// upgraded socket hands out about 128 budget units' worth of bytes in
    /// one poll, then says "would block"; the reader's next poll reads on.
    /// (Zeros parse as empty continuation frames: nothing is held.)
    #[tokio::test]
    async fn an_upgraded_socket_charges_the_budget_by_bytes() {
        let most = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            most_handed_out_in_one_poll(vec![0u8; 4 << 20], 64 * 1024),
        )
        .await
        .expect("within 10 s")
        .expect("the socket works");
        assert!(
            most <= 128 * BYTES_PER_BUDGET_UNIT + 64 * 1024,
            "one poll handed out {most} bytes"
        );
    }

    /// The bytes of a large message in progress cost 64 times as much:
    /// past the first [`LARGE_MESSAGE_HELD`], one poll hands out at most
    /// 128 × [`LARGE_MESSAGE_BYTES_PER_BUDGET_UNIT`] (8 KiB, not 512) and
    /// the read that crosses it (4 KiB reads here, so that the old 32 KiB a
    /// poll would not fit the bound).
    #[tokio::test]
    async fn a_large_message_in_progress_is_read_in_small_slices() {
        const PAYLOAD: u64 = 4 << 20;
        // A binary frame (not final) announcing 4 MiB, masked, all sent.
        let mut stream = vec![0x02, 0x80 | 127];
        stream.extend(PAYLOAD.to_be_bytes());
        stream.extend([1, 2, 3, 4]);
        stream.resize(stream.len() + PAYLOAD as usize, 0x5a);
        let most = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            most_handed_out_in_one_poll(stream, 4 * 1024),
        )
        .await
        .expect("within 10 s")
        .expect("the socket works");
        assert!(
            most <= 128 * LARGE_MESSAGE_BYTES_PER_BUDGET_UNIT
                + LARGE_MESSAGE_HELD as usize
                + 4 * 1024,
            "one poll handed out {most} bytes"
        );
        // What the slice is for: a poll of such a reader ends after each
        // read of the default size.
        let read = crate::config::ServerConfig::default().read_buffer_size;
        assert!(
            128 * LARGE_MESSAGE_BYTES_PER_BUDGET_UNIT < read,
            "a poll's slice is less than one {read} B read"
        );
    }
}

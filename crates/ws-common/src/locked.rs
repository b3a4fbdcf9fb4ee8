//! The write half as the lock strategies keep it behind their lock, and the
//! steps of a write they perform under it: the same for `ws-tokio-mutex` and
//! `ws-std-mutex`, so that those two differ by the lock and nothing else.
//!
//! A write has up to three steps: put the message into the `SplitSink`,
//! push it on into tungstenite's write buffer, and flush. Each strategy first
//! tries all of them without waiting ([`LockedSink::try_write`], one poll
//! each, inside one synchronous call), and only when a step cannot complete
//! at once does it wait for the rest ([`LockedSink::write`]), under the send
//! timeout. The push matters: `SplitSink` holds one message back until its
//! next `poll_ready`, and tungstenite refuses data once it has read the
//! peer's Close, so a reply must be in tungstenite's buffer before the
//! reader parses the next frame.
//!
//! The shape of `send`, `flush` and `broadcast` around those steps is shared
//! too ([`send`], [`flush`], [`broadcast`]): a lock strategy implements
//! [`LockedWriter`], which is only how it tries its lock and how it waits
//! for it, and its `SharedSink` methods call these.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::extract::ws::Message;
use futures_util::{Sink, SinkExt};
use tokio::task::yield_now;

use crate::config::FlushPolicy;
use crate::strategy::{Burst, Disconnected, WsSink};
use crate::writer::WriterContext;

/// The sink as a lock guards it: the write half, and whether it holds
/// messages that no flush has covered yet.
#[derive(Debug)]
pub struct LockedSink {
    sink: WsSink,
    unflushed: bool,
}

/// What a write is asked to do.
#[derive(Debug)]
pub enum Write {
    /// Put `message` into tungstenite's buffer, then flush as `flush` says.
    Message {
        /// The message.
        message: Message,
        /// Whether to flush after it.
        flush: Flush,
    },
    /// What is left once the message is in the sink (or there is none):
    /// push it on into tungstenite's buffer, then flush as `flush` says.
    Rest {
        /// Whether to flush.
        flush: Flush,
    },
}

/// Whether a write ends with a flush. Decided under the lock, after the
/// message is in the buffer: only then does "nobody else is waiting" mean
/// that nobody else will flush it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Flush: `--flush each`, or a write already flushing.
    Always,
    /// Flush unless another writer is waiting for the lock; that writer
    /// inherits the flush.
    UnlessWaited,
    /// Leave it: the caller has more coming, and promised a later write or
    /// flush.
    Never,
}

impl Write {
    /// The write a lock strategy makes for one message: under `--flush each`
    /// a send and a flush; under `--flush batched` the flush only when the
    /// caller has nothing more coming and nobody else is waiting to write.
    pub fn message(context: &WriterContext, message: Message, burst: Burst) -> Self {
        let flush = match (context.flush(), burst) {
            (FlushPolicy::Each, _) => Flush::Always,
            (FlushPolicy::Batched, Burst::Last) => Flush::UnlessWaited,
            (FlushPolicy::Batched, Burst::More) => Flush::Never,
        };
        Write::Message { message, flush }
    }

    /// The flush that ends a burst: of whatever earlier writes left in the
    /// buffer, unless another writer is waiting to take it over.
    pub fn end_of_burst() -> Self {
        Write::Rest {
            flush: Flush::UnlessWaited,
        }
    }
}

/// What is left of a write after the attempt that does not wait.
#[derive(Debug)]
pub enum Rest {
    /// Nothing: the write is done.
    Done,
    /// The steps that have to wait for the socket (or for the other half of
    /// the split socket).
    Wait(Write),
    /// A step failed: the connection is gone.
    Failed,
}

impl LockedSink {
    /// A freshly split connection's write half.
    pub fn new(sink: WsSink) -> Self {
        Self {
            sink,
            unflushed: false,
        }
    }

    /// The write half itself, for closing it.
    pub fn sink(&mut self) -> &mut WsSink {
        &mut self.sink
    }

    /// Whether this write's flush is to happen now.
    fn flushes(&self, flush: Flush, waiters: &Waiters) -> bool {
        self.unflushed
            && match flush {
                Flush::Always => true,
                Flush::UnlessWaited => !waiters.any(),
                Flush::Never => false,
            }
    }

    /// Makes every step of `write` that needs no waiting: one poll each.
    /// Synchronous, so a guard of any kind may be held across it. `waiters`
    /// are the writers waiting for the lock this sink is behind.
    pub fn try_write(&mut self, cx: &mut Context<'_>, write: Write, waiters: &Waiters) -> Rest {
        let mut sink = Pin::new(&mut self.sink);
        let flush = match write {
            Write::Rest { flush } => flush,
            Write::Message { message, flush } => {
                match sink.as_mut().poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Rest::Failed,
                    Poll::Pending => return Rest::Wait(Write::Message { message, flush }),
                }
                if sink.as_mut().start_send(message).is_err() {
                    return Rest::Failed;
                }
                self.unflushed = true;
                flush
            }
        };
        // Push the message on from `SplitSink`'s one-message slot into
        // tungstenite's buffer (immediate when the slot is empty).
        match sink.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return Rest::Failed,
            Poll::Pending => return Rest::Wait(Write::Rest { flush }),
        }
        if !self.flushes(flush, waiters) {
            return Rest::Done;
        }
        match Pin::new(&mut self.sink).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.unflushed = false;
                Rest::Done
            }
            Poll::Ready(Err(_)) => Rest::Failed,
            // Decided: the flush goes on when the socket has room.
            Poll::Pending => Rest::Wait(Write::Rest {
                flush: Flush::Always,
            }),
        }
    }

    /// Finishes `write`, waiting as long as the socket needs, under the send
    /// timeout: a timeout or a failure disconnects the connection.
    pub async fn write(
        &mut self,
        context: &WriterContext,
        write: Write,
        waiters: &Waiters,
    ) -> Result<(), Disconnected> {
        let sink = &mut self.sink;
        let flush = match write {
            Write::Rest { flush } => {
                context
                    .bounded(poll_fn(|cx| sink.poll_ready_unpin(cx)))
                    .await?;
                flush
            }
            Write::Message { message, flush } => {
                context
                    .bounded(async {
                        sink.feed(message).await?;
                        poll_fn(|cx| sink.poll_ready_unpin(cx)).await
                    })
                    .await?;
                self.unflushed = true;
                flush
            }
        };
        if self.flushes(flush, waiters) {
            context.bounded(self.sink.flush()).await?;
            self.unflushed = false;
        }
        Ok(())
    }
}

/// Writers waiting for one sink's lock: a writer that finds others waiting
/// leaves its flush to the last of them (write combining).
#[derive(Debug, Default)]
pub struct Waiters(AtomicUsize);

impl Waiters {
    /// Whether another writer is waiting for the lock right now.
    pub fn any(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }

    /// Counts the caller as waiting until the returned guard is dropped
    /// (when it has the lock, or gives up).
    pub fn enter(&self) -> impl Drop + '_ {
        self.0.fetch_add(1, Ordering::AcqRel);
        WaitingGuard(self)
    }
}

struct WaitingGuard<'a>(&'a Waiters);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Makes `attempt` for every member, synchronously and without waiting, and
/// returns what has to wait. `attempt` gives `None` when it is done with a
/// member (written, or failed and disconnected).
///
/// Each socket write spends a unit of tokio's cooperative budget (128 per
/// task poll), and a write refused for want of budget looks just like a full
/// socket: without care, every member of a large room after the 128th or so
/// would take the slow path. So when the budget runs out the task yields
/// once and goes on with a fresh one.
pub async fn each_without_waiting<'m, M, P>(
    members: &'m [M],
    mut attempt: impl FnMut(&mut Context<'_>, &'m M) -> Option<P>,
) -> Vec<P> {
    let mut waiting = Vec::new();
    let mut next = 0;
    while next < members.len() {
        poll_fn(|cx| {
            while let Some(member) = members.get(next) {
                if !tokio::task::coop::has_budget_remaining() {
                    break;
                }
                waiting.extend(attempt(cx, member));
                next += 1;
            }
            Poll::Ready(())
        })
        .await;
        if next < members.len() {
            yield_now().await;
        }
    }
    waiting
}

/// A lock strategy's side of a write: how it tries its lock, and how it
/// waits for it. Everything else about `send`, `flush` and `broadcast` is
/// the same for every lock strategy, and lives in this module's functions.
pub trait LockedWriter: Clone + Send + Sync + 'static {
    /// What is left of a write that has to wait for the lock or the socket.
    type Pending: Send;

    /// The connection's writer context.
    fn context(&self) -> &WriterContext;

    /// Makes every step of `write` that needs no waiting, under `try_lock`,
    /// and returns what is left: `None` when done, or when a step failed and
    /// the connection was disconnected.
    fn write_now(&self, cx: &mut Context<'_>, write: Write) -> Option<Self::Pending>;

    /// Finishes writes that have to wait, each under its member's lock and
    /// send timeout; a failure disconnects that member only.
    fn finish(waiting: Vec<(Self, Self::Pending)>) -> impl Future<Output = ()> + Send;
}

/// `SharedSink::send` for a lock strategy: the attempt that does not wait,
/// then, if something is left, the wait.
pub async fn send<W: LockedWriter>(
    writer: &W,
    message: Message,
    burst: Burst,
) -> Result<(), Disconnected> {
    let context = writer.context();
    if context.is_disconnected() {
        return Err(Disconnected);
    }
    let mut write = Some(Write::message(context, message, burst));
    let rest = poll_fn(|cx| Poll::Ready(write.take().and_then(|w| writer.write_now(cx, w)))).await;
    if let Some(rest) = rest {
        W::finish(vec![(writer.clone(), rest)]).await;
    }
    if context.is_disconnected() {
        return Err(Disconnected);
    }
    Ok(())
}

/// `SharedSink::flush` for a lock strategy. The flush that ends a
/// broadcast is deferred by one turn of the runtime: the other broadcasters
/// of this turn write into the same sinks first, and one flush per sink then
/// covers all of them (a sink someone else flushed meanwhile costs only a
/// look under its lock).
pub async fn flush<W: LockedWriter>(members: &[W]) {
    if members.len() > 1 {
        yield_now().await;
    }
    let waiting = each_without_waiting(members, |cx, member| {
        if member.context().is_disconnected() {
            return None;
        }
        let rest = member.write_now(cx, Write::end_of_burst())?;
        Some((member.clone(), rest))
    })
    .await;
    if !waiting.is_empty() {
        W::finish(waiting).await;
    }
}

/// `SharedSink::broadcast` for a lock strategy: every member gets the
/// attempt that does not wait; those that have to wait then wait as the
/// strategy waits. A failed member is disconnected by its own context; the
/// rest of the room is unaffected.
pub async fn broadcast<W: LockedWriter>(members: &[W], message: Message, burst: Burst) {
    let waiting = each_without_waiting(members, |cx, member| {
        if member.context().is_disconnected() {
            return None;
        }
        let write = Write::message(member.context(), message.clone(), burst);
        let rest = member.write_now(cx, write)?;
        Some((member.clone(), rest))
    })
    .await;
    if !waiting.is_empty() {
        W::finish(waiting).await;
    }
}

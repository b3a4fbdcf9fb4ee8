//! The write half owned by one writer task per connection, fed by a bounded
//! `tokio::sync::mpsc` channel.
//!
//! # How it works
//! Nobody shares the sink: a task spawned for each connection owns it and
//! writes whatever arrives on a bounded channel. Every writer (the
//! connection's own reader, other members' broadcasts, the heartbeat) holds
//! a clone of the channel's `Sender` and hands messages over with
//! `try_send`, which never waits. The channel keeps each sender's messages
//! in order. The writer task takes everything queued at once (up to
//! [`BATCH`] messages), `feed`s them into the sink and flushes once: under
//! load, many messages leave in one `write` syscall.
//!
//! # Trade-offs
//! - Batching: concurrent writers' messages share flushes. See "Contention"
//!   in `RESULTS.md`.
//! - One extra task and one channel hop per message. See "Echo throughput".
//! - A queue per connection: up to `--queue-capacity` messages held for a
//!   slow member before it is dropped, so memory under a stalled consumer
//!   grows with that setting. See "Memory".
//! - A broadcast never waits for a member: a stalled member cannot slow the
//!   room. See "Slow consumer isolation".
//!
//! # Slow consumers
//! A member whose queue is full (`--queue-capacity`, default 1024 messages)
//! is disconnected: a message is never silently skipped. It gets Close 1008
//! ("slow consumer") if its socket still takes one, and leaves its room.
//!
//! # Metrics
//! Besides the shared ones, `GET /metrics` has `ws_writer_queue_depth`: how
//! many messages were queued each time a writer task woke, one observation
//! per flush. Its mean is the batching the queue buys; its upper buckets
//! show how close members come to `--queue-capacity`.
//!
//! # See also
//! [tokio's "Which kind of mutex should you use?"](https://docs.rs/tokio/latest/tokio/sync/struct.Mutex.html#which-kind-of-mutex-should-you-use),
//! which recommends this design for IO resources; `ws-tokio-mutex` and
//! `ws-std-mutex` (the sink behind a lock).
//!
//! Run it with `cargo run -p ws-mpsc-writer --release -- --help`.

use futures_util::SinkExt;
use tokio::sync::{mpsc, oneshot};
use ws_common::prelude::*;

/// Most messages written between two flushes: enough to share syscalls under
/// load, few enough that the first of them is not held back for long.
pub const BATCH: usize = 64;

/// A connection's shared write half: clones queue to the same writer task.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Command>,
    context: WriterContext,
}

/// What the writer task is asked to do.
#[derive(Debug)]
enum Command {
    Send(Message),
    Close(Option<CloseFrame>, oneshot::Sender<()>),
}

impl SharedSink for Writer {
    const NAME: &'static str = "ws-mpsc-writer";
    const STRATEGY_METRICS: StrategyMetrics = StrategyMetrics::Queue;

    fn share(sink: WsSink, context: WriterContext) -> Self {
        let (queue, commands) = mpsc::channel(context.queue_capacity());
        tokio::spawn(write_loop(sink, commands, context.clone()));
        Self { queue, context }
    }

    async fn send(&self, message: Message, _burst: Burst) -> Result<(), Disconnected> {
        if self.context.is_disconnected() {
            return Err(Disconnected);
        }
        match self.queue.try_send(Command::Send(message)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.context.disconnect(DisconnectReason::SlowConsumer);
                Err(Disconnected)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Disconnected),
        }
    }

    async fn broadcast(members: &[Self], message: Message, burst: Burst) {
        // `send` never waits, so a plain loop reaches every member at once.
        for member in members {
            let _ = member.send(message.clone(), burst).await;
        }
    }

    async fn close(&self, frame: Option<CloseFrame>) {
        let (done, closed) = oneshot::channel();
        let request = self.queue.send(Command::Close(frame, done));
        // The writer drains its queue without writing once the connection is
        // torn down, so there is room for the request shortly.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            if request.await.is_ok() {
                let _ = closed.await;
            }
        })
        .await;
    }
}

/// A close request: the frame to send, and whom to tell when it is done.
type CloseRequest = (Option<CloseFrame>, oneshot::Sender<()>);

/// The writer task: the only code that touches the sink.
async fn write_loop(
    mut sink: WsSink,
    mut commands: mpsc::Receiver<Command>,
    context: WriterContext,
) {
    let mut batch = Vec::with_capacity(BATCH);
    // Made once: registering for the cancellation on every batch would be a
    // lock per batch.
    let disconnected = context.disconnected();
    tokio::pin!(disconnected);
    let close = loop {
        if commands.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        // What was queued when the writer woke: this batch and what is behind it.
        context.metrics().queue_depth(batch.len() + commands.len());
        if context.is_disconnected() {
            // Nothing more is written, but a close request in this batch is
            // still honoured.
            break batch.drain(..).find_map(|command| match command {
                Command::Close(frame, done) => Some((frame, done)),
                Command::Send(_) => None,
            });
        }
        let written = tokio::select! {
            // The write first: when the socket takes it at once, the
            // cancellation is not even polled.
            biased;
            written = write_batch(&mut sink, &mut batch) => written,
            () = &mut disconnected => break None,
        };
        match written {
            Ok(None) => {}
            Ok(Some(close)) => break Some(close),
            Err(Disconnected) => {
                context.disconnect(DisconnectReason::WriteFailed);
                break None;
            }
        }
    };
    // Torn down: write nothing more, but wait for the close request, which
    // the connection always makes, so that the Close frame is the last thing
    // this task writes.
    let (frame, done) = match close {
        Some(close) => close,
        None => loop {
            match commands.recv().await {
                Some(Command::Close(frame, done)) => break (frame, done),
                Some(Command::Send(_)) => {}
                None => return,
            }
        },
    };
    close_sink(&mut sink, frame).await;
    let _ = done.send(());
}

/// Feeds a batch into the sink and flushes once. Stops at a close request
/// and returns it.
async fn write_batch(
    sink: &mut WsSink,
    batch: &mut Vec<Command>,
) -> Result<Option<CloseRequest>, Disconnected> {
    let mut close = None;
    for command in batch.drain(..) {
        match command {
            Command::Send(message) => sink.feed(message).await.map_err(|_| Disconnected)?,
            Command::Close(frame, done) => {
                close = Some((frame, done));
                break;
            }
        }
    }
    sink.flush().await.map_err(|_| Disconnected)?;
    Ok(close)
}

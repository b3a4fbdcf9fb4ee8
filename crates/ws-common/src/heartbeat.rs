//! The heartbeat: the third writer of every sink. It pings the connection on a
//! fixed period; the reader's idle timeout closes connections that stop
//! answering.
//!
//! A ping is sent like any other message, with `Burst::Last`: it takes its
//! turn behind what the strategy has already queued or is writing for the
//! connection, never ahead of it. Letting it overtake would make a peer whose
//! data waits behind megabytes look alive, and the bytes already in the
//! socket's buffers cannot be overtaken anyway; the idle timeout, several
//! ping intervals long, absorbs the delay (the README's "Heartbeat").

use std::time::Duration;

use axum::extract::ws::Message;
use bytes::Bytes;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::task::AbortOnDropHandle;

use crate::strategy::{Burst, SharedSink};

/// Starts pinging through `writer` every `every`, until the returned handle
/// is dropped (which aborts the task, on every path out of the connection,
/// a panic included) or a ping cannot be delivered.
pub(crate) fn spawn<S: SharedSink>(writer: S, every: Duration) -> AbortOnDropHandle<()> {
    AbortOnDropHandle::new(tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        // After a stall, one ping is enough: a burst of catch-up pings would
        // only add to the queue of a connection that is already behind.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if writer
                .send(Message::Ping(Bytes::new()), Burst::Last)
                .await
                .is_err()
            {
                break;
            }
        }
    }))
}

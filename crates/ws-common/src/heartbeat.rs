//! The heartbeat: the third writer of every sink. It pings the connection on a
//! fixed period; the reader's idle timeout closes connections that stop
//! answering.

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

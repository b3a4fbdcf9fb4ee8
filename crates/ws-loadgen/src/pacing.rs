//! Waiting for an open-loop send time with sub-millisecond resolution.
//!
//! Tokio's timer ticks in whole milliseconds and rounds a deadline up to the
//! next tick, so a connection that slept until its next intended send time
//! woke up to ~1 ms late; open-loop latency runs from the intended time, so
//! that lateness sat in every percentile as a ~1 ms floor. Now
//! [`drive`](crate::client::drive) sleeps on Tokio's timer only until
//! [`SPIN_MARGIN_NS`] before a send time ([`coarse_wake`]) and waits out the
//! last stretch by yielding to the runtime ([`spin`]): the task is polled
//! again only after every ready task has run and the I/O driver has been
//! polled, so replies keep flowing while it waits, and the message leaves
//! within one turn of the runtime of its time.
//!
//! A `timerfd` (a kernel high-resolution timer) per connection was measured
//! against this on the 2-core VM and was late by more, as waking a sleeping
//! thread costs more than a turn of the runtime: see the loadgen README,
//! "Pacing".
//!
//! A generator that spins shows ~100 % CPU by design, so in open loop its
//! CPU figure no longer says whether it kept up; the pacing error (how late
//! each message left against its intended time) does, and that is what
//! [`GeneratorReport::judge`](crate::report::GeneratorReport::judge) uses.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

/// How long before a send time the coarse timer hands over to spinning:
/// Tokio's timer fires up to one tick (1 ms) after its deadline; the other
/// half millisecond absorbs a slow wake-up on a busy machine.
pub const SPIN_MARGIN_NS: u64 = 1_500_000;

/// When the coarse timer must fire to be in time for a send at `at_ns`.
pub(crate) fn coarse_wake(at_ns: u64) -> u64 {
    at_ns.saturating_sub(SPIN_MARGIN_NS)
}

/// Within the margin of a send time: have the task polled again as soon as
/// the runtime has run every ready task and polled I/O. Always pending.
pub(crate) fn spin<T>(cx: &mut Context<'_>) -> Poll<T> {
    // A plain `wake_by_ref` would put the task straight back on the run
    // queue, and the current-thread runtime polls I/O only every 61 tasks;
    // `yield_now` defers the wake-up until after the I/O driver has been
    // polled. Its future registers the waker on the first poll, so dropping
    // it afterwards is fine.
    let _ = pin!(tokio::task::yield_now()).poll(cx);
    Poll::Pending
}

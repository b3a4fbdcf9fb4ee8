//! Waiting for an open-loop send time with sub-millisecond resolution.
//!
//! Tokio's timer ticks in whole milliseconds and rounds a deadline up to the
//! next tick, so a connection that sleeps until its next intended send time
//! wakes up to ~1 ms late; open-loop latency runs from the intended time, so
//! that lateness sat in every percentile as a ~1 ms floor. [`Pacer`] is what
//! [`drive`](crate::client::drive) waits with when the next thing it has to
//! do is send a scheduled message: it sleeps on Tokio's timer only until
//! [`SPIN_MARGIN_NS`] before the send time, then waits out the last stretch
//! by yielding to the runtime (the task is woken again only after every
//! ready task has run and the I/O driver has been polled, so replies keep
//! flowing while it waits).
//!
//! The alternative, a `timerfd` (a kernel high-resolution timer) per
//! connection, was measured against this on the 2-core VM and lost: see
//! the loadgen README, "Pacing".
//!
//! A generator that spins shows ~100 % CPU by design, so in open loop its
//! CPU figure no longer says whether it kept up; the pacing error (how late
//! each message left against its intended time) does, and that is what
//! [`GeneratorReport::judge`](crate::report::GeneratorReport::judge) uses.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

/// How long before a send time the coarse timer hands over to yielding:
/// Tokio's timer fires up to one tick (1 ms) after its deadline, plus the
/// time the thread takes to wake; the rest of the margin absorbs that wake-up
/// on a busy machine.
pub const SPIN_MARGIN_NS: u64 = 1_500_000;

/// Waits for scheduled send times; one per connection.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    fd: Option<tokio::io::unix::AsyncFd<Tfd>>,
    armed: u64,
}

#[derive(Debug)]
struct Tfd(nix::sys::timerfd::TimerFd);
impl std::os::fd::AsRawFd for Tfd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

fn use_timerfd() -> bool {
    std::env::var_os("WS_LOADGEN_PACING").is_some_and(|v| v == "timerfd")
}

impl Pacer {
    /// When the coarse timer must fire to be in time for a send at `at_ns`.
    pub fn coarse_wake(&self, at_ns: u64) -> u64 {
        if use_timerfd() {
            return 0;
        }
        at_ns.saturating_sub(SPIN_MARGIN_NS)
    }

    /// Within the margin of a send time: yield, so the task is polled again
    /// as soon as the runtime has nothing else to do. Always pending.
    pub fn poll_fine(&mut self, cx: &mut Context<'_>, at: u64, now: u64) -> Poll<()> {
        if use_timerfd() {
            use nix::sys::time::TimeSpec;
            use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
            if self.fd.is_none() {
                let Ok(t) = TimerFd::new(
                    ClockId::CLOCK_MONOTONIC,
                    TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
                ) else {
                    return Poll::Ready(());
                };
                #[allow(deprecated, reason = "experiment")]
                let Ok(a) = tokio::io::unix::AsyncFd::new(Tfd(t)) else {
                    return Poll::Ready(());
                };
                self.fd = Some(a);
            }
            let Some(fd) = &self.fd else {
                return Poll::Ready(());
            };
            if self.armed != at {
                self.armed = at;
                let d = std::time::Duration::from_nanos((at - now).max(1));
                let _ = fd.get_ref().0.set(
                    Expiration::OneShot(TimeSpec::from_duration(d)),
                    TimerSetTimeFlags::empty(),
                );
            }
            return match fd.poll_read_ready(cx) {
                Poll::Ready(Ok(mut g)) => {
                    let _ = g.get_inner().0.wait();
                    g.clear_ready();
                    self.armed = 0;
                    Poll::Ready(())
                }
                Poll::Ready(Err(_)) => Poll::Ready(()),
                Poll::Pending => Poll::Pending,
            };
        }
        // A plain `wake_by_ref` would put the task straight back on the run
        // queue, and the current-thread runtime polls I/O only every 61
        // tasks; `yield_now` defers the wake-up until after the I/O driver
        // has been polled. Its future registers on the first poll, so
        // dropping it afterwards is fine.
        let _ = pin!(tokio::task::yield_now()).as_mut().poll(cx);
        Poll::Pending
    }
}

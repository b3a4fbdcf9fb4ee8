//! Heartbeat punctuality: when the server's pings reach each connection.
//!
//! Every server pings every connection each `--ping-interval`, through the
//! same shared sink as its data. A strategy that queues pings behind data
//! (a writer queue, a lock held by a long broadcast) delivers them late, and
//! a peer that judges liveness by them (a browser, a proxy, a client-side
//! idle timeout) sees the connection go quiet. Only the client can tell: the
//! server knows when it *handed* a ping to its sink, not when it left.
//!
//! Each connection's read loop ([`client::drive`](crate::client)) stamps
//! every Ping frame when it takes it from the socket and hands the time to
//! that connection's [`PingRecorder`]. The recorder keeps the interval
//! between consecutive pings, in one [`PingTally`] per group of connections
//! (one HdrHistogram however many connections: bounded memory), and the
//! longest stretch the connection went without a ping inside the measured
//! window, the window's edges included.
//!
//! Resolution: a ping is stamped when the generator reads it, so a generator
//! busy elsewhere (or a deliberately slow reader) adds its own delay; the
//! histogram keeps 3 significant digits (0.1 %), and the server's own timer
//! ticks on Tokio's 1 ms wheel.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::stats::{LatencySummary, duration_ns, new_histogram, record_ns};

/// A connection that goes longer than this many ping intervals without a
/// ping counts as silent: one ping missing entirely, or held back by as much.
pub const SILENT_INTERVALS: f64 = 2.0;

/// What the connections of one group saw, summed.
#[derive(Debug)]
struct Tally {
    intervals: Histogram<u64>,
    connections: u64,
    pings: u64,
    without_ping: u64,
    silent: u64,
    longest_silence_ns: u64,
}

/// The pings of a group of connections (all of a run's, or a room's healthy
/// members): one interval histogram shared by every connection's
/// [`PingRecorder`], and the server's configured interval when it is known.
#[derive(Clone, Debug)]
pub struct PingTally {
    interval: Option<Duration>,
    tally: Arc<Mutex<Tally>>,
}

impl PingTally {
    /// A tally for a server pinging every `interval` (`None`: not known, so
    /// intervals are reported in µs only).
    #[must_use]
    pub fn new(interval: Option<Duration>) -> Self {
        Self {
            interval,
            tally: Arc::new(Mutex::new(Tally {
                intervals: new_histogram(),
                connections: 0,
                pings: 0,
                without_ping: 0,
                silent: 0,
                longest_silence_ns: 0,
            })),
        }
    }

    /// A recorder for one connection, measuring pings that arrive in
    /// `[from_ns, to_ns)` (the run's measured window). A ping before it is
    /// remembered, so that the first interval in the window is a whole one.
    #[must_use]
    pub fn recorder(&self, from_ns: u64, to_ns: u64) -> PingRecorder {
        PingRecorder {
            tally: Arc::clone(&self.tally),
            silent_after_ns: self
                .interval
                .map(|i| (duration_ns(i) as f64 * SILENT_INTERVALS) as u64),
            from: from_ns,
            to: to_ns,
            last: None,
            pings: 0,
            longest_silence_ns: 0,
            finished: false,
        }
    }

    /// The intervals between consecutive pings, µs, over every connection.
    #[must_use]
    pub fn histogram(&self) -> Histogram<u64> {
        self.lock().intervals.clone()
    }

    /// The summary of every finished recorder; `None` when no connection was
    /// observed in its window, or when none got a ping and the interval is
    /// not known (nothing to say then).
    #[must_use]
    pub fn report(&self) -> Option<HeartbeatReport> {
        let t = self.lock();
        if t.connections == 0 || (t.pings == 0 && self.interval.is_none()) {
            return None;
        }
        let intervals = LatencySummary::of(&t.intervals);
        let interval_us = self.interval.map(|i| duration_ns(i) / 1_000);
        let per = |us: u64, i: u64| us as f64 / i.max(1) as f64;
        let times = |us: u64| interval_us.map(|i| per(us, i));
        let intervals_x = interval_us
            .filter(|_| intervals.count > 0)
            .map(|i| Multiples {
                p50: per(intervals.p50_us, i),
                p99: per(intervals.p99_us, i),
                max: per(intervals.max_us, i),
            });
        let longest_silence_us = t.longest_silence_ns / 1_000;
        Some(HeartbeatReport {
            ping_interval_us: interval_us,
            connections: t.connections,
            pings: t.pings,
            intervals,
            intervals_x,
            longest_silence_us,
            longest_silence_x: times(longest_silence_us),
            connections_silent_over_2x: self.interval.map(|_| t.silent),
            connections_without_ping: t.without_ping,
        })
    }

    /// [`Self::report`], with the intervals' histogram pushed onto
    /// `histograms` under `tag` (for `--hdr`) when there is a report.
    pub fn report_into(
        &self,
        tag: &str,
        histograms: &mut Vec<crate::report::NamedHistogram>,
    ) -> Option<HeartbeatReport> {
        let report = self.report()?;
        histograms.push(crate::report::NamedHistogram {
            tag: tag.into(),
            histogram: self.histogram(),
        });
        Some(report)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        // A recorder never panics while holding the lock; if one did, its
        // counts are still whole numbers worth reporting.
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection's pings: fed by its read loop, summed into its
/// [`PingTally`] as they come (intervals) and when the connection's
/// observation ends ([`PingRecorder::finish`]).
#[derive(Debug)]
pub struct PingRecorder {
    tally: Arc<Mutex<Tally>>,
    silent_after_ns: Option<u64>,
    from: u64,
    to: u64,
    last: Option<u64>,
    pings: u64,
    longest_silence_ns: u64,
    finished: bool,
}

impl PingRecorder {
    /// A Ping frame was read at `now_ns`.
    pub fn ping(&mut self, now_ns: u64) {
        if self.finished || now_ns >= self.to {
            return;
        }
        if now_ns < self.from {
            self.last = Some(now_ns);
            return;
        }
        let since = match self.last {
            Some(prev) => {
                let mut t = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
                record_ns(&mut t.intervals, now_ns.saturating_sub(prev));
                t.pings += 1;
                prev
            }
            None => {
                self.tally
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pings += 1;
                self.from
            }
        };
        self.longest_silence_ns = self.longest_silence_ns.max(now_ns.saturating_sub(since));
        self.last = Some(now_ns);
        self.pings += 1;
    }

    /// The connection stopped being read at `now_ns` (the run's end, or the
    /// server closed it): the stretch since its last ping counts, up to the
    /// window's end, and the connection is added to the tally. Only the
    /// first call counts; a connection that ended before the window is not
    /// counted at all.
    pub fn finish(&mut self, now_ns: u64) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let end = now_ns.min(self.to);
        if end <= self.from {
            return;
        }
        let since = self.last.map_or(self.from, |l| l.max(self.from));
        self.longest_silence_ns = self.longest_silence_ns.max(end.saturating_sub(since));
        let mut t = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        t.connections += 1;
        if self.pings == 0 {
            t.without_ping += 1;
        }
        if self
            .silent_after_ns
            .is_some_and(|limit| self.longest_silence_ns > limit)
        {
            t.silent += 1;
        }
        t.longest_silence_ns = t.longest_silence_ns.max(self.longest_silence_ns);
    }
}

/// p50, p99 and max of the ping intervals, as multiples of the server's interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Multiples {
    /// Median interval / ping interval (1.0 = on time).
    pub p50: f64,
    /// 99th percentile / ping interval.
    pub p99: f64,
    /// Longest interval / ping interval.
    pub max: f64,
}

/// Heartbeat punctuality of a group of connections (JSON `heartbeat`);
/// `Deserialize` for `ws-report`, which reads it back with this very type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatReport {
    /// The server's ping interval as given with `--ping-interval`, µs
    /// (`null`: not given, so no multiples).
    pub ping_interval_us: Option<u64>,
    /// Connections read during the measured window.
    pub connections: u64,
    /// Pings they received in it.
    pub pings: u64,
    /// Time between two consecutive pings of one connection, µs, over all
    /// connections (the first interval may start before the window).
    pub intervals: LatencySummary,
    /// The intervals' p50, p99 and max as multiples of the ping interval.
    pub intervals_x: Option<Multiples>,
    /// The longest any connection went without a ping in the window, µs:
    /// between two pings, or from the window's start to the first, or from
    /// the last to the window's end (or the connection's).
    pub longest_silence_us: u64,
    /// The same as a multiple of the ping interval.
    pub longest_silence_x: Option<f64>,
    /// Connections that went over [`SILENT_INTERVALS`] × the ping interval
    /// without a ping (needs the interval).
    pub connections_silent_over_2x: Option<u64>,
    /// Connections that received no ping at all in the window.
    pub connections_without_ping: u64,
}

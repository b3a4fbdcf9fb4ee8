//! The statistics every scenario shares: the run clock, the open-loop
//! schedule, per-sender sequence tracking and latency histograms.
//!
//! These are plain data structures with no I/O, so they are unit-tested
//! directly (see `tests/stats.rs`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency a histogram records, in microseconds (one hour).
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// The run-local epoch: all payload timestamps are nanoseconds since it.
///
/// One clock per process, shared by every connection, so a send timestamp
/// written by one connection can be compared with the receive time on another.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose epoch is now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the epoch.
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `ns` nanoseconds after the epoch.
    #[must_use]
    pub fn instant_at(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Saturating conversion of a duration to nanoseconds.
#[must_use]
pub fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// An open-loop send schedule: message `k` is due at `start + k * interval`.
///
/// The intended time, not the actual send time, goes into the payload. A
/// sender that falls behind (because the server pushed back, or because the
/// generator itself is slow) sends the overdue messages in a burst, and their
/// latency includes the time they waited: this is the coordinated-omission
/// correction of wrk2. The lag between intended and actual send is recorded
/// separately so the report can say how far behind the generator fell.
#[derive(Clone, Debug)]
pub struct Schedule {
    start_ns: u64,
    interval_ns: u64,
    next: u64,
    end_ns: u64,
}

impl Schedule {
    /// A schedule of one message every `interval_ns`, from `start_ns` until (excluding) `end_ns`.
    #[must_use]
    pub fn new(start_ns: u64, interval_ns: u64, end_ns: u64) -> Self {
        Self {
            start_ns,
            interval_ns: interval_ns.max(1),
            next: 0,
            end_ns,
        }
    }

    /// A schedule for `rate` messages per second.
    #[must_use]
    pub fn with_rate(start_ns: u64, rate: f64, end_ns: u64) -> Self {
        let interval = if rate > 0.0 {
            (1e9 / rate).round() as u64
        } else {
            u64::MAX
        };
        Self::new(start_ns, interval, end_ns)
    }

    /// Intended time of the next message, or `None` once the schedule is over.
    #[must_use]
    pub fn next_due_ns(&self) -> Option<u64> {
        let t = self
            .start_ns
            .saturating_add(self.next.saturating_mul(self.interval_ns));
        (t < self.end_ns).then_some(t)
    }

    /// If the next message is due at `now_ns`, take it and return its intended time.
    pub fn take_due(&mut self, now_ns: u64) -> Option<u64> {
        let t = self.next_due_ns()?;
        if t <= now_ns {
            self.next += 1;
            Some(t)
        } else {
            None
        }
    }

    /// How many messages were scheduled up to `now_ns` (capped at the end of the schedule).
    #[must_use]
    pub fn scheduled_by(&self, now_ns: u64) -> u64 {
        let t = now_ns.min(self.end_ns.saturating_sub(1));
        if t < self.start_ns {
            0
        } else {
            (t - self.start_ns) / self.interval_ns + 1
        }
    }

    /// How many messages have been taken.
    #[must_use]
    pub fn taken(&self) -> u64 {
        self.next
    }

    /// Drops the messages due by `now_ns` without taking them (a sender
    /// that gave up on them): the next is the first due after `now_ns`.
    pub fn skip_due(&mut self, now_ns: u64) {
        self.next = self.next.max(self.scheduled_by(now_ns));
    }
}

/// What one observed sequence number meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqEvent {
    /// The expected next number.
    InOrder,
    /// Later than expected: this many numbers were skipped (missing for now).
    Gap(u64),
    /// A number that was missing arrived late: counted as reordered.
    Late,
    /// A number already received.
    Duplicate,
}

/// Tracks one sender's sequence numbers as seen by one receiver.
///
/// Skipped numbers are kept as ranges, so a frozen sender that skips millions
/// costs one map entry. A skipped number that arrives later is *reordered*,
/// not lost; one that never arrives is *lost*; one that arrives twice is
/// *duplicated*. Messages sent but never seen after the highest received one
/// (the tail) are counted as lost by [`SeqTracker::lost`], given how many the
/// sender sent.
#[derive(Clone, Debug, Default)]
pub struct SeqTracker {
    next: u64,
    missing: BTreeMap<u64, u64>,
    missing_count: u64,
    received: u64,
    duplicated: u64,
    reordered: u64,
}

impl SeqTracker {
    /// A tracker expecting sequence number 0 first.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Record sequence number `seq`.
    pub fn observe(&mut self, seq: u64) -> SeqEvent {
        if seq == self.next {
            self.next += 1;
            self.received += 1;
            SeqEvent::InOrder
        } else if seq > self.next {
            let skipped = seq - self.next;
            self.missing.insert(self.next, seq);
            self.missing_count += skipped;
            self.next = seq + 1;
            self.received += 1;
            SeqEvent::Gap(skipped)
        } else if self.take_missing(seq) {
            self.received += 1;
            self.reordered += 1;
            SeqEvent::Late
        } else {
            self.duplicated += 1;
            SeqEvent::Duplicate
        }
    }

    /// Declare everything below `seq` that has not arrived as missing (used
    /// when a closed-loop connection gives up waiting, so it can go on).
    pub fn skip_to(&mut self, seq: u64) {
        if seq > self.next {
            self.missing.insert(self.next, seq);
            self.missing_count += seq - self.next;
            self.next = seq;
        }
    }

    fn take_missing(&mut self, seq: u64) -> bool {
        let Some((&start, &end)) = self.missing.range(..=seq).next_back() else {
            return false;
        };
        if seq >= end {
            return false;
        }
        self.missing.remove(&start);
        if start < seq {
            self.missing.insert(start, seq);
        }
        if seq + 1 < end {
            self.missing.insert(seq + 1, end);
        }
        self.missing_count -= 1;
        true
    }

    /// One past the highest sequence number seen.
    #[must_use]
    pub fn next_expected(&self) -> u64 {
        self.next
    }

    /// Distinct messages received.
    #[must_use]
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Messages received more than once (extra copies).
    #[must_use]
    pub fn duplicated(&self) -> u64 {
        self.duplicated
    }

    /// Messages that arrived after a later one.
    #[must_use]
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// Numbers skipped below the highest one seen and still missing.
    #[must_use]
    pub fn missing_interior(&self) -> u64 {
        self.missing_count
    }

    /// Lost messages, given that the sender sent `sent` of them (numbers `0..sent`).
    #[must_use]
    pub fn lost(&self, sent: u64) -> u64 {
        self.missing_count + sent.saturating_sub(self.next)
    }
}

/// The integrity counters, at the top level of every scenario's JSON result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrity {
    /// Messages sent that never arrived at a receiver that should have had them
    /// (counted once per receiver).
    pub lost: u64,
    /// Extra copies of messages already received.
    pub duplicated: u64,
    /// Messages that arrived after a later message of the same sender.
    pub reordered: u64,
    /// Messages whose header, length, body or type did not verify.
    pub corrupted: u64,
    /// Close codes of closes the *server* started (our own closes at the end are not counted).
    pub close_codes: BTreeMap<u16, u64>,
    /// Connections that ended without a close frame (reset, EOF) before the run ended.
    pub dropped_connections: u64,
}

impl Integrity {
    /// Add another set of counters.
    pub fn add(&mut self, other: &Self) {
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.corrupted += other.corrupted;
        self.dropped_connections += other.dropped_connections;
        for (code, n) in &other.close_codes {
            *self.close_codes.entry(*code).or_default() += n;
        }
    }

    /// True when messages were lost, duplicated, reordered or corrupted.
    #[must_use]
    pub fn has_failures(&self) -> bool {
        self.lost + self.duplicated + self.reordered + self.corrupted > 0
    }
}

/// A latency histogram in microseconds, 1 µs to one hour, 3 significant digits.
#[must_use]
pub fn new_histogram() -> Histogram<u64> {
    // Only invalid bounds make this fail, and these are constants hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// A latency histogram in microseconds, 3 significant digits, that grows to
/// the largest value it records instead of covering an hour up front: one
/// per connection, for the figures merged into a [`new_histogram`] at the
/// end. A fixed one zeroes counts for the whole hour at creation (the test
/// `a_growing_histogram_stays_small` compares them); in a room of thousands
/// of members, each with a latency and a send-lag histogram, that zeroing
/// took most of the generator's core and put it behind its schedule.
#[must_use]
pub fn new_growing_histogram() -> Histogram<u64> {
    // Only invalid bounds make this fail, and these are constants hdrhistogram accepts.
    let mut h = Histogram::new_with_bounds(1, 2, 3).expect("constant histogram bounds are valid");
    h.auto(true);
    h
}

/// Record a latency in nanoseconds into a microsecond histogram (clamped to 1 µs .. 1 h).
pub fn record_ns(h: &mut Histogram<u64>, ns: u64) {
    record_us(h, clamped_us(ns));
}

/// A latency in nanoseconds as the histograms hold it: µs, 1 µs .. 1 h.
fn clamped_us(ns: u64) -> u64 {
    (ns / 1_000).clamp(1, MAX_LATENCY_US)
}

/// Raw values a [`Latencies`] keeps before it moves them into a histogram.
const RAW_LATENCIES: usize = 4096;

/// One connection's latencies, for merging into a run's histogram at the end.
///
/// The first [`RAW_LATENCIES`] are kept as they are (32 KiB at most), and
/// only then moved into a [`new_growing_histogram`]. A growing histogram
/// that has seen a latency of seconds holds some 100 KiB of counts: in a
/// room of 15,000 members, where each delivery may take seconds but each
/// member receives only a few dozen, allocating and zeroing those counts
/// took 45 % of the generator's core (measured with `perf`) and put its
/// sender seconds behind schedule.
#[derive(Debug, Clone)]
pub enum Latencies {
    /// Fewer than [`RAW_LATENCIES`] values, in µs.
    Raw(Vec<u64>),
    /// Every value since the raw ones ran out.
    Histogram(Histogram<u64>),
}

impl Default for Latencies {
    fn default() -> Self {
        Self::Raw(Vec::new())
    }
}

impl Latencies {
    /// Record a latency in nanoseconds, as [`record_ns`] does.
    pub fn record_ns(&mut self, ns: u64) {
        match self {
            Self::Raw(values) if values.len() < RAW_LATENCIES => {
                values.push(clamped_us(ns));
            }
            Self::Raw(values) => {
                let mut h = new_growing_histogram();
                for &us in values.iter() {
                    record_us(&mut h, us);
                }
                record_ns(&mut h, ns);
                *self = Self::Histogram(h);
            }
            Self::Histogram(h) => record_ns(h, ns),
        }
    }

    /// Values recorded.
    #[must_use]
    pub fn len(&self) -> u64 {
        match self {
            Self::Raw(values) => values.len() as u64,
            Self::Histogram(h) => h.len(),
        }
    }

    /// Whether nothing was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add every value into `dst`.
    ///
    /// # Errors
    /// As [`merge_into`].
    pub fn merge_into(&self, dst: &mut Histogram<u64>) -> Result<(), crate::LoadgenError> {
        match self {
            Self::Raw(values) => {
                for &us in values {
                    record_us(dst, us);
                }
                Ok(())
            }
            Self::Histogram(h) => merge_into(dst, h),
        }
    }
}

/// Record a latency already in µs and clamped, as [`record_ns`] does.
fn record_us(h: &mut Histogram<u64>, us: u64) {
    // `record` lets a growing histogram grow (`saturating_record` would pin
    // the value to its current top); a fixed one covers the clamped range.
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

/// Percentiles of a latency distribution, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of values.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p99_9_us: u64,
    /// 99.99th percentile.
    pub p99_99_us: u64,
    /// Maximum.
    pub max_us: u64,
}

impl LatencySummary {
    /// Summarize a microsecond histogram (all zero when empty).
    #[must_use]
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p99_9_us: h.value_at_quantile(0.999),
            p99_99_us: h.value_at_quantile(0.9999),
            max_us: h.max(),
        }
    }
}

/// Add `src` into `dst`; both come from [`new_histogram`], so this cannot fail
/// in practice, but a failure is reported rather than ignored.
pub(crate) fn merge_into(
    dst: &mut Histogram<u64>,
    src: &Histogram<u64>,
) -> Result<(), crate::LoadgenError> {
    dst.add(src)
        .map_err(|e| crate::LoadgenError::Histogram(format!("{e:?}")))
}

//! Time slicing: one closed-loop echo run that measures several servers by
//! turns, so that their ratios are taken within the same seconds.
//!
//! On a shared VM the host's speed drifts in episodes of several seconds:
//! the same server measured in back-to-back runs of a few seconds moves by
//! ±9 %, more than some strategies differ, so a ratio between two servers
//! measured in separate runs is mostly the drift between those runs. Cutting
//! one run into short slices and giving the slices to the targets in turn
//! (slice `j` drives target `j mod K`, the others' connections idle) spreads
//! every episode over all of them alike, and a ratio between two targets of
//! one run is left with what the servers do.
//!
//! Two things would favour one target over another, and the turn order
//! takes them out:
//!
//! - **The previous target's tail.** When a turn ends, the messages still
//!   in flight (64 connections × 64 in flight = 4,096: 2 ms for a fast
//!   server, 20–30 ms for one that flushes every message) are still being
//!   echoed; if the next target's turn began at once, its server would share
//!   the core with that tail and lose time by its predecessor's slowness.
//!   So each turn ends with a *gap* in which its target sends nothing and
//!   its last replies come in, and the next turn begins on a quiet core.
//!   Replies that still arrive after their turn are counted
//!   (`replies_after_turn`): a gap too short for the slowest server says so.
//! - **The pipeline fill.** A turn starts with every connection sending its
//!   whole window at once; counting every echo sent in a turn over the
//!   turn's length would credit each target with one window per turn on
//!   top of its rate, a larger share for a slower server. So a target's
//!   throughput counts the replies that *arrive* while it may send, over the
//!   time it may send: its rate, whatever the fill.
//!
//! The generator's CPU is judged (`generator.cpu_utilization`,
//! `bottleneck`) over the time some target may send, the gaps left out: it
//! is busy whenever it can send, which its average over the gaps would hide.
//! The server's CPU is read over the whole measured window (a server idles
//! outside its turns), so "echoes per server core-second" divides every echo
//! sent in the window, tails included, by all the CPU they cost.

use std::time::Duration;

use crate::LoadgenError;
use crate::stats::duration_ns;

/// Shortest slice accepted: below this the hand-overs and Tokio's
/// millisecond timer are a large part of every slice.
pub const MIN_SLICE: Duration = Duration::from_millis(10);

/// The turn order of a sliced run, in ns since the run's clock epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slicing {
    /// When slice 0 begins (the run's start, warm-up included).
    start: u64,
    /// Length of one turn, its gap included.
    slice: u64,
    /// The end of each turn in which its target sends nothing.
    gap: u64,
    /// Number of targets taking turns.
    targets: u64,
}

impl Slicing {
    pub fn new(start: u64, slice: Duration, gap: Duration, targets: usize) -> Self {
        let slice = duration_ns(slice).max(1);
        Self {
            start,
            slice,
            gap: duration_ns(gap).min(slice - 1),
            targets: (targets as u64).max(1),
        }
    }

    fn round(&self) -> u64 {
        self.slice * self.targets
    }

    /// Whether `now` falls in target `position`'s turn, gap included.
    pub fn in_turn(&self, position: usize, now: u64) -> bool {
        now >= self.start && ((now - self.start) / self.slice) % self.targets == position as u64
    }

    /// Whether target `position` may send at `now`: its turn, before the gap.
    pub fn sending(&self, position: usize, now: u64) -> bool {
        self.in_turn(position, now) && (now - self.start) % self.slice < self.slice - self.gap
    }

    /// When target `position` may next send: `now` if it may now, else the
    /// start of its next turn.
    pub fn next_sending(&self, position: usize, now: u64) -> u64 {
        if self.sending(position, now) {
            return now;
        }
        let offset = self.slice * position as u64;
        if now < self.start {
            return self.start + offset;
        }
        let since = now - self.start;
        let turn = since - since % self.round() + offset;
        self.start
            + if since < turn {
                turn
            } else {
                turn + self.round()
            }
    }

    /// How long target `position` may send within `[from, to)`.
    pub fn sending_ns(&self, position: usize, from: u64, to: u64) -> u64 {
        let mut total = 0;
        let mut at = self.next_sending(position, from);
        // `at` is either `from` mid-turn or a turn's start.
        let mut turn_start = at - (at - self.start) % self.slice;
        // Bounded: one step per round between `from` and `to`.
        while at < to {
            let end = (turn_start + self.slice - self.gap).min(to);
            total += end.saturating_sub(at);
            turn_start += self.round();
            at = turn_start;
        }
        total
    }
}

/// Check a sliced run's timing: every target must get a whole warm-up turn
/// and the same share of the measured window.
///
/// # Errors
/// [`LoadgenError::Config`] naming the first problem.
pub fn validate(
    targets: usize,
    slice: Duration,
    gap: Duration,
    warmup: Duration,
    duration: Duration,
) -> Result<(), LoadgenError> {
    if gap * 2 > slice {
        return Err(LoadgenError::Config(
            "--slice-gap must be at most half of --slice".into(),
        ));
    }
    if slice < MIN_SLICE {
        return Err(LoadgenError::Config(format!(
            "--slice must be at least {}",
            humantime::format_duration(MIN_SLICE)
        )));
    }
    let round = slice * u32::try_from(targets).unwrap_or(u32::MAX);
    if warmup < round {
        return Err(LoadgenError::Config(format!(
            "--warmup must be at least one round of slices ({targets} × {} = {}) so that every target warms up",
            humantime::format_duration(slice),
            humantime::format_duration(round)
        )));
    }
    if !duration.as_nanos().is_multiple_of(round.as_nanos()) {
        return Err(LoadgenError::Config(format!(
            "--duration must be a whole number of rounds of slices ({targets} × {} = {}) so that every target gets the same share",
            humantime::format_duration(slice),
            humantime::format_duration(round)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn targets_take_turns_in_order_and_stop_sending_for_the_gap() {
        let s = Slicing::new(1000, ms(10), ms(2), 3);
        assert!(!s.sending(0, 999), "nobody sends before the start");
        assert!(s.sending(0, 1000));
        assert!(s.sending(0, 1000 + 7 * MS));
        assert!(!s.sending(0, 1000 + 8 * MS), "the gap");
        assert!(s.in_turn(0, 1000 + 8 * MS), "the gap is still its turn");
        assert!(s.sending(1, 1000 + 10 * MS));
        assert!(!s.sending(0, 1000 + 10 * MS));
        assert!(s.sending(2, 1000 + 27 * MS));
        assert!(
            s.sending(0, 1000 + 30 * MS),
            "round two starts with target 0"
        );
    }

    #[test]
    fn the_next_sending_time_is_now_or_the_next_turn() {
        let s = Slicing::new(0, ms(10), ms(2), 3);
        assert_eq!(s.next_sending(1, 0), 10 * MS);
        assert_eq!(s.next_sending(1, 15 * MS), 15 * MS, "in its turn: now");
        assert_eq!(
            s.next_sending(1, 19 * MS),
            40 * MS,
            "in its gap: the next round"
        );
        assert_eq!(s.next_sending(1, 20 * MS), 40 * MS);
        assert_eq!(s.next_sending(0, 10 * MS), 30 * MS);
    }

    #[test]
    fn every_target_may_send_for_the_same_time_in_whole_rounds() {
        let s = Slicing::new(0, ms(10), ms(2), 4);
        // Five rounds, starting mid-turn.
        let (from, to) = (7 * MS, 7 * MS + 200 * MS);
        for p in 0..4 {
            assert_eq!(s.sending_ns(p, from, to), 40 * MS, "target {p}");
        }
        assert_eq!(
            s.sending_ns(2, 0, 25 * MS),
            5 * MS,
            "a partial turn counts its part"
        );
        assert_eq!(s.sending_ns(0, 5 * MS, 45 * MS), 3 * MS + 5 * MS);
    }

    #[test]
    fn timing_that_would_favour_a_target_is_refused() {
        let (slice, gap) = (ms(200), ms(40));
        let ok = validate(
            10,
            slice,
            gap,
            Duration::from_secs(2),
            Duration::from_secs(20),
        );
        assert!(ok.is_ok(), "{ok:?}");
        let short_warmup = validate(
            10,
            slice,
            gap,
            Duration::from_secs(1),
            Duration::from_secs(20),
        );
        assert!(short_warmup.is_err());
        let uneven = validate(
            10,
            slice,
            gap,
            Duration::from_secs(2),
            Duration::from_secs(3),
        );
        assert!(uneven.is_err());
        let wide_gap = validate(
            10,
            slice,
            ms(150),
            Duration::from_secs(2),
            Duration::from_secs(20),
        );
        assert!(wide_gap.is_err());
        let tiny = validate(
            2,
            ms(1),
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert!(tiny.is_err());
    }
}

//! The sending half of a connection's driver, the same for an echo
//! connection and a room member: when the next message is due (a closed-loop
//! window or an open-loop schedule), its intended send time, and the rule
//! that gives up on a window nobody answers.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::stats::{Clock, Schedule, SeqTracker, duration_ns, record_ns};

/// Phase boundaries of a run, in ns since the clock's epoch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Phases {
    pub start: u64,
    pub warmup_end: u64,
    pub end: u64,
    pub deadline: u64,
}

impl Phases {
    /// The phases of a run starting now.
    pub fn starting_now(
        clock: &Clock,
        warmup: Duration,
        duration: Duration,
        drain: Duration,
    ) -> Self {
        let start = clock.now_ns();
        let warmup_end = start + duration_ns(warmup);
        let end = warmup_end + duration_ns(duration);
        Self {
            start,
            warmup_end,
            end,
            deadline: end + duration_ns(drain),
        }
    }

    /// Whether a message meant for time `t` counts in the measured window.
    pub fn measured(&self, t: u64) -> bool {
        t >= self.warmup_end && t < self.end
    }
}

/// How a connection sends.
pub(crate) enum SendMode {
    /// It does not (a room member that only listens).
    Silent,
    /// At most `window` of its own messages unanswered.
    Closed { window: u64 },
    /// On a fixed schedule, late or not.
    Open { schedule: Schedule },
}

impl SendMode {
    /// The mode of sender number `sender_rank` out of `senders`: open loop
    /// at an even share of the total `rate`, staggered so that the total is
    /// smooth rather than bursts of `senders`; closed loop with `inflight`
    /// messages outstanding without a rate.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    pub fn for_sender(
        rate: Option<f64>,
        inflight: usize,
        sender_rank: usize,
        senders: usize,
        p: &Phases,
    ) -> Self {
        match rate {
            Some(rate) => {
                let offset = (sender_rank as f64 / rate * 1e9) as u64;
                Self::Open {
                    schedule: Schedule::with_rate(p.start + offset, rate / senders as f64, p.end),
                }
            }
            None => Self::Closed {
                window: inflight as u64,
            },
        }
    }
}

/// A connection's sending state.
pub(crate) struct Sender {
    pub mode: SendMode,
    /// Messages taken so far, which is the next one's sequence number.
    pub next_seq: u64,
    /// Messages taken whose intended send time is in the measured window.
    pub sent_measured: u64,
    /// Open loop: how late each message was taken against its schedule.
    pub lag: Histogram<u64>,
    /// When one of its own messages last came back (or the window was given up).
    last_progress: u64,
    response_timeout: u64,
}

impl Sender {
    pub fn new(mode: SendMode, phases: &Phases, response_timeout: Duration) -> Self {
        Self {
            mode,
            next_seq: 0,
            sent_measured: 0,
            lag: crate::stats::new_growing_histogram(),
            last_progress: phases.start,
            response_timeout: duration_ns(response_timeout),
        }
    }

    /// One of its own messages came back: the window is moving.
    pub fn progressed(&mut self, now: u64) {
        self.last_progress = now;
    }

    /// Takes the next message if one is due at `now`: its sequence number
    /// and intended send time. `acked` tracks its own messages coming back;
    /// closed loop needs it (and sends nothing without it) and sends within
    /// the phases' start and end only. A whole window unanswered for the
    /// response timeout is declared missing in `acked`, so that one dropped
    /// message does not stop the connection for the rest of the run.
    pub fn take(
        &mut self,
        now: u64,
        phases: &Phases,
        acked: Option<&mut SeqTracker>,
    ) -> Option<(u64, u64)> {
        let sent_ns = match &mut self.mode {
            SendMode::Silent => return None,
            SendMode::Closed { window } => {
                if now >= phases.end || now < phases.start {
                    return None;
                }
                let acked = acked?;
                if self.next_seq - acked.next_expected() >= *window {
                    if now.saturating_sub(self.last_progress) < self.response_timeout {
                        return None;
                    }
                    acked.skip_to(self.next_seq);
                    self.last_progress = now;
                }
                now
            }
            SendMode::Open { schedule } => {
                let t = schedule.take_due(now)?;
                record_ns(&mut self.lag, now.saturating_sub(t));
                t
            }
        };
        if phases.measured(sent_ns) {
            self.sent_measured += 1;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        Some((seq, sent_ns))
    }

    /// Before the end, when to call [`Sender::take`] again if nothing
    /// arrives: the next scheduled message, the response timeout of a full
    /// window, or else the end.
    pub fn wake_at(&self, phases: &Phases, acked: Option<&SeqTracker>) -> Option<u64> {
        match &self.mode {
            SendMode::Silent => Some(phases.end),
            SendMode::Closed { window } => {
                if self.next_seq - acked?.next_expected() >= *window {
                    Some((self.last_progress + self.response_timeout).min(phases.end))
                } else {
                    Some(phases.end)
                }
            }
            SendMode::Open { schedule } => Some(schedule.next_due_ns().unwrap_or(phases.end)),
        }
    }

    /// Whether [`Sender::wake_at`] is a scheduled send time (open loop).
    pub fn paced(&self) -> bool {
        matches!(self.mode, SendMode::Open { .. })
    }

    /// Whether a schedule still has a message to take: one due just before
    /// the end may be untaken when the timer fires late.
    pub fn schedule_pending(&self) -> bool {
        matches!(&self.mode, SendMode::Open { schedule } if schedule.next_due_ns().is_some())
    }

    /// Messages the schedule had due by `end`; 0 without a schedule.
    pub fn scheduled_by(&self, end: u64) -> u64 {
        match &self.mode {
            SendMode::Open { schedule } => schedule.scheduled_by(end),
            _ => 0,
        }
    }
}

//! One target's counters summed over its connections, and the report
//! they make: the same for a run alone and for each target of a sliced run.

use hdrhistogram::Histogram;

use super::{Config, ConnResult, Report, SliceInfo};
use crate::LoadgenError;
use crate::common;
use crate::heartbeat::PingTally;
use crate::procmon::ServerReport;
use crate::report::{
    GeneratorReport, LatencyReport, NamedHistogram, RunOutcome, ScheduleKept, WithHeartbeat,
};
use crate::stats::{Integrity, duration_ns, merge_into, new_histogram};

/// One target's counters, summed over its connections.
pub(super) struct Tally {
    integrity: Integrity,
    errors: Vec<String>,
    latency: Histogram<u64>,
    lag: Histogram<u64>,
    sent: u64,
    received: u64,
    scheduled: u64,
    sent_total: u64,
    worst: f64,
    pub(super) received_while_sending: u64,
    pub(super) replies_after_turn: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            integrity: Integrity::default(),
            errors: Vec::new(),
            latency: new_histogram(),
            lag: new_histogram(),
            sent: 0,
            received: 0,
            scheduled: 0,
            sent_total: 0,
            worst: 1.0,
            received_while_sending: 0,
            replies_after_turn: 0,
        }
    }
}

impl Tally {
    pub(super) fn add(&mut self, r: &ConnResult) -> Result<(), LoadgenError> {
        common::push_error(
            &mut self.errors,
            common::tally_end(&r.end, &mut self.integrity),
        );
        let c = &r.conn;
        let s = &c.sender;
        self.integrity.lost += c.tracker.lost(s.next_seq);
        self.integrity.duplicated += c.tracker.duplicated();
        self.integrity.reordered += c.tracker.reordered();
        self.integrity.corrupted += c.corrupted;
        self.sent += s.sent_measured;
        self.received += c.received_measured;
        self.sent_total += s.next_seq;
        self.received_while_sending += c.received_while_sending;
        self.replies_after_turn += c.replies_after_turn;
        if s.sent_measured > 0 {
            self.worst = self
                .worst
                .min(c.received_measured as f64 / s.sent_measured as f64);
        }
        merge_into(&mut self.latency, &c.latency)?;
        merge_into(&mut self.lag, &s.lag)?;
        self.scheduled += s.scheduled_by(c.phases.end);
        Ok(())
    }

    /// The report of a target: over the whole measured window, or in a
    /// sliced run over the time it could send (see [`SliceInfo`]).
    pub(super) fn report(
        self,
        config: Config,
        pings: PingTally,
        server: Option<ServerReport>,
        cpu_used: (Option<f64>, f64),
        slicing: Option<SliceInfo>,
    ) -> Result<WithHeartbeat<Report>, LoadgenError> {
        let undelivered = self.sent.saturating_sub(self.received);
        let (latency_report, with_undelivered) = LatencyReport::build(
            &self.latency,
            undelivered,
            duration_ns(config.load.drain_timeout),
        );
        let generator = GeneratorReport::judge(
            cpu_used,
            config.load.rate.map(|_| ScheduleKept {
                scheduled: self.scheduled,
                sent: self.sent_total,
                lag: &self.lag,
                latency_p50_us: latency_report.delivered.p50_us,
            }),
        );
        let mut histograms = Vec::from(NamedHistogram::latency_pair(
            "",
            self.latency,
            with_undelivered,
        ));
        if config.load.rate.is_some() {
            histograms.push(NamedHistogram::new("schedule_lag", self.lag));
        }
        let heartbeat = pings.report_into("heartbeat_intervals", &mut histograms);
        let (duration_s, counted) = match &slicing {
            Some(s) => (s.sending_s, s.received_while_sending),
            None => (config.load.duration.as_secs_f64(), self.received),
        };
        let counted = counted as f64;
        let report = Report {
            scenario: "echo",
            integrity: self.integrity,
            mode: config.load.mode(),
            duration_s,
            sent: self.sent,
            received: self.received,
            throughput_msgs_per_s: counted / duration_s,
            throughput_bytes_per_s: (counted * config.load.size as f64) / duration_s,
            latency: latency_report,
            delivered_fraction_worst: self.worst,
            outcome: RunOutcome {
                generator,
                server,
                errors: Some(self.errors),
                histograms,
            },
            slicing,
            config,
        };
        Ok(WithHeartbeat::new(report, heartbeat))
    }
}

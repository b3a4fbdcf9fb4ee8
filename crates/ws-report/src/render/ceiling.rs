//! "The generator's own ceiling": `ws-loadgen echo` against the echo
//! reference at growing load, so a reader can see which of the other
//! tables' figures could be the instrument's rather than the servers'.

use super::data::Run;
use super::scenarios::failed;
use super::table::{Align, Table};
use super::{Ctx, format, intro};
use crate::loadgen::EchoResult;

/// A generator below this share of its core is not near its limit.
const BUSY: f64 = 0.9;

/// The load of a run, in words: `1 in flight`, `150,000/s offered`.
fn load(r: &EchoResult) -> String {
    match (r.config.rate, r.config.inflight) {
        (Some(rate), _) => format!("{} offered (open loop)", format::rate(rate)),
        (None, Some(k)) => format!("{k} in flight per connection"),
        (None, None) => "closed loop".into(),
    }
}

/// Who limited the run: the generator says so itself; a server near one
/// core is the other candidate; both can be.
fn limit(r: &EchoResult) -> String {
    let server_busy = r.server.as_ref().is_some_and(|s| s.cpu_cores_used >= BUSY);
    let generator = r.generator.bottleneck_reasons.join("; ");
    match (r.generator.bottleneck, server_busy) {
        (true, true) => format!("both ({generator}; server near one core)"),
        (true, false) => format!("generator ({generator})"),
        (false, true) => "server (near one core)".into(),
        (false, false) => "neither".into(),
    }
}

/// Echoes per second of generator CPU: what one generator core would do if
/// nothing else limited it.
pub fn per_generator_core(r: &EchoResult) -> Option<f64> {
    r.generator
        .cpu_utilization
        .filter(|&u| u > 0.0)
        .map(|u| r.throughput_msgs_per_s / u)
}

/// The section; empty when the results have no ceiling runs.
pub fn section(ctx: &Ctx<'_>) -> String {
    let runs: &[Run<EchoResult>] = &ctx.data.ceiling;
    if runs.is_empty() {
        return String::new();
    }
    let mut out = String::from("### The generator's own ceiling\n\n");
    out.push_str(
        "`ws-loadgen echo` against `ws-ref-unsplit` (one task owns each whole socket: no split, no lock, no \
         channel), pinned like every other run: the server on core 0, the generator on core 1. *Echoes per \
         generator core* is echoes per second divided by the share of its core the generator used: what it \
         would drive if nothing else limited it. A figure elsewhere in this report that comes near the \
         generator's figure for the same load may describe the generator, not the server; those runs are \
         also marked *generator limited* where the tables have that column.\n\n",
    );
    let mut t = Table::new(&[
        ("Load", Align::Left),
        ("Size", Align::Right),
        ("Body checked", Align::Left),
        ("Echoes/s", Align::Right),
        ("p50", Align::Right),
        ("p99", Align::Right),
        ("Generator CPU", Align::Right),
        ("Server CPU (cores)", Align::Right),
        ("Echoes per generator core", Align::Right),
        ("Limit", Align::Left),
    ]);
    for run in runs {
        let Some(r) = &run.result else {
            t.row(vec![run.record.case.clone(), failed(run)]);
            continue;
        };
        let l = &r.latency.with_undelivered;
        t.row(vec![
            load(r),
            format::bytes(r.config.size as f64),
            match r.config.verify {
                Some(false) => "no (header only)".into(),
                _ => "yes".into(),
            },
            format::rate(r.throughput_msgs_per_s),
            format::micros(l.p50_us),
            format::micros(l.p99_us),
            r.generator
                .cpu_utilization
                .map_or_else(|| "–".into(), format::percent),
            r.server
                .as_ref()
                .map_or_else(|| "–".into(), |s| format::cores(s.cpu_cores_used)),
            per_generator_core(r).map_or_else(|| "–".into(), format::rate),
            limit(r),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    if let Some(first) = runs.iter().find(|r| r.result.is_some()) {
        out.push_str("The first of these runs:\n\n");
        out.push_str(&intro::command_block(&first.record));
    }
    out.push_str(
        "At one message in flight every echo costs each side a `write` and a `read` system call, and on \
         loopback the sender's `write` also does the receiver's TCP work, so generator and server are both \
         near one core there: that regime measures the pair. With more in flight, replies share system \
         calls and the rate grows several times over; the *Limit* column says which side ran out of \
         CPU first.\n\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(json: &str) -> EchoResult {
        serde_json::from_str(json).expect("fixture parses")
    }

    const FIXTURE: &str = r#"{
        "lost": 0, "duplicated": 0, "reordered": 0, "corrupted": 0,
        "close_codes": {}, "dropped_connections": 0,
        "mode": "closed",
        "config": {"conns": 64, "size": 64, "duration": "10s", "warmup": "2s",
                   "rate": null, "inflight": 1, "verify": true, "drain_timeout": "2s"},
        "duration_s": 10.0, "sent": 1400000, "received": 1400000,
        "throughput_msgs_per_s": 140000.0,
        "latency": {
            "delivered": {"count": 1, "mean_us": 1.0, "p50_us": 400, "p90_us": 500, "p99_us": 900,
                          "p99_9_us": 1000, "p99_99_us": 2000, "max_us": 3000},
            "with_undelivered": {"count": 1, "mean_us": 1.0, "p50_us": 400, "p90_us": 500, "p99_us": 900,
                                 "p99_9_us": 1000, "p99_99_us": 2000, "max_us": 3000},
            "undelivered": 0, "drain_bound_us": 2000000},
        "delivered_fraction_worst": 1.0,
        "generator": {"threads": 1, "cpu_utilization": 0.875, "bottleneck": false, "bottleneck_reasons": []},
        "server": {"baseline_rss_bytes": 1, "peak_rss_bytes": 2, "rss_per_connection_bytes": null,
                   "cpu_seconds": 9.5, "cpu_cores_used": 0.95}
    }"#;

    #[test]
    fn echoes_per_generator_core_divide_by_the_share_used() {
        let r = result(FIXTURE);
        assert_eq!(per_generator_core(&r), Some(160_000.0));
        assert_eq!(load(&r), "1 in flight per connection");
        assert_eq!(limit(&r), "server (near one core)");
    }

    #[test]
    fn a_busy_generator_says_why() {
        let json = FIXTURE.replace(
            r#""bottleneck": false, "bottleneck_reasons": []"#,
            r#""bottleneck": true, "bottleneck_reasons": ["own CPU at 96% of 1 thread(s)"]"#,
        );
        let r = result(&json);
        assert_eq!(
            limit(&r),
            "both (own CPU at 96% of 1 thread(s); server near one core)"
        );
    }
}

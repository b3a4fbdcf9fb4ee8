//! Unit tests of the statistics: sequence tracking (gap, duplicate, reorder),
//! the open-loop schedule and coordinated-omission correction, histograms.

use ws_loadgen::report::LatencyReport;
use ws_loadgen::stats::{
    Integrity, Latencies, Schedule, SeqEvent, SeqTracker, new_growing_histogram, new_histogram,
    record_ns,
};

#[test]
fn in_order_sequence_is_clean() {
    let mut t = SeqTracker::new();
    for s in 0..100 {
        assert_eq!(t.observe(s), SeqEvent::InOrder);
    }
    assert_eq!(
        (t.received(), t.lost(100), t.duplicated(), t.reordered()),
        (100, 0, 0, 0)
    );
}

#[test]
fn a_gap_is_lost_unless_the_message_arrives_late() {
    let mut t = SeqTracker::new();
    t.observe(0);
    assert_eq!(t.observe(3), SeqEvent::Gap(2));
    assert_eq!(t.lost(4), 2);
    assert_eq!(t.observe(1), SeqEvent::Late);
    assert_eq!((t.lost(4), t.reordered()), (1, 1));
    // 2 never comes: one lost, one reordered, nothing duplicated.
    assert_eq!((t.received(), t.lost(4), t.duplicated()), (3, 1, 0));
}

#[test]
fn duplicates_are_counted_even_after_a_gap() {
    let mut t = SeqTracker::new();
    t.observe(0);
    assert_eq!(t.observe(0), SeqEvent::Duplicate);
    t.observe(5);
    assert_eq!(t.observe(5), SeqEvent::Duplicate);
    assert_eq!(t.observe(2), SeqEvent::Late);
    assert_eq!(t.observe(2), SeqEvent::Duplicate);
    assert_eq!((t.duplicated(), t.reordered(), t.lost(6)), (3, 1, 3));
}

#[test]
fn the_tail_not_received_is_lost() {
    let mut t = SeqTracker::new();
    for s in 0..10 {
        t.observe(s);
    }
    assert_eq!(t.lost(15), 5);
    assert_eq!(t.missing_interior(), 0);
}

#[test]
fn a_huge_gap_costs_one_range_and_late_arrivals_split_it() {
    let mut t = SeqTracker::new();
    t.observe(10_000_000);
    assert_eq!(t.missing_interior(), 10_000_000);
    assert_eq!(t.observe(5_000_000), SeqEvent::Late);
    assert_eq!(t.observe(5_000_000), SeqEvent::Duplicate);
    assert_eq!(t.observe(0), SeqEvent::Late);
    assert_eq!(t.observe(9_999_999), SeqEvent::Late);
    assert_eq!(t.missing_interior(), 10_000_000 - 3);
}

#[test]
fn skip_to_declares_the_window_missing() {
    let mut t = SeqTracker::new();
    t.observe(0);
    t.skip_to(5);
    assert_eq!(t.next_expected(), 5);
    assert_eq!(t.missing_interior(), 4);
    assert_eq!(t.observe(3), SeqEvent::Late);
}

#[test]
fn schedule_hands_out_intended_times_and_catches_up_after_a_stall() {
    // One message per ms from t=0 to t=100ms.
    let mut s = Schedule::new(0, 1_000_000, 100_000_000);
    assert_eq!(s.take_due(0), Some(0));
    assert_eq!(s.take_due(500_000), None);
    // The generator (or a blocked socket) stalls 10 ms: ten overdue messages,
    // each carrying its own intended time, not the time it finally left.
    let now = 10_500_000;
    let due: Vec<u64> = std::iter::from_fn(|| s.take_due(now)).collect();
    assert_eq!(due, (1..=10).map(|k| k * 1_000_000).collect::<Vec<_>>());
    assert_eq!(s.scheduled_by(now), 11);
    assert_eq!(s.taken(), 11);
}

#[test]
fn coordinated_omission_is_corrected_by_measuring_from_the_intended_time() {
    // A server that stalls 50 ms once, then answers instantly, at 1 msg/ms.
    // Measured from the actual send, only one message looks slow; measured from
    // the intended time, every message that waited behind the stall does.
    let mut s = Schedule::new(0, 1_000_000, 200_000_000);
    let mut corrected = new_histogram();
    let mut naive = new_histogram();
    let mut now = 0u64;
    while let Some(t) = s.next_due_ns() {
        now = now.max(t);
        let _ = s.take_due(now);
        let service = if t == 10_000_000 { 50_000_000 } else { 100_000 };
        let done = now + service;
        record_ns(&mut corrected, done - t);
        record_ns(&mut naive, done - now);
        now = done;
    }
    assert!(
        naive.value_at_quantile(0.9) <= 101,
        "naive p90 {}",
        naive.value_at_quantile(0.9)
    );
    assert!(
        corrected.value_at_quantile(0.9) >= 10_000,
        "corrected p90 {}",
        corrected.value_at_quantile(0.9)
    );
    assert_eq!(corrected.max(), naive.max());
}

#[test]
fn a_schedule_can_drop_what_fell_due() {
    let mut s = Schedule::new(0, 1_000_000, 100_000_000);
    assert_eq!(s.take_due(0), Some(0));
    // Given up on at 3.5 ms: messages 1..=3 are dropped, 4 is next.
    s.skip_due(3_500_000);
    assert_eq!(s.next_due_ns(), Some(4_000_000));
    assert_eq!(s.take_due(3_900_000), None);
    assert_eq!(s.take_due(4_000_000), Some(4_000_000));
    // Never backwards.
    s.skip_due(0);
    assert_eq!(s.next_due_ns(), Some(5_000_000));
}

#[test]
fn schedule_stops_at_its_end() {
    let mut s = Schedule::with_rate(0, 1000.0, 5_000_000);
    let n = std::iter::from_fn(|| s.take_due(u64::MAX)).count();
    assert_eq!(n, 5);
    assert_eq!(s.next_due_ns(), None);
}

#[test]
fn undelivered_messages_are_counted_at_the_drain_bound() {
    let mut h = new_histogram();
    for _ in 0..10 {
        record_ns(&mut h, 100_000); // 100 µs
    }
    let (r, with) = LatencyReport::build(&h, 90, 2_000_000_000);
    assert_eq!(r.delivered.count, 10);
    assert!(r.delivered.p99_us <= 101);
    assert_eq!(r.with_undelivered.count, 100);
    assert_eq!(with.len(), 100);
    // 90% of the messages never came: the median is the drain bound, not 100 µs.
    assert!(
        r.with_undelivered.p50_us >= 1_990_000,
        "{:?}",
        r.with_undelivered
    );
    assert_eq!(r.drain_bound_us, 2_000_000);
}

#[test]
fn integrity_counters_add_up() {
    let mut a = Integrity {
        lost: 1,
        ..Integrity::default()
    };
    a.close_codes.insert(1008, 1);
    let mut b = Integrity {
        corrupted: 2,
        dropped_connections: 1,
        ..Integrity::default()
    };
    b.close_codes.insert(1008, 2);
    a.add(&b);
    assert_eq!((a.lost, a.corrupted, a.dropped_connections), (1, 2, 1));
    assert_eq!(a.close_codes.get(&1008), Some(&3));
    assert!(a.has_failures());
    assert!(!Integrity::default().has_failures());
    let json = serde_json::to_value(&a).expect("json");
    assert_eq!(json["close_codes"]["1008"], 3);
}

/// A growing histogram holds counters only up to what it recorded, yet
/// reports the same percentiles as a fixed one, into which it merges.
#[test]
fn a_growing_histogram_stays_small() {
    let mut fixed = new_histogram();
    let mut growing = new_growing_histogram();
    for us in [40, 90, 250, 1_200, 8_000, 30_000] {
        record_ns(&mut fixed, us * 1_000);
        record_ns(&mut growing, us * 1_000);
    }
    assert!(
        growing.distinct_values() * 3 < fixed.distinct_values(),
        "{} counters against {}",
        growing.distinct_values(),
        fixed.distinct_values()
    );
    for q in [0.5, 0.99, 1.0] {
        assert_eq!(growing.value_at_quantile(q), fixed.value_at_quantile(q));
    }
    let mut merged = new_histogram();
    merged
        .add(&growing)
        .expect("a growing histogram merges into a fixed one");
    assert_eq!(merged.len(), 6);
    assert_eq!(merged.max(), fixed.max());
}

/// A member's latencies stay raw values while they are few (no histogram
/// counters allocated), move into a histogram past 4,096, and merge into a
/// run's histogram to the same distribution either way.
#[test]
fn latencies_are_raw_while_few_and_merge_alike() {
    let values = |n: u64| (0..n).map(|i| (i % 997 + 1) * 1_003_000 + i);
    for n in [0, 1, 4_096, 4_097, 20_000] {
        let mut latencies = Latencies::default();
        let mut direct = new_histogram();
        for ns in values(n) {
            latencies.record_ns(ns);
            record_ns(&mut direct, ns);
        }
        assert_eq!(latencies.len(), n);
        assert_eq!(latencies.is_empty(), n == 0);
        assert_eq!(
            matches!(latencies, Latencies::Raw(_)),
            n <= 4_096,
            "{n} values"
        );
        let mut merged = new_histogram();
        latencies.merge_into(&mut merged).expect("merges");
        assert_eq!(merged.len(), direct.len());
        for q in [0.0, 0.5, 0.99, 1.0] {
            assert_eq!(
                merged.value_at_quantile(q),
                direct.value_at_quantile(q),
                "{n} at {q}"
            );
        }
    }
}

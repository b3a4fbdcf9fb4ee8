//! Echo round trips in two regimes: plain round trips and pipelined batches.
//!
//! `cargo bench -p benches -- echo` (`SINK_SHARING_PIN=0` for the unpinned
//! run). Each connection sends a batch of binary messages and the time is
//! until every echo is back, verified (order and bytes). Throughput counts
//! round trips. Each condition names its regime:
//!
//! - **1 in flight** (round trips): a connection sends one message, waits
//!   for its echo, then sends the next. This is latency-bound: every echo
//!   costs every server one read and one write, and nothing can be batched.
//!   It is the regime the sanity floors of the issue were measured in.
//! - **64 in flight** (pipelined, `ws_loadgen::bench::WINDOW`): up to 64
//!   messages per connection are outstanding, so a server may answer
//!   several with one write. Batching is `ws-mpsc-writer`'s structural
//!   advantage (its writer task drains its queue and flushes once), and
//!   `ws-ref-unsplit` does it too: it echoes what has already arrived and
//!   flushes once. A gap between the two regimes is the value of batching,
//!   not of the sharing strategy.
//!
//! Every contender runs as `<name>/batched` (at its best) and, pinned, in the
//! two 64 B × 64 connection conditions also as `<name>/each` (every echo
//! flushed on its own): the pair tells the flush from the strategy.
//!
//! What the numbers mean: the server's cost per echo on loopback, with the
//! client on its own core when pinned (see the `benches` crate doc). Every
//! echo has a single writer, so this is the cost of the sharing machinery
//! when nobody contends for it: a lock taken uncontended, a channel hop, a
//! thread hop. `ws-ref-unsplit` pays none of it and is the ceiling; read the
//! others as a ratio to it, within one regime. What they do not mean: a
//! batch is closed-loop (the client waits for echoes before sending more),
//! so these are not latencies under a given load; one client core drives all
//! connections, so at 64 connections part of the time is the client's. The
//! client runs in this process, which is what makes the numbers comparable
//! between contenders, not absolute figures for a deployment.

use std::time::Duration;

use benches::{CONTENDERS, SAMPLES, WARM_UP, client_runtime, server_config, stop, variants};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ws_loadgen::bench::{EchoClients, WINDOW};

/// One measured condition.
struct Condition {
    /// Payload size, in bytes, and its label.
    payload: (usize, &'static str),
    conns: usize,
    /// Messages in flight per connection: 1 for round trips, [`WINDOW`] pipelined.
    window: u64,
    /// Messages each connection sends per iteration.
    messages_per_conn: u64,
    /// Measured under `--flush each` too (pinned): the conditions of issue
    /// 10's targets; the others only at their best, to stay in budget.
    naive: bool,
    /// Sampling time: room for 10 of its longest iterations (see [`MEASUREMENT`]).
    measurement: Duration,
}

/// Messages each connection sends per iteration.
const MESSAGES_PER_CONN: u64 = 100;
/// Messages each of 64 connections sends per iteration at 1 in flight: fewer,
/// because each costs a full round trip, so an iteration stays short.
const ROUND_TRIP_MESSAGES_PER_CONN: u64 = 20;

/// The conditions. There are no 1-connection pipelined cases, so that the
/// group takes about as long as it did with four pipelined conditions.
const CONDITIONS: [Condition; 5] = [
    Condition {
        payload: (64, "64B"),
        conns: 1,
        window: 1,
        messages_per_conn: MESSAGES_PER_CONN,
        naive: false,
        measurement: MEASUREMENT,
    },
    Condition {
        payload: (64, "64B"),
        conns: 64,
        window: 1,
        messages_per_conn: ROUND_TRIP_MESSAGES_PER_CONN,
        naive: true,
        measurement: MEASUREMENT,
    },
    Condition {
        payload: (64, "64B"),
        conns: 64,
        window: WINDOW,
        messages_per_conn: MESSAGES_PER_CONN,
        naive: true,
        measurement: MEASUREMENT,
    },
    Condition {
        payload: (16 << 10, "16KiB"),
        conns: 64,
        window: 1,
        messages_per_conn: ROUND_TRIP_MESSAGES_PER_CONN,
        naive: false,
        measurement: MEASUREMENT,
    },
    Condition {
        payload: (16 << 10, "16KiB"),
        conns: 64,
        window: WINDOW,
        messages_per_conn: MESSAGES_PER_CONN,
        naive: false,
        measurement: LONG_MEASUREMENT,
    },
];

/// The passes' short sampling (see the `benches` crate doc) where the
/// longest iteration is about 45 ms (64 B pipelined under `--flush each`):
/// 10 samples of it fit twice over.
const MEASUREMENT: Duration = benches::MEASUREMENT;
/// Sampling time of 16 KiB × 64 connections pipelined: an iteration takes
/// 75–95 ms on a quiet machine, and 10 samples of it must fit, or Criterion
/// stretches the time (as it does, by under a second, beside a build, which
/// makes the iteration 200–250 ms).
const LONG_MEASUREMENT: Duration = Duration::from_secs(2);

fn echo(c: &mut Criterion) {
    let rt = client_runtime();
    let config = server_config();
    let mut group = c.benchmark_group("echo");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .sampling_mode(SamplingMode::Flat);
    for cond in &CONDITIONS {
        let (payload, size) = cond.payload;
        let (conns, window, messages) = (cond.conns, cond.window, cond.messages_per_conn);
        let condition = format!(
            "{size} x {conns} conn{}, {window} in flight",
            if conns == 1 { "" } else { "s" }
        );
        group
            .throughput(Throughput::Elements(conns as u64 * messages))
            .measurement_time(cond.measurement);
        for variant in variants(CONTENDERS.iter(), cond.naive) {
            // Set up on first use, so that a benchmark the filter skips costs nothing.
            let mut fixture = None;
            // Measures `conns` connections × `messages` round trips of `payload` bytes, `window` in flight.
            group.bench_function(BenchmarkId::new(variant.name(), &condition), |b| {
                let (_, clients) = fixture.get_or_insert_with(|| {
                    let server = variant.start(&config);
                    let clients = rt
                        .block_on(EchoClients::connect(&server.url("/ws/echo"), conns))
                        .expect("connecting the echo clients");
                    (server, clients)
                });
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut took = Duration::ZERO;
                        for _ in 0..iters {
                            took += clients
                                .round_trips_with_window(messages, payload, window)
                                .await
                                .expect("an echo batch");
                        }
                        took
                    })
                });
            });
            if let Some((server, clients)) = fixture {
                rt.block_on(clients.close());
                stop(server);
            }
        }
    }
    group.finish();
}

criterion_group!(benches, echo);
criterion_main!(benches);

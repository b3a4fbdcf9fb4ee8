//! Contention: every member of a room sending at once, so that every
//! member's sink has many concurrent writers.
//!
//! `cargo bench -p benches -- contention` (`SINK_SHARING_PIN=0` for the
//! unpinned run). All `MEMBERS` members of a settled room each send
//! `MESSAGES_EACH` 64-byte binary messages, each sender at most
//! `ws_loadgen::bench::WINDOW` ahead of what it has heard of its own; the
//! time is until every member has every message, each sender's in order,
//! verified. Throughput counts deliveries (messages × members).
//!
//! Every room server runs as `<server>/batched` and, pinned, `<server>/each`
//! (see the `benches` crate doc).
//!
//! What the numbers mean: what sharing costs when it is really shared. Each
//! member's sink is written by up to `MEMBERS` readers at once: the mutex
//! variants queue them on the lock (and, with `--flush each`, flush once per
//! message; with `batched`, writers share flushes), `ws-mpsc-writer`
//! lets its writer task flush whatever has queued up in one go, and
//! `ws-ref-broadcast` has one writer per member reading from the room's
//! channel. What they do not mean: one client core reads all members, so the
//! client's cost is part of every number.
//!
//! Fairness to the queued designs: a batch puts `MEMBERS × MESSAGES_EACH`
//! (960) messages into the room, fewer than `ws-ref-broadcast`'s default
//! ring (`--queue-capacity`, 1024) and far below `ws-mpsc-writer`'s default
//! `--queue-bytes` (4 MiB). Every batch ends with every message delivered,
//! so no member's queue or the room's ring can ever hold more than one
//! batch: the bench cannot overrun them by its own design, and every
//! contender runs with the defaults.

use std::time::Duration;

use benches::{SAMPLES, WARM_UP, client_runtime, room_contenders, server_config, stop, variants};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ws_loadgen::bench::RoomClients;

/// Members of the room, all of them senders.
const MEMBERS: usize = 32;
/// Messages each member sends per iteration.
const MESSAGES_EACH: u64 = 30;
/// Payload size, in bytes.
const PAYLOAD: usize = 64;

// The passes' short sampling (see the `benches` crate doc), with room for
// the longest iteration: under `--flush each` a batch takes ~170 ms on a
// quiet machine and up to ~250 ms beside a build, and 10 samples of it
// must fit, or Criterion stretches the time.
const MEASUREMENT: Duration = Duration::from_millis(2_500);

fn contention(c: &mut Criterion) {
    let rt = client_runtime();
    let config = server_config();
    // The bench's design relies on it (see the module doc).
    assert!(MEMBERS as u64 * MESSAGES_EACH < u64::from(config.queue_capacity));
    let mut group = c.benchmark_group("contention");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(
            MEMBERS as u64 * MESSAGES_EACH * MEMBERS as u64,
        ));
    let condition = format!("{MEMBERS} senders x {MESSAGES_EACH} msgs of {PAYLOAD}B");
    for variant in variants(room_contenders(), true) {
        // Set up on first use, so that a benchmark the filter skips costs nothing.
        let mut fixture = None;
        // Measures MEMBERS members each sending MESSAGES_EACH messages into one room at once.
        group.bench_function(BenchmarkId::new(variant.name(), &condition), |b| {
            let (_, room) = fixture.get_or_insert_with(|| {
                let server = variant.start(&config);
                let room = rt
                    .block_on(RoomClients::join(
                        &server.url("/ws/room/contention"),
                        MEMBERS,
                    ))
                    .expect("joining the room");
                (server, room)
            });
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut took = Duration::ZERO;
                    for _ in 0..iters {
                        took += room
                            .contention(MEMBERS, MESSAGES_EACH, PAYLOAD)
                            .await
                            .expect("a contention batch");
                    }
                    took
                })
            });
        });
        if let Some((server, room)) = fixture {
            rt.block_on(room.close());
            stop(server);
        }
    }
    group.finish();
}

criterion_group!(benches, contention);
criterion_main!(benches);

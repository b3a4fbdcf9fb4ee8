//! Slow consumers: a room flood with one member that has stopped reading.
//!
//! `cargo bench -p benches -- slow_consumer` (`SINK_SHARING_PIN=0` for the
//! unpinned run). Each iteration joins a fresh room of `MEMBERS` (a new
//! name, joined outside the timed part), in which the stalled member, if
//! any, has a 4 KiB receive buffer and never reads after joining. Member 0
//! then sends `MESSAGES` binary messages of `PAYLOAD` bytes; the time is
//! until every healthy member has all of them, verified. Throughput counts
//! deliveries to healthy members. The same batch in a room where everyone
//! reads is the baseline.
//!
//! What the numbers mean: how much one stalled member costs everyone else.
//! A batch is 5 MiB, more than the kernel's buffers towards the stalled
//! member can take (the server's send buffer autotunes up to 4 MiB on
//! loopback, the member's receive buffer is 4 KiB), so every iteration
//! reaches the point where a send to it cannot complete. The mutex variants
//! then hold the sender's broadcast until their `--send-timeout` (the
//! default 5 s, unchanged, for every contender) disconnects the stalled
//! member, so their time is about that timeout; `ws-mpsc-writer` and
//! `ws-ref-broadcast` keep the messages queued for it (up to their
//! `--queue-bytes` and `--queue-capacity`, past which they disconnect it)
//! and the healthy members do not wait. The server's slow-consumer disconnects
//! are printed after each benchmark, so you can check that every stalled
//! iteration met the policy.
//!
//! What they do not mean: the mutex variants' figure is set by the timeout
//! you choose, not by their code; the queued designs' figure says nothing of
//! the memory they spend holding the stalled member's messages (the
//! comparison script's peak-RSS scenario does). Iterations are few, as each
//! stalled one takes seconds.
//!
//! Not among `scripts/compare.sh`'s Criterion passes: a stalled mutex
//! iteration lasts the send timeout, which would cost two minutes a pass,
//! and the comparison's repeated `ws-loadgen` slow-consumer runs measure
//! the same room with a range. Run it by hand with the command above.

use std::time::Duration;

use benches::{client_runtime, room_contenders, server_config, stop};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ws_loadgen::bench::SlowRoom;

/// Members of each room, stalled ones included.
const MEMBERS: usize = 100;
/// Messages member 0 sends per iteration.
const MESSAGES: u64 = 320;
/// Payload size, in bytes: `MESSAGES × PAYLOAD` is 5 MiB.
const PAYLOAD: usize = 16 << 10;
/// Stalled members: the baseline and the stall.
const STALLED: [(usize, &str); 2] = [(0, "no stall"), (1, "1 stalled")];
/// Bound on one batch: longer than the server's send timeout.
const BATCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Criterion's minimum: a stalled iteration of a mutex variant takes the 5 s send timeout.
const SAMPLES: usize = 10;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(5);

fn slow_consumer(c: &mut Criterion) {
    let rt = client_runtime();
    let config = server_config();
    assert!(BATCH_TIMEOUT > config.send_timeout);
    let mut group = c.benchmark_group("slow_consumer");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sampling_mode(SamplingMode::Flat);
    for (stalled, label) in STALLED {
        let healthy = MEMBERS - stalled;
        group.throughput(Throughput::Elements(healthy as u64 * MESSAGES));
        for contender in room_contenders() {
            // Set up on first use, so that a benchmark the filter skips costs nothing.
            let mut fixture = None;
            let id = BenchmarkId::new(contender.name, format!("{MEMBERS} members, {label}"));
            // Measures the healthy members of a fresh room receiving MESSAGES × PAYLOAD bytes.
            group.bench_function(id, |b| {
                let (server, rooms) = fixture.get_or_insert_with(|| (contender.start(&config), 0));
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut took = Duration::ZERO;
                        for _ in 0..iters {
                            *rooms += 1;
                            let url = server.url(&format!("/ws/room/slow-{rooms}"));
                            let mut room = SlowRoom::join(&url, healthy, stalled)
                                .await
                                .expect("joining the room")
                                .with_timeout(BATCH_TIMEOUT);
                            took += room
                                .healthy_batch(MESSAGES, PAYLOAD)
                                .await
                                .expect("the healthy members' batch");
                            room.close().await;
                        }
                        took
                    })
                });
            });
            if let Some((server, rooms)) = fixture {
                eprintln!(
                    "slow_consumer/{}/{MEMBERS} members, {label}: {rooms} rooms, \
                     {} slow-consumer disconnects",
                    contender.name,
                    server.metrics().slow_consumer_disconnects.get()
                );
                stop(server);
            }
        }
    }
    group.finish();
}

criterion_group!(benches, slow_consumer);
criterion_main!(benches);

//! Broadcast fan-out: one message into a room, until every member has it.
//!
//! `cargo bench -p benches -- broadcast` (`SINK_SHARING_PIN=0` for the
//! unpinned run). Member 0 of a settled room sends one 64-byte binary
//! message; the time is until every member, the sender included, has
//! received it, verified. Throughput counts deliveries (one per member).
//!
//! Pinned, rooms of up to `NAIVE_UP_TO` members are measured under both
//! `--flush` policies (`<server>/each`, `<server>/batched`), the largest
//! under `batched` alone (see the `benches` crate doc).
//!
//! What the numbers mean: the cost of one fan-out as the room grows, on the
//! four contenders that serve rooms (`ws-ref-unsplit` does not). The mutex
//! variants walk the member list and await each member's send in turn;
//! `ws-mpsc-writer` enqueues to each member's writer task; `ws-ref-broadcast`
//! does one `broadcast::Sender::send` and lets every member's writer clone
//! it out. What they do not mean: one message at a time means no two
//! broadcasts overlap (see the `contention` group for that), and all members
//! are read by one client core, so in the largest rooms much of the time is the
//! client reading 1,000 sockets.
//!
//! A room of 1,000 settles on every contender: `RoomClients::join` has one
//! member say hello until every member has heard one (tracked in the
//! client's memory), which costs one delivery per member a round, well
//! within the queues of the queued designs and ws-loadgen's 30 s join bound.

use std::time::Duration;

use benches::{
    MEASUREMENT, SAMPLES, WARM_UP, client_runtime, room_contenders, server_config, stop, variants,
};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ws_loadgen::bench::RoomClients;

/// Room sizes, in members.
const MEMBERS: [usize; 3] = [10, 100, 1_000];
/// Payload of the broadcast message, in bytes.
const PAYLOAD: usize = 64;
/// Rooms up to this size are measured under `--flush each` too (pinned);
/// the room of 1,000 only at its best: its iterations are the longest, and
/// the client's reading dominates them.
const NAIVE_UP_TO: usize = 100;

fn broadcast(c: &mut Criterion) {
    let rt = client_runtime();
    let config = server_config();
    let mut group = c.benchmark_group("broadcast");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sampling_mode(SamplingMode::Flat);
    for members in MEMBERS {
        group.throughput(Throughput::Elements(members as u64));
        for variant in variants(room_contenders(), members <= NAIVE_UP_TO) {
            // Set up on first use, so that a benchmark the filter skips costs nothing.
            let mut fixture = None;
            // Measures one PAYLOAD-byte message reaching every member of a room of `members`.
            let id = BenchmarkId::new(variant.name(), format!("{members} members"));
            group.bench_function(id, |b| {
                let (_, room) = fixture.get_or_insert_with(|| {
                    let server = variant.start(&config);
                    let room = rt
                        .block_on(RoomClients::join(
                            &server.url("/ws/room/broadcast"),
                            members,
                        ))
                        .expect("joining the room");
                    (server, room)
                });
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut took = Duration::ZERO;
                        for _ in 0..iters {
                            took += room.broadcast_one(PAYLOAD).await.expect("a broadcast");
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
    }
    group.finish();
}

criterion_group!(benches, broadcast);
criterion_main!(benches);

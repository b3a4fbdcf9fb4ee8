//! Echo round trips: every contender answering the same pipelined batches.
//!
//! `cargo bench -p benches -- echo` (`SINK_SHARING_PIN=0` for the unpinned
//! run). Each connection sends `MESSAGES_PER_CONN` binary messages, at most
//! `ws_loadgen::bench::WINDOW` in flight, and the time is until every echo
//! is back, verified (order and bytes). Throughput counts round trips.
//!
//! What the numbers mean: the server's cost per echo on loopback, with the
//! client on its own core when pinned (see the `benches` crate doc). Every
//! echo has a single writer, so this is the cost of the sharing machinery
//! when nobody contends for it: a lock taken uncontended, a channel hop, a
//! thread hop. `ws-ref-unsplit` pays none of it and is the ceiling; read the
//! others as a ratio to it. What they do not mean: a batch is closed-loop
//! (the client waits for echoes before sending more), so these are not
//! latencies under a given load; one client core drives all connections, so
//! at 64 connections part of the time is the client's. The client runs in
//! this process, which is what makes the numbers comparable between
//! contenders, not absolute figures for a deployment.

use std::time::Duration;

use benches::{CONTENDERS, client_runtime, server_config, stop};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ws_loadgen::bench::EchoClients;

/// Messages each connection sends per iteration.
const MESSAGES_PER_CONN: u64 = 100;
/// Payload sizes, in bytes.
const PAYLOADS: [(usize, &str); 2] = [(64, "64B"), (16 << 10, "16KiB")];
/// Connection counts.
const CONNS: [usize; 2] = [1, 64];

const SAMPLES: usize = 20;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(3);

fn echo(c: &mut Criterion) {
    let rt = client_runtime();
    let config = server_config();
    let mut group = c.benchmark_group("echo");
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT);
    for (payload, size) in PAYLOADS {
        for conns in CONNS {
            let condition = format!("{size} x {conns} conn{}", if conns == 1 { "" } else { "s" });
            group.throughput(Throughput::Elements(conns as u64 * MESSAGES_PER_CONN));
            for contender in &CONTENDERS {
                // Set up on first use, so that a benchmark the filter skips costs nothing.
                let mut fixture = None;
                // Measures `conns` connections × MESSAGES_PER_CONN round trips of `payload` bytes.
                group.bench_function(BenchmarkId::new(contender.name, &condition), |b| {
                    let (_, clients) = fixture.get_or_insert_with(|| {
                        let server = contender.start(&config);
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
                                    .round_trips(MESSAGES_PER_CONN, payload)
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
    }
    group.finish();
}

criterion_group!(benches, echo);
criterion_main!(benches);

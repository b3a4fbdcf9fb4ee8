//! A room of 1,000 members joins and settles against the real variants, in
//! process, and a broadcast then reaches every member: the join handshake
//! costs O(N) deliveries per round, so neither a mutex server's send timeout
//! nor a queue server's slow-consumer limit fires during the join.

use std::time::{Duration, Instant};

use ws_common::ServerConfig;
use ws_common::testkit::TestServer;
use ws_loadgen::bench::RoomClients;

const MEMBERS: usize = 1_000;
/// Bound on the join-and-settle phase (also the bench's default).
const JOIN_TIMEOUT: Duration = ws_loadgen::bench::DEFAULT_JOIN_TIMEOUT;

async fn thousand_members_settle_and_hear_a_broadcast(server: TestServer) {
    let name = server.name();
    let started = Instant::now();
    let mut clients = tokio::time::timeout(
        JOIN_TIMEOUT + Duration::from_secs(30),
        RoomClients::join_within(&server.url("/ws/room/large"), MEMBERS, JOIN_TIMEOUT),
    )
    .await
    .expect("connecting and joining exceeded their time bound")
    .unwrap_or_else(|e| panic!("{name}: join of {MEMBERS}: {e}"));
    let joined = started.elapsed();
    for round in 0..3 {
        let took = clients
            .broadcast_one(64)
            .await
            .unwrap_or_else(|e| panic!("{name}: broadcast {round} to {MEMBERS}: {e}"));
        eprintln!("{name}: broadcast {round} reached {MEMBERS} members in {took:?}");
    }
    eprintln!("{name}: {MEMBERS} members connected and settled in {joined:?}");
    clients.close().await;
}

fn config() -> ServerConfig {
    ServerConfig {
        workers: Some(1),
        ..ServerConfig::ephemeral()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn tokio_mutex_room_of_1000_settles() {
    thousand_members_settle_and_hear_a_broadcast(
        TestServer::start::<ws_tokio_mutex::Writer>(config()).expect("start"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn mpsc_writer_room_of_1000_settles() {
    thousand_members_settle_and_hear_a_broadcast(
        TestServer::start::<ws_mpsc_writer::Writer>(config()).expect("start"),
    )
    .await;
}

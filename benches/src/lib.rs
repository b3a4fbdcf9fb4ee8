//! The harness shared by the Criterion benches in `benches/benches/`: the
//! contenders, the pinning policy, the server configuration and the client
//! runtime, so that the benches can only differ in the load they drive.
//!
//! Every contender runs in this process, as a [`TestServer`]: its own
//! multi-thread Tokio runtime in its own thread, on `127.0.0.1:0`. All load
//! comes from [`ws_loadgen::bench`], on one current-thread client runtime.
//!
//! # Pinning
//! `SINK_SHARING_PIN` chooses how server and load share the machine:
//! - `1` (the default): every thread of the server (its one worker and its
//!   blocking pool) runs on the first core, the client runtime on the second.
//!   Server and load never compete for a CPU, so the numbers show the
//!   server's own cost.
//! - `0`: the server gets two workers and nothing is pinned: server, blocking
//!   pool and load share the cores as the scheduler sees fit, as they would
//!   on a busy host.
//!
//! With fewer than two cores pinning is impossible; the benches then run
//! unpinned and say so. The mode is printed once, on stderr.
//!
//! # Flush policies
//! A benchmark's function id is `<contender>/<policy>`: `ws-tokio-mutex/each`
//! (every message flushed on its own, the naive form) or
//! `ws-tokio-mutex/batched` (the strategy at its best). Pinned runs measure
//! both, where the sharing strategy and the flush can be told apart; the
//! unpinned run measures `batched` alone, to keep the comparison within its
//! time budget (see [`flush_policies`]).
//!
//! # Passes and sampling
//! `scripts/compare.sh` runs the `echo`, `broadcast` and `contention` groups
//! in 3 passes, each its own process, and the report takes every ratio
//! within a pass and shows its range over the passes: one process can be
//! 15–20% off on this kind of VM while its own interval looks tight, so
//! three short processes say more than one long one. To pay for the passes
//! each benchmark samples briefly ([`SAMPLES`], [`WARM_UP`], [`MEASUREMENT`]),
//! flat: every sample runs the same number of iterations, so 10 samples need
//! 10 iterations, where linear sampling needs 1 + 2 + ... + 10 = 55 and made
//! Criterion stretch an iteration of 90 ms (16 KiB echo, pipelined) or 150 ms
//! (contention under `--flush each`) far past its measurement time.

use std::sync::OnceLock;
use std::time::Duration;

use core_affinity::CoreId;
use ws_common::testkit::TestServer;
use ws_common::{FlushPolicy, ServerConfig};

/// Samples per benchmark: Criterion's minimum. The range between passes,
/// not more samples within one, is what tells two servers apart.
pub const SAMPLES: usize = 10;
/// Warm-up per benchmark: the server and its clients are already connected
/// (set up on first use, outside the measurement), so this only settles caches
/// and the allocator.
pub const WARM_UP: Duration = Duration::from_millis(300);
/// Sampling time per benchmark, for iterations up to 100 ms (10 samples of
/// one iteration each); a group with longer iterations sets its own.
pub const MEASUREMENT: Duration = Duration::from_secs(1);

/// The environment variable choosing the pinning mode (`1` pinned, `0` not).
pub const PIN_VAR: &str = "SINK_SHARING_PIN";

/// Server worker threads when pinned: one, on the server's core.
const PINNED_WORKERS: usize = 1;
/// Server worker threads when not pinned: one per core of a 2-core machine.
const UNPINNED_WORKERS: usize = 2;

/// A server under comparison.
#[derive(Debug)]
pub struct Contender {
    /// Its package name: the function id of every `BenchmarkId`.
    pub name: &'static str,
    /// Whether it serves `/ws/room/{room}` (`ws-ref-unsplit` does not).
    pub serves_rooms: bool,
    start: fn(ServerConfig, Option<CoreId>) -> TestServer,
}

impl Contender {
    /// Starts it with `config` under the current [`pinning`] and returns once
    /// it listens.
    ///
    /// # Panics
    /// When the server cannot start: a bench cannot run without it.
    pub fn start(&self, config: &ServerConfig) -> TestServer {
        let core = match pinning() {
            Pinning::Pinned { server, .. } => Some(server),
            Pinning::Unpinned => None,
        };
        (self.start)(config.clone(), core)
    }
}

/// The contenders, always in this order: the three strategies, then the two
/// references.
pub const CONTENDERS: [Contender; 5] = [
    contender::<ws_tokio_mutex::Writer>(),
    contender::<ws_std_mutex::Writer>(),
    contender::<ws_mpsc_writer::Writer>(),
    contender::<ws_ref_broadcast::Server>(),
    contender::<ws_ref_unsplit::Server>(),
];

/// The contenders that serve rooms, in [`CONTENDERS`] order.
pub fn room_contenders() -> impl Iterator<Item = &'static Contender> {
    CONTENDERS.iter().filter(|c| c.serves_rooms)
}

/// One contender under one flush policy: what one benchmark starts.
#[derive(Debug)]
pub struct Variant {
    /// The server.
    pub contender: &'static Contender,
    /// Its `--flush`.
    pub flush: FlushPolicy,
}

impl Variant {
    /// The benchmark's function id: `ws-tokio-mutex/each`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.contender.name, self.flush.as_str())
    }

    /// Starts the contender with `config` under this policy (see [`Contender::start`]).
    pub fn start(&self, config: &ServerConfig) -> TestServer {
        self.contender.start(&ServerConfig {
            flush: self.flush,
            ..config.clone()
        })
    }
}

/// The flush policies measured in this run, naive first: both when pinned,
/// `batched` alone when not (the naive form is the same lesson on any
/// placement, and its runs would cost the unpinned pass minutes).
pub fn flush_policies() -> &'static [FlushPolicy] {
    match pinning() {
        Pinning::Pinned { .. } => &[FlushPolicy::Each, FlushPolicy::Batched],
        Pinning::Unpinned => &[FlushPolicy::Batched],
    }
}

/// Every contender of `contenders` under every policy of [`flush_policies`]
/// (only `batched` when `naive` is false), contenders in order, naive first.
pub fn variants(contenders: impl Iterator<Item = &'static Contender>, naive: bool) -> Vec<Variant> {
    contenders
        .flat_map(|contender| {
            flush_policies()
                .iter()
                .filter(move |f| naive || **f == FlushPolicy::Batched)
                .map(move |&flush| Variant { contender, flush })
        })
        .collect()
}

const fn contender<H: ws_common::Handler>() -> Contender {
    Contender {
        name: H::NAME,
        serves_rooms: H::SERVES_ROOMS,
        start: start::<H>,
    }
}

fn start<H: ws_common::Handler>(config: ServerConfig, core: Option<CoreId>) -> TestServer {
    let started = match core {
        // The hook runs on the server's own thread and on every runtime
        // thread it starts, blocking pool included.
        Some(core) => TestServer::start_pinned::<H>(config, move |_| {
            if !core_affinity::set_for_current(core) {
                eprintln!(
                    "{}: cannot pin a server thread to core {}",
                    H::NAME,
                    core.id
                );
            }
        }),
        None => TestServer::start::<H>(config),
    };
    started.unwrap_or_else(|err| panic!("{}: the server did not start: {err}", H::NAME))
}

/// Shuts a server down and waits for its threads, so that it cannot take
/// CPU time from the next benchmark.
///
/// # Panics
/// When the server thread fails: its numbers would not be trustworthy.
pub fn stop(server: TestServer) {
    let name = server.name();
    if let Err(err) = server.shutdown() {
        panic!("{name}: the server did not shut down: {err}");
    }
}

/// Where server and load run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pinning {
    /// Every server thread on `server`, the client runtime on `client`.
    Pinned {
        /// The server's core.
        server: CoreId,
        /// The load's core.
        client: CoreId,
    },
    /// Nothing pinned.
    Unpinned,
}

/// The pinning mode of this run, from [`PIN_VAR`]; decided (and printed)
/// once.
///
/// # Panics
/// When [`PIN_VAR`] is neither `0` nor `1`.
pub fn pinning() -> Pinning {
    static MODE: OnceLock<Pinning> = OnceLock::new();
    *MODE.get_or_init(|| {
        let wanted = match std::env::var(PIN_VAR).as_deref() {
            Err(_) | Ok("1") => true,
            Ok("0") => false,
            Ok(other) => panic!("{PIN_VAR} must be 0 or 1, not {other:?}"),
        };
        // Read before anything is pinned: the list honours this thread's
        // affinity mask.
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let mode = match (wanted, cores.as_slice()) {
            (true, [server, client, ..]) => Pinning::Pinned {
                server: *server,
                client: *client,
            },
            (true, _) => {
                eprintln!(
                    "benches: {} core(s) available, pinning needs 2: running unpinned",
                    cores.len()
                );
                Pinning::Unpinned
            }
            (false, _) => Pinning::Unpinned,
        };
        match mode {
            Pinning::Pinned { server, client } => eprintln!(
                "benches: pinned ({PIN_VAR}=1): server on core {} ({PINNED_WORKERS} worker, \
                 blocking pool too), client on core {} (current-thread runtime)",
                server.id, client.id
            ),
            Pinning::Unpinned => eprintln!(
                "benches: unpinned ({PIN_VAR}=0): server with {UNPINNED_WORKERS} workers, \
                 client on a current-thread runtime, nothing pinned"
            ),
        }
        mode
    })
}

/// The server configuration for a group: the defaults on an ephemeral port,
/// with the worker count of the pinning mode. Every contender of a group gets
/// the same one; a group that changes a setting changes it for all.
pub fn server_config() -> ServerConfig {
    let workers = match pinning() {
        Pinning::Pinned { .. } => PINNED_WORKERS,
        Pinning::Unpinned => UNPINNED_WORKERS,
    };
    ServerConfig {
        workers: Some(workers),
        ..ServerConfig::ephemeral()
    }
}

/// The client runtime: current-thread, so all load runs on the calling
/// thread, which is pinned to the client's core when [`pinning`] says so
/// (and so is the runtime's blocking pool).
///
/// # Panics
/// When the runtime cannot be built or the thread cannot be pinned.
pub fn client_runtime() -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    if let Pinning::Pinned { client, .. } = pinning() {
        assert!(
            core_affinity::set_for_current(client),
            "cannot pin the client to core {}",
            client.id
        );
        builder.on_thread_start(move || {
            core_affinity::set_for_current(client);
        });
    }
    builder.build().expect("building the client runtime")
}

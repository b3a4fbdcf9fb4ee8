//! `results/run.json`: what `collect` ran, where, and on what.

use serde::{Deserialize, Serialize};

/// Server and load placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Server on core 0 with one worker, load on core 1.
    Pinned,
    /// Server with two workers, load anywhere: they share both cores.
    Unpinned,
}

impl Mode {
    /// Lowercase name, as in paths and Criterion baselines.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Pinned => "pinned",
            Self::Unpinned => "unpinned",
        }
    }

    /// Capitalized name, for headings.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Self::Pinned => "Pinned",
            Self::Unpinned => "Unpinned",
        }
    }
}

/// The `ws-loadgen` scenarios `collect` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Open-loop echo at fixed rates: latency percentiles.
    Latency,
    /// A room flood with and without a stalled member.
    Slow,
    /// Idle connections held open: RSS per connection.
    Memory,
    /// A member reading at a fraction of the room's rate, and the time the
    /// slow-consumer policy takes to find a member that stopped.
    #[serde(rename = "slow-readers")]
    SlowReaders,
    /// Faults: a stalled-consumer flood, connection churn, bad input, shutdown under load.
    Reliability,
    /// The instrument itself: `ws-loadgen echo` against the echo reference at
    /// growing load, to show where the generator, not the server, is the limit.
    Ceiling,
    /// Closed-loop echo, every echo server in both flush modes, repeated
    /// and interleaved: the ratios to the echo reference with their ranges.
    Throughput,
    /// Every member of a room sending, open loop at rising rates, every room
    /// server in both flush modes: where each strategy saturates.
    Saturation,
    /// Open-loop echo at fractions of each server's closed-loop maximum
    /// measured in the same repeat, and at one fixed rate: every echo
    /// server in both flush modes, repeated and interleaved.
    #[serde(rename = "load-curve")]
    LoadCurve,
    /// The intervals between the server's pings as each client reads them:
    /// idle connections, an echo flood, and a room with a stalled member;
    /// repeated and interleaved.
    Heartbeat,
    /// The throughput runs once more, as a second interleaved series at the
    /// end of the comparison (fresh processes, 5–15 minutes later): how
    /// far each echo ratio's median moves when the comparison is re-run.
    Replay,
}

impl Scenario {
    /// The directory of its files under `results/`.
    #[must_use]
    pub fn dir(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Slow => "slow",
            Self::Memory => "memory",
            Self::SlowReaders => "slow-readers",
            Self::Reliability => "reliability",
            Self::Ceiling => "ceiling",
            Self::Throughput => "throughput",
            Self::Saturation => "saturation",
            Self::LoadCurve => "load-curve",
            Self::Heartbeat => "heartbeat",
            Self::Replay => "replay",
        }
    }
}

/// The git state of the tree the binaries were built from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GitInfo {
    /// `git rev-parse HEAD`, or `"unknown"`.
    pub commit: String,
    /// Uncommitted changes were present (`git status --porcelain` not empty).
    pub dirty: bool,
}

/// The machine the run happened on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `/proc/cpuinfo` model name.
    pub cpu_model: String,
    /// CPUs this process may run on.
    pub cores: usize,
    /// `/proc/meminfo` MemTotal, bytes.
    pub memory_bytes: u64,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// Soft limit on open files during the run (after `collect` raised it if it could).
    pub open_files_limit: u64,
}

/// How one mode places server and load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModeInfo {
    /// The mode.
    pub mode: Mode,
    /// Server placement and runtime threads.
    pub server: String,
    /// Load generator placement and threads.
    pub load: String,
}

/// One `ws-loadgen` run against one freshly started server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Which scenario.
    pub scenario: Scenario,
    /// The server's package name.
    pub server: String,
    /// Placement.
    pub mode: Mode,
    /// The scenario's case: `rate-20000`, `stalled`, `baseline`, `idle`, `flood-stalled`, `churn-echo`, ….
    pub case: String,
    /// The offered rate (latency runs), messages/s.
    pub rate: Option<f64>,
    /// Path of the run's files under `results/`, without extension.
    pub stem: String,
    /// The server's exact command line.
    pub server_command: Vec<String>,
    /// The load generator's exact command line.
    pub load_command: Vec<String>,
    /// Why the run produced no result, if it did not.
    pub error: Option<String>,
    /// Lines containing "panicked" in the run's `.server.log` (absent when it was not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_panics: Option<u64>,
    /// The server's `--flush` policy, when the run set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush: Option<String>,
    /// Which repeat of an interleaved series this run is (1, 2, …), when repeated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// The share of the machine's CPU time the hypervisor took (`steal` in
    /// `/proc/stat`) while the run ran, server start to stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal: Option<f64>,
    /// How many times the run was run again because the hypervisor took
    /// more than [`crate::collect::STEAL_RETRY`] of the CPU time during it;
    /// the record and its files are the last attempt's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal_retries: Option<u32>,
    /// Shutdown-under-load runs: how the server ended after SIGTERM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<ShutdownRecord>,
}

/// A server stopped by SIGTERM in the middle of a flood.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShutdownRecord {
    /// Seconds from the load generator's start to the SIGTERM.
    pub sigterm_after_s: f64,
    /// Seconds from the SIGTERM to the process's exit; absent when it had to be killed.
    pub exit_s: Option<f64>,
    /// The exit status, in words (`exit status: 0`).
    pub status: String,
}

/// The whole of `run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    /// `ws-report collect`'s own command line.
    pub command: Vec<String>,
    /// A `--quick` smoke run: numbers not meant to be read.
    pub quick: bool,
    /// Start of the run, RFC 3339 UTC, seconds.
    pub date_utc: String,
    /// The source tree.
    pub git: GitInfo,
    /// `rustc --version`.
    pub rustc: String,
    /// The machine.
    pub machine: Machine,
    /// Placement of each mode.
    pub modes: Vec<ModeInfo>,
    /// Every run, in the order they ran.
    pub runs: Vec<RunRecord>,
}

//! Reading CPU time and resident memory from `/proc`: the server's (given
//! `--server-pid`) and the generator's own.
//!
//! The server is sampled every 100 ms on a background task: peak RSS can only
//! be caught by sampling during the run, and CPU seconds are the difference
//! between the last and the first sample. A scenario with a measured window
//! also has the server's CPU time read when the window opens and when it
//! closes ([`ServerSampler::measure_window`]), rather than at the nearest
//! samples, so that connection setup, warm-up, drain and closes stay out of
//! the CPU an echo is charged with.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use procfs::process::Process;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::LoadgenError;

/// How often the server process is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// CPU seconds (user + system) the process `proc` has used so far.
fn cpu_seconds(proc: &Process) -> Result<f64, String> {
    let stat = proc.stat().map_err(|e| e.to_string())?;
    let ticks = procfs::ticks_per_second().max(1);
    Ok((stat.utime + stat.stime) as f64 / ticks as f64)
}

/// Resident set size of `proc` in bytes.
fn rss_bytes(proc: &Process) -> Result<u64, String> {
    let status = proc.status().map_err(|e| e.to_string())?;
    status
        .vmrss
        .map(|kb| kb * 1024)
        .ok_or_else(|| "no VmRSS in /proc/PID/status (kernel thread?)".to_owned())
}

/// The resident set size of process `pid` now, in bytes.
///
/// # Errors
/// [`LoadgenError::Process`] when the process does not exist or `/proc` cannot be read.
pub fn rss_of(pid: i32) -> Result<u64, LoadgenError> {
    let err = |reason: String| LoadgenError::Process { pid, reason };
    let proc = Process::new(pid).map_err(|e| err(e.to_string()))?;
    rss_bytes(&proc).map_err(err)
}

/// The generator's own CPU time, to tell when the generator is the bottleneck.
///
/// This is the whole process's CPU time: when the server runs in the same
/// process (benches, tests) it includes the server's work too.
#[derive(Debug)]
pub struct OwnCpu {
    start_cpu: Option<f64>,
    start: Instant,
}

impl OwnCpu {
    /// Start measuring.
    #[must_use]
    pub fn start() -> Self {
        Self {
            start_cpu: Process::myself().ok().and_then(|p| cpu_seconds(&p).ok()),
            start: Instant::now(),
        }
    }

    /// CPU seconds and wall seconds since [`OwnCpu::start`]; CPU is `None` where `/proc` cannot be read.
    #[must_use]
    pub fn elapsed(&self) -> (Option<f64>, f64) {
        let wall = self.start.elapsed().as_secs_f64();
        let now = Process::myself().ok().and_then(|p| cpu_seconds(&p).ok());
        match (self.start_cpu, now) {
            (Some(a), Some(b)) => (Some((b - a).max(0.0)), wall),
            _ => (None, wall),
        }
    }
}

/// What was learned about the server process.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerReport {
    /// The process id sampled.
    pub pid: i32,
    /// Number of samples taken.
    pub samples: u64,
    /// RSS before the run's connections were opened.
    pub baseline_rss_bytes: u64,
    /// Highest RSS seen.
    pub peak_rss_bytes: u64,
    /// (peak - baseline) / connections, when connections were open.
    pub rss_per_connection_bytes: Option<f64>,
    /// User + system CPU seconds the server used during the run.
    pub cpu_seconds: f64,
    /// `cpu_seconds` / wall seconds (1.0 = one core fully busy).
    pub cpu_cores_used: f64,
    /// User + system CPU seconds the server used within the scenario's
    /// measured window alone: its CPU time read when the window opened and
    /// when it closed (each reading within about a millisecond of the
    /// boundary, Tokio's timer, and to one clock tick of `/proc`, USER_HZ).
    /// `None` when the scenario has no such window (`echo` sets it, and
    /// `connect` for its hold), a reading failed, or the run ended before
    /// the window closed.
    pub measured_cpu_seconds: Option<f64>,
    /// Set when sampling stopped early (e.g. the process exited).
    pub error: Option<String>,
}

/// A running sampler of one process.
#[derive(Debug)]
pub struct ServerSampler {
    pid: i32,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<ServerReport>,
    window: Option<Window>,
}

/// The readings of the measured window, taken on a task of their own.
#[derive(Debug)]
struct Window {
    end: Instant,
    handle: JoinHandle<Option<f64>>,
}

/// The CPU seconds process `pid` uses from `start` to `end`: one reading
/// at each, waited for on the timer; `None` when either reading fails.
async fn cpu_between(pid: i32, start: Instant, end: Instant) -> Option<f64> {
    tokio::time::sleep_until(start.into()).await;
    let proc = Process::new(pid).ok()?;
    let first = cpu_seconds(&proc).ok()?;
    tokio::time::sleep_until(end.into()).await;
    let last = cpu_seconds(&proc).ok()?;
    Some((last - first).max(0.0))
}

impl ServerSampler {
    /// Check that `pid` can be read, take the baseline sample, and start sampling.
    ///
    /// # Errors
    /// [`LoadgenError::Process`] when the process does not exist or `/proc` cannot be read.
    pub fn start(pid: i32) -> Result<Self, LoadgenError> {
        let err = |reason: String| LoadgenError::Process { pid, reason };
        let proc = Process::new(pid).map_err(|e| err(e.to_string()))?;
        let cpu0 = cpu_seconds(&proc).map_err(err)?;
        let rss0 = rss_bytes(&proc).map_err(err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let handle = tokio::spawn(async move {
            let start = Instant::now();
            let mut report = ServerReport {
                pid,
                samples: 1,
                baseline_rss_bytes: rss0,
                peak_rss_bytes: rss0,
                ..ServerReport::default()
            };
            let mut last_cpu = cpu0;
            let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let stopping = stop2.load(Ordering::Relaxed);
                match (rss_bytes(&proc), cpu_seconds(&proc)) {
                    (Ok(rss), Ok(cpu)) => {
                        report.samples += 1;
                        report.peak_rss_bytes = report.peak_rss_bytes.max(rss);
                        last_cpu = cpu;
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        report.error = Some(e);
                        break;
                    }
                }
                if stopping {
                    break;
                }
                ticker.tick().await;
            }
            report.cpu_seconds = (last_cpu - cpu0).max(0.0);
            let wall = start.elapsed().as_secs_f64();
            if wall > 0.0 {
                report.cpu_cores_used = report.cpu_seconds / wall;
            }
            report
        });
        Ok(Self {
            pid,
            stop,
            handle,
            window: None,
        })
    }

    /// Read the server's CPU time when the measured window opens (`start`)
    /// and when it closes (`end`), for `measured_cpu_seconds`; a second call
    /// replaces the first.
    pub fn measure_window(&mut self, start: Instant, end: Instant) {
        if let Some(old) = self.window.take() {
            old.handle.abort();
        }
        self.window = Some(Window {
            end,
            handle: tokio::spawn(cpu_between(self.pid, start, end)),
        });
    }

    /// Take a last sample and return the report; `connections` is how many were open at the peak.
    pub async fn finish(self, connections: usize) -> ServerReport {
        self.stop.store(true, Ordering::Relaxed);
        let measured = match self.window {
            // The closing reading is due (or taken): wait for it.
            Some(w) if Instant::now() >= w.end => w.handle.await.ok().flatten(),
            // The run ended early (every connection gone): the window's CPU
            // would be a part of it, so there is none to report.
            Some(w) => {
                w.handle.abort();
                None
            }
            None => None,
        };
        let mut report = match self.handle.await {
            Ok(r) => r,
            Err(e) => ServerReport {
                pid: self.pid,
                error: Some(format!("sampler task failed: {e}")),
                ..ServerReport::default()
            },
        };
        report.measured_cpu_seconds = measured;
        if connections > 0 && report.samples > 1 {
            report.rss_per_connection_bytes = Some(
                report
                    .peak_rss_bytes
                    .saturating_sub(report.baseline_rss_bytes) as f64
                    / connections as f64,
            );
        }
        report
    }
}

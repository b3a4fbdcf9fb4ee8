//! The environment a run records in `run.json`: date, git state, rustc,
//! machine, and the open-files limit (raised if the hard limit allows).

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::manifest::{GitInfo, Machine};

/// Now, RFC 3339 UTC to the second.
#[must_use]
pub fn now_utc() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// A command's trimmed stdout, when it ran and succeeded.
fn output_of(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The commit and dirtiness of the work tree at `dir`. What the comparison
/// itself writes (`results/`, `RESULTS.md`) does not count as dirt: it is
/// always being rewritten while a comparison runs.
#[must_use]
pub fn git(dir: &Path) -> GitInfo {
    let status = [
        "status",
        "--porcelain",
        "--",
        ".",
        ":(exclude)results",
        ":(exclude)RESULTS.md",
    ];
    GitInfo {
        commit: output_of("git", &["rev-parse", "HEAD"], dir).unwrap_or_else(|| "unknown".into()),
        dirty: output_of("git", &status, dir).is_some_and(|s| !s.is_empty()),
    }
}

/// `rustc --version`.
#[must_use]
pub fn rustc(dir: &Path) -> String {
    output_of("rustc", &["--version"], dir).unwrap_or_else(|| "unknown".into())
}

/// The first `key : value` line of a `/proc` file whose key is `key`.
fn proc_field(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

/// CPU, cores, memory, kernel, open-files limit.
#[must_use]
pub fn machine() -> Machine {
    let memory_bytes = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    Machine {
        cpu_model: proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into()),
        cores: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        memory_bytes,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned()),
        open_files_limit: getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft),
    }
}

/// Raise the soft open-files limit to at least `wanted` (up to the hard
/// limit), for this process and so for its children. Returns the soft limit
/// in force afterwards.
#[must_use]
pub fn raise_open_files(wanted: u64) -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < wanted => {
            let target = wanted.min(hard);
            if setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
                target
            } else {
                soft
            }
        }
        Ok((soft, _)) => soft,
        Err(_) => 0,
    }
}

/// The machine's CPU time so far, from the first line of `/proc/stat`: the
/// ticks the hypervisor stole, and all ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTicks {
    /// `steal`: time the vCPUs were runnable but the host ran something else.
    pub steal: u64,
    /// The sum of every field of the line.
    pub total: u64,
}

impl CpuTicks {
    /// Now, or `None` where `/proc/stat` cannot be read or parsed.
    #[must_use]
    pub fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(stat.lines().next()?)
    }

    /// The aggregate `cpu  user nice system idle iowait irq softirq steal …`
    /// line; kernels before 2.6.11 have no steal field.
    #[must_use]
    pub fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let ticks: Vec<u64> = fields.map(str::parse).collect::<Result<_, _>>().ok()?;
        Some(Self {
            steal: *ticks.get(7)?,
            total: ticks.iter().sum(),
        })
    }

    /// The share of CPU time stolen between `self` and `later`; `None` when
    /// no time passed (or the counters went backwards).
    #[must_use]
    pub fn steal_until(self, later: Self) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let steal = later.steal.checked_sub(self.steal)?;
        (total > 0).then(|| steal as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_field_of_the_cpu_line() {
        let before = CpuTicks::parse("cpu  100 0 50 800 10 0 5 35 0 0").expect("parses");
        assert_eq!(
            before,
            CpuTicks {
                steal: 35,
                total: 1000
            }
        );
        let after = CpuTicks::parse("cpu  150 0 70 1500 10 0 5 65 0 0").expect("parses");
        let steal = before.steal_until(after).expect("time passed");
        assert!((steal - 30.0 / 800.0).abs() < 1e-12, "{steal}");
    }

    #[test]
    fn lines_without_steal_or_time_give_none() {
        assert_eq!(CpuTicks::parse("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(CpuTicks::parse("cpu 1 2 3 4"), None);
        assert_eq!(CpuTicks::parse("cpu 1 x 3 4 5 6 7 8"), None);
        let same = CpuTicks {
            steal: 1,
            total: 10,
        };
        assert_eq!(same.steal_until(same), None);
    }
}

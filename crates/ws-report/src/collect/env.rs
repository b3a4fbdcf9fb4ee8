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

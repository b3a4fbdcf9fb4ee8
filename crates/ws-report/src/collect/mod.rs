//! `ws-report collect`: every `ws-loadgen` scenario against every server,
//! each server a fresh child process on a free loopback port, results under
//! `results/` (see [`crate::layout`]) and the whole run described in `run.json`.

pub mod env;
pub mod plan;
pub mod process;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::layout::Layout;
use crate::manifest::{Mode, RunManifest, RunRecord, ShutdownRecord};
use crate::{Error, Result, fsio};
use plan::{Params, Run};
use process::ChildGuard;

/// How long a server may take to answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a server may take to exit after SIGTERM (its shutdown grace is 5 s).
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long a server may take to answer `GET /metrics` after a run.
const METRICS_TIMEOUT: Duration = Duration::from_secs(5);
/// Slack on top of a load run's own bound (warm-up + duration + hold + drain + close).
const LOAD_SLACK: Duration = Duration::from_secs(90);
/// Core of a pinned server; the load goes on the next one.
const SERVER_CORE: &str = "0";
/// Core of a pinned load generator.
const LOAD_CORE: &str = "1";

/// What to collect and where.
#[derive(Clone, Debug)]
pub struct Options {
    /// The results directory.
    pub out: PathBuf,
    /// Where the release binaries are.
    pub bin_dir: PathBuf,
    /// Smoke-run parameters.
    pub quick: bool,
    /// The work tree, for the git state.
    pub workspace: PathBuf,
    /// `collect`'s own command line, recorded in `run.json`.
    pub command: Vec<String>,
}

/// The hypervisor's share of the CPU time (`steal`) above which a run is
/// run again: its millisecond tails would be the host's, not the server's.
pub const STEAL_RETRY: f64 = 0.05;

/// How many times a run is run again for steal at most: a host that stays
/// busy must not stretch the comparison past its budget. The last attempt
/// is kept, with its steal recorded.
pub const STEAL_RETRIES: u32 = 1;

/// Run everything, write `run.json`, and report progress through `progress`.
///
/// Runs that fail are recorded with their error and the others go on; the
/// function then returns [`Error::RunsFailed`] after writing `run.json`.
///
/// # Errors
/// Missing binaries, I/O errors, or failed runs.
pub fn collect(opts: &Options, progress: &mut dyn FnMut(&str)) -> Result<RunManifest> {
    let params = if opts.quick {
        Params::quick()
    } else {
        Params::full()
    };
    let loadgen = opts.bin_dir.join("ws-loadgen");
    for bin in plan::runs(&params)
        .iter()
        .map(|r| opts.bin_dir.join(r.server.name))
        .chain([loadgen.clone()])
    {
        if !bin.is_file() {
            return Err(Error::Invalid(format!(
                "{} not found: build with `cargo build --release --workspace --bins` (or pass --bin-dir)",
                bin.display()
            )));
        }
    }
    // Each of server and generator holds one descriptor per connection.
    let _ = env::raise_open_files(params.memory_conns as u64 + 4096);
    let layout = Layout::new(&opts.out);
    for dir in [
        "latency",
        "load-curve",
        "slow",
        "memory",
        "reliability",
        "throughput",
        "saturation",
        "heartbeat",
    ] {
        fsio::remove_dir_all_if_exists(&layout.root().join(dir))?;
    }
    let mut manifest = RunManifest {
        command: opts.command.clone(),
        quick: opts.quick,
        date_utc: env::now_utc(),
        git: env::git(&opts.workspace),
        rustc: env::rustc(&opts.workspace),
        machine: env::machine(),
        modes: plan::modes(&params),
        runs: Vec::new(),
    };
    let runs = plan::runs(&params);
    progress(&estimate(&runs).to_string());
    let mut failed = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let label = format!(
            "[{}/{}] {} {} {} {}{}",
            i + 1,
            runs.len(),
            run.stem().split('/').next().unwrap_or_default(),
            run.mode.name(),
            run.server.name,
            run.case,
            run.repeat
                .map(|r| format!(" (repeat {r})"))
                .unwrap_or_default()
        );
        let started = Instant::now();
        let mut record = RunRecord {
            scenario: run.scenario,
            server: run.server.name.to_owned(),
            mode: run.mode,
            case: run.case.clone(),
            rate: run.rate,
            stem: run.stem(),
            server_command: Vec::new(),
            load_command: Vec::new(),
            error: None,
            server_panics: None,
            flush: run.flush.map(str::to_owned),
            repeat: run.repeat,
            steal: None,
            steal_retries: None,
            shutdown: None,
        };
        let mut outcome;
        let mut attempts = 0;
        loop {
            let ticks = env::CpuTicks::now();
            outcome = resolve_rate(run, &layout).and_then(|run| {
                record.rate = run.rate;
                execute(&run, opts, &layout, &loadgen, &mut record)
            });
            record.steal = ticks
                .zip(env::CpuTicks::now())
                .and_then(|(before, after)| before.steal_until(after));
            let stolen = record.steal.is_some_and(|s| s > STEAL_RETRY);
            if !(outcome.is_ok() && stolen && attempts < STEAL_RETRIES) {
                break;
            }
            attempts += 1;
            progress(&format!(
                "{label}: the host took {:.1}% of the CPU time: running it again",
                record.steal.unwrap_or_default() * 100.0
            ));
        }
        record.steal_retries = (attempts > 0).then_some(attempts);
        // Counted whatever the outcome: a panic is worth reporting most when the run failed.
        record.server_panics = count_panics(&layout.run_file(&record.stem, "server.log"));
        match outcome {
            Ok(note) => progress(&format!(
                "{label}: ok ({:.1} s){}",
                started.elapsed().as_secs_f64(),
                note.map(|n| format!("; /metrics not saved: {n}"))
                    .unwrap_or_default()
            )),
            Err(e) => {
                progress(&format!("{label}: FAILED: {e}"));
                failed.push(format!("{}: {e}", record.stem));
                record.error = Some(e.to_string());
            }
        }
        manifest.runs.push(record);
        // Written after every run, so an interrupted collection keeps what it has.
        fsio::write_json(&layout.run_json(), &manifest)?;
    }
    if failed.is_empty() {
        Ok(manifest)
    } else {
        Err(Error::RunsFailed(failed))
    }
}

/// The run with its offered rate known: a run whose rate is a share of an
/// earlier run's achieved rate reads that run's result now.
fn resolve_rate(run: &Run, layout: &Layout) -> Result<Run> {
    let (Some(of), Some(source)) = (&run.rate_of, run.rate_source()) else {
        return Ok(run.clone());
    };
    let json = layout.run_file(&source, "json");
    if !json.is_file() {
        return Err(Error::Process(format!(
            "no maximum to take {}% of: {source} has no result (did it fail?)",
            of.percent
        )));
    }
    let measured: crate::loadgen::EchoResult = fsio::read_json(&json)?;
    let rate = measured.throughput_msgs_per_s * f64::from(of.percent) / 100.0;
    if !rate.is_finite() || rate < 1.0 {
        return Err(Error::Process(format!(
            "{source} achieved {} messages/s: no rate to offer",
            measured.throughput_msgs_per_s
        )));
    }
    // Saturating float-to-int: a rate above u32::MAX is impossible here anyway.
    Ok(run.with_rate(rate.round() as u32))
}

/// The estimate of the full (or `--quick`) plan, without running anything.
#[must_use]
pub fn plan_estimate(quick: bool) -> Estimate {
    let params = if quick {
        Params::quick()
    } else {
        Params::full()
    };
    estimate(&plan::runs(&params))
}

/// The up-front estimate of a collection: how many runs, and how long.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Runs planned.
    pub runs: usize,
    /// Estimated seconds per scenario directory, in plan order.
    pub by_scenario: Vec<(&'static str, usize, f64)>,
}

impl Estimate {
    /// Estimated seconds in all.
    #[must_use]
    pub fn total_s(&self) -> f64 {
        self.by_scenario.iter().map(|(_, _, s)| s).sum()
    }
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total = self.total_s();
        write!(
            f,
            "plan: {} runs, about {:.0} s ({:.1} min):",
            self.runs,
            total,
            total / 60.0
        )?;
        for (dir, n, s) in &self.by_scenario {
            write!(f, " {dir} {n} runs {s:.0} s;")?;
        }
        Ok(())
    }
}

/// Seconds a run costs beyond its load's own durations: starting the
/// server and waiting for `/healthz`, the generator's start and connects,
/// saving `/metrics`, stopping the server. From the `ok (… s)` lines of a
/// `--quick` collection on the 2-core machine (0.2 s a run), with margin.
pub const RUN_OVERHEAD_S: f64 = 0.5;

/// Handshakes per second a `connect` run gets through with many
/// connections: 2,800–4,200 for 19,000 in the committed run at f0485be (the
/// generator's core is the limit), so a little under the middle.
const CONNECTS_PER_S: f64 = 3_500.0;

/// The seconds a `connect` run spends opening its connections before its
/// hold, which the estimate used to leave out.
fn connecting_s(run: &Run) -> f64 {
    if run.subcommand != "connect" {
        return 0.0;
    }
    run.args
        .windows(2)
        .find(|w| w[0] == "--conns")
        .and_then(|w| w[1].parse::<f64>().ok())
        .map_or(0.0, |conns| conns / CONNECTS_PER_S)
}

/// The estimate for `runs`: each run's warm-up, duration, hold and settle
/// (up to the SIGTERM for a shutdown run), its drain bound when a room
/// member reads slowly or not at all (then the drain runs out), plus
/// [`RUN_OVERHEAD_S`].
#[must_use]
pub fn estimate(runs: &[Run]) -> Estimate {
    let mut by_scenario: Vec<(&'static str, usize, f64)> = Vec::new();
    for run in runs {
        let busy = run.sigterm_after.map_or_else(
            || {
                if run.subcommand == "slow" {
                    load_bound(&run.args)
                } else {
                    busy_bound(&run.args)
                }
            },
            |after| humantime::parse_duration(after).unwrap_or_default(),
        );
        let s = busy.as_secs_f64() + connecting_s(run) + RUN_OVERHEAD_S;
        let dir = run.scenario.dir();
        match by_scenario.iter_mut().find(|(d, _, _)| *d == dir) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += s;
            }
            None => by_scenario.push((dir, 1, s)),
        }
    }
    Estimate {
        runs: runs.len(),
        by_scenario,
    }
}

/// Lines of a server log that report a panic (`thread '…' panicked at …`);
/// `None` when there is no log.
fn count_panics(log: &Path) -> Option<u64> {
    let bytes = std::fs::read(log).ok()?;
    Some(
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.contains("panicked"))
            .count() as u64,
    )
}

fn arg(p: &Path) -> String {
    p.display().to_string()
}

/// One run: start the server, wait for it, run the load, save its
/// `/metrics`, stop the server. `Ok(Some(note))` when the run succeeded but
/// its `/metrics` could not be saved.
fn execute(
    run: &Run,
    opts: &Options,
    layout: &Layout,
    loadgen: &Path,
    record: &mut RunRecord,
) -> Result<Option<String>> {
    let stem = run.stem();
    let port = process::free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server_cmd = Vec::new();
    if run.mode == Mode::Pinned {
        server_cmd.extend(["taskset", "-c", SERVER_CORE].map(String::from));
    }
    server_cmd.extend([
        arg(&opts.bin_dir.join(run.server.name)),
        "--addr".into(),
        addr.to_string(),
        "--workers".into(),
        plan::workers(run.mode).to_string(),
    ]);
    server_cmd.extend(run.server_args.iter().cloned());
    record.server_command.clone_from(&server_cmd);

    let log_path = layout.run_file(&stem, "server.log");
    let log = create(&log_path)?;
    let log2 = log.try_clone().map_err(fsio::io_err(&log_path))?;
    let mut server = ChildGuard::spawn(
        run.server.name,
        command(&server_cmd).stdout(log).stderr(log2),
    )?;
    process::wait_healthy(&mut server, addr, STARTUP_TIMEOUT)?;
    check_comm(server.pid(), run.server.name)?;

    let json = layout.run_file(&stem, "json");
    let mut load_cmd = vec![
        arg(loadgen),
        run.subcommand.into(),
        "--url".into(),
        format!("ws://{addr}{}", run.route),
    ];
    load_cmd.extend(run.args.iter().cloned());
    if run.server_pid {
        load_cmd.extend(["--server-pid".into(), server.pid().to_string()]);
    }
    if run.metrics {
        load_cmd.extend(["--metrics-url".into(), format!("http://{addr}/metrics")]);
    }
    load_cmd.extend([
        "--json".into(),
        arg(&json),
        "--hdr".into(),
        arg(&layout.run_file(&stem, "hdr")),
    ]);
    if run.mode == Mode::Pinned {
        load_cmd.extend(["--cpu".into(), LOAD_CORE.into()]);
    }
    record.load_command.clone_from(&load_cmd);
    let stdout = create(&layout.run_file(&stem, "stdout"))?;
    let stderr_path = layout.run_file(&stem, "stderr");
    let stderr = create(&stderr_path)?;
    let mut load = ChildGuard::spawn(
        "ws-loadgen",
        command(&load_cmd).stdout(stdout).stderr(stderr),
    )?;
    let load_started = Instant::now();
    // The server's exit, when the run stopped it under load.
    let mut stopped = None;
    if let Some(after) = run.sigterm_after {
        let after = humantime::parse_duration(after)
            .map_err(|e| Error::Invalid(format!("sigterm_after {after:?}: {e}")))?;
        std::thread::sleep(after);
        if let Some(status) = load.try_wait()? {
            return Err(Error::Process(format!(
                "ws-loadgen ended ({status}) before the SIGTERM: no load to shut down under"
            )));
        }
        let sigterm_after_s = load_started.elapsed().as_secs_f64();
        let exit = server.terminate_timed(STOP_GRACE);
        record.shutdown = Some(ShutdownRecord {
            sigterm_after_s,
            exit_s: exit.as_ref().ok().map(|(_, took)| took.as_secs_f64()),
            status: match &exit {
                Ok((status, _)) => status.to_string(),
                Err(e) => e.to_string(),
            },
        });
        stopped = Some(exit.map(|(status, _)| status));
    }
    let status = load.wait_timeout(load_bound(&run.args) + LOAD_SLACK)?;
    // Read now, while the server is still up, so its counters cover the whole
    // run; before the load's status is checked, so a failed run keeps them
    // too. Not after a SIGTERM: that server is gone or going.
    let metrics_note = match stopped {
        Some(_) => None,
        None => save_metrics(&mut server, addr, &layout.run_metrics(&stem)).err(),
    };
    if !status.success() {
        let why = fsio::read_string(&stderr_path).unwrap_or_default();
        return Err(Error::Process(format!(
            "ws-loadgen {status}: {}",
            why.lines().last().unwrap_or("(no stderr)")
        )));
    }
    if !json.is_file() {
        return Err(Error::Process(format!(
            "ws-loadgen wrote no {}",
            json.display()
        )));
    }
    let status = match stopped {
        Some(exit) => exit?,
        None => server.stop(STOP_GRACE)?,
    };
    if !status.success() {
        return Err(Error::Process(format!(
            "{} {status} after SIGTERM (see {})",
            run.server.name,
            log_path.display()
        )));
    }
    Ok(metrics_note)
}

/// Save a live server's `GET /metrics` text to `path`. Never fatal to the
/// run: the error says why nothing was saved.
fn save_metrics(server: &mut ChildGuard, addr: SocketAddr, path: &Path) -> Result<(), String> {
    match server.try_wait() {
        Ok(None) => {}
        Ok(Some(status)) => return Err(format!("the server had already exited ({status})")),
        Err(e) => return Err(e.to_string()),
    }
    let text = process::fetch_metrics(addr, METRICS_TIMEOUT).map_err(|e| e.to_string())?;
    fsio::write(path, text).map_err(|e| e.to_string())
}

fn command(argv: &[String]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null());
    cmd
}

fn create(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        fsio::create_dir_all(parent)?;
    }
    File::create(path).map_err(fsio::io_err(path))
}

/// The sum of the durations in a run's arguments (warm-up, duration, hold,
/// drain, settle): how long its load may take at most.
fn load_bound(args: &[String]) -> Duration {
    durations(
        args,
        &[
            "--duration",
            "--warmup",
            "--hold",
            "--drain-timeout",
            "--settle",
        ],
    )
}

/// What a run's load usually takes: [`load_bound`] without the drain, which
/// ends as soon as the last reply is in.
fn busy_bound(args: &[String]) -> Duration {
    durations(args, &["--duration", "--warmup", "--hold", "--settle"])
}

fn durations(args: &[String], flags: &[&str]) -> Duration {
    args.windows(2)
        .filter(|w| flags.contains(&w[0].as_str()))
        .filter_map(|w| humantime::parse_duration(&w[1]).ok())
        .sum()
}

/// The process we sample must be the server itself, not `taskset` (which execs it).
fn check_comm(pid: u32, name: &str) -> Result<()> {
    let path = PathBuf::from(format!("/proc/{pid}/comm"));
    let comm = fsio::read_string(&path)?;
    // The kernel keeps the first 15 bytes of the name.
    let expected = &name.as_bytes()[..name.len().min(15)];
    if comm.trim_end().as_bytes() == expected {
        Ok(())
    } else {
        Err(Error::Process(format!(
            "pid {pid} is {:?}, not {name}: memory and CPU would be sampled from the wrong process",
            comm.trim_end()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plans_fit_their_budgets() {
        // The full comparison has 60 minutes. A cold build takes about 6 and
        // Criterion's three passes about 6 (356 s at 603888f), which leaves
        // 48 for collect and render; the committed run at 603888f took 0.93
        // of its estimate for them (2797 s of 3017 s, connects counted), so
        // the estimate may reach 50.5. That is the edge: a plan that grows
        // must give something up.
        let full = plan_estimate(false);
        assert!(full.total_s() <= 50.5 * 60.0, "{full}");
        // The quick path has 5: about a minute of Criterion leaves 3.5.
        let quick = plan_estimate(true);
        assert!(quick.total_s() <= 3.5 * 60.0, "{quick}");
        assert_eq!(
            full.runs,
            full.by_scenario.iter().map(|(_, n, _)| n).sum::<usize>()
        );
    }

    #[test]
    fn the_estimate_counts_warmup_and_duration_and_the_drain_only_of_slow_rooms() {
        let p = Params::quick();
        let runs = plan::runs(&p);
        let echo = runs
            .iter()
            .find(|r| r.scenario == crate::manifest::Scenario::LoadCurve)
            .expect("a load-curve run");
        let e = estimate(std::slice::from_ref(echo));
        let busy = humantime::parse_duration(p.load_duration).expect("duration")
            + humantime::parse_duration(p.load_warmup).expect("warm-up");
        assert!((e.total_s() - busy.as_secs_f64() - RUN_OVERHEAD_S).abs() < 1e-9);
        let slow = runs
            .iter()
            .find(|r| r.subcommand == "slow")
            .expect("a slow run");
        let e = estimate(std::slice::from_ref(slow));
        assert!((e.total_s() - load_bound(&slow.args).as_secs_f64() - RUN_OVERHEAD_S).abs() < 1e-9);
    }
}

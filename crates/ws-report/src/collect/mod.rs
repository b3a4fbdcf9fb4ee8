//! `ws-report collect`: every `ws-loadgen` scenario against every server,
//! each server a fresh child process on a free loopback port, results under
//! `results/` (see [`crate::layout`]) and the whole run described in `run.json`.
//! The runs of a slice group ([`plan::Run::slice_group`]) have their servers
//! started together and measured by turns in one `ws-loadgen` run.

pub mod env;
pub mod plan;
pub mod process;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
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
/// Extension of a sliced run's own report (every member's, as
/// `ws-loadgen` wrote it), kept at its first member's stem as the raw
/// record the members' `.json` files were split from.
pub const SLICED_EXT: &str = "sliced.json";

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
    // Every scenario's directory, so that no file of an earlier collection
    // (a `.hdr` the sliced runs no longer write, a repeat no longer
    // planned) stays beside the new ones.
    for dir in [
        "latency",
        "load-curve",
        "slow",
        "slow-readers",
        "memory",
        "reliability",
        "ceiling",
        "throughput",
        "saturation",
        "heartbeat",
        "replay",
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
    let mut done = 0;
    for step in plan::steps(&runs) {
        let label = step_label(step, done, runs.len());
        done += step.len();
        let started = Instant::now();
        let mut records: Vec<RunRecord> = step.iter().map(record_of).collect();
        let mut outcome;
        let mut attempts = 0;
        loop {
            let ticks = env::CpuTicks::now();
            outcome = step
                .iter()
                .map(|run| resolve_rate(run, &layout))
                .collect::<Result<Vec<Run>>>()
                .and_then(|step| {
                    for (record, run) in records.iter_mut().zip(&step) {
                        record.rate = run.rate;
                    }
                    execute(&step, opts, &layout, &loadgen, &mut records)
                });
            let steal = ticks
                .zip(env::CpuTicks::now())
                .and_then(|(before, after)| before.steal_until(after));
            for record in &mut records {
                record.steal = steal;
            }
            let stolen = steal.is_some_and(|s| s > STEAL_RETRY);
            if !(outcome.is_ok() && stolen && attempts < STEAL_RETRIES) {
                break;
            }
            attempts += 1;
            progress(&format!(
                "{label}: the host took {:.1}% of the CPU time: running it again",
                steal.unwrap_or_default() * 100.0
            ));
        }
        for record in &mut records {
            record.steal_retries = (attempts > 0).then_some(attempts);
            // Counted whatever the outcome: a panic is worth reporting most when the run failed.
            record.server_panics = count_panics(&layout.run_file(&record.stem, "server.log"));
        }
        match outcome {
            Ok(notes) => {
                let sliced = records.len() > 1;
                let notes: String = records
                    .iter()
                    .zip(notes)
                    .filter_map(|(record, note)| {
                        let whose = if sliced {
                            format!(" of {}", record.stem)
                        } else {
                            String::new()
                        };
                        note.map(|n| format!("; /metrics{whose} not saved: {n}"))
                    })
                    .collect();
                progress(&format!(
                    "{label}: ok ({:.1} s){notes}",
                    started.elapsed().as_secs_f64()
                ));
            }
            Err(e) => {
                progress(&format!("{label}: FAILED: {e}"));
                for record in &mut records {
                    failed.push(format!("{}: {e}", record.stem));
                    record.error = Some(e.to_string());
                }
            }
        }
        manifest.runs.extend(records);
        // Written after every step, so an interrupted collection keeps what it has.
        fsio::write_json(&layout.run_json(), &manifest)?;
    }
    if failed.is_empty() {
        Ok(manifest)
    } else {
        Err(Error::RunsFailed(failed))
    }
}

/// The progress label of a step: `[3/556] latency pinned ws-std-mutex
/// rate-20000`, or for a slice group `[21-30/636] throughput/inflight-64/r2
/// pinned: 10 servers by turns`; `done` runs came before it.
fn step_label(step: &[Run], done: usize, total: usize) -> String {
    match step {
        [run] => format!(
            "[{}/{total}] {} {} {} {}{}",
            done + 1,
            run.scenario.dir(),
            run.mode.name(),
            run.server.name,
            run.case,
            run.repeat
                .map(|r| format!(" (repeat {r})"))
                .unwrap_or_default()
        ),
        _ => format!(
            "[{}-{}/{total}] {} {}: {} servers by turns",
            done + 1,
            done + step.len(),
            step.first()
                .and_then(|r| r.slice_group.as_deref())
                .unwrap_or_default(),
            step.first().map(|r| r.mode.name()).unwrap_or_default(),
            step.len()
        ),
    }
}

/// A run's record before it ran: what the plan says of it.
fn record_of(run: &Run) -> RunRecord {
    RunRecord {
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
    /// `ws-loadgen` runs planned: fewer than `runs`, because the runs of a
    /// slice group share one.
    pub loads: usize,
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
            "plan: {} runs ({} ws-loadgen runs), about {:.0} s ({:.1} min):",
            self.runs,
            self.loads,
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
    // A room's members connect before it is measured as well: a few
    // milliseconds for most rooms, seconds for the large ones.
    if run.subcommand != "connect" && run.subcommand != "room" {
        return 0.0;
    }
    run.args
        .windows(2)
        .find(|w| w[0] == "--conns")
        .and_then(|w| w[1].parse::<f64>().ok())
        .map_or(0.0, |conns| conns / CONNECTS_PER_S)
}

/// Bytes a second the hostile clients' messages reach the server at: about
/// 800 MB/s measured by hand (9 × 31 MiB in 0.35 s, the canary's echoes
/// counted), less a quarter for margin.
const HOSTILE_BYTES_PER_S: f64 = 600e6;

/// What a `hostile` run takes beyond its flags' durations: the canary's
/// quiet second, the control's and the attack's bytes, the wait for the
/// attackers' outcomes, and the slow requests (the handshake timeout and
/// the slack a close is allowed).
fn hostile_s(run: &Run) -> f64 {
    use ws_loadgen::hostile::{CLOSE_SLACK, OUTCOME_BOUND, QUIET_FOR};
    if run.subcommand != "hostile" {
        return 0.0;
    }
    let value = |flag: &str| {
        run.args
            .windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1].as_str())
    };
    let number = |flag: &str| {
        value(flag)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let handshake = value("--handshake-timeout")
        .and_then(|v| humantime::parse_duration(v).ok())
        .unwrap_or_default();
    let bytes = 2.0 * number("--attackers") * number("--partial");
    (QUIET_FOR + OUTCOME_BOUND + handshake + CLOSE_SLACK).as_secs_f64()
        + bytes / HOSTILE_BYTES_PER_S
}

/// The estimate for `runs`: each step's warm-up, duration, hold and settle
/// (up to the SIGTERM for a shutdown run), its drain bound when a room
/// member reads slowly or not at all (then the drain runs out), plus
/// [`RUN_OVERHEAD_S`] per server. A slice group is one step: its members
/// share one load, so its durations count once and its servers each.
#[must_use]
pub fn estimate(runs: &[Run]) -> Estimate {
    let mut by_scenario: Vec<(&'static str, usize, f64)> = Vec::new();
    let mut loads = 0;
    for step in plan::steps(runs) {
        let Some(run) = step.first() else {
            continue;
        };
        loads += 1;
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
        let servers = step.len() as f64;
        let s = busy.as_secs_f64() + connecting_s(run) + hostile_s(run) + RUN_OVERHEAD_S * servers;
        let dir = run.scenario.dir();
        match by_scenario.iter_mut().find(|(d, _, _)| *d == dir) {
            Some(entry) => {
                entry.1 += step.len();
                entry.2 += s;
            }
            None => by_scenario.push((dir, step.len(), s)),
        }
    }
    Estimate {
        runs: runs.len(),
        loads,
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

/// A server started for a run: its process, where it listens and where it logs.
struct Server {
    process: ChildGuard,
    addr: SocketAddr,
    name: &'static str,
    log: PathBuf,
}

impl Server {
    /// Start `run`'s server on a free loopback port (on [`SERVER_CORE`]
    /// when pinned), its output to `<stem>.server.log`, its command line
    /// into `record`; wait until it answers `/healthz` and check that the
    /// process we hold is the server itself.
    fn start(run: &Run, opts: &Options, layout: &Layout, record: &mut RunRecord) -> Result<Self> {
        let port = process::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = Vec::new();
        if run.mode == Mode::Pinned {
            cmd.extend(["taskset", "-c", SERVER_CORE].map(String::from));
        }
        cmd.extend([
            arg(&opts.bin_dir.join(run.server.name)),
            "--addr".into(),
            addr.to_string(),
            "--workers".into(),
            plan::workers(run.mode).to_string(),
        ]);
        cmd.extend(run.server_args.iter().cloned());
        record.server_command.clone_from(&cmd);
        let log_path = layout.run_file(&run.stem(), "server.log");
        let log = create(&log_path)?;
        let log2 = log.try_clone().map_err(fsio::io_err(&log_path))?;
        let mut process =
            ChildGuard::spawn(run.server.name, command(&cmd).stdout(log).stderr(log2))?;
        process::wait_healthy(&mut process, addr, STARTUP_TIMEOUT)?;
        check_comm(process.pid(), run.server.name)?;
        Ok(Self {
            process,
            addr,
            name: run.server.name,
            log: log_path,
        })
    }

    /// Stop it by SIGTERM, or take `exit` when the run already did; an
    /// exit other than success is an error naming its log.
    fn stop(self, exit: Option<Result<ExitStatus>>) -> Result<()> {
        let status = match exit {
            Some(exit) => exit?,
            None => self.process.stop(STOP_GRACE)?,
        };
        if status.success() {
            Ok(())
        } else {
            Err(Error::Process(format!(
                "{} {status} after SIGTERM (see {})",
                self.name,
                self.log.display()
            )))
        }
    }
}

/// One step of the plan: a run alone, or a slice group's runs measured by
/// turns in one `ws-loadgen` run. Start every run's server, wait for each,
/// run the load, save each server's `/metrics`, split a sliced report into
/// the members' `.json` files, stop the servers. `records` are the runs',
/// in the same order; the result holds, per run, `Some(note)` when the
/// run succeeded but its `/metrics` could not be saved.
fn execute(
    runs: &[Run],
    opts: &Options,
    layout: &Layout,
    loadgen: &Path,
    records: &mut [RunRecord],
) -> Result<Vec<Option<String>>> {
    let Some(first) = runs.first() else {
        return Ok(Vec::new());
    };
    let sliced = runs.len() > 1;
    if sliced {
        check_slice_group(runs)?;
    }
    let mut servers = Vec::with_capacity(runs.len());
    for (run, record) in runs.iter().zip(records.iter_mut()) {
        servers.push(Server::start(run, opts, layout, record)?);
    }
    let listening: Vec<(SocketAddr, u32)> =
        servers.iter().map(|s| (s.addr, s.process.pid())).collect();
    let (load_cmd, json) = load_command(loadgen, runs, &listening, layout);
    for record in records.iter_mut() {
        record.load_command.clone_from(&load_cmd);
    }
    let stem = first.stem();
    let stdout_path = layout.run_file(&stem, "stdout");
    let stdout = create(&stdout_path)?;
    let stderr_path = layout.run_file(&stem, "stderr");
    let stderr = create(&stderr_path)?;
    let mut load = ChildGuard::spawn(
        "ws-loadgen",
        command(&load_cmd).stdout(stdout).stderr(stderr),
    )?;
    let load_started = Instant::now();
    // The server's exit, when the run stopped it under load.
    let mut stopped = None;
    if let Some(after) = first.sigterm_after {
        let after = humantime::parse_duration(after)
            .map_err(|e| Error::Invalid(format!("sigterm_after {after:?}: {e}")))?;
        std::thread::sleep(after);
        if let Some(status) = load.try_wait()? {
            return Err(Error::Process(format!(
                "ws-loadgen ended ({status}) before the SIGTERM: no load to shut down under"
            )));
        }
        let sigterm_after_s = load_started.elapsed().as_secs_f64();
        let exit = servers[0].process.terminate_timed(STOP_GRACE);
        records[0].shutdown = Some(ShutdownRecord {
            sigterm_after_s,
            exit_s: exit.as_ref().ok().map(|(_, took)| took.as_secs_f64()),
            status: match &exit {
                Ok((status, _)) => status.to_string(),
                Err(e) => e.to_string(),
            },
        });
        stopped = Some(exit.map(|(status, _)| status));
    }
    let status = load.wait_timeout(load_bound(&first.args) + LOAD_SLACK)?;
    // Every run keeps the generator's output at its own stem, as a run alone does.
    for run in &runs[1..] {
        fsio::copy(&stdout_path, &layout.run_file(&run.stem(), "stdout"))?;
        fsio::copy(&stderr_path, &layout.run_file(&run.stem(), "stderr"))?;
    }
    // Read now, while the servers are still up, so their counters cover the
    // whole run; before the load's status is checked, so a failed run keeps
    // them too. Not after a SIGTERM: that server is gone or going.
    let notes: Vec<Option<String>> = servers
        .iter_mut()
        .zip(runs)
        .map(|(server, run)| match stopped {
            Some(_) => None,
            None => save_metrics(
                &mut server.process,
                server.addr,
                &layout.run_metrics(&run.stem()),
            )
            .err(),
        })
        .collect();
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
    if sliced {
        let members: Vec<(String, PathBuf)> = listening
            .iter()
            .zip(runs)
            .map(|((addr, _), run)| (url(*addr, run), layout.run_file(&run.stem(), "json")))
            .collect();
        split_sliced(&json, &members)?;
    }
    // Every server is stopped before the first failure is reported, so
    // each exits by SIGTERM rather than by the guard's SIGKILL.
    let mut stopping = Ok(());
    for server in servers {
        let stop = server.stop(stopped.take());
        if stopping.is_ok() {
            stopping = stop;
        }
    }
    stopping.map(|()| notes)
}

/// The WebSocket URL of `run`'s route on a server listening at `addr`.
fn url(addr: SocketAddr, run: &Run) -> String {
    format!("ws://{addr}{}", run.route)
}

/// The `ws-loadgen` command of a step whose servers listen at `servers`
/// (address and pid, in the runs' order), and the file its `--json` goes
/// to. The runs share one load (see [`check_slice_group`]), so the first
/// one's arguments are every one's. A slice group's URLs and pids follow
/// [`turn_order`]; its report goes to the first run's `.sliced.json`, to
/// be split, and it gets no `--hdr`: only the latency runs' spectra are
/// drawn, and a sliced run has one report per member rather than one
/// histogram file.
fn load_command(
    loadgen: &Path,
    runs: &[Run],
    servers: &[(SocketAddr, u32)],
    layout: &Layout,
) -> (Vec<String>, PathBuf) {
    let mut cmd = vec![arg(loadgen)];
    let Some(first) = runs.first() else {
        return (cmd, PathBuf::new());
    };
    let sliced = runs.len() > 1;
    let stem = first.stem();
    let json = layout.run_file(&stem, if sliced { SLICED_EXT } else { "json" });
    cmd.push(first.subcommand.into());
    // Each repeat starts its turns with another member, so that no server
    // always follows the same one; records stay in plan order.
    let order = turn_order(first.repeat, servers.len());
    for &i in &order {
        cmd.extend(["--url".into(), url(servers[i].0, first)]);
    }
    cmd.extend(first.args.iter().cloned());
    if first.server_pid {
        for &i in &order {
            cmd.extend(["--server-pid".into(), servers[i].1.to_string()]);
        }
    }
    if let (true, Some((addr, _))) = (first.metrics, servers.first()) {
        cmd.extend(["--metrics-url".into(), format!("http://{addr}/metrics")]);
    }
    cmd.extend(["--json".into(), arg(&json)]);
    if !sliced {
        cmd.extend(["--hdr".into(), arg(&layout.run_file(&stem, "hdr"))]);
    }
    if first.mode == Mode::Pinned {
        cmd.extend(["--cpu".into(), LOAD_CORE.into()]);
    }
    (cmd, json)
}

/// Whether a slice group's runs can share one `ws-loadgen` run: the same
/// closed-loop `echo` load on the same route and placement, and nothing
/// that addresses one server alone (its `/metrics` URL, a SIGTERM).
fn check_slice_group(runs: &[Run]) -> Result<()> {
    let Some(first) = runs.first() else {
        return Ok(());
    };
    let group = first.slice_group.as_deref().unwrap_or("(none)");
    let same = |r: &Run| {
        (r.subcommand, r.route, &r.args, r.mode, r.server_pid)
            == (
                first.subcommand,
                first.route,
                &first.args,
                first.mode,
                first.server_pid,
            )
    };
    if first.subcommand != "echo" {
        return Err(Error::Invalid(format!(
            "slice group {group}: only `echo` takes several --url, not `{}`",
            first.subcommand
        )));
    }
    if let Some(odd) = runs.iter().find(|r| !same(r)) {
        return Err(Error::Invalid(format!(
            "slice group {group}: {} has another load than {}",
            odd.stem(),
            first.stem()
        )));
    }
    if let Some(odd) = runs.iter().find(|r| r.metrics || r.sigterm_after.is_some()) {
        return Err(Error::Invalid(format!(
            "slice group {group}: {} needs a server of its own (--metrics-url or a SIGTERM)",
            odd.stem()
        )));
    }
    Ok(())
}

/// The order of a step's `k` runs in the load's `--url` list: the plan's,
/// rotated by `repeat − 1` positions, so that each repeat of a slice group
/// takes its turns in another order (the first turn and each member's
/// predecessor change).
fn turn_order(repeat: Option<u32>, k: usize) -> Vec<usize> {
    let shift = repeat.map_or(0, |r| r.saturating_sub(1) as usize) % k.max(1);
    (0..k).map(|i| (i + shift) % k).collect()
}

/// Write each member's report of a sliced run (`combined`, as
/// `ws-loadgen` wrote it) to the member's `.json`, as a run alone would
/// have written it. `members` are each member's URL and `.json` path.
fn split_sliced(combined: &Path, members: &[(String, PathBuf)]) -> Result<()> {
    let text = fsio::read_string(combined)?;
    let urls: Vec<&str> = members.iter().map(|(url, _)| url.as_str()).collect();
    let targets = sliced_targets(&text, combined, &urls)?;
    for ((_, path), target) in members.iter().zip(targets) {
        fsio::write_json(path, &target)?;
    }
    Ok(())
}

/// The reports of a sliced run's JSON `text` (read from `source`), one
/// per URL of `urls` and in their order, matched by each report's
/// `config.url` rather than by position, so that the turn order never
/// mislabels a report. Every URL must have exactly one report, and every
/// report a URL.
fn sliced_targets(text: &str, source: &Path, urls: &[&str]) -> Result<Vec<serde_json::Value>> {
    let invalid = |why: String| Error::Invalid(format!("{}: {why}", source.display()));
    let mut report: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Json {
        path: source.to_path_buf(),
        source: e,
    })?;
    let Some(serde_json::Value::Array(targets)) = report.get_mut("targets").map(std::mem::take)
    else {
        return Err(invalid(
            "no \"targets\" array: not a sliced run's report".into(),
        ));
    };
    let mut by_url: Vec<Option<serde_json::Value>> = vec![None; urls.len()];
    for target in targets {
        let url = target
            .pointer("/config/url")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| invalid("a report without config.url".into()))?;
        let i = urls
            .iter()
            .position(|u| *u == url)
            .ok_or_else(|| invalid(format!("a report for {url}, no member's URL")))?;
        if by_url[i].is_some() {
            return Err(invalid(format!("two reports for {url}")));
        }
        by_url[i] = Some(target);
    }
    urls.iter()
        .zip(by_url)
        .map(|(url, target)| target.ok_or_else(|| invalid(format!("no report for {url}"))))
        .collect()
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
    use crate::manifest::Scenario;

    #[test]
    fn the_plans_fit_their_budgets() {
        // The full comparison has 60 minutes. A cold build takes about 6 and
        // Criterion's three passes about 6 (356 s at 5527e75), which leaves
        // 48 for collect and render; the committed runs took 0.93 (2797 s
        // of 3017 s at 603888f) and 0.90 (2737 s of 3029 s at 5527e75) of
        // their estimates for them, so the estimate may reach 51.5 (47.9
        // minutes at 0.93). That is the edge: a plan that grows must give
        // something up.
        let full = plan_estimate(false);
        assert!(full.total_s() <= 51.5 * 60.0, "{full}");
        // The quick path has 5: about a minute of Criterion leaves 4, and
        // the estimate may reach 3.8 (3.4 minutes at 0.9: the quick
        // collection before the hostile runs were estimated took 3.0
        // minutes of 3.3).
        let quick = plan_estimate(true);
        assert!(quick.total_s() <= 3.8 * 60.0, "{quick}");
        assert_eq!(
            full.runs,
            full.by_scenario.iter().map(|(_, n, _)| n).sum::<usize>()
        );
    }

    /// The first throughput slice group of `p`'s plan.
    fn a_slice_group(p: &Params) -> Vec<Run> {
        let runs = plan::runs(p);
        plan::steps(&runs)
            .find(|step| step.len() > 1 && step[0].scenario == Scenario::Throughput)
            .expect("a slice group")
            .to_vec()
    }

    #[test]
    fn a_hostile_run_is_estimated_by_its_phases() {
        let runs = plan::runs(&Params::full());
        let hostile = runs
            .iter()
            .find(|r| r.subcommand == "hostile")
            .expect("a hostile run");
        let e = estimate(std::slice::from_ref(hostile));
        // 1 s quiet, 2 × 9 × 31 MiB at 600 MB/s, 1 s of outcomes, the 2 s
        // handshake timeout and its 1 s of slack, and the run's overhead.
        let bytes = 2.0 * 9.0 * f64::from(31u32 << 20);
        let expected = 1.0 + bytes / 600e6 + 1.0 + 2.0 + 1.0 + RUN_OVERHEAD_S;
        assert!((e.total_s() - expected).abs() < 1e-9, "{e}");
    }

    #[test]
    fn the_estimate_counts_a_slice_group_once_and_its_servers_each() {
        let p = Params::full();
        let group = a_slice_group(&p);
        let k = group.len();
        let busy = humantime::parse_duration(p.throughput_duration).expect("duration")
            + humantime::parse_duration(p.throughput_warmup).expect("warm-up");
        let e = estimate(&group);
        assert_eq!((e.runs, e.loads), (k, 1));
        let expected = busy.as_secs_f64() + RUN_OVERHEAD_S * k as f64;
        assert!((e.total_s() - expected).abs() < 1e-9, "{e}");
        // A member alone would be a load of its own.
        let one = estimate(&group[..1]);
        assert!((one.total_s() - busy.as_secs_f64() - RUN_OVERHEAD_S).abs() < 1e-9);
        // The whole plan: a load per step.
        let runs = plan::runs(&p);
        let all = estimate(&runs);
        assert_eq!(all.loads, plan::steps(&runs).count());
        assert!(all.loads < all.runs);
    }

    #[test]
    fn the_plans_slice_groups_can_share_a_load_and_others_cannot() {
        for p in [Params::full(), Params::quick()] {
            let runs = plan::runs(&p);
            for step in plan::steps(&runs).filter(|s| s.len() > 1) {
                check_slice_group(step).expect("a valid group");
            }
        }
        let mut group = a_slice_group(&Params::quick());
        group[1].args.push("--no-verify".into());
        let err = check_slice_group(&group).expect_err("another load");
        assert!(err.to_string().contains("another load"), "{err}");
        let mut group = a_slice_group(&Params::quick());
        group[0].metrics = true;
        assert!(check_slice_group(&group).is_err());
    }

    #[test]
    fn each_repeat_turns_the_order_by_one() {
        assert_eq!(turn_order(None, 3), [0, 1, 2]);
        assert_eq!(turn_order(Some(1), 3), [0, 1, 2]);
        assert_eq!(turn_order(Some(2), 3), [1, 2, 0]);
        assert_eq!(turn_order(Some(5), 3), [1, 2, 0]);
        assert_eq!(turn_order(Some(4), 1), [0]);
        for repeat in 1..=12 {
            let mut order = turn_order(Some(repeat), 10);
            order.sort_unstable();
            assert_eq!(order, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_slice_group_has_one_load_with_every_url_by_turns_and_no_hdr() {
        let p = Params::quick();
        let runs = plan::runs(&p);
        let group: Vec<Run> = plan::steps(&runs)
            .find(|s| s.len() > 1)
            .expect("a group")
            .iter()
            .map(|r| Run {
                repeat: Some(2),
                ..r.clone()
            })
            .collect();
        let layout = Layout::new("results");
        let servers: Vec<(SocketAddr, u32)> = (0..group.len())
            .map(|i| {
                (
                    SocketAddr::from(([127, 0, 0, 1], 4000 + i as u16)),
                    100 + i as u32,
                )
            })
            .collect();
        let (cmd, json) = load_command(Path::new("ws-loadgen"), &group, &servers, &layout);
        let values = |flag: &str| -> Vec<String> {
            cmd.windows(2)
                .filter(|w| w[0] == flag)
                .map(|w| w[1].clone())
                .collect()
        };
        // Repeat 2 starts with the second member; the pids follow the URLs.
        let urls = values("--url");
        assert_eq!(urls.len(), group.len());
        assert_eq!(urls[0], "ws://127.0.0.1:4001/ws/echo");
        assert_eq!(urls[group.len() - 1], "ws://127.0.0.1:4000/ws/echo");
        assert_eq!(values("--server-pid")[0], "101");
        assert_eq!(values("--slice"), [p.throughput_slice]);
        assert!(values("--hdr").is_empty());
        assert_eq!(values("--json"), [arg(&json)]);
        assert_eq!(json, layout.run_file(&group[0].stem(), SLICED_EXT));
        assert_eq!(values("--cpu"), [LOAD_CORE]);
        // A run alone keeps its own URL, `.json` and `.hdr`.
        let alone = &runs[0];
        let (cmd, json) = load_command(
            Path::new("ws-loadgen"),
            std::slice::from_ref(alone),
            &servers[..1],
            &layout,
        );
        assert_eq!(json, layout.run_file(&alone.stem(), "json"));
        assert_eq!(cmd.iter().filter(|a| *a == "--url").count(), 1);
        assert!(cmd.iter().any(|a| a == "--hdr"));
    }

    /// A sliced report of `urls`' targets, in that order, as `ws-loadgen` writes it.
    fn sliced_report(urls: &[&str]) -> String {
        let targets: Vec<serde_json::Value> = urls
            .iter()
            .map(|url| {
                serde_json::json!({
                    "scenario": "echo",
                    "config": {"url": url, "conns": 64},
                    "duration_s": 2.0,
                    "slicing": {"slice": "200ms"},
                })
            })
            .collect();
        serde_json::json!({"scenario": "echo-sliced", "slice": "200ms", "targets": targets})
            .to_string()
    }

    const A: &str = "ws://127.0.0.1:4001/ws/echo";
    const B: &str = "ws://127.0.0.1:4002/ws/echo";

    #[test]
    fn a_sliced_report_splits_by_url_whatever_the_turn_order() {
        // The load took B's turn first (a rotated repeat).
        let text = sliced_report(&[B, A]);
        let targets = sliced_targets(&text, Path::new("x.sliced.json"), &[A, B]).expect("split");
        let urls: Vec<&str> = targets
            .iter()
            .map(|t| {
                t.pointer("/config/url")
                    .and_then(|u| u.as_str())
                    .expect("url")
            })
            .collect();
        assert_eq!(urls, [A, B]);
        let err = sliced_targets(&sliced_report(&[B]), Path::new("x"), &[A, B])
            .expect_err("A has no report");
        assert!(
            err.to_string().contains(&format!("no report for {A}")),
            "{err}"
        );
        let err =
            sliced_targets(&sliced_report(&[A, A]), Path::new("x"), &[A, B]).expect_err("two of A");
        assert!(err.to_string().contains("two reports"), "{err}");
        assert!(sliced_targets("{}", Path::new("x"), &[A]).is_err());
        assert!(sliced_targets("not json", Path::new("x"), &[A]).is_err());
    }

    #[test]
    fn a_sliced_report_is_written_to_each_members_stem() {
        let dir = std::env::temp_dir().join(format!("ws-report-split-{}", std::process::id()));
        let combined = dir.join("a.sliced.json");
        fsio::write(&combined, sliced_report(&[B, A])).expect("written");
        let members = [
            (A.to_owned(), dir.join("a.json")),
            (B.to_owned(), dir.join("b.json")),
        ];
        split_sliced(&combined, &members).expect("split");
        for (url, path) in &members {
            let text = fsio::read_string(path).expect("a member's report");
            assert!(text.ends_with("}\n"), "pretty JSON and a newline");
            let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(
                value.pointer("/config/url").and_then(|u| u.as_str()),
                Some(url.as_str())
            );
        }
        let missing = [
            (A.to_owned(), dir.join("c.json")),
            ("ws://elsewhere".to_owned(), dir.join("d.json")),
        ];
        assert!(split_sliced(&combined, &missing).is_err());
        assert!(
            !dir.join("c.json").exists(),
            "nothing written when one is missing"
        );
        fsio::remove_dir_all_if_exists(&dir).expect("cleaned up");
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

//! `ws-loadgen`: drive a WebSocket server speaking the sink-sharing protocol
//! and report throughput, latency and message integrity.
//!
//! ```text
//! cargo run -p ws-loadgen --release -- echo --url ws://127.0.0.1:3000/ws/echo
//! cargo run -p ws-loadgen --release -- room --url ws://127.0.0.1:3000/ws/room/bench --conns 32 --senders 4 --rate 2000
//! cargo run -p ws-loadgen --release -- churn --url ws://127.0.0.1:3000/ws/echo --metrics-url http://127.0.0.1:3000/metrics
//! cargo run -p ws-loadgen --release -- badinput --url ws://127.0.0.1:3000/ws/echo
//! cargo run -p ws-loadgen --release -- hostile --url ws://127.0.0.1:3000/ws/echo
//! ```
//!
//! Exit codes: 0 when the run completed (whatever it measured), 1 when
//! integrity failures (for `churn` also a leak or failed cycles, for
//! `badinput` a canary failure or an answer not as RFC 6455 prescribes) were
//! found and `--strict` was given, 2 for usage or connection errors.
//! Errors are one line on stderr.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use ws_loadgen::{
    Encoding, LoadgenError, MessageLoad, Report, badinput, churn, connect, echo, hostile, merge,
    room, slow,
};

/// A WebSocket load generator for /ws/echo and /ws/room/{room}.
#[derive(Parser, Debug)]
#[command(name = "ws-loadgen", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// N connections to /ws/echo; every echo is checked byte for byte.
    Echo(EchoArgs),
    /// N members of a room, M of them sending; every member verifies every sender.
    Room(RoomArgs),
    /// A room flood with slow or stalled members: do they hurt the healthy ones?
    Slow(SlowArgs),
    /// Open N connections; handshake latency, failures, memory per connection.
    Connect(ConnectArgs),
    /// Connect/disconnect cycles, some reset mid-message: does the server release everything?
    Churn(ChurnArgs),
    /// Throw every bad input (bad handshakes, invalid frames) once; is each answered per RFC 6455?
    Badinput(BadinputArgs),
    /// Partial messages past the server's memory budget, then slow requests; a canary echoes throughout.
    Hostile(HostileArgs),
    /// Combine --hdr files of several runs into one distribution.
    Merge(MergeArgs),
}

/// Flags of every subcommand: output and process placement.
#[derive(Args, Debug)]
struct Output {
    /// Write every figure and the configuration as JSON to FILE ("-" = stdout).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the latency histograms (HdrHistogram interval log, µs) to FILE.
    #[arg(long, value_name = "FILE")]
    hdr: Option<PathBuf>,
    /// Print no table and no progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Exit with code 1 when messages were lost, duplicated, reordered or corrupted.
    #[arg(long)]
    strict: bool,
    /// Worker threads of the generator's runtime (1 = the generator occupies one core).
    #[arg(long, default_value_t = 1, value_name = "N")]
    threads: usize,
    /// Pin the generator's threads to this CPU core.
    #[arg(long, value_name = "CORE")]
    cpu: Option<usize>,
}

/// Flags of the message-sending scenarios.
#[derive(Args, Debug)]
struct Load {
    /// Message size in bytes, header included (binary ≥ 32, text ≥ 64).
    #[arg(long, value_name = "BYTES")]
    size: Option<usize>,
    /// Measured time.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    duration: Option<Duration>,
    /// Unmeasured warm-up before it.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    warmup: Option<Duration>,
    /// Open loop: total messages per second (latency from the intended send time).
    #[arg(long, value_name = "MSGS_PER_S")]
    rate: Option<f64>,
    /// Closed loop: messages outstanding per connection (echo) or per sender (room, slow).
    #[arg(long, value_name = "K", conflicts_with = "rate")]
    inflight: Option<usize>,
    /// Send Text frames instead of Binary.
    #[arg(long)]
    text: bool,
    /// Check headers only, not every body byte (for measuring the cost of verification).
    #[arg(long)]
    no_verify: bool,
    /// How long to wait for outstanding messages after the measured time.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    drain_timeout: Option<Duration>,
    /// Bound on each TCP connect plus WebSocket handshake.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    connect_timeout: Option<Duration>,
    /// Sample this process's RSS and CPU time from /proc during the run
    /// (echo with several --url: once per URL, in the same order).
    #[arg(long, value_name = "PID")]
    server_pid: Vec<i32>,
    /// The server's --ping-interval: ping intervals are also reported as multiples of it.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    ping_interval: Option<Duration>,
}

impl Load {
    /// The one `--server-pid` of a scenario with one server.
    fn single_server_pid(&self) -> Result<Option<i32>, LoadgenError> {
        match self.server_pid.as_slice() {
            [] => Ok(None),
            [pid] => Ok(Some(*pid)),
            _ => Err(LoadgenError::Config(
                "--server-pid is given once here (several only with several echo --url)".into(),
            )),
        }
    }

    /// The message load these flags ask for; `d` (the scenario's default)
    /// fills in what was not given.
    fn message_load(&self, d: MessageLoad) -> MessageLoad {
        MessageLoad {
            size: self.size.unwrap_or(d.size),
            duration: self.duration.unwrap_or(d.duration),
            warmup: self.warmup.unwrap_or(d.warmup),
            // A default rate (slow's open loop) holds unless --inflight asks
            // for closed loop (--rate and --inflight conflict).
            rate: if self.inflight.is_some() {
                None
            } else {
                self.rate.or(d.rate)
            },
            inflight: self.inflight.unwrap_or(d.inflight),
            encoding: encoding(self.text),
            verify: !self.no_verify,
            drain_timeout: self.drain_timeout.unwrap_or(d.drain_timeout),
            connect_timeout: self.connect_timeout.unwrap_or(d.connect_timeout),
            ping_interval: self.ping_interval.or(d.ping_interval),
            ..d
        }
    }
}

/// `echo --slice` when several `--url` are given without it.
const DEFAULT_SLICE: Duration = Duration::from_millis(200);

#[derive(Args, Debug)]
struct EchoArgs {
    /// Server URL. Given several times (closed loop only), the servers are
    /// measured by turns of --slice: their ratios then come from the same
    /// seconds of a drifting host; --json writes one report per URL under "targets".
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws/echo", num_args = 1)]
    url: Vec<String>,
    /// With several --url: how long each turn lasts. --warmup must hold a
    /// whole round (URLs × slice), --duration whole rounds [default: 200ms].
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    slice: Option<Duration>,
    /// With several --url: the end of each turn in which its server gets no
    /// new messages, so its last replies are in before the next turn (at
    /// most half of --slice) [default: a quarter of --slice].
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    slice_gap: Option<Duration>,
    /// Connections.
    #[arg(long, default_value_t = 64, value_name = "N")]
    conns: usize,
    #[command(flatten)]
    load: Load,
    #[command(flatten)]
    out: Output,
}

#[derive(Args, Debug)]
struct RoomArgs {
    /// Room URL; the last path segment names the room.
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws/room/bench")]
    url: String,
    /// Members.
    #[arg(long, default_value_t = 16, value_name = "N")]
    conns: usize,
    /// Members that send (default: all).
    #[arg(long, value_name = "M")]
    senders: Option<usize>,
    /// Spread members over R rooms named {room}-0 .. {room}-(R-1).
    #[arg(long, default_value_t = 1, value_name = "R")]
    rooms: usize,
    #[command(flatten)]
    load: Load,
    #[command(flatten)]
    out: Output,
}

#[derive(Args, Debug)]
struct SlowArgs {
    /// Room URL; the last path segment names the room.
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws/room/slow")]
    url: String,
    /// Members in total (healthy + slow + stalled).
    #[arg(long, default_value_t = 8, value_name = "N")]
    conns: usize,
    /// Healthy members that send.
    #[arg(long, default_value_t = 1, value_name = "M")]
    senders: usize,
    /// Members that read slowly.
    #[arg(long, default_value_t = 0, value_name = "K")]
    slow: usize,
    /// Delay per message of slow members.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5ms", value_name = "DURATION")]
    slow_delay: Duration,
    /// Slow members read at this fraction of --rate instead (0.8: 80 % of what the room is offered).
    #[arg(long, value_name = "FRACTION", conflicts_with = "slow_delay")]
    slow_pace: Option<f64>,
    /// SO_RCVBUF of slow members in bytes (default: the kernel's, which autotunes to tens of MB).
    #[arg(long, value_name = "BYTES")]
    slow_rcvbuf: Option<u32>,
    /// Members that stop reading after joining.
    #[arg(long, default_value_t = 0, value_name = "K")]
    stalled: usize,
    /// SO_RCVBUF of stalled members in bytes (small = kernel buffers fill fast).
    #[arg(long, default_value_t = 4096, value_name = "BYTES")]
    stalled_rcvbuf: u32,
    /// The server's Prometheus endpoint: its slow-consumer counter is polled during the run.
    #[arg(long, value_name = "URL")]
    metrics_url: Option<String>,
    #[command(flatten)]
    load: Load,
    #[command(flatten)]
    out: Output,
}

#[derive(Args, Debug)]
struct ConnectArgs {
    /// Server URL.
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws/echo")]
    url: String,
    /// Connections to open.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    conns: usize,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 64, value_name = "K")]
    inflight: usize,
    /// Connections started per second (default: as fast as --inflight allows).
    #[arg(long, value_name = "CONNS_PER_S")]
    rate: Option<f64>,
    /// Keep all connections open, idle, this long once opened (for --server-pid memory).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s", value_name = "DURATION")]
    hold: Duration,
    /// Bound on each TCP connect plus WebSocket handshake.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", value_name = "DURATION")]
    connect_timeout: Duration,
    /// Sample this process's RSS and CPU time from /proc during the run.
    #[arg(long, value_name = "PID")]
    server_pid: Option<i32>,
    /// The server's --ping-interval: the hold's ping intervals are also reported as multiples of it.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    ping_interval: Option<Duration>,
    #[command(flatten)]
    out: Output,
}

#[derive(Args, Debug)]
struct ChurnArgs {
    /// Server URL (echo or a room).
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws/echo")]
    url: String,
    /// Connect/disconnect cycles per round.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    cycles: usize,
    /// Rounds of --cycles, the server's RSS read after each one's settle: a
    /// second round that ends where the first did is no leak.
    #[arg(long, default_value_t = 1, value_name = "N")]
    rounds: usize,
    /// Cycles in progress at once.
    #[arg(long, default_value_t = 64, value_name = "K")]
    concurrency: usize,
    /// Share of cycles that end with a TCP reset instead of a Close (mid-message ones included).
    #[arg(long, default_value_t = 0.33, value_name = "FRACTION")]
    abrupt_fraction: f64,
    /// Share of cycles that reset in the middle of a frame (at most --abrupt-fraction).
    #[arg(long, default_value_t = 0.1, value_name = "FRACTION")]
    mid_message_fraction: f64,
    /// Size of each cycle's message in bytes (at least 8).
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    size: usize,
    /// Bound on each TCP connect plus WebSocket handshake.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", value_name = "DURATION")]
    connect_timeout: Duration,
    /// Bound on waiting for a cycle's own message to come back.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", value_name = "DURATION")]
    response_timeout: Duration,
    /// After the cycles, wait up to this long for the server's gauges to reach zero.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", value_name = "DURATION")]
    settle: Duration,
    /// Sample this process's RSS and CPU time from /proc (baseline, peak, after).
    #[arg(long, value_name = "PID")]
    server_pid: Option<i32>,
    /// The server's Prometheus endpoint, e.g. http://127.0.0.1:3000/metrics.
    #[arg(long, value_name = "URL")]
    metrics_url: Option<String>,
    #[command(flatten)]
    out: Output,
}

#[derive(Args, Debug)]
struct BadinputArgs {
    /// Server URL (the bad frames are sent after upgrading this route).
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws/echo")]
    url: String,
    /// The server's --max-message-size: the oversized inputs go one byte over it.
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
    max_message_size: usize,
    /// Bound on each input's answer and each canary check.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", value_name = "DURATION")]
    timeout: Duration,
    /// Bound on each TCP connect plus WebSocket handshake.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", value_name = "DURATION")]
    connect_timeout: Duration,
    #[command(flatten)]
    out: Output,
}

#[derive(Args, Debug)]
struct HostileArgs {
    /// Server URL (an echo route).
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws/echo")]
    url: String,
    /// Connections that each send part of a message and then nothing.
    #[arg(long, default_value_t = 16)]
    attackers: usize,
    /// Bytes of its message each attacker sends.
    #[arg(long, default_value_t = 8 << 20, value_name = "BYTES")]
    partial: usize,
    /// The length each attacker's frame announces (at most the server's --max-message-size).
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES")]
    declared: usize,
    /// The server's --max-inbound-bytes, recorded for the report.
    #[arg(long, value_name = "BYTES")]
    budget: Option<usize>,
    /// Sockets that send the start of a request and nothing more.
    #[arg(long, default_value_t = 2000)]
    slow: usize,
    /// The server's --handshake-timeout: each slow socket must be closed within it + 1s.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", value_name = "DURATION")]
    handshake_timeout: Duration,
    /// Bound on each connect and each echo.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", value_name = "DURATION")]
    timeout: Duration,
    /// The server's pid: its RSS is sampled during the partial-message attack.
    #[arg(long, value_name = "PID")]
    server_pid: Option<i32>,
    #[command(flatten)]
    out: Output,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// --hdr files written by earlier runs.
    #[arg(required = true, value_name = "FILE")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    out: Output,
}

/// A failure and the exit code it maps to.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl From<LoadgenError> for Failure {
    fn from(e: LoadgenError) -> Self {
        Self {
            code: 2,
            error: e.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self { code: 2, error }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                return ExitCode::SUCCESS;
            }
            // clap's message spans several lines; the first says what is wrong.
            let text = e.to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid command line");
            eprintln!("ws-loadgen: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            // One line: the error and its causes, joined.
            eprintln!("ws-loadgen: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Echo(a) => {
            let d = echo::Config::default();
            let pids = &a.load.server_pid;
            if !pids.is_empty() && pids.len() != a.url.len() {
                return Err(LoadgenError::Config(format!(
                    "--server-pid given {} times for {} --url: give one per URL, in the same order",
                    pids.len(),
                    a.url.len()
                ))
                .into());
            }
            let mut config = echo::Config {
                url: a.url.first().cloned().unwrap_or_default(),
                conns: a.conns,
                load: a.load.message_load(d.load),
                server_pid: pids.first().copied(),
            };
            let total = config.load.warmup + config.load.duration;
            if a.url.len() == 1 {
                if a.slice.is_some() || a.slice_gap.is_some() {
                    return Err(LoadgenError::Config(
                        "--slice and --slice-gap take several --url (servers measured by turns)"
                            .into(),
                    )
                    .into());
                }
                config.validate()?;
                return execute(&a.out, total, echo::run(config));
            }
            let slice = a.slice.unwrap_or(DEFAULT_SLICE);
            config.server_pid = None;
            let config = echo::SlicedConfig {
                echo: config,
                targets: a
                    .url
                    .iter()
                    .enumerate()
                    .map(|(i, url)| (url.clone(), pids.get(i).copied()))
                    .collect(),
                slice,
                gap: a.slice_gap.unwrap_or(slice / 4),
            };
            config.validate()?;
            execute(&a.out, total, echo::run_sliced(config))
        }
        Command::Room(a) => {
            let d = room::Config::default();
            let config = room::Config {
                url: a.url,
                conns: a.conns,
                rooms: a.rooms,
                senders: a.senders,
                load: a.load.message_load(d.load),
                server_pid: a.load.single_server_pid()?,
                ..d
            };
            config.validate()?;
            let total = config.load.warmup + config.load.duration;
            execute(&a.out, total, room::run(config))
        }
        Command::Slow(a) => {
            let d = slow::Config::default();
            let config = slow::Config {
                url: a.url,
                conns: a.conns,
                senders: a.senders,
                slow: a.slow,
                slow_delay: a.slow_delay,
                slow_pace: a.slow_pace,
                slow_rcvbuf: a.slow_rcvbuf,
                stalled: a.stalled,
                stalled_rcvbuf: a.stalled_rcvbuf,
                load: a.load.message_load(d.load),
                server_pid: a.load.single_server_pid()?,
                metrics_url: a.metrics_url,
                ..d
            };
            config.validate()?;
            let total = config.load.warmup + config.load.duration;
            execute(&a.out, total, slow::run(config))
        }
        Command::Connect(a) => {
            let config = connect::Config {
                url: a.url,
                conns: a.conns,
                concurrency: a.inflight,
                rate: a.rate,
                hold: a.hold,
                connect_timeout: a.connect_timeout,
                server_pid: a.server_pid,
                ping_interval: a.ping_interval,
            };
            config.validate()?;
            execute(&a.out, config.hold, connect::run(config))
        }
        Command::Churn(a) => {
            let config = churn::Config {
                url: a.url,
                cycles: a.cycles,
                rounds: a.rounds,
                concurrency: a.concurrency,
                abrupt_fraction: a.abrupt_fraction,
                mid_message_fraction: a.mid_message_fraction,
                size: a.size,
                connect_timeout: a.connect_timeout,
                response_timeout: a.response_timeout,
                settle: a.settle,
                server_pid: a.server_pid,
                metrics_url: a.metrics_url,
            };
            config.validate()?;
            execute(&a.out, Duration::ZERO, churn::run(config))
        }
        Command::Badinput(a) => {
            let config = badinput::Config {
                url: a.url,
                max_message_size: a.max_message_size,
                timeout: a.timeout,
                connect_timeout: a.connect_timeout,
            };
            config.validate()?;
            execute(&a.out, Duration::ZERO, badinput::run(config))
        }
        Command::Hostile(a) => {
            let config = hostile::Config {
                url: a.url,
                attackers: a.attackers,
                partial: a.partial,
                declared: a.declared,
                budget: a.budget,
                slow: a.slow,
                handshake_timeout: a.handshake_timeout,
                timeout: a.timeout,
                server_pid: a.server_pid,
            };
            config.validate()?;
            execute(&a.out, Duration::ZERO, hostile::run(config))
        }
        Command::Merge(a) => {
            let config = merge::Config { inputs: a.inputs };
            execute(&a.out, Duration::ZERO, merge::run(config))
        }
    }
}

fn encoding(text: bool) -> Encoding {
    if text {
        Encoding::Text
    } else {
        Encoding::Binary
    }
}

/// Build the runtime, run the scenario with a progress bar where useful, write the outputs.
fn execute<R, F>(out: &Output, expected: Duration, fut: F) -> Result<u8, Failure>
where
    R: Report + Serialize,
    F: Future<Output = Result<R, LoadgenError>>,
{
    let runtime = build_runtime(out.threads, out.cpu)?;
    let show_progress =
        !out.quiet && std::io::stderr().is_terminal() && expected > Duration::from_secs(2);
    let report = runtime.block_on(async {
        let bar = show_progress.then(|| progress_bar(expected));
        let r = fut.await;
        if let Some((bar, task)) = bar {
            task.abort();
            bar.finish_and_clear();
        }
        r
    })?;
    if !out.quiet {
        print!("{}", report.table());
    }
    if let Some(path) = &out.json {
        let json = serde_json::to_string_pretty(&report).context("serializing the report")?;
        if path.as_os_str() == "-" {
            println!("{json}");
        } else {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if let Some(path) = &out.hdr {
        merge::write_hdr(path, report.histograms(), report.integrity())?;
    }
    Ok(if out.strict && report.failed() { 1 } else { 0 })
}

fn build_runtime(threads: usize, cpu: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let core = match cpu {
        Some(id) => {
            let cores = core_affinity::get_core_ids().unwrap_or_default();
            match cores.into_iter().find(|c| c.id == id) {
                Some(c) => Some(c),
                None => bail!("--cpu {id}: no such core available to this process"),
            }
        }
        None => None,
    };
    let runtime = if threads == 1 {
        // One thread: the current-thread runtime, on this (pinned) thread.
        if let Some(c) = core
            && !core_affinity::set_for_current(c)
        {
            bail!("--cpu {}: cannot pin to that core", c.id);
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads).enable_all();
        if let Some(c) = core {
            // Pin the main thread too: it only waits, but keeps it off the server's core.
            core_affinity::set_for_current(c);
            b.on_thread_start(move || {
                core_affinity::set_for_current(c);
            });
        }
        b.build()
    };
    runtime.context("building the Tokio runtime")
}

fn progress_bar(expected: Duration) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let total_ms = u64::try_from(expected.as_millis()).unwrap_or(u64::MAX);
    let bar = indicatif::ProgressBar::new(total_ms);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {elapsed}/{msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(humantime::format_duration(expected).to_string());
    let b = bar.clone();
    let task = tokio::spawn(async move {
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            b.set_position(
                u64::try_from(start.elapsed().as_millis())
                    .unwrap_or(u64::MAX)
                    .min(total_ms),
            );
        }
    });
    (bar, task)
}

//! The entry point every variant's `main` calls: parse and check the flags,
//! set up logging, build the runtime, serve until a signal.

use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser};
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use crate::handler::Handler;
use crate::metrics::Metrics;
use crate::server::{self, ServeError};
use crate::{flags, limits, output, shutdown};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    config: ServerConfig,
}

/// Runs the server binary of `H`.
///
/// Blocks until the server has shut down. Errors are for the binary to print.
/// A configuration that cannot work exits with a usage error (code 2), as a
/// flag that does not parse does.
pub fn run<H: Handler>() -> Result<(), ServeError> {
    let mut command = Cli::command()
        .name(H::NAME)
        .bin_name(H::NAME)
        .about(format!(
            "{}: a sink-sharing WebSocket server (the protocol is in the README)",
            H::NAME
        ))
        .after_help(
            "Routes: /ws/echo, /ws/room/{room} (WebSocket), /healthz, /metrics.\n\
             Durations take units: 500ms, 15s, 2m. Logging: RUST_LOG=debug (to stderr).",
        );
    let matches = command.clone().get_matches();
    let config = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli.config,
        Err(err) => err.exit(),
    };
    if let Err(err) = flags::validate(&config) {
        command.error(ErrorKind::ArgumentConflict, err).exit();
    }

    let _logs = output::init_logging();
    let fd_limit = limits::raise_open_files_limit();

    let workers = config.worker_threads();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;

    let shutdown = CancellationToken::new();
    shutdown::watch_signals(shutdown.clone(), config.shutdown_grace)
        .map_err(ServeError::Runtime)?;

    let outcome = runtime.block_on(async {
        let listener = server::bind(&config).await?;
        let addr = listener.local_addr()?;
        let mut banner = vec![
            format!(
                "{} listening on http://{addr} ({workers} worker threads)",
                H::NAME
            ),
            format!("  ws://{addr}/ws/echo          echo every message back"),
        ];
        if H::SERVES_ROOMS {
            banner.push(format!(
                "  ws://{addr}/ws/room/{{room}}   broadcast to every member of {{room}}"
            ));
        }
        banner.push(format!("  http://{addr}/healthz        liveness"));
        banner.push(format!("  http://{addr}/metrics        Prometheus metrics"));
        banner.extend(limits::worst_case(&config, fd_limit));
        output::banner(&banner);
        let report = server::serve::<H>(listener, config, Metrics::new(), shutdown).await?;
        if report.clean {
            tracing::info!(took = ?report.took, "every connection closed");
        } else {
            tracing::warn!(took = ?report.took, "shutdown grace ended with connections still open");
        }
        Ok(())
    });
    // Blocking threads (ws-std-mutex's sends) are bounded by the send timeout;
    // the process does not wait for them past the grace period.
    runtime.shutdown_timeout(Duration::from_millis(100));
    outcome
}

//! The entry point every variant's `main` calls: parse the flags, set up
//! logging, build the runtime, serve until a signal.

use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::ServerConfig;
use crate::handler::Handler;
use crate::metrics::Metrics;
use crate::server::{self, ServeError};
use crate::shutdown::cancel_on_signal;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    config: ServerConfig,
}

/// Runs the server binary of `H`.
///
/// Blocks until the server has shut down. Errors are for the binary to print.
pub fn run<H: Handler>() -> Result<(), ServeError> {
    let command = Cli::command()
        .name(H::NAME)
        .bin_name(H::NAME)
        .about(format!(
            "{}: a sink-sharing WebSocket server (the protocol is in the README)",
            H::NAME
        ))
        .after_help(
            "Routes: /ws/echo, /ws/room/{room} (WebSocket), /healthz, /metrics.\n\
             Durations take units: 500ms, 15s, 2m. Logging: RUST_LOG=debug.",
        );
    let matches = command.get_matches();
    let config = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli.config,
        Err(err) => err.exit(),
    };

    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let workers = config.worker_threads();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;

    let outcome = runtime.block_on(async {
        let listener = server::bind(&config).await?;
        let addr = listener.local_addr()?;
        println!(
            "{} listening on http://{addr} ({workers} worker threads)",
            H::NAME
        );
        println!("  ws://{addr}/ws/echo          echo every message back");
        if H::SERVES_ROOMS {
            println!("  ws://{addr}/ws/room/{{room}}   broadcast to every member of {{room}}");
        }
        println!("  http://{addr}/healthz        liveness");
        println!("  http://{addr}/metrics        Prometheus metrics");
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());
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

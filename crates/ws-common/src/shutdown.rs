//! Turning SIGINT and SIGTERM into a cancelled token, with a deadline.
//!
//! The signals are watched on a thread of their own, with a runtime of its
//! own, so that nothing the server's runtime does (a panicked task, every
//! worker busy or blocked, a log line that cannot be written) can stop a
//! signal from ending the process. The first signal cancels the token, which
//! starts the graceful shutdown; if the process is still running
//! [`DEADLINE_SLACK`] after `--shutdown-grace`, or a second signal arrives,
//! the watcher exits the process itself.

use std::io;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long past the grace period the watcher waits for the orderly
/// shutdown (which itself ends within the grace) before exiting the process.
pub const DEADLINE_SLACK: Duration = Duration::from_millis(500);

/// Exit code when the watcher has to end the process itself.
pub const FORCED_EXIT_CODE: i32 = 1;

/// Starts watching for SIGINT and SIGTERM. The handlers are installed before
/// this returns, so a signal that arrives once the server has said it is
/// listening is never lost. Errors if they cannot be installed.
pub fn watch_signals(token: CancellationToken, grace: Duration) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut signals = {
        let _context = runtime.enter();
        Signals::install()?
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                signals.next().await;
                // Cancel before logging: if the log cannot be written, the
                // shutdown must have started anyway.
                token.cancel();
                tracing::info!("shutdown signal received, closing connections");
                tokio::select! {
                    () = tokio::time::sleep(grace + DEADLINE_SLACK) => {
                        tracing::error!("the shutdown did not finish within the grace period; exiting");
                    }
                    () = signals.next() => {
                        tracing::warn!("second shutdown signal; exiting at once");
                    }
                }
                std::process::exit(FORCED_EXIT_CODE);
            });
        })?;
    Ok(())
}

/// SIGINT and SIGTERM, installed.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> io::Result<Self> {
        Ok(Self {})
    }

    /// Resolves on the next signal.
    #[cfg(unix)]
    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

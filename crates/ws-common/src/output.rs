//! Where a server's output goes, written so that output that cannot be
//! written is never fatal.
//!
//! `println!` panics when stdout is closed (a server piped into `head`), and
//! any blocking write stalls the thread that makes it when nobody reads the
//! pipe. So the start-up banner goes to stdout with its errors ignored, and
//! the logs go to stderr through `tracing-appender`'s non-blocking writer: a
//! thread of its own does the writing, and lines that find its queue full
//! are dropped rather than waited for.

use std::io::Write;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines of log the writer thread may hold before new ones are dropped.
const LOG_QUEUE_LINES: usize = 16 << 10;

/// Writes the start-up banner to stdout. A closed or failing stdout is not
/// the server's problem: the lines are simply lost.
pub fn banner(lines: &[String]) {
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        if writeln!(stdout, "{line}").is_err() {
            return;
        }
    }
    let _ = stdout.flush();
}

/// Sends the logs (filtered by `RUST_LOG`, `info` by default) to stderr
/// without ever blocking or panicking the thread that logs. Keep the guard
/// until the server has shut down: dropping it flushes what is queued.
pub fn init_logging() -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("log-writer")
        .finish(Stderr);
    // `try_init`: a process that already has a subscriber keeps it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(writer)
        // Its own errors would go to stderr with `eprintln!`, which panics
        // when stderr is closed.
        .log_internal_errors(false)
        .try_init();
    guard
}

/// Stderr with its errors swallowed: the writer thread reports a failed
/// final flush with `eprintln!`, which panics when stderr is closed, and a
/// log line that cannot be written has nowhere else to go anyway.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

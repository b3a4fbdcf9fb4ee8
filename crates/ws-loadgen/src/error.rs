//! The one error type of the library.
//!
//! Every failure the caller can act on has its own variant, so the binary can
//! map usage and connection problems to exit code 2 with a one-line message.
//! Integrity problems found while measuring are *not* errors of the scenario
//! runners: they are counted in the report, because a run against a faulty
//! server must still end with its report. Only the bench primitives, which
//! return a bare `Duration`, turn integrity failures into [`LoadgenError::Integrity`].

use std::path::PathBuf;

use crate::payload::PayloadError;

/// Everything that can stop a load-generator run.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// A configuration value, or a combination of them, makes no sense.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The URL cannot be used (syntax, scheme, host, port).
    #[error("invalid URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TCP connection could not be established.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address (host:port) that was tried.
        addr: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The TCP connection was made but the WebSocket upgrade failed.
    #[error("WebSocket handshake with {url} failed: {reason}")]
    Handshake {
        /// The URL requested.
        url: String,
        /// Why, e.g. the HTTP status the server answered with.
        reason: String,
    },
    /// Something did not happen within its time bound.
    #[error("timed out: {0}")]
    Timeout(String),
    /// An established connection failed in a way that stops a bench primitive.
    #[error("connection failed: {0}")]
    Connection(String),
    /// A bench primitive found lost, duplicated, reordered or corrupted messages.
    #[error("integrity failure: {0}")]
    Integrity(String),
    /// The payload parameters are impossible (e.g. smaller than the header).
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The server process given by `--server-pid` cannot be sampled.
    #[error("cannot sample server process {pid}: {reason}")]
    Process {
        /// The process id.
        pid: i32,
        /// What went wrong reading `/proc`.
        reason: String,
    },
    /// A histogram could not be recorded, serialized or parsed.
    #[error("histogram: {0}")]
    Histogram(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl LoadgenError {
    /// True for errors caused by the command line or the target (exit code 2 in the binary).
    ///
    /// Everything the library returns is of that kind today; the method exists so
    /// the binary does not have to know the variant list.
    #[must_use]
    pub fn is_usage_or_connection(&self) -> bool {
        !matches!(self, Self::Integrity(_))
    }
}

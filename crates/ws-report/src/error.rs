//! The one error type of the library.

use std::path::PathBuf;

/// Everything that can go wrong while collecting, importing, rendering or checking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file did not hold the JSON expected of it.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A child process (server, load generator, tool) could not be run or misbehaved.
    #[error("{0}")]
    Process(String),
    /// Drawing a plot failed.
    #[error("plot {name}: {message}")]
    Plot {
        /// The plot's file name.
        name: String,
        /// What plotters said.
        message: String,
    },
    /// Results that cannot be used (missing pieces, inconsistent records).
    #[error("{0}")]
    Invalid(String),
    /// `check`: the committed report or plots differ from what the results render to.
    #[error("{0}")]
    Stale(String),
    /// `collect`: some runs failed; the others' results were written.
    #[error("{} run(s) failed: {}", .0.len(), .0.join("; "))]
    RunsFailed(Vec<String>),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! A WebSocket load generator for servers that speak the sink-sharing
//! protocol (`/ws/echo`, `/ws/room/{room}`), as a library and a binary.
//!
//! The library is what the Criterion benches and the `ws-loadgen` binary
//! share, so that a number from either comes from the same client:
//!
//! - scenario runners, one module each: [`echo`], [`room`], [`slow`],
//!   [`connect`], [`churn`], [`badinput`], plus [`merge`] for histograms
//!   from several runs. Each has a
//!   `Config`, an async `run(config) -> Result<Report, LoadgenError>`, and a
//!   `Report` that serializes to JSON and renders a table ([`report::Report`]);
//!   the scenarios that read connections through a window (echo, room, slow,
//!   connect) wrap theirs in [`report::WithHeartbeat`];
//! - [`bench`](mod@bench): primitives for Criterion's `iter_custom`, with connection
//!   setup outside the timed part;
//! - [`payload`]: the header every message carries (sender, sequence, send
//!   time, length, checksum) and its verification;
//! - [`stats`]: sequence tracking, the open-loop schedule, histograms;
//! - [`heartbeat`]: the intervals between the server's pings, as each
//!   connection's read loop sees them;
//! - [`slicing`]: closed-loop echo against several servers by turns
//!   ([`echo::run_sliced`]), so that their ratios come from the same seconds.
//!
//! Every run is bounded in time, and integrity problems (lost, duplicated,
//! reordered, corrupted messages, server closes) are counted, never
//! panicked on: a run against a faulty server ends with its report.
//!
//! The runners run on the caller's Tokio runtime; its worker count is what the
//! report calls the generator's threads. The binary builds a one-thread runtime
//! by default so the generator occupies one core.

pub mod badinput;
pub mod bench;
pub mod churn;
pub mod client;
mod common;
pub mod connect;
pub mod echo;
mod error;
pub mod heartbeat;
pub mod hostile;
pub mod load;
pub mod merge;
mod pacing;
pub mod payload;
pub mod procmon;
pub mod report;
pub mod room;
mod sender;
pub mod slicing;
pub mod slow;
pub mod stats;
pub mod watch;

pub use error::LoadgenError;
pub use load::MessageLoad;
pub use payload::Encoding;
pub use report::Report;

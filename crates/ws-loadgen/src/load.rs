//! The message load the sending scenarios ([`echo`](crate::echo),
//! [`room`](crate::room), [`slow`](crate::slow)) share: how big, how long,
//! how fast, and how the messages are checked.
//!
//! Each scenario's `Config` embeds a [`MessageLoad`] flattened, so in JSON
//! these fields stand at the same level as the scenario's own.

use std::time::Duration;

use serde::Serialize;

use crate::common::{ser_duration, ser_opt_duration};
use crate::payload::Encoding;

/// The message-load part of a sending scenario's configuration.
///
/// The default is the echo and room load: 64-byte binary messages, closed
/// loop with 16 outstanding, 10 s measured after 2 s of warm-up.
#[derive(Clone, Debug, Serialize)]
pub struct MessageLoad {
    /// Message size in bytes, header included.
    pub size: usize,
    /// Measured time.
    #[serde(serialize_with = "ser_duration")]
    pub duration: Duration,
    /// Unmeasured time before it.
    #[serde(serialize_with = "ser_duration")]
    pub warmup: Duration,
    /// Open loop: total messages per second over all connections (echo) or
    /// all senders (room, slow).
    pub rate: Option<f64>,
    /// Closed loop (ignored when `rate` is set): messages outstanding per
    /// connection (echo), or own messages a sender may have unheard (room, slow).
    pub inflight: usize,
    /// Binary or text frames.
    pub encoding: Encoding,
    /// Check every body byte (`false` = `--no-verify`: headers only).
    pub verify: bool,
    /// How long to wait for outstanding messages after the measured time.
    #[serde(serialize_with = "ser_duration")]
    pub drain_timeout: Duration,
    /// Closed loop: give up on an outstanding window after this long without a reply.
    #[serde(serialize_with = "ser_duration")]
    pub response_timeout: Duration,
    /// Bound on each TCP connect plus handshake.
    #[serde(serialize_with = "ser_duration")]
    pub connect_timeout: Duration,
    /// The server's `--ping-interval`, when known: the heartbeat's intervals
    /// are then also reported as multiples of it (left out of the JSON when
    /// not given).
    #[serde(
        serialize_with = "ser_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub ping_interval: Option<Duration>,
}

impl MessageLoad {
    /// `"open"` with a rate, else `"closed"`: the `mode` of a report.
    #[must_use]
    pub fn mode(&self) -> &'static str {
        if self.rate.is_some() {
            "open"
        } else {
            "closed"
        }
    }
}

impl Default for MessageLoad {
    fn default() -> Self {
        Self {
            size: 64,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            rate: None,
            inflight: 16,
            encoding: Encoding::Binary,
            verify: true,
            drain_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            ping_interval: None,
        }
    }
}

//! The server's settings: one struct, parsed from the command line by every
//! variant's binary and built directly by tests and benches.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::flags;

/// When a writer flushes what it has written into the sink (`--flush`). The
/// same meaning in every server, so that the flush policy and the sharing
/// strategy can be measured apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum FlushPolicy {
    /// Every message is written and flushed on its own: one `write` per
    /// message per receiver, the form people write first.
    Each,
    /// Each strategy at its best: a writer that knows more follows (or that
    /// another writer is about to write) leaves the flush to whoever writes
    /// last, so consecutive and concurrent messages share one `write`.
    /// Nothing is ever left unflushed.
    #[default]
    Batched,
}

impl FlushPolicy {
    /// The flag's value, as `--flush` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            FlushPolicy::Each => "each",
            FlushPolicy::Batched => "batched",
        }
    }
}

/// Every setting a server takes. The same flags, defaults and meaning in every
/// variant, so that a comparison only ever changes the strategy.
#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "WS_ADDR")]
    pub addr: SocketAddr,

    /// Tokio worker threads (default: the CPUs this process may run on).
    #[arg(long, value_parser = flags::size_in(1, flags::MAX_WORKERS))]
    pub workers: Option<usize>,

    /// How often the server pings each connection (more than zero, less than --idle-timeout).
    #[arg(long, default_value = "15s", value_parser = flags::positive_duration)]
    pub ping_interval: Duration,

    /// A connection from which nothing has arrived for this long is closed (1000).
    #[arg(long, default_value = "45s", value_parser = flags::positive_duration)]
    pub idle_timeout: Duration,

    /// On SIGINT/SIGTERM, how long connections get to close before the process exits.
    #[arg(long, default_value = "5s", value_parser = flags::positive_duration)]
    pub shutdown_grace: Duration,

    /// Every server: a write to a member's socket that does not complete within this
    /// disconnects the member as a slow consumer (1008).
    #[arg(long, default_value = "5s", value_parser = flags::positive_duration)]
    pub send_timeout: Duration,

    /// ws-ref-broadcast: messages its room ring holds; a member this far behind its
    /// room is disconnected as a slow consumer (1008).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue_capacity: u32,

    /// ws-mpsc-writer: bytes that may wait in one member's queue (payload + 64 a message);
    /// past this (with a message already waiting) the member is disconnected (1008).
    #[arg(long, default_value_t = 4 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub queue_bytes: u64,

    /// When writers flush: `each` message on its own (the naive form), or `batched`
    /// (each strategy at its best: consecutive and concurrent writes share a flush).
    #[arg(long, value_enum, default_value_t = FlushPolicy::Batched)]
    pub flush: FlushPolicy,

    /// Largest message accepted, in bytes (at least 125, a control frame's largest
    /// payload); larger ones close the connection (1009).
    #[arg(long, default_value_t = 64 << 20, value_parser = flags::size_in(flags::MIN_MESSAGE_SIZE, usize::MAX))]
    pub max_message_size: usize,

    /// Bytes held for messages still being received, over all connections; when
    /// a read takes the total past this, the connection holding the most is closed
    /// (1009). At least --max-message-size.
    #[arg(long, default_value_t = 256 << 20, value_parser = flags::size_in(flags::MIN_MESSAGE_SIZE, usize::MAX))]
    pub max_inbound_bytes: usize,

    /// Per-connection read buffer, in bytes: the most one `read` takes in.
    ///
    /// tungstenite zero-fills this much of the buffer before every `read`, so
    /// its own default (128 KiB) costs a 128 KiB `memset` for every read, even
    /// of one 64-byte message. 16 KiB still takes a 4 KiB message burst in
    /// one read. At least 1 KiB.
    #[arg(long, default_value_t = 16 << 10, value_parser = flags::size_in(flags::MIN_READ_BUFFER_SIZE, usize::MAX))]
    pub read_buffer_size: usize,

    /// Per-connection write buffer, in bytes: frames are buffered up to this before a write.
    #[arg(long, default_value_t = 128 << 10)]
    pub write_buffer_size: usize,

    /// WebSocket connections beyond this are refused with 503 before the upgrade.
    #[arg(long, default_value_t = 100_000, value_parser = flags::size_in(1, usize::MAX))]
    pub max_connections: usize,

    /// Rooms beyond this are refused with 503 before the upgrade.
    #[arg(long, default_value_t = 10_000, value_parser = flags::size_in(1, usize::MAX))]
    pub max_rooms: usize,

    /// How long a client has to send a complete HTTP request (the upgrade request
    /// included) once its socket is accepted or its previous request answered;
    /// a socket that takes longer is closed.
    #[arg(long, default_value = "5s", value_parser = flags::positive_duration)]
    pub handshake_timeout: Duration,

    /// Sockets that have not been upgraded yet (plain HTTP, or a request still
    /// arriving); at this many the server stops accepting until one ends, so
    /// slow or idle sockets cannot take every file descriptor.
    #[arg(long, default_value_t = 4096, value_parser = flags::size_in(1, usize::MAX))]
    pub max_handshakes: usize,
}

impl ServerConfig {
    /// The defaults, listening on an ephemeral loopback port: what tests and
    /// benches start from.
    pub fn ephemeral() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Self::default()
        }
    }

    /// Worker threads to start: the flag, else the CPUs this process may use
    /// (which honours `taskset`, so a pinned server gets one worker per core).
    pub fn worker_threads(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        // Parsing no arguments yields exactly the documented defaults, so the
        // two can never drift apart.
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: ServerConfig,
        }
        <Defaults as clap::Parser>::try_parse_from(["defaults"])
            .map(|d| d.config)
            .unwrap_or_else(|err| unreachable!("the built-in defaults must parse: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = ServerConfig::default();
        assert_eq!(config.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.ping_interval, Duration::from_secs(15));
        assert_eq!(config.idle_timeout, Duration::from_secs(45));
        assert_eq!(config.shutdown_grace, Duration::from_secs(5));
        assert_eq!(config.send_timeout, Duration::from_secs(5));
        assert_eq!(config.queue_capacity, 1024);
        assert_eq!(config.queue_bytes, 4 << 20);
        assert_eq!(config.flush, FlushPolicy::Batched);
        assert_eq!(ServerConfig::ephemeral().addr.port(), 0);
    }
}

//! What the limits allow in the worst case, said at start, and the open
//! files limit they have to fit in.

use crate::config::ServerConfig;

/// Descriptors kept for everything that is not a client socket: the
/// listener, stdio, the runtime's epoll and event descriptors, log files.
const RESERVED_FDS: u64 = 64;

/// Raises the soft limit on open files to the hard one (what a server should
/// do: the soft default is often 1024) and returns the limit in force, or
/// `None` where it cannot be read.
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
        if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
            return Some(hard);
        }
        Some(soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The start-up lines that say what the limits allow at most: sockets, and
/// the memory they may hold.
pub fn worst_case(config: &ServerConfig, open_files: Option<u64>) -> Vec<String> {
    let sockets = config.max_connections.saturating_add(config.max_handshakes);
    let mut lines = vec![format!(
        "  limits: {} WebSocket connections + {} sockets before the upgrade (each request within {})",
        config.max_connections,
        config.max_handshakes,
        humantime::format_duration(config.handshake_timeout),
    )];
    if let Some(open_files) = open_files {
        let usable = open_files.saturating_sub(RESERVED_FDS);
        if (sockets as u64) > usable {
            lines.push(format!(
                "  limits: the open files limit ({open_files}) allows about {usable} sockets: \
                 past that, accepting pauses until a socket closes"
            ));
        }
    }
    let per_connection = config
        .read_buffer_size
        .saturating_add(config.write_buffer_size);
    lines.push(format!(
        "  worst case per connection: {} read + {} write buffer, a message being received \
         up to {} (within the total below), and (ws-mpsc-writer) {} queued",
        bytes(config.read_buffer_size),
        bytes(config.write_buffer_size),
        bytes(config.max_message_size),
        bytes(usize::try_from(config.queue_bytes).unwrap_or(usize::MAX)),
    ));
    lines.push(format!(
        "  messages being received: at most {} held in all, each with one read counted on top \
         (--max-inbound-bytes; past it the connection holding the most is closed with 1009), \
         plus up to one read per connection being handed on",
        bytes(config.max_inbound_bytes)
    ));
    lines.push(format!(
        "  freed buffers of {} or more go back to the OS in the background: counted in that total \
         until they have, at most {} waiting",
        bytes(ws_alloc::LARGE),
        bytes(max_deferred_frees(config))
    ));
    lines.push(format!(
        "  worst case in buffers: {} for {} connections",
        bytes(per_connection.saturating_mul(config.max_connections)),
        config.max_connections
    ));
    lines
}

/// The most freed bytes that may wait for `ws_alloc`'s background thread:
/// the inbound budget, and one message more, since the allocator rounds
/// buffers up (two evicted 31 MiB messages' buffers are 64.02 MiB).
pub fn max_deferred_frees(config: &ServerConfig) -> usize {
    config
        .max_inbound_bytes
        .saturating_add(config.max_message_size)
}

/// A byte count as people read it: `16 KiB`, `64 MiB`.
pub fn bytes(n: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(16 << 10), "16 KiB");
        assert_eq!(bytes(3 << 19), "1.5 MiB");
    }

    #[test]
    fn the_worst_case_names_every_limit() {
        let lines = worst_case(&ServerConfig::default(), Some(1024)).join("\n");
        assert!(lines.contains("100000 WebSocket connections"), "{lines}");
        assert!(lines.contains("open files limit (1024)"), "{lines}");
        assert!(lines.contains("64 MiB"), "{lines}");
        assert!(
            lines.contains("1 MiB or more go back to the OS in the background"),
            "{lines}"
        );
        assert!(lines.contains("at most 320 MiB waiting"), "{lines}");
    }
}

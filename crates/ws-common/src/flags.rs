//! What a valid configuration is: the value parsers behind the duration and
//! size flags, and the checks across flags. A flag that cannot work is
//! refused when the command line is parsed (a one-line clap error, exit code
//! 2) rather than by a panic in some task later.

use std::time::Duration;

use crate::config::ServerConfig;

/// The longest duration any flag takes. Deadlines are computed as "now +
/// duration", which overflows (and panics) for absurd values; a day is far
/// beyond any sensible setting.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The smallest `--max-message-size`: a control frame's largest payload (RFC
/// 6455 section 5.5). Frames are limited to the message size, so anything
/// smaller would fail the Pings and Closes the protocol itself sends.
pub const MIN_MESSAGE_SIZE: usize = 125;

/// The smallest `--read-buffer-size`: below this every read takes in a few
/// frames at most, and each one costs a syscall.
pub const MIN_READ_BUFFER_SIZE: usize = 1 << 10;

/// The most tokio worker threads `--workers` takes.
pub const MAX_WORKERS: usize = 1024;

/// Why a configuration cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Parses a duration with units (`500ms`, `15s`, `2m`) that must be more
/// than zero and at most [`MAX_DURATION`].
pub fn positive_duration(text: &str) -> Result<Duration, ConfigError> {
    let duration = humantime::parse_duration(text).map_err(|err| ConfigError(err.to_string()))?;
    check_duration(duration).map(|()| duration)
}

/// A parser for a count or size in `min..=max`.
pub fn size_in(
    min: usize,
    max: usize,
) -> impl Fn(&str) -> Result<usize, ConfigError> + Clone + Send + Sync + 'static {
    move |text| {
        let value: usize = text
            .parse()
            .map_err(|err: std::num::ParseIntError| ConfigError(err.to_string()))?;
        if value < min {
            Err(ConfigError(format!("must be at least {min}")))
        } else if value > max {
            Err(ConfigError(format!("must be at most {max}")))
        } else {
            Ok(value)
        }
    }
}

fn check_duration(duration: Duration) -> Result<(), ConfigError> {
    if duration.is_zero() {
        Err(ConfigError("must be more than zero".into()))
    } else if duration > MAX_DURATION {
        Err(ConfigError(format!(
            "must be at most {}",
            humantime::format_duration(MAX_DURATION)
        )))
    } else {
        Ok(())
    }
}

/// Checks what no single flag's parser can see: flags that contradict each
/// other, and (for configurations built in code rather than parsed) the
/// ranges the parsers enforce. The command line reports the error as a
/// usage error; [`crate::serve`] refuses to start with it.
pub fn validate(config: &ServerConfig) -> Result<(), ConfigError> {
    validate_values(config)?;
    if config.idle_timeout <= config.ping_interval {
        return Err(ConfigError(format!(
            "--idle-timeout ({}) must be longer than --ping-interval ({}): a quiet client \
             that answers every ping would still be closed as idle",
            humantime::format_duration(config.idle_timeout),
            humantime::format_duration(config.ping_interval)
        )));
    }
    if config.max_inbound_bytes < config.max_message_size {
        return Err(ConfigError(format!(
            "--max-inbound-bytes ({}) must be at least --max-message-size ({}): a message \
             that size could never be received",
            config.max_inbound_bytes, config.max_message_size
        )));
    }
    Ok(())
}

/// The ranges of each value on its own: what would make a task panic or a
/// connection fail whatever the client does. [`crate::serve`] checks these
/// for configurations built in code (tests may set an idle timeout shorter
/// than the ping interval on purpose, so the cross checks are the command
/// line's).
pub fn validate_values(config: &ServerConfig) -> Result<(), ConfigError> {
    let durations = [
        ("--ping-interval", config.ping_interval),
        ("--idle-timeout", config.idle_timeout),
        ("--shutdown-grace", config.shutdown_grace),
        ("--send-timeout", config.send_timeout),
        ("--handshake-timeout", config.handshake_timeout),
    ];
    for (flag, duration) in durations {
        check_duration(duration).map_err(|err| ConfigError(format!("{flag} {err}")))?;
    }
    if let Some(workers) = config.workers
        && !(1..=MAX_WORKERS).contains(&workers)
    {
        return Err(ConfigError(format!(
            "--workers must be in 1..={MAX_WORKERS}"
        )));
    }
    let minimums = [
        (
            "--max-message-size",
            config.max_message_size,
            MIN_MESSAGE_SIZE,
        ),
        (
            "--read-buffer-size",
            config.read_buffer_size,
            MIN_READ_BUFFER_SIZE,
        ),
        (
            "--max-inbound-bytes",
            config.max_inbound_bytes,
            MIN_MESSAGE_SIZE,
        ),
        ("--max-connections", config.max_connections, 1),
        ("--max-handshakes", config.max_handshakes, 1),
        ("--max-rooms", config.max_rooms, 1),
    ];
    for (flag, value, min) in minimums {
        if value < min {
            return Err(ConfigError(format!("{flag} must be at least {min}")));
        }
    }
    if config.queue_capacity == 0 || config.queue_bytes == 0 {
        return Err(ConfigError(
            "--queue-capacity and --queue-bytes must be at least 1".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_must_be_positive_and_bounded() {
        assert_eq!(positive_duration("15s"), Ok(Duration::from_secs(15)));
        assert!(positive_duration("0s").is_err());
        assert!(positive_duration("0ms").is_err());
        assert!(positive_duration("-1s").is_err());
        assert!(positive_duration("2days").is_err());
        assert!(positive_duration("soon").is_err());
    }

    #[test]
    fn sizes_must_be_in_range() {
        let parse = size_in(1, 8);
        assert_eq!(parse("8"), Ok(8));
        assert!(parse("0").is_err());
        assert!(parse("9").is_err());
        assert!(parse("-1").is_err());
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(validate(&ServerConfig::default()), Ok(()));
    }

    #[test]
    fn contradictions_and_bad_values_are_refused() {
        let idle_before_ping = ServerConfig {
            idle_timeout: Duration::from_secs(15),
            ..ServerConfig::default()
        };
        assert!(validate(&idle_before_ping).is_err());
        // Values built in code are checked the same way as parsed ones.
        let zero_workers = ServerConfig {
            workers: Some(0),
            ..ServerConfig::default()
        };
        assert!(validate_values(&zero_workers).is_err());
        let zero_ping = ServerConfig {
            ping_interval: Duration::ZERO,
            ..ServerConfig::default()
        };
        assert!(validate_values(&zero_ping).is_err());
        let tiny_messages = ServerConfig {
            max_message_size: 16,
            ..ServerConfig::default()
        };
        assert!(validate_values(&tiny_messages).is_err());
    }
}

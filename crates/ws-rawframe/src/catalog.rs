//! The bad inputs every server is tested with, and the answer RFC 6455
//! prescribes for each. One list, so the test suite and `ws-loadgen
//! badinput` judge servers by the same rules.

use std::net::SocketAddr;
use std::time::Duration;

use crate::client::{KEY, Outcome, RawClient, RawError, upgrade_request};
use crate::frame::{Frame, opcode};

/// When the bad bytes are sent.
#[derive(Debug, Clone)]
pub enum Stage {
    /// On a fresh TCP connection, instead of a valid upgrade request; with
    /// `half_close`, our side is half-closed afterwards, as a client that
    /// gave up would.
    Handshake {
        /// The bytes.
        bytes: Vec<u8>,
        /// Half-close after sending.
        half_close: bool,
    },
    /// After a valid upgrade.
    Frames(Vec<u8>),
}

/// What a correct server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No upgrade: an HTTP 4xx answer, or the connection closed without one.
    Refused,
    /// A Close frame with this code (RFC 6455 section 7.4.1).
    Close(u16),
}

impl Expect {
    /// Whether `outcome` is what a correct server does.
    pub fn accepts(self, outcome: &Outcome) -> bool {
        match self {
            Expect::Refused => matches!(
                outcome,
                Outcome::Http(400..=499) | Outcome::Ended | Outcome::Failed(_)
            ),
            Expect::Close(code) => matches!(
                outcome,
                Outcome::Closed { code: Some(got), .. } if *got == code
            ),
        }
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Refused => write!(f, "HTTP 4xx or closed"),
            Expect::Close(code) => write!(f, "close {code}"),
        }
    }
}

/// One bad input.
#[derive(Debug, Clone)]
pub struct BadInput {
    /// What it is, in a few words.
    pub name: String,
    /// The bytes, and when they are sent.
    pub stage: Stage,
    /// The answer RFC 6455 prescribes.
    pub expect: Expect,
}

/// Protocol error (RFC 6455 section 7.4.1).
const PROTOCOL: u16 = 1002;
/// Data inconsistent with the message type: invalid UTF-8 in a Text message.
const INVALID: u16 = 1007;
/// A message too big to process.
const SIZE: u16 = 1009;

/// Every bad input, for a server upgraded at `path` whose
/// `--max-message-size` is `max_message_size`.
///
/// The handshake inputs: random bytes, a truncated request, an unsupported
/// `Sec-WebSocket-Version`. The frame inputs: an unmasked frame, each
/// reserved bit, each reserved opcode, fragmented and oversized control
/// frames, invalid UTF-8 (in one frame, across fragments, cut short, in a
/// close reason), close codes a peer may not send, a 1-byte close payload,
/// a frame and a fragmented message over the size limit, a continuation
/// without a start and a new message inside a fragmented one.
pub fn catalog(path: &str, max_message_size: usize) -> Vec<BadInput> {
    let mut inputs = Vec::new();
    let mut handshake = |name: &str, bytes: Vec<u8>, half_close: bool| {
        inputs.push(BadInput {
            name: name.to_owned(),
            stage: Stage::Handshake { bytes, half_close },
            expect: Expect::Refused,
        });
    };
    handshake("random bytes instead of a handshake", noise(512), false);
    let request = upgrade_request("127.0.0.1", path);
    handshake(
        "truncated handshake",
        request.as_bytes()[..request.len() / 2].to_vec(),
        true,
    );
    handshake(
        "upgrade with Sec-WebSocket-Version 12",
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 12\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
        )
        .into_bytes(),
        false,
    );

    let mut frames = |name: String, frames: &[Frame], code: u16| {
        let mut bytes = Vec::new();
        for frame in frames {
            frame.encode_into(&mut bytes);
        }
        inputs.push(BadInput {
            name,
            stage: Stage::Frames(bytes),
            expect: Expect::Close(code),
        });
    };
    frames(
        "unmasked client frame".into(),
        &[Frame::text("hello").unmasked()],
        PROTOCOL,
    );
    for (bit, rsv) in [(1, 0b100), (2, 0b010), (3, 0b001)] {
        frames(
            format!("RSV{bit} set"),
            &[Frame::text("hello").with_rsv(rsv)],
            PROTOCOL,
        );
    }
    for op in (0x3..=0x7).chain(0xB..=0xF) {
        frames(
            format!("reserved opcode {op:#x}"),
            &[Frame::new(op, b"hello".to_vec())],
            PROTOCOL,
        );
    }
    frames(
        "fragmented ping".into(),
        &[
            Frame::ping("frag").with_fin(false),
            Frame::continuation("ment"),
        ],
        PROTOCOL,
    );
    frames(
        "fragmented close".into(),
        &[Frame::close(1000, b"").with_fin(false)],
        PROTOCOL,
    );
    frames(
        "ping of 126 bytes".into(),
        &[Frame::ping(vec![b'p'; 126])],
        PROTOCOL,
    );
    frames(
        "close of 126 bytes".into(),
        &[Frame::close(1000, &[b'r'; 124])],
        PROTOCOL,
    );
    frames(
        "invalid UTF-8 in a text message".into(),
        &[Frame::text(b"hello \xff world".to_vec())],
        INVALID,
    );
    frames(
        "invalid UTF-8 across text fragments".into(),
        &[
            Frame::text(b"h\xc3".to_vec()).with_fin(false),
            Frame::continuation(b"(llo".to_vec()),
        ],
        INVALID,
    );
    frames(
        "UTF-8 cut short at the end of a text message".into(),
        &[Frame::text(b"ab\xe2\x82".to_vec())],
        INVALID,
    );
    frames(
        "invalid UTF-8 in a close reason".into(),
        &[Frame::close(1000, b"bye \xff")],
        INVALID,
    );
    for code in [
        0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2999, 5000, 65535,
    ] {
        frames(
            format!("close code {code}"),
            &[Frame::close(code, b"")],
            PROTOCOL,
        );
    }
    frames(
        "close with a 1-byte payload".into(),
        &[Frame::new(opcode::CLOSE, vec![0x03])],
        PROTOCOL,
    );
    frames(
        "frame over --max-message-size (header only)".into(),
        &[Frame::binary(Vec::new()).declaring_len(max_message_size as u64 + 1)],
        SIZE,
    );
    let half = vec![b'x'; max_message_size / 2 + 1];
    frames(
        "message over --max-message-size in two fragments".into(),
        &[
            Frame::binary(half.clone()).with_fin(false),
            Frame::continuation(half),
        ],
        SIZE,
    );
    frames(
        "continuation without a start".into(),
        &[Frame::continuation("orphan")],
        PROTOCOL,
    );
    frames(
        "new message inside a fragmented one".into(),
        &[Frame::text("first").with_fin(false), Frame::text("second")],
        PROTOCOL,
    );
    inputs
}

/// Throws `input` at the server on `addr` (upgrading `path` first for frame
/// inputs) and returns how the server ended the connection, waiting at most
/// `bound` for it. An error only when the valid upgrade before the frames
/// fails.
pub async fn run_input(
    addr: SocketAddr,
    path: &str,
    input: &BadInput,
    bound: Duration,
) -> Result<Outcome, RawError> {
    match &input.stage {
        Stage::Handshake { bytes, half_close } => {
            let exchange = async {
                let mut client = RawClient::connect(addr).await?;
                client.send(bytes).await?;
                if *half_close {
                    client.shutdown_write().await?;
                }
                client.read_http_status().await
            };
            Ok(match tokio::time::timeout(bound, exchange).await {
                Err(_elapsed) => Outcome::TimedOut,
                Ok(Ok(Some(status))) => Outcome::Http(status),
                Ok(Ok(None)) => Outcome::Ended,
                Ok(Err(err)) => Outcome::Failed(err.to_string()),
            })
        }
        Stage::Frames(bytes) => {
            let mut client = tokio::time::timeout(bound, RawClient::upgrade(addr, path))
                .await
                .map_err(|_| RawError::Malformed("the upgrade did not finish in time".into()))??;
            // A server may close (and stop reading) before the last byte is
            // written: what it answered is still read below.
            let _ = tokio::time::timeout(bound, client.send(bytes)).await;
            Ok(client.outcome(bound).await)
        }
    }
}

/// `len` bytes of reproducible noise (xorshift), none of them a valid start
/// of an HTTP request line.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Keep the top byte; set the high bit so no byte is an ASCII letter.
            (state >> 56) as u8 | 0x80
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_expectation_is_checked_by_kind() {
        let closed = |code| Outcome::Closed {
            code: Some(code),
            reason: String::new(),
        };
        assert!(Expect::Close(1002).accepts(&closed(1002)));
        assert!(!Expect::Close(1002).accepts(&closed(1007)));
        assert!(!Expect::Close(1002).accepts(&Outcome::Ended));
        assert!(Expect::Refused.accepts(&Outcome::Http(400)));
        assert!(Expect::Refused.accepts(&Outcome::Ended));
        assert!(!Expect::Refused.accepts(&Outcome::Http(101)));
        assert!(!Expect::Refused.accepts(&Outcome::TimedOut));
    }

    #[test]
    fn the_catalog_covers_the_issue_list() {
        let inputs = catalog("/ws/echo", 1024);
        assert!(inputs.len() > 30, "{}", inputs.len());
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        for wanted in [
            "random bytes instead of a handshake",
            "truncated handshake",
            "unmasked client frame",
            "RSV1 set",
            "reserved opcode 0x3",
            "reserved opcode 0xf",
            "fragmented ping",
            "ping of 126 bytes",
            "invalid UTF-8 in a text message",
            "close code 999",
            "close with a 1-byte payload",
            "frame over --max-message-size (header only)",
            "continuation without a start",
        ] {
            assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
        }
    }
}

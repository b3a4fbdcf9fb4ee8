//! The payload every generated message carries, and its verification.
//!
//! Layout of the binary header (little endian, 32 bytes):
//!
//! | bytes  | field                                                     |
//! |--------|-----------------------------------------------------------|
//! | 0..2   | magic `WL`                                                |
//! | 2      | version (1)                                               |
//! | 3      | kind: 0 data, 1 hello (room join handshake)               |
//! | 4..8   | sender id (connection or member index)                    |
//! | 8..16  | sequence number, per sender, from 0                       |
//! | 16..24 | send timestamp: ns since the run-local epoch; in open loop the *intended* send time |
//! | 24..28 | total message length in bytes                             |
//! | 28..32 | FNV-1a checksum of bytes 0..28                            |
//!
//! The body after the header is a pattern derived from (sender, sequence), so a
//! flipped, truncated or swapped byte anywhere is detected without keeping a
//! copy of what was sent. The pattern has a period of 256 bytes, which lets the
//! check run as a handful of `memcmp`s instead of a byte loop.
//!
//! Text messages (`Encoding::Text`) carry the same 32 header bytes as 64
//! lowercase hex digits, and a body of URL-safe base64 alphabet characters, so
//! they stay valid UTF-8.

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Message;

/// Header size of a binary message.
pub const HEADER_LEN_BINARY: usize = 32;
/// Header size of a text message (the binary header as hex).
pub const HEADER_LEN_TEXT: usize = 64;
/// The largest payload the servers under test accept.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

const MAGIC: [u8; 2] = *b"WL";
const VERSION: u8 = 1;
const PERIOD: usize = 256;
const TEXT_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Binary pattern: 0..=255 twice, so any 256-byte window starting at `seed` is a slice.
static BINARY_PATTERN: [u8; 2 * PERIOD] = {
    let mut p = [0u8; 2 * PERIOD];
    let mut i = 0;
    while i < 2 * PERIOD {
        p[i] = (i % 256) as u8;
        i += 1;
    }
    p
};

/// Text pattern: the 64-character alphabet repeated; 64 divides 256.
static TEXT_PATTERN: [u8; 2 * PERIOD] = {
    let mut p = [0u8; 2 * PERIOD];
    let mut i = 0;
    while i < 2 * PERIOD {
        p[i] = TEXT_ALPHABET[i % 64];
        i += 1;
    }
    p
};

/// Whether messages are sent as WebSocket Binary or Text frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Binary frames (the default: no UTF-8 validation on either side).
    #[default]
    Binary,
    /// Text frames; the header is hex, the body ASCII.
    Text,
}

impl Encoding {
    /// The smallest payload this encoding can carry.
    #[must_use]
    pub const fn header_len(self) -> usize {
        match self {
            Self::Binary => HEADER_LEN_BINARY,
            Self::Text => HEADER_LEN_TEXT,
        }
    }
}

/// What a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A measured message.
    Data,
    /// A room-join probe: not measured, not sequence-tracked.
    Hello,
}

/// The decoded header of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Data or hello.
    pub kind: Kind,
    /// Index of the sending connection or member.
    pub sender: u32,
    /// Per-sender sequence number, from 0.
    pub seq: u64,
    /// Send timestamp in ns since the run-local epoch (intended time in open loop).
    pub sent_ns: u64,
    /// Total message length in bytes, header included.
    pub len: u32,
}

/// Why a payload could not be built or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The requested payload size cannot hold the header.
    #[error(
        "payload size {size} B is smaller than the {header} B header ({encoding:?} messages need at least {header} B)"
    )]
    TooSmall {
        /// Requested size.
        size: usize,
        /// Header size of the encoding.
        header: usize,
        /// The encoding.
        encoding: Encoding,
    },
    /// The requested payload size is over the servers' 16 MiB limit.
    #[error("payload size {0} B is over the 16 MiB limit")]
    TooLarge(usize),
    /// A received message is shorter than the header.
    #[error("message of {0} B is shorter than the header")]
    Short(usize),
    /// Magic or version bytes are wrong.
    #[error("not a ws-loadgen message (bad magic or version)")]
    BadMagic,
    /// The header checksum does not match.
    #[error("header checksum mismatch")]
    BadChecksum,
    /// A text header is not hex.
    #[error("text header is not hex")]
    BadHex,
    /// The length field and the received length differ (truncated or padded).
    #[error("length field says {expected} B, message has {actual} B")]
    LengthMismatch {
        /// Length written by the sender.
        expected: usize,
        /// Length received.
        actual: usize,
    },
    /// The body pattern differs.
    #[error("body differs from the pattern near byte {0}")]
    BodyMismatch(usize),
    /// A Text message arrived where Binary was sent, or the reverse.
    #[error("message type changed (expected {0:?})")]
    WrongType(Encoding),
}

fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Pattern offset for a message; differs between neighbours so swapped bodies are caught.
fn seed(sender: u32, seq: u64) -> usize {
    let x = (u64::from(sender).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        ^ seq.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    (x >> 56) as usize
}

fn pattern(encoding: Encoding) -> &'static [u8; 2 * PERIOD] {
    match encoding {
        Encoding::Binary => &BINARY_PATTERN,
        Encoding::Text => &TEXT_PATTERN,
    }
}

/// Builds and checks messages of one encoding and size.
#[derive(Clone, Debug)]
pub struct PayloadCodec {
    encoding: Encoding,
    size: usize,
}

impl PayloadCodec {
    /// A codec for messages of exactly `size` bytes.
    ///
    /// # Errors
    /// [`PayloadError::TooSmall`] when `size` cannot hold the header, [`PayloadError::TooLarge`] over 16 MiB.
    pub fn new(encoding: Encoding, size: usize) -> Result<Self, PayloadError> {
        let header = encoding.header_len();
        if size < header {
            return Err(PayloadError::TooSmall {
                size,
                header,
                encoding,
            });
        }
        if size > MAX_PAYLOAD {
            return Err(PayloadError::TooLarge(size));
        }
        Ok(Self { encoding, size })
    }

    /// The encoding.
    #[must_use]
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The message size in bytes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Build one message.
    #[must_use]
    pub fn encode(&self, kind: Kind, sender: u32, seq: u64, sent_ns: u64) -> Message {
        let mut raw = [0u8; HEADER_LEN_BINARY];
        raw[0..2].copy_from_slice(&MAGIC);
        raw[2] = VERSION;
        raw[3] = match kind {
            Kind::Data => 0,
            Kind::Hello => 1,
        };
        raw[4..8].copy_from_slice(&sender.to_le_bytes());
        raw[8..16].copy_from_slice(&seq.to_le_bytes());
        raw[16..24].copy_from_slice(&sent_ns.to_le_bytes());
        // MAX_PAYLOAD fits in u32, checked in `new`.
        raw[24..28].copy_from_slice(&(self.size as u32).to_le_bytes());
        let check = fnv1a(&raw[0..28]);
        raw[28..32].copy_from_slice(&check.to_le_bytes());

        let mut buf = Vec::with_capacity(self.size);
        match self.encoding {
            Encoding::Binary => buf.extend_from_slice(&raw),
            Encoding::Text => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                for b in raw {
                    buf.push(HEX[usize::from(b >> 4)]);
                    buf.push(HEX[usize::from(b & 0xf)]);
                }
            }
        }
        let body_len = self.size - self.encoding.header_len();
        let pat = pattern(self.encoding);
        let s = seed(sender, seq);
        let mut left = body_len;
        while left > 0 {
            let n = left.min(PERIOD);
            buf.extend_from_slice(&pat[s..s + n]);
            left -= n;
        }
        match self.encoding {
            Encoding::Binary => Message::Binary(Bytes::from(buf)),
            Encoding::Text => match String::from_utf8(buf) {
                Ok(s) => Message::Text(s.into()),
                // Unreachable: hex digits and the alphabet are ASCII. Fall back to
                // binary rather than panic; the receiver would count it as corrupted.
                Err(e) => Message::Binary(Bytes::from(e.into_bytes())),
            },
        }
    }
}

/// Decode and verify a received message.
///
/// With `verify_body` false only the header is checked (magic, checksum,
/// length); that is what `--no-verify` measures.
///
/// # Errors
/// A [`PayloadError`] naming the first defect found.
pub fn decode(
    msg: &Message,
    encoding: Encoding,
    verify_body: bool,
) -> Result<Header, PayloadError> {
    let data: &[u8] = match (msg, encoding) {
        (Message::Binary(b), Encoding::Binary) => b,
        (Message::Text(t), Encoding::Text) => t.as_bytes(),
        _ => return Err(PayloadError::WrongType(encoding)),
    };
    decode_bytes(data, encoding, verify_body)
}

/// Decode and verify the bytes of a message (see [`decode`]).
///
/// # Errors
/// A [`PayloadError`] naming the first defect found.
pub fn decode_bytes(
    data: &[u8],
    encoding: Encoding,
    verify_body: bool,
) -> Result<Header, PayloadError> {
    let header_len = encoding.header_len();
    if data.len() < header_len {
        return Err(PayloadError::Short(data.len()));
    }
    let mut raw = [0u8; HEADER_LEN_BINARY];
    match encoding {
        Encoding::Binary => raw.copy_from_slice(&data[..HEADER_LEN_BINARY]),
        Encoding::Text => {
            for (i, pair) in data[..HEADER_LEN_TEXT].chunks_exact(2).enumerate() {
                raw[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
            }
        }
    }
    if raw[0..2] != MAGIC || raw[2] != VERSION {
        return Err(PayloadError::BadMagic);
    }
    let check = u32::from_le_bytes([raw[28], raw[29], raw[30], raw[31]]);
    if fnv1a(&raw[0..28]) != check {
        return Err(PayloadError::BadChecksum);
    }
    let kind = match raw[3] {
        0 => Kind::Data,
        1 => Kind::Hello,
        _ => return Err(PayloadError::BadMagic),
    };
    let sender = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
    let seq = u64::from_le_bytes([
        raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15],
    ]);
    let sent_ns = u64::from_le_bytes([
        raw[16], raw[17], raw[18], raw[19], raw[20], raw[21], raw[22], raw[23],
    ]);
    let len = u32::from_le_bytes([raw[24], raw[25], raw[26], raw[27]]);
    if len as usize != data.len() {
        return Err(PayloadError::LengthMismatch {
            expected: len as usize,
            actual: data.len(),
        });
    }
    if verify_body {
        let pat = pattern(encoding);
        let s = seed(sender, seq);
        for (k, chunk) in data[header_len..].chunks(PERIOD).enumerate() {
            if chunk != &pat[s..s + chunk.len()] {
                return Err(PayloadError::BodyMismatch(header_len + k * PERIOD));
            }
        }
    }
    Ok(Header {
        kind,
        sender,
        seq,
        sent_ns,
        len,
    })
}

fn hex_val(c: u8) -> Result<u8, PayloadError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(PayloadError::BadHex),
    }
}

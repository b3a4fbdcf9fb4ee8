//! Frames as bytes: encoding any header the caller asks for, valid or not,
//! and decoding what a server sends.

/// Opcodes (RFC 6455 section 5.2); 3-7 and 0xB-0xF are reserved.
pub mod opcode {
    /// Continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// Text message (UTF-8).
    pub const TEXT: u8 = 0x1;
    /// Binary message.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// The masking key used unless another is given: the one from RFC 6455's
/// examples. Any key is valid; a fixed one keeps the bytes reproducible.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame, with every header field explicit. Built frames are masked
/// with [`MASK`] (as a client must) unless [`Frame::unmasked`] says not to;
/// decoded frames carry `mask: None` and the unmasked payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN: the last frame of a message.
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as the three low bits (RSV1 = `0b100`).
    pub rsv: u8,
    /// The opcode (four bits; higher bits are dropped when encoding).
    pub opcode: u8,
    /// The masking key, or `None` for an unmasked frame.
    pub mask: Option<[u8; 4]>,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
    /// A length to put in the header instead of `payload.len()`: a header
    /// that announces more than is sent (or a huge frame, sent header only).
    pub declared_len: Option<u64>,
}

/// Why bytes from a server do not decode as a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The announced payload is larger than the reader accepts.
    TooLong(u64),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooLong(len) => write!(f, "frame announces {len} bytes, too long"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl Frame {
    /// A final, masked frame with `opcode` and `payload`.
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            fin: true,
            rsv: 0,
            opcode,
            mask: Some(MASK),
            payload: payload.into(),
            declared_len: None,
        }
    }

    /// A Text frame.
    pub fn text(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::TEXT, payload)
    }

    /// A Binary frame.
    pub fn binary(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::BINARY, payload)
    }

    /// A Continuation frame.
    pub fn continuation(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::CONTINUATION, payload)
    }

    /// A Ping frame.
    pub fn ping(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::PING, payload)
    }

    /// A Close frame with `code` and `reason` (raw bytes, so invalid UTF-8
    /// can be sent).
    pub fn close(code: u16, reason: &[u8]) -> Self {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        Self::new(opcode::CLOSE, payload)
    }

    /// The same frame with FIN set to `fin`.
    #[must_use]
    pub fn with_fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }

    /// The same frame with the reserved bits `rsv` (three low bits).
    #[must_use]
    pub fn with_rsv(mut self, rsv: u8) -> Self {
        self.rsv = rsv;
        self
    }

    /// The same frame, unmasked (a protocol error from a client).
    #[must_use]
    pub fn unmasked(mut self) -> Self {
        self.mask = None;
        self
    }

    /// The same frame with its header announcing `len` payload bytes,
    /// whatever is actually sent.
    #[must_use]
    pub fn declaring_len(mut self, len: u64) -> Self {
        self.declared_len = Some(len);
        self
    }

    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 14);
        self.encode_into(&mut out);
        out
    }

    /// Appends the frame's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push((u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | (self.opcode & 0x0f));
        let len = self.declared_len.unwrap_or(self.payload.len() as u64);
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        if len < 126 {
            // `len < 126`, so the cast keeps every bit.
            out.push(mask_bit | len as u8);
        } else if let Ok(short) = u16::try_from(len) {
            out.push(mask_bit | 126);
            out.extend_from_slice(&short.to_be_bytes());
        } else {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
        match self.mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(
                    self.payload
                        .iter()
                        .zip(key.iter().cycle())
                        .map(|(byte, k)| byte ^ k),
                );
            }
            None => out.extend_from_slice(&self.payload),
        }
    }

    /// Decodes one frame from the start of `buf`: `Ok(None)` when more bytes
    /// are needed, else the frame (unmasked) and how many bytes it took.
    /// Frames announcing more than `max_payload` bytes are refused.
    pub fn decode(buf: &[u8], max_payload: u64) -> Result<Option<(Frame, usize)>, DecodeError> {
        let [b0, b1, rest @ ..] = buf else {
            return Ok(None);
        };
        let (len, mut at) = match b1 & 0x7f {
            126 => match rest {
                [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 4),
                _ => return Ok(None),
            },
            127 => match rest.get(..8) {
                Some(bytes) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(bytes);
                    (u64::from_be_bytes(be), 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        if len > max_payload {
            return Err(DecodeError::TooLong(len));
        }
        let mask = if b1 & 0x80 != 0 {
            let Some(key) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        // `len <= max_payload`, which the caller keeps to memory sizes.
        let len = usize::try_from(len).map_err(|_| DecodeError::TooLong(len))?;
        let Some(payload) = buf.get(at..at + len) else {
            return Ok(None);
        };
        let payload = match mask {
            Some(key) => payload
                .iter()
                .zip(key.iter().cycle())
                .map(|(byte, k)| byte ^ k)
                .collect(),
            None => payload.to_vec(),
        };
        let frame = Frame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0b111,
            opcode: b0 & 0x0f,
            mask: None,
            payload,
            declared_len: None,
        };
        Ok(Some((frame, at + len)))
    }

    /// For a Close frame: its code (`None` for an empty payload) and reason.
    pub fn close_code(&self) -> Option<u16> {
        match self.payload.as_slice() {
            [a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_rfc_example() {
        // RFC 6455 section 5.7: a masked "Hello".
        let frame = Frame::text("Hello");
        assert_eq!(
            frame.encode(),
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        let unmasked = Frame::text("Hello").unmasked();
        assert_eq!(
            unmasked.encode(),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
    }

    #[test]
    fn round_trips_every_length_form() {
        for len in [0usize, 125, 126, 65_535, 65_536] {
            let frame = Frame::binary(vec![7u8; len])
                .with_rsv(0b101)
                .with_fin(false);
            let bytes = frame.encode();
            let (decoded, used) = Frame::decode(&bytes, 1 << 20)
                .expect("decodes")
                .expect("complete");
            assert_eq!(used, bytes.len());
            assert_eq!(decoded.payload, frame.payload);
            assert_eq!(
                (decoded.fin, decoded.rsv, decoded.opcode),
                (false, 0b101, 2)
            );
            assert_eq!(Frame::decode(&bytes[..bytes.len() - 1], 1 << 20), Ok(None));
        }
    }

    #[test]
    fn declared_length_overrides_the_payload() {
        let bytes = Frame::binary(Vec::new()).declaring_len(1 << 40).encode();
        assert_eq!(bytes.len(), 2 + 8 + 4);
        assert_eq!(
            Frame::decode(&bytes, 1 << 20),
            Err(DecodeError::TooLong(1 << 40))
        );
    }
}

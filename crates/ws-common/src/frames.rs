//! Where messages begin and end in the bytes a client sends, without
//! buffering them: the frame headers (RFC 6455 section 5.2) are read as the
//! bytes go by, so the inbound budget knows how many bytes belong to a
//! message still being received.
//!
//! It follows frame boundaries only; whether the frames are valid is
//! tungstenite's business (an invalid one ends the connection there).

/// Counts the bytes of the message being received, frame by frame.
#[derive(Debug, Default)]
pub struct FrameTracker {
    state: State,
    /// Bytes of the data message in progress: the headers and payloads of
    /// its frames so far, the one being read included.
    message: u64,
    /// Bytes of a control frame in progress (they come between the frames
    /// of a fragmented message, and are answered as soon as they are whole).
    control: u64,
}

#[derive(Debug)]
enum State {
    /// Reading a header: the bytes so far, and how many it has in all
    /// (known once its first two bytes are in).
    Header { bytes: [u8; 14], have: usize },
    /// Skipping a payload.
    Payload {
        remaining: u64,
        fin: bool,
        control: bool,
    },
}

impl Default for State {
    fn default() -> Self {
        State::Header {
            bytes: [0; 14],
            have: 0,
        }
    }
}

impl FrameTracker {
    /// Bytes held for what is not yet a whole message (or control frame).
    pub fn held(&self) -> u64 {
        self.message + self.control
    }

    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                State::Header { bytes, have } => {
                    bytes[*have] = data[0];
                    *have += 1;
                    data = &data[1..];
                    if let Some(header) = parse_header(&bytes[..*have]) {
                        let len = *have as u64;
                        self.state = State::Payload {
                            remaining: header.payload,
                            fin: header.fin,
                            control: header.control,
                        };
                        self.count(header.control, len);
                        self.end_of_frame_if_empty();
                    }
                }
                State::Payload {
                    remaining,
                    fin: _,
                    control,
                } => {
                    let take = (*remaining).min(data.len() as u64);
                    *remaining -= take;
                    let control = *control;
                    // `take` fits in usize: it is at most `data.len()`.
                    data = &data[usize::try_from(take).unwrap_or(data.len())..];
                    self.count(control, take);
                    self.end_of_frame_if_empty();
                }
            }
        }
    }

    fn count(&mut self, control: bool, bytes: u64) {
        if control {
            self.control += bytes;
        } else {
            self.message += bytes;
        }
    }

    /// Once a frame's payload is complete: a control frame is handled at
    /// once, a final data frame completes its message.
    fn end_of_frame_if_empty(&mut self) {
        if let State::Payload {
            remaining: 0,
            fin,
            control,
        } = self.state
        {
            if control {
                self.control = 0;
            } else if fin {
                self.message = 0;
            }
            self.state = State::default();
        }
    }
}

struct Header {
    fin: bool,
    control: bool,
    payload: u64,
}

/// The header in `bytes`, once they are all of it.
fn parse_header(bytes: &[u8]) -> Option<Header> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let masked = second & 0x80 != 0;
    let (length_bytes, short) = match second & 0x7f {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let total = 2 + length_bytes + if masked { 4 } else { 0 };
    if bytes.len() < total {
        return None;
    }
    let payload = short.unwrap_or_else(|| {
        bytes[2..2 + length_bytes]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    });
    Some(Header {
        fin: first & 0x80 != 0,
        control: first & 0x08 != 0,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame (the mask is zero: the tracker never unmasks).
    fn frame(fin: bool, opcode: u8, payload: usize) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload {
            0..=125 => out.push(0x80 | payload as u8),
            126..=0xffff => {
                out.push(0x80 | 126);
                out.extend((payload as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend((payload as u64).to_be_bytes());
            }
        }
        out.extend([0; 4]);
        out.extend(std::iter::repeat_n(7, payload));
        out
    }

    #[test]
    fn whole_messages_hold_nothing_whatever_the_chunks() {
        let mut stream = frame(true, 2, 10);
        stream.extend(frame(true, 1, 300));
        stream.extend(frame(true, 2, 70_000));
        for chunk in [1, 3, 7, 1000, stream.len()] {
            let mut tracker = FrameTracker::default();
            for piece in stream.chunks(chunk) {
                tracker.feed(piece);
            }
            assert_eq!(tracker.held(), 0, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_partial_message_is_held_across_fragments_and_pings() {
        let mut tracker = FrameTracker::default();
        let first = frame(false, 2, 1000);
        tracker.feed(&first);
        assert_eq!(tracker.held(), first.len() as u64);
        // A Ping between fragments is answered, and does not end the message.
        tracker.feed(&frame(true, 9, 5));
        assert_eq!(tracker.held(), first.len() as u64);
        let cont = frame(false, 0, 500);
        tracker.feed(&cont[..100]);
        assert_eq!(tracker.held(), (first.len() + 100) as u64);
        tracker.feed(&cont[100..]);
        tracker.feed(&frame(true, 0, 1));
        assert_eq!(tracker.held(), 0);
    }

    #[test]
    fn a_large_frame_in_progress_is_held() {
        let mut tracker = FrameTracker::default();
        let big = frame(true, 2, 1 << 20);
        tracker.feed(&big[..big.len() - 1]);
        assert_eq!(tracker.held(), big.len() as u64 - 1);
        tracker.feed(&big[big.len() - 1..]);
        assert_eq!(tracker.held(), 0);
    }
}

//! Why a connection ends, and the Close frame (RFC 6455 section 7.4) that the
//! server sends for each reason.

use axum::extract::ws::{CloseFrame, close_code};
use tungstenite::error::{CapacityError, Error as WsError, ProtocolError};

use crate::inbound::BudgetExceeded;
use crate::writer::DisconnectReason;

/// Why the reader of a connection stopped.
#[derive(Debug)]
pub enum End {
    /// The peer sent a Close; tungstenite has queued the reply.
    PeerClosed,
    /// The stream ended without a Close (TCP reset or EOF).
    Vanished,
    /// Nothing arrived for `--idle-timeout`.
    Idle,
    /// A writer disconnected the connection (slow consumer, failed write).
    Disconnected(DisconnectReason),
    /// The server is shutting down.
    Shutdown,
    /// Reading failed: a protocol violation, invalid UTF-8, a message too big,
    /// or an I/O error.
    ReadError(axum::Error),
    /// The room limit was reached between the check and the join.
    RoomLimit,
}

impl End {
    /// The Close frame the server sends, if it sends one of its own: `None`
    /// when the peer closed (tungstenite replies with its code) or the socket
    /// is unusable.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            End::PeerClosed | End::Vanished => return None,
            End::Disconnected(DisconnectReason::WriteFailed) => return None,
            End::Idle => (close_code::NORMAL, "idle timeout"),
            End::Disconnected(DisconnectReason::SlowConsumer) => {
                (close_code::POLICY, "slow consumer")
            }
            End::Shutdown => (close_code::AWAY, "server shutting down"),
            End::RoomLimit => (close_code::AGAIN, "too many rooms"),
            End::ReadError(err) => read_error_close(err)?,
        };
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }

    /// Whether the peer may still answer our Close, so the reader should wait
    /// for that answer before the socket is dropped.
    pub fn awaits_close_reply(&self) -> bool {
        !matches!(self, End::PeerClosed | End::Vanished)
    }
}

/// The code RFC 6455 prescribes for a read error, or `None` when the socket
/// itself failed and no frame can be sent.
fn read_error_close(err: &axum::Error) -> Option<(u16, &'static str)> {
    let source = std::error::Error::source(err)?;
    let ws = source.downcast_ref::<WsError>()?;
    match ws {
        WsError::Utf8(_) => Some((close_code::INVALID, "invalid UTF-8")),
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            Some((close_code::SIZE, "message too big"))
        }
        WsError::Capacity(_) => Some((close_code::SIZE, "frame too big")),
        WsError::Protocol(
            ProtocolError::ResetWithoutClosingHandshake | ProtocolError::SendAfterClosing,
        ) => None,
        WsError::Protocol(_) => Some((close_code::PROTOCOL, "protocol error")),
        // Evicted to keep `--max-inbound-bytes`: its message is too big for
        // the server now. 1009 rather than 1013 ("try again later"): a
        // client that retried the same message at once would only be
        // evicted again.
        WsError::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<BudgetExceeded>()) =>
        {
            Some((close_code::SIZE, "inbound memory budget"))
        }
        _ => None,
    }
}

//! Plumbing the scenario runners share: opening many connections, turning
//! how a connection ended into counters, and duration formatting for JSON.

use std::time::Duration;

use futures_util::{StreamExt, stream};
use serde::Serializer;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::LoadgenError;
use crate::client::{self, ConnectOptions, End, Target, Ws};
use crate::stats::Integrity;

/// How many handshakes run at once while setting up a scenario.
pub(crate) const SETUP_CONCURRENCY: usize = 64;
/// Bound on the polite close at the end of a run.
pub(crate) const CLOSE_BOUND: Duration = Duration::from_secs(1);
/// How many distinct connection errors a report lists.
pub(crate) const MAX_ERRORS: usize = 10;

/// Serialize a `Duration` as a humantime string (`"10s"`, `"250ms"`).
pub(crate) fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

/// Serialize an optional `Duration` as a humantime string (skip `None` with
/// `skip_serializing_if`).
pub(crate) fn ser_opt_duration<S: Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

/// Check an optional `--ping-interval`: more than zero when given.
pub(crate) fn validate_ping_interval(d: Option<Duration>) -> Result<(), LoadgenError> {
    if d.is_some_and(|d| d.is_zero()) {
        return Err(LoadgenError::Config(
            "--ping-interval must be more than 0".into(),
        ));
    }
    Ok(())
}

/// Open `n` connections, `SETUP_CONCURRENCY` at a time; the first failure fails them all.
pub(crate) async fn connect_all(
    targets: &[Target],
    n: usize,
    opts: impl Fn(usize) -> ConnectOptions,
) -> Result<Vec<Ws>, LoadgenError> {
    let futs = (0..n).map(|i| {
        let target = &targets[i % targets.len()];
        let o = opts(i);
        async move { (i, client::connect(target, o).await) }
    });
    let mut out: Vec<Option<Ws>> = (0..n).map(|_| None).collect();
    let mut s = stream::iter(futs).buffer_unordered(SETUP_CONCURRENCY);
    while let Some((i, r)) = s.next().await {
        out[i] = Some(r?);
    }
    Ok(out.into_iter().flatten().collect())
}

/// Add how a connection ended to the counters. Returns an error text for the report, if any.
pub(crate) fn tally_end(end: &End, integrity: &mut Integrity) -> Option<String> {
    match end {
        End::Finished | End::Deadline => None,
        End::Closed(frame) => {
            let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
            *integrity.close_codes.entry(code).or_default() += 1;
            let reason = frame
                .as_ref()
                .map(|f| f.reason.to_string())
                .unwrap_or_default();
            Some(
                format!("server closed the connection: {code} {reason}")
                    .trim_end()
                    .to_owned(),
            )
        }
        End::Dropped(e) => {
            integrity.dropped_connections += 1;
            Some(e.clone())
        }
    }
}

/// The close code of a close frame, 1005 ("no status") when there is none.
pub(crate) fn close_code(
    frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>,
) -> u16 {
    frame.map_or(u16::from(CloseCode::Status), |f| u16::from(f.code))
}

/// Keep the first few distinct errors.
pub(crate) fn push_error(errors: &mut Vec<String>, e: Option<String>) {
    if let Some(e) = e
        && errors.len() < MAX_ERRORS
        && !errors.contains(&e)
    {
        errors.push(e);
    }
}

/// Why a connection did not hear its own message back.
#[derive(Debug)]
pub(crate) enum EchoFailure {
    /// The connection ended (the server closed it, or it dropped).
    Ended(End),
    /// Nothing came back within the bound.
    TimedOut,
}

/// Sends `payload` as one Binary message and waits (at most `bound`) until
/// the same bytes come back: an echo, or a room's delivery to its sender.
/// Other messages (other members' deliveries, pings) are skipped.
pub(crate) async fn echo_once(
    ws: &mut Ws,
    payload: Vec<u8>,
    bound: Duration,
) -> Result<(), EchoFailure> {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::{self, Message};
    let gone = |e: tungstenite::Error| match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            End::Dropped("connection closed".into())
        }
        other => End::Dropped(other.to_string()),
    };
    let exchange = async {
        ws.send(Message::binary(payload.clone()))
            .await
            .map_err(gone)?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(got))) if got[..] == payload[..] => return Ok(()),
                Some(Ok(Message::Close(frame))) => return Err(End::Closed(frame)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(gone(e)),
                None => {
                    return Err(End::Dropped(
                        "connection closed without a close frame".into(),
                    ));
                }
            }
        }
    };
    match tokio::time::timeout(bound, exchange).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(end)) => Err(EchoFailure::Ended(end)),
        Err(_) => Err(EchoFailure::TimedOut),
    }
}

/// Drops a connection with a TCP reset (zero linger), without a Close.
pub(crate) fn reset(ws: Ws) {
    // Without zero linger the drop is an orderly FIN, which is still an
    // abrupt end for the server: nothing to report.
    let _ = ws.get_ref().set_zero_linger();
    drop(ws);
}

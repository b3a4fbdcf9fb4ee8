//! The accept loop: every socket from accept to upgrade (or close), with the
//! limits on the way in.
//!
//! - A socket holds one of `--max-handshakes` permits from before it is
//!   accepted until its HTTP connection ends or is upgraded; with none left
//!   the loop stops accepting, so slow or idle sockets wait in the kernel's
//!   backlog instead of taking file descriptors.
//! - hyper's header read timeout (`--handshake-timeout`) closes a socket
//!   whose request has not fully arrived in time, and an idle keep-alive
//!   socket waiting for its next request.
//! - When accepting fails for want of resources (no descriptors left:
//!   `EMFILE`, `ENFILE`; no memory), the loop keeps the connections it has,
//!   backs off (doubling, up to [`MAX_BACKOFF`]) and logs one line when the
//!   episode starts and one when it ends.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::config::ServerConfig;
use crate::socket::{InboundSlot, Metered};

/// The first pause after accepting failed for want of resources.
pub const MIN_BACKOFF: Duration = Duration::from_millis(10);

/// The longest pause between two attempts to accept.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The most a socket's HTTP request may buffer: enough for any sensible
/// request head, and it bounds what `--max-handshakes` sockets can hold
/// (hyper's own default is about 400 KiB).
pub const MAX_REQUEST_BUFFER: usize = 64 << 10;

/// Accepts and serves HTTP on `listener` with `app` until `shutdown` is
/// cancelled; then asks every HTTP connection still open to end and returns.
/// The connections' tasks are in `tracker`, for the caller to wait on.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    config: ServerConfig,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let permits = Arc::new(Semaphore::new(
        config.max_handshakes.min(Semaphore::MAX_PERMITS),
    ));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.handshake_timeout)
        .max_buf_size(MAX_REQUEST_BUFFER);
    let mut backoff = Backoff::default();
    loop {
        let permit = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            permit = Arc::clone(&permits).acquire_owned() => permit,
        };
        // The semaphore is never closed.
        let Ok(permit) = permit else { return };
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => {
                backoff.recovered();
                tcp
            }
            // The peer gave up between its SYN and our accept: nothing to do.
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                let pause = backoff.failed(&err);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        set_nodelay(&tcp);
        // The handler that upgrades the socket opens its inbound account
        // through the slot, which every request on it carries.
        let slot = InboundSlot::default();
        let service = {
            let (app, slot) = (app.clone(), slot.clone());
            service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(slot.clone());
                app.clone().call(request)
            })
        };
        let connection = http
            .serve_connection(TokioIo::new(Metered::new(tcp, slot)), service)
            .with_upgrades();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            // Held until the request is upgraded (the connection future ends
            // once it has handed the socket over) or the socket closes.
            let _permit = permit;
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = ended {
                tracing::debug!(%err, "HTTP connection ended");
            }
        });
    }
}

/// Without TCP_NODELAY small messages wait on Nagle's algorithm and the
/// comparison would measure the kernel; every server sets it identically.
fn set_nodelay(tcp: &TcpStream) {
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::warn!(%err, "cannot set TCP_NODELAY");
    }
}

/// Errors that concern one connection only (the peer reset it before it was
/// accepted): accept again at once.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One episode of failing accepts at a time: its start, and the next pause.
#[derive(Debug, Default)]
struct Backoff {
    episode: Option<(Instant, u64)>,
    pause: Duration,
}

impl Backoff {
    /// Records a failed accept; returns how long to wait before the next
    /// one. Logs only the episode's first failure.
    fn failed(&mut self, err: &io::Error) -> Duration {
        match &mut self.episode {
            None => {
                tracing::error!(
                    %err,
                    "cannot accept connections (out of file descriptors?); serving the open \
                     ones and retrying, backing off up to {MAX_BACKOFF:?}"
                );
                self.episode = Some((Instant::now(), 1));
                self.pause = MIN_BACKOFF;
            }
            Some((_, failures)) => {
                *failures += 1;
                self.pause = (self.pause * 2).min(MAX_BACKOFF);
            }
        }
        self.pause
    }

    /// Records a successful accept, ending the episode if one was running.
    fn recovered(&mut self) {
        if let Some((started, failures)) = self.episode.take() {
            tracing::warn!(
                failures,
                after = ?started.elapsed(),
                "accepting connections again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        let err = io::Error::from_raw_os_error(24); // EMFILE
        let pauses: Vec<_> = (0..10).map(|_| backoff.failed(&err)).collect();
        assert_eq!(pauses[0], MIN_BACKOFF);
        assert_eq!(pauses[1], MIN_BACKOFF * 2);
        assert_eq!(pauses[9], MAX_BACKOFF);
        backoff.recovered();
        assert_eq!(backoff.failed(&err), MIN_BACKOFF);
    }

    #[test]
    fn a_reset_before_accept_is_not_an_episode() {
        assert!(is_connection_error(&io::ErrorKind::ConnectionReset.into()));
        assert!(!is_connection_error(&io::Error::from_raw_os_error(24)));
    }
}

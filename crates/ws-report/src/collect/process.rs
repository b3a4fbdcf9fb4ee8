//! Child processes that cannot outlive the collector: a guard that kills on
//! drop, a graceful stop by SIGTERM, a bounded wait, `/healthz` polling, and
//! reading a server's `/metrics`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::{Error, Result};

/// How often a waiting loop looks again.
const POLL: Duration = Duration::from_millis(50);
/// How often [`ChildGuard::terminate_timed`] looks: the resolution of a shutdown time.
const EXIT_POLL: Duration = Duration::from_millis(2);

/// A running child process; killed (SIGKILL) and reaped when dropped unless it
/// was already waited for, so an error anywhere leaves no orphan behind.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    name: String,
    exited: Option<ExitStatus>,
}

impl ChildGuard {
    /// Start `command`.
    ///
    /// # Errors
    /// [`Error::Process`] when it cannot be started.
    pub fn spawn(name: &str, command: &mut Command) -> Result<Self> {
        let child = command
            .spawn()
            .map_err(|e| Error::Process(format!("cannot start {name} ({command:?}): {e}")))?;
        Ok(Self {
            child,
            name: name.to_owned(),
            exited: None,
        })
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if it has exited (never blocks).
    ///
    /// # Errors
    /// [`Error::Process`] when the status cannot be read.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .map_err(|e| Error::Process(format!("{}: cannot wait: {e}", self.name)))?;
        }
        Ok(self.exited)
    }

    /// Wait up to `timeout` for the process to exit by itself.
    ///
    /// # Errors
    /// [`Error::Process`] on timeout (the guard then kills it when dropped).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(Error::Process(format!(
                    "{} still running after {}",
                    self.name,
                    humantime::format_duration(timeout)
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Send SIGTERM and wait up to `grace` for a clean exit; SIGKILL after that.
    ///
    /// # Errors
    /// [`Error::Process`] when the signal cannot be sent or the process had to be killed.
    pub fn stop(mut self, grace: Duration) -> Result<ExitStatus> {
        self.terminate_timed(grace).map(|(status, _)| status)
    }

    /// Send SIGTERM and time the exit: the status and the time from the
    /// signal to the exit, measured by polling every [`EXIT_POLL`]. SIGKILL
    /// (when dropped) if it has not exited within `grace`.
    ///
    /// # Errors
    /// [`Error::Process`] when the signal cannot be sent or the process had to be killed.
    pub fn terminate_timed(&mut self, grace: Duration) -> Result<(ExitStatus, Duration)> {
        if let Some(status) = self.try_wait()? {
            return Ok((status, Duration::ZERO));
        }
        let pid = i32::try_from(self.child.id())
            .map_err(|_| Error::Process(format!("{}: pid out of range", self.name)))?;
        kill(Pid::from_raw(pid), Signal::SIGTERM)
            .map_err(|e| Error::Process(format!("{}: cannot send SIGTERM: {e}", self.name)))?;
        let sent = Instant::now();
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok((status, sent.elapsed()));
            }
            if sent.elapsed() >= grace {
                return Err(Error::Process(format!(
                    "{} did not exit within {} of SIGTERM; killed",
                    self.name,
                    humantime::format_duration(grace)
                )));
            }
            std::thread::sleep(EXIT_POLL);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.exited.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            // Best effort: the process may have exited in between.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port that was free a moment ago (the OS picked it; we released it).
///
/// # Errors
/// [`Error::Process`] when no port can be bound.
pub fn free_port() -> Result<u16> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Process(format!("cannot find a free loopback port: {e}")))
}

/// Poll `GET /healthz` until it answers 200, the process exits, or `timeout` passes.
///
/// # Errors
/// [`Error::Process`] naming what happened instead.
pub fn wait_healthy(server: &mut ChildGuard, addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = server.try_wait()? {
            return Err(Error::Process(format!(
                "{} exited before it was healthy ({status})",
                server.name
            )));
        }
        if healthz(addr).unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Process(format!(
                "{} not healthy on {addr} after {}",
                server.name,
                humantime::format_duration(timeout)
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// `GET /metrics` on `addr`: the body of a 200 answer, as the server wrote it.
///
/// Fetched with `ws_rawframe`'s client, the one `ws-loadgen` scrapes with, on
/// a runtime of its own: `collect` is synchronous and this happens once a run.
///
/// # Errors
/// [`Error::Process`] when there is no answer within `timeout`, or not a 200.
pub fn fetch_metrics(addr: SocketAddr, timeout: Duration) -> Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Process(format!("cannot start a runtime for GET /metrics: {e}")))?;
    let answer = runtime
        .block_on(async {
            tokio::time::timeout(timeout, ws_rawframe::http_get(addr, "/metrics")).await
        })
        .map_err(|_| {
            Error::Process(format!(
                "GET /metrics on {addr}: no answer within {}",
                humantime::format_duration(timeout)
            ))
        })?;
    match answer {
        Ok((200, body)) => Ok(body),
        Ok((status, _)) => Err(Error::Process(format!(
            "GET /metrics on {addr} answered {status}"
        ))),
        Err(e) => Err(Error::Process(format!("GET /metrics on {addr}: {e}"))),
    }
}

/// One `GET /healthz`: true on a 200 answer.
fn healthz(addr: SocketAddr) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(head.starts_with(b"HTTP/1.1 200"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP server on a loopback port that answers `response` to
    /// the first request; the request line it got comes back from the thread.
    fn answer_once(response: &'static str) -> (SocketAddr, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).expect("read") == 1 {
                request.push(byte[0]);
            }
            stream.write_all(response.as_bytes()).expect("write");
            String::from_utf8_lossy(&request)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        (addr, server)
    }

    #[test]
    fn fetches_the_metrics_body() {
        let (addr, server) = answer_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 17\r\nConnection: close\r\n\r\nws_connections 0\n",
        );
        let body = fetch_metrics(addr, Duration::from_secs(10)).expect("fetched");
        assert_eq!(body, "ws_connections 0\n");
        assert_eq!(server.join().expect("server"), "GET /metrics HTTP/1.1");
    }

    #[test]
    fn a_status_other_than_200_is_an_error() {
        let (addr, server) =
            answer_once("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let err = fetch_metrics(addr, Duration::from_secs(10)).expect_err("404");
        assert!(err.to_string().contains("answered 404"), "{err}");
        server.join().expect("server");
    }
}

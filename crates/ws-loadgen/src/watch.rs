//! The server's own view during a run: its `GET /metrics` endpoint, and a
//! watcher that polls one counter and records when it rises.
//!
//! The `slow` scenario needs the second because a member that has stopped
//! reading cannot read the server's Close either (its buffers are full), so
//! the client side never learns when the server gave up on it. The server's
//! slow-consumer counter does: each rise is one disconnection, seen by the
//! first scrape after it. A rise is therefore reported as an interval, from
//! the start of the scrape before (the counter had not risen when that one
//! was rendered, or it rose while it was) to the end of the scrape that saw
//! it; the width is the poll interval plus one scrape's round trip.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;

use crate::LoadgenError;
use crate::common::ser_duration;
use crate::stats::Clock;

/// The bound on one scrape.
pub(crate) const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The counter the `slow` scenario watches.
pub const SLOW_CONSUMER_COUNTER: &str = "ws_slow_consumer_disconnects_total";

/// How often the watcher scrapes: often enough that the interval around a
/// rise is short next to the send timeouts measured (seconds), rarely
/// enough that 50 small GETs a second cost the server little.
pub const WATCH_POLL: Duration = Duration::from_millis(20);

/// Where a server's Prometheus text is served.
#[derive(Clone, Debug)]
pub(crate) struct MetricsEndpoint {
    addr: SocketAddr,
    path: String,
}

impl MetricsEndpoint {
    /// Resolves `http://host:port/path` (the path defaults to `/metrics`).
    ///
    /// # Errors
    /// [`LoadgenError::Url`] for another scheme, a missing host or a host
    /// that does not resolve.
    pub async fn resolve(url: &str) -> Result<Self, LoadgenError> {
        let (authority, path) = split_http_url(url)?;
        let addr = tokio::net::lookup_host(authority.as_str())
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| LoadgenError::Url {
                url: url.to_owned(),
                reason: "host does not resolve".into(),
            })?;
        Ok(Self { addr, path })
    }

    /// Checks the form of `url` without resolving it.
    ///
    /// # Errors
    /// [`LoadgenError::Url`] for another scheme or a missing host.
    pub fn check(url: &str) -> Result<(), LoadgenError> {
        split_http_url(url).map(|_| ())
    }

    /// Every sample, once, within [`SCRAPE_TIMEOUT`].
    pub async fn scrape(&self) -> Result<BTreeMap<String, f64>, String> {
        tokio::time::timeout(SCRAPE_TIMEOUT, ws_rawframe::scrape(self.addr, &self.path))
            .await
            .map_err(|_| "GET /metrics did not answer in time".to_owned())?
            .map_err(|e| format!("GET {}: {e}", self.path))
    }
}

/// `http://host:port/path` as an address and a path.
fn split_http_url(url: &str) -> Result<(String, String), LoadgenError> {
    let bad = |reason: &str| LoadgenError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("--metrics-url must start with http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/metrics"),
    };
    if authority.is_empty() {
        return Err(bad("missing host"));
    }
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_owned()))
}

/// One rise of the watched counter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rise {
    /// Seconds from the start of the run to the start of the last scrape
    /// that did not see this rise: it happened after this.
    pub after_s: f64,
    /// Seconds from the start of the run to the end of the first scrape
    /// that saw it: it happened before this.
    pub by_s: f64,
    /// By how much the counter rose (several disconnections can fall
    /// between two scrapes).
    pub count: u64,
}

/// What the watcher saw of one counter.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CounterWatch {
    /// The series watched.
    pub metric: String,
    /// The time between scrapes.
    #[serde(serialize_with = "ser_duration")]
    pub poll: Duration,
    /// Its value at the first successful scrape (a fresh server: 0).
    pub initial: Option<f64>,
    /// Each rise, in order.
    pub rises: Vec<Rise>,
    /// Scrapes answered.
    pub scrapes: u64,
    /// Scrapes that failed or did not answer in time.
    pub failed_scrapes: u64,
    /// The last failure, if any.
    pub error: Option<String>,
}

impl CounterWatch {
    /// The first rise's `by_s`: the latest the first disconnection can have happened.
    #[must_use]
    pub fn first_by_s(&self) -> Option<f64> {
        self.rises.first().map(|r| r.by_s)
    }

    /// Record one scrape's value: `ended` is when it answered, and
    /// `previous_start` when the scrape before it began (seconds from the
    /// start of the run).
    fn observe(&mut self, value: Option<f64>, previous_start: f64, ended: f64) {
        let Some(v) = value else {
            return;
        };
        match self.current() {
            None => self.initial = Some(v),
            Some(before) if v > before => self.rises.push(Rise {
                after_s: previous_start,
                by_s: ended,
                // Counters are whole numbers; the text format writes them as floats.
                count: (v - before).round() as u64,
            }),
            Some(_) => {}
        }
    }

    /// The counter's last value seen.
    fn current(&self) -> Option<f64> {
        self.initial
            .map(|i| i + self.rises.iter().map(|r| r.count as f64).sum::<f64>())
    }
}

/// A running watcher: stop it to get what it saw.
pub(crate) struct Watcher {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<CounterWatch>,
}

impl Watcher {
    /// Starts polling `metric` at `endpoint` every [`WATCH_POLL`]; times are
    /// seconds after `start_ns` on `clock`.
    pub fn start(endpoint: MetricsEndpoint, metric: &str, clock: Clock, start_ns: u64) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let metric = metric.to_owned();
        let since = move || clock.now_ns().saturating_sub(start_ns) as f64 / 1e9;
        let task = tokio::spawn(async move {
            let mut w = CounterWatch {
                metric: metric.clone(),
                poll: WATCH_POLL,
                ..CounterWatch::default()
            };
            let mut previous_start = since();
            // Bounded by the stop signal, which the run sends when it ends
            // (or drops, if the run fails).
            loop {
                let started = since();
                match endpoint.scrape().await {
                    Ok(samples) => {
                        w.scrapes += 1;
                        w.observe(samples.get(&metric).copied(), previous_start, since());
                    }
                    Err(e) => {
                        w.failed_scrapes += 1;
                        w.error = Some(e);
                    }
                }
                previous_start = started;
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(WATCH_POLL) => {}
                }
            }
            w
        });
        Self { stop, task }
    }

    /// Stops polling (after one last scrape at most) and returns what it saw.
    pub async fn finish(self) -> CounterWatch {
        // The task may have ended already; then there is nobody to tell.
        let _ = self.stop.send(());
        self.task.await.unwrap_or_else(|e| CounterWatch {
            error: Some(format!("watcher task failed: {e}")),
            ..CounterWatch::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_urls_split() {
        assert_eq!(
            split_http_url("http://127.0.0.1:3000/metrics").ok(),
            Some(("127.0.0.1:3000".to_owned(), "/metrics".to_owned()))
        );
        assert_eq!(
            split_http_url("http://localhost").ok(),
            Some(("localhost:80".to_owned(), "/metrics".to_owned()))
        );
        assert!(split_http_url("ws://127.0.0.1:3000/metrics").is_err());
    }

    #[test]
    fn a_rise_is_bracketed_by_the_scrape_before_and_the_one_that_saw_it() {
        let mut w = CounterWatch::default();
        w.observe(Some(0.0), 0.0, 0.01);
        w.observe(Some(0.0), 0.0, 0.03);
        w.observe(None, 0.02, 0.05);
        w.observe(Some(2.0), 0.04, 0.07);
        w.observe(Some(2.0), 0.06, 0.09);
        assert_eq!(w.initial, Some(0.0));
        assert_eq!(
            w.rises,
            vec![Rise {
                after_s: 0.04,
                by_s: 0.07,
                count: 2
            }]
        );
        assert_eq!(w.first_by_s(), Some(0.07));
    }
}

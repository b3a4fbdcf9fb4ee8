//! The `badinput` scenario: every bad input of [`ws_rawframe::catalog`]
//! (the same list the test suite uses) thrown once at a running server.
//!
//! For each input it records how the server answered (the close code, an
//! HTTP status, or a connection that just ended), whether that is what RFC
//! 6455 prescribes, and whether the server still served afterwards: a canary
//! connection opened before the inputs still echoes, and a new connection
//! echoes. A canary that died is replaced, so each input is judged on its
//! own. Panics are not visible from here: the comparison script reads them
//! from the server's stderr.

use std::time::{Duration, Instant};

use serde::Serialize;
use ws_rawframe::{Expect, Outcome};

use crate::LoadgenError;
use crate::client::{self, ConnectOptions, Target, Ws};
use crate::common::{self, EchoFailure, ser_duration};
use crate::report::{NamedHistogram, Table};
use crate::stats::Integrity;

/// Configuration of a bad-input run.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// `ws://host:port/ws/echo` (any WebSocket route of the server).
    pub url: String,
    /// The server's `--max-message-size`: the oversized inputs go one byte over it.
    pub max_message_size: usize,
    /// Bound on each input's answer, and on each canary check.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// Bound on each TCP connect plus handshake.
    #[serde(serialize_with = "ser_duration")]
    pub connect_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: "ws://127.0.0.1:3000/ws/echo".into(),
            max_message_size: 64 << 20,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// Check the combination of values.
    ///
    /// # Errors
    /// [`LoadgenError::Config`] naming the first problem.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        if self.max_message_size < 2 {
            return Err(LoadgenError::Config(
                "--max-message-size must be at least 2".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(LoadgenError::Config("--timeout must be above zero".into()));
        }
        Ok(())
    }
}

/// What happened with one input.
#[derive(Clone, Debug, Serialize)]
pub struct InputReport {
    /// The input, in a few words.
    pub name: String,
    /// What RFC 6455 prescribes: `"close 1002"`, `"HTTP 4xx or closed"`.
    pub expected: String,
    /// What the server did, in words.
    pub outcome: String,
    /// The close code received, if a Close arrived.
    pub close_code: Option<u16>,
    /// The HTTP status received, for handshake inputs.
    pub http_status: Option<u16>,
    /// Whether the answer is the prescribed one.
    pub as_rfc: bool,
    /// Whether the server still served afterwards (canary and a new connection echo).
    pub canary_ok: bool,
    /// Why not.
    pub canary_error: Option<String>,
}

/// The result of a bad-input run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `"badinput"`.
    pub scenario: &'static str,
    /// Integrity counters (top level in JSON): `close_codes` tallies the
    /// codes the server answered the inputs with.
    #[serde(flatten)]
    pub integrity: Integrity,
    /// The configuration.
    pub config: Config,
    /// Inputs thrown.
    pub inputs_tried: u64,
    /// Inputs after which the server did not serve the canary or a new connection.
    pub canary_failures: u64,
    /// Inputs answered otherwise than RFC 6455 prescribes.
    pub not_as_rfc: u64,
    /// Seconds the run took.
    pub elapsed_s: f64,
    /// Each input.
    pub inputs: Vec<InputReport>,
    /// Histograms for `--hdr` (none).
    #[serde(skip)]
    pub histograms: Vec<NamedHistogram>,
}

impl crate::report::Report for Report {
    fn table(&self) -> String {
        let mut t = Table::new(&format!(
            "badinput: {} inputs against {}",
            self.inputs_tried, self.config.url
        ));
        for i in &self.inputs {
            let verdict = match (i.as_rfc, i.canary_ok) {
                (true, true) => String::new(),
                (false, true) => format!("  NOT AS RFC (expected {})", i.expected),
                (true, false) => "  SERVER STOPPED SERVING".to_owned(),
                (false, false) => {
                    format!(
                        "  NOT AS RFC (expected {}), SERVER STOPPED SERVING",
                        i.expected
                    )
                }
            };
            t.row(&i.name, format!("{}{verdict}", i.outcome));
        }
        t.row(
            "totals",
            format!(
                "{} tried, {} not as RFC 6455, {} canary failures, {:.2}s",
                self.inputs_tried, self.not_as_rfc, self.canary_failures, self.elapsed_s
            ),
        );
        t.finish()
    }
    fn integrity(&self) -> &Integrity {
        &self.integrity
    }
    fn histograms(&self) -> &[NamedHistogram] {
        &self.histograms
    }
    fn failed(&self) -> bool {
        self.canary_failures > 0 || self.not_as_rfc > 0
    }
}

/// The URL's path, for the raw client.
fn path_of(url: &str) -> String {
    url.strip_prefix("ws://")
        .and_then(|rest| rest.find('/').map(|at| rest[at..].to_owned()))
        .unwrap_or_else(|| "/".to_owned())
}

/// Whether the server still serves: the canary echoes (it is replaced if
/// it does not), and a new connection echoes.
async fn still_serves(
    target: &Target,
    config: &Config,
    canary: &mut Option<Ws>,
    n: u64,
) -> Result<(), String> {
    let opts = ConnectOptions {
        timeout: config.connect_timeout,
        ..ConnectOptions::default()
    };
    let describe = |f: EchoFailure| match f {
        EchoFailure::TimedOut => "no echo in time".to_owned(),
        EchoFailure::Ended(end) => format!("{end:?}"),
    };
    let mut verdict = Ok(());
    match canary.as_mut() {
        Some(ws) => {
            if let Err(f) = common::echo_once(ws, canary_payload(n), config.timeout).await {
                verdict = Err(format!("the canary: {}", describe(f)));
            }
        }
        None => verdict = Err("no canary connection".to_owned()),
    }
    if verdict.is_err() {
        // Replace it, so the next input is judged on its own.
        *canary = client::connect(target, opts).await.ok();
    }
    match client::connect(target, opts).await {
        Ok(mut fresh) => {
            let echoed = common::echo_once(&mut fresh, canary_payload(n), config.timeout).await;
            client::close(&mut fresh, common::CLOSE_BOUND).await;
            if let Err(f) = echoed {
                verdict = verdict.and(Err(format!("a new connection: {}", describe(f))));
            }
        }
        Err(e) => verdict = verdict.and(Err(format!("a new connection: {e}"))),
    }
    verdict
}

fn canary_payload(n: u64) -> Vec<u8> {
    let mut payload = b"canary:".to_vec();
    payload.extend_from_slice(&n.to_be_bytes());
    payload
}

/// Run the bad-input scenario.
///
/// # Errors
/// Configuration and URL errors, and a connection error when the canary
/// cannot be opened before the first input.
pub async fn run(config: Config) -> Result<Report, LoadgenError> {
    config.validate()?;
    let target = Target::resolve(&config.url).await?;
    let path = path_of(&config.url);
    let opts = ConnectOptions {
        timeout: config.connect_timeout,
        ..ConnectOptions::default()
    };
    let mut canary = Some(client::connect(&target, opts).await?);
    let started = Instant::now();
    let mut integrity = Integrity::default();
    let mut inputs = Vec::new();
    for (n, input) in ws_rawframe::catalog(&path, config.max_message_size)
        .iter()
        .enumerate()
    {
        let outcome = ws_rawframe::run_input(target.addr(), &path, input, config.timeout)
            .await
            .unwrap_or_else(|e| Outcome::Failed(format!("the upgrade before it failed: {e}")));
        let (close_code, http_status) = match &outcome {
            Outcome::Closed { code, .. } => {
                *integrity
                    .close_codes
                    .entry(code.unwrap_or(1005))
                    .or_default() += 1;
                (*code, None)
            }
            Outcome::Http(status) => (None, Some(*status)),
            _ => (None, None),
        };
        if matches!(
            (&outcome, input.expect),
            (Outcome::Ended | Outcome::Failed(_), Expect::Close(_))
        ) {
            integrity.dropped_connections += 1;
        }
        let serves = still_serves(&target, &config, &mut canary, n as u64).await;
        inputs.push(InputReport {
            name: input.name.clone(),
            expected: input.expect.to_string(),
            outcome: outcome.to_string(),
            close_code,
            http_status,
            as_rfc: input.expect.accepts(&outcome),
            canary_ok: serves.is_ok(),
            canary_error: serves.err(),
        });
    }
    if let Some(mut ws) = canary {
        client::close(&mut ws, common::CLOSE_BOUND).await;
    }
    Ok(Report {
        scenario: "badinput",
        integrity,
        inputs_tried: inputs.len() as u64,
        canary_failures: inputs.iter().filter(|i| !i.canary_ok).count() as u64,
        not_as_rfc: inputs.iter().filter(|i| !i.as_rfc).count() as u64,
        elapsed_s: started.elapsed().as_secs_f64(),
        inputs,
        histograms: Vec::new(),
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_come_from_the_url() {
        assert_eq!(path_of("ws://127.0.0.1:3000/ws/echo"), "/ws/echo");
        assert_eq!(path_of("ws://127.0.0.1:3000/ws/room/a"), "/ws/room/a");
        assert_eq!(path_of("ws://127.0.0.1:3000"), "/");
    }
}

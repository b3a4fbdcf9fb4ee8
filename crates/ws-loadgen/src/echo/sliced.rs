//! Several servers measured by turns in one closed-loop echo run: its
//! configuration, its report (one ordinary echo report per target) and
//! where each target's turns fell (see [`slicing`](crate::slicing)).

use std::time::Duration;

use serde::Serialize;

use super::{Config, Report, run_targets};
use crate::LoadgenError;
use crate::report::{NamedHistogram, WithHeartbeat};
use crate::slicing;
use crate::stats::Integrity;

/// A closed-loop echo run that measures several servers by turns (see
/// [`slicing`](crate::slicing)).
#[derive(Clone, Debug, Serialize)]
pub struct SlicedConfig {
    /// Connections per target and the message load; its `url` and
    /// `server_pid` are ignored (each target has its own).
    pub echo: Config,
    /// The targets, in turn order: URL and the process to sample.
    pub targets: Vec<(String, Option<i32>)>,
    /// Length of one turn.
    #[serde(serialize_with = "crate::common::ser_duration")]
    pub slice: Duration,
    /// The end of each turn in which its target sends nothing, so that its
    /// last replies are in before the next target's turn.
    #[serde(serialize_with = "crate::common::ser_duration")]
    pub gap: Duration,
}

impl SlicedConfig {
    /// Check the combination of values.
    ///
    /// # Errors
    /// [`LoadgenError::Config`] naming the first problem.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        self.echo.validate()?;
        if self.targets.len() < 2 {
            return Err(LoadgenError::Config(
                "slicing needs at least two --url".into(),
            ));
        }
        if self.echo.load.rate.is_some() {
            return Err(LoadgenError::Config(
                "--rate takes one --url: an open-loop schedule cannot pause for other targets' turns"
                    .into(),
            ));
        }
        slicing::validate(
            self.targets.len(),
            self.slice,
            self.gap,
            self.echo.load.warmup,
            self.echo.load.duration,
        )
    }

    fn target_configs(&self) -> Vec<Config> {
        self.targets
            .iter()
            .map(|(url, pid)| Config {
                url: url.clone(),
                server_pid: *pid,
                ..self.echo.clone()
            })
            .collect()
    }
}

/// The result of a sliced run: each target's report, as a one-target run
/// would write it, except that its `duration_s` is the target's own turns
/// in the measured window.
#[derive(Clone, Debug, Serialize)]
pub struct SlicedReport {
    /// Always `"echo-sliced"`.
    pub scenario: &'static str,
    /// Length of one turn.
    #[serde(serialize_with = "crate::common::ser_duration")]
    pub slice: Duration,
    /// The end of each turn in which its target sends nothing.
    #[serde(serialize_with = "crate::common::ser_duration")]
    pub gap: Duration,
    /// One report per target, in turn order.
    pub targets: Vec<WithHeartbeat<Report>>,
    #[serde(skip)]
    integrity: Integrity,
    #[serde(skip)]
    histograms: Vec<NamedHistogram>,
}

impl crate::report::Report for SlicedReport {
    fn table(&self) -> String {
        self.targets
            .iter()
            .map(|t| format!("{}\n{}", t.config.url, t.table()))
            .collect()
    }
    fn integrity(&self) -> &Integrity {
        &self.integrity
    }
    fn histograms(&self) -> &[NamedHistogram] {
        &self.histograms
    }
}

/// Run several targets by turns; see [`slicing`](crate::slicing).
///
/// # Errors
/// As [`run`].
pub async fn run_sliced(config: SlicedConfig) -> Result<SlicedReport, LoadgenError> {
    config.validate()?;
    let targets = run_targets(config.target_configs(), Some((config.slice, config.gap))).await?;
    let mut integrity = Integrity::default();
    let mut histograms = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        integrity.add(&t.integrity);
        histograms.extend(t.outcome.histograms.iter().map(|h| NamedHistogram {
            tag: format!("t{i}.{}", h.tag),
            histogram: h.histogram.clone(),
        }));
    }
    Ok(SlicedReport {
        scenario: "echo-sliced",
        slice: config.slice,
        gap: config.gap,
        targets,
        integrity,
        histograms,
    })
}

/// Where a target's turns fall, in a sliced run's report.
#[derive(Clone, Debug, Serialize)]
pub struct SliceInfo {
    /// Length of one turn, its gap included.
    #[serde(serialize_with = "crate::common::ser_duration")]
    pub slice: Duration,
    /// The end of each turn in which its target sends nothing.
    #[serde(serialize_with = "crate::common::ser_duration")]
    pub gap: Duration,
    /// Targets taking turns.
    pub targets: usize,
    /// This target's place in the turn order (0 = first).
    pub position: usize,
    /// Seconds of the measured window in which this target could send:
    /// the `duration_s` its throughput is over.
    pub sending_s: f64,
    /// Echoes that arrived in those seconds: the throughput's numerator
    /// (`received` also counts the replies that arrive in the gaps).
    pub received_while_sending: u64,
    /// Echoes of this target that arrived after its turn had ended, in the
    /// next target's: nonzero means the gap was too short for this server's
    /// last replies, and its tail took some of the next turn.
    pub replies_after_turn: u64,
}

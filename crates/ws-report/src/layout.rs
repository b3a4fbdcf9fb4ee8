//! Where everything lives under `results/`: the one place that knows the layout.
//!
//! ```text
//! results/
//!   run.json                                  collect: date, commit, machine, pinning, every run's exact commands
//!   latency/{pinned,unpinned}/<server>-rate-<R>.*
//!   slow/pinned/<server>-{stalled,baseline}.*
//!   memory/pinned/<server>-{idle,idle-profile,cost-default,cost-idle-profile}-r<repeat>.*   idle connections;
//!       the idle profile's price (the two cost cases of a server one sliced run)
//!   slow-readers/pinned/<server>-{pace-50,pace-80,pace-95,pace-120,detect-quiet,detect-busy}.*
//!   reliability/pinned/<server>-{flood-stalled,flood-baseline,churn-echo,churn-room,badinput,shutdown}.*
//!   throughput/pinned/<server>-<each|batched>-inflight-<N>-r<repeat>.*   closed-loop echo, one sliced run
//!       per in-flight count and repeat (every server by turns): each server's .json is its report split
//!       out of the run's <first server's stem>.sliced.json; no .hdr
//!   replay/pinned/…                           the throughput runs again, last
//!   saturation/pinned/<server>-<each|batched>-rate-<R>-r<repeat>.*       every room member sending at R msg/s
//!   load-curve/pinned/<server>-<each|batched>-{load-<P>,rate-<R>}-r<repeat>.*   open-loop echo at P % of the
//!       same repeat's closed-loop maximum, and at a fixed rate R
//!   heartbeat/pinned/<server>-{idle,each-flood,batched-flood,stalled}-r<repeat>.*   ping intervals as read
//!       by the clients (idle connections, an echo flood, a room with a stalled member)
//!       .json (ws-loadgen --json)  .hdr (--hdr)  .stdout  .stderr (ws-loadgen)  .server.log (the server's output)
//!       .metrics.txt (the server's GET /metrics right after the load, when it was still up; not for `shutdown`)
//!   criterion/index.json                      import-criterion: source, baselines, the bench commands
//!   criterion/{pinned,unpinned}[-r<pass>]/<group>/<function>/<param>/{benchmark.json,estimates.json}
//!       (function: `<server>/<each|batched>`, or `<server>` from results before `--flush`;
//!       `pinned-r1`, `pinned-r2`, ...: one Criterion process each, `pinned` alone from before the passes)
//!   plots/*.svg                               render
//! ```
//!
//! Criterion results are identified by the fields of their `benchmark.json`,
//! never by their directory names (which are sanitized and may be renamed).

use std::path::{Path, PathBuf};

/// The collect manifest.
pub const RUN_JSON: &str = "run.json";
/// The Criterion import's own directory.
pub const CRITERION_DIR: &str = "criterion";
/// The Criterion import's record.
pub const CRITERION_INDEX: &str = "index.json";
/// The plots' directory.
pub const PLOTS_DIR: &str = "plots";
/// The Criterion baselines imported and reported, in order (each also with
/// a pass number: `pinned-r1`).
pub const BASELINES: [&str; 2] = ["pinned", "unpinned"];
/// Extension of a run's saved `GET /metrics` text.
pub const METRICS_EXT: &str = "metrics.txt";

/// The paths of one results directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout rooted at `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The results directory itself.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `run.json`.
    #[must_use]
    pub fn run_json(&self) -> PathBuf {
        self.root.join(RUN_JSON)
    }

    /// `criterion/`.
    #[must_use]
    pub fn criterion(&self) -> PathBuf {
        self.root.join(CRITERION_DIR)
    }

    /// `plots/`.
    #[must_use]
    pub fn plots(&self) -> PathBuf {
        self.root.join(PLOTS_DIR)
    }

    /// A run's file: `stem` (relative, as recorded in `run.json`) plus `ext`.
    #[must_use]
    pub fn run_file(&self, stem: &str, ext: &str) -> PathBuf {
        self.root.join(format!("{stem}.{ext}"))
    }

    /// A run's saved `GET /metrics` text: `<stem>.metrics.txt`.
    #[must_use]
    pub fn run_metrics(&self, stem: &str) -> PathBuf {
        self.run_file(stem, METRICS_EXT)
    }
}

/// A name made safe for one path component: `[A-Za-z0-9._-]`, anything else `_`.
#[must_use]
pub fn safe_component(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.as_str() {
        "" | "." | ".." => format!("_{s}"),
        _ => s,
    }
}

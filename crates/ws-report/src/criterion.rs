//! Criterion's baselines: importing them from `target/criterion` into
//! `results/criterion`, and reading them back for the report.
//!
//! Criterion 0.8 writes, per benchmark and `--save-baseline NAME`,
//! `target/criterion/<group>/<function>/<param>/NAME/{benchmark.json,estimates.json}`
//! (each component sanitized). `benchmark.json` is the `BenchmarkId`
//! (`group_id`, `function_id`, `value_str`, `throughput`, ...) and is what
//! identifies a benchmark here; `estimates.json` holds `mean`, `median`,
//! `median_abs_dev`, `slope` (absent for flat sampling) and `std_dev`, each a
//! point estimate with a confidence interval, in nanoseconds per iteration.
//!
//! A baseline is `pinned` or `unpinned`, optionally with a pass number:
//! `scripts/compare.sh` runs Criterion in passes, each its own process
//! saving `pinned-r1`, `pinned-r2`, ..., so that a ratio can be taken within
//! one pass and shown with its range over the passes (one process can be
//! 15–20% off while its own interval looks tight). A baseline without a
//! number (results from before the passes) is read as a single pass.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layout::{self, BASELINES, Layout};
use crate::manifest::Mode;
use crate::{Error, Result, fsio};

/// Criterion's `Throughput`, as serialized in `benchmark.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Throughput {
    /// Bits per iteration.
    Bits(u64),
    /// Bytes per iteration.
    Bytes(u64),
    /// Bytes per iteration, reported in decimal units.
    BytesDecimal(u64),
    /// Elements per iteration.
    Elements(u64),
    /// Both.
    ElementsAndBytes {
        /// Elements per iteration.
        elements: u64,
        /// Bytes per iteration.
        bytes: u64,
    },
}

impl Throughput {
    /// Elements per iteration, when the benchmark counts elements.
    #[must_use]
    pub fn elements(&self) -> Option<u64> {
        match self {
            Self::Elements(n) | Self::ElementsAndBytes { elements: n, .. } => Some(*n),
            _ => None,
        }
    }
}

/// The fields of `benchmark.json` that identify a benchmark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchmarkId {
    /// The group: `echo`, `broadcast`, `contention`, `slow_consumer`.
    pub group_id: String,
    /// The contender's package name.
    pub function_id: Option<String>,
    /// The condition measured.
    pub value_str: Option<String>,
    /// Work per iteration.
    pub throughput: Option<Throughput>,
}

/// A confidence interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceInterval {
    /// E.g. 0.95.
    pub confidence_level: f64,
    /// Lower bound, ns.
    pub lower_bound: f64,
    /// Upper bound, ns.
    pub upper_bound: f64,
}

/// One statistic of `estimates.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Its interval.
    pub confidence_interval: ConfidenceInterval,
    /// The value, ns.
    pub point_estimate: f64,
    /// Standard error, ns.
    pub standard_error: f64,
}

/// `estimates.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimates {
    /// Mean time per iteration.
    pub mean: Estimate,
    /// Median time per iteration.
    pub median: Estimate,
    /// Linear-regression slope (linear sampling only).
    pub slope: Option<Estimate>,
}

impl Estimates {
    /// What Criterion itself reports: the slope when there is one, else the mean.
    #[must_use]
    pub fn typical(&self) -> &Estimate {
        self.slope.as_ref().unwrap_or(&self.mean)
    }
}

/// One benchmark of one baseline, as the report reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Bench {
    /// The baseline it came from.
    pub mode: Mode,
    /// Its pass (`pinned-r2` is pass 2), `None` for a baseline without one.
    pub repeat: Option<u32>,
    /// Its identity.
    pub id: BenchmarkId,
    /// Its estimates.
    pub estimates: Estimates,
}

impl Bench {
    /// The contender (function id), or the group when there is none.
    #[must_use]
    pub fn contender(&self) -> &str {
        self.id.function_id.as_deref().unwrap_or(&self.id.group_id)
    }

    /// The condition (parameter), or `"default"`.
    #[must_use]
    pub fn condition(&self) -> &str {
        self.id.value_str.as_deref().unwrap_or("default")
    }

    /// Elements per second at the typical time per iteration.
    #[must_use]
    pub fn elements_per_s(&self) -> Option<f64> {
        let n = self.id.throughput.as_ref()?.elements()?;
        let ns = self.estimates.typical().point_estimate;
        (ns > 0.0).then(|| n as f64 / (ns * 1e-9))
    }
}

/// `results/criterion/index.json`: where the import came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportIndex {
    /// The Criterion directory read.
    pub source: String,
    /// The bench commands that produced the baselines, as given to `import-criterion`.
    pub commands: Vec<String>,
    /// Benchmarks imported per baseline.
    pub imported: Vec<(String, usize)>,
}

/// A baseline's mode and pass: `pinned` → (pinned, none), `pinned-r2` →
/// (pinned, 2); `None` for any other name (Criterion's own `new` and
/// `base`, or a baseline saved by hand).
#[must_use]
pub fn parse_baseline(name: &str) -> Option<(Mode, Option<u32>)> {
    let (mode, pass) = match name.split_once("-r") {
        Some((mode, pass)) => (mode, Some(pass)),
        None => (name, None),
    };
    let mode = BASELINES
        .iter()
        .zip([Mode::Pinned, Mode::Unpinned])
        .find(|(b, _)| **b == mode)?
        .1;
    match pass {
        None => Some((mode, None)),
        // Digits only, from 1: `pinned-r` or `pinned-r0x1` is not a pass.
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u32 = p.parse().ok()?;
            (n > 0).then_some((mode, Some(n)))
        }
        Some(_) => None,
    }
}

/// The baseline directory name of a mode and pass (the inverse of [`parse_baseline`]).
#[must_use]
pub fn baseline_name(mode: Mode, repeat: Option<u32>) -> String {
    match repeat {
        Some(n) => format!("{}-r{n}", mode.name()),
        None => mode.name().to_owned(),
    }
}

/// The baselines directly under `dir` that [`parse_baseline`] accepts, in
/// (mode, pass) order.
fn baselines_in(dir: &Path) -> Result<Vec<(Mode, Option<u32>)>> {
    let mut found = Vec::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(dir).map_err(fsio::io_err(dir))? {
        let entry = entry.map_err(fsio::io_err(dir))?;
        if entry.path().is_dir()
            && let Some(b) = entry.file_name().to_str().and_then(parse_baseline)
        {
            found.push(b);
        }
    }
    found.sort();
    Ok(found)
}

/// Copy every `pinned` and `unpinned` baseline of `criterion_dir`, with or
/// without a pass number (`pinned-r1`, ...), into `out`, replacing every
/// baseline `out` held, and write `out/index.json`.
///
/// Returns the number of benchmarks imported per baseline: `pinned` and
/// `unpinned` always (0 when absent), and every numbered pass found.
///
/// # Errors
/// I/O errors, and a `benchmark.json` that does not parse or has no
/// `estimates.json` beside it.
pub fn import(
    criterion_dir: &Path,
    out: &Path,
    commands: &[String],
) -> Result<Vec<(String, usize)>> {
    let found = fsio::find_files(criterion_dir, "benchmark.json")?;
    // Stale passes go too: a run of one pass after one of three must not
    // leave the old passes 2 and 3 beside the new pass 1.
    for (mode, repeat) in baselines_in(out)? {
        fsio::remove_dir_all_if_exists(&out.join(baseline_name(mode, repeat)))?;
    }
    let mut baselines: BTreeSet<(Mode, Option<u32>)> = [Mode::Pinned, Mode::Unpinned]
        .into_iter()
        .map(|m| (m, None))
        .collect();
    baselines.extend(found.iter().filter_map(|f| {
        f.parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .and_then(parse_baseline)
    }));
    let mut imported = Vec::new();
    for (mode, repeat) in baselines {
        let baseline = baseline_name(mode, repeat);
        let dest_root = out.join(&baseline);
        let mut used = BTreeSet::new();
        let mut count = 0;
        for file in found.iter().filter(|f| {
            f.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| *n == *baseline)
        }) {
            let id: BenchmarkId = fsio::read_json(file)?;
            let estimates = file.with_file_name("estimates.json");
            if !estimates.is_file() {
                return Err(Error::Invalid(format!(
                    "{}: no estimates.json beside it",
                    file.display()
                )));
            }
            let dest = unique_dir(&dest_root, &id, &mut used);
            fsio::copy(file, &dest.join("benchmark.json"))?;
            fsio::copy(&estimates, &dest.join("estimates.json"))?;
            count += 1;
        }
        imported.push((baseline, count));
    }
    let index = ImportIndex {
        source: criterion_dir.display().to_string(),
        commands: commands.to_vec(),
        imported: imported.clone(),
    };
    fsio::write_json(&out.join(layout::CRITERION_INDEX), &index)?;
    Ok(imported)
}

/// `<group>/<function>/<param>` made safe, with a suffix if two ids collide.
fn unique_dir(root: &Path, id: &BenchmarkId, used: &mut BTreeSet<PathBuf>) -> PathBuf {
    let mut rel = PathBuf::from(layout::safe_component(&id.group_id));
    for part in [&id.function_id, &id.value_str].into_iter().flatten() {
        rel.push(layout::safe_component(part));
    }
    let mut candidate = rel.clone();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = rel.with_file_name(format!(
            "{}_{n}",
            rel.file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default()
        ));
        n += 1;
    }
    root.join(candidate)
}

/// Every imported benchmark under `results/criterion`, by baseline (mode,
/// then pass) and then in path order.
///
/// # Errors
/// I/O and JSON errors naming the file.
pub fn load(layout: &Layout) -> Result<Vec<Bench>> {
    let mut benches = Vec::new();
    for (mode, repeat) in baselines_in(&layout.criterion())? {
        let dir = layout.criterion().join(baseline_name(mode, repeat));
        for file in fsio::find_files(&dir, "benchmark.json")? {
            let id: BenchmarkId = fsio::read_json(&file)?;
            let estimates: Estimates = fsio::read_json(&file.with_file_name("estimates.json"))?;
            benches.push(Bench {
                mode,
                repeat,
                id,
                estimates,
            });
        }
    }
    Ok(benches)
}

/// `results/criterion/index.json`, if the import ran.
///
/// # Errors
/// I/O and JSON errors naming the file.
pub fn load_index(layout: &Layout) -> Result<Option<ImportIndex>> {
    let path = layout.criterion().join(layout::CRITERION_INDEX);
    if path.is_file() {
        fsio::read_json(&path).map(Some)
    } else {
        Ok(None)
    }
}

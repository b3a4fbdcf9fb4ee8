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

fn baseline_mode(name: &str) -> Option<Mode> {
    match name {
        "pinned" => Some(Mode::Pinned),
        "unpinned" => Some(Mode::Unpinned),
        _ => None,
    }
}

/// Copy the `pinned` and `unpinned` baselines of `criterion_dir` into `out`,
/// replacing what `out` held for them, and write `out/index.json`.
///
/// Returns the number of benchmarks imported per baseline.
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
    let mut imported = Vec::new();
    for baseline in BASELINES {
        let dest_root = out.join(baseline);
        fsio::remove_dir_all_if_exists(&dest_root)?;
        let mut used = BTreeSet::new();
        let mut count = 0;
        for file in found.iter().filter(|f| {
            f.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == baseline)
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
        imported.push((baseline.to_owned(), count));
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

/// Every imported benchmark under `results/criterion`, in path order.
///
/// # Errors
/// I/O and JSON errors naming the file.
pub fn load(layout: &Layout) -> Result<Vec<Bench>> {
    let mut benches = Vec::new();
    for baseline in BASELINES {
        let Some(mode) = baseline_mode(baseline) else {
            continue;
        };
        for file in fsio::find_files(&layout.criterion().join(baseline), "benchmark.json")? {
            let id: BenchmarkId = fsio::read_json(&file)?;
            let estimates: Estimates = fsio::read_json(&file.with_file_name("estimates.json"))?;
            benches.push(Bench {
                mode,
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

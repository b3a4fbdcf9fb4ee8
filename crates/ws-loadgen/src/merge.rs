//! `--hdr` files and the `merge` subcommand.
//!
//! A `--hdr` file is a standard HdrHistogram interval log (readable by the
//! Java `HistogramLogProcessor`): one tagged, V2-deflate-encoded histogram per
//! distribution (`latency`, `latency_with_undelivered`, ...), values in
//! microseconds. A comment line `#ws-loadgen-integrity: {json}` carries the
//! run's integrity counters. `merge` adds histograms of the same tag from
//! several files (load from several processes or machines becomes one honest
//! distribution: percentiles of the sum, never averages of percentiles) and
//! sums the counters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use serde::Serialize;

use crate::LoadgenError;
use crate::report::{NamedHistogram, Table};
use crate::stats::{Integrity, LatencySummary, merge_into, new_histogram};

const INTEGRITY_COMMENT: &str = "ws-loadgen-integrity: ";

/// Configuration of a merge.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Config {
    /// `--hdr` files to combine.
    pub inputs: Vec<PathBuf>,
}

/// The merged result.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `"merge"`.
    pub scenario: &'static str,
    /// Integrity counters summed over the inputs (top level in JSON).
    #[serde(flatten)]
    pub integrity: Integrity,
    /// The configuration.
    pub config: Config,
    /// Percentiles of each merged distribution, by tag.
    pub distributions: BTreeMap<String, LatencySummary>,
    /// Merged histograms, for `--hdr`.
    #[serde(skip)]
    pub histograms: Vec<NamedHistogram>,
}

impl crate::report::Report for Report {
    fn table(&self) -> String {
        let mut t = Table::new(&format!("merge: {} file(s)", self.config.inputs.len()));
        let rows: Vec<(&str, &LatencySummary)> = self
            .distributions
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        t.latency(&rows).integrity(&self.integrity);
        t.finish()
    }
    fn integrity(&self) -> &Integrity {
        &self.integrity
    }
    fn histograms(&self) -> &[NamedHistogram] {
        &self.histograms
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LoadgenError + '_ {
    move |source| LoadgenError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Write histograms and integrity counters as an interval log.
///
/// # Errors
/// [`LoadgenError::Io`] when the file cannot be written, [`LoadgenError::Histogram`] on encoding failure.
pub fn write_hdr(
    path: &Path,
    histograms: &[NamedHistogram],
    integrity: &Integrity,
) -> Result<(), LoadgenError> {
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let json =
        serde_json::to_string(integrity).map_err(|e| LoadgenError::Histogram(e.to_string()))?;
    {
        let now = SystemTime::now();
        let mut w = IntervalLogWriterBuilder::new()
            .add_comment("ws-loadgen histograms, values in microseconds")
            .add_comment(&format!("{INTEGRITY_COMMENT}{json}"))
            .with_start_time(now)
            .begin_log_with(&mut buf, &mut serializer)
            .map_err(|e| LoadgenError::Histogram(e.to_string()))?;
        for h in histograms {
            let tag = Tag::new(&h.tag)
                .ok_or_else(|| LoadgenError::Histogram(format!("bad tag {:?}", h.tag)))?;
            w.write_histogram(&h.histogram, Duration::ZERO, Duration::ZERO, Some(tag))
                .map_err(|e| LoadgenError::Histogram(e.to_string()))?;
        }
    }
    std::fs::write(path, buf).map_err(io_err(path))
}

/// Read a file written by [`write_hdr`] (or any tagged interval log).
///
/// # Errors
/// [`LoadgenError::Io`] when unreadable, [`LoadgenError::Histogram`] when malformed.
pub fn read_hdr(path: &Path) -> Result<(Vec<NamedHistogram>, Option<Integrity>), LoadgenError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let bad = |what: String| LoadgenError::Histogram(format!("{}: {what}", path.display()));
    let mut integrity = None;
    for line in bytes.split(|&b| b == b'\n') {
        if let Some(rest) = line
            .strip_prefix(b"#")
            .and_then(|l| l.strip_prefix(INTEGRITY_COMMENT.as_bytes()))
        {
            integrity = Some(
                serde_json::from_slice(rest).map_err(|e| bad(format!("integrity comment: {e}")))?,
            );
        }
    }
    let mut out = Vec::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| bad(format!("{e:?}")))?;
        if let LogEntry::Interval(ilh) = entry {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(ilh.encoded_histogram())
                .map_err(|e| bad(format!("base64: {e}")))?;
            let h: hdrhistogram::Histogram<u64> = deserializer
                .deserialize(&mut raw.as_slice())
                .map_err(|e| bad(format!("histogram: {e:?}")))?;
            let tag = ilh
                .tag()
                .map_or_else(|| "untagged".to_owned(), |t| t.as_str().to_owned());
            out.push(NamedHistogram { tag, histogram: h });
        }
    }
    if out.is_empty() {
        return Err(bad("no histogram found".into()));
    }
    Ok((out, integrity))
}

/// Merge `--hdr` files.
///
/// # Errors
/// [`LoadgenError::Config`] without inputs; read errors of any input.
pub async fn run(config: Config) -> Result<Report, LoadgenError> {
    if config.inputs.is_empty() {
        return Err(LoadgenError::Config(
            "merge needs at least one --hdr file to read".into(),
        ));
    }
    let mut merged: BTreeMap<String, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    let mut integrity = Integrity::default();
    for path in &config.inputs {
        let (hs, i) = read_hdr(path)?;
        if let Some(i) = i {
            integrity.add(&i);
        }
        for h in hs {
            let dst = merged.entry(h.tag).or_insert_with(new_histogram);
            merge_into(dst, &h.histogram)?;
        }
    }
    let distributions = merged
        .iter()
        .map(|(k, h)| (k.clone(), LatencySummary::of(h)))
        .collect();
    let histograms = merged
        .into_iter()
        .map(|(tag, histogram)| NamedHistogram { tag, histogram })
        .collect();
    Ok(Report {
        scenario: "merge",
        integrity,
        config,
        distributions,
        histograms,
    })
}

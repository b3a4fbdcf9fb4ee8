//! `ws-report render`: `RESULTS.md` and `results/plots/*.svg` from the files
//! in `results/` alone. Everything is a pure function of those files, so
//! rendering twice gives the same bytes and [`crate::check`] can compare.

mod benches;
mod ceiling;
mod claims;
pub mod data;
pub mod flush;
pub mod format;
mod heartbeat;
mod hostile;
mod intro;
mod large_rooms;
mod load_curve;
mod memory;
pub mod plots;
mod reliability;
mod reproducibility;
mod scenarios;
mod slow_readers;
mod strategy;
pub mod svgtext;
pub mod table;
mod verdict;

use std::path::{Component, Path, PathBuf};

use crate::layout::{Layout, PLOTS_DIR};
use crate::{Result, fsio};
use data::Data;

/// A rendered report: the Markdown and the plots (file name, SVG).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// `RESULTS.md`.
    pub markdown: String,
    /// `results/plots/<name>` and their contents, in order.
    pub plots: Vec<(String, String)>,
}

/// What sections share while rendering.
pub(crate) struct Ctx<'a> {
    pub data: &'a Data,
    /// How the report links to the results directory (`results`).
    pub results_link: String,
    pub plots: Vec<(String, String)>,
}

impl Ctx<'_> {
    /// Add a plot and return the Markdown image line for it.
    pub fn plot(&mut self, name: String, alt: &str, svg: String) -> String {
        let line = format!("![{alt}]({}/{PLOTS_DIR}/{name})\n", self.results_link);
        self.plots.push((name, svg));
        line
    }
}

/// The path from `report`'s directory to `results`, with `/` separators:
/// `results` in the usual layout, the path as given when it cannot be made relative.
fn results_link(results: &Path, report: &Path) -> String {
    let report_dir = report
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let relative = std::path::absolute(report_dir)
        .ok()
        .zip(std::path::absolute(results).ok())
        .and_then(|(dir, res)| {
            let dir = normalize(&dir);
            normalize(&res)
                .strip_prefix(&dir)
                .ok()
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| results.to_path_buf());
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// Drop `.` and resolve `..` lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Render the report for `results`, as it will be written to `report`.
///
/// # Errors
/// Unreadable or malformed result files, and plotting errors.
pub fn render(results: &Path, report: &Path) -> Result<Rendered> {
    let data = Data::load(&Layout::new(results))?;
    let mut ctx = Ctx {
        data: &data,
        results_link: results_link(results, report),
        plots: Vec::new(),
    };
    let mut md = String::new();
    // Verdict first, then the evidence, then how it was measured: a reader
    // who stops after the first screen should still choose correctly.
    md.push_str(&intro::header(&ctx));
    md.push_str(&verdict::section(&ctx));
    md.push_str("## Results\n\n");
    md.push_str(&flush::section(&mut ctx)?);
    md.push_str(&reproducibility::section(&ctx));
    md.push_str(&benches::section(&mut ctx, "echo", "Echo throughput")?);
    md.push_str(&benches::section(
        &mut ctx,
        "broadcast",
        "Broadcast fan-out",
    )?);
    md.push_str(&benches::section(&mut ctx, "contention", "Contention")?);
    md.push_str(&scenarios::slow(&mut ctx)?);
    md.push_str(&slow_readers::section(&ctx));
    md.push_str(&heartbeat::section(&ctx));
    md.push_str(&strategy::section(&ctx));
    md.push_str(&memory::section(&mut ctx)?);
    md.push_str(&large_rooms::section(&ctx));
    md.push_str(&reliability::section(&ctx));
    md.push_str(&scenarios::latency(&mut ctx)?);
    md.push_str(&load_curve::section(&mut ctx)?);
    md.push_str(&ceiling::section(&ctx));
    md.push_str(&benches::others(&mut ctx)?);
    md.push_str(&claims::section(&ctx));
    md.push_str(&intro::environment(&ctx));
    md.push_str(&intro::method(&ctx));
    Ok(Rendered {
        markdown: md,
        plots: ctx.plots,
    })
}

/// Write a rendered report: the Markdown to `report`, the plots to
/// `results/plots/` (replacing the SVGs there).
///
/// # Errors
/// I/O errors naming the file.
pub fn write(rendered: &Rendered, results: &Path, report: &Path) -> Result<()> {
    let plots = Layout::new(results).plots();
    for old in existing_svgs(&plots)? {
        std::fs::remove_file(&old).map_err(fsio::io_err(&old))?;
    }
    for (name, svg) in &rendered.plots {
        fsio::write(&plots.join(name), svg)?;
    }
    fsio::write(report, &rendered.markdown)
}

/// The SVG files in a plots directory, sorted.
///
/// # Errors
/// I/O errors naming the directory.
pub fn existing_svgs(plots: &Path) -> Result<Vec<PathBuf>> {
    if !plots.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(plots).map_err(fsio::io_err(plots))? {
        let path = entry.map_err(fsio::io_err(plots))?.path();
        if path.extension().is_some_and(|e| e == "svg") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

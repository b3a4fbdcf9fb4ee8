//! `ws-report check`: render again in memory and compare with what is on
//! disk, so a hand-edited or stale number in `RESULTS.md` (or a stale plot)
//! fails with the first lines that differ.

use std::path::Path;

use crate::layout::Layout;
use crate::render::{self, Rendered};
use crate::{Error, Result, fsio};

/// Lines of context shown from the first difference on.
const SHOWN: usize = 3;

/// The first differing lines of `committed` and `rendered`, as a small diff;
/// `None` when they are equal.
#[must_use]
pub fn first_difference(name: &str, committed: &str, rendered: &str) -> Option<String> {
    if committed == rendered {
        return None;
    }
    let a: Vec<&str> = committed.lines().collect();
    let b: Vec<&str> = rendered.lines().collect();
    let first = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.len().min(b.len()));
    let mut out = format!(
        "--- {name} (on disk)\n+++ {name} (rendered from the results)\n@@ line {} @@\n",
        first + 1
    );
    for line in a.iter().skip(first).take(SHOWN) {
        out.push_str(&format!("-{line}\n"));
    }
    for line in b.iter().skip(first).take(SHOWN) {
        out.push_str(&format!("+{line}\n"));
    }
    if a.len() == b.len() && first >= a.len() {
        out.push_str("(the files differ only in line endings or a final newline)\n");
    }
    Some(out)
}

/// Compare a rendering with the report and plots on disk.
///
/// # Errors
/// [`Error::Stale`] with the differences, or I/O errors.
pub fn compare(rendered: &Rendered, results: &Path, report: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let committed = fsio::read_string(report)?;
    if let Some(d) = first_difference(
        &report.display().to_string(),
        &committed,
        &rendered.markdown,
    ) {
        problems.push(d);
    }
    let plots = Layout::new(results).plots();
    for (name, svg) in &rendered.plots {
        let path = plots.join(name);
        match std::fs::read_to_string(&path) {
            Ok(on_disk) if on_disk == *svg => {}
            Ok(_) => problems.push(format!("{} differs from its rendering", path.display())),
            Err(_) => problems.push(format!("{} is missing", path.display())),
        }
    }
    for path in render::existing_svgs(&plots)? {
        let known = path
            .file_name()
            .is_some_and(|f| rendered.plots.iter().any(|(n, _)| f == n.as_str()));
        if !known {
            problems.push(format!("{} is not produced by the results", path.display()));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Stale(format!(
            "the report does not match {}; regenerate it with `ws-report render`.\n{}",
            results.display(),
            problems.join("\n")
        )))
    }
}

/// Render `results` in memory and compare with `report` and the plots.
///
/// # Errors
/// [`Error::Stale`] with the first differing lines, or rendering and I/O errors.
pub fn check(results: &Path, report: &Path) -> Result<()> {
    let rendered = render::render(results, report)?;
    compare(&rendered, results, report)
}

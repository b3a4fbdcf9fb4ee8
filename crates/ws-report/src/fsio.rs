//! File helpers that put the path into every error.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Wrap an I/O error with its path.
pub fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Read a whole file as UTF-8.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn read_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

/// Read and parse a JSON file.
///
/// # Errors
/// [`Error::Io`] or [`Error::Json`] naming the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_string(path)?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Write a file, creating its parent directories.
///
/// # Errors
/// [`Error::Io`] naming the file or directory.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_all(parent)?;
    }
    std::fs::write(path, contents).map_err(io_err(path))
}

/// Write a value as pretty JSON with a final newline.
///
/// # Errors
/// [`Error::Io`] or [`Error::Json`] naming the file.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    text.push('\n');
    write(path, text)
}

/// Create a directory and its parents.
///
/// # Errors
/// [`Error::Io`] naming the directory.
pub fn create_dir_all(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(io_err(path))
}

/// Copy one file, creating the destination's parent directories.
///
/// # Errors
/// [`Error::Io`] naming the file that failed.
pub fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        create_dir_all(parent)?;
    }
    std::fs::copy(from, to).map(|_| ()).map_err(io_err(from))
}

/// Remove a directory tree if it exists.
///
/// # Errors
/// [`Error::Io`] naming the directory.
pub fn remove_dir_all_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

/// Every file named `name` under `root`, sorted by path (empty when `root` does not exist).
///
/// # Errors
/// [`Error::Io`] naming the directory that could not be listed.
pub fn find_files(root: &Path, name: &str) -> Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    if !root.is_dir() {
        return Ok(found);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = entry.map_err(io_err(&dir))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == name) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

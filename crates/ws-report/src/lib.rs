//! The comparison runner and report generator behind `scripts/compare.sh`.
//!
//! Four steps, one subcommand each of the `ws-report` binary:
//! - [`collect`]: runs the `ws-loadgen` scenarios that Criterion cannot
//!   express (open-loop latency, slow-consumer isolation, memory per
//!   connection, and in both `--flush` policies, repeated and interleaved:
//!   closed-loop echo throughput, open-loop latency against load and room
//!   saturation) against the release servers, each a child process, and
//!   stores every raw result under `results/`; it prints the plan's run count
//!   and estimated time first (`--dry-run`: only that);
//! - [`criterion`]: copies Criterion's `pinned` (and `unpinned`, if run) baselines, one per pass, into
//!   `results/criterion/`, so the report never reads `target/`;
//! - [`render`]: regenerates `RESULTS.md` and its SVG plots from the files in
//!   `results/` alone;
//! - [`check`]: renders again in memory and fails when the committed report or
//!   plots differ, so no number in `RESULTS.md` can drift from its raw record.
//!
//! ```text
//! cargo run -p ws-report --release -- collect --out results
//! cargo run -p ws-report --release -- import-criterion --criterion-dir target/criterion --out results/criterion
//! cargo run -p ws-report --release -- render --results results --out RESULTS.md
//! cargo run -p ws-report --release -- check --results results --report RESULTS.md
//! ```
//!
//! The layout of `results/` is described in [`layout`].
//!
//! # Repeats and the time budget
//! The full comparison must stay within 60 minutes on a 2-core machine, so
//! repeats are bought with conditions. The throughput runs, which the flush
//! targets are measured by, run every echo server in both policies 5 times:
//! each repeat one sliced run in which all of them (each a fresh process)
//! take 200 ms turns for 20 s (`collect::plan::Params::full`,
//! `ws_loadgen::slicing`), so that the host's drift over seconds hits them
//! alike; a ratio is taken within a repeat and reported as median
//! (min–max). The load curve and the
//! room saturation runs are repeated 3 times the same way, and so are the
//! slow-consumer isolation, contention and slow-reader runs (each server at
//! its default policy), paid for with shorter runs: 8 s with a stalled
//! member instead of 20 (the freeze it causes is over about 4 s into the
//! window), 6 s a sweep pace instead of 10, a 14 s quiet detection room
//! instead of 16, 3 s of contention, and a 20 s reliability flood instead of
//! a minute. The `each` policy runs pinned only, in Criterion too
//! (`benches/src/lib.rs`), and Criterion runs in 3 passes (each its own
//! process, ratios within a pass, median (min–max) over them), paid for with
//! 10 flat samples of 1–2.5 s after a 0.3 s warm-up and without its
//! `slow_consumer` group. `--quick` runs 1 repeat of tiny runs and one
//! Criterion pass: a smoke run of every step.

pub mod check;
pub mod collect;
pub mod contenders;
pub mod criterion;
mod error;
pub mod fsio;
pub mod layout;
pub mod loadgen;
pub mod manifest;
pub mod render;

pub use error::{Error, Result};

//! `ws-report`: collect the `ws-loadgen` scenarios, import Criterion's
//! baselines, render `RESULTS.md` from `results/`, and check it.
//!
//! ```text
//! cargo run -p ws-report --release -- collect --out results [--quick] [--bin-dir target/release]
//! cargo run -p ws-report --release -- import-criterion --criterion-dir target/criterion --out results/criterion
//! cargo run -p ws-report --release -- render --results results --out RESULTS.md
//! cargo run -p ws-report --release -- check --results results --report RESULTS.md
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ws_report::{check, collect, criterion, render};

/// Run the comparison's scenarios and generate RESULTS.md from results/.
#[derive(Parser, Debug)]
#[command(name = "ws-report", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the ws-loadgen scenarios against every release server; write results and run.json.
    Collect {
        /// Results directory (default: results, or target/ws-report-quick/results with --quick).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Shrink every duration and count, one repeat (a smoke run of about 3 minutes).
        #[arg(long)]
        quick: bool,
        /// Where the release binaries are.
        #[arg(long, default_value = "target/release")]
        bin_dir: PathBuf,
        /// Print the plan's run count and estimated duration, and run nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy Criterion's pinned (and, if present, unpinned) baselines, every pass (`pinned-r1`, ...), into the results.
    ImportCriterion {
        /// Criterion's output directory.
        #[arg(long, default_value = "target/criterion")]
        criterion_dir: PathBuf,
        /// Destination.
        #[arg(long, default_value = "results/criterion")]
        out: PathBuf,
        /// A bench command that produced the baselines, recorded for the report (repeatable).
        #[arg(long = "command", value_name = "COMMAND")]
        commands: Vec<String>,
    },
    /// Regenerate the report and its plots from the results alone.
    Render {
        /// Results directory.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// The report to write.
        #[arg(long, default_value = "RESULTS.md")]
        out: PathBuf,
    },
    /// Fail when the report or its plots differ from what the results render to.
    Check {
        /// Results directory.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// The report to compare.
        #[arg(long, default_value = "RESULTS.md")]
        report: PathBuf,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Collect {
            out,
            quick,
            bin_dir,
            dry_run,
        } => {
            if dry_run {
                println!("{}", collect::plan_estimate(quick));
                return Ok(());
            }
            let out = out.unwrap_or_else(|| {
                PathBuf::from(if quick {
                    "target/ws-report-quick/results"
                } else {
                    "results"
                })
            });
            let opts = collect::Options {
                out: out.clone(),
                bin_dir,
                quick,
                workspace: std::env::current_dir().context("current directory")?,
                command: std::env::args().collect(),
            };
            let manifest = collect::collect(&opts, &mut |line| eprintln!("{line}"))
                .with_context(|| format!("collect into {}", out.display()))?;
            eprintln!("{} runs written to {}", manifest.runs.len(), out.display());
        }
        Command::ImportCriterion {
            criterion_dir,
            out,
            commands,
        } => {
            let imported = criterion::import(&criterion_dir, &out, &commands)
                .with_context(|| format!("import {}", criterion_dir.display()))?;
            for (baseline, n) in imported {
                eprintln!("{baseline}: {n} benchmarks imported into {}", out.display());
            }
        }
        Command::Render { results, out } => {
            let rendered = render::render(&results, &out)
                .with_context(|| format!("render {}", results.display()))?;
            render::write(&rendered, &results, &out)?;
            eprintln!(
                "wrote {} and {} plots in {}",
                out.display(),
                rendered.plots.len(),
                results.join(ws_report::layout::PLOTS_DIR).display()
            );
        }
        Command::Check { results, report } => {
            check::check(&results, &report)?;
            eprintln!("{} matches {}", report.display(), results.display());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ws-report: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! Serves the sink-sharing protocol; `cargo run -p ws-mpsc-writer -- --help` lists the flags.

fn main() -> anyhow::Result<()> {
    ws_common::cli::run::<ws_mpsc_writer::Writer>()?;
    Ok(())
}

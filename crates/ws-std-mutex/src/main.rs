//! Serves the sink-sharing protocol; `cargo run -p ws-std-mutex -- --help` lists the flags.

fn main() -> anyhow::Result<()> {
    ws_common::cli::run::<ws_std_mutex::Writer>()?;
    Ok(())
}

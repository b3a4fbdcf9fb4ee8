//! Serves the sink-sharing protocol; `cargo run -p ws-tokio-mutex -- --help` lists the flags.

fn main() -> anyhow::Result<()> {
    ws_common::cli::run::<ws_tokio_mutex::Writer>()?;
    Ok(())
}

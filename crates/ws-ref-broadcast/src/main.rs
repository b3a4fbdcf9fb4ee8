//! Serves the sink-sharing protocol; `cargo run -p ws-ref-broadcast -- --help` lists the flags.

fn main() -> anyhow::Result<()> {
    ws_common::cli::run::<ws_ref_broadcast::Server>()?;
    Ok(())
}

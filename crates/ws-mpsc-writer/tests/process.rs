//! The process suite of `ws-common` (flags, closed output, signals), run
//! against this variant's binary.

ws_common::process_tests!(env!("CARGO_BIN_EXE_ws-mpsc-writer"));

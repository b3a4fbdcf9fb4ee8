//! The conformance suite of `ws-common`, run against this variant.

ws_common::conformance_tests!(ws_mpsc_writer::Writer);

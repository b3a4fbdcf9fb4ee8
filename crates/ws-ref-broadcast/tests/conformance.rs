//! The conformance suite of `ws-common`, run against this reference.

ws_common::conformance_tests!(ws_ref_broadcast::Server);

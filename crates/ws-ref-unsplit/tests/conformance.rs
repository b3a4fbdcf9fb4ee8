//! The conformance suite of `ws-common`, run against this reference (echo only: it serves no rooms).

ws_common::conformance_tests!(echo_only: ws_ref_unsplit::Server);

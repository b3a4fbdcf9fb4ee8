//! The conformance suite of `ws-common`, run against this variant.

ws_common::conformance_tests!(ws_std_mutex::Writer);

//! A raw WebSocket client, for testing what a server does with input that a
//! well-behaved client library would never send.
//!
//! - [`Frame`] encodes and decodes frames (RFC 6455 section 5.2) with every
//!   header field under the caller's control: reserved bits, reserved
//!   opcodes, no mask, a length field that disagrees with the payload.
//! - [`RawClient`] does the HTTP upgrade by hand over a plain TCP socket,
//!   writes arbitrary bytes or frames, reads frames back, and reports how the
//!   server ended the connection ([`Outcome`]).
//! - [`catalog`] lists the bad inputs the reliability tests and
//!   `ws-loadgen badinput` both throw at a server, each with the answer RFC
//!   6455 prescribes ([`Expect`]), so the two can never disagree about it.
//! - [`scrape`] reads the server's `GET /metrics` and [`parse_metrics`]
//!   turns the Prometheus text into numbers, for checking what the server
//!   says about its connections and rooms.
//!
//! Used by `ws-common`'s test kit (the `testkit` feature) and by
//! `ws-loadgen`; it depends on tokio only.

mod catalog;
mod client;
mod frame;
mod metrics;

pub use catalog::{BadInput, Expect, Stage, catalog, run_input};
pub use client::{KEY, Outcome, RawClient, RawError, upgrade_request};
pub use frame::{DecodeError, Frame, MASK, opcode};
pub use metrics::{http_get, parse_metrics, scrape};

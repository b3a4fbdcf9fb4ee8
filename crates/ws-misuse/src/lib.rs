//! What goes wrong when the write half of a split WebSocket is shared behind
//! a `std::sync::Mutex` whose guard is held across `.await`, shown safely.
//!
//! Every demonstration here is a test that fails if the hazard it shows stops
//! happening, and never hangs the suite: the deadlock runs in a child process
//! that a watchdog kills. `crates/ws-std-mutex/MISUSE.md` walks through them
//! top to bottom with the output of real runs.
//!
//! - `tests/ui.rs`: the naive form inside `tokio::spawn` does not compile
//!   (the future is not `Send`), nor do the near misses; the fixed forms do.
//! - [`deadlock`] (binary `deadlock`, test `tests/deadlock.rs`): where the
//!   naive form compiles (a `LocalSet` on a current-thread runtime), it
//!   deadlocks the only thread.
//! - [`block_runtime`] (binary `block-runtime`, test
//!   `tests/block_runtime.rs`): blocking a runtime worker, with
//!   `futures::executor::block_on` or a contended `lock()`, stalls unrelated
//!   tasks for as long as the slow send lasts.
//! - `tests/clippy.rs`: `clippy::await_holding_lock` flags the naive form.
//!
//! The sinks are tokio-tungstenite's `SplitSink<WebSocketStream<_>, Message>`
//! over an in-memory pipe ([`stalled`]), so that "the peer is not reading" is
//! deterministic. `axum::extract::ws::WebSocket` wraps the same
//! `WebSocketStream`, so an axum handler that writes the naive form behaves
//! exactly the same way.
//!
//! Run everything with `cargo test -p ws-misuse`.

pub mod block_runtime;
pub mod deadlock;
pub mod stalled;

//! Compile-fail tests: a `std::sync::MutexGuard` held across `.await` inside
//! `tokio::spawn` is rejected (the future is not `Send`), in the naive form
//! and in the near misses people try next; the forms that really drop the
//! guard before the `.await` compile.
//!
//! The expected compiler output sits beside each case in `tests/ui/*.stderr`.
//! It depends on the rustc version (these were written by rustc 1.95.0):
//! after a toolchain change, regenerate with
//! `TRYBUILD=overwrite cargo test -p ws-misuse --test ui` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

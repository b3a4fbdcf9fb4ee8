//! The naive std-mutex form deadlocking a current-thread runtime.
//!
//! ```text
//! cargo run -p ws-misuse --bin deadlock -- std     # hangs: stop it with Ctrl-C
//! cargo run -p ws-misuse --bin deadlock -- tokio   # the control: finishes
//! ```
//!
//! See `ws_misuse::deadlock` for what happens, step by step.

use std::process::ExitCode;

use ws_misuse::deadlock::{self, Guard};

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "std".to_owned());
    match arg.parse::<Guard>() {
        Ok(guard) => {
            deadlock::run(guard);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("usage: deadlock [std|tokio]: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Prints how late an unrelated heartbeat gets while slow sends block
//! runtime workers, for each scenario of `ws_misuse::block_runtime`: one
//! slow send on 1 worker, then one and two slow sends on 2 workers.
//!
//! ```text
//! cargo run -p ws-misuse --bin block-runtime
//! ```

use std::time::Duration;

use ws_misuse::block_runtime::{self, HEARTBEAT, Scenario};

/// How long the peer does not read: the length of the blocking period.
const STALL: Duration = Duration::from_millis(300);

fn main() {
    println!(
        "peer stalls for {} ms; heartbeat every {} ms",
        STALL.as_millis(),
        HEARTBEAT.as_millis()
    );
    println!(
        "{:<7} | {:<10} | {:<38} | {:>12} | {:>19} | {:>15}",
        "workers",
        "slow sends",
        "scenario",
        "slow op (ms)",
        "heartbeat late (ms)",
        "heartbeat ticks"
    );
    for (workers, blockers) in [(1, 1), (2, 1), (2, 2)] {
        for scenario in Scenario::ALL {
            let r = block_runtime::measure(scenario, workers, blockers, STALL);
            println!(
                "{:<7} | {:<10} | {:<38} | {:>12} | {:>19} | {:>15}",
                r.workers,
                r.blockers,
                scenario.name(),
                r.slow_op.as_millis(),
                r.heartbeat_max_late.as_millis(),
                r.heartbeat_ticks
            );
        }
    }
}

//! The allocator as a server uses it: installed, started, freeing large
//! blocks in the background. One test function, because the background
//! thread and its bound are the process's: tests in parallel would see each
//! other's blocks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: ws_alloc::PiecewiseFree = ws_alloc::PiecewiseFree;

/// The most blocks may wait for in this test.
const BOUND: usize = 80 << 20;

#[derive(Default)]
struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A block of `len` bytes whose every page is resident.
fn touched(len: usize) -> Vec<u8> {
    vec![1u8; len]
}

/// Resident pages of this process, from `/proc/self/statm`, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm's second field");
    pages * 4096
}

/// Waits up to 10 s for `woken` to count `at_least`.
fn wait_for(woken: &WakeCount, at_least: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if woken.0.load(Ordering::SeqCst) >= at_least {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn large_blocks_are_returned_in_the_background_within_the_bound() {
    // Before `start`, a large block is freed in place: nothing waits, no
    // one is woken.
    let woken = Arc::new(WakeCount::default());
    let waker = Waker::from(Arc::clone(&woken));
    ws_alloc::wake_when_returned(&waker);
    drop(touched(4 << 20));
    assert_eq!(ws_alloc::deferred_bytes(), 0);

    ws_alloc::start(BOUND).expect("the background thread starts");
    ws_alloc::start(1).expect("a second start changes nothing");

    // A large block goes to the background thread, which returns its pages
    // and wakes whoever waits.
    let before = rss();
    let block = touched(64 << 20);
    let grown = rss().saturating_sub(before);
    assert!(grown >= 60 << 20, "64 MiB touched: RSS grew by {grown}");
    ws_alloc::wake_when_returned(&waker);
    drop(block);
    assert!(wait_for(&woken, 1), "the block's return woke the waker");
    let deadline = Instant::now() + Duration::from_secs(10);
    while ws_alloc::deferred_bytes() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ws_alloc::deferred_bytes(), 0, "everything was returned");
    let left = rss().saturating_sub(before);
    assert!(
        left < 8 << 20,
        "the pages went back: RSS still {left} above"
    );

    // A block that would take what waits past the bound is freed in place:
    // it never counts as waiting, and no return wakes anyone.
    let count = woken.0.load(Ordering::SeqCst);
    ws_alloc::wake_when_returned(&waker);
    drop(touched(BOUND + (1 << 20)));
    assert_eq!(ws_alloc::deferred_bytes(), 0);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        woken.0.load(Ordering::SeqCst),
        count,
        "nothing was returned in the background"
    );

    // A small block is never handed over.
    drop(touched(ws_alloc::LARGE - 1));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(woken.0.load(Ordering::SeqCst), count);
}

//! The servers' global allocator: the system allocator, except that once a
//! server has started ([`start`]), a freed block of [`LARGE`] bytes or more
//! is handed to a background thread, which returns its pages to the kernel
//! a piece of [`PIECE`] bytes at a time and then frees it.
//!
//! Why: returning a block's pages to the kernel takes time in proportion to
//! how many there are, and the thread that frees the block spends it.
//! Freeing the 32 MiB buffer of a connection the inbound budget evicted is
//! one `munmap` of 2–3 ms (traced by hand with `strace -T` during
//! `ws-loadgen hostile`'s partial-message attack), and on a server with one
//! worker every other connection waits that long. Freeing the whole block
//! on another thread did not help (tried by hand in an earlier session):
//! the worker still waited about as long, most likely for the memory-map
//! lock the `munmap` held. Returned in pieces (`madvise(MADV_DONTNEED)`,
//! median 26 µs each over 1,167 pieces under `strace -T`) by a thread of
//! the lowest normal priority, the pages go
//! back between the worker's polls, and the final `free` has none left.
//! Measured by hand (2026-12-05, `ws-tokio-mutex` pinned to one core with
//! one worker, the attack as `ws-report collect` runs it, canary every
//! 5 ms): the canary's p99 under the attack was 1.1–2.0 ms with blocks freed
//! in place (2 runs) and 0.20–0.66 ms in 14 of 15 runs over the five servers with
//! this allocator (one run 1.6 ms), against 0.18–0.24 ms before the attack.
//! What is left is the attackers' bytes, not the evictions: with the canary
//! every 1 ms and a budget too large to evict anyone (512 MiB, the same
//! 279 MiB read), its p99 under the attack was 0.17–0.23 ms on
//! `ws-tokio-mutex` and 0.18–0.28 ms on `ws-ref-unsplit`, as with the 64
//! MiB budget and its evictions (0.17–0.21 and 0.15–0.18 ms; quiet
//! 0.10–0.16 ms; by hand, 3 runs each, 2026-12-05). All these windows "under
//! the attack" also held the second in which the attackers left open are
//! awaited, on an idle server, which thinned their tails: `ws-loadgen
//! hostile` now times the attack's bytes and that second apart, beside a
//! control with the same bytes and no eviction (RESULTS.md's canary table).
//! They were also taken with the canary of the time, which timed each echo
//! from its own send (a stall counted once) and ran as an ordinary thread
//! that the generator's attack thread could hold back by a scheduler tick;
//! the canary now counts a stall in every echo it held up and runs on the
//! real-time scheduler (`ws_loadgen::hostile`), so compare the figures
//! above with each other, not with RESULTS.md.
//!
//! The price is that the memory leaves the process later. So the bytes
//! waiting are counted ([`deferred_bytes`]) and bounded: the inbound budget
//! (`ws-common`'s `inbound`) counts them as held, and a block that would
//! take them past the bound given to [`start`] is freed in place, as
//! without this crate. Until [`start`] is called (in any process that is
//! not a server), every block is freed in place.
//!
//! Handing a block over never allocates: the queue is a fixed array behind
//! a `std` mutex (a futex), and the thread is woken by `unpark`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Waker;
use std::thread::Thread;

/// Blocks of this many bytes or more are returned by the background thread.
/// Smaller ones cost a few tens of microseconds at most to free in place.
pub const LARGE: usize = 1 << 20;

/// The most the background thread returns to the kernel in one call: a
/// 16th of a 4 MiB block, about 25 µs of kernel time (see the module doc).
pub const PIECE: usize = 256 << 10;

/// Blocks the queue holds; more are freed at once.
const CAPACITY: usize = 64;

/// The system allocator, with large blocks freed in the background once
/// [`start`] has been called; see the module doc.
#[derive(Debug, Clone, Copy, Default)]
pub struct PiecewiseFree;

/// A block handed over: its address and layout.
#[derive(Debug, Clone, Copy)]
struct Block {
    addr: usize,
    size: usize,
    align: usize,
}

#[derive(Debug)]
struct Queue {
    blocks: [Block; CAPACITY],
    len: usize,
}

#[derive(Debug)]
struct Releaser {
    thread: Thread,
    /// The most bytes that may wait in the queue.
    max_deferred: usize,
}

const EMPTY: Block = Block {
    addr: 0,
    size: 0,
    align: 1,
};

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    blocks: [EMPTY; CAPACITY],
    len: 0,
});
static RELEASER: OnceLock<Releaser> = OnceLock::new();
/// Bytes handed over and not yet freed.
static DEFERRED: AtomicUsize = AtomicUsize::new(0);
/// Woken each time a block has been freed.
static WAITING: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

/// Starts the background thread; blocks of [`LARGE`] bytes or more freed
/// from now on are returned by it, as long as no more than `max_deferred`
/// bytes wait. Calling it again changes nothing.
///
/// The thread runs at nice 19 where the system allows it, on the CPUs the
/// process is allowed (a server pinned with `taskset` keeps it on its
/// core).
pub fn start(max_deferred: usize) -> io::Result<()> {
    static STARTED: OnceLock<()> = OnceLock::new();
    if STARTED.set(()).is_err() {
        return Ok(());
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("piecewise-free".into())
        .spawn(move || {
            lower_priority();
            let page = page_size();
            let _ = RELEASER.set(Releaser {
                thread: std::thread::current(),
                max_deferred,
            });
            let _ = ready_tx.send(());
            loop {
                while let Some(block) = next() {
                    release(block, page);
                }
                std::thread::park();
            }
        })?;
    // Blocks freed before the thread is up are freed at once; waiting makes
    // "started" mean started.
    let _ = ready_rx.recv();
    Ok(())
}

/// Bytes freed by the program but not yet returned by the background thread.
pub fn deferred_bytes() -> usize {
    DEFERRED.load(Ordering::Acquire)
}

/// Wakes `waker` the next time the background thread has freed a block
/// (once: register again to wait again). Check [`deferred_bytes`] after
/// registering: a block freed in between has woken the list already.
pub fn wake_when_returned(waker: &Waker) {
    let mut waiting = waiting();
    if !waiting.iter().any(|listed| listed.will_wake(waker)) {
        waiting.push(waker.clone());
    }
}

fn waiting() -> MutexGuard<'static, Vec<Waker>> {
    // A list of wakers is consistent whatever panicked while holding it.
    WAITING.lock().unwrap_or_else(PoisonError::into_inner)
}

fn queue() -> MutexGuard<'static, Queue> {
    // Every change to the queue is a plain store and an increment: a panic
    // cannot leave it half-changed.
    QUEUE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Queues `block` for the background thread; false if it is not running,
/// the queue is full, or the block would take the deferred bytes past their
/// bound.
fn hand_over(block: Block) -> bool {
    let Some(releaser) = RELEASER.get() else {
        return false;
    };
    let mut queue = queue();
    let deferred = DEFERRED.load(Ordering::Relaxed);
    if queue.len == CAPACITY || deferred.saturating_add(block.size) > releaser.max_deferred {
        return false;
    }
    let len = queue.len;
    queue.blocks[len] = block;
    queue.len = len + 1;
    // Counted under the lock, before the thread can take it, so the count
    // never goes below what is queued.
    DEFERRED.fetch_add(block.size, Ordering::Release);
    drop(queue);
    releaser.thread.unpark();
    true
}

fn next() -> Option<Block> {
    let mut queue = queue();
    let len = queue.len.checked_sub(1)?;
    queue.len = len;
    Some(queue.blocks[len])
}

/// Returns `block`'s whole pages to the kernel a piece at a time, yielding
/// between pieces, then frees it.
fn release(block: Block, page: usize) {
    // Only pages wholly inside the block: the allocator's own header, before
    // it, and whatever follows it are left alone.
    let start = block.addr.next_multiple_of(page);
    let end = (block.addr + block.size) / page * page;
    let mut at = start;
    while at < end {
        let len = PIECE.min(end - at);
        return_pages(at, len);
        at += len;
        std::thread::yield_now();
    }
    // SAFETY: the block was allocated by `System` with this layout (it came
    // from `PiecewiseFree::dealloc`, which checked it), and is freed once.
    unsafe {
        System.dealloc(
            block.addr as *mut u8,
            Layout::from_size_align_unchecked(block.size, block.align),
        )
    };
    DEFERRED.fetch_sub(block.size, Ordering::Release);
    let woken = std::mem::take(&mut *waiting());
    woken.into_iter().for_each(Waker::wake);
}

/// Gives the pages of `[at, at + len)` back to the kernel; they read as
/// zeros if touched again. `at` and `len` are multiples of the page size,
/// inside a block the program has freed.
#[cfg(target_os = "linux")]
fn return_pages(at: usize, len: usize) {
    // SAFETY: [at, at + len) lies within a block the program has freed (it
    // was handed to `dealloc`) and that nothing can reach until `release`
    // frees it; all `MADV_DONTNEED` does to its private anonymous pages is
    // drop them, and a failure leaves them as they are.
    let _ = unsafe { libc::madvise(at as *mut libc::c_void, len, libc::MADV_DONTNEED) };
}

#[cfg(not(target_os = "linux"))]
fn return_pages(_at: usize, _len: usize) {}

/// Asks for the lowest priority a normal thread has (nice 19): a worker
/// that wakes up takes the CPU from it at the next piece, and it still gets
/// about 1.5 % of a busy CPU, some 200 MiB returned a second, so freed
/// memory never waits for the workers to go idle. (`SCHED_IDLE`, tried by
/// hand, can wait that long: RSS under the partial-message attack rose to
/// 136–256 MiB before the budget counted what waits.) Where that is
/// refused, it keeps the priority it has.
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: `gettid` has no preconditions.
    let tid = unsafe { libc::gettid() };
    let Ok(tid) = libc::id_t::try_from(tid) else {
        return;
    };
    // SAFETY: `setpriority` changes the nice value of the thread `tid` (this
    // one: on Linux a thread id names one thread); it touches no memory.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 19) };
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

fn page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&size| size > 0)
        .unwrap_or(4096)
}

// SAFETY: every call goes to `System` with the caller's arguments; a block
// handed over is freed by `System` later, with the same layout, exactly once.
unsafe impl GlobalAlloc for PiecewiseFree {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let block = Block {
            addr: ptr as usize,
            size: layout.size(),
            align: layout.align(),
        };
        if block.size >= LARGE && hand_over(block) {
            return;
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

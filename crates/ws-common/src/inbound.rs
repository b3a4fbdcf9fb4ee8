//! The inbound memory budget (`--max-inbound-bytes`): a bound on the bytes
//! the server holds for messages still being received, across all
//! connections.
//!
//! Every upgraded connection has an [`Account`]: its socket
//! ([`crate::socket::Metered`]) follows the frames it reads
//! ([`FrameTracker`]) and keeps the account's `held` (bytes of the message
//! in progress) and the budget's total up to date: one atomic add to the
//! total per read, no lock. When a read takes the total past the budget,
//! the connection holding the most is evicted: its socket's next read fails
//! with [`BudgetExceeded`], which the server answers with Close 1009
//! ("message too big": for this server, now), and everyone else keeps being
//! served. Its bytes leave the total when its socket is dropped, which is
//! when tungstenite frees them; meanwhile they count as "releasing", so
//! that one eviction is not followed by others for the same bytes, and the
//! other connections with a message in progress stop reading until they are
//! gone ([`Account::must_wait`]): otherwise what they read while the evicted
//! connection's task is still on its way out would come on top of the
//! budget (the committed run at f9e1113, before this wait: ws-std-mutex
//! 70.3 MiB against a bound of 70.0 under `ws-loadgen hostile`).
//!
//! An evicted connection's buffer is not returned to the kernel when it is
//! dropped: the server's allocator ([`ws_alloc`]) hands large blocks to a
//! background thread, which returns them a piece at a time so that the
//! workers can run in between. Until it has, those bytes are resident, so
//! the budget counts them ([`DeferredFrees`]): readers with a message in
//! progress wait while the total and they together are over the budget.
//!
//! A connection with a message in progress is charged its bytes plus one
//! read (`--read-buffer-size`): tungstenite zero-fills that much of its
//! buffer past what it holds before every read, so those pages are resident
//! too (measured: 8 clients streaming 31 MiB each took the unsplit server
//! 0.3 MiB past the bytes alone allowed). What the total misses: complete
//! messages still in tungstenite's read buffer (at most one read per
//! connection, and not held: they are being handed on), and the allocator's
//! rounding of the buffers it grows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::Waker;

use futures_util::task::AtomicWaker;

use crate::metrics::Metrics;

/// Why a read failed: this connection was evicted to keep the inbound budget.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("inbound memory budget exceeded: this connection held the most")]
pub struct BudgetExceeded;

/// Memory the program has freed but its allocator has not yet returned to
/// the kernel: still resident, so the budget counts it.
#[derive(Debug, Clone, Copy)]
pub struct DeferredFrees {
    /// Bytes freed and not yet returned.
    pub bytes: fn() -> usize,
    /// Registers a waker for the next return.
    pub wake_when_returned: fn(&Waker),
}

impl DeferredFrees {
    /// The servers' allocator, [`ws_alloc::PiecewiseFree`].
    pub const ALLOCATOR: Self = Self {
        bytes: ws_alloc::deferred_bytes,
        wake_when_returned: ws_alloc::wake_when_returned,
    };

    /// An allocator that returns everything at once.
    pub const NONE: Self = Self {
        bytes: || 0,
        wake_when_returned: |_| {},
    };
}

/// The budget shared by every connection of one server.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    /// Freed bytes not yet returned to the kernel, counted with `total`.
    frees: DeferredFrees,
    /// What a connection with a message in progress costs beyond its bytes.
    per_reader: u64,
    /// Bytes held for messages in progress, over every connection.
    total: AtomicU64,
    /// The part of `total` held by evicted connections not yet dropped.
    releasing: AtomicU64,
    accounts: Mutex<HashMap<u64, Weak<Account>>>,
    /// Readers waiting for evicted connections to release their bytes.
    waiting: Mutex<Vec<Waker>>,
    next_id: AtomicU64,
    metrics: Metrics,
}

/// One upgraded connection's share of the budget.
#[derive(Debug)]
pub struct Account {
    id: u64,
    budget: Arc<Budget>,
    held: AtomicU64,
    evicted: AtomicBool,
    /// What `held` was when the connection was evicted (in `releasing`).
    evicted_held: AtomicU64,
    /// The reader parked on this socket, woken when it is evicted.
    reader: AtomicWaker,
}

impl Budget {
    /// A budget of `limit` bytes, charging each connection with a message
    /// in progress `per_reader` bytes on top of what it holds (its read
    /// buffer).
    pub fn new(limit: u64, per_reader: u64, metrics: Metrics) -> Arc<Self> {
        Self::with_frees(limit, per_reader, metrics, DeferredFrees::ALLOCATOR)
    }

    /// [`Budget::new`], counting the freed bytes `frees` reports.
    pub fn with_frees(
        limit: u64,
        per_reader: u64,
        metrics: Metrics,
        frees: DeferredFrees,
    ) -> Arc<Self> {
        Arc::new(Self {
            limit,
            frees,
            per_reader,
            total: AtomicU64::new(0),
            releasing: AtomicU64::new(0),
            accounts: Mutex::new(HashMap::new()),
            waiting: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            metrics,
        })
    }

    /// What a connection holding `held` bytes of a message is charged.
    fn charge(&self, held: u64) -> u64 {
        if held == 0 {
            0
        } else {
            held.saturating_add(self.per_reader)
        }
    }

    /// Bytes charged now for messages in progress, over every connection.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Opens the account of a connection that has just been upgraded.
    pub fn open(self: &Arc<Self>) -> Arc<Account> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let account = Arc::new(Account {
            id,
            budget: Arc::clone(self),
            held: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            evicted_held: AtomicU64::new(0),
            reader: AtomicWaker::new(),
        });
        self.lock().insert(id, Arc::downgrade(&account));
        account
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Weak<Account>>> {
        // The map stays consistent whatever panicked while holding it.
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        // A list of wakers is consistent whatever panicked while holding it.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Over the budget while an evicted connection's bytes are on their way
    /// out (its socket not yet dropped, or its buffer not yet returned to
    /// the kernel): growing now would add to what is already too much.
    fn releasing_over_limit(&self) -> bool {
        let deferred = u64::try_from((self.frees.bytes)()).unwrap_or(u64::MAX);
        (self.releasing.load(Ordering::Acquire) > 0 || deferred > 0)
            && self.total().saturating_add(deferred) > self.limit
    }

    /// Evicts the connection holding the most, unless the total (less what
    /// evicted connections are about to release) is within the budget.
    fn evict(&self) {
        let accounts = self.lock();
        let pending = self
            .total()
            .saturating_sub(self.releasing.load(Ordering::Relaxed));
        if pending <= self.limit {
            return;
        }
        let victim = accounts
            .values()
            .filter_map(Weak::upgrade)
            .filter(|account| !account.evicted.load(Ordering::Relaxed))
            .max_by_key(|account| account.held.load(Ordering::Relaxed));
        drop(accounts);
        let Some(victim) = victim else { return };
        let held = victim.held.load(Ordering::Relaxed);
        if held == 0 || victim.evicted.swap(true, Ordering::AcqRel) {
            return;
        }
        victim.evicted_held.store(held, Ordering::Relaxed);
        self.releasing.fetch_add(held, Ordering::Release);
        self.metrics.inbound_budget_evictions.inc();
        tracing::debug!(
            held,
            limit = self.limit,
            "inbound budget: evicting the largest holder"
        );
        victim.reader.wake();
    }
}

impl Account {
    /// Records that this connection now holds `held` bytes (it held
    /// `before`), and evicts the largest holder if that took the total past
    /// the budget. Called by the socket after each read.
    pub fn update(&self, before: u64, held: u64) {
        let (before, held) = (self.budget.charge(before), self.budget.charge(held));
        if held == before {
            return;
        }
        self.held.store(held, Ordering::Relaxed);
        if held > before {
            let grown = held - before;
            let total = self.budget.total.fetch_add(grown, Ordering::Relaxed) + grown;
            if total > self.budget.limit {
                self.budget.evict();
            }
        } else {
            self.budget
                .total
                .fetch_sub(before - held, Ordering::Relaxed);
        }
    }

    /// Whether this connection was evicted: its reads fail from now on.
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Whether this connection's reader must wait before it reads: it has a
    /// message in progress, and the budget is spent while an evicted
    /// connection releases its bytes. If so, `waker` is woken once they are
    /// released. A connection with nothing in progress reads on, so small
    /// messages keep flowing; its next read is checked again.
    pub fn must_wait(&self, waker: &Waker) -> bool {
        if self.held.load(Ordering::Relaxed) == 0 || !self.budget.releasing_over_limit() {
            return false;
        }
        let mut waiting = self.budget.waiting();
        // A reader polled again before the release is listed once.
        if !waiting.iter().any(|listed| listed.will_wake(waker)) {
            waiting.push(waker.clone());
        }
        drop(waiting);
        (self.budget.frees.wake_when_returned)(waker);
        // Checked again after registering: a release in between has
        // already woken the list, and would not wake this waker.
        self.budget.releasing_over_limit()
    }

    /// Remembers the reader to wake if this connection is evicted while
    /// it waits for data.
    pub fn register_reader(&self, waker: &std::task::Waker) {
        self.reader.register(waker);
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let budget = &self.budget;
        budget
            .total
            .fetch_sub(*self.held.get_mut(), Ordering::Relaxed);
        if *self.evicted.get_mut() {
            budget
                .releasing
                .fetch_sub(*self.evicted_held.get_mut(), Ordering::Release);
            let waiting = std::mem::take(&mut *budget.waiting());
            waiting.into_iter().for_each(Waker::wake);
        }
        budget.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_holder_is_evicted_and_its_bytes_released_on_drop() {
        let budget = Budget::with_frees(1000, 0, Metrics::new(), DeferredFrees::NONE);
        let small = budget.open();
        let large = budget.open();
        small.update(0, 300);
        large.update(0, 600);
        assert!(!small.is_evicted() && !large.is_evicted());
        // 300 + 800 > 1000: the larger one goes, whoever read last.
        small.update(300, 500);
        assert!(large.is_evicted() && !small.is_evicted());
        // Its bytes are on their way out: no second eviction for them.
        small.update(500, 550);
        assert!(!small.is_evicted());
        drop(large);
        assert_eq!(budget.total(), 550);
        small.update(550, 0);
        assert_eq!(budget.total(), 0);
    }

    #[test]
    fn a_message_in_progress_is_charged_one_read_more() {
        let budget = Budget::with_frees(1000, 100, Metrics::new(), DeferredFrees::NONE);
        let first = budget.open();
        let second = budget.open();
        first.update(0, 400);
        assert_eq!(budget.total(), 500);
        second.update(0, 350);
        assert!(!first.is_evicted(), "950 charged: within the budget");
        // 400 + 100 + 450 + 100 > 1000, though the bytes alone are not.
        second.update(350, 450);
        assert!(first.is_evicted() ^ second.is_evicted());
        // A finished message frees its read's charge with its bytes.
        drop(first);
        second.update(450, 0);
        assert_eq!(budget.total(), 0);
    }

    /// While an evicted connection's bytes are on their way out and the
    /// budget is spent, a connection with a message in progress waits and is
    /// woken by the release; one with nothing in progress reads on.
    #[test]
    fn growing_readers_wait_for_an_eviction_to_release() {
        let budget = Budget::with_frees(1000, 0, Metrics::new(), DeferredFrees::NONE);
        let large = budget.open();
        let growing = budget.open();
        let idle = budget.open();
        large.update(0, 700);
        growing.update(0, 200);
        let woken = Arc::new(WakeCount::default());
        let waker = Waker::from(Arc::clone(&woken));
        assert!(!growing.must_wait(&waker), "within the budget: read on");
        growing.update(200, 400);
        assert!(large.is_evicted());
        assert!(growing.must_wait(&waker), "over, and releasing: wait");
        assert!(!idle.must_wait(&waker), "nothing in progress: read on");
        assert_eq!(woken.0.load(Ordering::SeqCst), 0);
        drop(large);
        assert_eq!(woken.0.load(Ordering::SeqCst), 1, "the release wakes it");
        assert!(!growing.must_wait(&waker), "released: read on");
    }

    /// Freed bytes the allocator has not yet returned, for the test below.
    static FAKE_DEFERRED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static FAKE_WAITING: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

    const FAKE_FREES: DeferredFrees = DeferredFrees {
        bytes: || FAKE_DEFERRED.load(Ordering::SeqCst),
        wake_when_returned: |waker| {
            FAKE_WAITING
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(waker.clone());
        },
    };

    /// The allocator returning them: the count drops, the waiting wake.
    fn fake_return(bytes: usize) {
        FAKE_DEFERRED.fetch_sub(bytes, Ordering::SeqCst);
        let waiting =
            std::mem::take(&mut *FAKE_WAITING.lock().unwrap_or_else(PoisonError::into_inner));
        waiting.into_iter().for_each(Waker::wake);
    }

    /// An evicted connection's buffer outlives its socket until the
    /// allocator has returned it: readers with a message in progress keep
    /// waiting for that, are woken by it, and it causes no eviction.
    #[test]
    fn growing_readers_wait_for_the_allocator_to_return_an_evicted_buffer() {
        let budget = Budget::with_frees(1000, 0, Metrics::new(), FAKE_FREES);
        let large = budget.open();
        let growing = budget.open();
        large.update(0, 700);
        growing.update(0, 400);
        assert!(large.is_evicted());
        // Its socket is dropped; the allocator has its 700 bytes still.
        FAKE_DEFERRED.fetch_add(700, Ordering::SeqCst);
        drop(large);
        assert_eq!(budget.total(), 400);
        let woken = Arc::new(WakeCount::default());
        let waker = Waker::from(Arc::clone(&woken));
        assert!(
            growing.must_wait(&waker),
            "400 held + 700 not yet returned: wait"
        );
        growing.update(400, 450);
        assert!(!growing.is_evicted(), "bytes on their way out evict no one");
        let woken_before = woken.0.load(Ordering::SeqCst);
        fake_return(700);
        assert!(
            woken.0.load(Ordering::SeqCst) > woken_before,
            "the return wakes it"
        );
        assert!(!growing.must_wait(&waker), "returned: read on");
    }

    #[derive(Default)]
    struct WakeCount(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for WakeCount {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

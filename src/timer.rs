//! One lazily started thread that wakes async waiters at their deadline, so that waiting with a
//! timeout needs no async runtime.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{OnceLock, Weak};
use std::task::Waker;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// A waiter's waker, which the waiter owns: the timer and the ledger hold it weakly, so a
/// waiter dropped before its deadline (a timed-out future) frees its waker, and the task behind
/// it, at once.
pub(crate) type WakerSlot = parking_lot::Mutex<Option<Waker>>;

/// Wakes the waiter behind `slot`, if it is still there.
pub(crate) fn wake_slot(slot: &Weak<WakerSlot>) {
    let waker = slot.upgrade().and_then(|s| s.lock().clone());
    if let Some(w) = waker {
        w.wake();
    }
}

struct Due(Instant, Weak<WakerSlot>);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

struct Timer {
    heap: Mutex<BinaryHeap<Reverse<Due>>>,
    changed: Condvar,
}

fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            heap: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("toolseq-timer".into())
            .spawn(move || run(t))
            .ok()
            .map(|_| t)
    })
}

fn run(t: &'static Timer) {
    let mut heap = t.heap.lock();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while heap.peek().is_some_and(|Reverse(d)| d.0 <= now) {
            if let Some(Reverse(d)) = heap.pop() {
                due.push(d.1);
            }
        }
        if !due.is_empty() {
            // Wake outside the lock: a waker may run code that arms another timer.
            drop(heap);
            due.iter().for_each(wake_slot);
            heap = t.heap.lock();
            continue;
        }
        match heap.peek().map(|Reverse(d)| d.0) {
            Some(at) => {
                t.changed.wait_until(&mut heap, at);
            }
            None => t.changed.wait(&mut heap),
        }
    }
}

/// Wakes the waiter behind `slot` at `at` (at once if the timer thread cannot be started).
pub(crate) fn wake_at(at: Instant, slot: Weak<WakerSlot>) {
    match timer() {
        Some(t) => {
            t.heap.lock().push(Reverse(Due(at, slot)));
            t.changed.notify_one();
        }
        None => wake_slot(&slot),
    }
}

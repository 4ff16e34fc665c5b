//! A wait dropped before it resolves (a `prepare_with_async` cut off by a timeout) lets go of
//! its waker at once, and with it the task behind it: it used to stay registered with the
//! ledger and the timer until the guard's deadline (50k dropped futures held 222 MB).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use toolseq::ledger::Ledger;

/// A task's waker: the test counts who still holds it.
struct Task;

impl Wake for Task {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn dropped_waits_hold_no_waker() {
    let ledger = Ledger::new();
    ledger.call_started("conv", "call_1", Some("shell"), None);
    let task = Arc::new(Task);
    {
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        for _ in 0..10_000 {
            let mut wait = pin!(ledger.settled("conv", Some(Duration::from_secs(3600))));
            assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
            // Polled again, it registers nothing twice.
            assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
        }
    }
    // Only the test's own handle is left: no dropped wait kept a clone.
    assert_eq!(Arc::strong_count(&task), 1);

    // A live wait is still woken when the call ends.
    let woken = Arc::new(std::sync::atomic::AtomicBool::new(false));
    struct Flag(Arc<std::sync::atomic::AtomicBool>);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let waker = Waker::from(Arc::new(Flag(woken.clone())));
    let mut cx = Context::from_waker(&waker);
    let mut wait = pin!(ledger.settled("conv", None));
    assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
    ledger.output_recorded("conv", "call_1");
    assert!(woken.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(true));
}

#[test]
fn a_wait_woken_while_a_new_call_starts_waits_again() {
    let ledger = Ledger::new();
    ledger.call_started("conv", "call_1", None, None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let l = ledger.clone();
    rt.block_on(async move {
        let wait = tokio::spawn({
            let l = l.clone();
            async move { l.settled("conv", Some(Duration::from_secs(5))).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Settles and at once runs again: the waiter, woken, must register anew.
        l.output_recorded("conv", "call_1");
        l.call_started("conv", "call_2", None, None);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!wait.is_finished());
        l.output_recorded("conv", "call_2");
        assert!(tokio::time::timeout(Duration::from_secs(1), wait)
            .await
            .expect("woken when the second call ended")
            .unwrap());
    });
}

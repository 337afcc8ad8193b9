//! Re-polls a connection that woke itself while it was being polled, instead of letting the
//! runtime treat that as a yield.
//!
//! hyper's server runs the request's handler inside the connection's task, and a handler
//! that reads the request body wakes that same task: taking a chunk from hyper's body channel
//! wakes the channel's sender, which is the connection. tokio treats a task woken during its
//! own poll as one that yielded: it goes to the back of the run queue and an idle worker is
//! woken to steal it. That was one futex wake, a worker wake-up and a park again for every
//! request with a body (about half the gateway's context switches at 1,000 RPS; the other
//! worker usually found nothing to do).
//!
//! [`Coalesced`] polls the connection with a waker of its own. A wake that arrives while the
//! connection is being polled (from its own handler or from another thread) is noted, and
//! the connection is polled again at once; a wake between polls goes straight to the task's
//! waker. After [`REPOLLS`] immediate re-polls it wakes the task itself and returns, so a
//! connection that keeps waking itself (hyper yields after 16 pipelined requests) still lets
//! other tasks run.

use futures::task::AtomicWaker;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// Immediate re-polls before the task yields to the runtime as it would have without this.
pub const REPOLLS: usize = 4;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN_WHILE_POLLING: u8 = 2;

/// `F`, re-polled at once when it wakes itself during a poll.
pub struct Coalesced<F> {
    inner: Pin<Box<F>>,
    signal: Arc<Signal>,
    waker: Waker,
}

struct Signal {
    state: AtomicU8,
    /// The task's waker, for wakes that arrive between polls.
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Polling: the poller sees the flag when the poll returns and polls again.
        let noted = self.state.compare_exchange(
            POLLING,
            WOKEN_WHILE_POLLING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        match noted {
            Ok(_) | Err(WOKEN_WHILE_POLLING) => {}
            Err(_) => self.task.wake(),
        }
    }
}

impl<F: Future> Coalesced<F> {
    pub fn new(inner: F) -> Self {
        let signal = Arc::new(Signal {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        Self {
            inner: Box::pin(inner),
            waker: Waker::from(signal.clone()),
            signal,
        }
    }

    /// The connection, for graceful shutdown.
    pub fn inner(&mut self) -> Pin<&mut F> {
        self.inner.as_mut()
    }
}

impl<F: Future> Future for Coalesced<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        // Before polling, so that a wake after the poll below finds the current waker.
        this.signal.task.register(cx.waker());
        let mut own = Context::from_waker(&this.waker);
        for _ in 0..=REPOLLS {
            this.signal.state.store(POLLING, Ordering::Release);
            let polled = this.inner.as_mut().poll(&mut own);
            let state = this.signal.state.swap(IDLE, Ordering::AcqRel);
            if polled.is_ready() || state != WOKEN_WHILE_POLLING {
                return polled;
            }
        }
        // Still waking itself: yield to the runtime, as tokio would have.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    /// Counts wakes of the outer task.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Wakes itself during each of its first `self_wakes` polls, then is ready.
    struct SelfWaking {
        self_wakes: usize,
        polls: usize,
    }

    impl Future for SelfWaking {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.polls > self.self_wakes {
                return Poll::Ready(self.polls);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn poll_once<F: Future>(f: &mut Coalesced<F>, outer: &Arc<Counter>) -> Poll<F::Output> {
        let waker = Waker::from(outer.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_future_that_wakes_itself_is_polled_again_without_waking_the_task() {
        let outer = Arc::new(Counter::default());
        let mut f = Coalesced::new(SelfWaking {
            self_wakes: 2,
            polls: 0,
        });
        assert_eq!(poll_once(&mut f, &outer), Poll::Ready(3));
        assert_eq!(
            outer.0.load(Ordering::SeqCst),
            0,
            "no wake reached the task"
        );
    }

    #[test]
    fn a_future_that_keeps_waking_itself_yields_to_the_runtime() {
        let outer = Arc::new(Counter::default());
        let mut f = Coalesced::new(SelfWaking {
            self_wakes: 100,
            polls: 0,
        });
        assert_eq!(poll_once(&mut f, &outer), Poll::Pending);
        assert_eq!(f.inner().polls, REPOLLS + 1);
        assert_eq!(
            outer.0.load(Ordering::SeqCst),
            1,
            "the task was woken to come back"
        );
    }

    /// Pending until its waker, kept from the last poll, is woken from outside.
    #[derive(Default)]
    struct Parked {
        waker: Arc<Mutex<Option<Waker>>>,
        polls: usize,
    }

    impl Future for Parked {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls += 1;
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[test]
    fn a_wake_between_polls_reaches_the_task_and_only_once_per_poll() {
        let outer = Arc::new(Counter::default());
        let parked = Parked::default();
        let held = parked.waker.clone();
        let mut f = Coalesced::new(parked);
        assert_eq!(poll_once(&mut f, &outer), Poll::Pending);
        assert_eq!(outer.0.load(Ordering::SeqCst), 0);
        let waker = held.lock().unwrap().clone().unwrap();
        waker.wake_by_ref();
        assert_eq!(outer.0.load(Ordering::SeqCst), 1);
        // The task's waker was handed over; until the next poll registers it again, further
        // wakes have nothing to wake (the task is already scheduled).
        waker.wake_by_ref();
        assert_eq!(outer.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll_once(&mut f, &outer), Poll::Pending);
        assert_eq!(
            f.inner().polls,
            2,
            "one poll: nothing woke it during the poll"
        );
        waker.wake();
        assert_eq!(outer.0.load(Ordering::SeqCst), 2);
    }

    /// On the real multi-threaded runtime: wakes from other tasks, before and during polls,
    /// are never lost (the connection finishes).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_from_other_threads_are_not_lost() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
        let consumer = tokio::spawn(Coalesced::new(async move {
            let mut sum = 0u64;
            while let Some(n) = rx.recv().await {
                sum += u64::from(n);
            }
            sum
        }));
        for n in 0..10_000u32 {
            tx.send(n).await.unwrap();
        }
        drop(tx);
        let sum = tokio::time::timeout(std::time::Duration::from_secs(10), consumer)
            .await
            .expect("a wake was lost")
            .unwrap();
        assert_eq!(sum, (0..10_000u64).sum::<u64>());
    }
}

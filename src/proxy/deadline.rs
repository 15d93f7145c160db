//! Timeouts for connection IO without a runtime timer per read or write.
//!
//! monoio's `timeout` arms a timer-wheel entry for every call and cancels it when the IO
//! completes first, which is nearly always; its `Sleep` is also 640 bytes, cache-line
//! padded, inside every waiting connection's task. Here a waiting IO costs one slot in a
//! per-worker table (a deadline and a waker), taken only when the IO is pending and given
//! back when it ends. One sweeper task per worker wakes the expired ones every [`TICK`];
//! it runs only while some IO waits, and scans only when the earliest deadline has passed.
//! A timeout therefore fires up to one tick late, never early.
//!
//! The table is thread-local: on this thread-per-core runtime that is one per worker,
//! used without locks (ARCHITECTURE rule 3).

use pin_project_lite::pin_project;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often the sweeper looks for expired deadlines while any IO waits.
pub const TICK: Duration = Duration::from_millis(10);

/// The deadline passed before the IO completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `future` until it completes or `duration` has passed.
pub fn timeout<F: Future>(duration: Duration, future: F) -> WithDeadline<F> {
    WithDeadline {
        future,
        deadline: Instant::now() + duration,
        slot: None,
    }
}

pin_project! {
    /// A future bounded by a deadline; see [`timeout`].
    pub struct WithDeadline<F> {
        #[pin]
        future: F,
        deadline: Instant,
        // The table slot holding this future's waker while it waits.
        slot: Option<usize>,
    }

    impl<F> PinnedDrop for WithDeadline<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(slot) = this.project().slot.take() {
                release(slot);
            }
        }
    }
}

impl<F: Future> Future for WithDeadline<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if Instant::now() >= *this.deadline {
            return Poll::Ready(Err(Elapsed));
        }
        let replaced = TABLE.with(|table| {
            let mut table = table.borrow_mut();
            let replaced = table.wait(this.slot, *this.deadline, cx.waker());
            if !table.sweeping {
                table.sweeping = true;
                monoio::spawn(sweep());
            }
            replaced
        });
        // Dropped outside the borrow: dropping a waker may run arbitrary code.
        drop(replaced);
        Poll::Pending
    }
}

thread_local! {
    static TABLE: RefCell<Table> = const { RefCell::new(Table::new()) };
}

/// The waiting IO of one worker.
struct Table {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// No waiting deadline is earlier than this (a scan before it finds nothing).
    earliest: Option<Instant>,
    /// A sweeper task is running.
    sweeping: bool,
}

struct Slot {
    deadline: Instant,
    /// `None` once woken (or free).
    waker: Option<Waker>,
    used: bool,
}

impl Table {
    const fn new() -> Table {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
            earliest: None,
            sweeping: false,
        }
    }

    /// Records that the future in `slot` (one is taken if `None`) waits until `deadline`.
    /// Returns the waker it replaces, for the caller to drop.
    fn wait(
        &mut self,
        slot: &mut Option<usize>,
        deadline: Instant,
        waker: &Waker,
    ) -> Option<Waker> {
        self.earliest = Some(self.earliest.map_or(deadline, |e| e.min(deadline)));
        if let Some(index) = *slot {
            let entry = &mut self.slots[index];
            return match &entry.waker {
                Some(current) if current.will_wake(waker) => None,
                _ => entry.waker.replace(waker.clone()),
            };
        }
        let entry = Slot {
            deadline,
            waker: Some(waker.clone()),
            used: true,
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index] = entry;
                index
            }
            None => {
                self.slots.push(entry);
                self.slots.len() - 1
            }
        };
        *slot = Some(index);
        None
    }

    /// Takes the wakers of every deadline at or before `now`; the slots stay taken until
    /// their futures drop them.
    fn expired(&mut self, now: Instant) -> Vec<Waker> {
        if self.earliest.is_none_or(|earliest| earliest > now) {
            return Vec::new();
        }
        let mut woken = Vec::new();
        let mut earliest = None;
        for slot in self.slots.iter_mut().filter(|slot| slot.used) {
            if slot.deadline <= now {
                woken.extend(slot.waker.take());
            } else if slot.waker.is_some() {
                earliest = Some(earliest.map_or(slot.deadline, |e: Instant| e.min(slot.deadline)));
            }
        }
        self.earliest = earliest;
        woken
    }

    fn waiting(&self) -> bool {
        self.free.len() < self.slots.len()
    }
}

/// Gives a slot back. Never panics: a drop during another borrow of the table (it cannot
/// happen: wakers are dropped and woken outside borrows) would leave the slot taken.
fn release(index: usize) {
    let waker = TABLE.with(|table| {
        let mut table = table.try_borrow_mut().ok()?;
        let slot = table.slots.get_mut(index)?;
        slot.used = false;
        let waker = slot.waker.take();
        table.free.push(index);
        waker
    });
    drop(waker);
}

/// Wakes expired futures every [`TICK`] while any future waits, then ends.
async fn sweep() {
    loop {
        monoio::time::sleep(TICK).await;
        let (woken, waiting) = TABLE.with(|table| {
            let mut table = table.borrow_mut();
            let woken = table.expired(Instant::now());
            let waiting = table.waiting();
            if !waiting {
                table.sweeping = false;
                table.earliest = None;
            }
            (woken, waiting)
        });
        woken.into_iter().for_each(Waker::wake);
        if !waiting {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    #[test]
    fn a_ready_future_wins_and_takes_no_slot() {
        runtime().block_on(async {
            assert_eq!(timeout(Duration::ZERO, async { 7 }).await, Ok(7));
            TABLE.with(|table| assert!(table.borrow().slots.is_empty()));
        });
    }

    #[test]
    fn a_pending_future_times_out_within_a_tick_and_never_early() {
        runtime().block_on(async {
            let started = Instant::now();
            let waited = timeout(Duration::from_millis(30), std::future::pending::<()>()).await;
            let took = started.elapsed();
            assert_eq!(waited, Err(Elapsed));
            assert!(took >= Duration::from_millis(30), "{took:?}");
            assert!(took < Duration::from_millis(30) + 10 * TICK, "{took:?}");
            TABLE.with(|table| {
                let table = table.borrow();
                assert!(!table.waiting(), "the slot was given back");
            });
        });
    }

    #[test]
    fn an_io_that_completes_first_is_not_cut_and_slots_are_reused() {
        runtime().block_on(async {
            for _ in 0..3 {
                let slow = monoio::time::sleep(Duration::from_millis(20));
                assert_eq!(timeout(Duration::from_secs(5), slow).await, Ok(()));
            }
            TABLE.with(|table| {
                let table = table.borrow();
                assert_eq!(table.slots.len(), 1, "one slot, reused");
                assert!(!table.waiting());
            });
        });
    }

    #[test]
    fn many_waiters_expire_each_at_its_own_deadline() {
        runtime().block_on(async {
            let order = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for (name, ms) in [(3, 90), (1, 30), (2, 60)] {
                let order = Rc::clone(&order);
                tasks.push(monoio::spawn(async move {
                    let waited = timeout(Duration::from_millis(ms), std::future::pending::<()>());
                    assert_eq!(waited.await, Err(Elapsed));
                    order.borrow_mut().push(name);
                }));
            }
            // A long deadline does not hold back the sweeper for the short ones.
            let long = timeout(Duration::from_secs(60), std::future::pending::<()>());
            let short_ones = async {
                for task in tasks {
                    task.await;
                }
            };
            monoio::select! {
                _ = long => panic!("the long deadline fired"),
                _ = short_ones => {}
            }
            assert_eq!(*order.borrow(), vec![1, 2, 3]);
        });
    }
}

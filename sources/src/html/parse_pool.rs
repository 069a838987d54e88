//! The pages being parsed: at most one per core in the whole process, each
//! parse started the moment a core is free.
//!
//! A semaphore in front of `spawn_blocking` left a core idle between two
//! pages: the finished parse released its permit, the waiting job's task had
//! to be woken on an async worker, and only then did it hand its page to a
//! blocking thread (each hop slower the busier the machine). Here the thread
//! that finishes a parse takes the next queued one itself, in the order the
//! pages were queued (pages arrive roughly in crawl order, and the consumer
//! takes them in that order).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, OnceLock};

use tokio::sync::oneshot;

type Task = Box<dyn FnOnce() + Send>;

/// A bounded set of blocking threads working through a queue of parses.
#[derive(Debug)]
pub(crate) struct ParsePool {
    state: Mutex<State>,
}

struct State {
    queue: VecDeque<Task>,
    /// Threads taking from the queue.
    running: usize,
    limit: usize,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("queued", &self.queue.len())
            .field("running", &self.running)
            .field("limit", &self.limit)
            .finish()
    }
}

impl ParsePool {
    /// A pool of at most `limit` (at least one) threads at once.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                running: 0,
                limit: limit.max(1),
            }),
        }
    }

    /// The pool of this process, one thread per core, shared by every
    /// scraping source so that many collections do not oversubscribe the CPU.
    pub(crate) fn shared() -> &'static Self {
        static POOL: OnceLock<ParsePool> = OnceLock::new();
        POOL.get_or_init(|| Self::new(crate::html::scrape::cores()))
    }

    /// Queues `work`; its result comes back on the receiver, which reports
    /// an error if `work` panicked. Work whose receiver was dropped before it
    /// started is skipped. Must be called within a Tokio runtime.
    pub(crate) fn run<R, F>(&'static self, work: F) -> oneshot::Receiver<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let task: Task = Box::new(move || {
            if !tx.is_closed() {
                let _ = tx.send(work());
            }
        });
        let mut state = self.lock();
        state.queue.push_back(task);
        if state.running < state.limit {
            state.running += 1;
            drop(state);
            let worker = Worker(self);
            tokio::task::spawn_blocking(move || worker.work());
        }
        rx
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A thread's place in the pool (counted in `running`).
///
/// A blocking task dropped before it ran (its runtime shutting down) gives
/// its place back, and hands the queue to a plain thread, since the queue
/// may hold pages of other runtimes whose crawls wait for them.
struct Worker(&'static ParsePool);

impl Worker {
    /// Runs queued tasks until the queue is empty.
    fn work(self) {
        loop {
            let task = {
                let mut state = self.0.lock();
                match state.queue.pop_front() {
                    Some(task) => task,
                    None => {
                        state.running -= 1;
                        drop(state);
                        // The place is given back above, under the lock that saw the queue empty.
                        std::mem::forget(self);
                        return;
                    }
                }
            };
            // A panic drops the task's sender, which its receiver reports;
            // the thread goes on with the queue.
            let _ = catch_unwind(AssertUnwindSafe(task));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let pool = self.0;
        let mut state = pool.lock();
        if state.queue.is_empty() {
            state.running -= 1;
            return;
        }
        drop(state);
        // The place passes to the new thread; if none can be started, it is
        // given back and the next queued page starts a thread.
        let spawned = std::thread::Builder::new()
            .name("scrape-parse".into())
            .spawn(move || Worker(pool).work());
        if spawned.is_err() {
            pool.lock().running -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn pool(limit: usize) -> &'static ParsePool {
        Box::leak(Box::new(ParsePool::new(limit)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_limit_run_at_once_and_all_finish() {
        let pool = pool(2);
        let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let receivers: Vec<_> = (0..20)
            .map(|i| {
                let (now, max) = (now.clone(), max.clone());
                pool.run(move || {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    now.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        for (i, rx) in receivers.into_iter().enumerate() {
            assert_eq!(rx.await.unwrap(), i);
        }
        assert_eq!(max.load(Ordering::SeqCst), 2);
        // The threads leave once the queue is empty, just after the last result.
        for _ in 0..1000 {
            if pool.lock().running == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the pool's threads did not leave");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_work_starts_in_order() {
        let pool = pool(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let receivers: Vec<_> = (0..10)
            .map(|i| {
                let order = order.clone();
                pool.run(move || order.lock().unwrap().push(i))
            })
            .collect();
        for rx in receivers {
            rx.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_is_reported_and_the_pool_goes_on() {
        let pool = pool(1);
        let failed = pool.run(|| -> usize { panic!("a parser bug") });
        let ok = pool.run(|| 7);
        assert!(failed.await.is_err());
        assert_eq!(ok.await.unwrap(), 7);
    }

    #[test]
    fn a_thread_of_a_shut_down_runtime_finishes_the_queue() {
        let pool = pool(1);
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let first = tokio::runtime::Runtime::new().unwrap();
        // A long task holds the only place; the runtime's blocking pool is
        // shut down while it runs, and a second task waits in the queue.
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let long = {
            let _in = first.enter();
            pool.run(move || {
                started_tx.send(()).unwrap();
                blocked.recv().unwrap();
            })
        };
        started.recv().unwrap();
        let second = tokio::runtime::Runtime::new().unwrap();
        let queued = {
            let _in = second.enter();
            pool.run(|| 5)
        };
        first.shutdown_background();
        release.send(()).unwrap();
        drop(long);
        assert_eq!(second.block_on(queued).unwrap(), 5);
    }

    #[test]
    fn a_claim_dropped_before_its_thread_ran_hands_the_queue_on() {
        let pool = pool(1);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let rx = {
            let mut state = pool.lock();
            let (tx, rx) = oneshot::channel();
            state.queue.push_back(Box::new(move || {
                let _ = tx.send(9);
            }));
            state.running = 1;
            rx
        };
        // What a shut-down runtime does to a blocking task that never ran.
        drop(Worker(pool));
        assert_eq!(rt.block_on(rx).unwrap(), 9);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_nobody_waits_for_is_skipped() {
        let pool = pool(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let first = pool.run(move || blocked.recv().unwrap());
        let counted = ran.clone();
        drop(pool.run(move || counted.fetch_add(1, Ordering::SeqCst)));
        let counted = ran.clone();
        let kept = pool.run(move || counted.fetch_add(1, Ordering::SeqCst));
        release.send(()).unwrap();
        first.await.unwrap();
        kept.await.unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}

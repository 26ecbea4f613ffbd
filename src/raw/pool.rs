//! A bounded set of worker threads fed by a bounded queue (the Rust Book's
//! `ThreadPool`, chapter 21, started lazily): a worker is started only when a
//! job finds none waiting, so a server whose poller answers most requests
//! holds a few threads, not the whole bound. A full queue is the caller's to
//! answer, and dropping the pool lets queued jobs finish and joins every thread.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Runs `handler` on each submitted job, on one of at most `size` threads.
pub struct WorkerPool<J: Send + 'static> {
    sender: Option<SyncSender<J>>,
    workers: Arc<Workers<J>>,
}

/// What every producer shares with the workers: the way to start one more.
struct Workers<J> {
    receiver: Mutex<Receiver<J>>,
    handler: Box<dyn Fn(J) + Send + Sync>,
    size: usize,
    /// Jobs queued and not yet taken.
    queued: AtomicUsize,
    /// Workers waiting for a job (or about to).
    waiting: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl<J: Send + 'static> WorkerPool<J> {
    /// Starts one worker; the rest, up to `size`, as jobs need them.
    pub fn new(
        size: usize,
        queue: usize,
        handler: impl Fn(J) + Send + Sync + 'static,
    ) -> std::io::Result<WorkerPool<J>> {
        let (sender, receiver) = sync_channel(queue);
        let workers = Arc::new(Workers {
            receiver: Mutex::new(receiver),
            handler: Box::new(handler),
            size: size.max(1),
            queued: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
        });
        Workers::start_one(&workers)?;
        Ok(WorkerPool {
            sender: Some(sender),
            workers,
        })
    }

    /// Queues `job`, or hands it back when the queue is full so the caller can
    /// refuse it quickly instead of letting it wait without bound.
    pub fn submit(&self, job: J) -> Result<(), J> {
        let Some(sender) = &self.sender else {
            return Err(job);
        };
        send(sender, &self.workers, job).map_err(|e| match e {
            TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
        })
    }

    /// A handle for a producer that keeps its own backlog rather than refuse
    /// a job: see [`Submitter::try_send`]. The workers keep running until it is dropped.
    pub fn submitter(&self) -> Option<Submitter<J>> {
        let sender = self.sender.clone()?;
        Some(Submitter {
            sender,
            workers: Arc::clone(&self.workers),
        })
    }

    /// Threads started so far.
    #[cfg(test)]
    fn started(&self) -> usize {
        self.workers.threads().len()
    }

    /// Stops taking jobs and waits until the workers have finished the queued
    /// ones, up to `deadline`. Returns whether they all finished in time; the
    /// caller may then cut what is still running and drop the pool to join.
    pub fn drain(&mut self, deadline: Instant) -> bool {
        self.sender = None;
        loop {
            if self.workers.threads().iter().all(JoinHandle::is_finished) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // Only at shutdown: a short poll keeps this free of extra machinery.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// See [`WorkerPool::submitter`].
pub struct Submitter<J: Send + 'static> {
    sender: SyncSender<J>,
    workers: Arc<Workers<J>>,
}

impl<J: Send + 'static> Submitter<J> {
    /// Queues `job` if the queue has room, without waiting; hands it back
    /// when the queue is full or the workers are gone, saying which.
    pub fn try_send(&self, job: J) -> Result<(), TrySendError<J>> {
        send(&self.sender, &self.workers, job)
    }
}

/// Queues `job` without waiting, and starts a worker if it needs one.
fn send<J: Send + 'static>(
    sender: &SyncSender<J>,
    workers: &Arc<Workers<J>>,
    job: J,
) -> Result<(), TrySendError<J>> {
    // Counted before it is sent, so a worker never takes a job not yet counted.
    workers.queued.fetch_add(1, Ordering::AcqRel);
    if let Err(e) = sender.try_send(job) {
        workers.queued.fetch_sub(1, Ordering::AcqRel);
        return Err(e);
    }
    workers.start_if_needed();
    Ok(())
}

impl<J: Send + 'static> Workers<J> {
    /// Starts a worker when more jobs wait than workers do.
    fn start_if_needed(self: &Arc<Self>) {
        if self.queued.load(Ordering::Acquire) > self.waiting.load(Ordering::Acquire)
            && let Err(e) = Workers::start_one(self)
        {
            // The job is queued all the same: the workers there are will take it.
            tracing::warn!("cannot start another worker thread: {e}");
        }
    }

    /// Starts a worker unless `size` have been started.
    fn start_one(workers: &Arc<Workers<J>>) -> std::io::Result<()> {
        let mut threads = workers.threads();
        if threads.len() >= workers.size {
            return Ok(());
        }
        // Counted as waiting from now, so the next job does not start another for itself.
        workers.waiting.fetch_add(1, Ordering::AcqRel);
        let shared = Arc::clone(workers);
        let spawned = std::thread::Builder::new()
            .name(format!("twinserve-raw-{}", threads.len()))
            .spawn(move || shared.work());
        match spawned {
            Ok(thread) => {
                threads.push(thread);
                Ok(())
            }
            Err(e) => {
                workers.waiting.fetch_sub(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }

    fn work(&self) {
        // Hundreds of workers may share a core; a short slice lets a woken one
        // answer sooner instead of queueing behind the rest.
        super::sys::request_short_slice();
        loop {
            // The lock is held only while waiting for a job, never while serving one.
            let job = self
                .receiver
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .recv();
            let Ok(job) = job else { return };
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            // A panic is a bug, but it must cost one connection, not a worker.
            if catch_unwind(AssertUnwindSafe(|| (self.handler)(job))).is_err() {
                crate::server::note_panic();
            }
            self.waiting.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn threads(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<J: Send + 'static> Drop for WorkerPool<J> {
    fn drop(&mut self) {
        self.sender = None;
        let threads = std::mem::take(&mut *self.workers.threads());
        for worker in threads {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn runs_every_job_and_joins_on_drop() {
        let done = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&done);
        let pool = WorkerPool::new(4, 100, move |n: usize| {
            counter.fetch_add(n, Ordering::SeqCst);
        })
        .unwrap();
        for _ in 0..50 {
            pool.submit(2).unwrap();
        }
        drop(pool);
        assert_eq!(done.load(Ordering::SeqCst), 100);
    }

    #[test]
    fn a_full_queue_hands_the_job_back() {
        let (block_tx, block_rx) = std::sync::mpsc::channel::<()>();
        let block_rx = Mutex::new(block_rx);
        let pool = WorkerPool::new(1, 1, move |_: u8| {
            let _ = block_rx.lock().unwrap().recv();
        })
        .unwrap();
        // One job runs (blocked), one waits in the queue, the next comes back.
        let mut refused = None;
        for job in 0..10u8 {
            if let Err(job) = pool.submit(job) {
                refused = Some(job);
                break;
            }
        }
        assert!(refused.is_some());
        drop(block_tx);
        drop(pool);
    }

    #[test]
    fn a_panicking_job_does_not_kill_the_worker() {
        let done = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&done);
        let pool = WorkerPool::new(1, 10, move |n: u8| {
            if n == 0 {
                panic!("job 0 fails");
            }
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        pool.submit(0).unwrap();
        pool.submit(1).unwrap();
        drop(pool);
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }

    /// Waits (bounded) until every started worker waits for a job again.
    fn settle<J: Send + 'static>(pool: &WorkerPool<J>) {
        for _ in 0..10_000 {
            if pool.workers.waiting.load(Ordering::SeqCst) == pool.started() {
                return;
            }
            std::thread::yield_now();
        }
        panic!("the workers never went back to waiting");
    }

    #[test]
    fn jobs_one_at_a_time_start_one_worker() {
        let pool = WorkerPool::new(8, 100, |done: mpsc::Sender<()>| {
            let _ = done.send(());
        })
        .unwrap();
        for _ in 0..20 {
            let (done, finished) = mpsc::channel();
            pool.submit(done).unwrap();
            finished.recv_timeout(Duration::from_secs(10)).unwrap();
            settle(&pool);
        }
        assert_eq!(pool.started(), 1);
    }

    #[test]
    fn jobs_that_wait_together_get_a_worker_each_up_to_the_bound() {
        let (started_tx, started) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        let release = Mutex::new(release);
        let pool = WorkerPool::new(3, 100, move |_: u8| {
            started_tx.send(()).unwrap();
            // Each job holds its worker until the test lets it go (bounded).
            let _ = release
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10));
        })
        .unwrap();
        for job in 0..5 {
            pool.submit(job).unwrap();
        }
        // Three run at once only if three workers were started for them.
        for _ in 0..3 {
            started.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert_eq!(pool.started(), 3);
        drop(release_tx);
        drop(pool);
        assert_eq!(started.try_iter().count(), 2);
    }
}

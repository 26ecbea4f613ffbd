//! A fixed set of worker threads fed by a bounded queue (the Rust Book's
//! `ThreadPool`, chapter 21): the pool owns its workers, a full queue is the
//! caller's to answer, and dropping the pool lets queued jobs finish and joins
//! every thread.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Runs `handler` on each submitted job, on one of `size` threads.
pub struct WorkerPool<J: Send + 'static> {
    sender: Option<SyncSender<J>>,
    workers: Vec<JoinHandle<()>>,
}

impl<J: Send + 'static> WorkerPool<J> {
    pub fn new(
        size: usize,
        queue: usize,
        handler: impl Fn(J) + Send + Sync + 'static,
    ) -> std::io::Result<WorkerPool<J>> {
        let (sender, receiver) = sync_channel(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let handler = Arc::new(handler);
        let mut workers = Vec::with_capacity(size);
        for id in 0..size.max(1) {
            let receiver = Arc::clone(&receiver);
            let handler = Arc::clone(&handler);
            let worker = std::thread::Builder::new()
                .name(format!("twinserve-raw-{id}"))
                .spawn(move || work(&receiver, &*handler))?;
            workers.push(worker);
        }
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
        sender.try_send(job).map_err(|e| match e {
            TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
        })
    }

    /// A handle for a producer that keeps its own backlog rather than refuse
    /// a job: see [`Submitter::try_send`]. The workers keep running until it is dropped.
    pub fn submitter(&self) -> Option<Submitter<J>> {
        self.sender.clone().map(Submitter)
    }

    /// Stops taking jobs and waits until the workers have finished the queued
    /// ones, up to `deadline`. Returns whether they all finished in time; the
    /// caller may then cut what is still running and drop the pool to join.
    pub fn drain(&mut self, deadline: Instant) -> bool {
        self.sender = None;
        loop {
            if self.workers.iter().all(JoinHandle::is_finished) {
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
pub struct Submitter<J>(SyncSender<J>);

impl<J> Submitter<J> {
    /// Queues `job` if the queue has room, without waiting; hands it back
    /// when the queue is full or the workers are gone, saying which.
    pub fn try_send(&self, job: J) -> Result<(), TrySendError<J>> {
        self.0.try_send(job)
    }
}

fn work<J>(receiver: &Mutex<Receiver<J>>, handler: &(impl Fn(J) + ?Sized)) {
    // Hundreds of workers may share a core; a short slice lets a woken one
    // answer sooner instead of queueing behind the rest.
    super::sys::request_short_slice();
    loop {
        // The lock is held only while waiting for a job, never while serving one.
        let job = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(job) = job else { return };
        // A panic is a bug, but it must cost one connection, not a worker.
        if catch_unwind(AssertUnwindSafe(|| handler(job))).is_err() {
            crate::server::note_panic();
        }
    }
}

impl<J: Send + 'static> Drop for WorkerPool<J> {
    fn drop(&mut self) {
        self.sender = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

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
}

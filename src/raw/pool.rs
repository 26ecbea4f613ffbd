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

    /// A handle for a producer that must not lose its jobs: its `send` waits
    /// for room in the queue. The workers keep running until it is dropped.
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
    /// Queues `job`, waiting while the queue is full; hands it back only when
    /// the workers are gone.
    pub fn send(&self, job: J) -> Result<(), J> {
        self.0.send(job).map_err(|e| e.0)
    }
}

fn work<J>(receiver: &Mutex<Receiver<J>>, handler: &(impl Fn(J) + ?Sized)) {
    request_short_slice();
    loop {
        // The lock is held only while waiting for a job, never while serving one.
        let job = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(job) = job else { return };
        // A panic is a bug, but it must cost one connection, not a worker.
        if catch_unwind(AssertUnwindSafe(|| handler(job))).is_err() {
            crate::note_panic();
        }
    }
}

/// The shortest time slice Linux's EEVDF scheduler grants (0.1 ms; the
/// default is several times that). A worker needs the CPU for microseconds
/// per request, but with a thousand of them runnable on one core a slice
/// sets how long a woken worker may queue behind the others: measured with
/// 1000 keep-alive connections on one core (wrk, 5 s), the slowest request
/// fell from over 2 s, past wrk's timeout, to under 0.7 s, at the same
/// throughput. The parking poller asks for it too: with the default slice it
/// queued behind the workers, and a woken connection with it (side by side,
/// two runs of two rounds: S1 and S5 6–18% faster with it). Kernels before
/// 6.12 ignore or refuse the request; either way the thread runs as before.
pub(super) fn request_short_slice() {
    /// `struct sched_attr` from `linux/sched/types.h`, first version (48 bytes).
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice: 0,
        priority: 0,
        // For SCHED_OTHER, `runtime` is the requested slice (Linux 6.12+).
        runtime: 100_000,
        deadline: 0,
        period: 0,
    };
    // SAFETY: sched_setattr(2) on the calling thread (pid 0) only reads
    // `attr`, a valid sched_attr whose size field says how much to read.
    let _ = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
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

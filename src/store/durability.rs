//! Group commit: turning "sled has the write in memory" into "the write survives power loss",
//! shared by every writer that is waiting at the same moment.
//!
//! sled 0.34.7's `flush()` writes its buffers and calls `sync_file_range`, which neither flushes
//! the device's volatile cache nor persists the file's size: a power cut can still lose a flushed
//! write. So after each flush we `fdatasync` the log file (`<dir>/db`) through a handle of our own,
//! and any blob file sled wrote for a large value (`<dir>/blobs/<lsn>`) plus that directory.
//!
//! One flusher thread owns the syncing. A writer that finished its transaction enqueues a waiter
//! and blocks (or awaits) until a sync that *started after* its enqueue completes. The flusher
//! takes every waiter queued so far, syncs once, and answers them all: under load the number of
//! fsyncs follows the disk's speed, not the request rate. Writers announce themselves before they
//! take the writer lock ([`GroupCommit::begin_write`]); while some are still committing, the
//! flusher waits for them a little (at most [`MAX_GATHER`]) so that a burst of concurrent writes
//! shares one sync instead of trickling into many. An idle store syncs at once. A failed sync poisons the store: after
//! an fsync error the kernel may have dropped the dirty pages, so no later success can be trusted.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Longest a sync waits for writers that are still committing. Bounds the latency that sharing
/// adds; with a burst in flight, waiting is still far cheaper than one fsync per writer.
pub const MAX_GATHER: Duration = Duration::from_millis(2);

/// Counters of the flusher, for tests, metrics and the benchmark.
#[derive(Debug, Default)]
pub struct SyncStats {
    /// Completed group commits (each is one sled flush plus one `fdatasync` of the log).
    pub syncs: AtomicU64,
    /// Waiters answered by those group commits.
    pub waiters: AtomicU64,
    /// Told the duration and batch size of every group commit (metrics); set once.
    observer: OnceLock<SyncObserver>,
}

/// A callback the flusher calls after each group commit with the time the flush and `fdatasync`
/// took and the number of waiters it answered. It runs on the flusher thread: keep it cheap.
pub struct SyncObserver(pub Box<dyn Fn(Duration, usize) + Send + Sync>);

impl std::fmt::Debug for SyncObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncObserver")
    }
}

impl SyncStats {
    /// Installs the observer of group commits. Only the first one counts; returns whether this was it.
    pub fn set_observer(&self, observer: SyncObserver) -> bool {
        self.observer.set(observer).is_ok()
    }

    fn observe(&self, took: Duration, batch: usize) {
        if let Some(observer) = self.observer.get() {
            (observer.0)(took, batch);
        }
    }
}

/// Why a write could not be made durable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    /// The flush or fdatasync failed (disk full, I/O error). The store refuses writes from now on.
    #[error("could not make the write durable: {0}")]
    Failed(String),
    /// An earlier sync failed; writes are refused until the process restarts and recovers.
    #[error("the store is read-only after an earlier write failure ({0}); restart the server after fixing the disk")]
    Poisoned(String),
    /// The flusher thread is gone (the store is shutting down).
    #[error("the store is shutting down")]
    Closed,
}

/// Someone waiting for the next sync: an async task or a blocked thread. A blocked thread must
/// not use tokio's `blocking_recv`, which panics when the thread happens to be a runtime's.
enum Waiter {
    Task(oneshot::Sender<Result<(), SyncError>>),
    Thread(mpsc::SyncSender<Result<(), SyncError>>),
}

impl Waiter {
    fn answer(self, result: Result<(), SyncError>) {
        // A waiter whose request was cancelled has dropped its receiver; nothing to do.
        let _ = match self {
            Waiter::Task(tx) => tx.send(result).map_err(drop),
            Waiter::Thread(tx) => tx.send(result).map_err(drop),
        };
    }
}

/// Handle to the flusher thread. Dropping the last handle stops the thread.
#[derive(Debug)]
pub struct GroupCommit {
    queue: Mutex<Option<mpsc::Sender<Waiter>>>,
    stats: Arc<SyncStats>,
    poisoned: Arc<PoisonFlag>,
    in_flight: Arc<AtomicUsize>,
    /// Highest sequence number committed in memory (set by the store's writer).
    committed_seq: Arc<AtomicU64>,
    /// Highest sequence number known durable; dispatchers watch it so they never forward an
    /// event that a crash could still take back.
    durable_seq: tokio::sync::watch::Sender<u64>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

/// A writer between starting its command and queueing for the sync. Drop it right after
/// queueing (never while waiting for the sync: the flusher would wait for it in vain).
#[derive(Debug)]
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A place in the queue of an async writer.
#[derive(Debug)]
pub struct TaskTicket(oneshot::Receiver<Result<(), SyncError>>);

impl TaskTicket {
    pub async fn wait(self) -> Result<(), SyncError> {
        self.0.await.map_err(|_| SyncError::Closed)?
    }
}

/// A place in the queue of a blocking writer.
#[derive(Debug)]
pub struct ThreadTicket(mpsc::Receiver<Result<(), SyncError>>);

impl ThreadTicket {
    pub fn wait(self) -> Result<(), SyncError> {
        self.0.recv().map_err(|_| SyncError::Closed)?
    }
}

#[derive(Debug, Default)]
struct PoisonFlag {
    set: AtomicBool,
    reason: Mutex<String>,
}

impl PoisonFlag {
    fn check(&self) -> Result<(), SyncError> {
        if self.set.load(Ordering::Acquire) {
            let reason = self.reason.lock().map(|r| r.clone()).unwrap_or_default();
            return Err(SyncError::Poisoned(reason));
        }
        Ok(())
    }

    fn set(&self, reason: &str) {
        if let Ok(mut r) = self.reason.lock() {
            *r = reason.to_owned();
        }
        self.set.store(true, Ordering::Release);
    }
}

impl GroupCommit {
    /// Starts the flusher for a sled database stored in `dir`.
    pub fn start(db: sled::Db, dir: &Path, last_seq: u64) -> std::io::Result<GroupCommit> {
        let log = File::open(dir.join("db"))?;
        // The directory entry of the log file must itself be durable once.
        File::open(dir)?.sync_all()?;
        let (tx, rx) = mpsc::channel::<Waiter>();
        let stats = Arc::new(SyncStats::default());
        let poisoned = Arc::new(PoisonFlag::default());
        let in_flight = Arc::new(AtomicUsize::new(0));
        let committed_seq = Arc::new(AtomicU64::new(last_seq));
        let (durable_seq, _) = tokio::sync::watch::channel(last_seq);
        let mut flusher = Flusher {
            in_flight: in_flight.clone(),
            committed_seq: committed_seq.clone(),
            durable_seq: durable_seq.clone(),
            db,
            log,
            blobs: dir.join("blobs"),
            synced_blobs: HashSet::new(),
            stats: stats.clone(),
            poisoned: poisoned.clone(),
        };
        let thread = thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || flusher.run(rx))?;
        Ok(GroupCommit {
            queue: Mutex::new(Some(tx)),
            stats,
            poisoned,
            in_flight,
            committed_seq,
            durable_seq,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Announces a writer that will queue for a sync soon.
    pub fn begin_write(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.in_flight.clone())
    }

    /// Records that events up to `seq` are committed in memory.
    pub fn committed(&self, seq: u64) {
        self.committed_seq.fetch_max(seq, Ordering::AcqRel);
    }

    /// Watches the highest sequence number known to be durable.
    pub fn watch_durable(&self) -> tokio::sync::watch::Receiver<u64> {
        self.durable_seq.subscribe()
    }

    /// Queues an async waiter for the next sync.
    pub fn task_ticket(&self) -> Result<TaskTicket, SyncError> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Waiter::Task(tx))?;
        Ok(TaskTicket(rx))
    }

    /// Queues a blocking waiter for the next sync.
    pub fn thread_ticket(&self) -> Result<ThreadTicket, SyncError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.enqueue(Waiter::Thread(tx))?;
        Ok(ThreadTicket(rx))
    }

    /// Waits until everything written before this call is durable.
    pub async fn durable(&self) -> Result<(), SyncError> {
        self.task_ticket()?.wait().await
    }

    /// Blocking form of [`durable`](Self::durable), for CLI tools and blocking threads.
    pub fn durable_blocking(&self) -> Result<(), SyncError> {
        self.thread_ticket()?.wait()
    }

    /// Fails fast when an earlier sync failed, so writers do not even start.
    pub fn check_writable(&self) -> Result<(), SyncError> {
        self.poisoned.check()
    }

    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// Stops the flusher after it has answered every queued waiter.
    pub fn shutdown(&self) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        if let Some(handle) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = handle.join();
        }
    }

    fn enqueue(&self, waiter: Waiter) -> Result<(), SyncError> {
        self.poisoned.check()?;
        let queue = self.queue.lock().map_err(|_| SyncError::Closed)?;
        queue
            .as_ref()
            .ok_or(SyncError::Closed)?
            .send(waiter)
            .map_err(|_| SyncError::Closed)
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Flusher {
    db: sled::Db,
    log: File,
    blobs: PathBuf,
    synced_blobs: HashSet<std::ffi::OsString>,
    stats: Arc<SyncStats>,
    poisoned: Arc<PoisonFlag>,
    in_flight: Arc<AtomicUsize>,
    committed_seq: Arc<AtomicU64>,
    durable_seq: tokio::sync::watch::Sender<u64>,
}

impl Flusher {
    fn run(&mut self, queue: mpsc::Receiver<Waiter>) {
        while let Ok(first) = queue.recv() {
            // Everyone queued up to now was enqueued after their transaction committed in memory,
            // so one flush that starts now covers them all.
            let mut batch = vec![first];
            let started = Instant::now();
            loop {
                batch.extend(queue.try_iter());
                if self.in_flight.load(Ordering::Acquire) == 0 || started.elapsed() >= MAX_GATHER {
                    break;
                }
                thread::sleep(Duration::from_micros(20));
            }
            batch.extend(queue.try_iter());
            // Everything committed before the flush starts is covered by it.
            let covered = self.committed_seq.load(Ordering::Acquire);
            let sync_started = Instant::now();
            let result = self.poisoned.check().and_then(|()| {
                self.sync().map_err(|e| {
                    let reason = e.to_string();
                    tracing::error!(error = %reason, "Store sync failed; refusing writes until restart.");
                    self.poisoned.set(&reason);
                    SyncError::Failed(reason)
                })
            });
            if result.is_ok() {
                self.durable_seq.send_if_modified(|durable| {
                    let advanced = covered > *durable;
                    *durable = (*durable).max(covered);
                    advanced
                });
            }
            self.stats.syncs.fetch_add(1, Ordering::Relaxed);
            self.stats.waiters.fetch_add(batch.len() as u64, Ordering::Relaxed);
            self.stats.observe(sync_started.elapsed(), batch.len());
            for waiter in batch {
                waiter.answer(result.clone());
            }
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.db.flush().map_err(std::io::Error::other)?;
        self.log.sync_data()?;
        self.sync_new_blobs()
    }

    /// Values above sled's blob threshold (segment size / 4) live in their own files; we keep
    /// values far below it, but if one ever lands there it must be as durable as the log.
    fn sync_new_blobs(&mut self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut new_files = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if self.synced_blobs.contains(&name) {
                continue;
            }
            match File::open(entry.path()) {
                Ok(file) => file.sync_data()?,
                // sled removes blobs it no longer needs; a vanished file needs no sync.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            self.synced_blobs.insert(name);
            new_files = true;
        }
        if new_files {
            File::open(&self.blobs)?.sync_all()?;
        }
        Ok(())
    }
}

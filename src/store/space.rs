//! The free-space guard: new events are refused, cleanly and before anything is written, when the
//! file system holding the store runs low on space or is mounted read-only.
//!
//! # Why a guard and not just the write error
//! When the disk is really full, the failure surfaces in sled's flush or our `fdatasync`, after
//! the transaction committed in memory. By then the kernel may have dropped dirty pages, so the
//! store is poisoned (`durability.rs`) and only a restart can trust it again. Refusing *before*
//! the disk is full keeps that path for real faults: a write is refused while the file system
//! still has [`SpaceGuard::min_free_bytes`] left (`store.min_free_mb`), nothing of it is written
//! (no event, no idempotency record: a retry with the same key works later), reads go on, and
//! writes are taken again by themselves once space is back. The reserve also leaves room for the
//! small writes that are not refused — delivery progress, outbox moves, tokens, a retention run
//! (which frees space) — and for sled's own segment rewrites.
//!
//! # Cost on the hot path
//! `statvfs` is a system call; the guard keeps its last answer for [`SpaceGuard::ttl`] (one
//! second by default), so a write pays a mutex and a clock read. A burst can run past the reserve
//! by at most one second of writes, which the reserve absorbs.
//!
//! # Substituting the source
//! [`FreeSpace`] is the probe; [`StatVfs`] is the real one. Tests pass their own probe to show
//! the refusal and the recovery without filling a disk (no configuration key reaches it: `serve`
//! always uses [`StatVfs`]).
//!
//! This module owns the decision "may a new event be written now" and its counters; it writes
//! nothing and does not touch sled.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Store, StoreError};

/// How long a probe's answer is reused.
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);

/// What the file system holding the store says about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpaceProbe {
    /// Bytes an unprivileged process may still write (`f_bavail * f_frsize`).
    pub free_bytes: u64,
    /// The file system is mounted read-only.
    pub read_only: bool,
}

/// Reads the free space of the file system holding a directory.
pub trait FreeSpace: Send + Sync + fmt::Debug {
    fn probe(&self, dir: &Path) -> std::io::Result<SpaceProbe>;
}

/// The real probe: `statvfs(2)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatVfs;

impl FreeSpace for StatVfs {
    fn probe(&self, dir: &Path) -> std::io::Result<SpaceProbe> {
        let stat = rustix::fs::statvfs(dir)?;
        Ok(SpaceProbe {
            free_bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
            read_only: stat.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
        })
    }
}

/// Writes refused by the guard since start, by reason (read by the metrics scrape).
#[derive(Debug, Default)]
pub struct RefusalCounts {
    pub disk_full: AtomicU64,
    pub read_only: AtomicU64,
}

/// Decides whether a new event may be written now. See the module docs.
#[derive(Debug)]
pub struct SpaceGuard {
    dir: PathBuf,
    min_free_bytes: u64,
    ttl: Duration,
    source: Box<dyn FreeSpace>,
    last: Mutex<Option<(Instant, SpaceProbe)>>,
    /// Whether the last decision was a refusal: a change is logged once, not every request.
    refusing: AtomicBool,
    refusals: RefusalCounts,
    /// Free bytes at the last probe, for the metrics (`u64::MAX` before the first).
    last_free: AtomicU64,
}

impl SpaceGuard {
    /// A guard for the store in `dir` that keeps `min_free_bytes` free, probing with `source`.
    pub fn new(dir: &Path, min_free_bytes: u64, source: Box<dyn FreeSpace>) -> SpaceGuard {
        SpaceGuard {
            dir: dir.to_owned(),
            min_free_bytes,
            ttl: DEFAULT_TTL,
            source,
            last: Mutex::new(None),
            refusing: AtomicBool::new(false),
            refusals: RefusalCounts::default(),
            last_free: AtomicU64::new(u64::MAX),
        }
    }

    /// The same guard reusing a probe for `ttl` (tests use zero to see every change at once).
    pub fn with_ttl(mut self, ttl: Duration) -> SpaceGuard {
        self.ttl = ttl;
        self
    }

    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_bytes
    }

    pub fn refusals(&self) -> &RefusalCounts {
        &self.refusals
    }

    /// Free bytes at the last probe, if there was one.
    pub fn last_free_bytes(&self) -> Option<u64> {
        match self.last_free.load(Ordering::Relaxed) {
            u64::MAX => None,
            free => Some(free),
        }
    }

    /// The cached probe, or a fresh one when it is stale; `None` when the probe fails.
    pub fn probe_now(&self) -> Option<SpaceProbe> {
        self.probe()
    }

    /// `Ok` when a new event may be written; [`StoreError::DiskFull`] or
    /// [`StoreError::ReadOnly`] otherwise. A failed probe lets the write through: the sync
    /// would still catch a real failure, and a guard must not become the outage itself.
    pub fn check(&self) -> Result<(), StoreError> {
        let Some(probe) = self.probe() else {
            return Ok(());
        };
        let verdict = if probe.read_only {
            self.refusals.read_only.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::ReadOnly { dir: self.dir.clone() })
        } else if probe.free_bytes < self.min_free_bytes {
            self.refusals.disk_full.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::DiskFull {
                dir: self.dir.clone(),
                free_bytes: probe.free_bytes,
                needed_bytes: self.min_free_bytes,
            })
        } else {
            Ok(())
        };
        let was_refusing = self.refusing.swap(verdict.is_err(), Ordering::AcqRel);
        match (&verdict, was_refusing) {
            (Err(e), false) => tracing::error!(error = %e, "Refusing new events until the store has room again."),
            (Ok(()), true) => tracing::info!(
                dir = %self.dir.display(),
                free_bytes = probe.free_bytes,
                "The store has room again; taking new events."
            ),
            _ => {}
        }
        verdict
    }

    /// The cached probe, or a fresh one when it is older than the TTL.
    fn probe(&self) -> Option<SpaceProbe> {
        // The cache is a plain value; a panic elsewhere cannot leave it half-written.
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, probe)) = *last {
            if at.elapsed() < self.ttl {
                return Some(probe);
            }
        }
        match self.source.probe(&self.dir) {
            Ok(probe) => {
                *last = Some((Instant::now(), probe));
                self.last_free.store(probe.free_bytes, Ordering::Relaxed);
                Some(probe)
            }
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "Cannot read the store's free space; not guarding this write.");
                None
            }
        }
    }
}

impl Store {
    /// Installs the space guard checked before every new event. Only the first one counts;
    /// returns whether this was it. Offline tools install none.
    pub fn guard_space(&self, guard: SpaceGuard) -> bool {
        self.inner.space.set(guard).is_ok()
    }

    /// The installed space guard, if any.
    pub fn space_guard(&self) -> Option<&SpaceGuard> {
        self.inner.space.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A probe the test turns: free bytes and read-only flag.
    #[derive(Debug, Clone, Default)]
    struct Dial(Arc<Mutex<SpaceProbe>>);

    impl FreeSpace for Dial {
        fn probe(&self, _dir: &Path) -> std::io::Result<SpaceProbe> {
            Ok(*self.0.lock().unwrap())
        }
    }

    #[test]
    fn refuses_below_the_reserve_and_on_read_only_then_recovers() {
        let dial = Dial::default();
        let guard = SpaceGuard::new(Path::new("/store"), 1000, Box::new(dial.clone())).with_ttl(Duration::ZERO);
        dial.0.lock().unwrap().free_bytes = 999;
        let err = guard.check().unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::DiskFull {
                    free_bytes: 999,
                    needed_bytes: 1000,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("/store"), "{err}");
        dial.0.lock().unwrap().free_bytes = 1000;
        assert!(guard.check().is_ok());
        dial.0.lock().unwrap().read_only = true;
        assert!(matches!(guard.check(), Err(StoreError::ReadOnly { .. })));
        assert_eq!(guard.refusals().disk_full.load(Ordering::Relaxed), 1);
        assert_eq!(guard.refusals().read_only.load(Ordering::Relaxed), 1);
        assert_eq!(guard.last_free_bytes(), Some(1000));
    }

    #[test]
    fn a_probe_is_reused_within_its_ttl() {
        let dial = Dial::default();
        dial.0.lock().unwrap().free_bytes = 5000;
        let guard =
            SpaceGuard::new(Path::new("/store"), 1000, Box::new(dial.clone())).with_ttl(Duration::from_secs(3600));
        assert!(guard.check().is_ok());
        dial.0.lock().unwrap().free_bytes = 0;
        assert!(guard.check().is_ok(), "the cached probe still says 5000 bytes");
    }

    #[test]
    fn the_real_probe_reads_this_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let probe = StatVfs.probe(dir.path()).unwrap();
        assert!(!probe.read_only);
        assert!(probe.free_bytes > 0);
        assert!(StatVfs.probe(&dir.path().join("missing")).is_err());
    }
}

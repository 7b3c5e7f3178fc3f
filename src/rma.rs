//! The RMA cache: an offline copy of the returns Odoo expects, so that a scanned label, tracking
//! number, RMA, order or delivery reference finds its expected return while Odoo is unreachable.
//!
//! Three parts, one per layer: `sinks/odoo/sync.rs` reads Odoo (only reads), `store/rma.rs`
//! keeps the copy and its code index, and this module ties them together: [`RmaCache::lookup`]
//! (classification of the scan, then index reads), [`RmaCache::sync`] (one sync, serialised) and
//! [`run_syncer`] (the background task: incremental syncs every `rma_sync_interval_secs`, a full
//! refresh daily, backoff on errors, stop on shutdown).
//!
//! The cache never decides anything about a case: it answers "which return is this?" and how
//! old that answer is. The receipt path decides what a miss means (`unexpected_parcel`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firmware_bridge::{classify_all, BarcodeClass, ClassifierConfig};

use crate::domain::{normalize_code, ExpectedReturn, MatchedBy};
use crate::sinks::odoo::sync::parse_datetime_ms;
use crate::sinks::odoo::{RmaSource, SyncMode};
use crate::store::rma::{CachedReturn, IndexedCode, RmaApplied, RmaChanges, RmaMeta};
use crate::store::{Store, StoreError};

/// Longest code a lookup accepts (a label is at most 128 characters).
pub const MAX_CODE_LEN: usize = 128;
/// How often a full refresh runs by itself (and catches what incremental syncs cannot see).
pub const FULL_REFRESH_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Longest wait between attempts while Odoo keeps failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// The clock of the cache's ages, in Unix ms (replaceable in tests).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A lookup's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RmaMatch {
    /// The expected return (the oldest open return when several share the code).
    pub expected: ExpectedReturn,
    /// Which of its codes matched.
    pub matched_by: MatchedBy,
    /// The normalized code that matched (the tracking number for a USPS `420`+ZIP scan, the
    /// SSCC for a GS1-128 scan).
    pub code: String,
    /// What the scan was classified as (`ups`, `usps`, `gs1`, `unknown`…).
    pub scanned_as: &'static str,
    /// RMA references of other open returns with the same code (two returns of one order).
    pub others: Vec<String>,
    pub cache: CacheAge,
}

/// How old the cache's answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheAge {
    /// Last successful sync (Unix ms); `None` when the cache never synced.
    pub synced_at_ms: Option<u64>,
    /// Milliseconds since then.
    pub age_ms: Option<u64>,
}

impl CacheAge {
    pub fn age_s(&self) -> Option<u64> {
        self.age_ms.map(|ms| ms / 1000)
    }
}

/// The cache's state for `/readyz`, `/metrics` and the refresh answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RmaStatus {
    /// Whether an Odoo sink feeds the cache (`rma_cache = true`).
    pub enabled: bool,
    pub age: CacheAge,
    pub full_at_ms: Option<u64>,
    pub entries: usize,
    /// The error of the last attempt, when it failed.
    pub last_error: Option<String>,
    pub syncs_ok: u64,
    pub syncs_failed: u64,
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub full: bool,
    pub applied: RmaApplied,
    /// Open returns left unchanged (same write_date as cached).
    pub unchanged: usize,
    /// Open returns left out, with why (no usable RMA or name).
    pub skipped: Vec<(i64, String)>,
    pub entries: usize,
}

/// Why a lookup or a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum RmaError {
    /// The code is empty, too long or holds a NUL (HTTP 422 naming `code`).
    #[error("expected a code of 1 to {MAX_CODE_LEN} characters without NUL")]
    InvalidCode,
    /// No Odoo sink has `rma_cache = true` (HTTP 409 on refresh).
    #[error("the RMA cache is not enabled: set rma_cache = true on the Odoo sink")]
    Disabled,
    /// Odoo could not be read (HTTP 503 on refresh; the cache keeps serving).
    #[error("cannot read Odoo: {0}")]
    Odoo(#[from] crate::sinks::odoo::rpc::OdooError),
    /// The store failed (HTTP 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The cache. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct RmaCache {
    store: Store,
    classifier: Arc<ClassifierConfig>,
    source: Option<Arc<RmaSource>>,
    clock: Clock,
    state: Arc<State>,
}

struct State {
    /// One sync at a time (the background task and `POST /v1/rma/refresh`).
    sync: tokio::sync::Mutex<()>,
    last_error: Mutex<Option<String>>,
    ok: AtomicU64,
    failed: AtomicU64,
}

impl std::fmt::Debug for RmaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RmaCache")
            .field("enabled", &self.source.is_some())
            .finish_non_exhaustive()
    }
}

impl RmaCache {
    /// A cache over `store`, fed by `source` when there is one (without, it only answers from
    /// what is stored: lookups work, syncs are refused).
    pub fn new(store: Store, classifier: ClassifierConfig, source: Option<RmaSource>) -> Self {
        RmaCache {
            store,
            classifier: Arc::new(classifier),
            source: source.map(Arc::new),
            clock: Arc::new(crate::ingest::now_ms),
            state: Arc::new(State {
                sync: tokio::sync::Mutex::new(()),
                last_error: Mutex::new(None),
                ok: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    /// The same cache with another clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn enabled(&self) -> bool {
        self.source.is_some()
    }

    /// Finds the expected return a scanned code belongs to. Synchronous and cheap (a few index
    /// reads, no network): the ingest writer thread may call it. `Ok(None)`: no open return in
    /// the cache has this code.
    ///
    /// The code is classified first, so that the number a carrier label encodes is what is
    /// looked up: a USPS IMpb scanned with its `420`+ZIP routing prefix → the tracking number;
    /// a GS1-128 with an SSCC (AI 00) → the 18-digit SSCC. The raw code (normalized) is tried
    /// last, which covers RMA references, picking and order names and customer references.
    pub fn lookup(&self, code: &str) -> Result<Option<RmaMatch>, RmaError> {
        // Characters, as the error and the API's schema say: a code of accented letters is not
        // refused for its UTF-8 length.
        if code.chars().count() > MAX_CODE_LEN {
            return Err(RmaError::InvalidCode);
        }
        let raw = normalize_code(code).ok_or(RmaError::InvalidCode)?;
        let classes = classify_all(code, None, &self.classifier);
        let scanned_as = classes.first().map_or("unknown", class_name);
        let mut candidates: Vec<String> = classes.iter().filter_map(canonical).collect();
        candidates.push(raw);
        candidates.dedup();
        for candidate in candidates {
            let mut found = self.store.rma_lookup(&candidate)?;
            if found.is_empty() {
                continue;
            }
            let (matched_by, first) = found.remove(0);
            let others = found.into_iter().map(|(_, r)| r.expected.rma.into_string()).collect();
            return Ok(Some(RmaMatch {
                expected: first.expected,
                matched_by,
                code: candidate,
                scanned_as,
                others,
                cache: self.age()?,
            }));
        }
        Ok(None)
    }

    /// How old the cache is now.
    pub fn age(&self) -> Result<CacheAge, StoreError> {
        let meta = self.store.rma_meta()?;
        Ok(self.age_of(&meta))
    }

    fn age_of(&self, meta: &RmaMeta) -> CacheAge {
        let now = (self.clock)();
        CacheAge {
            synced_at_ms: meta.synced_at_ms,
            age_ms: meta.synced_at_ms.map(|at| now.saturating_sub(at)),
        }
    }

    /// Synced ever, when, how old, how many entries, the last error.
    pub fn status(&self) -> Result<RmaStatus, StoreError> {
        let meta = self.store.rma_meta()?;
        Ok(RmaStatus {
            enabled: self.enabled(),
            age: self.age_of(&meta),
            full_at_ms: meta.full_at_ms,
            entries: self.store.rma_len(),
            last_error: self.state.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            syncs_ok: self.state.ok.load(Ordering::Relaxed),
            syncs_failed: self.state.failed.load(Ordering::Relaxed),
        })
    }

    /// The mode the next scheduled sync should use: full before the first one, after a day, or
    /// when there is no watermark; incremental otherwise.
    pub fn due_mode(&self) -> Result<SyncMode, StoreError> {
        let meta = self.store.rma_meta()?;
        let now = (self.clock)();
        let full_due = meta
            .full_at_ms
            .is_none_or(|at| now.saturating_sub(at) >= FULL_REFRESH_EVERY.as_millis() as u64);
        Ok(match meta.watermark {
            Some(since) if !full_due => SyncMode::Incremental { since },
            _ => SyncMode::Full,
        })
    }

    /// Runs one sync in `mode` (one at a time; a second caller waits for the first). A failure
    /// leaves the cache as it was: it keeps answering, only older.
    pub async fn sync(&self, mode: SyncMode) -> Result<SyncReport, RmaError> {
        let source = self.source.clone().ok_or(RmaError::Disabled)?;
        let _one = self.state.sync.lock().await;
        let result = self.sync_locked(&source, mode).await;
        match &result {
            Ok(_) => {
                self.state.ok.fetch_add(1, Ordering::Relaxed);
                *self.state.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            Err(e) => {
                self.state.failed.fetch_add(1, Ordering::Relaxed);
                *self.state.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
        }
        result
    }

    async fn sync_locked(&self, source: &RmaSource, mode: SyncMode) -> Result<SyncReport, RmaError> {
        let full = mode == SyncMode::Full;
        let store = self.store.clone();
        let held = blocking(move || store.rma_versions()).await?;
        let fetched = source
            .fetch(&mode, |id, write_date_ms| held.get(&id) == Some(&write_date_ms))
            .await?;
        let now = (self.clock)();
        let previous = self.store.rma_meta()?;
        let upserts: Vec<CachedReturn> = fetched
            .returns
            .into_iter()
            .map(|expected| CachedReturn {
                codes: self.index_codes(&expected),
                expected,
                cached_at_ms: now,
            })
            .collect();
        let keep_only = fetched.complete.then(|| {
            upserts
                .iter()
                .map(|r| r.expected.picking_id)
                .chain(fetched.unchanged.iter().copied())
                .collect::<BTreeSet<i64>>()
        });
        // The watermark never moves back: a full refresh whose latest write_date is older (all
        // returns deleted) keeps the previous one.
        let watermark = match (previous.watermark, fetched.watermark) {
            (Some(old), Some(new)) => Some(old.max(new)),
            (old, new) => new.or(old),
        };
        // A return that can no longer be keyed (its RMA and name became unusable) must not keep
        // answering with its old codes.
        let mut removals = fetched.closed;
        removals.extend(fetched.skipped.iter().map(|(id, _)| *id));
        let changes = RmaChanges {
            upserts,
            removals,
            keep_only,
            meta: RmaMeta {
                watermark: watermark.filter(|w| parse_datetime_ms(w).is_some()),
                synced_at_ms: Some(now),
                full_at_ms: if full { Some(now) } else { previous.full_at_ms },
            },
        };
        let store = self.store.clone();
        let applied = blocking(move || store.rma_apply(&changes)).await?;
        if applied != RmaApplied::default() {
            // Not needed for consistency (see store/rma.rs), but an edge box that loses power
            // during an outage should come back with its cache.
            self.store.durable().await?;
        }
        Ok(SyncReport {
            full,
            applied,
            unchanged: fetched.unchanged.len(),
            skipped: fetched.skipped,
            entries: self.store.rma_len(),
        })
    }

    /// The index keys of a return: each code normalized, and a tracking value also in the forms
    /// a scan of it is looked up in (so an SSCC stored with its `00` AI, or an IMpb stored with
    /// its `420`+ZIP prefix, matches the scan of the bare number and the other way round).
    fn index_codes(&self, expected: &ExpectedReturn) -> Vec<IndexedCode> {
        let mut out: Vec<IndexedCode> = Vec::new();
        for (kind, code) in expected.codes() {
            let mut forms: Vec<String> = Vec::new();
            if kind == MatchedBy::Tracking {
                forms.extend(classify_all(code, None, &self.classifier).iter().filter_map(canonical));
            }
            forms.extend(normalize_code(code));
            for form in forms {
                // One kind per code and return: the first (most specific) kind names the match.
                if !out.iter().any(|c| c.code == form) {
                    out.push(IndexedCode { kind, code: form });
                }
            }
        }
        out
    }
}

/// The number a class stands for, normalized, when it is one a return is found by.
fn canonical(class: &BarcodeClass) -> Option<String> {
    let number = match class {
        BarcodeClass::Ups { tracking, .. }
        | BarcodeClass::Usps { tracking, .. }
        | BarcodeClass::Fedex { tracking, .. } => tracking,
        BarcodeClass::DhlExpress { waybill } => waybill,
        BarcodeClass::Gs1 { sscc: Some(sscc), .. } => sscc,
        BarcodeClass::Rma { code } => code,
        _ => return None,
    };
    normalize_code(number)
}

fn class_name(class: &BarcodeClass) -> &'static str {
    match class {
        BarcodeClass::Ups { .. } => "ups",
        BarcodeClass::Usps { .. } => "usps",
        BarcodeClass::Fedex { .. } => "fedex",
        BarcodeClass::DhlExpress { .. } => "dhl_express",
        BarcodeClass::Gs1 { .. } => "gs1",
        BarcodeClass::Ean13 { .. } => "ean13",
        BarcodeClass::UpcA { .. } => "upc_a",
        BarcodeClass::Ean8 { .. } => "ean8",
        BarcodeClass::Rma { .. } => "rma",
        BarcodeClass::Invalid { .. } => "invalid",
        BarcodeClass::Unknown { .. } => "unknown",
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(StoreError::Open {
            dir: std::path::PathBuf::new(),
            reason: format!("the store task failed: {e}"),
        }),
    }
}

/// Keeps the cache in sync until `shutdown` turns true: a sync at start, then incremental syncs
/// every `interval` (a full refresh when one is due). While Odoo fails, the wait doubles up to
/// [`MAX_BACKOFF`] (never below `interval`); one warning when syncs start failing or the error
/// changes, one line when they work again — not one per attempt.
pub async fn run_syncer(cache: RmaCache, interval: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut failures: u32 = 0;
    let mut reported: Option<String> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mode = match cache.due_mode() {
            Ok(mode) => mode,
            Err(e) => {
                tracing::error!(error = %e, "RMA cache: cannot read its state; syncing in full.");
                SyncMode::Full
            }
        };
        let attempt = tokio::select! {
            result = cache.sync(mode) => Some(result),
            _ = shutdown.changed() => None,
        };
        match attempt {
            None => return,
            Some(Ok(report)) => {
                if failures > 0 {
                    tracing::info!(
                        failed_attempts = failures,
                        entries = report.entries,
                        "RMA cache: syncing again."
                    );
                }
                for (picking, why) in &report.skipped {
                    tracing::debug!(picking, why = %why, "RMA cache: return left out.");
                }
                failures = 0;
                reported = None;
            }
            Some(Err(e)) => {
                failures = failures.saturating_add(1);
                let text = e.to_string();
                if reported.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, "RMA cache: sync failed; answering from the cache and retrying.");
                    reported = Some(text);
                }
            }
        }
        let wait = next_wait(interval, failures);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The wait before the next attempt: the interval after a success; after `failures` failures in
/// a row the interval doubled each time, capped at [`MAX_BACKOFF`] (or the interval when that is
/// longer: a daily sync is not made more frequent by failing).
fn next_wait(interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval;
    }
    let doubled = interval.saturating_mul(1 << failures.min(16).saturating_sub(1));
    doubled.min(MAX_BACKOFF.max(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(classifier: ClassifierConfig) -> (tempfile::TempDir, RmaCache) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let options = crate::store::StoreOptions {
            cache_capacity_bytes: 4 << 20,
            site: None,
        };
        let store = Store::open(dir.path(), &options).expect("a fresh store opens");
        (dir, RmaCache::new(store, classifier, None))
    }

    fn expected(tracking: &[&str]) -> ExpectedReturn {
        ExpectedReturn {
            rma: crate::domain::RmaRef::parse("rma-7").unwrap(),
            picking_id: 7,
            picking: "WH/IN/00007".into(),
            order: Some("S00042".into()),
            customer_ref: Some("po 12".into()),
            customer: Some("Deco Addict".into()),
            delivery: Some("WH/OUT/00003".into()),
            delivered_at_ms: None,
            tracking: tracking.iter().map(|t| (*t).to_owned()).collect(),
            currency: None,
            lines: vec![],
            write_date_ms: 0,
        }
    }

    #[test]
    fn codes_are_indexed_normalized_and_tracking_values_in_their_scanned_forms() {
        let (_dir, cache) = cache(ClassifierConfig::default());
        let codes = cache.index_codes(&expected(&["00106141411234567897", "1Z999AA10123456784"]));
        let find = |code: &str| codes.iter().find(|c| c.code == code).map(|c| c.kind);
        assert_eq!(find("RMA-7"), Some(MatchedBy::Rma));
        assert_eq!(find("WH/IN/00007"), Some(MatchedBy::ReturnPicking));
        assert_eq!(find("PO 12"), Some(MatchedBy::CustomerRef));
        assert_eq!(find("106141411234567897"), Some(MatchedBy::Tracking), "{codes:?}");
        assert_eq!(find("00106141411234567897"), Some(MatchedBy::Tracking));
        assert_eq!(find("1Z999AA10123456784"), Some(MatchedBy::Tracking));
    }

    #[test]
    fn a_lookup_refuses_empty_oversized_and_nul_codes() {
        let (_dir, cache) = cache(ClassifierConfig::default());
        for bad in ["", "   ", "a\0b"] {
            assert!(matches!(cache.lookup(bad), Err(RmaError::InvalidCode)), "{bad:?}");
        }
        assert!(matches!(
            cache.lookup(&"x".repeat(MAX_CODE_LEN + 1)),
            Err(RmaError::InvalidCode)
        ));
        assert!(cache.lookup("WH/IN/00007").unwrap().is_none());
    }

    #[test]
    fn failures_double_the_wait_up_to_the_cap_and_never_below_the_interval() {
        let minute = Duration::from_secs(60);
        let waits: Vec<u64> = (0..6).map(|n| next_wait(minute, n).as_secs()).collect();
        assert_eq!(waits, [60, 60, 120, 240, 480, 600]);
        assert_eq!(next_wait(minute, u32::MAX), MAX_BACKOFF);
        let daily = Duration::from_secs(86_400);
        assert_eq!(next_wait(daily, 3), daily);
    }

    #[tokio::test]
    async fn without_a_source_syncs_are_refused_and_the_first_mode_is_full() {
        let (_dir, cache) = cache(ClassifierConfig::default());
        assert!(matches!(cache.sync(SyncMode::Full).await, Err(RmaError::Disabled)));
        assert_eq!(cache.due_mode().unwrap(), SyncMode::Full);
        let status = cache.status().unwrap();
        assert!(!status.enabled && status.age.synced_at_ms.is_none() && status.entries == 0);
    }
}

//! Prometheus metrics: one recorder per running app, rendered at `GET /metrics`.
//!
//! # Shape
//! Each [`Metrics`] owns its own `PrometheusRecorder` (no global recorder), so several apps in
//! one process — the integration tests — never share counters. Code records through the
//! `metrics` facade inside [`Metrics::record`], which scopes the recorder with
//! `metrics::with_local_recorder`.
//!
//! Only two things are recorded as they happen: HTTP answers and ingest latency (by the layer in
//! `http/metrics.rs`) and group commits (by an observer the store's flusher calls). Everything
//! else is read **at scrape time** from state that exists anyway — the store's outbox counts,
//! the dispatchers' status counters, the flusher's counters and the events committed since the
//! last scrape — so no other module carries metric calls.
//!
//! # Names
//! Every metric is prefixed `returns_edge_`; [`NAMES`] lists them (and [`RMA_NAMES`] those of
//! the RMA cache, present only when it is enabled) and the README describes them.
//! `returns_edge_device_connected` and friends come from the devices module, not from here.
//!
//! This module reads the store but never writes it, and decides nothing about cases.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::config::SinkConfig;
use crate::delivery::SinkHandle;
use crate::domain::EventKind;
use crate::ingest::now_ms;
use crate::store::{Store, StoreError, SyncObserver};

/// HTTP answers by `route` (the matched path, `unmatched` for none), `method` and `status`.
pub const HTTP_REQUESTS: &str = "returns_edge_http_requests_total";
/// Time from request to answer of the write routes (validate, decide, commit, durable sync), by `route`.
pub const INGEST_DURATION: &str = "returns_edge_ingest_duration_seconds";
/// Events committed since start, by `kind`.
pub const EVENTS: &str = "returns_edge_events_total";
/// Duration of one group commit (sled flush plus `fdatasync`).
pub const FLUSH_DURATION: &str = "returns_edge_store_flush_seconds";
/// Writers answered by one group commit.
pub const FLUSH_BATCH: &str = "returns_edge_store_flush_batch_size";
/// Group commits since start.
pub const FLUSHES: &str = "returns_edge_store_flushes_total";
/// Writers answered by group commits since start (divided by flushes: the mean batch).
pub const FLUSH_WAITERS: &str = "returns_edge_store_flush_waiters_total";
/// Highest sequence number committed.
pub const LAST_SEQ: &str = "returns_edge_store_last_seq";
/// 1 while the store takes writes, 0 after a failed sync made it read-only.
pub const STORE_WRITABLE: &str = "returns_edge_store_writable";
/// Size of the store's files.
pub const STORE_SIZE: &str = "returns_edge_store_size_bytes";
/// Outbox entries waiting for a sink, by `sink`.
pub const OUTBOX_PENDING: &str = "returns_edge_outbox_pending";
/// Age of the oldest waiting entry (0 when none), by `sink`.
pub const OUTBOX_OLDEST_AGE: &str = "returns_edge_outbox_oldest_pending_age_seconds";
/// Entries a sink refused, waiting for an operator, by `sink`.
pub const DEAD_LETTERS: &str = "returns_edge_outbox_dead_letters";
/// Delivery attempts since start, by `sink`.
pub const SINK_ATTEMPTS: &str = "returns_edge_sink_attempts_total";
/// Delivery outcomes since start, by `sink` and `outcome` (`delivered`, `retried`, `rejected`).
pub const SINK_OUTCOMES: &str = "returns_edge_sink_outcomes_total";
/// Deliveries running now, by `sink`.
pub const SINK_IN_FLIGHT: &str = "returns_edge_sink_in_flight";
/// 1 while a sink is paused (credentials refused, database missing, unreachable), by `sink`.
pub const SINK_PAUSED: &str = "returns_edge_sink_paused";
/// Always 1, with the `version` label.
pub const BUILD_INFO: &str = "returns_edge_build_info";
/// Seconds since the RMA cache last synced with Odoo (absent until its first sync).
pub const RMA_CACHE_AGE: &str = "returns_edge_rma_cache_age_seconds";
/// Open returns in the RMA cache.
pub const RMA_CACHE_ENTRIES: &str = "returns_edge_rma_cache_entries";
/// RMA cache syncs since start, by `outcome` (`ok`, `failed`).
pub const RMA_SYNCS: &str = "returns_edge_rma_syncs_total";
/// New events refused by the free-space guard since start, by `reason` (`disk_full`, `read_only`).
pub const WRITE_REFUSALS: &str = "returns_edge_store_write_refusals_total";
/// Free bytes on the store's file system at the guard's last probe.
pub const FREE_BYTES: &str = "returns_edge_store_free_bytes";
/// The free-space reserve (`store.min_free_mb`) in bytes; 0 when the guard is off.
pub const MIN_FREE_BYTES: &str = "returns_edge_store_min_free_bytes";
/// Events archived and pruned by retention since start.
pub const ARCHIVED_EVENTS: &str = "returns_edge_store_archived_events_total";
/// Cases archived and pruned by retention since start.
pub const ARCHIVED_CASES: &str = "returns_edge_store_archived_cases_total";
/// Highest sequence number retention ever archived (0: none).
pub const ARCHIVED_UP_TO: &str = "returns_edge_store_archived_up_to";

/// Every metric this module exposes (histograms also appear as `_bucket`, `_sum`, `_count`).
pub const NAMES: &[&str] = &[
    HTTP_REQUESTS,
    INGEST_DURATION,
    EVENTS,
    FLUSH_DURATION,
    FLUSH_BATCH,
    FLUSHES,
    FLUSH_WAITERS,
    LAST_SEQ,
    STORE_WRITABLE,
    STORE_SIZE,
    OUTBOX_PENDING,
    OUTBOX_OLDEST_AGE,
    DEAD_LETTERS,
    SINK_ATTEMPTS,
    SINK_OUTCOMES,
    SINK_IN_FLIGHT,
    SINK_PAUSED,
    BUILD_INFO,
    WRITE_REFUSALS,
    FREE_BYTES,
    MIN_FREE_BYTES,
    ARCHIVED_EVENTS,
    ARCHIVED_CASES,
    ARCHIVED_UP_TO,
];

/// The RMA cache's metrics: exposed only when an Odoo sink has `rma_cache = true` (and the age
/// only after the first sync), so they are kept out of [`NAMES`], which every scrape has.
pub const RMA_NAMES: &[&str] = &[RMA_CACHE_AGE, RMA_CACHE_ENTRIES, RMA_SYNCS];
/// Reasons of [`WRITE_REFUSALS`].
const REFUSAL_REASONS: [&str; 2] = ["disk_full", "read_only"];

/// Latency buckets in seconds: from a fast fsync (sub-millisecond) to the request timeout.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Batch-size buckets: writers per group commit.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Events read per page when counting the events committed since the last scrape.
const EVENTS_PAGE: usize = 1_000;

/// The metrics of one running app. Cheap to share (`Arc`).
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// Sequence number of the last event counted in [`EVENTS`]; held while counting so two
    /// concurrent scrapes never count an event twice.
    events_counted: Mutex<u64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh recorder for the app serving `store`; events already in the store are not
    /// counted, group commits are observed from now on.
    pub fn new(store: &Store) -> Arc<Metrics> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(FLUSH_BATCH.into()), BATCH_BUCKETS))
            // Invariant: only an empty bucket list is refused, and these lists are constant and non-empty.
            .expect("constant, non-empty bucket lists")
            .build_recorder();
        let metrics = Arc::new(Metrics {
            handle: recorder.handle(),
            recorder: Arc::new(recorder),
            events_counted: Mutex::new(store.last_seq()),
        });
        metrics.record(describe);
        metrics.record(|| {
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            for kind in EventKind::ALL {
                counter!(EVENTS, "kind" => kind.as_str()).absolute(0);
            }
        });
        metrics.observe_group_commits(store);
        metrics
    }

    /// Runs `f` with this app's recorder as the `metrics` facade's recorder.
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(self.recorder.as_ref(), f)
    }

    /// Counts one HTTP answer; `ingest` adds its latency to the ingest histogram.
    pub fn http_answer(&self, route: &str, method: &str, status: u16, took: Duration, ingest: bool) {
        self.record(|| {
            counter!(HTTP_REQUESTS, "route" => route.to_owned(), "method" => method.to_owned(), "status" => status.to_string())
                .increment(1);
            if ingest {
                histogram!(INGEST_DURATION, "route" => route.to_owned()).record(took.as_secs_f64());
            }
        });
    }

    /// Records the RMA cache's state (read at scrape time, like everything else). Nothing when no
    /// sink feeds the cache; no age before its first sync (there is no age to tell, and a
    /// made-up one would page someone).
    pub fn rma_cache(&self, status: &crate::rma::RmaStatus) {
        if !status.enabled {
            return;
        }
        self.record(|| {
            if let Some(age_ms) = status.age.age_ms {
                gauge!(RMA_CACHE_AGE).set(age_ms as f64 / 1000.0);
            }
            gauge!(RMA_CACHE_ENTRIES).set(status.entries as f64);
            counter!(RMA_SYNCS, "outcome" => "ok").absolute(status.syncs_ok);
            counter!(RMA_SYNCS, "outcome" => "failed").absolute(status.syncs_failed);
        });
    }

    /// Reads the scrape-time state and renders everything in the Prometheus text format.
    /// Blocking: it scans the outbox and the new events (call it off the async runtime).
    pub fn scrape(
        &self,
        store: &Store,
        sinks: &[SinkConfig],
        dispatchers: &[SinkHandle],
    ) -> Result<String, StoreError> {
        self.count_new_events(store)?;
        let stats = store.sync_stats();
        let syncs = stats.syncs.load(std::sync::atomic::Ordering::Relaxed);
        let waiters = stats.waiters.load(std::sync::atomic::Ordering::Relaxed);
        let size = store.size_on_disk()?;
        let archived_up_to = store.archived_up_to()?;
        let archived = store.archive_counts();
        let archived_events = archived.events.load(std::sync::atomic::Ordering::Relaxed);
        let archived_cases = archived.cases.load(std::sync::atomic::Ordering::Relaxed);
        let guard = store.space_guard();
        let refusals = guard.map_or([0, 0], |g| {
            let r = g.refusals();
            [
                r.disk_full.load(std::sync::atomic::Ordering::Relaxed),
                r.read_only.load(std::sync::atomic::Ordering::Relaxed),
            ]
        });
        // A scrape probes when no write did lately, so the gauge is fresh on an idle store too.
        let free = guard.and_then(|g| g.probe_now()).map(|p| p.free_bytes);
        let min_free = guard.map_or(0, |g| g.min_free_bytes());
        let now = now_ms();
        let mut per_sink = Vec::with_capacity(sinks.len());
        for sink in sinks {
            let name = sink.name.as_str();
            let counts = store.sink_counts(name)?;
            let status = dispatchers
                .iter()
                .find(|h| h.name == name)
                .map(SinkHandle::status)
                .unwrap_or_default();
            per_sink.push((name.to_owned(), counts, status));
        }
        self.record(|| {
            counter!(FLUSHES).absolute(syncs);
            counter!(FLUSH_WAITERS).absolute(waiters);
            gauge!(LAST_SEQ).set(store.last_seq() as f64);
            gauge!(STORE_WRITABLE).set(if store.check_writable().is_ok() { 1.0 } else { 0.0 });
            gauge!(STORE_SIZE).set(size as f64);
            for (reason, n) in REFUSAL_REASONS.iter().zip(refusals) {
                counter!(WRITE_REFUSALS, "reason" => *reason).absolute(n);
            }
            if let Some(free) = free {
                gauge!(FREE_BYTES).set(free as f64);
            }
            gauge!(MIN_FREE_BYTES).set(min_free as f64);
            counter!(ARCHIVED_EVENTS).absolute(archived_events);
            counter!(ARCHIVED_CASES).absolute(archived_cases);
            gauge!(ARCHIVED_UP_TO).set(archived_up_to as f64);
            for (sink, counts, status) in &per_sink {
                let age_s = counts
                    .oldest_pending_ms
                    .map(|at| now.saturating_sub(at) as f64 / 1000.0)
                    .unwrap_or(0.0);
                gauge!(OUTBOX_PENDING, "sink" => sink.clone()).set(counts.pending as f64);
                gauge!(OUTBOX_OLDEST_AGE, "sink" => sink.clone()).set(age_s);
                gauge!(DEAD_LETTERS, "sink" => sink.clone()).set(counts.dead_letters as f64);
                gauge!(SINK_IN_FLIGHT, "sink" => sink.clone()).set(status.in_flight as f64);
                gauge!(SINK_PAUSED, "sink" => sink.clone()).set(if status.paused.is_some() { 1.0 } else { 0.0 });
                let attempts = status.delivered + status.retried + status.rejected;
                counter!(SINK_ATTEMPTS, "sink" => sink.clone()).absolute(attempts);
                for (outcome, n) in [
                    ("delivered", status.delivered),
                    ("retried", status.retried),
                    ("rejected", status.rejected),
                ] {
                    counter!(SINK_OUTCOMES, "sink" => sink.clone(), "outcome" => outcome).absolute(n);
                }
            }
        });
        Ok(self.handle.render())
    }

    /// Adds the events committed since the last scrape to [`EVENTS`].
    fn count_new_events(&self, store: &Store) -> Result<(), StoreError> {
        let mut counted = self
            .events_counted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            let page = store.events(*counted, EVENTS_PAGE)?;
            let Some(last) = page.last() else { return Ok(()) };
            *counted = last.seq;
            self.record(|| {
                for event in &page {
                    counter!(EVENTS, "kind" => event.event.kind().as_str()).increment(1);
                }
            });
            if page.len() < EVENTS_PAGE {
                return Ok(());
            }
        }
    }

    /// Has the store's flusher report every group commit into the flush histograms.
    fn observe_group_commits(&self, store: &Store) {
        let (took, batch) = self.record(|| (histogram!(FLUSH_DURATION), histogram!(FLUSH_BATCH)));
        let installed = store
            .sync_stats()
            .set_observer(SyncObserver(Box::new(move |elapsed, waiters| {
                took.record(elapsed.as_secs_f64());
                batch.record(waiters as f64);
            })));
        if !installed {
            tracing::debug!("Group commits of this store are already observed by another app's metrics.");
        }
    }
}

/// The HELP lines.
fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP answers by matched route, method and status.");
    describe_histogram!(
        INGEST_DURATION,
        Unit::Seconds,
        "Write routes: time from request to answer (validate, decide, commit, durable sync)."
    );
    describe_counter!(EVENTS, "Events committed since start, by kind.");
    describe_histogram!(
        FLUSH_DURATION,
        Unit::Seconds,
        "Duration of one group commit (sled flush + fdatasync)."
    );
    describe_histogram!(FLUSH_BATCH, "Writers answered by one group commit.");
    describe_counter!(FLUSHES, "Group commits since start.");
    describe_counter!(FLUSH_WAITERS, "Writers answered by group commits since start.");
    describe_gauge!(LAST_SEQ, "Highest event sequence number committed.");
    describe_gauge!(
        STORE_WRITABLE,
        "1 while the store takes writes; 0 after a failed sync (restart needed)."
    );
    describe_gauge!(STORE_SIZE, Unit::Bytes, "Size of the store's files on disk.");
    describe_gauge!(
        OUTBOX_PENDING,
        "Outbox entries waiting for the sink (in flight and blocked included)."
    );
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        Unit::Seconds,
        "Age of the sink's oldest waiting entry (0 when none)."
    );
    describe_gauge!(
        DEAD_LETTERS,
        "Entries the sink refused, waiting for an operator to replay or discard."
    );
    describe_counter!(SINK_ATTEMPTS, "Delivery attempts since start.");
    describe_counter!(
        SINK_OUTCOMES,
        "Delivery outcomes since start (delivered, retried, rejected)."
    );
    describe_gauge!(SINK_IN_FLIGHT, "Deliveries running now.");
    describe_gauge!(
        SINK_PAUSED,
        "1 while the sink is paused (credentials refused, database missing, unreachable)."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the version label names the running build.");
    describe_gauge!(
        RMA_CACHE_AGE,
        Unit::Seconds,
        "Seconds since the RMA cache last synced with Odoo (absent until the first sync)."
    );
    describe_gauge!(RMA_CACHE_ENTRIES, "Open returns in the RMA cache.");
    describe_counter!(RMA_SYNCS, "RMA cache syncs since start, by outcome (ok, failed).");
    describe_counter!(
        WRITE_REFUSALS,
        "New events refused because the store's disk is full (507) or read-only (503), by reason."
    );
    describe_gauge!(
        FREE_BYTES,
        Unit::Bytes,
        "Free bytes on the store's file system at the last probe."
    );
    describe_gauge!(
        MIN_FREE_BYTES,
        Unit::Bytes,
        "Free-space reserve below which new events are refused (store.min_free_mb); 0 when off."
    );
    describe_counter!(ARCHIVED_EVENTS, "Events archived and pruned by retention since start.");
    describe_counter!(ARCHIVED_CASES, "Cases archived and pruned by retention since start.");
    describe_gauge!(
        ARCHIVED_UP_TO,
        "Highest event sequence number retention archived; events at or below may be in archives."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let options = StoreOptions {
            cache_capacity_bytes: 4 << 20,
            site: None,
        };
        let store = Store::open(dir.path(), &options).expect("a fresh store opens");
        (dir, store)
    }

    #[test]
    fn two_apps_in_one_process_keep_separate_counters() {
        let (_a_dir, a_store) = store();
        let (_b_dir, b_store) = store();
        let a = Metrics::new(&a_store);
        let b = Metrics::new(&b_store);
        a.http_answer("/healthz", "GET", 200, Duration::from_millis(1), false);
        a.http_answer("/healthz", "GET", 200, Duration::from_millis(1), false);
        let a_text = a.scrape(&a_store, &[], &[]).expect("scrape a");
        let b_text = b.scrape(&b_store, &[], &[]).expect("scrape b");
        assert!(
            a_text.contains(r#"returns_edge_http_requests_total{route="/healthz",method="GET",status="200"} 2"#),
            "{a_text}"
        );
        assert!(!b_text.contains(HTTP_REQUESTS), "{b_text}");
    }

    #[test]
    fn every_histogram_renders_buckets_not_a_summary() {
        let (_dir, store) = store();
        let metrics = Metrics::new(&store);
        metrics.http_answer("/v1/parcels", "POST", 201, Duration::from_millis(3), true);
        let text = metrics.scrape(&store, &[], &[]).expect("scrape");
        assert!(
            text.contains("# TYPE returns_edge_ingest_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains(r#"returns_edge_ingest_duration_seconds_bucket{route="/v1/parcels",le="0.005"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn every_event_kind_is_exposed_from_the_start_at_zero() {
        let (_dir, store) = store();
        let text = Metrics::new(&store).scrape(&store, &[], &[]).expect("scrape");
        for kind in EventKind::ALL {
            let line = format!("returns_edge_events_total{{kind=\"{}\"}} 0", kind.as_str());
            assert!(text.contains(&line), "missing `{line}` in\n{text}");
        }
    }
}

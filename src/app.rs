//! Wiring: configuration in, running server out. Opens the store, installs its free-space guard,
//! builds the ingest path and the router, binds the listener, runs retention when configured, and
//! shuts down gracefully (writes refused with 503, in-flight requests finished, store flushed)
//! within a bound.
//!
//! A failed disk sync poisons the store (`store/durability.rs`): no later fsync can be trusted in
//! this process. The server then shuts down the same graceful way and exits non-zero, so that
//! systemd (`Restart=on-failure`) starts it again and the reopen recovers the store from what is
//! really on disk. Staying up would serve reads but refuse every write until someone restarts it
//! by hand; on an unattended edge box the restart is the recovery. It first goes on answering
//! for [`POISON_HOLD`], so that stations, readiness probes and a metrics scrape see why.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::delivery::{self, DispatcherOptions, SinkHandle};
use crate::devices::DeviceHub;
use crate::http::{self, AppState, Limits};
use crate::ingest::Ingest;
use crate::rma::RmaCache;
use crate::sinks::odoo::{OdooSink, RmaSource};
use crate::sinks::refund::RefundSink;
use crate::sinks::SinkKind;
use crate::store::retention::RetentionRun;
use crate::store::space::{SpaceGuard, StatVfs};
use crate::store::{Store, StoreOptions};

/// Longest time in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The first retention run comes this long after start, so that it never slows the start itself.
pub const RETENTION_FIRST_RUN: Duration = Duration::from_secs(60);
/// Between two retention runs.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);
/// How often the server looks whether the store was poisoned by a failed sync.
const POISON_POLL: Duration = Duration::from_millis(250);
/// How long a poisoned server goes on answering (reads, and 503s saying why; readiness not
/// ready; `returns_edge_store_writable` 0) before it drains and exits for a restart.
pub const POISON_HOLD: Duration = Duration::from_secs(30);

/// A server that is bound and ready to run.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    state: AppState,
    store: Store,
    limits: Limits,
    dispatchers: Vec<(SinkHandle, tokio::task::JoinHandle<()>)>,
    /// The RMA cache's background sync: its stop signal and task (none when no sink feeds it).
    rma_syncer: Option<RmaSyncer>,
    retention: Option<Retention>,
    poison_hold: Duration,
}

/// Retention settings of a serving app (`store.retention_days` > 0).
#[derive(Debug, Clone)]
struct Retention {
    days: u64,
    archive_dir: std::path::PathBuf,
}

impl App {
    /// Opens the store and binds the listener (port 0 picks a free port).
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        let store = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || open_store(&config))
                .await
                .context("store open task failed")??
        };
        let (rma, rma_syncer) = start_rma_cache(config, &store)?;
        if config.store.min_free_mb > 0 {
            let guard = SpaceGuard::new(
                &config.store.data_dir,
                config.store.min_free_mb * 1024 * 1024,
                Box::new(StatVfs),
            );
            store.guard_space(guard);
        }
        let retention = (config.store.retention_days > 0).then(|| Retention {
            days: config.store.retention_days,
            archive_dir: config.store.archive_dir(),
        });
        let ingest = Ingest::new(
            store.clone(),
            config.site.clone(),
            config.policy.policy(),
            config.sinks.clone(),
        )
        .with_rma(rma.clone());
        let dispatchers = start_dispatchers(config, &store)?;
        let handles = dispatchers.iter().map(|(h, _)| h.clone()).collect();
        let state = AppState::new(ingest, config.sinks.clone(), handles)
            .with_rate_limit(config.server.rate_limit_per_second, config.server.rate_limit_burst)
            .with_rma(rma);
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {} (server.listen)", config.server.listen))?;
        // After the bind, so that a failed start leaves no device threads behind.
        let state = if config.devices.is_empty() {
            state
        } else {
            state.with_devices(DeviceHub::start(&config.devices, &config.device_settings)?)
        };
        let limits = Limits {
            max_body_bytes: config.server.max_body_bytes as usize,
            request_timeout: Duration::from_secs(config.server.request_timeout_secs),
        };
        Ok(App {
            listener,
            state,
            store,
            limits,
            dispatchers,
            rma_syncer,
            retention,
            poison_hold: POISON_HOLD,
        })
    }

    /// The same app answering for `hold` instead of [`POISON_HOLD`] after a failed sync before it
    /// exits (tests shorten it).
    pub fn with_poison_hold(mut self, hold: Duration) -> App {
        self.poison_hold = hold;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The RMA cache (for the receipt path and tests; clones share it).
    pub fn rma(&self) -> &RmaCache {
        &self.state.rma
    }

    /// Serves until `shutdown` completes, then drains and flushes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App {
            listener,
            state,
            store,
            limits,
            dispatchers,
            rma_syncer,
            retention,
            poison_hold,
        } = self;
        let router = http::router(state.clone(), limits);
        let retention = retention.map(|r| tokio::spawn(run_retention(store.clone(), r)));
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let draining = state.clone();
        let poisoned = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watched = (store.clone(), poisoned.clone());
        let signal = async move {
            let mut shutdown = Box::pin(shutdown);
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("Shutdown requested: refusing new writes, finishing in-flight requests.");
                }
                reason = wait_poisoned(&watched.0) => {
                    watched.1.store(true, std::sync::atomic::Ordering::Release);
                    tracing::error!(
                        error = %reason,
                        hold_s = poison_hold.as_secs(),
                        "The store cannot sync to disk: writes answer 503; exiting after the hold so that the service manager restarts returns-edge and the store recovers on open."
                    );
                    tokio::select! {
                        () = &mut shutdown => {}
                        () = tokio::time::sleep(poison_hold) => {}
                    }
                }
            }
            draining.start_draining();
            // Live streams never end by themselves; end them so they do not hold up the drain.
            draining.devices.close_streams();
            let _ = drained_tx.send(());
        };
        let server = axum::serve(listener, router).with_graceful_shutdown(signal);
        let server = tokio::spawn(async move { server.await });
        let mut server = server;
        tokio::select! {
            result = &mut server => result.context("server task failed")?.context("server failed")?,
            _ = async {
                let _ = drained_rx.await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "In-flight requests did not finish in time; closing anyway.");
                server.abort();
            }
        }
        // The RMA sync stops between Odoo calls; what it already stored is consistent.
        if let Some((stop, task)) = rma_syncer {
            let _ = stop.send(true);
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                tracing::warn!("RMA cache sync did not stop in time.");
            }
        }
        // Deliveries finish the remote call they are in and record it; then the store closes.
        for (handle, _) in &dispatchers {
            handle.shutdown();
        }
        for (handle, task) in dispatchers {
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                tracing::warn!(sink = %handle.name, "Dispatcher did not stop in time.");
            }
        }
        if let Some(task) = retention {
            // A batch in progress finishes on its blocking thread or is redone by the next run.
            task.abort();
        }
        let devices = state.devices.clone();
        tokio::task::spawn_blocking(move || devices.shutdown())
            .await
            .context("device shutdown task failed")?;
        if poisoned.load(std::sync::atomic::Ordering::Acquire) {
            anyhow::bail!(
                "exiting after a failed disk sync (see the error above); restart to recover the store from disk"
            );
        }
        let closing = store.clone();
        tokio::task::spawn_blocking(move || closing.close())
            .await
            .context("store close task failed")??;
        tracing::info!("Store flushed; bye.");
        Ok(())
    }
}

/// Resolves when the store refuses writes after a failed sync, with the store's reason.
async fn wait_poisoned(store: &Store) -> String {
    let mut poll = tokio::time::interval(POISON_POLL);
    loop {
        poll.tick().await;
        if let Err(e) = store.check_writable() {
            return e.to_string();
        }
    }
}

/// Archives and prunes settled history every [`RETENTION_INTERVAL`]. A failed run is logged and
/// retried at the next interval; whatever it did is durable, whatever it did not is untouched.
async fn run_retention(store: Store, retention: Retention) {
    tokio::time::sleep(RETENTION_FIRST_RUN).await;
    let mut every = tokio::time::interval(RETENTION_INTERVAL);
    loop {
        every.tick().await;
        let now = crate::ingest::now_ms();
        let run = RetentionRun {
            archive_dir: retention.archive_dir.clone(),
            cutoff_ms: now.saturating_sub(retention.days * 86_400_000),
            now_ms: now,
        };
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.archive(&run)).await {
            Ok(Ok(summary)) if summary.events > 0 || summary.idempotency_records > 0 => tracing::info!(
                cases = summary.cases,
                events = summary.events,
                files = summary.files.len(),
                idempotency_records = summary.idempotency_records,
                archived_up_to = summary.archived_up_to,
                "Retention run done."
            ),
            Ok(Ok(_)) => tracing::debug!("Retention run: nothing old enough to archive."),
            Ok(Err(e)) => tracing::error!(error = %e, "Retention run failed; retrying at the next interval."),
            Err(e) => tracing::error!(error = %e, "Retention task panicked; retrying at the next interval."),
        }
    }
}

/// Starts one dispatcher per configured sink.
fn start_dispatchers(config: &Config, store: &Store) -> anyhow::Result<Vec<(SinkHandle, tokio::task::JoinHandle<()>)>> {
    let options = DispatcherOptions {
        concurrency: config.delivery.concurrency as usize,
        ..DispatcherOptions::default()
    };
    let mut out = Vec::new();
    for sink in &config.sinks {
        let name = sink.name.as_str().to_owned();
        match (sink.kind, &sink.odoo, &sink.refund) {
            (SinkKind::Odoo, Some(odoo), _) => {
                let odoo = OdooSink::new(odoo.clone(), config.site.clone())
                    .map_err(|e| anyhow::anyhow!("sink `{name}`: {e}"))?;
                out.push(delivery::spawn(name, odoo, store.clone(), options.clone()));
            }
            (SinkKind::Refund, _, Some(refund)) => {
                let refund = RefundSink::new(refund.clone()).map_err(|e| anyhow::anyhow!("sink `{name}`: {e}"))?;
                out.push(delivery::spawn(name, refund, store.clone(), options.clone()));
            }
            // Config validation refuses these; keep the compiler's exhaustiveness honest.
            (kind, _, _) => anyhow::bail!("sink `{name}`: kind {kind:?} cannot be started"),
        }
    }
    Ok(out)
}

/// The RMA cache over `store`, and its background sync when an Odoo sink has `rma_cache = true`
/// (config validation allows one). Scans are classified with the site's classifier settings, as
/// the devices' live streams do.
fn start_rma_cache(config: &Config, store: &Store) -> anyhow::Result<(RmaCache, Option<RmaSyncer>)> {
    let classifier = config.device_settings.classifier.clone();
    let feeding = config.sinks.iter().find_map(|sink| {
        sink.odoo
            .as_ref()
            .filter(|o| o.rma_cache)
            .map(|o| (sink.name.as_str(), o))
    });
    let Some((name, odoo)) = feeding else {
        return Ok((RmaCache::new(store.clone(), classifier, None), None));
    };
    let source = RmaSource::new(odoo).map_err(|e| anyhow::anyhow!("sink `{name}` (RMA cache): {e}"))?;
    let cache = RmaCache::new(store.clone(), classifier, Some(source));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let interval = Duration::from_secs(odoo.rma_sync_interval_secs);
    let task = tokio::spawn(crate::rma::run_syncer(cache.clone(), interval, stopped));
    Ok((cache, Some((stop, task))))
}

type RmaSyncer = (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>);

/// Opens the configured store, checking its site.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    let options = StoreOptions {
        cache_capacity_bytes: config.store.cache_capacity_mb * 1024 * 1024,
        site: Some(config.site.clone()),
    };
    Ok(Store::open(&config.store.data_dir, &options)?)
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

//! Wiring: configuration in, running server out. Opens the store, builds the ingest path and the
//! router, binds the listener, and shuts down gracefully (writes refused with 503, in-flight
//! requests finished, store flushed) within a bound.

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
use crate::store::{Store, StoreOptions};

/// Longest time in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
        })
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
        } = self;
        let router = http::router(state.clone(), limits);
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let draining = state.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("Shutdown requested: refusing new writes, finishing in-flight requests.");
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
        let devices = state.devices.clone();
        tokio::task::spawn_blocking(move || devices.shutdown())
            .await
            .context("device shutdown task failed")?;
        let closing = store.clone();
        tokio::task::spawn_blocking(move || closing.close())
            .await
            .context("store close task failed")??;
        tracing::info!("Store flushed; bye.");
        Ok(())
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

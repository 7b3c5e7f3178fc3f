//! `returns-edge bench`: the site-qualification benchmark (issue 7), in the shipped binary so that
//! regional IT can run it on the site's own hardware.
//!
//! Everything happens inside one fresh directory (under `--data-dir`, or the current directory),
//! removed afterwards. The real server ([`App`]) runs on `127.0.0.1:0` with a store in
//! `<tmp>/store` for the whole run; then, `--runs` times:
//! 1. **Durable ingest**: 1, 16 and 64 stations (one token each) post receipts with unique
//!    Idempotency-Keys over real HTTP for S seconds each. Every 201 waited for its group commit
//!    (`fdatasync`).
//! 2. **Disk limit**: a raw append + `fdatasync` log (`<tmp>/limit.log`) with the store's
//!    group-commit rule (writers queue records, one thread appends everything queued and syncs
//!    once per batch), at the same concurrency levels, records the size of a stored event. The
//!    log is preallocated in [`LOG_CHUNK`]s of zeros (synced, inside the timing), as write-ahead
//!    logs do: growing the file at every sync makes `fdatasync` commit the file system's journal
//!    too, which on ext4 cut the limit at one writer about 4× below what sled itself reaches.
//!
//! Ours and the limit alternate within each run, so a disk or a neighbour that slows down for a
//! while weighs on both; the report holds the median of every figure over the runs, and each
//! run's rows. Then the **footprint**: RSS of this process when the server is up and idle, and
//! after at least N events are stored (the ingest phases count; 64 stations top it up to N); store
//! bytes per event (the data directory's files after shutdown); cold start (`Store::open`,
//! recovery included) of that store in a child process (`bench --cold-start-child DIR`), median
//! of 3.
//!
//! It owns no product logic: it drives the public API ([`App`], [`Store`], tokens) like a client.
//! [`LoopbackServer`] and [`LoopbackServer::load_for`] are shared with `examples/ingest_load.rs`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::app::App;
use crate::config::{Config, FlagOverrides};
use crate::domain::{Role, StationId};
use crate::store::{encoding, Store, StoreOptions};
use crate::{ingest, tokens};

/// The concurrency levels measured, in stations (and raw-log writers).
pub const STATION_COUNTS: [usize; 3] = [1, 16, 64];

/// Default N: with the default seconds and runs the whole bench takes about a minute and a half
/// on 2 cores.
pub const DEFAULT_EVENTS: u64 = 100_000;

/// Default seconds per ingest and per limit phase.
pub const DEFAULT_SECONDS: u64 = 3;

/// Default runs: a median needs at least three.
pub const DEFAULT_RUNS: usize = 3;

/// How long the raw-log flusher waits for writers still preparing a record: the store's
/// `MAX_GATHER` (`store/durability.rs`), so both sides batch by the same rule.
const GATHER: Duration = Duration::from_millis(2);

/// The raw log grows by this much at a time (zeros, written and synced).
pub const LOG_CHUNK: u64 = 16 << 20;

const MIB: f64 = 1024.0 * 1024.0;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Where the temporary directory is created (the disk being qualified).
    pub parent_dir: PathBuf,
    /// N: events stored before the footprint figures are read.
    pub events: u64,
    /// Seconds per ingest phase and per limit phase.
    pub seconds: u64,
    /// How many times the ingest and limit phases are run; the report holds their medians.
    pub runs: usize,
    /// Print the progress line on stderr.
    pub progress: bool,
}

/// The figures of a bench; `--json` prints exactly this.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Median of each figure over the runs, per concurrency level.
    pub ingest: Vec<IngestFigures>,
    /// The raw log, median of each figure over the runs, per concurrency level.
    pub limit: Vec<LimitFigures>,
    /// The raw log at the highest concurrency (64 writers), median over the runs.
    pub limit_events_per_s: f64,
    /// Ours / limit at 64 stations: the median of each run's ratio (the two ran side by side).
    pub limit_ratio: f64,
    pub footprint: Footprint,
    pub runs: usize,
    pub seconds: u64,
    /// Size of one encoded event record: the raw log appends records of this size.
    pub record_bytes: usize,
    /// Every run's own rows, so the spread behind the medians stays visible.
    pub per_run: Vec<RunFigures>,
}

/// The rows of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunFigures {
    pub ingest: Vec<IngestFigures>,
    pub limit: Vec<LimitFigures>,
}

/// Memory, disk and start-up figures (MiB are 2^20 bytes).
#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    pub rss_idle_mb: f64,
    /// RSS once at least N events are stored (load clients included: an upper bound).
    pub rss_loaded_mb: f64,
    /// Events stored when the footprint was read (at least N).
    pub events: u64,
    pub store_bytes: u64,
    pub bytes_per_event: f64,
    /// Median of 3 cold starts in child processes.
    pub cold_start_s: f64,
}

/// Acknowledged writes of one ingest phase.
#[derive(Debug, Clone, Serialize)]
pub struct IngestFigures {
    pub stations: usize,
    pub acknowledged: u64,
    pub events_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub fsyncs_per_write: f64,
}

/// The raw append + `fdatasync` log at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct LimitFigures {
    pub stations: usize,
    pub events_per_s: f64,
    pub fsyncs_per_write: f64,
}

/// Runs the whole benchmark; `Err` if any phase failed (the temporary directory is removed either way).
pub fn run(options: &BenchOptions) -> anyhow::Result<Report> {
    anyhow::ensure!(options.runs > 0, "--runs must be at least 1");
    let scratch = ScratchDir::create(&options.parent_dir)?;
    let progress = Progress {
        enabled: options.progress,
    };
    let seconds = Duration::from_secs(options.seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let store_dir = scratch.path.join("store");
    let top = *STATION_COUNTS.iter().max().unwrap_or(&1);

    let server = runtime.block_on(LoopbackServer::start(&store_dir, top))?;
    let rss_idle_bytes = rss_bytes()?;
    let mut per_run = Vec::new();
    let mut record_bytes = 0;
    for run in 1..=options.runs {
        let mut ingest = Vec::new();
        for stations in STATION_COUNTS {
            let label = format!("run {run}/{}: ingest, {stations} station(s)", options.runs);
            ingest.push(runtime.block_on(server.load_for(stations, Until::Elapsed(seconds), &progress, &label))?);
        }
        record_bytes = server.record_bytes()?;
        // The server stays up but idle while the raw log runs.
        let mut limit = Vec::new();
        for stations in STATION_COUNTS {
            let label = format!("run {run}/{}: disk limit, {stations} writer(s)", options.runs);
            let log = scratch.path.join("limit.log");
            limit.push(raw_log_limit(&log, stations, record_bytes, seconds, &progress, &label)?);
            std::fs::remove_file(&log)?;
        }
        per_run.push(RunFigures { ingest, limit });
    }
    let stored = server.store.last_seq();
    if stored < options.events {
        let label = format!("storing N = {} events", options.events);
        runtime.block_on(server.load_for(top, Until::Count(options.events - stored), &progress, &label))?;
    }
    let rss_after_bytes = rss_bytes()?;
    let events = server.store.last_seq();
    runtime.block_on(server.stop())?;
    drop(runtime);

    let store_bytes = dir_bytes(&store_dir)?;
    progress.line("cold start (3 child processes)");
    let mut cold = Vec::new();
    for _ in 0..3 {
        cold.push(cold_start_in_child(&store_dir)?);
    }
    progress.done();

    let ingest = median_ingest(&per_run);
    let limit = median_limit(&per_run);
    let top_level = STATION_COUNTS.len() - 1;
    Ok(Report {
        limit_events_per_s: limit.last().map_or(0.0, |l| l.events_per_s),
        limit_ratio: ratio_to_limit(&per_run, top_level),
        ingest,
        limit,
        footprint: Footprint {
            rss_idle_mb: rss_idle_bytes as f64 / MIB,
            rss_loaded_mb: rss_after_bytes as f64 / MIB,
            events,
            store_bytes,
            bytes_per_event: store_bytes as f64 / events.max(1) as f64,
            cold_start_s: median(cold) / 1e3,
        },
        runs: options.runs,
        seconds: options.seconds,
        record_bytes,
        per_run,
    })
}

/// The median of `values` (the mean of the two middle ones for an even count; 0 when empty).
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Ours / limit at concurrency level `level`: the median of each run's ratio (the two ran side
/// by side within a run).
fn ratio_to_limit(runs: &[RunFigures], level: usize) -> f64 {
    median(
        runs.iter()
            .filter_map(|r| match (r.ingest.get(level), r.limit.get(level)) {
                (Some(o), Some(l)) if l.events_per_s > 0.0 => Some(o.events_per_s / l.events_per_s),
                _ => None,
            }),
    )
}

/// Per concurrency level, the median of each ingest figure over the runs.
fn median_ingest(runs: &[RunFigures]) -> Vec<IngestFigures> {
    let level = |i: usize| runs.iter().filter_map(move |r| r.ingest.get(i));
    (0..runs.first().map_or(0, |r| r.ingest.len()))
        .map(|i| IngestFigures {
            stations: level(i).next().map_or(0, |f| f.stations),
            acknowledged: median(level(i).map(|f| f.acknowledged as f64)) as u64,
            events_per_s: median(level(i).map(|f| f.events_per_s)),
            p50_ms: median(level(i).map(|f| f.p50_ms)),
            p99_ms: median(level(i).map(|f| f.p99_ms)),
            max_ms: median(level(i).map(|f| f.max_ms)),
            fsyncs_per_write: median(level(i).map(|f| f.fsyncs_per_write)),
        })
        .collect()
}

/// Per concurrency level, the median of each raw-log figure over the runs.
fn median_limit(runs: &[RunFigures]) -> Vec<LimitFigures> {
    let level = |i: usize| runs.iter().filter_map(move |r| r.limit.get(i));
    (0..runs.first().map_or(0, |r| r.limit.len()))
        .map(|i| LimitFigures {
            stations: level(i).next().map_or(0, |f| f.stations),
            events_per_s: median(level(i).map(|f| f.events_per_s)),
            fsyncs_per_write: median(level(i).map(|f| f.fsyncs_per_write)),
        })
        .collect()
}

impl Report {
    /// The readable table for stdout.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "durable ingest over HTTP on loopback vs raw append + fdatasync ({} B records): \
             medians of {} run(s) of {} s per row\n",
            self.record_bytes, self.runs, self.seconds
        ));
        out.push_str(&format!(
            "{:>8} {:>10} {:>15} {:>8} {:>8} {:>8} {:>12} {:>10} {:>9}\n",
            "stations", "events/s", "runs min-max", "p50 ms", "p99 ms", "max ms", "fsyncs/write", "limit/s", "ours/lim"
        ));
        for (n, (i, l)) in self.ingest.iter().zip(&self.limit).enumerate() {
            let rates = || {
                self.per_run
                    .iter()
                    .filter_map(|r| r.ingest.get(n))
                    .map(|f| f.events_per_s)
            };
            let (low, high) = (rates().fold(f64::INFINITY, f64::min), rates().fold(0.0, f64::max));
            let ratio = ratio_to_limit(&self.per_run, n);
            out.push_str(&format!(
                "{:>8} {:>10.0} {:>15} {:>8.2} {:>8.2} {:>8.2} {:>12.3} {:>10.0} {:>9.2}\n",
                i.stations,
                i.events_per_s,
                format!("{low:.0}-{high:.0}"),
                i.p50_ms,
                i.p99_ms,
                i.max_ms,
                i.fsyncs_per_write,
                l.events_per_s,
                ratio
            ));
        }
        let f = &self.footprint;
        out.push_str(&format!(
            "footprint: RSS idle {:.1} MiB, RSS after {} events {:.1} MiB, store {:.1} MiB = {:.0} B/event, \
             cold start {:.1} ms\n",
            f.rss_idle_mb,
            f.events,
            f.rss_loaded_mb,
            f.store_bytes as f64 / MIB,
            f.bytes_per_event,
            f.cold_start_s * 1e3
        ));
        out
    }
}

/// The real server, in this process, on an ephemeral loopback port, with one receiver token per
/// station (`bench-0`, `bench-1`, …).
#[derive(Debug)]
pub struct LoopbackServer {
    pub addr: std::net::SocketAddr,
    pub store: Store,
    /// `(station, bearer token)`.
    stations: Vec<(String, String)>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// When a load phase ends.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this long.
    Elapsed(Duration),
    /// After this many acknowledged writes (latencies are not kept, so memory stays flat).
    Count(u64),
}

impl LoopbackServer {
    /// Starts the server on the embedded defaults (no sinks, no devices, rate limit at its
    /// maximum) with its store in `store_dir`.
    pub async fn start(store_dir: &Path, stations: usize) -> anyhow::Result<LoopbackServer> {
        let mut config = Config::load(None, [], &FlagOverrides::default())?;
        config.server.listen = "127.0.0.1:0".parse()?;
        config.store.data_dir = store_dir.to_owned();
        // The per-token rate limit protects a site from a runaway station; here it would only
        // cap what is measured (64 × 50/s), so it is raised to its maximum.
        config.server.rate_limit_per_second = 100_000;
        config.server.rate_limit_burst = 100_000;
        let app = App::build(&config).await?;
        let addr = app.local_addr();
        let store = app.store().clone();
        let mut tokens = Vec::new();
        for i in 0..stations {
            let station = format!("bench-{i}");
            let id = StationId::parse(&station).map_err(|e| anyhow::anyhow!("station id {station}: {e}"))?;
            tokens.push((
                station,
                tokens::create(&store, id, Role::Receiver, ingest::now_ms())?.token,
            ));
        }
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stop_rx.await;
        }));
        Ok(LoopbackServer {
            addr,
            store,
            stations: tokens,
            stop,
            task,
        })
    }

    /// `stations` concurrent stations post receipts until `until`; the figures of the phase.
    pub async fn load_for(
        &self,
        stations: usize,
        until: Until,
        progress: &Progress,
        label: &str,
    ) -> anyhow::Result<IngestFigures> {
        anyhow::ensure!(
            stations <= self.stations.len(),
            "only {} station tokens",
            self.stations.len()
        );
        let syncs_before = self.store.sync_stats().syncs.load(Ordering::Relaxed);
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let (deadline, budget) = match until {
            Until::Elapsed(d) => (Some(started + d), None),
            Until::Count(n) => (None, Some(Arc::new(AtomicU64::new(n)))),
        };
        let mut workers = Vec::new();
        for (station, token) in &self.stations[..stations] {
            let (station, token) = (station.clone(), token.clone());
            let (addr, done, budget) = (self.addr, done.clone(), budget.clone());
            workers.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let url = format!("http://{addr}/v1/parcels");
                let mut latencies = Vec::new();
                loop {
                    let go_on = match (&deadline, &budget) {
                        (Some(deadline), _) => Instant::now() < *deadline,
                        (_, Some(left)) => left
                            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                            .is_ok(),
                        _ => false,
                    };
                    if !go_on {
                        break;
                    }
                    let key = uuid::Uuid::now_v7().to_string();
                    let body = serde_json::json!({"station": station, "label": format!("BENCH-{key}"), "weight_g": 1200,
                        "lines": [{"sku": "SKU-1", "qty": 1}]});
                    let sent = Instant::now();
                    let res = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("Idempotency-Key", &key)
                        .json(&body)
                        .send()
                        .await
                        .context("posting a receipt")?;
                    anyhow::ensure!(res.status() == 201, "a receipt was answered {}", res.status());
                    if deadline.is_some() {
                        latencies.push(sent.elapsed());
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(latencies)
            }));
        }
        let total = match until {
            Until::Elapsed(d) => format!("{:.0} s", d.as_secs_f64()),
            Until::Count(n) => format!("{n} events"),
        };
        let ticker = progress.ticker(label.to_owned(), total, done.clone());
        let mut latencies = Vec::new();
        for worker in workers {
            latencies.extend(worker.await.context("load task")??);
        }
        ticker.abort();
        progress.done();
        let elapsed = started.elapsed().as_secs_f64();
        let acknowledged = done.load(Ordering::Relaxed);
        let syncs = self.store.sync_stats().syncs.load(Ordering::Relaxed) - syncs_before;
        latencies.sort();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len().max(1) - 1) as f64 * p) as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        Ok(IngestFigures {
            stations,
            acknowledged,
            events_per_s: acknowledged as f64 / elapsed,
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            max_ms: pct(1.0),
            fsyncs_per_write: syncs as f64 / acknowledged.max(1) as f64,
        })
    }

    /// Size of the first stored event record as the store encodes it (key not included).
    pub fn record_bytes(&self) -> anyhow::Result<usize> {
        let event = self.store.event(1)?.context("no event stored yet")?;
        Ok(encoding::encode(&event).len())
    }

    /// Stops the server gracefully (the store is flushed and closed).
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("server task")?
    }
}

/// The progress line on stderr (`\r`-rewritten once a second while a phase runs).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub enabled: bool,
}

impl Progress {
    /// Prints `label` as the current phase.
    pub fn line(&self, label: &str) {
        if self.enabled {
            eprint!("\rbench: {label:<60}");
            let _ = std::io::stderr().flush();
        }
    }

    /// Ends the current phase's line.
    pub fn done(&self) {
        if self.enabled {
            eprintln!();
        }
    }

    fn ticker(&self, label: String, total: String, done: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
        let this = *self;
        let started = Instant::now();
        tokio::spawn(async move {
            loop {
                let line = format!(
                    "{label}: {:.0} s of {total}, {} events",
                    started.elapsed().as_secs_f64(),
                    done.load(Ordering::Relaxed)
                );
                this.line(&line);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}

/// A record and where to say it is durable.
type Queued = (Vec<u8>, mpsc::SyncSender<std::io::Result<()>>);

/// `writers` threads append `record_bytes` records to `path` for `seconds`, acknowledged only after
/// an `fdatasync` that started after they were queued; one flusher thread batches them.
fn raw_log_limit(
    path: &Path,
    writers: usize,
    record_bytes: usize,
    seconds: Duration,
    progress: &Progress,
    label: &str,
) -> anyhow::Result<LimitFigures> {
    progress.line(&format!("{label}: {:.0} s", seconds.as_secs_f64()));
    let file = OpenOptions::new().create(true).truncate(true).write(true).open(path)?;
    let mut log = RawLog {
        file,
        position: 0,
        allocated: 0,
    };
    log.reserve(1)?;
    File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()?;
    let (queue, queued) = mpsc::channel::<Queued>();
    let preparing = Arc::new(AtomicUsize::new(0));
    let flusher = {
        let preparing = preparing.clone();
        std::thread::spawn(move || flush_raw_log(log, &queued, &preparing))
    };
    let started = Instant::now();
    let deadline = started + seconds;
    let acknowledged = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (queue, preparing) = (queue.clone(), preparing.clone());
                scope.spawn(move || -> anyhow::Result<u64> {
                    let (tx, rx) = mpsc::sync_channel(1);
                    let mut count = 0u64;
                    while Instant::now() < deadline {
                        // Announced before the record is built, like a store writer before its transaction.
                        preparing.fetch_add(1, Ordering::AcqRel);
                        let record = vec![(w as u8).wrapping_add(count as u8); record_bytes];
                        let sent = queue.send((record, tx.clone()));
                        preparing.fetch_sub(1, Ordering::AcqRel);
                        sent.map_err(|_| anyhow::anyhow!("the raw-log flusher stopped"))?;
                        rx.recv().context("the raw-log flusher stopped")??;
                        count += 1;
                    }
                    Ok(count)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("a raw-log writer panicked"))?)
            .sum::<anyhow::Result<u64>>()
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    drop(queue);
    let syncs = flusher
        .join()
        .map_err(|_| anyhow::anyhow!("the raw-log flusher panicked"))??;
    progress.done();
    Ok(LimitFigures {
        stations: writers,
        events_per_s: acknowledged as f64 / elapsed,
        fsyncs_per_write: syncs as f64 / acknowledged.max(1) as f64,
    })
}

/// The raw log's group commit; returns the number of `fdatasync`s.
fn flush_raw_log(mut log: RawLog, queued: &mpsc::Receiver<Queued>, preparing: &AtomicUsize) -> std::io::Result<u64> {
    let mut syncs = 0;
    let mut buffer = Vec::new();
    while let Ok(first) = queued.recv() {
        let mut batch = vec![first];
        let started = Instant::now();
        loop {
            batch.extend(queued.try_iter());
            if preparing.load(Ordering::Acquire) == 0 || started.elapsed() >= GATHER {
                break;
            }
            std::thread::sleep(Duration::from_micros(20));
        }
        batch.extend(queued.try_iter());
        buffer.clear();
        for (record, _) in &batch {
            buffer.extend_from_slice(record);
        }
        let result = log.append(&buffer).and_then(|()| log.file.sync_data());
        syncs += 1;
        for (_, answer) in batch {
            let _ = answer.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            });
        }
        result?;
    }
    Ok(syncs)
}

/// The raw log: records written one after another into a preallocated file.
struct RawLog {
    file: File,
    position: u64,
    allocated: u64,
}

impl RawLog {
    /// Writes `bytes` at the end of the log (not yet synced).
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.reserve(bytes.len() as u64)?;
        self.file.write_all_at(bytes, self.position)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Makes sure `len` more bytes fit in already allocated, synced space.
    fn reserve(&mut self, len: u64) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let zeros = vec![0u8; 1 << 20];
        while self.position + len > self.allocated {
            for _ in 0..LOG_CHUNK / zeros.len() as u64 {
                self.file.write_all_at(&zeros, self.allocated)?;
                self.allocated += zeros.len() as u64;
            }
            self.file.sync_all()?;
        }
        Ok(())
    }
}

/// Runs `returns-edge bench --cold-start-child DIR` and reads the milliseconds it printed.
fn cold_start_in_child(store_dir: &Path) -> anyhow::Result<f64> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let out = std::process::Command::new(exe)
        .arg("bench")
        .arg("--cold-start-child")
        .arg(store_dir)
        .output()
        .context("starting the cold-start child")?;
    anyhow::ensure!(
        out.status.success(),
        "the cold-start child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).context("the cold-start child's answer")?;
    answer["cold_start_ms"]
        .as_f64()
        .context("no cold_start_ms in the child's answer")
}

/// The child side: opens the store in `dir` as `serve` would (recovery included), prints
/// `{"cold_start_ms": …, "rss_bytes": …}` and closes it.
pub fn cold_start_child(dir: &Path) -> anyhow::Result<()> {
    let config = Config::load(None, [], &FlagOverrides::default())?;
    let options = StoreOptions {
        cache_capacity_bytes: config.store.cache_capacity_mb * 1024 * 1024,
        site: Some(config.site.clone()),
    };
    let started = Instant::now();
    let store = Store::open(dir, &options)?;
    let took = started.elapsed();
    let rss = rss_bytes()?;
    store.close()?;
    println!(
        "{}",
        serde_json::json!({"cold_start_ms": took.as_secs_f64() * 1e3, "rss_bytes": rss})
    );
    Ok(())
}

/// This process's resident set (`VmRSS` in `/proc/self/status`).
pub fn rss_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kb * 1024)
}

/// Sum of the sizes of the files under `dir` (also used by the peer benchmark).
pub fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// A fresh directory `returns-edge-bench-<pid>-<ms>` under the parent, removed on drop.
#[derive(Debug)]
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn create(parent: &Path) -> anyhow::Result<ScratchDir> {
        let path = parent.join(format!(
            "returns-edge-bench-{}-{}",
            std::process::id(),
            ingest::now_ms()
        ));
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("bench: could not remove {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_or_the_mean_of_the_two_middles() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median([7.0]), 7.0);
        assert_eq!(median([]), 0.0);
    }

    #[test]
    fn medians_are_per_level_and_per_figure() {
        let row = |stations, events_per_s, p99_ms| IngestFigures {
            stations,
            acknowledged: events_per_s as u64,
            events_per_s,
            p50_ms: 1.0,
            p99_ms,
            max_ms: p99_ms,
            fsyncs_per_write: 0.5,
        };
        let run = |a, b, p99| RunFigures {
            ingest: vec![row(1, a, p99), row(64, b, p99)],
            limit: vec![],
        };
        // The run with the median rate is not the one with the median p99: each figure is its own median.
        let runs = [
            run(100.0, 1000.0, 9.0),
            run(300.0, 3000.0, 1.0),
            run(200.0, 2000.0, 5.0),
        ];
        let medians = median_ingest(&runs);
        assert_eq!(medians.len(), 2);
        assert_eq!((medians[0].stations, medians[0].events_per_s), (1, 200.0));
        assert_eq!((medians[1].stations, medians[1].events_per_s), (64, 2000.0));
        assert_eq!(medians[1].p99_ms, 5.0);
    }
}

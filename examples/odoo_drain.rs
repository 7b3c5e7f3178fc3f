//! Drain of a backlog to a fake Odoo with the latencies measured on a real Odoo 17
//! (`Latency::Odoo17`, from `shared/odoo17/20_timing_summary.json`: ~25 ms per call, create with
//! one move ~59 ms, validate ~88 ms, a create of 50 moves ~96 ms), one picking per call versus
//! batched, and how the drain time grows with the backlog.
//!
//! For each N the backlog is recorded once through the real write path (`Ingest`, durable, 64
//! writers at once so that building 100k events takes seconds, not minutes) while no dispatcher
//! runs: N/2 parcels without RMA, each received, inspected and disposed — restock, except every
//! `--scrap-every`-th case which is scrapped. Receipts and restocks batch together ("transfer");
//! scraps go one at a time, so the dispatcher must skip past them when it forms a batch. The
//! store is then closed and copied for each mode, so every mode drains the same backlog.
//!
//! Besides wall time it reports the CPU time per event of this process without the fake Odoo
//! (the fake runs on its own runtime thread): that figure stays flat if nothing on our side
//! (dispatcher scheduling, `take_batch`, store reads) grows with the backlog. It also times one
//! `Store::sink_counts` (a scan of the sink's outbox, used by `/v1/outbox` and `/metrics`) on the
//! full backlog. A drain still running after `--max-seconds` (`--single-max-seconds` for
//! one-at-a-time, which at ~10 events/s would need hours for 100k) is stopped there; its rate is
//! measured on what was drained and the full time is printed, labelled as an extrapolation.
//!
//! Each (N, mode) is drained `--runs` times, each time from a fresh copy of the same backlog; the
//! table shows the median run by events/s with the spread of all runs, then the speed-up of
//! batched over one-at-a-time per N.
//!
//! `cargo run --release --example odoo_drain -- [--events 1000,10000,100000] [--mode both|single|batched]
//!   [--runs 3] [--max-seconds 900] [--single-max-seconds 120] [--scrap-every 10] [--concurrency 4]`
//! (`-- 100` alone, the old form, drains 100 cases = 200 events in both modes.)

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use returns_edge::config::SinkConfig;
use returns_edge::delivery::{self, DispatcherOptions};
use returns_edge::domain::*;
use returns_edge::ingest::{Ingest, Write};
use returns_edge::sinks::odoo::{OdooConfig, OdooSink};
use returns_edge::sinks::{SinkKind, SinkName};
use returns_edge::store::{Store, StoreOptions};
use returns_edge::tokens::Caller;
use returns_edge_fakes::odoo::{FakeOdoo, FakeOdooOptions, Latency};

/// Writers recording the backlog at once (group commit keeps 100k events to seconds).
const BACKLOG_WRITERS: usize = 64;

/// Name of the fake Odoo's runtime thread, so its CPU time can be told apart from ours.
const FAKE_THREAD: &str = "fake-odoo";

fn main() -> anyhow::Result<()> {
    let args = Args::parse(std::env::args().skip(1))?;
    // The fake Odoo gets a runtime (and thread) of its own; ours runs the store, dispatcher and sink.
    let fake_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(FAKE_THREAD)
        .enable_all()
        .build()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("drain")
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(&args, fake_runtime.handle()));
    drop(runtime);
    fake_runtime.shutdown_background();
    result
}

async fn run(args: &Args, fake: &tokio::runtime::Handle) -> anyhow::Result<()> {
    println!(
        "drain of a backlog to the fake Odoo (Latency::Odoo17), delivery concurrency {}, every {}th case scrapped",
        args.concurrency, args.scrap_every
    );
    println!("load at start: {}", loadavg());
    let mut rows = Vec::new();
    for &events in &args.events {
        let scratch = tempfile::tempdir_in(".")?;
        let backlog = scratch.path().join("backlog");
        let built = Instant::now();
        build_backlog(&backlog, events / 2, args.scrap_every).await?;
        let counts_ms = time_sink_counts(&backlog)?;
        eprintln!(
            "N = {events}: backlog recorded in {:.1} s; one sink_counts scan takes {counts_ms:.1} ms",
            built.elapsed().as_secs_f64()
        );
        for (mode, max_batch) in args.modes() {
            let mut runs = Vec::new();
            for run in 1..=args.runs {
                let copy = scratch.path().join(mode);
                copy_dir(&backlog, &copy)?;
                let row = drain(&copy, events, max_batch, args, fake, counts_ms).await?;
                eprintln!("  run {run}/{}: {}", args.runs, row.line());
                runs.push(row);
                std::fs::remove_dir_all(&copy)?;
            }
            rows.push(Median::of(runs));
        }
    }
    println!("median run of {} by events/s, with the range over the runs", args.runs);
    println!(
        "{:>7} {:>8} {:>8} {:>9} {:>9} {:>8} {:>10} {:>11} {:>11} {:>12} {:>15}",
        "N",
        "mode",
        "drained",
        "seconds",
        "events/s",
        "calls",
        "calls/ev",
        "our cpu/ev",
        "fake cpu/ev",
        "sink_counts",
        "runs events/s"
    );
    for median in &rows {
        println!(
            "{} {:>15}",
            median.row.line(),
            format!("{:.1}-{:.1}", median.low, median.high)
        );
    }
    print_speedup(&rows);
    let rows: Vec<Row> = rows.into_iter().map(|m| m.row).collect();
    for row in rows.iter().filter(|r| r.drained < r.events) {
        let projected = row.events as f64 / row.events_per_s();
        println!(
            "EXTRAPOLATED, not measured: {} at N = {} stopped after {:.0} s with {} of {} drained; at the measured \
             {:.1} events/s the whole backlog would take {:.0} s ({:.1} h)",
            row.mode,
            row.events,
            row.seconds,
            row.drained,
            row.events,
            row.events_per_s(),
            projected,
            projected / 3600.0
        );
    }
    print_growth(&rows);
    println!("load at end: {}", loadavg());
    Ok(())
}

/// Command-line flags.
#[derive(Debug)]
struct Args {
    events: Vec<u64>,
    single: bool,
    batched: bool,
    max_seconds: f64,
    /// One-at-a-time drains at ~10 events/s: 100k would take hours, so they get their own cap.
    single_max_seconds: f64,
    scrap_every: u64,
    concurrency: usize,
    /// Drains per (N, mode); the median one is reported.
    runs: usize,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
        let mut parsed = Args {
            events: vec![1_000, 10_000, 100_000],
            single: true,
            batched: true,
            max_seconds: 900.0,
            single_max_seconds: 120.0,
            scrap_every: 10,
            concurrency: DispatcherOptions::default().concurrency,
            runs: 3,
        };
        let args: Vec<String> = args.collect();
        if let [cases] = args.as_slice() {
            // The original form: a number of cases, two Odoo events each.
            parsed.events = vec![cases.parse::<u64>()? * 2];
            return Ok(parsed);
        }
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let value = args.next().with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--events" => parsed.events = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
                "--mode" => {
                    (parsed.single, parsed.batched) = match value.as_str() {
                        "both" => (true, true),
                        "single" => (true, false),
                        "batched" => (false, true),
                        other => anyhow::bail!("--mode is both, single or batched, not {other}"),
                    }
                }
                "--max-seconds" => parsed.max_seconds = value.parse()?,
                "--single-max-seconds" => parsed.single_max_seconds = value.parse()?,
                "--scrap-every" => parsed.scrap_every = value.parse()?,
                "--concurrency" => parsed.concurrency = value.parse()?,
                "--runs" => parsed.runs = value.parse()?,
                other => anyhow::bail!("unknown flag {other}; see the header of examples/odoo_drain.rs"),
            }
        }
        anyhow::ensure!(parsed.scrap_every > 0, "--scrap-every must be positive");
        anyhow::ensure!(parsed.runs > 0, "--runs must be at least 1");
        Ok(parsed)
    }

    /// `(mode, max_batch)` of each mode to run.
    fn modes(&self) -> Vec<(&'static str, usize)> {
        let mut modes = Vec::new();
        if self.single {
            modes.push(("single", 1));
        }
        if self.batched {
            modes.push(("batched", 50));
        }
        modes
    }
}

/// One drain.
#[derive(Debug)]
struct Row {
    events: u64,
    mode: &'static str,
    drained: u64,
    seconds: f64,
    calls: usize,
    our_cpu_s: f64,
    fake_cpu_s: f64,
    sink_counts_ms: f64,
}

impl Row {
    fn events_per_s(&self) -> f64 {
        self.drained as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    fn line(&self) -> String {
        let per = |x: f64| x / self.drained.max(1) as f64;
        format!(
            "{:>7} {:>8} {:>8} {:>9.1} {:>9.1} {:>8} {:>10.2} {:>8.0} µs {:>8.0} µs {:>9.1} ms",
            self.events,
            self.mode,
            self.drained,
            self.seconds,
            self.events_per_s(),
            self.calls,
            per(self.calls as f64),
            per(self.our_cpu_s) * 1e6,
            per(self.fake_cpu_s) * 1e6,
            self.sink_counts_ms
        )
    }
}

/// The median of several drains of one (N, mode), by events/s, and the range of all of them.
#[derive(Debug)]
struct Median {
    row: Row,
    low: f64,
    high: f64,
}

impl Median {
    fn of(mut runs: Vec<Row>) -> Median {
        runs.sort_by(|a, b| a.events_per_s().total_cmp(&b.events_per_s()));
        let (low, high) = (
            runs.first().map_or(0.0, Row::events_per_s),
            runs.last().map_or(0.0, Row::events_per_s),
        );
        let row = runs.swap_remove(runs.len() / 2);
        Median { row, low, high }
    }
}

/// Batched events/s over one-at-a-time events/s at each N where both ran (issue 7 asks ≥ 20×).
fn print_speedup(rows: &[Median]) {
    for single in rows.iter().filter(|m| m.row.mode == "single") {
        let batched = rows
            .iter()
            .find(|m| m.row.mode == "batched" && m.row.events == single.row.events);
        if let Some(batched) = batched {
            println!(
                "N = {}: batched drains {:.1}x faster than one at a time ({:.1} vs {:.1} events/s, medians)",
                single.row.events,
                batched.row.events_per_s() / single.row.events_per_s().max(f64::MIN_POSITIVE),
                batched.row.events_per_s(),
                single.row.events_per_s()
            );
        }
    }
}

/// Seconds per 1k events between consecutive measured sizes of one mode: flat means linear.
fn print_growth(rows: &[Row]) {
    println!("growth (measured rows only): seconds per 1000 events drained, and our CPU per event");
    for mode in ["single", "batched"] {
        let measured: Vec<&Row> = rows.iter().filter(|r| r.mode == mode).collect();
        if measured.is_empty() {
            continue;
        }
        let cells: Vec<String> = measured
            .iter()
            .map(|r| {
                format!(
                    "N={}: {:.2} s/1k, {:.0} µs cpu{}",
                    r.events,
                    r.seconds / r.drained.max(1) as f64 * 1000.0,
                    r.our_cpu_s / r.drained.max(1) as f64 * 1e6,
                    if r.drained < r.events { " (partial)" } else { "" }
                )
            })
            .collect();
        println!("  {mode:>8}: {}", cells.join("  |  "));
    }
}

fn store_options(site: &SiteId) -> StoreOptions {
    StoreOptions {
        cache_capacity_bytes: 32 << 20,
        site: Some(site.clone()),
    }
}

fn site() -> anyhow::Result<SiteId> {
    Ok(SiteId::parse("bench")?)
}

fn sink_config(odoo: OdooConfig) -> anyhow::Result<Vec<SinkConfig>> {
    Ok(vec![SinkConfig {
        name: SinkName::parse("odoo").map_err(anyhow::Error::msg)?,
        kind: SinkKind::Odoo,
        odoo: Some(odoo),
        refund: None,
    }])
}

/// The sink's configuration for a fake Odoo at `url` (or a placeholder while recording).
fn odoo_config(url: &str, db: &str, login: &str, secret: &Path, max_batch: usize) -> anyhow::Result<OdooConfig> {
    Ok(toml::from_str(&format!(
        "url = \"{url}\"\ndatabase = \"{db}\"\nlogin = \"{login}\"\nsecret_file = \"{}\"\nmax_batch = {max_batch}\n",
        secret.display()
    ))?)
}

/// Records `cases` parcels (received, inspected, disposed) in a new store at `dir`, then closes it.
async fn build_backlog(dir: &Path, cases: u64, scrap_every: u64) -> anyhow::Result<()> {
    let site = site()?;
    std::fs::create_dir_all(dir)?;
    let secret = dir.with_extension("secret");
    std::fs::write(&secret, "unused while recording")?;
    let config = odoo_config("http://127.0.0.1:9", "db", "login", &secret, 50)?;
    let store = Store::open(dir, &store_options(&site))?;
    let ingest = Ingest::new(store.clone(), site, Policy::default(), sink_config(config)?);
    let caller = Caller {
        token: TokenId::parse("t")?,
        station: StationId::parse("dock-1")?,
        role: Role::Admin,
    };
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..BACKLOG_WRITERS {
        let (ingest, caller, next) = (ingest.clone(), caller.clone(), next.clone());
        writers.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= cases {
                    return anyhow::Ok(());
                }
                record_case(&ingest, &caller, i, i % scrap_every == scrap_every - 1).await?;
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done??;
    }
    drop(ingest);
    store.close()?;
    Ok(())
}

/// One parcel without RMA: received (one line), inspected, then restocked or scrapped.
async fn record_case(ingest: &Ingest, caller: &Caller, i: u64, scrap: bool) -> anyhow::Result<()> {
    let write = |step: &str, case: Option<CaseId>, command: Command| Write {
        caller: caller.clone(),
        idempotency_key: format!("{step}-{i}"),
        fingerprint: format!("{step}-{i}"),
        case,
        command,
    };
    let receive = Command::Receive(ReceiveParcel {
        label: Barcode::parse(&format!("L{i}"))?,
        weight: None,
        scale: None,
        rma: None,
        lines: vec![NewLine {
            sku: Some(Sku::parse("E-COM07")?),
            barcode: None,
            qty: Qty::new(1)?,
            serial: None,
        }],
        expected: None,
        expectations_known: false,
        received_at_ms: 0,
    });
    let answer = ingest.execute(write("r", None, receive)).await?;
    let body: serde_json::Value = serde_json::from_str(&answer.body)?;
    let case = CaseId::parse(body["case_id"].as_str().unwrap_or_default())?;
    let inspect = Command::Inspect(Inspect {
        line: LineNo::new(1)?,
        qty: None,
        grade: Grade::parse(if scrap { "F" } else { "A" })?,
        conditions: vec![],
        serial: None,
        notes: None,
        corrects: None,
    });
    ingest.execute(write("i", Some(case), inspect)).await?;
    let dispose = Command::Dispose(Dispose {
        line: LineNo::new(1)?,
        qty: None,
        disposition: Some(Disposition::parse(if scrap { "scrap" } else { "restock" })?),
    });
    ingest.execute(write("d", Some(case), dispose)).await?;
    Ok(())
}

/// Milliseconds of one `sink_counts` on the closed backlog at `dir` (reopened, warm second call).
fn time_sink_counts(dir: &Path) -> anyhow::Result<f64> {
    let store = Store::open(dir, &store_options(&site()?))?;
    store.sink_counts("odoo")?;
    let started = Instant::now();
    let counts = store.sink_counts("odoo")?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(counts.pending > 0, "the backlog has no pending entries");
    store.close()?;
    Ok(ms)
}

/// Drains the backlog at `dir` with `max_batch`, until all `events` are settled or `--max-seconds`.
async fn drain(
    dir: &Path,
    events: u64,
    max_batch: usize,
    args: &Args,
    fake: &tokio::runtime::Handle,
    sink_counts_ms: f64,
) -> anyhow::Result<Row> {
    let odoo = fake
        .spawn(FakeOdoo::start(FakeOdooOptions {
            latency: Latency::Odoo17,
            ..FakeOdooOptions::default()
        }))
        .await?;
    let secret = dir.with_extension("secret");
    std::fs::write(&secret, odoo.password())?;
    let config = odoo_config(&odoo.url(), odoo.db(), odoo.login(), &secret, max_batch)?;
    let site = site()?;
    let store = Store::open(dir, &store_options(&site))?;
    let pending = store.sink_counts("odoo")?.pending as u64;
    anyhow::ensure!(
        pending == events,
        "the backlog holds {pending} entries, expected {events}"
    );
    let before_calls = odoo.total_calls();
    let cpu_before = cpu_by_thread()?;
    let started = Instant::now();
    let (handle, task) = delivery::spawn(
        "odoo".into(),
        OdooSink::new(config, site).map_err(anyhow::Error::msg)?,
        store.clone(),
        DispatcherOptions {
            concurrency: args.concurrency,
            ..DispatcherOptions::default()
        },
    );
    let cap = if max_batch == 1 {
        args.single_max_seconds
    } else {
        args.max_seconds
    };
    let deadline = started + Duration::from_secs_f64(cap);
    // The dispatcher's own counters, not `sink_counts`: polling an O(backlog) scan every few ms
    // would measure the poll, not the drain.
    let settled = |h: &delivery::SinkHandle| {
        let s = h.status();
        s.delivered + s.rejected
    };
    while settled(&handle) < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let status = handle.status();
    let cpu_after = cpu_by_thread()?;
    handle.shutdown();
    task.await?;
    let calls = odoo.total_calls() - before_calls;
    store.close()?;
    if status.rejected > 0 {
        eprintln!(
            "  note: {} entries dead-lettered (last error: {:?})",
            status.rejected, status.last_error
        );
    }
    drop(odoo);
    let (mut ours, mut theirs) = (0.0, 0.0);
    for (tid, (name, after)) in &cpu_after {
        let before = cpu_before.get(tid).map_or(0.0, |(_, b)| *b);
        if name.starts_with(FAKE_THREAD) {
            theirs += after - before;
        } else {
            ours += after - before;
        }
    }
    Ok(Row {
        events,
        mode: if max_batch == 1 { "single" } else { "batched" },
        drained: status.delivered + status.rejected,
        seconds,
        calls,
        our_cpu_s: ours,
        fake_cpu_s: theirs,
        sink_counts_ms,
    })
}

/// CPU seconds (user + system) of each live thread of this process, by thread id, with its name.
fn cpu_by_thread() -> anyhow::Result<HashMap<u32, (String, f64)>> {
    // Clock ticks are 100 per second on every Linux this runs on (sysconf(_SC_CLK_TCK)).
    const TICKS: f64 = 100.0;
    let mut out = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task")? {
        let path = task?.path();
        let Some(tid) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok()) else {
            continue;
        };
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        out.insert(tid, (name.trim().to_owned(), (ticks(11) + ticks(12)) / TICKS));
    }
    Ok(out)
}

/// Copies the (closed) store directory `from` to `to`, file by file.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The machine's load averages (other builders share the cores).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "unknown".into())
}

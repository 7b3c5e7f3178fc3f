//! Peer comparison (issue 7): the same durable write workload on our store and on SQLite, side by
//! side. A developer's benchmark, not part of the shipped binary (SQLite is a dev-dependency).
//!
//! The workload is what ingest does for one command: read the Idempotency-Key, read the case,
//! let the domain decide (`domain::decide` + `domain::apply`), then write in ONE transaction the
//! event, the case projection (which grows with every event of its case), the case index entry,
//! the idempotency record and one outbox entry per sink that wants the event; the writer is told
//! only once that is durable. Each writer works through cases of `--lines` lines: a receipt, then
//! an inspection and a disposition per line, so a case collects `1 + 2 × lines` events.
//!
//! - **ours**: `Store::record` with the same decide step, then a sync ticket (`execute_blocking`'s
//!   path: group commit, sled flush + `fdatasync`).
//! - **SQLite** (rusqlite, bundled): WAL, `synchronous=FULL`, one writer thread that owns the
//!   connection, takes every command queued, runs each in its own SAVEPOINT and COMMITs the batch
//!   once (one WAL sync per group), then answers the batch — group commit as a careful engineer
//!   would build it on SQLite. Values are the bytes of our own encoding (`store::encoding`), keys
//!   carry the same information (16-byte case ids, u64 sequence numbers, station + key).
//!
//! Both run in fresh directories under `--dir` (default: the current directory, so the same
//! filesystem), alternately, `--runs` times per concurrency; the table shows medians.
//!
//! `cargo run --release --example peer_sqlite -- [--writers 1,16,64] [--seconds 3] [--warmup 1] [--runs 3] [--lines 3] [--dir DIR]`
//! `cargo run --release --example peer_sqlite -- --footprint 200000 [--dir DIR]`: instead of the
//! comparison, N one-line receipts (what `returns-edge bench` stores) from 64 writers into each
//! engine, then each data directory file by file, in bytes per event, beside the live record bytes.
//!
//! It is an example rather than a `benches/` target so that `cargo test` compiles it (it cannot
//! rot) and runs its smoke test (`test = true` in Cargo.toml), while the real run stays manual.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context;
use returns_edge::domain::{
    self, Actor, Barcode, Case, CaseError, CaseId, Command, Condition, Dispose, Disposition, EventId, Grade, Inspect,
    LineNo, NewLine, Policy, Qty, ReceiveParcel, Role, SiteId, Sku, StationId, TokenId,
};
use returns_edge::ingest::now_ms;
use returns_edge::sinks::SinkKind;
use returns_edge::store::encoding::encode;
use returns_edge::store::{
    encoding, Commit, EventRecord, IdempotencyRecord, IdempotentRequest, OutboxEntry, RecordError, Store, StoreOptions,
};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// SQLite's default `wal_autocheckpoint` (1000 pages) at its default page size (4096 B).
const WAL_AUTOCHECKPOINT_BYTES: u64 = 1000 * 4096;

/// The sink every receipt and disposition is queued for (its kind decides which events it wants).
const SINK: &str = "odoo";

fn main() -> anyhow::Result<()> {
    let args = Args::parse(std::env::args().skip(1))?;
    std::fs::create_dir_all(&args.dir)?;
    println!(
        "peer comparison: one transaction per command (event + case projection + index + idempotency + outbox), \
         durable before the answer; cases of {} lines ({} events each)",
        args.lines,
        1 + 2 * args.lines
    );
    println!("load at start: {}", uptime());
    if let Some(events) = args.footprint {
        return footprint(&args, events);
    }
    let mut rows = Vec::new();
    for &writers in &args.writers {
        let (mut ours, mut sqlite) = (Vec::new(), Vec::new());
        for run in 0..args.runs {
            // Alternate which engine goes first so that a drift in the machine's load hits both.
            let order = if run % 2 == 0 { [true, false] } else { [false, true] };
            for is_ours in order {
                let dir = tempfile::tempdir_in(&args.dir)?;
                let figures = if is_ours {
                    run_ours(dir.path(), writers, args.phases(), args.shape())?
                } else {
                    run_sqlite(dir.path(), writers, args.phases(), args.shape())?
                };
                eprintln!(
                    "  {writers:>2} writers, run {}, {:<6}: {:>7.0} events/s ({} events, {:.0} B/event on disk)",
                    run + 1,
                    if is_ours { "ours" } else { "sqlite" },
                    figures.events_per_s,
                    figures.events,
                    figures.disk_bytes as f64 / figures.events.max(1) as f64
                );
                if is_ours { &mut ours } else { &mut sqlite }.push(figures);
            }
        }
        rows.push((writers, Summary::of(&ours), Summary::of(&sqlite)));
    }
    println!(
        "{:>7} {:>10} {:>10} {:>11} {:>16} {:>16} {:>11} {:>11} {:>9} {:>9}",
        "writers",
        "ours ev/s",
        "sqlite/s",
        "ours/sqlite",
        "ours p50/p99 ms",
        "sqlite p50/p99",
        "ours sync/w",
        "sqlite c/w",
        "ours B/ev",
        "sqlite B/ev"
    );
    for (writers, ours, sqlite) in &rows {
        println!(
            "{:>7} {:>10.0} {:>10.0} {:>11.2} {:>7.2} / {:>6.2} {:>7.2} / {:>6.2} {:>11.3} {:>11.3} {:>9.0} {:>9.0}",
            writers,
            ours.events_per_s,
            sqlite.events_per_s,
            ours.events_per_s / sqlite.events_per_s.max(f64::MIN_POSITIVE),
            ours.p50_ms,
            ours.p99_ms,
            sqlite.p50_ms,
            sqlite.p99_ms,
            ours.syncs_per_write,
            sqlite.syncs_per_write,
            ours.disk_bytes_per_event,
            sqlite.disk_bytes_per_event
        );
    }
    println!(
        "medians of {} runs of {:.1} s per cell; sync/w = fdatasync groups (ours) or COMMITs (sqlite) per write; \
         B/ev = data directory bytes / events after the run (sled preallocates, so short runs overstate it)",
        args.runs,
        args.seconds.as_secs_f64()
    );
    println!("load at end: {}", uptime());
    println!();
    print!("{}", record_sizes(args.lines, 7_000, false)?);
    print!("{}", record_sizes(1, 1_000, true)?);
    Ok(())
}

/// Command-line flags.
#[derive(Debug)]
struct Args {
    writers: Vec<usize>,
    seconds: Duration,
    runs: usize,
    lines: u32,
    warmup: Duration,
    /// Instead of the comparison: store this many receipts on each engine and show the files.
    footprint: Option<u64>,
    dir: PathBuf,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
        let mut parsed = Args {
            writers: vec![1, 16, 64],
            seconds: Duration::from_secs(3),
            runs: 3,
            lines: 3,
            warmup: Duration::from_secs(1),
            footprint: None,
            dir: PathBuf::from("."),
        };
        while let Some(flag) = args.next() {
            let value = args.next().with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--writers" => {
                    parsed.writers = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
                }
                "--seconds" => parsed.seconds = Duration::from_secs_f64(value.parse()?),
                "--runs" => parsed.runs = value.parse()?,
                "--lines" => parsed.lines = value.parse()?,
                "--footprint" => parsed.footprint = Some(value.parse()?),
                "--warmup" => parsed.warmup = Duration::from_secs_f64(value.parse()?),
                "--dir" => parsed.dir = value.into(),
                other => anyhow::bail!("unknown flag {other}; see the header of examples/peer_sqlite.rs"),
            }
        }
        anyhow::ensure!(
            parsed.runs > 0 && parsed.lines > 0,
            "--runs and --lines must be positive"
        );
        Ok(parsed)
    }

    fn shape(&self) -> Shape {
        Shape {
            lines: self.lines,
            receipts_only: false,
        }
    }

    fn phases(&self) -> Phases {
        Phases {
            warmup: self.warmup,
            measured: Span::For(self.seconds),
        }
    }
}

/// Each run writes untimed for `warmup` first, with the same writers, then is measured for
/// `measured`: both engines are timed in their steady state (sled's segments and SQLite's WAL
/// already allocated and the WAL cycling through checkpoints), not while their files first grow.
#[derive(Debug, Clone, Copy)]
struct Phases {
    warmup: Duration,
    measured: Span,
}

/// How long a phase lasts.
#[derive(Debug, Clone, Copy)]
enum Span {
    For(Duration),
    /// Until this many commands were acknowledged (the footprint run).
    Events(u64),
}

/// What the writers' scripts look like.
#[derive(Debug, Clone, Copy)]
struct Shape {
    lines: u32,
    receipts_only: bool,
}

/// What one run measured.
#[derive(Debug, Clone)]
struct Figures {
    events: u64,
    events_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    syncs: u64,
    disk_bytes: u64,
    /// Each file of the data directory and its size, after the engine closed it.
    files: Vec<(String, u64)>,
}

/// Medians over runs.
#[derive(Debug)]
struct Summary {
    events_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    syncs_per_write: f64,
    disk_bytes_per_event: f64,
}

impl Summary {
    fn of(runs: &[Figures]) -> Summary {
        let median = |f: &dyn Fn(&Figures) -> f64| returns_edge::bench::median(runs.iter().map(f));
        Summary {
            events_per_s: median(&|f| f.events_per_s),
            p50_ms: median(&|f| f.p50_ms),
            p99_ms: median(&|f| f.p99_ms),
            syncs_per_write: median(&|f| f.syncs as f64 / f.events.max(1) as f64),
            disk_bytes_per_event: median(&|f| f.disk_bytes as f64 / f.events.max(1) as f64),
        }
    }
}

/// The identity every command is recorded under, as ingest would fill it in.
#[derive(Debug, Clone)]
struct Identity {
    site: SiteId,
    station: StationId,
    token: TokenId,
    policy: Policy,
}

impl Identity {
    fn new(writer: usize) -> anyhow::Result<Identity> {
        Ok(Identity {
            site: SiteId::parse("site-1")?,
            station: StationId::parse(&format!("bench-{writer}"))?,
            token: TokenId::parse(&format!("tok{writer:05}"))?,
            policy: Policy::default(),
        })
    }
}

/// One command of a writer's script.
#[derive(Debug)]
struct Op {
    case: CaseId,
    /// False for a receipt: there is no case to read yet.
    case_exists: bool,
    command: Command,
    /// Like a station's: a UUID.
    key: String,
    /// Like ingest's: hex SHA-256 of the request (64 characters).
    fingerprint: String,
}

/// A writer's endless work: case after case, receipt then inspect and dispose each line.
#[derive(Debug)]
struct Script {
    lines: u32,
    /// Every command a new case's receipt (the shape `returns-edge bench` posts).
    receipts_only: bool,
    case: CaseId,
    step: u32,
    n: u64,
}

impl Script {
    fn new(lines: u32) -> Script {
        Script {
            lines,
            receipts_only: false,
            case: CaseId::generate(),
            step: 0,
            n: 0,
        }
    }

    fn next_op(&mut self) -> anyhow::Result<Op> {
        if self.step == 1 + 2 * self.lines || (self.receipts_only && self.step == 1) {
            self.case = CaseId::generate();
            self.step = 0;
        }
        let (step, lines) = (self.step, self.lines);
        let command = if step == 0 {
            Command::Receive(ReceiveParcel {
                label: Barcode::parse(&format!("1Z999AA1{:010}", self.n % 10_000_000_000))?,
                weight: None,
                scale: None,
                rma: None,
                lines: (0..lines)
                    .map(|i| {
                        Ok(NewLine {
                            sku: Some(Sku::parse(&format!("SKU-{i:04}"))?),
                            barcode: None,
                            qty: Qty::new(1)?,
                            serial: None,
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
                expected: None,
                expectations_known: false,
                received_at_ms: 0,
            })
        } else if step <= lines {
            Command::Inspect(Inspect {
                line: LineNo::new(u16::try_from(step)?)?,
                qty: None,
                grade: Grade::parse("B")?,
                conditions: vec![Condition::parse("packaging_damaged")?],
                serial: None,
                notes: None,
                corrects: None,
            })
        } else {
            Command::Dispose(Dispose {
                line: LineNo::new(u16::try_from(step - lines)?)?,
                qty: None,
                disposition: Some(Disposition::parse("restock")?),
            })
        };
        self.step += 1;
        self.n += 1;
        Ok(Op {
            fingerprint: hex::encode(Sha256::digest(
                format!("{}/{}/{command:?}", self.case, self.n).as_bytes(),
            )),
            case: self.case,
            case_exists: step > 0,
            command,
            key: uuid::Uuid::now_v7().to_string(),
        })
    }
}

/// The decide step shared by both engines: the domain's decision and fold, the answer body and
/// the sinks, exactly the shape `ingest` commits.
fn decide(ctx: &Identity, op: &Op, current: Option<Case>, seq: u64) -> Result<Commit, CaseError> {
    let actor = Actor { role: Role::Supervisor };
    let event = domain::decide(current.as_ref(), &op.command, &actor, &ctx.policy)?;
    let event_id = EventId::generate();
    let case = domain::apply(current, op.case, event_id, &event);
    let body = serde_json::json!({"case_id": op.case, "event_id": event_id, "seq": seq, "state": case.state(),
        "flags": case.open_flags()})
    .to_string();
    let sinks = if SinkKind::Odoo.wants(event.kind()) {
        vec![SINK.to_owned()]
    } else {
        vec![]
    };
    let event = EventRecord {
        seq,
        id: event_id,
        case_id: op.case,
        site: ctx.site.clone(),
        station: ctx.station.clone(),
        token: ctx.token.clone(),
        recorded_at_ms: now_ms(),
        event,
    };
    Ok(Commit {
        event,
        case,
        status: 201,
        body,
        sinks,
        follow_ups: Vec::new(),
    })
}

/// Runs `writers` threads for `seconds`; each returns its latencies.
fn drive(
    writers: usize,
    span: Span,
    shape: Shape,
    write: &(impl Fn(&Identity, Op) -> anyhow::Result<()> + Sync),
) -> anyhow::Result<(u64, f64, f64, f64)> {
    let started = Instant::now();
    let (deadline, budget) = match span {
        Span::For(d) => (Some(started + d), None),
        Span::Events(n) => (None, Some(AtomicU64::new(n))),
    };
    let go_on = || match (&deadline, &budget) {
        (Some(deadline), _) => Instant::now() < *deadline,
        (_, Some(left)) => left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok(),
        _ => false,
    };
    let go_on = &go_on;
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                scope.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let ctx = Identity::new(w)?;
                    let mut script = Script::new(shape.lines);
                    script.receipts_only = shape.receipts_only;
                    let mut latencies = Vec::new();
                    while go_on() {
                        let sent = Instant::now();
                        write(&ctx, script.next_op()?)?;
                        latencies.push(sent.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("a writer panicked"))?)
            .collect::<anyhow::Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * p) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let events = latencies.len() as u64;
    Ok((events, events as f64 / elapsed, pct(0.5), pct(0.99)))
}

/// Our store: `Store::record`, then wait for the group commit that covers it.
fn run_ours(dir: &Path, writers: usize, phases: Phases, shape: Shape) -> anyhow::Result<Figures> {
    let store = Store::open(
        dir,
        &StoreOptions {
            cache_capacity_bytes: 32 << 20,
            site: Some(SiteId::parse("site-1")?),
        },
    )?;
    let write = |ctx: &Identity, op: Op| {
        let request = IdempotentRequest {
            station: &ctx.station,
            key: &op.key,
            fingerprint: &op.fingerprint,
        };
        let in_flight = store.begin_write();
        let case = op.case_exists.then_some(op.case);
        store
            .record(&request, case, |current, seq| decide(ctx, &op, current, seq))
            .map_err(|e| match e {
                RecordError::KeyReused => anyhow::anyhow!("key reused"),
                RecordError::Refused(e) => anyhow::anyhow!("refused: {e}"),
                RecordError::Store(e) => anyhow::anyhow!("store: {e}"),
            })?;
        let ticket = store.thread_ticket()?;
        drop(in_flight);
        ticket.wait()?;
        Ok(())
    };
    drive(writers, Span::For(phases.warmup), shape, &write)?;
    let syncs_before = store.sync_stats().syncs.load(Ordering::Relaxed);
    let (events, events_per_s, p50_ms, p99_ms) = drive(writers, phases.measured, shape, &write)?;
    let syncs = store.sync_stats().syncs.load(Ordering::Relaxed) - syncs_before;
    store.close()?;
    drop(store);
    Ok(Figures {
        events,
        events_per_s,
        p50_ms,
        p99_ms,
        syncs,
        disk_bytes: returns_edge::bench::dir_bytes(dir)?,
        files: files(dir, dir)?,
    })
}

/// A command for the SQLite writer thread and where to answer it.
type Queued = (Identity, Op, mpsc::SyncSender<anyhow::Result<()>>);

/// SQLite: one writer thread, one COMMIT (WAL sync) per group of queued commands.
fn run_sqlite(dir: &Path, writers: usize, phases: Phases, shape: Shape) -> anyhow::Result<Figures> {
    let conn = open_sqlite(&dir.join("peer.db"))?;
    let (queue, queued) = mpsc::channel::<Queued>();
    let commit_count = Arc::new(AtomicU64::new(0));
    let writer = {
        let commit_count = commit_count.clone();
        std::thread::spawn(move || sqlite_writer(conn, &queued, &commit_count))
    };
    let write = |ctx: &Identity, op: Op| {
        let (tx, rx) = mpsc::sync_channel(1);
        queue
            .send((ctx.clone(), op, tx))
            .map_err(|_| anyhow::anyhow!("the SQLite writer stopped"))?;
        rx.recv().context("the SQLite writer stopped")?
    };
    drive(writers, Span::For(phases.warmup), shape, &write)?;
    // SQLite reuses its WAL from the start after each checkpoint, so in its steady state a COMMIT
    // overwrites blocks that exist and `fdatasync` has no file size to journal. Until the WAL has
    // first reached the auto-checkpoint size, every COMMIT grows it: keep warming up until then
    // (bounded, for very slow disks), as sled's segments are allocated during its warm-up.
    let wal = dir.join("peer.db-wal");
    let warm_until = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) < WAL_AUTOCHECKPOINT_BYTES && Instant::now() < warm_until {
        drive(writers, Span::For(Duration::from_millis(100)), shape, &write)?;
    }
    let commits_before = commit_count.load(Ordering::Relaxed);
    let (events, events_per_s, p50_ms, p99_ms) = drive(writers, phases.measured, shape, &write)?;
    let commits = commit_count.load(Ordering::Relaxed) - commits_before;
    drop(queue);
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the SQLite writer panicked"))??;
    Ok(Figures {
        events,
        events_per_s,
        p50_ms,
        p99_ms,
        syncs: commits,
        disk_bytes: returns_edge::bench::dir_bytes(dir)?,
        files: files(dir, dir)?,
    })
}

fn open_sqlite(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)?;
    // FULL in WAL mode syncs the WAL at every COMMIT: durable on power loss, like our 2xx.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, value BLOB NOT NULL);
         CREATE TABLE cases (id BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
         CREATE TABLE case_events (case_id BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (case_id, seq)) WITHOUT ROWID;
         CREATE TABLE idempotency (station TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                                   PRIMARY KEY (station, key)) WITHOUT ROWID;
         CREATE TABLE outbox (sink TEXT NOT NULL, seq INTEGER NOT NULL, value BLOB NOT NULL,
                              PRIMARY KEY (sink, seq)) WITHOUT ROWID;",
    )?;
    Ok(conn)
}

/// The writer thread: everything queued becomes one transaction, each command in its own
/// SAVEPOINT (a refused command must not undo the others); one COMMIT, then every answer.
/// Counts COMMITs in `commits`.
fn sqlite_writer(conn: Connection, queued: &mpsc::Receiver<Queued>, commits: &AtomicU64) -> anyhow::Result<()> {
    let mut last_seq: u64 = 0;
    while let Ok(first) = queued.recv() {
        let mut batch = vec![first];
        batch.extend(queued.try_iter());
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut answers = Vec::with_capacity(batch.len());
        for (ctx, op, answer) in batch {
            conn.execute_batch("SAVEPOINT command")?;
            let result = sqlite_command(&conn, &ctx, &op, last_seq + 1);
            match &result {
                Ok(Some(seq)) => last_seq = *seq,
                Ok(None) => {}
                Err(_) => conn.execute_batch("ROLLBACK TO command")?,
            }
            conn.execute_batch("RELEASE command")?;
            answers.push((answer, result.map(|_| ())));
        }
        let committed = conn.execute_batch("COMMIT");
        commits.fetch_add(1, Ordering::Relaxed);
        for (answer, result) in answers {
            let _ = answer.send(match (&committed, result) {
                (Ok(()), result) => result,
                (Err(e), _) => Err(anyhow::anyhow!("COMMIT failed: {e}")),
            });
        }
        committed?;
    }
    Ok(())
}

/// One command inside the open transaction; `Some(seq)` when an event was written, `None` for a
/// replayed key.
fn sqlite_command(conn: &Connection, ctx: &Identity, op: &Op, seq: u64) -> anyhow::Result<Option<u64>> {
    let replay: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM idempotency WHERE station = ?1 AND key = ?2")?
        .query_row(params![ctx.station.as_str(), op.key], |row| row.get(0))
        .optional()?;
    if let Some(bytes) = replay {
        let first: IdempotencyRecord = encoding::decode(&bytes)?;
        anyhow::ensure!(first.fingerprint == op.fingerprint, "key reused");
        return Ok(None);
    }
    let case_id = op.case.as_bytes();
    let current: Option<Case> = if op.case_exists {
        let bytes: Option<Vec<u8>> = conn
            .prepare_cached("SELECT value FROM cases WHERE id = ?1")?
            .query_row(params![&case_id[..]], |row| row.get(0))
            .optional()?;
        bytes.map(|b| encoding::decode(&b)).transpose()?
    } else {
        None
    };
    let commit = decide(ctx, op, current, seq).map_err(|e| anyhow::anyhow!("refused: {e}"))?;
    let idem = IdempotencyRecord {
        fingerprint: op.fingerprint.clone(),
        status: commit.status,
        body: commit.body.clone(),
        seq,
        created_at_ms: commit.event.recorded_at_ms,
    };
    let seq_i64 = i64::try_from(seq)?;
    conn.prepare_cached("INSERT INTO events (seq, value) VALUES (?1, ?2)")?
        .execute(params![seq_i64, encode(&commit.event)])?;
    conn.prepare_cached("INSERT OR REPLACE INTO cases (id, value) VALUES (?1, ?2)")?
        .execute(params![&case_id[..], encode(&commit.case)])?;
    conn.prepare_cached("INSERT INTO case_events (case_id, seq) VALUES (?1, ?2)")?
        .execute(params![&case_id[..], seq_i64])?;
    conn.prepare_cached("INSERT INTO idempotency (station, key, value) VALUES (?1, ?2, ?3)")?
        .execute(params![ctx.station.as_str(), op.key, encode(&idem)])?;
    for sink in &commit.sinks {
        let entry = OutboxEntry::new(seq, commit.event.id, commit.event.case_id, commit.event.recorded_at_ms);
        conn.prepare_cached("INSERT INTO outbox (sink, seq, value) VALUES (?1, ?2, ?3)")?
            .execute(params![sink, seq_i64, encode(&entry)])?;
    }
    Ok(Some(seq))
}

/// Encoded sizes of what one command writes, averaged over `events` events of one writer's
/// script (no disk involved): where the bytes per event come from, before any engine overhead.
/// Each record is shown as stored (MessagePack, named fields, in its envelope) and, for
/// comparison only, with array encoding (no field names; not allowed for stored data, DESIGN §3)
/// to show what the field names cost.
fn record_sizes(lines: u32, events: u64, receipts_only: bool) -> anyhow::Result<String> {
    #[derive(Default)]
    struct Bytes {
        named: u64,
        array: u64,
    }
    impl Bytes {
        fn add<T: serde::Serialize + encoding::Versioned>(&mut self, record: &T) -> anyhow::Result<()> {
            self.named += encode(record).len() as u64;
            // The named envelope `{v, data}` costs 9 bytes, an array one `[v, data]` 2: both
            // columns include their envelope, so the difference is all field names.
            self.array += rmp_serde::to_vec(record)?.len() as u64 + 2;
            Ok(())
        }
    }
    let ctx = Identity::new(0)?;
    let mut script = Script::new(lines);
    script.receipts_only = receipts_only;
    let mut current: Option<Case> = None;
    let (mut event, mut case, mut final_case, mut idem, mut outbox) = Default::default();
    let (mut outboxes, mut keys_b, mut cases) = (0u64, 0u64, 0u64);
    for seq in 1..=events {
        let op = script.next_op()?;
        if !op.case_exists {
            if let Some(done) = current.take() {
                Bytes::add(&mut final_case, &done)?;
            }
            cases += 1;
        }
        let commit = decide(&ctx, &op, current.take(), seq).map_err(|e| anyhow::anyhow!("refused: {e}"))?;
        let record = IdempotencyRecord {
            fingerprint: op.fingerprint.clone(),
            status: commit.status,
            body: commit.body.clone(),
            seq,
            created_at_ms: commit.event.recorded_at_ms,
        };
        Bytes::add(&mut event, &commit.event)?;
        Bytes::add(&mut case, &commit.case)?;
        Bytes::add(&mut idem, &record)?;
        // Keys as `store/keys.rs` lays them out: seq 8, case 16, index 24, station\0key, sink\0seq.
        keys_b += 8 + 16 + 24 + (ctx.station.as_str().len() + 1 + op.key.len()) as u64;
        for sink in &commit.sinks {
            let entry = OutboxEntry::new(seq, commit.event.id, commit.event.case_id, commit.event.recorded_at_ms);
            Bytes::add(&mut outbox, &entry)?;
            keys_b += (sink.len() + 1 + 8) as u64;
            outboxes += 1;
        }
        current = Some(commit.case);
    }
    if let Some(done) = current {
        Bytes::add(&mut final_case, &done)?;
    }
    let per = |b: u64| b as f64 / events as f64;
    let row = |name: &str, b: &Bytes, note: String| {
        format!("  {name:<22} {:>7.1} B {:>7.1} B  {note}\n", per(b.named), per(b.array))
    };
    let workload = if receipts_only {
        format!("receipts only, {lines} line(s) each, as `returns-edge bench` stores them")
    } else {
        format!("cases of {lines} lines: receipt, then inspect and dispose each line")
    };
    let mut out = format!(
        "encoded record sizes per event ({events} events; {workload}):\n  {:<22} {:>9} {:>9}\n",
        "record", "stored", "no names"
    );
    out.push_str(&row("event", &event, String::new()));
    out.push_str(&row(
        "case projection",
        &case,
        format!(
            "rewritten at every event; last version {:.1} B per case = {:.1} B per event",
            final_case.named as f64 / cases.max(1) as f64,
            per(final_case.named)
        ),
    ));
    out.push_str(&row(
        "idempotency record",
        &idem,
        "fingerprint (64 hex) + the whole answer body".into(),
    ));
    out.push_str(&row(
        "outbox entries",
        &outbox,
        format!(
            "{:.2} per event, {:.1} B each",
            outboxes as f64 / events as f64,
            outbox.named as f64 / outboxes.max(1) as f64
        ),
    ));
    out.push_str(&format!("  {:<22} {:>7.1} B\n", "keys (all trees)", per(keys_b)));
    let written = event.named + case.named + idem.named + outbox.named + keys_b;
    let live = event.named + final_case.named + idem.named + outbox.named + keys_b;
    out.push_str(&format!(
        "  written per event      {:>7.1} B (every case version counted)\n  live per event         {:>7.1} B (last case version only: what a compacted store must keep)\n",
        per(written),
        per(live)
    ));
    Ok(out)
}

/// `--footprint N`: N receipts (one line each, as `returns-edge bench` posts) from 64 writers
/// into each engine, then the data directory file by file against the live record bytes.
fn footprint(args: &Args, events: u64) -> anyhow::Result<()> {
    let shape = Shape {
        lines: 1,
        receipts_only: true,
    };
    let phases = Phases {
        warmup: Duration::ZERO,
        measured: Span::Events(events),
    };
    for engine in ["ours", "sqlite"] {
        let dir = tempfile::tempdir_in(&args.dir)?;
        let started = Instant::now();
        let figures = if engine == "ours" {
            run_ours(dir.path(), 64, phases, shape)?
        } else {
            run_sqlite(dir.path(), 64, phases, shape)?
        };
        println!(
            "{engine}: {} receipts in {:.1} s, data directory {} B = {:.0} B/event",
            figures.events,
            started.elapsed().as_secs_f64(),
            figures.disk_bytes,
            figures.disk_bytes as f64 / figures.events.max(1) as f64
        );
        for (name, bytes) in &figures.files {
            println!(
                "  {name:<24} {bytes:>12} B {:>8.1} B/event",
                *bytes as f64 / figures.events.max(1) as f64
            );
        }
    }
    print!("{}", record_sizes(1, 1_000, true)?);
    println!("load at end: {}", uptime());
    Ok(())
}

/// Every file under `dir`, named relative to `root`, with its size.
fn files(root: &Path, dir: &Path) -> anyhow::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            out.extend(files(root, &entry.path())?);
        } else {
            let name = entry.path().strip_prefix(root)?.display().to_string();
            out.push((name, meta.len()));
        }
    }
    out.sort();
    Ok(out)
}

/// The machine's load averages, printed beside the figures (other builders share the cores).
fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().take(3).collect();
            format!("load average {}", parts.join(", "))
        })
        .unwrap_or_else(|_| "load average unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smoke run (a fraction of a second per engine): both engines acknowledge every write,
    /// the cases go through all their steps, and the size table is printed.
    #[test]
    fn both_engines_acknowledge_the_same_workload() {
        let dir = tempfile::tempdir().unwrap();
        for writers in [1, 4] {
            let phases = Phases {
                warmup: Duration::from_millis(100),
                measured: Span::For(Duration::from_millis(300)),
            };
            let shape = Shape {
                lines: 2,
                receipts_only: false,
            };
            let ours = run_ours(&dir.path().join(format!("ours-{writers}")), writers, phases, shape).unwrap();
            let sqlite = run_sqlite(
                &{
                    let d = dir.path().join(format!("sqlite-{writers}"));
                    std::fs::create_dir(&d).unwrap();
                    d
                },
                writers,
                phases,
                shape,
            )
            .unwrap();
            for figures in [&ours, &sqlite] {
                assert!(
                    figures.events > 0 && figures.syncs > 0 && figures.syncs <= figures.events,
                    "{figures:?}"
                );
                assert!(figures.disk_bytes > 0, "{figures:?}");
            }
        }
        let sizes = record_sizes(2, 50, false).unwrap() + &record_sizes(1, 10, true).unwrap();
        assert!(sizes.contains("live per event"), "{sizes}");
    }
}

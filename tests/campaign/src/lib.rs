//! The crash-and-fault campaign (issue 6): proves that no acknowledged event is lost and no
//! effect happens twice, by running the real returns-edge binary under a mixed workload from many
//! stations, SIGKILLing it at random moments (during ingest, during delivery, between Odoo
//! steps), freezing it now and then, injecting faults into a fake Odoo and a fake refund receiver
//! (the ones from `returns-edge-fakes`), and at the end letting the outbox drain and checking
//! every effect against the edge's own event log.
//!
//! Modules: `edge` (the child process), `returns` (the expected returns seeded in Odoo: one
//! parcel or 2–3, into WH/Returns or WH/Stock, serial-tracked or not), `workload` (stations,
//! cases, the ledger of requests), `faults` (the random fault schedule), `verify` and `stock`
//! (the checks). [`run`] ties them together; the `campaign` binary runs it on demand and
//! `tests/fault_campaign.rs` in CI.

pub mod edge;
pub mod faults;
pub mod returns;
pub mod stock;
pub mod verify;
pub mod workload;

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use returns_edge_fakes::{FakeOdoo, FakeOdooOptions, FakeRefund, FakeRefundOptions};
use serde_json::Value;

use edge::Edge;
use faults::FaultLog;
use returns::Seeder;
use workload::{lock, Expected, Ledger, Pool, Shared, Station};

/// How long and how hard to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub cycles: u32,
    /// Stop starting cycles after this long.
    pub duration: Option<Duration>,
    pub seed: u64,
    pub stations: usize,
    /// The returns-edge binary to run.
    pub binary: PathBuf,
    /// Keep the working directory (store, configs, server logs).
    pub keep: bool,
    /// Pause of each station between requests. Long runs need one: stations outrun Odoo (the
    /// fake's searches are linear in what it holds), and the final drain must finish.
    pub think: Duration,
}

/// What a campaign did and found.
#[derive(Debug, Default)]
pub struct Summary {
    pub seed: u64,
    pub cycles: u32,
    pub kills: u32,
    pub freezes: u32,
    pub requests: u64,
    pub acknowledged: u64,
    pub duplicates: u64,
    pub abandoned: u64,
    pub resent: u64,
    pub unanswered: std::collections::BTreeMap<&'static str, u64>,
    pub faults: FaultLog,
    /// Returns seeded: in all, of 2–3 parcels, landing in WH/Stock, of serial-tracked products.
    pub seeded: (usize, usize, usize, usize),
    pub events: u64,
    pub odoo_effects: u64,
    pub refunds: u64,
    /// What the stock checks covered (see `verify::Verdict`).
    pub rma_parcels: u64,
    pub landed_in_stock: u64,
    pub rma_parcels_unmatched: u64,
    pub multi_parcel_returns: u64,
    pub serial_dispositions: u64,
    pub settled_without_transfer: u64,
    pub quants: u64,
    pub dead_letters_replayed: u64,
    pub store_check: String,
    pub drain: Duration,
    pub elapsed: Duration,
    pub workdir: Option<PathBuf>,
    pub violations: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, k: &str, v: String| writeln!(f, "| {k:<44} | {v:>12} |");
        writeln!(f, "| {:<44} | {:>12} |", "campaign", "")?;
        writeln!(f, "|{}|{}|", "-".repeat(46), "-".repeat(14))?;
        row(f, "seed", self.seed.to_string())?;
        row(f, "kill cycles", self.cycles.to_string())?;
        row(f, "SIGKILLs", self.kills.to_string())?;
        row(f, "SIGSTOP/SIGCONT", self.freezes.to_string())?;
        row(f, "requests sent", self.requests.to_string())?;
        row(f, "acknowledged", self.acknowledged.to_string())?;
        row(f, "duplicates (same key, same body) sent", self.duplicates.to_string())?;
        row(f, "answers abandoned by the client", self.abandoned.to_string())?;
        for (why, n) in &self.unanswered {
            row(f, &format!("requests left unanswered: {why}"), n.to_string())?;
        }
        row(
            f,
            "unanswered requests re-sent after a restart",
            self.resent.to_string(),
        )?;
        for (kind, n) in &self.faults.armed {
            row(f, &format!("faults armed: {kind}"), n.to_string())?;
        }
        row(f, "cycles with Odoo down", self.faults.odoo_down_cycles.to_string())?;
        row(
            f,
            "cycles with the refund receiver down",
            self.faults.refund_down_cycles.to_string(),
        )?;
        let (all, multi, stock, serial) = self.seeded;
        row(f, "returns seeded", all.to_string())?;
        row(f, "  of 2–3 parcels", multi.to_string())?;
        row(f, "  landing in WH/Stock (wizard default)", stock.to_string())?;
        row(f, "  of serial-tracked products", serial.to_string())?;
        row(f, "events checked", self.events.to_string())?;
        row(f, "Odoo effects checked", self.odoo_effects.to_string())?;
        row(
            f,
            "RMA parcels checked against their picking",
            self.rma_parcels.to_string(),
        )?;
        row(f, "  of returns landing in WH/Stock", self.landed_in_stock.to_string())?;
        row(
            f,
            "returns received in full as 2–3 parcels",
            self.multi_parcel_returns.to_string(),
        )?;
        row(
            f,
            "RMA parcels the cache missed (unexpected)",
            self.rma_parcels_unmatched.to_string(),
        )?;
        row(f, "serial dispositions checked", self.serial_dispositions.to_string())?;
        row(
            f,
            "dispositions with nothing to move",
            self.settled_without_transfer.to_string(),
        )?;
        row(f, "quants checked", self.quants.to_string())?;
        row(f, "refund decisions checked", self.refunds.to_string())?;
        row(
            f,
            "dead letters (injected refusals), replayed",
            self.dead_letters_replayed.to_string(),
        )?;
        row(f, "store check after the campaign", self.store_check.clone())?;
        row(f, "drain time", format!("{:.1} s", self.drain.as_secs_f64()))?;
        row(f, "total time", format!("{:.1} s", self.elapsed.as_secs_f64()))?;
        row(f, "violations", self.violations.len().to_string())?;
        for v in self.violations.iter().take(50) {
            writeln!(f, "VIOLATION: {v}")?;
        }
        if let Some(dir) = &self.workdir {
            writeln!(f, "working directory kept: {}", dir.display())?;
        }
        Ok(())
    }
}

/// One workload task per station against the edge at `base`; with `resend_only` they only
/// re-send the requests whose answers were never read.
fn spawn_stations(
    stations: &[Shared<Station>],
    ledger: &Shared<Ledger>,
    pool: &Shared<Pool>,
    base: &str,
    resend_only: bool,
    think: Duration,
) -> Vec<tokio::task::JoinHandle<()>> {
    stations
        .iter()
        .map(|s| {
            tokio::spawn(workload::run_station(
                s.clone(),
                ledger.clone(),
                pool.clone(),
                base.to_owned(),
                resend_only,
                think,
            ))
        })
        .collect()
}

/// GETs `url` as the holder of `token` and reads the JSON answer; any non-2xx is an error.
async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    Ok(client
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

async fn outbox(base: &str, token: &str) -> anyhow::Result<Value> {
    get_json(&reqwest::Client::new(), &format!("{base}/v1/outbox"), token).await
}

/// Hands the staged returns of serial-tracked products to the stations once the edge's RMA cache
/// knows them (see `returns.rs`), looking up at most a few per cycle.
async fn release_staged(base: &str, token: &str, staged: &mut VecDeque<Vec<Expected>>, pool: &Shared<Pool>) {
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let Some(label) = staged.front().and_then(|p| p.first()).map(|p| p.label.clone()) else {
            return;
        };
        let known = client
            .get(format!("{base}/v1/rma/lookup"))
            .query(&[("code", label.as_str())])
            .bearer_auth(token)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        let Some(answer) = known else { return };
        match answer.json::<Value>().await {
            Ok(found) if found["rma"].as_str() == Some(label.as_str()) => {
                lock(pool).extend(staged.pop_front());
            }
            _ => return,
        }
    }
}

/// Lets every sink drain; dead letters must be injected refusals (they are replayed, as an
/// operator would once the cause is fixed). Any other dead letter is a violation and is left
/// where it is; the drain ends when nothing else is pending, or, with such a letter, once the
/// outbox stops moving for 10 s (what is left waits behind it), so that everything else is still
/// delivered and checked. Returns how many were replayed.
async fn drain(base: &str, token: &str, violations: &mut Vec<String>) -> anyhow::Result<u64> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut replayed = 0;
    let mut reported = std::collections::HashSet::new();
    let mut last: Option<u64> = None;
    let mut changed = Instant::now();
    loop {
        let view = outbox(base, token).await?;
        let sinks = view["sinks"].as_array().cloned().unwrap_or_default();
        let left: u64 = sinks
            .iter()
            .map(|s| s["pending"].as_u64().unwrap_or(0) + s["in_flight"].as_u64().unwrap_or(0))
            .sum();
        let moving = left > 0;
        if last != Some(left) {
            last = Some(left);
            changed = Instant::now();
        }
        let letters = get_json(&client, &format!("{base}/v1/dead-letters"), token).await?;
        let mut replayable = 0;
        for letter in letters.as_array().cloned().unwrap_or_default() {
            let id = letter["id"].as_str().unwrap_or_default().to_owned();
            let reason = letter["reason"].as_str().unwrap_or_default();
            if !faults::is_injected(reason) {
                if reported.insert(id.clone()) {
                    violations.push(format!("dead letter {id} not caused by an injected fault: {reason}"));
                }
                continue;
            }
            replayable += 1;
            client
                .post(format!("{base}/v1/dead-letters/{id}/replay"))
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?;
            replayed += 1;
        }
        // A pending entry behind a dead letter that stays waits for it: only count it as moving
        // while something still changes.
        let stalled = !reported.is_empty() && changed.elapsed() > Duration::from_secs(10);
        if replayable == 0 && (!moving || stalled) {
            return Ok(replayed);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the outbox did not drain within 600 s: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the campaign.
pub async fn run(options: &Options) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let tmp = tempfile::Builder::new().prefix("returns-edge-campaign").tempdir()?;
    let dir = tmp.path().to_owned();
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut summary = Summary {
        seed: options.seed,
        ..Summary::default()
    };

    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let refund = FakeRefund::start(FakeRefundOptions::default()).await;
    let mut seeder = Seeder::new(&odoo);
    let pool: Shared<Pool> = Arc::new(Mutex::new(Pool::default()));
    let first = seeder.untracked(&odoo, &mut rng, 40);
    lock(&pool).extend(first);
    seeder.serial_batch(&odoo, &mut rng);

    let (mut edge, tokens) =
        Edge::prepare(&options.binary, &dir, &odoo, &refund, options.stations).context("preparing the edge")?;
    let stations: Vec<Shared<Station>> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| Arc::new(Mutex::new(Station::new(i, t.clone(), options.seed ^ (i as u64 + 1)))))
        .collect();
    let ledger: Shared<Ledger> = Arc::new(Mutex::new(Ledger::default()));
    let token = tokens[0].clone();

    for cycle in 0..options.cycles {
        if options.duration.is_some_and(|d| started.elapsed() > d) {
            break;
        }
        summary.cycles = cycle + 1;
        // Keep a supply of expected returns; the edge's cache picks them up at its next sync.
        if lock(&pool).len() < 20 {
            let more = seeder.untracked(&odoo, &mut rng, 10);
            lock(&pool).extend(more);
            // Serial-tracked returns wait in `staged` until the cache knows them; a new batch
            // (a new product) is made while the edge is down, before the last one runs out.
            if seeder.staged.len() < 4 {
                seeder.serial_batch(&odoo, &mut rng);
            }
        }
        faults::arm(&mut rng, &odoo, &refund, &mut summary.faults);
        let addr = edge.start().await?;
        let base = format!("http://{addr}");
        let tasks = spawn_stations(&stations, &ledger, &pool, &base, false, options.think);
        let run_for = Duration::from_millis(rng.gen_range(150..1_500));
        if rng.gen_bool(0.1) {
            tokio::time::sleep(run_for / 2).await;
            edge.freeze(Duration::from_millis(rng.gen_range(200..800))).await;
            summary.freezes += 1;
            tokio::time::sleep(run_for / 2).await;
        } else {
            tokio::time::sleep(run_for).await;
        }
        release_staged(&base, &token, &mut seeder.staged, &pool).await;
        edge.kill();
        summary.kills += 1;
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        for s in &stations {
            workload::forget_finished(s);
        }
        if (cycle + 1) % 50 == 0 {
            // One lock, read before printing: a guard in the format arguments would live to the
            // end of the statement and a second `lock` there would deadlock.
            let (acked, violations) = {
                let ledger = lock(&ledger);
                (ledger.acked.len(), ledger.violations.len())
            };
            eprintln!(
                "cycle {}/{}: {acked} acknowledged, {violations} violations so far, {:.0} s",
                cycle + 1,
                options.cycles,
                started.elapsed().as_secs_f64()
            );
        }
    }

    // The end: faults off, unanswered requests settled, the outbox drained, then the checks.
    faults::calm(&odoo, &refund, &mut summary.faults);
    let addr = edge.start().await?;
    let base = format!("http://{addr}");
    for _ in 0..20 {
        let tasks = spawn_stations(&stations, &ledger, &pool, &base, true, options.think);
        for task in tasks {
            let _ = task.await;
        }
        if stations.iter().all(|s| lock(s).pending() == 0) {
            break;
        }
    }
    let unsettled: usize = stations.iter().map(|s| lock(s).pending()).sum();
    if unsettled > 0 {
        summary
            .violations
            .push(format!("{unsettled} request(s) never got an answer after the campaign"));
    }
    let drain_started = Instant::now();
    summary.dead_letters_replayed = drain(&base, &token, &mut summary.violations).await?;
    summary.drain = drain_started.elapsed();

    let events = verify::events(&base, &token).await?;
    let ledger = std::mem::take(&mut *lock(&ledger));
    edge.stop()?;
    summary.store_check = match edge.tool(&["store", "check"]) {
        Ok(_) => "clean".into(),
        Err(e) => {
            summary.violations.push(format!("store check: {e}"));
            "PROBLEMS".into()
        }
    };
    let receipts: Vec<u64> = events
        .iter()
        .filter(|e| e["kind"] == "parcel_received")
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    let deliveries = edge.odoo_deliveries(&receipts)?;
    let verdict = verify::check(&events, &ledger, &odoo, &refund, &seeder.seeded, &deliveries);
    let stock = odoo.ids().stock_location;
    let (multi, in_stock, serial) = seeder.seeded.counts(stock);
    summary.seeded = (seeder.seeded.returns.len(), multi, in_stock, serial);
    summary.requests = ledger.sent;
    summary.acknowledged = ledger.acked.len() as u64;
    summary.duplicates = ledger.duplicates;
    summary.abandoned = ledger.abandoned;
    summary.resent = ledger.resent;
    summary.unanswered = ledger.unanswered.clone();
    summary.events = verdict.events;
    summary.odoo_effects = verdict.odoo_effects;
    summary.refunds = verdict.refunds;
    summary.rma_parcels = verdict.rma_parcels;
    summary.landed_in_stock = verdict.landed_in_stock;
    summary.rma_parcels_unmatched = verdict.rma_parcels_unmatched;
    summary.multi_parcel_returns = verdict.multi_parcel_returns;
    summary.serial_dispositions = verdict.serial_dispositions;
    summary.settled_without_transfer = verdict.settled_without_transfer;
    summary.quants = verdict.quants;
    summary.violations.extend(ledger.violations);
    summary.violations.extend(verdict.violations);
    summary.elapsed = started.elapsed();
    if options.keep || !summary.violations.is_empty() {
        summary.workdir = Some(tmp.keep());
    }
    Ok(summary)
}

//! The crash-and-fault campaign (issue 6): proves that no acknowledged event is lost and no
//! effect happens twice, by running the real returns-edge binary under a mixed workload from many
//! stations, SIGKILLing it at random moments (during ingest, during delivery, between Odoo
//! steps), freezing it now and then, injecting faults into a fake Odoo and a fake refund receiver
//! (the ones from `returns-edge-fakes`), and at the end letting the outbox drain and checking
//! every effect against the edge's own event log.
//!
//! Modules: `edge` (the child process), `workload` (stations, cases, the ledger of requests),
//! `faults` (the random fault schedule), `verify` (the checks). [`run`] ties them together; the
//! `campaign` binary runs it on demand and `tests/campaign.rs` in CI.

pub mod edge;
pub mod faults;
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
use returns_edge_fakes::odoo::ReturnSpec;
use returns_edge_fakes::{FakeOdoo, FakeOdooOptions, FakeRefund, FakeRefundOptions};
use serde_json::Value;

use edge::Edge;
use faults::FaultLog;
use workload::{lock, Expected, Ledger, Shared, Station, SKUS};

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
    pub events: u64,
    pub odoo_effects: u64,
    pub refunds: u64,
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
        row(f, "events checked", self.events.to_string())?;
        row(f, "Odoo effects checked", self.odoo_effects.to_string())?;
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

/// Seeds open returns in the fake Odoo, as a sale + done delivery + return picking tagged with an
/// RMA, and queues them for the stations.
fn add_returns(odoo: &FakeOdoo, partner: i64, products: &[i64], rng: &mut StdRng, from: u64, n: u64) -> Vec<Expected> {
    let mut out = Vec::new();
    for i in from..from + n {
        let count = rng.gen_range(1..=2);
        let mut picked: Vec<usize> = Vec::new();
        while picked.len() < count {
            let p = rng.gen_range(0..products.len());
            if !picked.contains(&p) {
                picked.push(p);
            }
        }
        let lines: Vec<(usize, u32)> = picked.iter().map(|&p| (p, rng.gen_range(1..=2))).collect();
        let rma = format!("RMA-C{i:06}");
        let spec = ReturnSpec {
            rma: Some(rma.clone()),
            client_order_ref: Some(format!("PO-{i}")),
            return_tracking: None,
            delivery_tracking: None,
        };
        let odoo_lines: Vec<(i64, f64)> = lines.iter().map(|&(p, q)| (products[p], f64::from(q))).collect();
        if odoo.add_return(partner, &odoo_lines, &spec).is_ok() {
            out.push(Expected {
                label: rma,
                lines: lines.iter().map(|&(p, q)| (SKUS[p].to_owned(), q)).collect(),
            });
        }
    }
    out
}

/// One workload task per station against the edge at `base`; with `resend_only` they only
/// re-send the requests whose answers were never read.
fn spawn_stations(
    stations: &[Shared<Station>],
    ledger: &Shared<Ledger>,
    pool: &Shared<VecDeque<Expected>>,
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

/// Lets every sink drain; dead letters must be injected refusals (they are replayed, as an
/// operator would once the cause is fixed). Any other dead letter is a violation and is left
/// where it is; the drain ends when nothing else is pending. Returns how many were replayed.
async fn drain(base: &str, token: &str, violations: &mut Vec<String>) -> anyhow::Result<u64> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut replayed = 0;
    let mut reported = std::collections::HashSet::new();
    loop {
        let view = outbox(base, token).await?;
        let sinks = view["sinks"].as_array().cloned().unwrap_or_default();
        let moving = sinks
            .iter()
            .any(|s| s["pending"].as_u64().unwrap_or(0) > 0 || s["in_flight"].as_u64().unwrap_or(0) > 0);
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
        // while something can still change.
        if replayable == 0 && (!moving || !reported.is_empty()) {
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
    let ids = odoo.ids().clone();
    let products = [ids.large_cabinet, ids.storage_box, ids.pedal_bin];
    for p in products {
        odoo.set_quant(p, ids.stock_location, None, 1_000_000.0);
    }
    let partner = odoo.add_partner("Campaign Customer");
    let mut made = 0u64;
    let pool: Shared<VecDeque<Expected>> = Arc::new(Mutex::new(VecDeque::new()));
    let first = add_returns(&odoo, partner, &products, &mut rng, made, 40);
    made += 40;
    lock(&pool).extend(first);

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
            let more = add_returns(&odoo, partner, &products, &mut rng, made, 10);
            made += 10;
            lock(&pool).extend(more);
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
    let verdict = verify::check(&events, &ledger, &odoo, &refund);
    edge.stop()?;
    summary.store_check = match edge.tool(&["store", "check"]) {
        Ok(_) => "clean".into(),
        Err(e) => {
            summary.violations.push(format!("store check: {e}"));
            "PROBLEMS".into()
        }
    };
    summary.requests = ledger.sent;
    summary.acknowledged = ledger.acked.len() as u64;
    summary.duplicates = ledger.duplicates;
    summary.abandoned = ledger.abandoned;
    summary.resent = ledger.resent;
    summary.unanswered = ledger.unanswered.clone();
    summary.events = verdict.events;
    summary.odoo_effects = verdict.odoo_effects;
    summary.refunds = verdict.refunds;
    summary.violations.extend(ledger.violations);
    summary.violations.extend(verdict.violations);
    summary.elapsed = started.elapsed();
    if options.keep || !summary.violations.is_empty() {
        summary.workdir = Some(tmp.keep());
    }
    Ok(summary)
}

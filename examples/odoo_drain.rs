//! Drain rate of a backlog to a fake Odoo with the latencies measured on a real Odoo 17
//! (`shared/odoo17/20_timing_summary.json`: ~25 ms per call, create ~59 ms, validate ~88 ms).
//! Records N unexpected parcels, each received, inspected and restocked, while Odoo is
//! unreachable, then brings Odoo back and times the drain, one picking per call versus batched.
//!
//! `cargo run --release --example odoo_drain -- [cases]`

use std::time::{Duration, Instant};

use returns_edge::config::SinkConfig;
use returns_edge::delivery::{self, DispatcherOptions};
use returns_edge::domain::*;
use returns_edge::ingest::{Ingest, Write};
use returns_edge::sinks::odoo::{OdooConfig, OdooSink};
use returns_edge::sinks::{SinkKind, SinkName};
use returns_edge::store::{Store, StoreOptions};
use returns_edge::tokens::Caller;
use returns_edge_fakes::odoo::{FakeOdoo, FakeOdooOptions, Latency};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cases: u32 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(100);
    for max_batch in [1usize, 50] {
        let (elapsed, events, calls) = drain(cases, max_batch).await?;
        println!(
            "max_batch {max_batch:>2}: {events} events ({cases} receipts + {cases} dispositions) drained in {:.1} s = {:.1} events/s, {calls} Odoo calls",
            elapsed.as_secs_f64(),
            events as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(())
}

async fn drain(cases: u32, max_batch: usize) -> anyhow::Result<(Duration, u64, usize)> {
    let mut odoo = FakeOdoo::start(FakeOdooOptions {
        latency: Latency::Odoo17,
        ..FakeOdooOptions::default()
    })
    .await;
    let dir = tempfile::tempdir()?;
    let secret = dir.path().join("secret");
    std::fs::write(&secret, odoo.password())?;
    let config: OdooConfig = toml::from_str(&format!(
        "url = \"{}\"\ndatabase = \"{}\"\nlogin = \"{}\"\nsecret_file = \"{}\"\nmax_batch = {max_batch}\n",
        odoo.url(),
        odoo.db(),
        odoo.login(),
        secret.display()
    ))?;
    let site = SiteId::parse("bench")?;
    let store = Store::open(
        &dir.path().join("data"),
        &StoreOptions {
            cache_capacity_bytes: 32 << 20,
            site: Some(site.clone()),
        },
    )?;
    let sinks = vec![SinkConfig {
        name: SinkName::parse("odoo").map_err(anyhow::Error::msg)?,
        kind: SinkKind::Odoo,
        odoo: Some(config.clone()),
        refund: None,
    }];
    let ingest = Ingest::new(store.clone(), site.clone(), Policy::default(), sinks);
    let caller = Caller {
        token: TokenId::parse("t")?,
        station: StationId::parse("dock-1")?,
        role: Role::Admin,
    };
    odoo.set_unreachable(true).await;
    let (handle, _task) = delivery::spawn(
        "odoo".into(),
        OdooSink::new(config, site).map_err(anyhow::Error::msg)?,
        store.clone(),
        DispatcherOptions::default(),
    );
    let mut n = 0;
    let mut write = |case: Option<CaseId>, command: Command| {
        n += 1;
        Write {
            caller: caller.clone(),
            idempotency_key: format!("k{n}"),
            fingerprint: format!("f{n}"),
            case,
            command,
        }
    };
    for i in 0..cases {
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
        let answer = ingest.execute(write(None, receive)).await?;
        let body: serde_json::Value = serde_json::from_str(&answer.body)?;
        let case = CaseId::parse(body["case_id"].as_str().unwrap_or_default())?;
        let inspect = Command::Inspect(Inspect {
            line: LineNo::new(1)?,
            qty: None,
            grade: Grade::parse("A")?,
            conditions: vec![],
            serial: None,
            notes: None,
            corrects: None,
        });
        ingest.execute(write(Some(case), inspect)).await?;
        let dispose = Command::Dispose(Dispose {
            line: LineNo::new(1)?,
            qty: None,
            disposition: Some(Disposition::parse("restock")?),
        });
        ingest.execute(write(Some(case), dispose)).await?;
    }
    let before = odoo.total_calls();
    let started = Instant::now();
    odoo.set_unreachable(false).await;
    loop {
        if store.sink_counts("odoo")?.pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    handle.shutdown();
    Ok((elapsed, u64::from(cases) * 2, odoo.total_calls() - before))
}

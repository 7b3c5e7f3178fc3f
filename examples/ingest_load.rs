//! Quick acknowledged-write load: N concurrent stations posting receipts over real HTTP on
//! loopback to an in-process server with a temp store, for a few seconds. Prints events/s,
//! latency percentiles and fsyncs per write. The full site-qualification benchmark is
//! `returns-edge bench` (its own issue); this is the developer's quick check.
//!
//! `cargo run --release --example ingest_load -- [stations] [seconds]`

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use returns_edge::app::App;
use returns_edge::config::{Config, FlagOverrides};
use returns_edge::domain::{Role, StationId};
use returns_edge::{ingest, tokens};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let stations: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let dir = tempfile::tempdir_in(".")?;
    let mut config = Config::load(None, [], &FlagOverrides::default())?;
    config.server.listen = "127.0.0.1:0".parse()?;
    config.store.data_dir = dir.path().to_owned();
    config.log.level = "warn".into();
    let app = App::build(&config).await?;
    let addr = app.local_addr();
    let store = app.store().clone();
    let token = tokens::create(&store, StationId::parse("dock-1")?, Role::Receiver, ingest::now_ms())?.token;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stop_rx.await;
    }));

    let syncs_before = store.sync_stats().syncs.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for w in 0..stations {
        let token = token.clone();
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let started = Instant::now();
                let res = client
                    .post(format!("http://{addr}/v1/parcels"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", format!("w{w}-{i}"))
                    .json(
                        &serde_json::json!({"station": "dock-1", "label": format!("L{w}-{i}"), "weight_g": 1200,
                        "lines": [{"sku": "SKU-1", "qty": 1}]}),
                    )
                    .send()
                    .await
                    .expect("request");
                assert_eq!(res.status(), 201);
                latencies.push(started.elapsed());
                i += 1;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await?);
    }
    let syncs = store.sync_stats().syncs.load(Ordering::Relaxed) - syncs_before;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "stations {stations}  acknowledged {}  events/s {:.0}  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  fsyncs {}  fsyncs/write {:.3}",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        syncs,
        syncs as f64 / latencies.len() as f64
    );
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}

//! Serial-byte-to-SSE latency: a scanner simulator on a real PTY, the real serial transport and
//! device hub, and a station's SSE stream read over loopback. Prints p50/p99/max over N scans.
//!
//! `cargo run --release --example sse_latency -- [scans]`

use std::time::{Duration, Instant};

use firmware_bridge::scanner::Framing;
use firmware_bridge::sim::ScannerSimulator;
use returns_edge::app::App;
use returns_edge::config::{Config, FlagOverrides};
use returns_edge::domain::{Role, StationId};
use returns_edge::{ingest, tokens};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scans: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let dir = tempfile::tempdir()?;
    let link = dir.path().join("scanner");
    let scanner = ScannerSimulator::start(Framing::Cr, Some(link.clone()))?;
    let file = dir.path().join("returns-edge.toml");
    std::fs::write(
        &file,
        format!(
            "site = \"bench\"\n[server]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{}\"\n[log]\nlevel = \"warn\"\n\
             [[devices]]\nid = \"scanner-1\"\nstation = \"dock-1\"\n[devices.source]\nkind = \"serial_scanner\"\n\
             serial = {{ path = \"{}\" }}\n",
            dir.path().join("data").display(),
            link.display()
        ),
    )?;
    let config = Config::load(Some(&file), [], &FlagOverrides::default())?;
    let app = App::build(&config).await?;
    let addr = app.local_addr();
    let token = tokens::create(
        app.store(),
        StationId::parse("dock-1")?,
        Role::Receiver,
        ingest::now_ms(),
    )?
    .token;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));

    let mut stream = reqwest::Client::new()
        .get(format!("http://{addr}/v1/stations/dock-1/stream"))
        .bearer_auth(&token)
        .send()
        .await?;
    let mut buffer = String::new();
    let mut latencies = Vec::with_capacity(scans);
    // Warm up: the device connects and one scan goes through before timing starts.
    for i in 0..=scans {
        let code = format!("RMA{i:08}");
        let sent = Instant::now();
        scanner.scan(&code)?;
        let needle = format!("\"{code}\"");
        let deadline = sent + Duration::from_secs(10);
        while !buffer.contains(&needle) {
            let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk()).await??;
            buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap_or_default()));
        }
        if i > 0 {
            latencies.push(sent.elapsed());
        }
        buffer.clear();
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    println!(
        "serial byte -> SSE event, {} scans: p50 {:.0} µs  p99 {:.0} µs  max {:.0} µs",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}

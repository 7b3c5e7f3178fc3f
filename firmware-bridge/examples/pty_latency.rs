//! Serial byte → `DeviceEvent` latency through a PTY: a simulated scanner writes a code, the
//! real serial transport reads and decodes it, and the time until its `Scan` event comes out of
//! the channel is measured. Prints p50/p99/max.
//!
//! `cargo run --release -p firmware-bridge --example pty_latency -- [SCANS]` (default 2000).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use firmware_bridge::scanner::{Framing, ScannerConfig};
use firmware_bridge::sim::ScannerSimulator;
use firmware_bridge::transport::{Backoff, DeviceConfig, DeviceSource, SerialConfig};
use firmware_bridge::{Device, DeviceEvent, DeviceId, DeviceStatus};

fn main() -> anyhow::Result<()> {
    let scans: usize = std::env::args()
        .nth(1)
        .map(|count| count.parse())
        .transpose()?
        .unwrap_or(2000);
    let directory = tempfile::tempdir()?;
    let link = directory.path().join("usb-latency-scanner");
    let scanner = ScannerSimulator::start(Framing::Cr, Some(link.clone()))?;
    let (sender, events) = mpsc::sync_channel(64);
    let config = DeviceConfig {
        id: DeviceId("latency".into()),
        source: DeviceSource::SerialScanner {
            serial: SerialConfig::new(&link),
            scanner: ScannerConfig::default(),
        },
        reconnect: Backoff::default(),
    };
    let _device = Device::spawn(config, sender)?;
    match events.recv_timeout(Duration::from_secs(5))? {
        DeviceEvent::Status {
            status: DeviceStatus::Connected,
            ..
        } => {}
        other => anyhow::bail!("expected Connected first, got {other:?}"),
    }

    let mut latencies = Vec::with_capacity(scans);
    for index in 0..scans {
        let code = format!("1Z999AA1{index:010}");
        let written = Instant::now();
        scanner.scan(&code)?;
        loop {
            match events.recv_timeout(Duration::from_secs(5))? {
                DeviceEvent::Scan(scan) if scan.code == code => break,
                DeviceEvent::Scan(scan) => anyhow::bail!("expected {code}, got {}", scan.code),
                _ => {}
            }
        }
        latencies.push(written.elapsed());
    }
    latencies.sort_unstable();
    let at = |quantile: f64| latencies[((latencies.len() - 1) as f64 * quantile).round() as usize];
    println!(
        "{scans} scans through a PTY: p50 {:?}, p99 {:?}, max {:?}",
        at(0.50),
        at(0.99),
        latencies.last().copied().unwrap_or_default()
    );
    Ok(())
}

//! Quick acknowledged-write load: N concurrent stations posting receipts over real HTTP on
//! loopback to an in-process server with a temp store, for a few seconds. Prints events/s,
//! latency percentiles and fsyncs per write. The full site-qualification benchmark is
//! `returns-edge bench` (`src/bench.rs`, whose server and load loop this reuses); this is the
//! developer's quick check of one concurrency level.
//!
//! `cargo run --release --example ingest_load -- [stations] [seconds]`

use std::time::Duration;

use returns_edge::bench::{LoopbackServer, Progress, Until};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let stations: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let dir = tempfile::tempdir_in(".")?;
    let server = LoopbackServer::start(dir.path(), stations).await?;
    let progress = Progress { enabled: false };
    let figures = server
        .load_for(
            stations,
            Until::Elapsed(Duration::from_secs(seconds)),
            &progress,
            "ingest",
        )
        .await?;
    println!(
        "stations {stations}  acknowledged {}  events/s {:.0}  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  fsyncs/write {:.3}",
        figures.acknowledged, figures.events_per_s, figures.p50_ms, figures.p99_ms, figures.max_ms, figures.fsyncs_per_write
    );
    server.stop().await
}

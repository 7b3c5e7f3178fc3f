//! `campaign`: the crash-and-fault campaign on demand. Runs the real release binary under a mixed
//! workload, kills it at random, injects faults into the fake Odoo and refund receiver, then checks
//! every effect. Prints its seed first: `--seed` replays the same schedule. Exit code 1 when any
//! promise was broken.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use returns_edge_campaign::{run, Options};

/// Crash-and-fault campaign against the real returns-edge binary.
#[derive(Debug, Parser)]
struct Args {
    /// Kill cycles to run (each: start, load, faults, SIGKILL).
    #[arg(long, default_value_t = 100)]
    cycles: u32,
    /// Stop starting new cycles after this many seconds (0: no limit).
    #[arg(long, default_value_t = 0)]
    duration: u64,
    /// Random seed; printed by every run so a failure can be replayed.
    #[arg(long)]
    seed: Option<u64>,
    /// Concurrent stations.
    #[arg(long, default_value_t = 8)]
    stations: usize,
    /// The returns-edge binary (default: target/release/returns-edge).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Keep the working directory (store, configs, server logs) after the run.
    #[arg(long)]
    keep: bool,
    /// Milliseconds each station waits between requests (long runs: keep the load within what
    /// the fake Odoo drains, e.g. 50).
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = args
        .binary
        .unwrap_or_else(|| PathBuf::from("target/release/returns-edge"));
    anyhow::ensure!(
        binary.exists(),
        "{} does not exist: build it with `cargo build --release` or pass --binary",
        binary.display()
    );
    let options = Options {
        cycles: args.cycles,
        duration: (args.duration > 0).then(|| Duration::from_secs(args.duration)),
        seed: args.seed.unwrap_or_else(rand::random),
        stations: args.stations,
        binary,
        keep: args.keep,
        think: Duration::from_millis(args.think_ms),
    };
    println!("campaign seed {} (replay with --seed {})", options.seed, options.seed);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let summary = runtime.block_on(run(&options))?;
    println!("{summary}");
    if !summary.violations.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

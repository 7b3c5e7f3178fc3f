//! The short crash-and-fault campaign CI runs (issue 6): the real binary, SIGKILLed 30 times at
//! random under a mixed workload with faults in the fake Odoo and refund receiver; then every
//! acknowledged request must be one event, every Odoo effect and refund exactly once. Since
//! issue 12 the returns include 2–3 parcels of one RMA, returns landing in WH/Stock and
//! serial-tracked products, and the end checks each parcel against the picking that holds it,
//! each disposition against where its parcel landed, and every quant. The campaign itself lives
//! in `tests/campaign` (`cargo run --release -p returns-edge-campaign` runs it for as long as you
//! like).
//!
//! `CAMPAIGN_BIN` picks the binary (CI sets it to the release build),
//! `CAMPAIGN_CYCLES` and `CAMPAIGN_SEED` size and replay the run.

use std::path::PathBuf;

use returns_edge_campaign::{run, Options};

#[test]
fn a_short_crash_and_fault_campaign_finds_no_violation() {
    let binary = std::env::var_os("CAMPAIGN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_returns-edge")));
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
            })
            .unwrap_or(default)
    };
    let options = Options {
        cycles: number("CAMPAIGN_CYCLES", 30) as u32,
        duration: None,
        seed: number("CAMPAIGN_SEED", rand::random()),
        stations: 6,
        binary,
        keep: false,
        think: std::time::Duration::ZERO,
    };
    println!(
        "binary {}; replay with CAMPAIGN_SEED={}",
        options.binary.display(),
        options.seed
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let summary = runtime.block_on(run(&options)).expect("the campaign ran");
    println!("{summary}");
    assert!(
        summary.violations.is_empty(),
        "{} violation(s); replay with CAMPAIGN_SEED={}",
        summary.violations.len(),
        options.seed
    );
    assert_eq!(summary.kills, options.cycles, "every cycle ended in a SIGKILL");
    assert!(summary.acknowledged > 0 && summary.odoo_effects > 0);
}

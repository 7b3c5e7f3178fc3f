//! The end-of-campaign checks, from the edge's own event log outwards: every acknowledged request
//! is one event; every receipt and disposition made its Odoo effect exactly once, on the right
//! picking, with the right quantities, locations and serials, and the stock adds up (`stock.rs`);
//! every refund decision reached the receiver exactly once per key and never with two bodies;
//! nothing in Odoo or at the receiver points at an event the edge does not have (a partial effect
//! of something never acknowledged).

use std::collections::{HashMap, HashSet};

use returns_edge_fakes::{FakeOdoo, FakeRefund};
use serde_json::Value;

use crate::edge::Delivery;
use crate::returns::Seeded;
use crate::workload::Ledger;

/// What the checks looked at and what they found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub events: u64,
    pub odoo_effects: u64,
    pub refunds: u64,
    /// RMA parcels compared with the picking that holds them.
    pub rma_parcels: u64,
    /// Of those, parcels of returns that land in WH/Stock.
    pub landed_in_stock: u64,
    /// Parcels labelled with an RMA the edge's cache did not know: received as unexpected.
    pub rma_parcels_unmatched: u64,
    /// Returns received in full as 2–3 parcels.
    pub multi_parcel_returns: u64,
    /// Dispositions of serial-tracked units.
    pub serial_dispositions: u64,
    /// Dispositions whose units already were where they go (no transfer).
    pub settled_without_transfer: u64,
    /// (product, location, lot) quants compared.
    pub quants: u64,
    pub violations: Vec<String>,
}

/// Every event, in sequence order.
pub async fn events(base: &str, token: &str) -> anyhow::Result<Vec<Value>> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    let mut after = 0u64;
    loop {
        let page = crate::get_json(&client, &format!("{base}/v1/events?after={after}&limit=1000"), token).await?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.is_empty() {
            return Ok(out);
        }
        after = page["next_after"].as_u64().unwrap_or(after);
        out.extend(events);
    }
}

/// Runs every check. `deliveries` is the Odoo delivery of each receipt, by event sequence
/// number, read from the stopped edge's store.
pub fn check(
    events: &[Value],
    ledger: &Ledger,
    odoo: &FakeOdoo,
    refund: &FakeRefund,
    seeded: &Seeded,
    deliveries: &HashMap<u64, Delivery>,
) -> Verdict {
    let mut v = Verdict {
        events: events.len() as u64,
        ..Verdict::default()
    };
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for e in events {
        *seen.entry(e["event_id"].as_str().unwrap_or_default()).or_default() += 1;
    }
    for (id, n) in &seen {
        if *n > 1 {
            v.violations.push(format!("event {id} is stored {n} times"));
        }
    }
    let acked: HashSet<&str> = ledger.acked.iter().map(|a| a.event_id.as_str()).collect();
    let mut keys: HashMap<&str, &str> = HashMap::new();
    for a in &ledger.acked {
        match keys.insert(a.key.as_str(), a.event_id.as_str()) {
            Some(other) if other != a.event_id => v.violations.push(format!(
                "Idempotency-Key {} was acknowledged with two events: {other} and {}",
                a.key, a.event_id
            )),
            _ => {}
        }
        if !seen.contains_key(a.event_id.as_str()) {
            v.violations.push(format!(
                "acknowledged {} (key {}) as event {}, which the store does not have",
                a.path, a.key, a.event_id
            ));
        }
    }
    for e in events {
        let id = e["event_id"].as_str().unwrap_or_default();
        if e["kind"] != "refund_decided" && !acked.contains(id) {
            v.violations
                .push(format!("event {id} ({}) matches no acknowledged request", e["kind"]));
        }
    }
    crate::stock::check(events, odoo, seeded, deliveries, &mut v);
    check_refunds(events, refund, &mut v);
    v
}

fn check_refunds(events: &[Value], refund: &FakeRefund, v: &mut Verdict) {
    let decisions: HashSet<&str> = events
        .iter()
        .filter(|e| e["kind"] == "refund_decided")
        .map(|e| e["event_id"].as_str().unwrap_or_default())
        .collect();
    let mut received: HashMap<String, u32> = HashMap::new();
    for r in refund.refunds() {
        if r.body["decision_id"].as_str() != Some(r.idempotency_key.as_str()) {
            v.violations.push(format!(
                "refund with key {} carries decision {}",
                r.idempotency_key, r.body["decision_id"]
            ));
        }
        *received.entry(r.idempotency_key).or_default() += 1;
    }
    for d in &decisions {
        v.refunds += 1;
        match received.get(*d) {
            Some(1) => {}
            Some(n) => v.violations.push(format!("refund decision {d} was accepted {n} times")),
            None => v
                .violations
                .push(format!("refund decision {d} never reached the receiver")),
        }
    }
    for key in received.keys() {
        if !decisions.contains(key.as_str()) {
            v.violations.push(format!(
                "the receiver holds refund {key}, which is no decision at the edge: a partial effect"
            ));
        }
    }
    for violation in refund.violations() {
        v.violations.push(format!(
            "refund key {} was sent with two different bodies",
            violation.idempotency_key
        ));
    }
}

//! The end-of-campaign checks, from the edge's own event log outwards: every acknowledged request
//! is one event; every receipt and disposition made its Odoo effect exactly once with the right
//! quantities and locations; every refund decision reached the receiver exactly once per key and
//! never with two bodies; nothing in Odoo or at the receiver points at an event the edge does not
//! have (a partial effect of something never acknowledged).

use std::collections::{BTreeMap, HashMap, HashSet};

use returns_edge_fakes::{FakeOdoo, FakeRefund};
use serde_json::Value;

use crate::edge::SITE;
use crate::workload::Ledger;

/// What the checks looked at and what they found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub events: u64,
    pub odoo_effects: u64,
    pub refunds: u64,
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

pub fn check(events: &[Value], ledger: &Ledger, odoo: &FakeOdoo, refund: &FakeRefund) -> Verdict {
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
    check_odoo(events, odoo, &mut v);
    check_refunds(events, refund, &mut v);
    v
}

fn check_odoo(events: &[Value], odoo: &FakeOdoo, v: &mut Verdict) {
    let ids = odoo.ids().clone();
    let pickings = odoo.pickings();
    let moves = odoo.moves();
    let scraps = odoo.scraps();
    let prefix = format!("RE/{SITE}/");
    // Indexed once: a long campaign leaves hundreds of thousands of moves.
    let mut by_picking: HashMap<i64, Vec<(f64, i64)>> = HashMap::new();
    for m in &moves {
        if let Some(p) = m.picking_id {
            by_picking
                .entry(p)
                .or_default()
                .push((odoo.move_quantity(m.id), m.location_dest_id));
        }
    }
    let moved = |picking: i64| -> f64 { by_picking.get(&picking).map_or(0.0, |v| v.iter().map(|(q, _)| q).sum()) };
    let dest = |picking: i64| -> Vec<i64> {
        by_picking
            .get(&picking)
            .map_or(Vec::new(), |v| v.iter().map(|(_, d)| *d).collect())
    };
    let picking_by_id: HashMap<i64, &returns_edge_fakes::odoo::Picking> = pickings.iter().map(|p| (p.id, p)).collect();
    let mut by_origin: HashMap<&str, Vec<&returns_edge_fakes::odoo::Picking>> = HashMap::new();
    for p in pickings.iter().filter(|p| p.backorder_id.is_none()) {
        if let Some(origin) = p.origin.as_deref() {
            by_origin.entry(origin).or_default().push(p);
        }
    }
    let scrap_by_id: HashMap<i64, &returns_edge_fakes::odoo::Scrap> = scraps.iter().map(|s| (s.id, s)).collect();
    let mut ours: BTreeMap<String, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for p in pickings.iter().filter(|p| p.backorder_id.is_none()) {
        if let Some(id) = p.origin.as_deref().and_then(|o| o.strip_prefix(&prefix)) {
            ours.entry(id.to_owned()).or_default().0.push(p.id);
        }
    }
    for s in &scraps {
        if let Some(id) = s.origin.as_deref().and_then(|o| o.strip_prefix(&prefix)) {
            ours.entry(id.to_owned()).or_default().1.push(s.id);
        }
    }
    let by_id: HashMap<&str, &Value> = events
        .iter()
        .map(|e| (e["event_id"].as_str().unwrap_or_default(), e))
        .collect();
    for id in ours.keys() {
        match by_id.get(id.as_str()).map(|e| e["kind"].as_str().unwrap_or_default()) {
            Some("parcel_received" | "item_disposed") => {}
            other => v.violations.push(format!(
                "Odoo holds a record for event {id}, which is {other:?} at the edge: a partial effect"
            )),
        }
    }
    let units = |lines: &Value| -> f64 {
        lines
            .as_array()
            .map(|l| l.iter().map(|x| x["qty"].as_f64().unwrap_or(0.0)).sum())
            .unwrap_or(0.0)
    };
    for e in events {
        let id = e["event_id"].as_str().unwrap_or_default();
        let data = &e["data"];
        let (picks, scrps) = ours.get(id).cloned().unwrap_or_default();
        match e["kind"].as_str() {
            Some("parcel_received") => {
                v.odoo_effects += 1;
                if let Some(rma) = data["rma"].as_str() {
                    let returns: Vec<_> = by_origin.get(rma).cloned().unwrap_or_default();
                    match returns.as_slice() {
                        [p] if p.state == "done" && (moved(p.id) - units(&data["lines"])).abs() < 1e-6 => {}
                        [p] => v.violations.push(format!(
                            "receipt {id} for {rma}: return picking {} is {} with {} units moved, expected done with {}",
                            p.name,
                            p.state,
                            moved(p.id),
                            units(&data["lines"])
                        )),
                        other => v.violations.push(format!(
                            "receipt {id} for {rma}: {} return pickings carry the RMA, expected 1",
                            other.len()
                        )),
                    }
                    if !picks.is_empty() {
                        v.violations.push(format!(
                            "receipt {id} for {rma} also made {} picking(s) of its own",
                            picks.len()
                        ));
                    }
                } else {
                    match picks.as_slice() {
                        [p] => {
                            let picking = picking_by_id.get(p);
                            let state = picking.map(|x| x.state.as_str()).unwrap_or_default();
                            let qty = moved(*p);
                            if state != "done" || (qty - units(&data["lines"])).abs() > 1e-6 {
                                v.violations.push(format!(
                                    "unexpected parcel {id}: picking is {state} with {qty} units, expected done with {}",
                                    units(&data["lines"])
                                ));
                            }
                        }
                        other => v.violations.push(format!(
                            "unexpected parcel {id} made {} pickings, expected 1",
                            other.len()
                        )),
                    }
                }
            }
            Some("item_disposed") => {
                v.odoo_effects += 1;
                let qty = data["qty"].as_f64().unwrap_or(0.0);
                let disposition = data["disposition"].as_str().unwrap_or_default();
                if disposition == "scrap" {
                    let found: Vec<_> = scrps.iter().filter_map(|id| scrap_by_id.get(id).copied()).collect();
                    match found.as_slice() {
                        [s] if s.state == "done" && (s.scrap_qty - qty).abs() < 1e-6 && picks.is_empty() => {}
                        other => v.violations.push(format!(
                            "scrap {id}: {} scraps ({:?}) and {} pickings, expected one done scrap of {qty}",
                            other.len(),
                            other.iter().map(|s| (&s.state, s.scrap_qty)).collect::<Vec<_>>(),
                            picks.len()
                        )),
                    }
                } else {
                    let want = match disposition {
                        "restock" => Some(ids.stock_location),
                        "refurbish" => ids.refurbish_location,
                        "quarantine" => ids.quarantine_location,
                        _ => None,
                    };
                    match picks.as_slice() {
                        [p] => {
                            let state = picking_by_id.get(p).map(|x| x.state.clone());
                            let to = dest(*p);
                            if state.as_deref() != Some("done")
                                || (moved(*p) - qty).abs() > 1e-6
                                || want.is_none_or(|w| to.iter().any(|d| *d != w))
                            {
                                v.violations.push(format!(
                                    "disposition {id} ({disposition} × {qty}): picking {state:?}, {} units to {to:?}, \
                                     expected done to {want:?}",
                                    moved(*p)
                                ));
                            }
                        }
                        other => v.violations.push(format!(
                            "disposition {id} ({disposition}) made {} pickings, expected 1",
                            other.len()
                        )),
                    }
                    if !scrps.is_empty() {
                        v.violations
                            .push(format!("disposition {id} ({disposition}) made a scrap"));
                    }
                }
            }
            _ => {
                if !picks.is_empty() || !scrps.is_empty() {
                    v.violations.push(format!(
                        "event {id} ({}) has Odoo records; it should have none",
                        e["kind"]
                    ));
                }
            }
        }
    }
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

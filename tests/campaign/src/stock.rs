//! The Odoo side of the final check: every receipt and disposition the edge holds, compared with
//! the records it must have made in the fake Odoo, and every quant of the campaign's products
//! compared with what those effects add up to.
//!
//! Issue 12 is why it is this thorough: a real Odoo 17 showed effects that a looser check passed
//! — two parcels of one RMA booked on the wrong pickings, dispositions taking stock from
//! WH/Returns when the return had landed in WH/Stock, another serial than the one the parcel
//! brought. So:
//! - each RMA parcel is compared with the picking that holds it: the one its delivery recorded
//!   (read from the stopped edge's store), which must carry the RMA, be done, hold exactly the
//!   parcel's units per product, have put them where the return goes, and (serials) the ones the
//!   delivery shipped; no picking is claimed twice or by no parcel, and none of the RMA stays open
//!   once all its units came in;
//! - each disposition moved from where its own parcel landed (by the campaign's record of the
//!   return, not by what the sink says), to its location, the serial of its own line when the
//!   line named one, else one its parcel brought and no other disposition of the case took; a
//!   restock of a return that landed in WH/Stock, like a quarantine of an unexpected parcel, moves
//!   nothing;
//! - the quants: the campaign's baseline, plus what seeding shipped, plus each effect above,
//!   must equal Odoo's quant of every (product, location, lot) — none missing, none extra — and
//!   none is negative where Odoo keeps real stock.

use std::collections::{BTreeMap, HashMap, HashSet};

use returns_edge_fakes::odoo::{Move, MoveLine, Picking, Scrap, SeedIds};
use returns_edge_fakes::FakeOdoo;
use serde_json::Value;

use crate::edge::{Delivery, SITE};
use crate::returns::{Delta, Seeded};
use crate::verify::Verdict;

const EPS: f64 = 1e-6;

/// Odoo's records, indexed once: a long campaign leaves hundreds of thousands of moves.
struct Records {
    ids: SeedIds,
    pickings: HashMap<i64, Picking>,
    /// Picking → its moves.
    moves_of: HashMap<i64, Vec<Move>>,
    /// Move → its lines (disposition lines are made inside their move and carry no picking).
    lines_of: HashMap<i64, Vec<MoveLine>>,
    /// Event id → the pickings made for it (`origin = RE/<site>/<event id>`, not backorders).
    ours: HashMap<String, Vec<i64>>,
    /// Event id → the scraps made for it.
    scraps: HashMap<String, Vec<Scrap>>,
    /// Origin → pickings (an RMA's return and its backorders carry it).
    by_origin: HashMap<String, Vec<i64>>,
    locations: HashMap<i64, (String, String)>,
    lots: HashMap<i64, String>,
}

impl Records {
    fn read(odoo: &FakeOdoo) -> Records {
        let prefix = format!("RE/{SITE}/");
        odoo.inspect(|db| {
            let mut r = Records {
                ids: odoo.ids().clone(),
                pickings: db.pickings.values().map(|p| (p.id, p.clone())).collect(),
                moves_of: HashMap::new(),
                lines_of: HashMap::new(),
                ours: HashMap::new(),
                scraps: HashMap::new(),
                by_origin: HashMap::new(),
                locations: db
                    .locations
                    .values()
                    .map(|l| (l.id, (l.name.clone(), l.usage.clone())))
                    .collect(),
                lots: db.lots.values().map(|l| (l.id, l.name.clone())).collect(),
            };
            for m in db.moves.values() {
                if let Some(p) = m.picking_id {
                    r.moves_of.entry(p).or_default().push(m.clone());
                }
            }
            for l in db.move_lines.values() {
                if let Some(m) = l.move_id {
                    r.lines_of.entry(m).or_default().push(l.clone());
                }
            }
            for p in db.pickings.values() {
                let Some(origin) = p.origin.as_deref() else { continue };
                r.by_origin.entry(origin.to_owned()).or_default().push(p.id);
                if let (Some(id), None) = (origin.strip_prefix(&prefix), p.backorder_id) {
                    r.ours.entry(id.to_owned()).or_default().push(p.id);
                }
            }
            for s in db.scraps.values() {
                if let Some(id) = s.origin.as_deref().and_then(|o| o.strip_prefix(&prefix)) {
                    r.scraps.entry(id.to_owned()).or_default().push(s.clone());
                }
            }
            r
        })
    }

    fn quantity(&self, mv: i64) -> f64 {
        self.lines_of
            .get(&mv)
            .map_or(0.0, |l| l.iter().map(|x| x.quantity).sum())
    }

    fn done_moves(&self, picking: i64) -> impl Iterator<Item = &Move> {
        self.moves_of
            .get(&picking)
            .into_iter()
            .flatten()
            .filter(|m| m.state == "done")
    }

    /// Done units per product on a picking.
    fn done_units(&self, picking: i64) -> BTreeMap<i64, f64> {
        let mut out = BTreeMap::new();
        for m in self.done_moves(picking) {
            *out.entry(m.product_id).or_default() += self.quantity(m.id);
        }
        out.retain(|_, q: &mut f64| q.abs() > EPS);
        out
    }

    /// The done lines of a picking that moved something.
    fn done_lines(&self, picking: i64) -> Vec<&MoveLine> {
        self.done_moves(picking)
            .flat_map(|m| self.lines_of.get(&m.id).into_iter().flatten())
            .filter(|l| l.quantity > EPS)
            .collect()
    }

    fn location(&self, id: i64) -> String {
        self.locations
            .get(&id)
            .map_or_else(|| format!("location {id}"), |(name, _)| format!("{name} ({id})"))
    }

    fn usage(&self, id: i64) -> &str {
        self.locations.get(&id).map_or("", |(_, usage)| usage.as_str())
    }

    fn lot(&self, id: i64) -> String {
        self.lots.get(&id).cloned().unwrap_or_else(|| format!("lot {id}"))
    }

    fn lot_names(&self, ids: &[i64]) -> Vec<String> {
        ids.iter().map(|l| self.lot(*l)).collect()
    }
}

/// A receipt line: its product (`None`: a SKU the campaign does not know) and the serial read.
type ReceiptLine = (Option<i64>, Option<String>);

/// A case's receipt as the check models it: where its units are, which serials it brought.
#[derive(Debug, Default)]
struct Landing {
    /// Where the parcel's units went: the return's destination, or quarantine when unexpected.
    at: i64,
    /// Receipt lines: (product, serial read at receipt).
    lines: Vec<ReceiptLine>,
    /// Serials the parcel brought, per product.
    brought: HashMap<i64, Vec<i64>>,
    /// Serials its dispositions have moved so far.
    used: HashSet<i64>,
}

/// What the check keeps while it walks the events.
struct Walk<'a> {
    seeded: &'a Seeded,
    deliveries: &'a HashMap<u64, Delivery>,
    odoo: Records,
    skus: HashMap<i64, String>,
    cases: HashMap<String, Landing>,
    /// Stock changes the edge's events should have made.
    model: Vec<Delta>,
    /// RMA → units received as its parcels, and how many parcels.
    received: HashMap<String, (BTreeMap<i64, f64>, usize)>,
    /// Picking → the receipts that say they booked on it.
    claimed: HashMap<i64, Vec<String>>,
    /// RMA → (event sequence number, picking) of each of its delivered parcels.
    chain: HashMap<String, Vec<(u64, i64)>>,
}

pub fn check(events: &[Value], odoo: &FakeOdoo, seeded: &Seeded, deliveries: &HashMap<u64, Delivery>, v: &mut Verdict) {
    let mut w = Walk {
        seeded,
        deliveries,
        odoo: Records::read(odoo),
        skus: seeded.products.iter().map(|(s, p)| (*p, s.clone())).collect(),
        cases: HashMap::new(),
        model: Vec::new(),
        received: HashMap::new(),
        claimed: HashMap::new(),
        chain: HashMap::new(),
    };
    let by_id: HashMap<&str, &Value> = events
        .iter()
        .map(|e| (e["event_id"].as_str().unwrap_or_default(), e))
        .collect();
    let mut ours: Vec<&String> = w.odoo.ours.keys().chain(w.odoo.scraps.keys()).collect();
    ours.sort();
    ours.dedup();
    for id in ours {
        match by_id.get(id.as_str()).map(|e| e["kind"].as_str().unwrap_or_default()) {
            Some("parcel_received" | "item_disposed") => {}
            other => v.violations.push(format!(
                "Odoo holds a record for event {id}, which is {other:?} at the edge: a partial effect"
            )),
        }
    }
    for e in events {
        let id = e["event_id"].as_str().unwrap_or_default();
        let case = e["case_id"].as_str().unwrap_or_default();
        let data = &e["data"];
        match e["kind"].as_str() {
            Some("parcel_received") => {
                v.odoo_effects += 1;
                match data["rma"].as_str() {
                    Some(rma) => w.rma_parcel(id, case, e["seq"].as_u64().unwrap_or(0), rma, data, v),
                    None => w.unexpected_parcel(id, case, data, v),
                }
            }
            Some("item_disposed") => {
                v.odoo_effects += 1;
                w.disposition(id, case, data, v);
            }
            _ => {
                if w.odoo.ours.contains_key(id) || w.odoo.scraps.contains_key(id) {
                    v.violations.push(format!(
                        "event {id} ({}) has Odoo records; it should have none",
                        e["kind"]
                    ));
                }
            }
        }
    }
    w.returns(v);
    w.quants(odoo, v);
}

/// Units per product of a receipt's lines; lines of a SKU the campaign does not know are `None`.
fn parcel_units(data: &Value, seeded: &Seeded) -> (BTreeMap<i64, f64>, Vec<ReceiptLine>) {
    let mut units = BTreeMap::new();
    let mut lines = Vec::new();
    for l in data["lines"].as_array().into_iter().flatten() {
        let product = l["sku"].as_str().and_then(|s| seeded.products.get(s)).copied();
        if let Some(p) = product {
            *units.entry(p).or_default() += l["qty"].as_f64().unwrap_or(0.0);
        }
        lines.push((product, l["serial"].as_str().map(str::to_owned)));
    }
    (units, lines)
}

impl Walk<'_> {
    fn sku(&self, product: i64) -> String {
        self.skus
            .get(&product)
            .cloned()
            .unwrap_or_else(|| format!("product {product}"))
    }

    fn units_text(&self, units: &BTreeMap<i64, f64>) -> String {
        let parts: Vec<String> = units.iter().map(|(p, q)| format!("{} × {q}", self.sku(*p))).collect();
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }

    fn moved(&mut self, product: i64, lot: Option<i64>, from: i64, to: i64, qty: f64) {
        self.model.push(Delta {
            product,
            location: from,
            lot,
            qty: -qty,
        });
        self.model.push(Delta {
            product,
            location: to,
            lot,
            qty,
        });
    }

    fn rma_parcel(&mut self, id: &str, case: &str, seq: u64, rma: &str, data: &Value, v: &mut Verdict) {
        let seeded = self.seeded;
        let (units, lines) = parcel_units(data, seeded);
        let Some(ret) = seeded.returns.get(rma) else {
            v.violations.push(format!(
                "receipt {id} was matched to RMA {rma}, which the campaign never made"
            ));
            return;
        };
        v.rma_parcels += 1;
        if ret.dest == self.odoo.ids.stock_location {
            v.landed_in_stock += 1;
        }
        // The model: the units leave the customer for where the return goes. A serial line is
        // never split between parcels, so the parcel that holds it brings all its serials.
        let customers = self.odoo.ids.customers_location;
        let mut brought: HashMap<i64, Vec<i64>> = HashMap::new();
        for (&product, &qty) in &units {
            match ret.lots.get(&product) {
                Some(lots) => {
                    if lots.len() as f64 != qty {
                        v.violations.push(format!(
                            "receipt {id} for {rma}: the campaign split a serial line ({qty} of {} serials)",
                            lots.len()
                        ));
                    }
                    for &lot in lots {
                        self.moved(product, Some(lot), customers, ret.dest, 1.0);
                    }
                    brought.insert(product, lots.clone());
                }
                None => self.moved(product, None, customers, ret.dest, qty),
            }
        }
        let entry = self.received.entry(rma.to_owned()).or_default();
        for (&p, &q) in &units {
            *entry.0.entry(p).or_default() += q;
        }
        entry.1 += 1;
        self.cases.insert(
            case.to_owned(),
            Landing {
                at: ret.dest,
                lines: lines.clone(),
                brought: brought.clone(),
                used: HashSet::new(),
            },
        );
        if let Some(own) = self.odoo.ours.get(id) {
            v.violations.push(format!(
                "receipt {id} for {rma} also made {} picking(s) of its own",
                own.len()
            ));
        }

        // The picking that holds the parcel, by the delivery's own record.
        let Some(delivery) = self.deliveries.get(&seq) else {
            v.violations
                .push(format!("receipt {id} for {rma} has no delivery entry for Odoo"));
            return;
        };
        if delivery.state != "Delivered" {
            v.violations.push(format!(
                "receipt {id} for {rma} is {} for Odoo, not delivered: {}",
                delivery.state,
                delivery.note.as_deref().unwrap_or("")
            ));
            return;
        }
        let Some(&picking) = delivery.refs.get("picking") else {
            v.violations.push(format!(
                "receipt {id} for {rma} was delivered without recording its picking: {:?}",
                delivery.refs
            ));
            return;
        };
        self.claimed.entry(picking).or_default().push(id.to_owned());
        self.chain.entry(rma.to_owned()).or_default().push((seq, picking));
        let Some(p) = self.odoo.pickings.get(&picking) else {
            v.violations.push(format!(
                "receipt {id} for {rma} says it booked on picking {picking}, which Odoo does not have"
            ));
            return;
        };
        let what = format!("receipt {id} for {rma} (picking {}, id {picking})", p.name);
        if p.origin.as_deref() != Some(rma) || p.state != "done" {
            v.violations.push(format!(
                "{what}: the picking is {} with origin {:?}, expected done with origin {rma}",
                p.state, p.origin
            ));
        }
        let done = self.odoo.done_units(picking);
        let mut want = units.clone();
        want.retain(|_, q| q.abs() > EPS);
        if done.len() != want.len()
            || done
                .iter()
                .any(|(p, q)| want.get(p).is_none_or(|w| (w - q).abs() > EPS))
        {
            v.violations.push(format!(
                "{what}: the picking holds {} done, the parcel {}",
                self.units_text(&done),
                self.units_text(&want)
            ));
        }
        let lines_done: Vec<MoveLine> = self.odoo.done_lines(picking).into_iter().cloned().collect();
        let mut landed: BTreeMap<(i64, i64), f64> = BTreeMap::new();
        let mut lots_on: HashMap<i64, Vec<i64>> = HashMap::new();
        for l in &lines_done {
            *landed.entry((l.product_id, l.location_dest_id)).or_default() += l.quantity;
            if let Some(lot) = l.lot_id {
                lots_on.entry(l.product_id).or_default().push(lot);
            }
        }
        for (&(product, at), &qty) in &landed {
            if at != ret.dest {
                v.violations.push(format!(
                    "{what}: {qty} of {} landed in {}; the return goes to {}",
                    self.sku(product),
                    self.odoo.location(at),
                    self.odoo.location(ret.dest)
                ));
            }
        }
        for product in units.keys().filter(|p| self.seeded.serial_products.contains(p)) {
            let mut on: Vec<i64> = lots_on.get(product).cloned().unwrap_or_default();
            let mut shipped: Vec<i64> = brought.get(product).cloned().unwrap_or_default();
            on.sort_unstable();
            shipped.sort_unstable();
            if on != shipped {
                v.violations.push(format!(
                    "{what}: booked serials {:?} of {}; the parcel brought {:?}",
                    self.odoo.lot_names(&on),
                    self.sku(*product),
                    self.odoo.lot_names(&shipped)
                ));
            }
        }
        for (product, serial) in &lines {
            let (Some(product), Some(serial)) = (product, serial) else {
                continue;
            };
            let on = lots_on.get(product).cloned().unwrap_or_default();
            if !on.iter().any(|l| self.odoo.lot(*l) == *serial) {
                v.violations.push(format!(
                    "{what}: the receipt line names serial {serial}, which the picking did not book"
                ));
            }
        }
        // Where the receipt recorded its units landed is what its dispositions move from.
        let recorded: BTreeMap<(i64, i64), f64> = delivery
            .refs
            .iter()
            .filter_map(|(k, n)| {
                let (p, l) = k.strip_prefix("dest:")?.split_once(':')?;
                Some(((p.parse().ok()?, l.parse().ok()?), *n as f64))
            })
            .collect();
        if !recorded.is_empty() && recorded != landed {
            v.violations.push(format!(
                "{what}: recorded its units landed at {recorded:?} (product, location), Odoo shows {landed:?}"
            ));
        }
    }

    fn unexpected_parcel(&mut self, id: &str, case: &str, data: &Value, v: &mut Verdict) {
        let (units, lines) = parcel_units(data, self.seeded);
        if data["label"]
            .as_str()
            .is_some_and(|l| self.seeded.returns.contains_key(l))
        {
            v.rma_parcels_unmatched += 1;
        }
        let quarantine = self.odoo.ids.quarantine_location.unwrap_or_default();
        let customers = self.odoo.ids.customers_location;
        for (&product, &qty) in &units {
            self.moved(product, None, customers, quarantine, qty);
        }
        self.cases.insert(
            case.to_owned(),
            Landing {
                at: quarantine,
                lines,
                ..Landing::default()
            },
        );
        let total: f64 = units.values().sum();
        match self.odoo.ours.get(id).map(Vec::as_slice).unwrap_or_default() {
            [p] => {
                let state = self.odoo.pickings.get(p).map(|x| x.state.clone()).unwrap_or_default();
                let qty: f64 = self.odoo.done_units(*p).values().sum();
                let to: Vec<i64> = self.odoo.done_lines(*p).iter().map(|l| l.location_dest_id).collect();
                if state != "done" || (qty - total).abs() > EPS || to.iter().any(|d| *d != quarantine) {
                    v.violations.push(format!(
                        "unexpected parcel {id}: picking is {state} with {qty} units to {to:?}, expected done with {total} \
                         to {}",
                        self.odoo.location(quarantine)
                    ));
                }
            }
            other => v.violations.push(format!(
                "unexpected parcel {id} made {} pickings, expected 1",
                other.len()
            )),
        }
    }

    fn disposition(&mut self, id: &str, case: &str, data: &Value, v: &mut Verdict) {
        let qty = data["qty"].as_f64().unwrap_or(0.0);
        let disposition = data["disposition"].as_str().unwrap_or_default();
        let line = data["line"].as_u64().unwrap_or(0) as usize;
        let picks = self.odoo.ours.get(id).cloned().unwrap_or_default();
        let scraps = self.odoo.scraps.get(id).cloned().unwrap_or_default();
        let Some(landing) = self.cases.get(case) else {
            v.violations.push(format!(
                "disposition {id} belongs to case {case}, whose receipt the edge does not show"
            ));
            return;
        };
        let (Some(product), serial) = landing.lines.get(line.wrapping_sub(1)).cloned().unwrap_or_default() else {
            v.violations.push(format!(
                "disposition {id}: line {line} of case {case} is no product the campaign knows"
            ));
            return;
        };
        let from = landing.at;
        let ids = &self.odoo.ids;
        let to = match disposition {
            "restock" => Some(ids.stock_location),
            "refurbish" => ids.refurbish_location,
            "quarantine" => ids.quarantine_location,
            "scrap" => Some(ids.scrap_location),
            _ => None,
        };
        let Some(to) = to else {
            v.violations.push(format!(
                "disposition {id}: `{disposition}` has no location the campaign knows"
            ));
            return;
        };
        let serial_tracked = self.seeded.serial_products.contains(&product);
        let what = format!(
            "disposition {id} ({disposition} × {qty} of {}, line {line}, from {})",
            self.sku(product),
            self.odoo.location(from)
        );
        // The serials this disposition moved, as Odoo shows them.
        let mut lots: Vec<i64> = Vec::new();
        if from == to {
            // Nothing to move: the receipt put the units where this disposition puts them.
            v.settled_without_transfer += 1;
            if !picks.is_empty() || !scraps.is_empty() {
                v.violations.push(format!(
                    "{what}: the units are already there, yet it made {} picking(s) and {} scrap(s)",
                    picks.len(),
                    scraps.len()
                ));
            }
            return;
        } else if disposition == "scrap" {
            match scraps.as_slice() {
                [s] if s.state == "done"
                    && (s.scrap_qty - qty).abs() < EPS
                    && s.location_id == from
                    && s.scrap_location_id == to
                    && picks.is_empty() =>
                {
                    lots.extend(s.lot_id);
                }
                other => v.violations.push(format!(
                    "{what}: {} scraps ({:?}) and {} pickings, expected one done scrap of {qty} from {}",
                    other.len(),
                    other
                        .iter()
                        .map(|s| (&s.state, s.scrap_qty, s.location_id))
                        .collect::<Vec<_>>(),
                    picks.len(),
                    self.odoo.location(from)
                )),
            }
        } else {
            match picks.as_slice() {
                [p] => {
                    let state = self.odoo.pickings.get(p).map(|x| x.state.clone()).unwrap_or_default();
                    let done: f64 = self.odoo.done_units(*p).values().sum();
                    let lines = self.odoo.done_lines(*p);
                    let wrong: Vec<String> = lines
                        .iter()
                        .filter(|l| l.location_id != from || l.location_dest_id != to || l.product_id != product)
                        .map(|l| {
                            format!(
                                "{} of {} from {} to {}",
                                l.quantity,
                                self.sku(l.product_id),
                                self.odoo.location(l.location_id),
                                self.odoo.location(l.location_dest_id)
                            )
                        })
                        .collect();
                    lots.extend(lines.iter().filter_map(|l| l.lot_id));
                    if state != "done" || (done - qty).abs() > EPS || !wrong.is_empty() {
                        let name = self.odoo.pickings.get(p).map_or("?", |x| x.name.as_str());
                        // `+ 0.0`: an empty sum is -0, which reads like a negative quantity.
                        let mut text = format!("{what}: picking {name} is {state} with {} units done", done + 0.0);
                        if !wrong.is_empty() {
                            text += &format!(" ({})", wrong.join("; "));
                        }
                        text += &format!(", expected done with {qty} to {}", self.odoo.location(to));
                        v.violations.push(text);
                    }
                }
                other => v
                    .violations
                    .push(format!("{what}: made {} pickings, expected 1", other.len())),
            }
            if !scraps.is_empty() {
                v.violations.push(format!("{what}: made a scrap"));
            }
        }
        if serial_tracked {
            v.serial_dispositions += 1;
            let landing = self.cases.get_mut(case).expect("looked up above");
            let brought = landing.brought.get(&product).cloned().unwrap_or_default();
            let names: Vec<String> = lots.iter().map(|l| self.odoo.lot(*l)).collect();
            if lots.len() as f64 != qty {
                v.violations
                    .push(format!("{what}: moved serials {names:?}, expected {qty}"));
            }
            for lot in &lots {
                if !brought.contains(lot) {
                    v.violations.push(format!(
                        "{what}: moved serial {}, which its parcel did not bring (it brought {:?})",
                        self.odoo.lot(*lot),
                        self.odoo.lot_names(&brought)
                    ));
                } else if !landing.used.insert(*lot) {
                    v.violations.push(format!(
                        "{what}: moved serial {}, which another disposition of the case already moved",
                        self.odoo.lot(*lot)
                    ));
                }
            }
            if let Some(serial) = &serial {
                if !names.contains(serial) {
                    v.violations.push(format!(
                        "{what}: the line names serial {serial}, the disposition moved {names:?}"
                    ));
                }
            }
            for lot in lots {
                self.moved(product, Some(lot), from, to, 1.0);
            }
        } else {
            self.moved(product, None, from, to, qty);
        }
    }

    /// Per RMA: every done picking holds exactly one parcel, and none is left open once all the
    /// units came in.
    fn returns(&self, v: &mut Verdict) {
        let mut rmas: Vec<(&String, &crate::returns::SeededReturn)> = self.seeded.returns.iter().collect();
        rmas.sort_by_key(|(rma, _)| *rma);
        for (rma, ret) in rmas {
            let pickings = self.odoo.by_origin.get(rma).cloned().unwrap_or_default();
            for picking in &pickings {
                let Some(p) = self.odoo.pickings.get(picking) else {
                    continue;
                };
                let claims = self.claimed.get(picking).map_or(0, Vec::len);
                if p.state == "done" && claims != 1 {
                    v.violations.push(format!(
                        "RMA {rma}: picking {} is done and {claims} parcel(s) say they are on it, expected 1",
                        p.name
                    ));
                }
            }
            // Receipts of one RMA are booked one at a time in the order they were recorded: each
            // on the backorder the one before left, starting with the return itself.
            let mut chain = self.chain.get(rma).cloned().unwrap_or_default();
            chain.sort_unstable();
            let mut parent: Option<i64> = None;
            for &(_, picking) in &chain {
                let Some(p) = self.odoo.pickings.get(&picking) else {
                    break;
                };
                if p.backorder_id != parent {
                    let names: Vec<String> = chain
                        .iter()
                        .map(|(seq, p)| {
                            let name = self.odoo.pickings.get(p).map_or("?", |x| x.name.as_str());
                            format!("#{seq} on {name}")
                        })
                        .collect();
                    v.violations.push(format!(
                        "RMA {rma}: its parcels in the order received sit on [{}], not on the return and \
                         then each on the backorder the one before left",
                        names.join(", ")
                    ));
                    break;
                }
                parent = Some(picking);
            }
            let (received, parcels) = self.received.get(rma).cloned().unwrap_or_default();
            let expected: BTreeMap<i64, f64> = ret.units.iter().map(|(p, q)| (*p, f64::from(*q))).collect();
            let complete = received.len() == expected.len()
                && received
                    .iter()
                    .all(|(p, q)| expected.get(p).is_some_and(|e| (e - q).abs() < EPS));
            if received
                .iter()
                .any(|(p, q)| *q > expected.get(p).copied().unwrap_or(0.0) + EPS)
            {
                v.violations.push(format!(
                    "RMA {rma}: its parcels brought {}, more than the return's {}",
                    self.units_text(&received),
                    self.units_text(&expected)
                ));
            }
            if !complete {
                continue;
            }
            if parcels > 1 {
                v.multi_parcel_returns += 1;
            }
            let open: Vec<String> = pickings
                .iter()
                .filter_map(|p| self.odoo.pickings.get(p))
                .filter(|p| p.state != "done")
                .map(|p| format!("{} ({})", p.name, p.state))
                .collect();
            if !open.is_empty() {
                v.violations.push(format!(
                    "RMA {rma}: all {} came in as {parcels} parcel(s), yet {} is not done",
                    self.units_text(&expected),
                    open.join(", ")
                ));
            }
        }
    }

    /// Baseline + seeding + the effects above = Odoo's quants, for every (product, location,
    /// lot) of the campaign's products; and no negative quant where Odoo keeps real stock.
    fn quants(&self, odoo: &FakeOdoo, v: &mut Verdict) {
        let products: HashSet<i64> = self.seeded.products.values().copied().collect();
        let mut expected: BTreeMap<(i64, i64, Option<i64>), f64> = BTreeMap::new();
        for d in self
            .seeded
            .baseline
            .iter()
            .chain(&self.seeded.deltas)
            .chain(&self.model)
        {
            *expected.entry((d.product, d.location, d.lot)).or_default() += d.qty;
        }
        let mut actual: BTreeMap<(i64, i64, Option<i64>), f64> = BTreeMap::new();
        for q in odoo.quants().into_iter().filter(|q| products.contains(&q.product_id)) {
            *actual.entry((q.product_id, q.location_id, q.lot_id)).or_default() += q.quantity;
            // A customer's or vendor's quant of an untracked product is only a counter: it goes
            // below zero whenever a parcel nobody shipped through this Odoo is received.
            let counter = q.lot_id.is_none() && !matches!(self.odoo.usage(q.location_id), "internal" | "inventory");
            if q.quantity < -EPS && !counter {
                v.violations.push(format!(
                    "negative quant: {} of {}{} at {}",
                    q.quantity,
                    self.sku(q.product_id),
                    q.lot_id
                        .map(|l| format!(" (serial {})", self.odoo.lot(l)))
                        .unwrap_or_default(),
                    self.odoo.location(q.location_id)
                ));
            }
        }
        let keys: std::collections::BTreeSet<_> = expected.keys().chain(actual.keys()).copied().collect();
        for key in keys {
            let (product, location, lot) = key;
            let e = expected.get(&key).copied().unwrap_or(0.0);
            let a = actual.get(&key).copied().unwrap_or(0.0);
            if e.abs() > EPS || a.abs() > EPS {
                v.quants += 1;
            }
            if (e - a).abs() > EPS {
                v.violations.push(format!(
                    "quant of {}{} at {}: Odoo holds {a}, the receipts and dispositions add up to {e}",
                    self.sku(product),
                    lot.map(|l| format!(" (serial {})", self.odoo.lot(l)))
                        .unwrap_or_default(),
                    self.odoo.location(location)
                ));
            }
        }
    }
}

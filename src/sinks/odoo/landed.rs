//! Where a delivered receipt put its units in Odoo: per product, the locations its done move
//! lines went to (with quantities) and the lots or serials they carried. The receipt records it
//! in its outbox entry's refs when it proves its effect; a disposition of the same case reads it
//! back, so that it moves the units from where **its own** receipt put them (a return left at
//! Odoo's default location lands in WH/Stock, not WH/Returns: transcript 22), and names the
//! serial the parcel brought (left to itself Odoo reserves whichever serial it finds first:
//! transcript 27).
//!
//! Refs are `String → i64`: `dest:<product>:<location>` = units, `lot:<product>:<lot>` =
//! location.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::mapping::many2one;

const DEST: &str = "dest:";
const LOT: &str = "lot:";

/// Where a receipt's units landed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Landed {
    /// Product → (location, units), by location.
    pub(super) units: BTreeMap<i64, Vec<(i64, i64)>>,
    /// Product → (lot, location), by lot.
    pub(super) lots: BTreeMap<i64, Vec<(i64, i64)>>,
}

impl Landed {
    /// From done `stock.move.line` rows read with `product_id`, `location_dest_id`, `lot_id`,
    /// `quantity`. Lines with no quantity (Odoo keeps emptied ones) put nothing anywhere.
    pub(super) fn from_move_lines(rows: &[Map<String, Value>]) -> Landed {
        let mut landed = Landed::default();
        for row in rows {
            let quantity = row.get("quantity").and_then(Value::as_f64).unwrap_or(0.0).round() as i64;
            let (Some(product), Some(location)) = (
                row.get("product_id").and_then(many2one),
                row.get("location_dest_id").and_then(many2one),
            ) else {
                continue;
            };
            if quantity <= 0 {
                continue;
            }
            landed.add(product, location, quantity);
            if let Some(lot) = row.get("lot_id").and_then(many2one) {
                landed.lots.entry(product).or_default().push((lot, location));
            }
        }
        landed.sorted()
    }

    /// One order whatever the source (Odoo's line order, the refs' key order), so that what is
    /// recorded reads back equal.
    fn sorted(mut self) -> Landed {
        self.units.values_mut().for_each(|places| places.sort_unstable());
        self.lots.values_mut().for_each(|lots| lots.sort_unstable());
        self
    }

    /// Units of `product` put in `location`, added to what is known.
    pub(super) fn add(&mut self, product: i64, location: i64, units: i64) {
        let places = self.units.entry(product).or_default();
        match places.iter_mut().find(|(l, _)| *l == location) {
            Some((_, n)) => *n += units,
            None => places.push((location, units)),
        }
    }

    pub(super) fn record(&self, refs: &mut BTreeMap<String, i64>) {
        for (product, places) in &self.units {
            for (location, units) in places {
                refs.insert(format!("{DEST}{product}:{location}"), *units);
            }
        }
        for (product, lots) in &self.lots {
            for (lot, location) in lots {
                refs.insert(format!("{LOT}{product}:{lot}"), *location);
            }
        }
    }

    /// What a receipt recorded, or `None` if it recorded nothing (delivered by an older version,
    /// or found done on a retry before it could read its lines).
    pub(super) fn from_refs(refs: &BTreeMap<String, i64>) -> Option<Landed> {
        let mut landed = Landed::default();
        for (key, value) in refs {
            if let Some((product, location)) = key.strip_prefix(DEST).and_then(pair) {
                landed.add(product, location, *value);
            } else if let Some((product, lot)) = key.strip_prefix(LOT).and_then(pair) {
                landed.lots.entry(product).or_default().push((lot, *value));
            }
        }
        (!landed.units.is_empty()).then_some(landed.sorted())
    }

    /// The location holding most of the receipt's units of `product`.
    pub(super) fn source(&self, product: i64) -> Option<i64> {
        self.units
            .get(&product)?
            .iter()
            .max_by_key(|(location, units)| (*units, -*location))
            .map(|(location, _)| *location)
    }

    /// The lots of `product` the receipt brought, with where each landed.
    pub(super) fn lots_of(&self, product: i64) -> &[(i64, i64)] {
        self.lots.get(&product).map(Vec::as_slice).unwrap_or_default()
    }
}

fn pair(text: &str) -> Option<(i64, i64)> {
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(product: i64, location: i64, lot: Option<i64>, quantity: f64) -> Map<String, Value> {
        let lot = lot.map_or(Value::Bool(false), |l| json!([l, "SN"]));
        json!({"product_id": [product, "P"], "location_dest_id": [location, "L"], "lot_id": lot, "quantity": quantity})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn what_a_receipt_records_reads_back_the_same() {
        let landed = Landed::from_move_lines(&[
            line(41, 8, None, 1.0),
            line(41, 34, None, 2.0),
            line(44, 34, Some(5), 1.0),
            line(44, 34, Some(6), 1.0),
            line(45, 34, None, 0.0),
        ]);
        let mut refs = BTreeMap::from([("picking".to_owned(), 35)]);
        landed.record(&mut refs);
        let back = Landed::from_refs(&refs).unwrap();
        assert_eq!(back, landed);
        assert_eq!(back.source(41), Some(34), "most units of 41 went to 34");
        assert_eq!(back.source(45), None, "an emptied line puts nothing anywhere");
        assert_eq!(back.lots_of(44), &[(5, 34), (6, 34)]);
    }

    #[test]
    fn an_entry_without_records_has_no_landing() {
        assert_eq!(Landed::from_refs(&BTreeMap::from([("picking".to_owned(), 3)])), None);
    }
}

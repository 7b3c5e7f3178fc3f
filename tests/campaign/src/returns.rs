//! The expected returns the campaign seeds in the fake Odoo, and the record of what seeding did
//! to its stock, so that the final check can tell the edge's effects from the campaign's own.
//!
//! Each return is a sale, its delivery done and a return picking tagged with the RMA, made with
//! Odoo's return wizard — mostly into WH/Returns, sometimes with the wizard's location left at
//! Odoo's default, which lands the goods in WH/Stock (transcript 22). Kinds (issue 12):
//! - single-parcel returns of 1–2 untracked products, as the campaign always had;
//! - returns received as 2–3 parcels that split the return's units;
//! - returns of a serial-tracked product (one serial per unit), alone or with an untracked line,
//!   in one parcel or several.
//!
//! Serial-tracked returns are made in batches, each of a product of its own whose serials are
//! all delivered when the batch is made. A returned serial lands in WH/Returns or WH/Stock; were
//! it delivered again to a later return, its own disposition would rightly find it gone. A batch
//! waits in `staged` until the edge's RMA cache knows it: a parcel of a serial-tracked product
//! that the edge takes for an unexpected one cannot be booked without its serial.
//!
//! A serial line is never split between parcels: the fake Odoo reserves a backorder's serials
//! from everything the delivery shipped, including the ones an earlier parcel already brought
//! back (real Odoo leaves those out), so a split would double-book a serial in the fake.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use returns_edge_fakes::odoo::{NewProduct, ReturnSpec, ReturnTo};
use returns_edge_fakes::FakeOdoo;

use crate::workload::{Expected, ParcelLine, SKUS};

/// Returns of serial-tracked products per batch (and so per serial product).
const BATCH: u32 = 12;
/// Serials seeded per batch: enough for every return of it to ship two.
const SERIALS_PER_BATCH: u32 = 2 * BATCH + 6;

/// A stock change: `qty` of (product, location, lot).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delta {
    pub product: i64,
    pub location: i64,
    pub lot: Option<i64>,
    pub qty: f64,
}

/// One return as the campaign made it.
#[derive(Debug, Clone, Default)]
pub struct SeededReturn {
    /// Where the return picking puts the goods (WH/Returns, or WH/Stock by the wizard's default).
    pub dest: i64,
    /// Units sold and expected back, per product.
    pub units: BTreeMap<i64, u32>,
    /// Serials shipped (and expected back), per product.
    pub lots: BTreeMap<i64, Vec<i64>>,
    /// Parcels it is sent in.
    pub parcels: usize,
}

/// What the campaign put in Odoo, for the final check.
#[derive(Debug, Default)]
pub struct Seeded {
    /// RMA → the return.
    pub returns: HashMap<String, SeededReturn>,
    /// SKU → product, for every product the campaign's parcels hold.
    pub products: HashMap<String, i64>,
    pub serial_products: HashSet<i64>,
    /// The quants of those products before any return was seeded (the edge had not started).
    pub baseline: Vec<Delta>,
    /// What seeding changed since: serials added, deliveries shipped.
    pub deltas: Vec<Delta>,
}

impl Seeded {
    /// Returns seeded with more than one parcel, landing in `stock`, of serial products.
    pub fn counts(&self, stock: i64) -> (usize, usize, usize) {
        let r = self.returns.values();
        (
            r.clone().filter(|r| r.parcels > 1).count(),
            r.clone().filter(|r| r.dest == stock).count(),
            r.filter(|r| !r.lots.is_empty()).count(),
        )
    }
}

/// Makes the returns.
#[derive(Debug)]
pub struct Seeder {
    partner: i64,
    untracked: [i64; 3],
    stock: i64,
    made: u64,
    batches: u32,
    /// Serial-tracked returns not yet handed to the stations (see the module note).
    pub staged: VecDeque<Vec<Expected>>,
    pub seeded: Seeded,
}

impl Seeder {
    /// Stocks the untracked products and records the baseline; call before the edge starts.
    pub fn new(odoo: &FakeOdoo) -> Seeder {
        let ids = odoo.ids().clone();
        let untracked = [ids.large_cabinet, ids.storage_box, ids.pedal_bin];
        for p in untracked {
            odoo.set_quant(p, ids.stock_location, None, 1_000_000.0);
        }
        let mut seeded = Seeded::default();
        for (sku, p) in SKUS.iter().zip(untracked) {
            seeded.products.insert((*sku).to_owned(), p);
        }
        seeded.baseline = odoo
            .quants()
            .into_iter()
            .filter(|q| untracked.contains(&q.product_id))
            .map(|q| Delta {
                product: q.product_id,
                location: q.location_id,
                lot: q.lot_id,
                qty: q.quantity,
            })
            .collect();
        Seeder {
            partner: odoo.add_partner("Campaign Customer"),
            untracked,
            stock: ids.stock_location,
            made: 0,
            batches: 0,
            staged: VecDeque::new(),
            seeded,
        }
    }

    /// `n` returns of untracked products, each as its parcels: most of one parcel as before,
    /// some of 2–3.
    pub fn untracked(&mut self, odoo: &FakeOdoo, rng: &mut StdRng, n: u64) -> Vec<Vec<Expected>> {
        let mut out = Vec::new();
        for _ in 0..n {
            let multi = rng.gen_bool(0.3);
            let (count, max_qty) = if multi {
                (rng.gen_range(2..=3), 3)
            } else {
                (rng.gen_range(1..=2), 2)
            };
            let mut picked = self.untracked.to_vec();
            picked.shuffle(rng);
            let lines: Vec<(i64, u32)> = picked[..count]
                .iter()
                .map(|&p| (p, rng.gen_range(1..=max_qty)))
                .collect();
            let parcels = if multi { rng.gen_range(2..=3) } else { 1 };
            out.extend(self.make(odoo, rng, &lines, parcels));
        }
        out
    }

    /// A batch of returns of a new serial-tracked product, into `staged`.
    pub fn serial_batch(&mut self, odoo: &FakeOdoo, rng: &mut StdRng) {
        self.batches += 1;
        let sku = format!("E-SN{:02}", self.batches);
        let product = odoo.add_product(
            NewProduct::new(
                &format!("Campaign Serial Scanner {}", self.batches),
                &sku,
                &format!("SNBATCH{:04}", self.batches),
            )
            .tracked("serial"),
        );
        let names: Vec<String> = (1..=SERIALS_PER_BATCH).map(|i| format!("{sku}-{i:04}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for lot in odoo.add_serials(product, self.stock, &names) {
            self.seeded.deltas.push(Delta {
                product,
                location: self.stock,
                lot: Some(lot),
                qty: 1.0,
            });
        }
        self.seeded.products.insert(sku, product);
        self.seeded.serial_products.insert(product);
        for _ in 0..BATCH {
            let mut lines = vec![(product, rng.gen_range(1..=2))];
            if rng.gen_bool(0.5) {
                lines.push((self.untracked[rng.gen_range(0..3)], rng.gen_range(1..=2)));
            }
            let parcels = if rng.gen_bool(0.4) { rng.gen_range(2..=3) } else { 1 };
            let made = self.make(odoo, rng, &lines, parcels);
            self.staged.extend(made);
        }
    }

    /// Seeds one return of `lines` (product, units) and splits it into up to `parcels` parcels;
    /// `None` when Odoo refused to seed it.
    fn make(
        &mut self,
        odoo: &FakeOdoo,
        rng: &mut StdRng,
        lines: &[(i64, u32)],
        parcels: usize,
    ) -> Option<Vec<Expected>> {
        let rma = format!("RMA-C{:06}", self.made);
        let spec = ReturnSpec {
            rma: Some(rma.clone()),
            client_order_ref: Some(format!("PO-{}", self.made)),
            return_tracking: None,
            delivery_tracking: None,
        };
        self.made += 1;
        let odoo_lines: Vec<(i64, f64)> = lines.iter().map(|&(p, q)| (p, f64::from(q))).collect();
        let to = if rng.gen_bool(0.25) {
            ReturnTo::WizardDefault
        } else {
            ReturnTo::Location(odoo.ids().returns_location?)
        };
        let open = odoo.add_return_to(self.partner, &odoo_lines, &spec, to).ok()?;
        let delivery: HashSet<i64> = open.delivery.move_ids.iter().copied().collect();
        let (shipped, dest) = odoo.inspect(|db| {
            let shipped: Vec<_> = db
                .move_lines
                .values()
                .filter(|l| l.move_id.is_some_and(|m| delivery.contains(&m)) && l.quantity > 0.0)
                .map(|l| (l.product_id, l.location_id, l.location_dest_id, l.lot_id, l.quantity))
                .collect();
            (shipped, db.pickings.get(open.picking_id).map(|p| p.location_dest_id))
        });
        let mut seeded = SeededReturn {
            dest: dest?,
            ..SeededReturn::default()
        };
        for &(product, from, to, lot, qty) in &shipped {
            for (location, qty) in [(from, -qty), (to, qty)] {
                self.seeded.deltas.push(Delta {
                    product,
                    location,
                    lot,
                    qty,
                });
            }
            if let Some(lot) = lot {
                seeded.lots.entry(product).or_default().push(lot);
            }
        }
        for &(product, qty) in lines {
            *seeded.units.entry(product).or_default() += qty;
        }
        let names: HashMap<i64, String> = odoo.inspect(|db| {
            seeded
                .lots
                .values()
                .flatten()
                .filter_map(|lot| Some((*lot, db.lots.get(*lot)?.name.clone())))
                .collect()
        });
        let sku_of: HashMap<i64, String> = self.seeded.products.iter().map(|(s, p)| (*p, s.clone())).collect();
        let split = split(rng, lines, &seeded.lots, parcels);
        seeded.parcels = split.len();
        let out = split
            .into_iter()
            .map(|chunks| {
                // The serials are read off the units for some parcels, not for others.
                let read_serials = rng.gen_bool(0.5);
                let mut lines: Vec<ParcelLine> = Vec::new();
                for chunk in chunks {
                    let sku = sku_of.get(&chunk.product).cloned().unwrap_or_default();
                    if chunk.lots.is_empty() {
                        match lines.iter_mut().find(|l| l.sku == sku) {
                            Some(line) => line.qty += chunk.qty,
                            None => lines.push(ParcelLine {
                                sku,
                                qty: chunk.qty,
                                serial: None,
                            }),
                        }
                    } else {
                        // One line per serial-tracked unit: a unit is disposed of on its own
                        // (a stock.scrap names one serial).
                        for lot in &chunk.lots {
                            lines.push(ParcelLine {
                                sku: sku.clone(),
                                qty: 1,
                                serial: read_serials.then(|| names.get(lot).cloned()).flatten(),
                            });
                        }
                    }
                }
                Expected {
                    label: rma.clone(),
                    lines,
                }
            })
            .collect();
        self.seeded.returns.insert(rma, seeded);
        Some(out)
    }
}

/// A share of a return that travels as one piece: one unit of an untracked product, or a
/// serial-tracked line whole, with its serials.
#[derive(Debug, Clone)]
struct Chunk {
    product: i64,
    qty: u32,
    lots: Vec<i64>,
}

/// Deals a return's units into up to `parcels` parcels, each holding at least one; a
/// serial-tracked line stays whole (see the module note).
fn split(rng: &mut StdRng, lines: &[(i64, u32)], lots: &BTreeMap<i64, Vec<i64>>, parcels: usize) -> Vec<Vec<Chunk>> {
    let mut chunks: Vec<Chunk> = Vec::new();
    for &(product, qty) in lines {
        match lots.get(&product) {
            Some(lots) => chunks.push(Chunk {
                product,
                qty,
                lots: lots.clone(),
            }),
            None => chunks.extend((0..qty).map(|_| Chunk {
                product,
                qty: 1,
                lots: Vec::new(),
            })),
        }
    }
    chunks.shuffle(rng);
    let n = parcels.clamp(1, chunks.len().max(1));
    let mut out: Vec<Vec<Chunk>> = vec![Vec::new(); n];
    for (i, chunk) in chunks.into_iter().enumerate() {
        let at = if i < n { i } else { rng.gen_range(0..n) };
        out[at].push(chunk);
    }
    // In product order within a parcel, as a packing list reads.
    for parcel in &mut out {
        parcel.sort_by_key(|c| c.product);
    }
    out
}

//! Sync-in for the RMA cache: reads Odoo's open return pickings with everything a station needs
//! to recognise a parcel (moves, products, the original delivery and sale) and turns them into
//! [`ExpectedReturn`]s. It only reads Odoo; storing is `store/rma.rs`, scheduling `src/rma.rs`.
//!
//! # What a return is
//! A `stock.picking` with `picking_type_code = incoming` and `return_id != False` (Odoo's return
//! wizard links the return to the delivery it returns), **or an incoming backorder of one**. Odoo
//! does not copy `return_id` to a backorder (transcripts 24 and 25): when the first parcel of a
//! multi-parcel return is received, the return is validated with a backorder for the rest, the
//! return itself is `done`, and what is still expected sits on a picking with `return_id = False`
//! and `backorder_id` = the return (a backorder can have its own backorder, so chains). Reading
//! only `return_id` would make the second parcel an unexpected one. So the sync reads incoming
//! pickings with a `return_id` *or* a `backorder_id`, and follows each open backorder's
//! `backorder_id` chain to its root: a root with a `return_id` makes it a return; a root without
//! one (a purchase receipt's backorder) is not, and is dropped without a word.
//!
//! A backorder is cached like any open return (by its own picking id, see `store/rma.rs`): its
//! lines are its own moves (what is still open), its delivery (name, date, shipped serials) is the
//! root's `return_id`, its sale order its own `sale_id` or else the nearest ancestor's, and its
//! tracking numbers are its own, its ancestors' (the return label's number stays on the root;
//! Odoo does not copy `carrier_tracking_ref`) and the delivery's. Its RMA reference is the first
//! usable `rma_field` value along the chain from itself to the root (Odoo copies `origin` to
//! backorders; a custom field may not be copied), else the root's name: the name on the label the
//! customer got, never the backorder's own name, so a scan of the RMA label keeps finding the
//! return until the last parcel is in. The done original leaves the cache by its own id while the
//! backorder enters by its id, in the same sync (both are written in the one Odoo transaction
//! that validates the original, so an incremental sync sees both at once).
//!
//! A plain return's RMA reference is its `rma_field` value (default `origin`), or its own name
//! when that is empty.
//!
//! # Incremental and full
//! Incremental reads pickings with `write_date >= watermark` and **no state filter**, so that a
//! return validated or cancelled since is seen and leaves the cache. `>=`, not `>`: Odoo's
//! `write_date` has one-second resolution on the wire, so a write committed later within the
//! watermark's second shows the same value; re-reading that second costs a few rows, missing it
//! would lose a return. The caller de-duplicates by (id, write_date) against what it holds, so an
//! unchanged picking is not read in full again (nor its backorder chain: only returns are held).
//! The watermark is always a value Odoo wrote, never our clock, so clock skew between the edge and
//! Odoo cannot open a gap. A new backorder is a new picking with a fresh `write_date`, so it is
//! seen like a new return.
//!
//! Full reads every open return and backorder (`state not in (done, cancel)`); the caller then
//! drops every cached entry not returned (deleted pickings, and changes incremental cannot see: a
//! sale order's reference or a product's weight edited without touching the picking). Before it,
//! the latest `write_date` of any return or backorder is read, so the next incremental starts from
//! there instead of from the beginning of history.
//!
//! # Calls
//! One `search_read` per model for the whole batch (`id in [...]`, in chunks), never one per
//! picking: stock.picking (returns and backorders), stock.move, product.product, stock.picking
//! (deliveries), stock.move.line (sold lots), sale.order, sale.order.line, res.currency. Eight
//! calls however many returns changed (Odoo 17 here: about 22 ms each). Open backorders whose
//! chain goes through pickings not read yet add one stock.picking read per level of the chains,
//! for all of them together (`id in` the parents wanted): none in the usual incremental sync
//! (the original is written with its backorder, so it is in the first read), one in a full sync
//! with backorders of done returns, bounded by [`MAX_CHAIN`].
//!
//! Personal data: of the customer only the sale order's partner display name and their own
//! order reference are read; no address, e-mail or phone is asked for.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Map, Value};

use super::config::OdooConfig;
use super::rpc::{Call, OdooClient, OdooError};
use crate::domain::{Barcode, ExpectedLine, ExpectedReturn, RmaRef, Serial, Sku};

/// Ids per `in` list: keeps each request far below proxies' body limits.
const CHUNK: usize = 200;

/// Most levels of backorder chains read in one sync. A return comes back in a few parcels; a
/// chain deeper than this is a data problem, and must not turn a sync into an unbounded series
/// of calls: its backorders are left out (with why) instead.
pub const MAX_CHAIN: usize = 32;

/// Which pickings to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncMode {
    /// Pickings written at or after this Odoo `write_date` (`YYYY-MM-DD HH:MM:SS`, UTC).
    Incremental { since: String },
    /// Every open return (and backorder of one).
    Full,
}

/// What one sync read.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// Open returns, read in full: insert or replace.
    pub returns: Vec<ExpectedReturn>,
    /// Pickings seen done or cancelled: remove (most are cached returns; a done purchase
    /// receipt's backorder is here too, and removing what is not cached does nothing).
    pub closed: Vec<i64>,
    /// Open returns whose (id, write_date) the caller already holds: keep as they are.
    pub unchanged: Vec<i64>,
    /// Open returns that could not be turned into an expected return, with why (kept out).
    pub skipped: Vec<(i64, String)>,
    /// The next watermark: the highest `write_date` seen (Odoo's text), if any.
    pub watermark: Option<String>,
    /// A full read: every open return is in `returns` or `unchanged`; drop everything else.
    pub complete: bool,
}

/// Reads expected returns from one Odoo database.
#[derive(Debug)]
pub struct RmaSource {
    client: OdooClient,
    rma_field: String,
    tracking_field: Option<String>,
}

/// A record as `search_read` returns it.
type Record = Map<String, Value>;

impl RmaSource {
    /// A source with its own client (and session) for the sink's Odoo.
    pub fn new(config: &OdooConfig) -> Result<Self, String> {
        let secret = config.read_secret()?;
        Ok(RmaSource {
            client: OdooClient::new(config, secret)?,
            rma_field: config.rma_field.clone(),
            tracking_field: config.tracking_field.clone(),
        })
    }

    /// Reads the returns `mode` asks for. `held(id, write_date_ms)` says whether the caller
    /// already holds that version of a picking (it is then not read in full again).
    pub async fn fetch(&self, mode: &SyncMode, held: impl Fn(i64, u64) -> bool) -> Result<Fetched, OdooError> {
        // Returns, and backorders that may be of one: which are is known after their chains.
        let candidates = json!([
            ["picking_type_code", "=", "incoming"],
            "|",
            ["return_id", "!=", false],
            ["backorder_id", "!=", false]
        ]);
        let mut fetched = Fetched::default();
        let pickings = match mode {
            SyncMode::Incremental { since } => {
                fetched.watermark = Some(since.clone());
                let mut domain = candidates.as_array().cloned().unwrap_or_default();
                domain.push(json!(["write_date", ">=", since]));
                self.pickings(Value::Array(domain)).await?
            }
            SyncMode::Full => {
                fetched.complete = true;
                fetched.watermark = self.latest_write_date(&candidates).await?;
                let mut domain = candidates.as_array().cloned().unwrap_or_default();
                domain.push(json!(["state", "not in", ["done", "cancel"]]));
                self.pickings(Value::Array(domain)).await?
            }
        };
        let mut open = Vec::new();
        for picking in &pickings {
            let id = int(picking, "id").ok_or_else(|| shape("stock.picking without id", picking))?;
            let write_date = text(picking, "write_date").unwrap_or_default().to_owned();
            if fetched.watermark.as_deref().is_none_or(|w| write_date.as_str() > w) {
                fetched.watermark = Some(write_date.clone());
            }
            match text(picking, "state") {
                Some("done" | "cancel") => fetched.closed.push(id),
                // Only returns are ever held: a held backorder needs no chain read either.
                _ if parse_datetime_ms(&write_date).is_some_and(|ms| held(id, ms)) => fetched.unchanged.push(id),
                _ => open.push(picking),
            }
        }
        let ancestors = self.ancestors(&pickings, &open).await?;
        let known = known_pickings(&pickings, &ancestors);
        let mut returns = Vec::new();
        for picking in open {
            let id = int(picking, "id").unwrap_or_default();
            match lineage(picking, &known) {
                Lineage::Return(chain) => returns.push((picking, chain)),
                Lineage::NotAReturn => {}
                Lineage::Needs(parent) => fetched.skipped.push((
                    id,
                    format!(
                        "it is a backorder whose chain goes through picking {parent}, which cannot be read \
                         (deleted, not visible to this user, or more than {MAX_CHAIN} levels up)"
                    ),
                )),
            }
        }
        if !returns.is_empty() {
            let (expected, skipped) = self.expand(&returns).await?;
            fetched.returns = expected;
            fetched.skipped.extend(skipped);
        }
        Ok(fetched)
    }

    /// Reads the pickings the open backorders' chains go through and `pickings` does not hold:
    /// one level of every chain per call (chunked), never one call per backorder.
    async fn ancestors(&self, pickings: &[Record], open: &[&Record]) -> Result<Vec<Record>, OdooError> {
        let mut ancestors: Vec<Record> = Vec::new();
        let mut asked: BTreeSet<i64> = BTreeSet::new();
        for _ in 0..MAX_CHAIN {
            let known = known_pickings(pickings, &ancestors);
            let wanted: BTreeSet<i64> = open
                .iter()
                .filter_map(|p| match lineage(p, &known) {
                    Lineage::Needs(parent) => Some(parent),
                    _ => None,
                })
                .filter(|parent| !asked.contains(parent))
                .collect();
            if wanted.is_empty() {
                break;
            }
            let read = self
                .by_ids("stock.picking", "id", &wanted, &self.picking_fields())
                .await?;
            asked.extend(wanted);
            ancestors.extend(read);
        }
        Ok(ancestors)
    }

    fn picking_fields(&self) -> Vec<&str> {
        let mut fields = vec![
            "id",
            "name",
            "state",
            "write_date",
            "return_id",
            "backorder_id",
            "sale_id",
        ];
        for extra in std::iter::once(self.rma_field.as_str()).chain(self.tracking_field.as_deref()) {
            if !fields.contains(&extra) {
                fields.push(extra);
            }
        }
        fields
    }

    async fn pickings(&self, domain: Value) -> Result<Vec<Record>, OdooError> {
        self.client
            .search_read("stock.picking", domain, &self.picking_fields())
            .await
    }

    /// The latest `write_date` of any picking the incremental sync would read, open or not.
    async fn latest_write_date(&self, returns: &Value) -> Result<Option<String>, OdooError> {
        let value = self
            .client
            .call(
                Call::new("stock.picking", "search_read")
                    .arg("domain", returns.clone())
                    .kwarg("fields", json!(["write_date"]))
                    .kwarg("order", json!("write_date desc, id desc"))
                    .kwarg("limit", json!(1)),
            )
            .await?;
        Ok(value
            .as_array()
            .and_then(|rows| rows.first())
            .and_then(|row| row.get("write_date"))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// `search_read` of `ids` in chunks.
    async fn by_ids(
        &self,
        model: &'static str,
        field: &str,
        ids: &BTreeSet<i64>,
        fields: &[&str],
    ) -> Result<Vec<Record>, OdooError> {
        let ids: Vec<i64> = ids.iter().copied().collect();
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            out.extend(
                self.client
                    .search_read(model, json!([[field, "in", chunk]]), fields)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Reads what the open returns refer to and builds their expected returns. Each comes with
    /// its chain of ancestors (nearest first, the root return last; empty for a return itself).
    async fn expand(
        &self,
        pickings: &[(&Record, Vec<&Record>)],
    ) -> Result<(Vec<ExpectedReturn>, Vec<(i64, String)>), OdooError> {
        let picking_ids: BTreeSet<i64> = pickings.iter().filter_map(|(p, _)| int(p, "id")).collect();
        let moves = self
            .by_ids(
                "stock.move",
                "picking_id",
                &picking_ids,
                &["picking_id", "product_id", "product_uom_qty", "state", "sale_line_id"],
            )
            .await?;
        let product_ids: BTreeSet<i64> = moves.iter().filter_map(|m| many2one(m, "product_id")).collect();
        let products = self
            .by_ids(
                "product.product",
                "id",
                &product_ids,
                &["default_code", "barcode", "display_name", "name", "weight", "tracking"],
            )
            .await?;
        let delivery_ids: BTreeSet<i64> = pickings
            .iter()
            .filter_map(|(p, chain)| many2one(root(p, chain), "return_id"))
            .collect();
        let mut delivery_fields = vec!["name", "date_done"];
        delivery_fields.extend(self.tracking_field.as_deref());
        let deliveries = self
            .by_ids("stock.picking", "id", &delivery_ids, &delivery_fields)
            .await?;
        let sold_lines = self
            .by_ids(
                "stock.move.line",
                "picking_id",
                &delivery_ids,
                &["picking_id", "product_id", "lot_id", "lot_name"],
            )
            .await?;
        let order_ids: BTreeSet<i64> = pickings.iter().filter_map(|(p, chain)| sale_order(p, chain)).collect();
        let orders = self
            .by_ids(
                "sale.order",
                "id",
                &order_ids,
                &["name", "client_order_ref", "partner_id", "currency_id"],
            )
            .await?;
        let order_lines = self
            .by_ids(
                "sale.order.line",
                "order_id",
                &order_ids,
                &["order_id", "product_id", "price_unit"],
            )
            .await?;
        let currency_ids: BTreeSet<i64> = orders.iter().filter_map(|o| many2one(o, "currency_id")).collect();
        let currencies = self
            .by_ids("res.currency", "id", &currency_ids, &["name", "decimal_places"])
            .await?;

        let related = Related {
            moves: group(&moves, "picking_id"),
            products: by_id(&products),
            deliveries: by_id(&deliveries),
            sold: group(&sold_lines, "picking_id"),
            orders: by_id(&orders),
            order_lines: order_lines.iter().filter_map(|l| Some((int(l, "id")?, l))).collect(),
            lines_of_order: group(&order_lines, "order_id"),
            currencies: by_id(&currencies),
        };
        let mut returns = Vec::new();
        let mut skipped = Vec::new();
        for (picking, chain) in pickings {
            let id = int(picking, "id").unwrap_or_default();
            match self.expected(picking, chain, &related) {
                Ok(expected) => returns.push(expected),
                Err(why) => skipped.push((id, why)),
            }
        }
        Ok((returns, skipped))
    }

    /// One expected return from its picking, its chain of ancestors and the related records.
    fn expected(&self, picking: &Record, chain: &[&Record], related: &Related<'_>) -> Result<ExpectedReturn, String> {
        let id = int(picking, "id").unwrap_or_default();
        let name = text(picking, "name").ok_or("it has no name")?.to_owned();
        let rma = rma_ref(&self.rma_field, picking, chain)?;
        let write_date = text(picking, "write_date").unwrap_or_default();
        let write_date_ms = parse_datetime_ms(write_date)
            .ok_or_else(|| format!("write_date `{write_date}` is not an Odoo datetime"))?;
        let delivery = many2one(root(picking, chain), "return_id").and_then(|d| related.deliveries.get(&d).copied());
        let order_id = sale_order(picking, chain);
        let order = order_id.and_then(|o| related.orders.get(&o).copied());
        let currency = order
            .and_then(|o| many2one(o, "currency_id"))
            .and_then(|c| related.currencies.get(&c).copied());
        let decimals = currency
            .and_then(|c| int(c, "decimal_places"))
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(2);
        let mut tracking = Vec::new();
        if let Some(field) = &self.tracking_field {
            // The return label's number stays on the root: Odoo does not copy the tracking
            // reference to a backorder, and the next parcel may come under that label.
            let records = std::iter::once(picking).chain(chain.iter().copied()).chain(delivery);
            for number in records.flat_map(|r| tracking_numbers(text(r, field))) {
                if !tracking.contains(&number) {
                    tracking.push(number);
                }
            }
        }

        // Moves of one product are one line: the station counts units per product.
        let mut lines: Vec<ExpectedLine> = Vec::new();
        for m in related.moves.get(&id).into_iter().flatten() {
            if text(m, "state") == Some("cancel") {
                continue;
            }
            let Some(product_id) = many2one(m, "product_id") else {
                continue;
            };
            let qty = m.get("product_uom_qty").and_then(Value::as_f64).unwrap_or(0.0).round();
            if qty < 1.0 {
                continue;
            }
            let qty = qty.min(f64::from(u32::MAX)) as u32;
            if let Some(line) = lines.iter_mut().find(|l| l.product_id == product_id) {
                line.qty = line.qty.saturating_add(qty);
                continue;
            }
            let product = related.products.get(&product_id).copied();
            let price = m
                .get("sale_line_id")
                .and_then(|_| many2one(m, "sale_line_id"))
                .and_then(|l| related.order_lines.get(&l).copied())
                .or_else(|| {
                    // A return made without the sale link: the order's line for this product.
                    related
                        .lines_of_order
                        .get(&order_id?)?
                        .iter()
                        .copied()
                        .find(|l| many2one(l, "product_id") == Some(product_id))
                })
                .and_then(|l| l.get("price_unit").and_then(Value::as_f64))
                .and_then(|p| minor_units(p, decimals));
            let sold = delivery
                .and_then(|d| int(d, "id"))
                .and_then(|d| related.sold.get(&d))
                .into_iter()
                .flatten()
                .filter(|l| many2one(l, "product_id") == Some(product_id))
                .filter_map(|l| many2one_name(l, "lot_id").or_else(|| text(l, "lot_name")))
                .filter_map(|lot| Serial::parse(lot.trim()).ok());
            let mut serials: Vec<Serial> = Vec::new();
            for serial in sold {
                if !serials.contains(&serial) {
                    serials.push(serial);
                }
            }
            let name = product
                .and_then(|p| text(p, "display_name").or_else(|| text(p, "name")))
                .map_or_else(|| format!("product {product_id}"), str::to_owned);
            lines.push(ExpectedLine {
                product_id,
                sku: product
                    .and_then(|p| text(p, "default_code"))
                    .and_then(|c| Sku::parse(c.trim()).ok()),
                barcode: product
                    .and_then(|p| text(p, "barcode"))
                    .and_then(|b| Barcode::parse(b.trim()).ok()),
                name,
                qty,
                serials,
                serial_tracked: product.and_then(|p| text(p, "tracking")) == Some("serial"),
                // Odoo's default weight unit is the kilogram (`weight` on product.product).
                unit_weight_g: product
                    .and_then(|p| p.get("weight").and_then(Value::as_f64))
                    .filter(|kg| *kg > 0.0 && kg.is_finite())
                    .map(|kg| (kg * 1000.0).round() as u64),
                unit_price_minor: price,
            });
        }
        Ok(ExpectedReturn {
            rma,
            picking_id: id,
            picking: name,
            order: order.and_then(|o| text(o, "name")).map(str::to_owned),
            customer_ref: order
                .and_then(|o| text(o, "client_order_ref"))
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty()),
            customer: order.and_then(|o| many2one_name(o, "partner_id")).map(str::to_owned),
            delivery: delivery.and_then(|d| text(d, "name")).map(str::to_owned),
            delivered_at_ms: delivery.and_then(|d| text(d, "date_done")).and_then(parse_datetime_ms),
            tracking,
            currency: currency.and_then(|c| text(c, "name")).map(str::to_owned),
            lines,
            write_date_ms,
        })
    }
}

/// The RMA reference of an open return: the first usable `field` (the sink's `rma_field`) value
/// from the picking up its chain, else the root's name (for a backorder: the name on the
/// customer's label, not the backorder's own).
fn rma_ref(field: &str, picking: &Record, chain: &[&Record]) -> Result<RmaRef, String> {
    let mut tried: Option<&str> = None;
    for record in std::iter::once(picking).chain(chain.iter().copied()) {
        let Some(value) = text(record, field).map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        if let Ok(rma) = RmaRef::parse(value) {
            return Ok(rma);
        }
        tried.get_or_insert(value);
    }
    let root_name = text(root(picking, chain), "name").ok_or("its root return has no name")?;
    RmaRef::parse(root_name.trim()).map_err(|e| match tried {
        Some(value) => format!("neither its {field} `{value}` nor its name `{root_name}` is {e}"),
        None => format!("it has no {field} and its name `{root_name}` is not {e}"),
    })
}

/// Where an open picking's `backorder_id` chain leads.
#[derive(Debug, PartialEq)]
enum Lineage<'a> {
    /// A return (empty) or a backorder of one: its ancestors, nearest first, the root last.
    Return(Vec<&'a Record>),
    /// The chain goes on through this picking, which has not been read.
    Needs(i64),
    /// The root has no `return_id` (a purchase receipt's backorder), or the chain loops.
    NotAReturn,
}

/// Follows `backorder_id` from `picking` through `known` to the first picking with a `return_id`.
fn lineage<'a>(picking: &'a Record, known: &HashMap<i64, &'a Record>) -> Lineage<'a> {
    let mut chain: Vec<&Record> = Vec::new();
    let mut seen: BTreeSet<i64> = int(picking, "id").into_iter().collect();
    let mut at = picking;
    loop {
        if many2one(at, "return_id").is_some() {
            return Lineage::Return(chain);
        }
        let Some(parent) = many2one(at, "backorder_id") else {
            return Lineage::NotAReturn;
        };
        if !seen.insert(parent) {
            return Lineage::NotAReturn;
        }
        let Some(record) = known.get(&parent).copied() else {
            return Lineage::Needs(parent);
        };
        chain.push(record);
        at = record;
    }
}

fn known_pickings<'a>(pickings: &'a [Record], ancestors: &'a [Record]) -> HashMap<i64, &'a Record> {
    pickings
        .iter()
        .chain(ancestors)
        .filter_map(|r| Some((int(r, "id")?, r)))
        .collect()
}

/// The return a chain starts from: the picking itself when it has no ancestors.
fn root<'a>(picking: &'a Record, chain: &[&'a Record]) -> &'a Record {
    chain.last().copied().unwrap_or(picking)
}

/// The sale order of an open return: its own, else the nearest ancestor's (Odoo 17 copies it
/// with the procurement group, but a backorder edited by hand may have lost it).
fn sale_order(picking: &Record, chain: &[&Record]) -> Option<i64> {
    std::iter::once(picking)
        .chain(chain.iter().copied())
        .find_map(|r| many2one(r, "sale_id"))
}

/// The records related to a batch of pickings, by the ids that join them.
struct Related<'a> {
    moves: HashMap<i64, Vec<&'a Record>>,
    products: HashMap<i64, &'a Record>,
    deliveries: HashMap<i64, &'a Record>,
    sold: HashMap<i64, Vec<&'a Record>>,
    orders: HashMap<i64, &'a Record>,
    order_lines: HashMap<i64, &'a Record>,
    lines_of_order: HashMap<i64, Vec<&'a Record>>,
    currencies: HashMap<i64, &'a Record>,
}

fn by_id(records: &[Record]) -> HashMap<i64, &Record> {
    records.iter().filter_map(|r| Some((int(r, "id")?, r))).collect()
}

/// Records grouped by a many2one, in Odoo's order.
fn group<'a>(records: &'a [Record], field: &str) -> HashMap<i64, Vec<&'a Record>> {
    let mut out: BTreeMap<i64, Vec<&Record>> = BTreeMap::new();
    for record in records {
        if let Some(key) = many2one(record, field) {
            out.entry(key).or_default().push(record);
        }
    }
    out.into_iter().collect()
}

fn int(record: &Record, field: &str) -> Option<i64> {
    record.get(field).and_then(Value::as_i64)
}

/// A char field: Odoo answers `false` for an empty one.
fn text<'a>(record: &'a Record, field: &str) -> Option<&'a str> {
    record.get(field).and_then(Value::as_str)
}

/// The id of a many2one (`[id, "name"]` or `false`; a bare id is accepted too).
fn many2one(record: &Record, field: &str) -> Option<i64> {
    match record.get(field)? {
        Value::Array(pair) => pair.first().and_then(Value::as_i64),
        other => other.as_i64(),
    }
}

/// The display name of a many2one (`[id, "name"]`).
fn many2one_name<'a>(record: &'a Record, field: &str) -> Option<&'a str> {
    match record.get(field)? {
        Value::Array(pair) => pair.get(1).and_then(Value::as_str),
        _ => None,
    }
}

/// Tracking numbers in a field: carriers' multi-parcel shipments are stored comma-separated
/// (Odoo's `delivery` connectors join them with `,`).
fn tracking_numbers(value: Option<&str>) -> Vec<String> {
    value
        .into_iter()
        .flat_map(|v| v.split([',', ';']))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A price in minor units (cents for 2 decimals); `None` for a negative or absurd price.
fn minor_units(price: f64, decimals: u32) -> Option<u64> {
    let scaled = (price * 10f64.powi(decimals.min(6) as i32)).round();
    (0.0..1e15).contains(&scaled).then_some(scaled as u64)
}

/// Odoo's datetime wire format, `YYYY-MM-DD HH:MM:SS` in UTC, as Unix milliseconds.
pub fn parse_datetime_ms(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let seconds = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(seconds).ok().map(|s| s * 1000)
}

/// Howard Hinnant's days-from-civil (proleptic Gregorian): days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn shape(what: &str, record: &Record) -> OdooError {
    OdooError::Protocol(format!("{what}: {}", Value::Object(record.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoo_datetimes_are_utc_milliseconds() {
        assert_eq!(parse_datetime_ms("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_datetime_ms("2026-11-26 14:33:46"), Some(1_795_703_626_000));
        assert_eq!(parse_datetime_ms("2024-02-29 23:59:59"), Some(1_709_251_199_000));
        for bad in [
            "",
            "2026-11-26T14:33:46",
            "2026-13-01 00:00:00",
            "2026-11-26 14:33",
            "20x6-11-26 14:33:46",
        ] {
            assert_eq!(parse_datetime_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn prices_become_minor_units_of_their_currency() {
        assert_eq!(minor_units(19.99, 2), Some(1999));
        assert_eq!(minor_units(1500.0, 0), Some(1500));
        assert_eq!(minor_units(0.1 + 0.2, 2), Some(30));
        assert_eq!(minor_units(-1.0, 2), None);
    }

    #[test]
    fn tracking_fields_may_hold_several_numbers() {
        assert_eq!(
            tracking_numbers(Some(" 1Z999AA10123456784, 9400111899223197428490 ")),
            ["1Z999AA10123456784", "9400111899223197428490"]
        );
        assert!(tracking_numbers(None).is_empty());
        assert!(tracking_numbers(Some(" , ")).is_empty());
    }

    fn picking(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    fn ids(lineage: &Lineage<'_>) -> Option<Vec<i64>> {
        match lineage {
            Lineage::Return(chain) => Some(chain.iter().filter_map(|r| int(r, "id")).collect()),
            _ => None,
        }
    }

    #[test]
    fn backorder_chains_lead_to_their_return_or_to_nothing() {
        let records = [
            picking(r#"{"id": 1, "name": "WH/IN/00001", "return_id": [9, "WH/OUT/00009"], "backorder_id": false}"#),
            picking(r#"{"id": 2, "name": "WH/IN/00002", "return_id": false, "backorder_id": [1, "WH/IN/00001"]}"#),
            picking(r#"{"id": 3, "name": "WH/IN/00003", "return_id": false, "backorder_id": [2, "WH/IN/00002"]}"#),
            picking(r#"{"id": 4, "name": "WH/IN/00004", "return_id": false, "backorder_id": false}"#),
            picking(r#"{"id": 5, "name": "WH/IN/00005", "return_id": false, "backorder_id": [4, "WH/IN/00004"]}"#),
            picking(r#"{"id": 6, "name": "WH/IN/00006", "return_id": false, "backorder_id": [7, "WH/IN/00007"]}"#),
            picking(r#"{"id": 7, "name": "WH/IN/00007", "return_id": false, "backorder_id": [6, "WH/IN/00006"]}"#),
            picking(r#"{"id": 8, "name": "WH/IN/00008", "return_id": false, "backorder_id": [404, "WH/IN/00404"]}"#),
        ];
        let known = known_pickings(&records, &[]);
        let of = |id: i64| lineage(known[&id], &known);
        assert_eq!(ids(&of(1)), Some(vec![]), "a return is its own root");
        assert_eq!(ids(&of(3)), Some(vec![2, 1]), "nearest ancestor first, the return last");
        assert_eq!(of(5), Lineage::NotAReturn, "a purchase receipt's backorder");
        assert_eq!(of(6), Lineage::NotAReturn, "a loop ends");
        assert_eq!(of(8), Lineage::Needs(404));
    }

    #[test]
    fn a_backorder_keeps_the_rma_of_its_chain_and_else_the_name_on_the_label() {
        let root = picking(r#"{"id": 1, "name": "WH/IN/00001", "origin": "RMA-7", "x_rma": false}"#);
        let middle = picking(r#"{"id": 2, "name": "WH/IN/00002", "origin": "RMA-7", "x_rma": false}"#);
        let last = picking(r#"{"id": 3, "name": "WH/IN/00003", "origin": "", "x_rma": false}"#);
        let chain = [&middle, &root];
        assert_eq!(rma_ref("origin", &last, &chain).unwrap().as_str(), "RMA-7");
        assert_eq!(
            rma_ref("x_rma", &last, &chain).unwrap().as_str(),
            "WH/IN/00001",
            "the root's name, not the backorder's"
        );
        assert_eq!(rma_ref("x_rma", &root, &[]).unwrap().as_str(), "WH/IN/00001");
        let edited = picking(r#"{"id": 3, "name": "WH/IN/00003", "origin": "RMA-8"}"#);
        assert_eq!(rma_ref("origin", &edited, &chain).unwrap().as_str(), "RMA-8");
        let nameless = picking(r#"{"id": 1, "name": " ", "origin": false}"#);
        let why = rma_ref("origin", &last, &[&nameless]).unwrap_err();
        assert!(why.contains("no origin"), "{why}");
    }

    #[test]
    fn many2one_values_are_pairs_or_false() {
        let record: Record = serde_json::from_str(r#"{"a": [7, "Deco Addict"], "b": false, "c": 9}"#).unwrap();
        assert_eq!(many2one(&record, "a"), Some(7));
        assert_eq!(many2one_name(&record, "a"), Some("Deco Addict"));
        assert_eq!(many2one(&record, "b"), None);
        assert_eq!(many2one(&record, "c"), Some(9));
        assert_eq!(many2one_name(&record, "b"), None);
    }
}

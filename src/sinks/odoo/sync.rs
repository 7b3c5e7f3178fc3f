//! Sync-in for the RMA cache: reads Odoo's open return pickings with everything a station needs
//! to recognise a parcel (moves, products, the original delivery and sale) and turns them into
//! [`ExpectedReturn`]s. It only reads Odoo; storing is `store/rma.rs`, scheduling `src/rma.rs`.
//!
//! # What a return is
//! A `stock.picking` with `picking_type_code = incoming` and `return_id != False` (Odoo's return
//! wizard links the return to the delivery it returns). Its RMA reference is the value of the
//! sink's `rma_field` (default `origin`), or its own name when that is empty.
//!
//! # Incremental and full
//! Incremental reads pickings with `write_date >= watermark` and **no state filter**, so that a
//! return validated or cancelled since is seen and leaves the cache. `>=`, not `>`: Odoo's
//! `write_date` has one-second resolution on the wire, so a write committed later within the
//! watermark's second shows the same value; re-reading that second costs a few rows, missing it
//! would lose a return. The caller de-duplicates by (id, write_date) against what it holds, so an
//! unchanged picking is not read in full again. The watermark is always a value Odoo wrote,
//! never our clock, so clock skew between the edge and Odoo cannot open a gap.
//!
//! Full reads every open return (`state not in (done, cancel)`); the caller then drops every
//! cached entry not returned (deleted pickings, and changes incremental cannot see: a sale
//! order's reference or a product's weight edited without touching the picking). Before it, the
//! latest `write_date` of any return is read, so the next incremental starts from there instead
//! of from the beginning of history.
//!
//! # Calls
//! One `search_read` per model for the whole batch (`id in [...]`, in chunks), never one per
//! picking: stock.picking (returns), stock.move, product.product, stock.picking (deliveries),
//! stock.move.line (sold lots), sale.order, sale.order.line, res.currency. Eight calls however
//! many returns changed (Odoo 17 here: about 22 ms each).
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

/// Which pickings to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncMode {
    /// Pickings written at or after this Odoo `write_date` (`YYYY-MM-DD HH:MM:SS`, UTC).
    Incremental { since: String },
    /// Every open return.
    Full,
}

/// What one sync read.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// Open returns, read in full: insert or replace.
    pub returns: Vec<ExpectedReturn>,
    /// Returns seen done or cancelled: remove.
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
        let returns = json!([["picking_type_code", "=", "incoming"], ["return_id", "!=", false]]);
        let mut fetched = Fetched::default();
        let pickings = match mode {
            SyncMode::Incremental { since } => {
                fetched.watermark = Some(since.clone());
                let mut domain = returns.as_array().cloned().unwrap_or_default();
                domain.push(json!(["write_date", ">=", since]));
                self.pickings(Value::Array(domain)).await?
            }
            SyncMode::Full => {
                fetched.complete = true;
                fetched.watermark = self.latest_write_date(&returns).await?;
                let mut domain = returns.as_array().cloned().unwrap_or_default();
                domain.push(json!(["state", "not in", ["done", "cancel"]]));
                self.pickings(Value::Array(domain)).await?
            }
        };
        let mut open = Vec::new();
        for picking in pickings {
            let id = int(&picking, "id").ok_or_else(|| shape("stock.picking without id", &picking))?;
            let write_date = text(&picking, "write_date").unwrap_or_default().to_owned();
            if fetched.watermark.as_deref().is_none_or(|w| write_date.as_str() > w) {
                fetched.watermark = Some(write_date.clone());
            }
            match text(&picking, "state") {
                Some("done" | "cancel") => fetched.closed.push(id),
                _ if parse_datetime_ms(&write_date).is_some_and(|ms| held(id, ms)) => fetched.unchanged.push(id),
                _ => open.push(picking),
            }
        }
        if !open.is_empty() {
            let (returns, skipped) = self.expand(&open).await?;
            fetched.returns = returns;
            fetched.skipped = skipped;
        }
        Ok(fetched)
    }

    fn picking_fields(&self) -> Vec<&str> {
        let mut fields = vec!["id", "name", "state", "write_date", "return_id", "sale_id"];
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

    /// The latest `write_date` of any return picking, open or not.
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

    /// Reads what the open pickings refer to and builds their expected returns.
    async fn expand(&self, pickings: &[Record]) -> Result<(Vec<ExpectedReturn>, Vec<(i64, String)>), OdooError> {
        let picking_ids: BTreeSet<i64> = pickings.iter().filter_map(|p| int(p, "id")).collect();
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
        let delivery_ids: BTreeSet<i64> = pickings.iter().filter_map(|p| many2one(p, "return_id")).collect();
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
        let order_ids: BTreeSet<i64> = pickings.iter().filter_map(|p| many2one(p, "sale_id")).collect();
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
        for picking in pickings {
            let id = int(picking, "id").unwrap_or_default();
            match self.expected(picking, &related) {
                Ok(expected) => returns.push(expected),
                Err(why) => skipped.push((id, why)),
            }
        }
        Ok((returns, skipped))
    }

    /// One expected return from its picking and the related records.
    fn expected(&self, picking: &Record, related: &Related<'_>) -> Result<ExpectedReturn, String> {
        let id = int(picking, "id").unwrap_or_default();
        let name = text(picking, "name").ok_or("it has no name")?.to_owned();
        // A picking without an RMA value is known by its own name (what its label shows).
        let rma_text = text(picking, &self.rma_field)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or(&name);
        let rma = RmaRef::parse(rma_text.trim())
            .or_else(|_| RmaRef::parse(&name))
            .map_err(|e| {
                format!(
                    "neither its {} `{rma_text}` nor its name `{name}` is {e}",
                    self.rma_field
                )
            })?;
        let write_date = text(picking, "write_date").unwrap_or_default();
        let write_date_ms = parse_datetime_ms(write_date)
            .ok_or_else(|| format!("write_date `{write_date}` is not an Odoo datetime"))?;
        let delivery = many2one(picking, "return_id").and_then(|d| related.deliveries.get(&d).copied());
        let order = many2one(picking, "sale_id").and_then(|o| related.orders.get(&o).copied());
        let currency = order
            .and_then(|o| many2one(o, "currency_id"))
            .and_then(|c| related.currencies.get(&c).copied());
        let decimals = currency
            .and_then(|c| int(c, "decimal_places"))
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(2);
        let mut tracking = Vec::new();
        if let Some(field) = &self.tracking_field {
            for record in std::iter::once(picking).chain(delivery) {
                tracking.extend(tracking_numbers(text(record, field)));
            }
            tracking.dedup();
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
                    let order_id = many2one(picking, "sale_id")?;
                    related
                        .lines_of_order
                        .get(&order_id)?
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

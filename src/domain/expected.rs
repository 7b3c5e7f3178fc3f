//! What Odoo expects to come back: an open return (its RMA, the original sale and delivery, the
//! products with their weights, prices and sold serials), as the RMA cache holds it and as a
//! receipt copies it when a scan matches. The copy in the receipt is what the policy judges, so
//! a later change in Odoo never rewrites why a case was flagged.
//!
//! Personal data is limited to what a station shows: the customer's display name and their own
//! order reference, no address, e-mail or phone.

use serde::{Deserialize, Serialize};

use super::values::{Barcode, RmaRef, Serial, Sku};

/// One expected return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedReturn {
    /// The RMA reference the return picking carries (the sink's `rma_field`).
    pub rma: RmaRef,
    /// Odoo id of the return picking.
    pub picking_id: i64,
    /// Name of the return picking (e.g. `WH/IN/00012`); scannable.
    pub picking: String,
    /// The sale order's name (e.g. `S00042`), if the return comes from a sale.
    #[serde(default)]
    pub order: Option<String>,
    /// The customer's own reference for the order (`client_order_ref`).
    #[serde(default)]
    pub customer_ref: Option<String>,
    /// The customer's display name, for the station's screen.
    #[serde(default)]
    pub customer: Option<String>,
    /// Name of the original delivery picking (e.g. `WH/OUT/00007`).
    #[serde(default)]
    pub delivery: Option<String>,
    /// When the original delivery was done (Unix ms, UTC); the return window counts from here.
    #[serde(default)]
    pub delivered_at_ms: Option<u64>,
    /// Carrier tracking numbers (return label, original parcel), as Odoo stores them.
    #[serde(default)]
    pub tracking: Vec<String>,
    /// ISO 4217 code of the prices below.
    #[serde(default)]
    pub currency: Option<String>,
    /// Expected products.
    pub lines: Vec<ExpectedLine>,
    /// Odoo's `write_date` of the picking when cached (Unix ms), for incremental sync.
    pub write_date_ms: u64,
}

/// One expected product of a return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedLine {
    /// Odoo product id.
    pub product_id: i64,
    /// Internal reference (`default_code`).
    #[serde(default)]
    pub sku: Option<Sku>,
    /// Product barcode.
    #[serde(default)]
    pub barcode: Option<Barcode>,
    /// Product display name.
    pub name: String,
    /// Units expected back.
    pub qty: u32,
    /// Serials or lots that were sold (and so may come back); empty when not tracked.
    #[serde(default)]
    pub serials: Vec<Serial>,
    /// Whether the product is tracked by unique serial number.
    #[serde(default)]
    pub serial_tracked: bool,
    /// Weight of one unit in grams, when the product has one.
    #[serde(default)]
    pub unit_weight_g: Option<u64>,
    /// Price of one unit as sold, in minor units of `currency` (cents).
    #[serde(default)]
    pub unit_price_minor: Option<u64>,
}

impl ExpectedReturn {
    /// The expected line for a received item, matched by SKU, then barcode.
    pub fn line_for(&self, sku: Option<&Sku>, barcode: Option<&Barcode>) -> Option<&ExpectedLine> {
        let by_sku = sku.and_then(|sku| self.lines.iter().find(|l| l.sku.as_ref() == Some(sku)));
        by_sku.or_else(|| barcode.and_then(|b| self.lines.iter().find(|l| l.barcode.as_ref() == Some(b))))
    }
}

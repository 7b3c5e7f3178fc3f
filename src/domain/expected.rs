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

/// Which of an expected return's codes a scan matched. Every one of them is a code a parcel or its
/// paperwork may show; the station sees which, to judge how sure the match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The RMA reference (the sink's `rma_field`, or the return picking's name when it has none).
    Rma,
    /// The return picking's name (`WH/IN/00012`).
    ReturnPicking,
    /// The sale order's name (`S00042`).
    Order,
    /// The customer's own order reference (`client_order_ref`).
    CustomerRef,
    /// The original delivery's name (`WH/OUT/00007`).
    Delivery,
    /// A carrier tracking number (or an SSCC stored as one).
    Tracking,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Rma => "rma",
            MatchedBy::ReturnPicking => "return_picking",
            MatchedBy::Order => "order",
            MatchedBy::CustomerRef => "customer_ref",
            MatchedBy::Delivery => "delivery",
            MatchedBy::Tracking => "tracking",
        }
    }
}

/// The form a code is indexed and looked up in: without surrounding whitespace and upper-cased
/// (ASCII only), because every code kind indexed here is case-insensitive in practice — Odoo's
/// sequences are upper case, carriers' tracking numbers are, and a customer's reference typed
/// by hand should not miss on case. `None` for a code that is empty or holds a NUL (the index
/// uses NUL as its separator).
pub fn normalize_code(code: &str) -> Option<String> {
    let trimmed = code.trim();
    if trimmed.is_empty() || trimmed.contains('\0') {
        return None;
    }
    Some(trimmed.to_ascii_uppercase())
}

impl ExpectedReturn {
    /// Every code this return can be found by, with its kind, as stored (not normalized). The
    /// RMA reference comes first: when two kinds share a value, the first one names the match.
    pub fn codes(&self) -> Vec<(MatchedBy, &str)> {
        let mut out = vec![
            (MatchedBy::Rma, self.rma.as_str()),
            (MatchedBy::ReturnPicking, self.picking.as_str()),
        ];
        out.extend(self.order.as_deref().map(|o| (MatchedBy::Order, o)));
        out.extend(self.customer_ref.as_deref().map(|r| (MatchedBy::CustomerRef, r)));
        out.extend(self.delivery.as_deref().map(|d| (MatchedBy::Delivery, d)));
        out.extend(self.tracking.iter().map(|t| (MatchedBy::Tracking, t.as_str())));
        out
    }

    /// The expected line for a received item, matched by SKU, then barcode.
    pub fn line_for(&self, sku: Option<&Sku>, barcode: Option<&Barcode>) -> Option<&ExpectedLine> {
        let by_sku = sku.and_then(|sku| self.lines.iter().find(|l| l.sku.as_ref() == Some(sku)));
        by_sku.or_else(|| barcode.and_then(|b| self.lines.iter().find(|l| l.barcode.as_ref() == Some(b))))
    }
}

//! Settings of an Odoo sink (`[sinks.odoo]` under a `[[sinks]]` entry of kind `odoo`), and the
//! secret holder that keeps the password or API key out of logs and Debug output.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::domain::Disposition;

/// How to reach and map one Odoo database.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdooConfig {
    /// Base URL, e.g. `https://erp.example.com` (no trailing path).
    pub url: String,
    pub database: String,
    #[serde(default)]
    pub protocol: Protocol,
    /// JSON-RPC login (user name); the user needs Inventory / Administrator rights.
    #[serde(default)]
    pub login: Option<String>,
    /// File holding the JSON-RPC password (first line), or the JSON-2 API key.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Environment variable holding the password or API key (used when no file is given).
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default = "defaults::timeout_secs")]
    pub timeout_secs: u64,
    /// Extra CA certificate (PEM) trusted besides the system roots; certificate checks stay on.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub locations: Locations,
    #[serde(default)]
    pub picking_types: PickingTypes,
    /// Destination of each disposition's internal transfer. `scrap` uses `stock.scrap` instead.
    #[serde(default = "defaults::dispositions")]
    pub dispositions: BTreeMap<Disposition, OdooRef>,
    /// Field of `stock.picking` holding the RMA / return reference a parcel names.
    #[serde(default = "defaults::rma_field")]
    pub rma_field: String,
    /// When no open return picking carries the RMA reference, create the return from the done
    /// delivery whose `origin` (the sale order) or `name` is that reference, with Odoo's
    /// `stock.return.picking` wizard.
    #[serde(default)]
    pub rma_from_delivery: bool,
    /// What to do when Odoo says there is not enough stock to scrap.
    #[serde(default)]
    pub scrap_insufficient: ScrapInsufficient,
    /// When a parcel brings only part of an RMA: keep a backorder for the rest (more parcels
    /// expected) or cancel the rest.
    #[serde(default)]
    pub backorder: BackorderPolicy,
    /// `default_code` of the product used for items of unidentified parcels.
    #[serde(default)]
    pub unknown_product: Option<String>,
    /// Largest number of disposition transfers created in one call.
    #[serde(default = "defaults::max_batch")]
    pub max_batch: usize,
    /// Keep an offline copy of the open returns of this Odoo (the RMA cache, `src/rma.rs`), so
    /// that scans find their expected return while Odoo is unreachable. At most one sink.
    #[serde(default)]
    pub rma_cache: bool,
    /// Seconds between two incremental syncs of the RMA cache (5 to 86400).
    #[serde(default = "defaults::rma_sync_interval_secs")]
    pub rma_sync_interval_secs: u64,
    /// Field of `stock.picking` holding carrier tracking numbers, indexed by the RMA cache on the
    /// return and on the original delivery. Unset by default: Odoo has `carrier_tracking_ref`
    /// only with its `delivery` module installed, and reading a missing field fails every sync.
    #[serde(default)]
    pub tracking_field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// `/jsonrpc` with `execute_kw` (Odoo 16, 17, 18 and, deprecated, 19–21).
    #[default]
    JsonRpc,
    /// `/json/2/<model>/<method>` with a bearer API key (Odoo 19+).
    Json2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrapInsufficient {
    /// Dead-letter the disposition with Odoo's message (the draft scrap is removed).
    #[default]
    Reject,
    /// Confirm Odoo's warning and scrap anyway (stock goes negative).
    Force,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackorderPolicy {
    /// `process`: the rest stays open in a backorder that inherits the RMA reference.
    #[default]
    Keep,
    /// `process_cancel_backorder`: the rest will not come.
    Cancel,
}

/// A record named by id or by name (locations: complete name such as `WH/Returns`, or barcode;
/// picking types: sequence code such as `IN`, or name). Names are resolved once at start.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OdooRef {
    Id(i64),
    Name(String),
}

impl std::fmt::Display for OdooRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OdooRef::Id(id) => write!(f, "#{id}"),
            OdooRef::Name(name) => f.write_str(name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Locations {
    /// Where returns come from.
    pub customers: OdooRef,
    /// Where parcels with an RMA are received (the return picking's destination).
    pub returns: OdooRef,
    /// Where unexpected parcels are received.
    pub quarantine: OdooRef,
    /// Scrap location for `stock.scrap`.
    pub scrap: OdooRef,
}

impl Default for Locations {
    fn default() -> Self {
        Locations {
            customers: OdooRef::Name("Partners/Customers".into()),
            returns: OdooRef::Name("WH/Returns".into()),
            quarantine: OdooRef::Name("WH/Quarantine".into()),
            scrap: OdooRef::Name("Virtual Locations/Scrap".into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PickingTypes {
    /// Incoming type for unexpected parcels.
    pub receipts: OdooRef,
    /// Internal transfer type for dispositions.
    pub internal: OdooRef,
}

impl Default for PickingTypes {
    fn default() -> Self {
        PickingTypes {
            receipts: OdooRef::Name("IN".into()),
            internal: OdooRef::Name("INT".into()),
        }
    }
}

mod defaults {
    use super::*;

    pub fn timeout_secs() -> u64 {
        30
    }

    pub fn rma_field() -> String {
        "origin".into()
    }

    pub fn max_batch() -> usize {
        50
    }

    pub fn rma_sync_interval_secs() -> u64 {
        60
    }

    pub fn dispositions() -> BTreeMap<Disposition, OdooRef> {
        let stock = || OdooRef::Name("WH/Stock".into());
        BTreeMap::from([
            (Disposition::Restock, stock()),
            (Disposition::OpenBox, stock()),
            (Disposition::Refurbish, OdooRef::Name("WH/Refurbish".into())),
            (Disposition::Quarantine, OdooRef::Name("WH/Quarantine".into())),
            (Disposition::ReturnToVendor, OdooRef::Name("Partners/Vendors".into())),
        ])
    }
}

/// An Odoo field name: it goes into domains and field lists as is.
fn is_field_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub use crate::sinks::common::Secret;

impl OdooConfig {
    /// Reads the secret from `secret_file` or `secret_env`.
    pub fn read_secret(&self) -> Result<Secret, String> {
        crate::sinks::common::read_secret(
            self.secret_file.as_deref(),
            self.secret_env.as_deref(),
            "sinks.odoo",
            "the password or API key",
        )
    }

    /// Checks what serde cannot: required combinations.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err((
                "url".into(),
                format!("expected an http:// or https:// URL, found `{}`", self.url),
            ));
        }
        if self.protocol == Protocol::JsonRpc && self.login.is_none() {
            return Err(("login".into(), "the json_rpc protocol needs a login".into()));
        }
        if self.secret_file.is_none() && self.secret_env.is_none() {
            return Err((
                "secret_file".into(),
                "give secret_file or secret_env (password or API key)".into(),
            ));
        }
        if !(1..=300).contains(&self.timeout_secs) {
            return Err(("timeout_secs".into(), "expected 1 to 300".into()));
        }
        if !(1..=500).contains(&self.max_batch) {
            return Err(("max_batch".into(), "expected 1 to 500".into()));
        }
        if !(5..=86_400).contains(&self.rma_sync_interval_secs) {
            return Err((
                "rma_sync_interval_secs".into(),
                format!("expected 5 to 86400 seconds, found {}", self.rma_sync_interval_secs),
            ));
        }
        for (key, field) in [
            ("rma_field", Some(&self.rma_field)),
            ("tracking_field", self.tracking_field.as_ref()),
        ] {
            if let Some(field) = field.filter(|f| !is_field_name(f)) {
                return Err((
                    key.into(),
                    format!("expected an Odoo field name (lower case letters, digits, `_`), found `{field}`"),
                ));
            }
        }
        Ok(())
    }
}

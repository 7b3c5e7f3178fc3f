//! Settings of an Odoo sink (`[sinks.odoo]` under a `[[sinks]]` entry of kind `odoo`), and the
//! secret holder that keeps the password or API key out of logs and Debug output.
//!
//! The disposition map is the one table merged with its defaults rather than replaced by the
//! site's: a site that renames one location must not lose the others without noticing. Whether it
//! covers every disposition the site's policy lets a station give is checked against the policy
//! ([`OdooConfig::check_dispositions`]), so `check-config` refuses a map that would dead-letter.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use crate::domain::{Disposition, Policy};

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
    /// The site's `[sinks.odoo.dispositions]` is laid over the defaults key by key; `""` removes a
    /// default (and `check_dispositions` then refuses it while the policy can produce it).
    #[serde(default = "defaults::dispositions", deserialize_with = "dispositions_over_defaults")]
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

    /// A target for every disposition but `scrap` (a `stock.scrap`, not a transfer): the API
    /// accepts any disposition, so a missing one would only show up as a dead letter.
    ///
    /// Liquidation, donation and recycling go to internal locations, not to a partner or virtual
    /// location: the units stay on hand and valued until someone sells them to the liquidator,
    /// ships them to the charity or hands them to the recycler (a delivery or scrap made in Odoo,
    /// with the buyer, the paperwork and the accounting entry that step needs). Moving them out of
    /// stock here would write them off before that step, with nobody to say to whom.
    pub fn dispositions() -> BTreeMap<Disposition, OdooRef> {
        let name = |n: &str| OdooRef::Name(n.into());
        BTreeMap::from([
            (Disposition::Restock, name("WH/Stock")),
            (Disposition::OpenBox, name("WH/Stock")),
            (Disposition::Refurbish, name("WH/Refurbish")),
            (Disposition::ReturnToVendor, name("Partners/Vendors")),
            (Disposition::Liquidate, name("WH/Liquidation")),
            (Disposition::Donate, name("WH/Donations")),
            (Disposition::Recycle, name("WH/Recycle")),
            (Disposition::Quarantine, name("WH/Quarantine")),
        ])
    }
}

/// The site's `[sinks.odoo.dispositions]` over the defaults: a table naming only `refurbish`
/// keeps `restock`'s default instead of dropping it. An empty name removes the default, since
/// TOML has no null.
fn dispositions_over_defaults<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<Disposition, OdooRef>, D::Error> {
    let given = BTreeMap::<Disposition, OdooRef>::deserialize(d)?;
    let mut merged = defaults::dispositions();
    for (disposition, target) in given {
        match target {
            OdooRef::Name(name) if name.trim().is_empty() => merged.remove(&disposition),
            target => merged.insert(disposition, target),
        };
    }
    Ok(merged)
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
        if let Some(target) = self.dispositions.get(&Disposition::Scrap) {
            return Err((
                "dispositions.scrap".into(),
                format!(
                    "`scrap` makes a stock.scrap into locations.scrap, not a transfer, so `{target}` \
                     would never be used; remove the key (set sinks.odoo.locations.scrap instead)"
                ),
            ));
        }
        Ok(())
    }

    /// Every disposition `policy` lets a station give has a target. The HTTP API accepts any
    /// disposition (the policy only suggests one per grade and reserves some to supervisors), so
    /// that is every one but `scrap`; the policy is asked only to say why it matters.
    pub fn check_dispositions(&self, policy: &Policy) -> Result<(), (String, String)> {
        for disposition in Disposition::ALL {
            if *disposition == Disposition::Scrap || self.dispositions.contains_key(disposition) {
                continue;
            }
            let example = defaults::dispositions()
                .get(disposition)
                .map_or_else(|| "a location".to_owned(), |t| format!("\"{t}\""));
            return Err((
                format!("dispositions.{disposition}"),
                format!(
                    "no Odoo location for `{disposition}`, which {}; every such disposition would \
                     dead-letter. Add `{disposition} = {example}` (a location's full name, barcode \
                     or id) to [sinks.odoo.dispositions]",
                    why_producible(policy, *disposition)
                ),
            ));
        }
        Ok(())
    }
}

/// Why a station can give `disposition`, in the words of the policy.
fn why_producible(policy: &Policy, disposition: Disposition) -> String {
    let grades: Vec<String> = policy
        .grades
        .iter()
        .filter(|rule| rule.disposition == disposition)
        .map(|rule| rule.grade.to_string())
        .collect();
    if !grades.is_empty() {
        format!("the policy suggests for grade {}", grades.join(", "))
    } else if policy.supervisor_dispositions.contains(&disposition) {
        "a supervisor may give (policy supervisor_dispositions)".into()
    } else {
        "any inspector may give".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: &str = "url = \"http://127.0.0.1:8069\"\ndatabase = \"d\"\nlogin = \"a\"\nsecret_env = \"X\"\n";

    fn parse(extra: &str) -> OdooConfig {
        toml::from_str(&format!("{REQUIRED}{extra}")).unwrap()
    }

    fn target(config: &OdooConfig, disposition: Disposition) -> Option<String> {
        config.dispositions.get(&disposition).map(ToString::to_string)
    }

    #[test]
    fn every_disposition_but_scrap_has_a_default_location() {
        let config = parse("");
        for disposition in Disposition::ALL {
            assert_eq!(
                config.dispositions.contains_key(disposition),
                *disposition != Disposition::Scrap,
                "{disposition}"
            );
        }
        assert_eq!(target(&config, Disposition::Recycle).as_deref(), Some("WH/Recycle"));
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.check_dispositions(&Policy::default()), Ok(()));
    }

    #[test]
    fn a_dispositions_table_overrides_only_the_keys_it_names() {
        let config = parse("[dispositions]\nrefurbish = \"WH/Repair\"\ndonate = 42\n");
        assert_eq!(target(&config, Disposition::Refurbish).as_deref(), Some("WH/Repair"));
        assert_eq!(target(&config, Disposition::Donate).as_deref(), Some("#42"));
        assert_eq!(target(&config, Disposition::Restock).as_deref(), Some("WH/Stock"));
        assert_eq!(
            target(&config, Disposition::Liquidate).as_deref(),
            Some("WH/Liquidation")
        );
        assert_eq!(config.dispositions.len(), defaults::dispositions().len());
    }

    #[test]
    fn a_disposition_mapped_to_nothing_is_refused_saying_why_the_policy_needs_it() {
        let policy = Policy::default();
        let (key, message) = parse("[dispositions]\nrecycle = \"\"\n")
            .check_dispositions(&policy)
            .unwrap_err();
        assert_eq!(key, "dispositions.recycle");
        assert!(message.contains("suggests for grade F"), "{message}");
        assert!(message.contains("recycle = \"WH/Recycle\""), "{message}");
        let (key, message) = parse("[dispositions]\ndonate = \" \"\n")
            .check_dispositions(&policy)
            .unwrap_err();
        assert_eq!(key, "dispositions.donate");
        assert!(message.contains("supervisor"), "{message}");
        let (_, message) = parse("[dispositions]\nquarantine = \"\"\n")
            .check_dispositions(&policy)
            .unwrap_err();
        assert!(message.contains("any inspector"), "{message}");
    }

    #[test]
    fn a_scrap_location_in_the_dispositions_table_is_refused() {
        let (key, message) = parse("[dispositions]\nscrap = \"WH/Scrap\"\n").validate().unwrap_err();
        assert_eq!(key, "dispositions.scrap");
        assert!(message.contains("locations.scrap"), "{message}");
        assert_eq!(parse("[dispositions]\nscrap = \"\"\n").validate(), Ok(()));
    }

    #[test]
    fn an_unknown_disposition_key_is_refused_naming_the_choices() {
        let err = toml::from_str::<OdooConfig>(&format!("{REQUIRED}[dispositions]\nburn = \"X\"\n")).unwrap_err();
        assert!(err.to_string().contains(Disposition::EXPECTED), "{err}");
    }
}

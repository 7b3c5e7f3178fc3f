//! Names in the configuration (locations, picking types) and products on case lines, resolved to
//! Odoo ids once and cached. A name that does not resolve is a site-wide problem (the sink pauses
//! with a message saying what to create in Odoo); an unknown product is the entry's problem.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::config::{OdooConfig, OdooRef};
use super::rpc::{OdooClient, OdooError};
use crate::domain::Disposition;

/// The configuration's references as ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub customers: i64,
    pub returns: i64,
    pub quarantine: i64,
    pub scrap: i64,
    pub receipts_type: i64,
    pub internal_type: i64,
    pub dispositions: BTreeMap<Disposition, i64>,
}

/// Why a configured name could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("{what} `{name}` does not exist in Odoo; create it or fix sinks.odoo.{key}")]
    NotFound {
        what: &'static str,
        name: String,
        key: String,
    },
    #[error(transparent)]
    Odoo(#[from] OdooError),
}

pub async fn resolve(client: &OdooClient, config: &OdooConfig) -> Result<Resolved, MappingError> {
    let l = &config.locations;
    let mut dispositions = BTreeMap::new();
    for (disposition, target) in &config.dispositions {
        let key = format!("dispositions.{}", disposition.as_str());
        dispositions.insert(*disposition, location(client, target, &key).await?);
    }
    Ok(Resolved {
        customers: location(client, &l.customers, "locations.customers").await?,
        returns: location(client, &l.returns, "locations.returns").await?,
        quarantine: location(client, &l.quarantine, "locations.quarantine").await?,
        scrap: location(client, &l.scrap, "locations.scrap").await?,
        receipts_type: picking_type(client, &config.picking_types.receipts, "picking_types.receipts").await?,
        internal_type: picking_type(client, &config.picking_types.internal, "picking_types.internal").await?,
        dispositions,
    })
}

async fn location(client: &OdooClient, target: &OdooRef, key: &str) -> Result<i64, MappingError> {
    let name = match target {
        OdooRef::Id(id) => return Ok(*id),
        OdooRef::Name(name) => name,
    };
    for field in ["complete_name", "name", "barcode"] {
        let found = client
            .search_read("stock.location", json!([[field, "=", name]]), &["id"])
            .await?;
        if let Some(id) = found.first().and_then(|r| r.get("id")).and_then(Value::as_i64) {
            return Ok(id);
        }
    }
    Err(MappingError::NotFound {
        what: "location",
        name: name.clone(),
        key: key.to_owned(),
    })
}

async fn picking_type(client: &OdooClient, target: &OdooRef, key: &str) -> Result<i64, MappingError> {
    let name = match target {
        OdooRef::Id(id) => return Ok(*id),
        OdooRef::Name(name) => name,
    };
    for field in ["sequence_code", "name"] {
        let found = client
            .search_read("stock.picking.type", json!([[field, "=", name]]), &["id"])
            .await?;
        if let Some(id) = found.first().and_then(|r| r.get("id")).and_then(Value::as_i64) {
            return Ok(id);
        }
    }
    Err(MappingError::NotFound {
        what: "picking type",
        name: name.clone(),
        key: key.to_owned(),
    })
}

/// An Odoo product with its unit of measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    pub id: i64,
    pub uom: i64,
}

/// Products looked up by `default_code` (SKU) or `barcode`, cached for the process lifetime.
#[derive(Debug, Default)]
pub struct Products {
    cache: tokio::sync::Mutex<HashMap<(&'static str, String), Product>>,
}

impl Products {
    /// The product whose `field` (`default_code` or `barcode`) equals `value`, if any.
    pub async fn find(
        &self,
        client: &OdooClient,
        field: &'static str,
        value: &str,
    ) -> Result<Option<Product>, OdooError> {
        let key = (field, value.to_owned());
        if let Some(found) = self.cache.lock().await.get(&key) {
            return Ok(Some(*found));
        }
        let rows = client
            .search_read("product.product", json!([[field, "=", value]]), &["id", "uom_id"])
            .await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let id = row.get("id").and_then(Value::as_i64);
        let uom = row.get("uom_id").and_then(many2one).unwrap_or(1);
        let Some(id) = id else { return Ok(None) };
        let product = Product { id, uom };
        self.cache.lock().await.insert(key, product);
        Ok(Some(product))
    }
}

/// The id of a many2one value (`[id, "name"]`), `None` for `false`.
pub fn many2one(value: &Value) -> Option<i64> {
    value.as_array().and_then(|pair| pair.first()).and_then(Value::as_i64)
}

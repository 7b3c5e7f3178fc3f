//! Receipts for an RMA: find the open return picking by the RMA reference (or create it from the
//! done delivery with Odoo's return wizard, when configured), record its id (step 1), set the
//! received quantities on its moves (step 2, saved before validating), validate, and answer the
//! backorder wizard with the action's context. A retry at step 2 first reads the picking: `done`
//! means the validation happened, perhaps with its answer lost. Receipts for one RMA run one at a
//! time in this process (they touch the same picking and its backorder).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::config::BackorderPolicy;
use super::mapping::many2one;
use super::sink::OdooSink;
use super::transfer::ids;
use super::PICKING;
use crate::delivery::{Job, Outcome, Progress};

impl OdooSink {
    pub(super) async fn receive_rma(&self, job: &mut Job, progress: &Progress, rma: &str) -> Outcome {
        let lock = {
            let mut locks = self.rma_locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(rma.to_owned()).or_default().clone()
        };
        let outcome = {
            let _serial = lock.lock().await;
            self.receive_rma_locked(job, progress, rma).await
        };
        // Forget the lock once nobody else waits on it, so the map does not grow with every RMA.
        let mut locks = self.rma_locks.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&lock) == 2 {
            locks.remove(rma);
        }
        outcome
    }

    pub(super) async fn receive_rma_locked(&self, job: &mut Job, progress: &Progress, rma: &str) -> Outcome {
        if !job.entry.refs.contains_key(PICKING) {
            let domain = json!([
                [self.config.rma_field, "=", rma],
                ["picking_type_code", "=", "incoming"],
                ["state", "not in", ["done", "cancel"]],
            ]);
            let found = odoo!(self.client.search_read("stock.picking", domain, &["id", "state"]).await);
            let id = match found.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)).min() {
                Some(id) => id,
                None if self.config.rma_from_delivery => match self.return_from_delivery(rma).await {
                    Ok(id) => id,
                    Err(outcome) => return outcome,
                },
                None => {
                    return Outcome::reject(format!(
                        "no open return picking in Odoo for RMA `{rma}` (searched stock.picking {} = `{rma}`)",
                        self.config.rma_field
                    ))
                }
            };
            job.entry.refs.insert(PICKING.into(), id);
            job.entry.step = 1;
            if let Err(e) = progress.save(&[job]).await {
                return Outcome::retry(format!("cannot save progress: {e}"));
            }
        }
        let picking = job.entry.refs[PICKING];
        let rows = odoo!(
            self.client
                .read("stock.picking", &[picking], &["state", "move_ids"])
                .await
        );
        let Some(row) = rows.first() else {
            return Outcome::reject(format!("return picking {picking} no longer exists in Odoo"));
        };
        match row.get("state").and_then(Value::as_str) {
            Some("done") => return Outcome::Delivered,
            Some("cancel") => return Outcome::reject(format!("return picking {picking} was cancelled in Odoo")),
            _ => {}
        }
        if job.entry.step < 2 {
            if let Err(outcome) = self.set_received_quantities(job, row).await {
                return outcome;
            }
            job.entry.step = 2;
            if let Err(e) = progress.save(&[job]).await {
                return Outcome::retry(format!("cannot save progress: {e}"));
            }
        }
        let answer = odoo!(
            self.client
                .method("stock.picking", "button_validate", &[picking], None)
                .await
        );
        self.answer_wizard(answer, picking).await
    }

    /// Creates the return picking of the done delivery named by `rma` (its sale order or its
    /// name) with Odoo's return wizard, and tags it with the RMA so later parcels find it. A return
    /// already open for that delivery (made by an attempt whose answer was lost before the tag was
    /// written) is reused, never doubled: Odoo links it with `return_id`.
    pub(super) async fn return_from_delivery(&self, rma: &str) -> Result<i64, Outcome> {
        let outgoing = |field: &str| {
            json!([
                [field, "=", rma],
                ["picking_type_code", "=", "outgoing"],
                ["state", "=", "done"]
            ])
        };
        let mut deliveries = self
            .client
            .search_read("stock.picking", outgoing("origin"), &["id"])
            .await
            .map_err(|e| e.outcome())?;
        if deliveries.is_empty() {
            deliveries = self
                .client
                .search_read("stock.picking", outgoing("name"), &["id"])
                .await
                .map_err(|e| e.outcome())?;
        }
        let Some(delivery) = deliveries
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_i64))
            .min()
        else {
            return Err(Outcome::reject(format!(
                "no open return picking and no done delivery in Odoo for RMA `{rma}` (searched origin and name)"
            )));
        };
        let open = json!([["return_id", "=", delivery], ["state", "not in", ["done", "cancel"]]]);
        let existing = self
            .client
            .search_read("stock.picking", open, &["id"])
            .await
            .map_err(|e| e.outcome())?;
        let picking = match existing
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_i64))
            .min()
        {
            Some(id) => id,
            None => {
                let mapping = self.mapping().await?;
                // The wizard takes its lines from the delivery named in the context; putting the
                // location in the create values would suppress them (transcript 04): write it after.
                let context = json!({"active_id": delivery, "active_ids": [delivery], "active_model": "stock.picking"});
                let wizard = self
                    .client
                    .create_wizard("stock.return.picking", context.clone())
                    .await
                    .map_err(|e| e.outcome())?;
                self.client
                    .write(
                        "stock.return.picking",
                        &[wizard],
                        json!({"location_id": mapping.returns}),
                    )
                    .await
                    .map_err(|e| e.outcome())?;
                let action = self
                    .client
                    .method("stock.return.picking", "create_returns", &[wizard], Some(context))
                    .await
                    .map_err(|e| e.outcome())?;
                action
                    .get("res_id")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| Outcome::retry(format!("the return wizard answered without a picking: {action}")))?
            }
        };
        self.client
            .write(
                "stock.picking",
                &[picking],
                json!({ self.config.rma_field.as_str(): rma }),
            )
            .await
            .map_err(|e| e.outcome())?;
        Ok(picking)
    }

    /// Writes `quantity`/`picked` on the return picking's moves from what the parcel holds.
    pub(super) async fn set_received_quantities(&self, job: &Job, picking: &Map<String, Value>) -> Result<(), Outcome> {
        let move_ids: Vec<i64> = ids(picking.get("move_ids"));
        let moves = self
            .client
            .read("stock.move", &move_ids, &["product_id", "product_uom_qty", "state"])
            .await
            .map_err(|e| e.outcome())?;
        let case = job
            .case
            .as_ref()
            .ok_or_else(|| Outcome::retry("the case projection is missing"))?;
        // Units received per product. A parcel with no identified lines is taken to hold the
        // whole return: the station scanned the RMA label and nothing else.
        let identified = case.lines.iter().any(|l| l.sku.is_some() || l.barcode.is_some());
        let mut received: HashMap<i64, f64> = HashMap::new();
        if identified {
            for line in &case.lines {
                let product = self.product_of(case, line.number).await?;
                *received.entry(product.id).or_default() += f64::from(line.received);
            }
        }
        let mut writes: BTreeMap<String, (Vec<i64>, Value)> = BTreeMap::new();
        let mut total = 0.0;
        for m in &moves {
            let Some(id) = m.get("id").and_then(Value::as_i64) else {
                continue;
            };
            if matches!(m.get("state").and_then(Value::as_str), Some("done" | "cancel")) {
                continue;
            }
            let demand = m.get("product_uom_qty").and_then(Value::as_f64).unwrap_or(0.0);
            let product = m.get("product_id").and_then(many2one).unwrap_or_default();
            let qty = if identified {
                let left = received.entry(product).or_default();
                let take = left.min(demand);
                *left -= take;
                take
            } else {
                demand
            };
            total += qty;
            let values = json!({ "quantity": qty, "picked": qty > 0.0 });
            writes
                .entry(values.to_string())
                .or_insert_with(|| (Vec::new(), values))
                .0
                .push(id);
        }
        if total <= 0.0 {
            return Err(Outcome::reject(
                "none of the parcel's items are on the RMA's return picking in Odoo".to_string(),
            ));
        }
        for (_, (ids, values)) in writes {
            self.client
                .write("stock.move", &ids, values)
                .await
                .map_err(|e| e.outcome())?;
        }
        Ok(())
    }

    /// Answers what `button_validate` returned: `true`, or a wizard action.
    pub(super) async fn answer_wizard(&self, answer: Value, picking: i64) -> Outcome {
        let Value::Object(action) = answer else {
            return Outcome::Delivered;
        };
        let model = action
            .get("res_model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let context = action.get("context").cloned().unwrap_or_else(|| json!({}));
        match model.as_str() {
            "stock.backorder.confirmation" => {
                let wizard = odoo!(
                    self.client
                        .create_wizard("stock.backorder.confirmation", context.clone())
                        .await
                );
                let method = match self.config.backorder {
                    BackorderPolicy::Keep => "process",
                    BackorderPolicy::Cancel => "process_cancel_backorder",
                };
                // The wizard needs the action's context again (transcript 05).
                odoo!(
                    self.client
                        .method("stock.backorder.confirmation", method, &[wizard], Some(context))
                        .await
                );
                Outcome::Delivered
            }
            other => Outcome::reject(format!(
                "validating picking {picking} opened the `{other}` wizard, which returns-edge does not answer"
            )),
        }
    }
}

//! Receipts for an RMA: one parcel's units booked on the RMA's open return picking, proven.
//!
//! Steps, each made durable in the entry before the next call:
//! 1. Find the open return picking: the RMA's pickings (`rma_field`) and their backorders (Odoo
//!    does not copy `return_id` to a backorder, transcript 24), or create the return from the
//!    done delivery with Odoo's wizard when configured. Save its id.
//! 2. Plan the quantities this parcel puts on its moves and save the plan (`wrote:<move>`), then
//!    write them and validate, answering the backorder wizard with the action's context.
//! 3. **Prove** it: the picking is `done` and every move this receipt wrote is `done` on that
//!    picking with the quantity written. Only then is the receipt delivered, and where its units
//!    landed (locations, lots) is recorded for the case's dispositions (`landed.rs`).
//!
//! A `done` picking is not proof by itself (transcript 25: a second parcel validated first
//! leaves the original `done` without the first parcel's units). If the saved picking is done or
//! cancelled before this receipt wrote anything, someone else closed it: the receipt lets it go
//! and looks for the open picking again (the backorder). If it is done with other quantities than
//! this receipt wrote, it was validated by someone else: the entry is dead-lettered with the
//! evidence, never called delivered.
//!
//! Receipts of one RMA are delivered one at a time, in the order they were recorded, by the
//! dispatcher (`OdooSink::order_key`): two parcels never write on the same picking at once.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::config::BackorderPolicy;
use super::landed::Landed;
use super::mapping::many2one;
use super::rpc::OdooError;
use super::sink::OdooSink;
use super::transfer::ids;
use super::PICKING;
use crate::delivery::{Job, Outcome, Progress};

/// Refs key prefix of the plan: `wrote:<move id>` = units this receipt puts on that move.
const WROTE: &str = "wrote:";
/// The step reached once the plan is saved (before any write).
const PLANNED: u32 = 2;
/// Backorder chains longer than this are not followed (each parcel adds one link).
const MAX_CHAIN: usize = 20;

/// What one pass of a receipt attempt ended with.
enum Pass {
    Done(Outcome),
    /// The saved picking was closed by someone else before this receipt wrote anything: find
    /// the open one again.
    Retarget,
}

impl OdooSink {
    pub(super) async fn receive_rma(&self, job: &mut Job, progress: &Progress, rma: &str) -> Outcome {
        for _ in 0..2 {
            match self.receive_rma_pass(job, progress, rma).await {
                Pass::Done(outcome) => return outcome,
                Pass::Retarget => {}
            }
        }
        Outcome::retry("the RMA's open return picking changed twice during one attempt; will look again")
    }

    async fn receive_rma_pass(&self, job: &mut Job, progress: &Progress, rma: &str) -> Pass {
        macro_rules! pass {
            ($call:expr) => {
                match $call {
                    Ok(value) => value,
                    Err(outcome) => return Pass::Done(outcome),
                }
            };
        }
        if !job.entry.refs.contains_key(PICKING) {
            let id = match pass!(self.open_return_picking(rma).await) {
                Some(id) => id,
                None if self.config.rma_from_delivery => pass!(self.return_from_delivery(rma).await),
                None => {
                    return Pass::Done(Outcome::reject(format!(
                        "no open return picking in Odoo for RMA `{rma}` (searched stock.picking {} = `{rma}` and its backorders)",
                        self.config.rma_field
                    )))
                }
            };
            job.entry.refs.insert(PICKING.into(), id);
            job.entry.step = 1;
            pass!(save(progress, job).await);
        }
        let picking = job.entry.refs[PICKING];
        let rows = pass!(self
            .client
            .read("stock.picking", &[picking], &["name", "state", "move_ids"])
            .await
            .map_err(|e| e.outcome()));
        let planned = job.entry.step >= PLANNED;
        // An entry an earlier version left past its writes carries no plan to prove: it keeps
        // that version's rule (a done picking is its validation), and an open one is planned anew.
        let legacy = planned && self::planned(job).next().is_none();
        let Some(row) = rows.first() else {
            if !planned {
                return self.let_go(job, progress).await;
            }
            return Pass::Done(Outcome::reject(format!(
                "return picking {picking} was deleted in Odoo after this receipt wrote its quantities on it"
            )));
        };
        let name = row.get("name").and_then(Value::as_str).unwrap_or("?").to_owned();
        match row.get("state").and_then(Value::as_str) {
            Some("done") if legacy => return Pass::Done(Outcome::Delivered),
            Some("done") if planned => return Pass::Done(self.prove(job, picking, &name).await),
            Some("done" | "cancel") if !planned => return self.let_go(job, progress).await,
            Some("cancel") => {
                return Pass::Done(Outcome::reject(format!(
                    "return picking {name} (id {picking}) was cancelled in Odoo after this receipt wrote its quantities on it"
                )))
            }
            _ => {}
        }
        if !planned || legacy {
            let plan = pass!(self.plan_quantities(job, row, &name).await);
            for (id, units) in plan {
                job.entry.refs.insert(format!("{WROTE}{id}"), units);
            }
            job.entry.step = PLANNED;
            pass!(save(progress, job).await);
        }
        // Written again on every attempt before validating: the same values, so a write whose
        // answer was lost is neither lost nor doubled (the picking is not done, so Odoo applies it).
        pass!(self.write_planned(job).await);
        let validated = match self
            .client
            .method("stock.picking", "button_validate", &[picking], None)
            .await
        {
            Ok(answer) => self.answer_wizard(answer, picking).await,
            // A refusal may mean the picking went done in between (by us, answer lost, or by
            // someone else): look before calling it a rejection.
            Err(e @ OdooError::Server { .. }) => match self.state_of(picking).await {
                Ok(Some(state)) if state == "done" => Ok(()),
                Ok(_) => Err(e.outcome()),
                Err(outcome) => Err(outcome),
            },
            Err(e) => Err(e.outcome()),
        };
        pass!(validated);
        Pass::Done(self.prove(job, picking, &name).await)
    }

    /// Forgets a picking this receipt found but never wrote on, so the next pass finds the open
    /// one (typically the backorder someone else's validation left).
    async fn let_go(&self, job: &mut Job, progress: &Progress) -> Pass {
        job.entry.refs.remove(PICKING);
        job.entry.step = 0;
        match save(progress, job).await {
            Ok(()) => Pass::Retarget,
            Err(outcome) => Pass::Done(outcome),
        }
    }

    async fn state_of(&self, picking: i64) -> Result<Option<String>, Outcome> {
        let rows = self
            .client
            .read("stock.picking", &[picking], &["state"])
            .await
            .map_err(|e| e.outcome())?;
        Ok(rows
            .first()
            .and_then(|r| r.get("state"))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// The RMA's open return picking: among the pickings carrying the RMA reference and the
    /// backorders descending from them, the oldest one not done or cancelled.
    pub(super) async fn open_return_picking(&self, rma: &str) -> Result<Option<i64>, Outcome> {
        let fields = ["id", "state"];
        let mut domain = json!([
            [self.config.rma_field, "=", rma],
            ["picking_type_code", "=", "incoming"]
        ]);
        for _ in 0..MAX_CHAIN {
            let found = self
                .client
                .search_read("stock.picking", domain, &fields)
                .await
                .map_err(|e| e.outcome())?;
            let open = found
                .iter()
                .filter(|r| !matches!(r.get("state").and_then(Value::as_str), Some("done" | "cancel")))
                .filter_map(|r| r.get("id").and_then(Value::as_i64))
                .min();
            if open.is_some() {
                return Ok(open);
            }
            let closed: Vec<i64> = found
                .iter()
                .filter_map(|r| r.get("id").and_then(Value::as_i64))
                .collect();
            if closed.is_empty() {
                return Ok(None);
            }
            // Backorders inherit `origin` but not every field (not `return_id`, perhaps not a
            // custom RMA field): follow `backorder_id` down from the closed ones.
            domain = json!([["backorder_id", "in", closed], ["picking_type_code", "=", "incoming"]]);
        }
        Ok(None)
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
                    .map_err(|e| self.create_returns_refused(e))?;
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

    /// Odoo posts a chatter note on the new return in the integration user's name, and refuses
    /// the whole `create_returns` when that user has no e-mail address (transcript 26).
    fn create_returns_refused(&self, e: OdooError) -> Outcome {
        match &e {
            OdooError::Server { message, .. } if message.contains("configure the sender's email address") => {
                Outcome::reject(format!(
                    "Odoo refused to create the return: the integration user `{}` has no e-mail address \
                     (Odoo posts a note on the new return in its name). Set one in Odoo (Settings → Users), \
                     then replay this entry. Odoo said: {message}",
                    self.config.login.as_deref().unwrap_or("(API key user)")
                ))
            }
            _ => e.outcome(),
        }
    }

    /// The units this parcel puts on each open move of the picking: what the parcel holds per
    /// product, up to each move's demand, in move order. A parcel with no identified lines is
    /// taken to hold the whole return: the station scanned the RMA label and nothing else.
    async fn plan_quantities(
        &self,
        job: &Job,
        picking: &Map<String, Value>,
        name: &str,
    ) -> Result<Vec<(i64, i64)>, Outcome> {
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
        let identified = case.lines.iter().any(|l| l.sku.is_some() || l.barcode.is_some());
        let mut received: HashMap<i64, i64> = HashMap::new();
        if identified {
            for line in &case.lines {
                let product = self.product_of(case, line.number).await?;
                *received.entry(product.id).or_default() += i64::from(line.received);
            }
        }
        let mut plan = Vec::new();
        for m in &moves {
            let Some(id) = m.get("id").and_then(Value::as_i64) else {
                continue;
            };
            if matches!(m.get("state").and_then(Value::as_str), Some("done" | "cancel")) {
                continue;
            }
            let demand = m.get("product_uom_qty").and_then(Value::as_f64).unwrap_or(0.0).round() as i64;
            let product = m.get("product_id").and_then(many2one).unwrap_or_default();
            let units = if identified {
                let left = received.entry(product).or_default();
                let take = (*left).min(demand).max(0);
                *left -= take;
                take
            } else {
                demand
            };
            plan.push((id, units));
        }
        if plan.iter().all(|(_, units)| *units == 0) {
            return Err(Outcome::reject(format!(
                "none of the parcel's items are open on the RMA's return picking {name} in Odoo"
            )));
        }
        Ok(plan)
    }

    /// Writes the saved plan: `quantity` and `picked` per move, one call per distinct value.
    async fn write_planned(&self, job: &Job) -> Result<(), Outcome> {
        let mut writes: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (id, units) in planned(job) {
            writes.entry(units).or_default().push(id);
        }
        for (units, ids) in writes {
            self.client
                .write("stock.move", &ids, json!({ "quantity": units, "picked": units > 0 }))
                .await
                .map_err(|e| e.outcome())?;
        }
        Ok(())
    }

    /// Delivered only if every move this receipt wrote is done on `picking` with the units
    /// written; then records where they landed. Anything else is someone else's validation.
    async fn prove(&self, job: &mut Job, picking: i64, name: &str) -> Outcome {
        let wrote: BTreeMap<i64, i64> = planned(job).filter(|(_, units)| *units > 0).collect();
        let move_ids: Vec<i64> = wrote.keys().copied().collect();
        let moves = odoo!(
            self.client
                .read(
                    "stock.move",
                    &move_ids,
                    &["picking_id", "product_id", "state", "quantity", "move_line_ids"]
                )
                .await
        );
        let by_id: HashMap<i64, &Map<String, Value>> =
            moves.iter().filter_map(|m| Some((m.get("id")?.as_i64()?, m))).collect();
        let mut differences = Vec::new();
        for (id, units) in &wrote {
            let Some(m) = by_id.get(id) else {
                differences.push(format!("move {id} ({units} written) no longer exists"));
                continue;
            };
            let state = m.get("state").and_then(Value::as_str).unwrap_or("?");
            let quantity = m.get("quantity").and_then(Value::as_f64).unwrap_or(0.0);
            let on = m.get("picking_id").and_then(many2one);
            if state != "done" || on != Some(picking) || (quantity - *units as f64).abs() > 1e-6 {
                let product = m.get("product_id").and_then(|p| p.get(1)).and_then(Value::as_str);
                differences.push(format!(
                    "move {id} ({}) holds {quantity} ({state}, picking {}) where this receipt wrote {units}",
                    product.unwrap_or("?"),
                    on.map_or("none".to_owned(), |p| p.to_string()),
                ));
            }
        }
        if !differences.is_empty() {
            return Outcome::reject(format!(
                "return picking {name} (id {picking}) is done, but not with this parcel's units: {}. \
                 It was validated in Odoo by someone else; book this parcel's units by hand (or correct the \
                 picking), then discard this entry",
                differences.join("; ")
            ));
        }
        let line_ids: Vec<i64> = moves.iter().flat_map(|m| ids(m.get("move_line_ids"))).collect();
        let lines = odoo!(
            self.client
                .read(
                    "stock.move.line",
                    &line_ids,
                    &["product_id", "location_dest_id", "lot_id", "quantity", "state"]
                )
                .await
        );
        Landed::from_move_lines(&lines).record(&mut job.entry.refs);
        Outcome::Delivered
    }

    /// Answers what `button_validate` returned: `true`, or a wizard action.
    pub(super) async fn answer_wizard(&self, answer: Value, picking: i64) -> Result<(), Outcome> {
        let Value::Object(action) = answer else {
            return Ok(());
        };
        let model = action
            .get("res_model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let context = action.get("context").cloned().unwrap_or_else(|| json!({}));
        match model.as_str() {
            "stock.backorder.confirmation" => {
                let wizard = self
                    .client
                    .create_wizard("stock.backorder.confirmation", context.clone())
                    .await
                    .map_err(|e| e.outcome())?;
                let method = match self.config.backorder {
                    BackorderPolicy::Keep => "process",
                    BackorderPolicy::Cancel => "process_cancel_backorder",
                };
                // The wizard needs the action's context again (transcript 05).
                self.client
                    .method("stock.backorder.confirmation", method, &[wizard], Some(context))
                    .await
                    .map_err(|e| e.outcome())?;
                Ok(())
            }
            other => Err(Outcome::reject(format!(
                "validating picking {picking} opened the `{other}` wizard, which returns-edge does not answer"
            ))),
        }
    }
}

/// The saved plan: (move id, units).
fn planned(job: &Job) -> impl Iterator<Item = (i64, i64)> + '_ {
    job.entry
        .refs
        .iter()
        .filter_map(|(key, units)| Some((key.strip_prefix(WROTE)?.parse().ok()?, *units)))
}

async fn save(progress: &Progress, job: &Job) -> Result<(), Outcome> {
    progress
        .save(&[job])
        .await
        .map_err(|e| Outcome::retry(format!("cannot save progress: {e}")))
}

//! The Odoo step machines.
//!
//! - **Receipt with an RMA**: find the open return picking by the RMA reference (step 1 stores
//!   its id), set the received quantities on its moves (step 2, before validating), validate and
//!   answer the backorder wizard. A retry at step 2 first reads the picking: `done` means the
//!   validation happened (perhaps with its answer lost).
//! - **Unexpected parcel** and **dispositions**: a picking we create ourselves with
//!   `origin = RE/<site>/<event id>`, then confirm, reserve, mark picked, validate. Before creating,
//!   we search by that origin (excluding backorders, which inherit `origin`), so a lost `create`
//!   answer never makes a second picking. Dispositions are batched: one `search_read`, one
//!   `create` with a list, and one call per state change for the whole batch.
//! - **Scrap**: `stock.scrap` with the same origin; `action_validate`, and the
//!   insufficient-quantity wizard forced or refused per configuration.
//!
//! Every id learnt is saved in the entry's `refs` and made durable before the next call.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

use super::config::{BackorderPolicy, OdooConfig, ScrapInsufficient};
use super::mapping::{self, many2one, Product, Products, Resolved};
use super::rpc::{OdooClient, OdooError};
use crate::delivery::{Job, Outcome, Progress, Sink};
use crate::domain::{Case, CaseEvent, Disposition, LineNo, SiteId};

const PICKING: &str = "picking";
const SCRAP: &str = "scrap";

/// Forwards receipts and dispositions to one Odoo database.
#[derive(Debug)]
pub struct OdooSink {
    config: OdooConfig,
    site: SiteId,
    client: OdooClient,
    mapping: tokio::sync::Mutex<Option<Resolved>>,
    products: Products,
    /// Receipts for one RMA touch the same picking (and its backorder): one at a time.
    rma_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A transfer to create (or find) and complete for one job.
#[derive(Debug, Clone)]
struct TransferPlan {
    origin: String,
    picking_type: i64,
    from: i64,
    to: i64,
    lines: Vec<(Product, u32)>,
}

/// Unwraps an Odoo result or returns its classified outcome.
macro_rules! odoo {
    ($call:expr) => {
        match $call {
            Ok(value) => value,
            Err(e) => return e.outcome(),
        }
    };
}

impl OdooSink {
    pub fn new(config: OdooConfig, site: SiteId) -> Result<Self, String> {
        let secret = config.read_secret()?;
        let client = OdooClient::new(&config, secret)?;
        Ok(OdooSink {
            config,
            site,
            client,
            mapping: tokio::sync::Mutex::new(None),
            products: Products::default(),
            rma_locks: Mutex::new(HashMap::new()),
        })
    }

    /// The deterministic reference of an event in Odoo.
    pub fn reference(&self, job: &Job) -> String {
        format!("RE/{}/{}", self.site, job.event.id)
    }

    async fn mapping(&self) -> Result<Resolved, Outcome> {
        let mut cached = self.mapping.lock().await;
        if let Some(resolved) = cached.as_ref() {
            return Ok(resolved.clone());
        }
        match mapping::resolve(&self.client, &self.config).await {
            Ok(resolved) => {
                *cached = Some(resolved.clone());
                Ok(resolved)
            }
            // A missing location or picking type stops every delivery: one sink-wide status.
            Err(e @ mapping::MappingError::NotFound { .. }) => Err(Outcome::pause(e.to_string())),
            Err(mapping::MappingError::Odoo(e)) => Err(e.outcome()),
        }
    }

    async fn deliver_one(&self, job: &mut Job, progress: &Progress) -> Outcome {
        match job.event.event.clone() {
            CaseEvent::ParcelReceived { rma: Some(rma), .. } => self.receive_rma(job, progress, rma.as_str()).await,
            CaseEvent::ParcelReceived { .. } | CaseEvent::ItemDisposed { .. } => {
                if matches!(
                    job.event.event,
                    CaseEvent::ItemDisposed {
                        disposition: Disposition::Scrap,
                        ..
                    }
                ) {
                    return self.scrap(job, progress).await;
                }
                let plan = match self.plan(job).await {
                    Ok(plan) => plan,
                    Err(outcome) => return outcome,
                };
                let mut outcomes = self
                    .transfers(std::slice::from_mut(job), vec![Some(plan)], progress)
                    .await;
                outcomes.pop().unwrap_or_else(|| Outcome::retry("no outcome"))
            }
            // Inspections, flag clearances and closures make no stock move.
            _ => Outcome::Delivered,
        }
    }

    /// Turns a receipt without RMA or a disposition into the transfer to make.
    async fn plan(&self, job: &Job) -> Result<TransferPlan, Outcome> {
        let mapping = self.mapping().await?;
        let case = job
            .case
            .as_ref()
            .ok_or_else(|| Outcome::retry("the case projection is missing"))?;
        let origin = self.reference(job);
        match &job.event.event {
            CaseEvent::ParcelReceived { .. } => {
                let mut lines = Vec::new();
                for line in &case.lines {
                    lines.push((self.product_of(case, line.number).await?, line.received));
                }
                Ok(TransferPlan {
                    origin,
                    picking_type: mapping.receipts_type,
                    from: mapping.customers,
                    to: mapping.quarantine,
                    lines,
                })
            }
            CaseEvent::ItemDisposed { line, qty, disposition } => {
                let to = *mapping.dispositions.get(disposition).ok_or_else(|| {
                    Outcome::reject(format!(
                        "no Odoo location is configured for the disposition `{}` (sinks.odoo.dispositions)",
                        disposition.as_str()
                    ))
                })?;
                let from = if case.rma.is_some() {
                    mapping.returns
                } else {
                    mapping.quarantine
                };
                let product = self.product_of(case, *line).await?;
                Ok(TransferPlan {
                    origin,
                    picking_type: mapping.internal_type,
                    from,
                    to,
                    lines: vec![(product, *qty)],
                })
            }
            other => Err(Outcome::reject(format!("{} makes no transfer", other.kind().as_str()))),
        }
    }

    /// The Odoo product of a case line: by SKU (`default_code`), by barcode, or the configured
    /// product for unidentified items.
    async fn product_of(&self, case: &Case, number: LineNo) -> Result<Product, Outcome> {
        let line = case
            .line(number)
            .ok_or_else(|| Outcome::reject(format!("case has no line {number}")))?;
        let mut tried = Vec::new();
        if let Some(sku) = &line.sku {
            if let Some(p) = self
                .products
                .find(&self.client, "default_code", sku.as_str())
                .await
                .map_err(|e| e.outcome())?
            {
                return Ok(p);
            }
            tried.push(format!("default_code `{sku}`"));
        }
        if let Some(barcode) = &line.barcode {
            if let Some(p) = self
                .products
                .find(&self.client, "barcode", barcode.as_str())
                .await
                .map_err(|e| e.outcome())?
            {
                return Ok(p);
            }
            tried.push(format!("barcode `{barcode}`"));
        }
        if tried.is_empty() {
            if let Some(code) = &self.config.unknown_product {
                if let Some(p) = self
                    .products
                    .find(&self.client, "default_code", code)
                    .await
                    .map_err(|e| e.outcome())?
                {
                    return Ok(p);
                }
                return Err(Outcome::reject(format!(
                    "sinks.odoo.unknown_product `{code}` is not a product in Odoo"
                )));
            }
            return Err(Outcome::reject(format!(
                "line {number} has no SKU or barcode and sinks.odoo.unknown_product is not set"
            )));
        }
        Err(Outcome::reject(format!("no Odoo product with {}", tried.join(" or "))))
    }

    async fn receive_rma(&self, job: &mut Job, progress: &Progress, rma: &str) -> Outcome {
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

    async fn receive_rma_locked(&self, job: &mut Job, progress: &Progress, rma: &str) -> Outcome {
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
    async fn return_from_delivery(&self, rma: &str) -> Result<i64, Outcome> {
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
                let created = self
                    .client
                    .call(
                        super::rpc::Call::new("stock.return.picking", "create")
                            .arg("vals_list", json!([{}]))
                            .context(context.clone()),
                    )
                    .await
                    .map_err(|e| e.outcome())?;
                let wizard = match created {
                    Value::Array(ids) => ids.first().and_then(Value::as_i64).unwrap_or_default(),
                    other => other.as_i64().unwrap_or_default(),
                };
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
    async fn set_received_quantities(&self, job: &Job, picking: &Map<String, Value>) -> Result<(), Outcome> {
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
    async fn answer_wizard(&self, answer: Value, picking: i64) -> Outcome {
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
                        .call(
                            super::rpc::Call::new("stock.backorder.confirmation", "create")
                                .arg("vals_list", json!([{}]))
                                .context(context.clone())
                        )
                        .await
                );
                let wizard = match wizard {
                    Value::Number(n) => n.as_i64().unwrap_or_default(),
                    Value::Array(ids) => ids.first().and_then(Value::as_i64).unwrap_or_default(),
                    other => return Outcome::retry(format!("unexpected wizard id {other}")),
                };
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

    /// Finds or creates each job's picking, then drives all of them to `done` together.
    async fn transfers(&self, jobs: &mut [Job], plans: Vec<Option<TransferPlan>>, progress: &Progress) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = plans
            .iter()
            .map(|p| {
                if p.is_some() {
                    None
                } else {
                    Some(Outcome::retry("unplanned"))
                }
            })
            .collect();
        if let Err(e) = self.find_or_create(jobs, &plans, &mut outcomes, progress).await {
            return fill(outcomes, e);
        }
        for _round in 0..6 {
            let active: Vec<usize> = (0..jobs.len()).filter(|i| outcomes[*i].is_none()).collect();
            if active.is_empty() {
                break;
            }
            let ids: Vec<i64> = active.iter().map(|i| jobs[*i].entry.refs[PICKING]).collect();
            let rows = match self.client.read("stock.picking", &ids, &["state", "move_ids"]).await {
                Ok(rows) => rows,
                Err(e) => return fill(outcomes, e.outcome()),
            };
            let by_id: HashMap<i64, &Map<String, Value>> =
                rows.iter().filter_map(|r| Some((r.get("id")?.as_i64()?, r))).collect();
            let (mut draft, mut confirmed, mut assigned) = (Vec::new(), Vec::new(), Vec::new());
            for &i in &active {
                let id = jobs[i].entry.refs[PICKING];
                match by_id.get(&id).and_then(|r| r.get("state")).and_then(Value::as_str) {
                    None => outcomes[i] = Some(Outcome::reject(format!("picking {id} no longer exists in Odoo"))),
                    Some("done") => outcomes[i] = Some(Outcome::Delivered),
                    Some("cancel") => {
                        outcomes[i] = Some(Outcome::reject(format!("picking {id} was cancelled in Odoo")))
                    }
                    Some("draft") => draft.push(id),
                    Some("assigned") => assigned.push(id),
                    Some(_) => confirmed.push(id),
                }
            }
            let step = if !draft.is_empty() {
                self.client
                    .method("stock.picking", "action_confirm", &draft, None)
                    .await
                    .map(drop)
            } else if !confirmed.is_empty() {
                self.client
                    .method("stock.picking", "action_assign", &confirmed, None)
                    .await
                    .map(drop)
            } else if !assigned.is_empty() {
                self.pick_and_validate(&assigned, &by_id, jobs, &mut outcomes).await
            } else {
                Ok(())
            };
            if let Err(e) = step {
                return fill(outcomes, e.outcome());
            }
        }
        fill(
            outcomes,
            Outcome::retry("the picking did not reach `done`; will look again"),
        )
    }

    async fn find_or_create(
        &self,
        jobs: &mut [Job],
        plans: &[Option<TransferPlan>],
        outcomes: &mut [Option<Outcome>],
        progress: &Progress,
    ) -> Result<(), Outcome> {
        let need: Vec<usize> = (0..jobs.len())
            .filter(|i| outcomes[*i].is_none() && !jobs[*i].entry.refs.contains_key(PICKING))
            .collect();
        if need.is_empty() {
            return Ok(());
        }
        let origins: Vec<&str> = need
            .iter()
            .filter_map(|i| plans[*i].as_ref().map(|p| p.origin.as_str()))
            .collect();
        // Backorders inherit `origin`; only the picking we created has no `backorder_id`.
        let domain = json!([["origin", "in", origins], ["backorder_id", "=", false]]);
        let found = self
            .client
            .search_read("stock.picking", domain, &["id", "origin"])
            .await
            .map_err(|e| e.outcome())?;
        let existing: HashMap<String, i64> = found
            .iter()
            .filter_map(|r| Some((r.get("origin")?.as_str()?.to_owned(), r.get("id")?.as_i64()?)))
            .collect();
        let mut to_create = Vec::new();
        for &i in &need {
            let Some(plan) = &plans[i] else { continue };
            match existing.get(&plan.origin) {
                Some(id) => {
                    jobs[i].entry.refs.insert(PICKING.into(), *id);
                }
                None => to_create.push(i),
            }
        }
        if !to_create.is_empty() {
            let values: Vec<Value> = to_create
                .iter()
                .filter_map(|i| plans[*i].as_ref().map(picking_values))
                .collect();
            let ids = self
                .client
                .create("stock.picking", values)
                .await
                .map_err(|e| e.outcome())?;
            if ids.len() != to_create.len() {
                return Err(Outcome::retry(format!(
                    "Odoo created {} pickings for {} requests",
                    ids.len(),
                    to_create.len()
                )));
            }
            for (i, id) in to_create.iter().zip(ids) {
                jobs[*i].entry.refs.insert(PICKING.into(), id);
            }
        }
        for &i in &need {
            jobs[i].entry.step = 1;
        }
        let touched: Vec<&Job> = need.iter().map(|i| &jobs[*i]).collect();
        progress
            .save(&touched)
            .await
            .map_err(|e| Outcome::retry(format!("cannot save progress: {e}")))
    }

    /// Marks reserved moves picked and validates the pickings in one call each.
    async fn pick_and_validate(
        &self,
        assigned: &[i64],
        pickings: &HashMap<i64, &Map<String, Value>>,
        jobs: &[Job],
        outcomes: &mut [Option<Outcome>],
    ) -> Result<(), OdooError> {
        let move_ids: Vec<i64> = assigned
            .iter()
            .flat_map(|id| ids(pickings.get(id).and_then(|r| r.get("move_ids"))))
            .collect();
        let moves = self
            .client
            .read(
                "stock.move",
                &move_ids,
                &["picking_id", "product_uom_qty", "quantity", "picked"],
            )
            .await?;
        let mut short: Vec<i64> = Vec::new();
        let mut to_pick = Vec::new();
        for m in &moves {
            let demand = m.get("product_uom_qty").and_then(Value::as_f64).unwrap_or(0.0);
            let reserved = m.get("quantity").and_then(Value::as_f64).unwrap_or(0.0);
            let picking = m.get("picking_id").and_then(many2one).unwrap_or_default();
            if reserved + 1e-9 < demand {
                short.push(picking);
            } else if m.get("picked") != Some(&Value::Bool(true)) {
                to_pick.extend(m.get("id").and_then(Value::as_i64));
            }
        }
        // A disposition moves what the receipt brought in; if it is not reserved yet, wait
        // rather than move stock that is not there.
        for (i, job) in jobs.iter().enumerate() {
            if outcomes[i].is_none() && short.contains(&job.entry.refs[PICKING]) {
                outcomes[i] = Some(Outcome::retry(format!(
                    "picking {} is not fully reserved in its source location yet",
                    job.entry.refs[PICKING]
                )));
            }
        }
        let ready: Vec<i64> = assigned.iter().copied().filter(|id| !short.contains(id)).collect();
        if ready.is_empty() {
            return Ok(());
        }
        if !to_pick.is_empty() {
            self.client
                .write("stock.move", &to_pick, json!({ "picked": true }))
                .await?;
        }
        let answer = self
            .client
            .method("stock.picking", "button_validate", &ready, None)
            .await?;
        if answer != Value::Bool(true) {
            for (i, job) in jobs.iter().enumerate() {
                if outcomes[i].is_none() && ready.contains(&job.entry.refs[PICKING]) {
                    outcomes[i] = Some(Outcome::reject(format!(
                        "validating picking {} opened a wizard: {}",
                        job.entry.refs[PICKING],
                        answer.get("res_model").and_then(Value::as_str).unwrap_or("unknown")
                    )));
                }
            }
        }
        Ok(())
    }

    async fn scrap(&self, job: &mut Job, progress: &Progress) -> Outcome {
        let mapping = match self.mapping().await {
            Ok(m) => m,
            Err(outcome) => return outcome,
        };
        let (Some(case), CaseEvent::ItemDisposed { line, qty, .. }) = (job.case.clone(), job.event.event.clone())
        else {
            return Outcome::retry("the case projection is missing");
        };
        let origin = self.reference(job);
        let from = if case.rma.is_some() {
            mapping.returns
        } else {
            mapping.quarantine
        };
        if !job.entry.refs.contains_key(SCRAP) {
            let found = odoo!(
                self.client
                    .search_read("stock.scrap", json!([["origin", "=", origin]]), &["id", "state"])
                    .await
            );
            let id = match found.first().and_then(|r| r.get("id")).and_then(Value::as_i64) {
                Some(id) => id,
                None => {
                    let product = match self.product_of(&case, line).await {
                        Ok(p) => p,
                        Err(outcome) => return outcome,
                    };
                    let values = json!({
                        "product_id": product.id, "product_uom_id": product.uom, "scrap_qty": qty,
                        "location_id": from, "scrap_location_id": mapping.scrap, "origin": origin,
                    });
                    let ids = odoo!(self.client.create("stock.scrap", vec![values]).await);
                    let Some(id) = ids.first().copied() else {
                        return Outcome::retry("Odoo created no scrap");
                    };
                    id
                }
            };
            job.entry.refs.insert(SCRAP.into(), id);
            job.entry.step = 1;
            if let Err(e) = progress.save(&[job]).await {
                return Outcome::retry(format!("cannot save progress: {e}"));
            }
        }
        let scrap = job.entry.refs[SCRAP];
        let rows = odoo!(self.client.read("stock.scrap", &[scrap], &["state"]).await);
        match rows.first().and_then(|r| r.get("state")).and_then(Value::as_str) {
            Some("done") => return Outcome::Delivered,
            None => {
                // Our draft scrap was removed (by us after a refusal, or by someone in Odoo):
                // forget it so a replay creates a fresh one.
                job.entry.refs.remove(SCRAP);
                job.entry.step = 0;
                let _ = progress.save(&[job]).await;
                return Outcome::retry(format!("scrap {scrap} no longer exists in Odoo; will create it again"));
            }
            _ => {}
        }
        let answer = odoo!(
            self.client
                .method("stock.scrap", "action_validate", &[scrap], None)
                .await
        );
        let Value::Object(action) = answer else {
            return Outcome::Delivered;
        };
        let wizard_model = action
            .get("res_model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let title = action
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("insufficient quantity")
            .to_owned();
        if wizard_model != "stock.warn.insufficient.qty.scrap" {
            return Outcome::reject(format!("validating scrap {scrap} opened the `{wizard_model}` wizard"));
        }
        match self.config.scrap_insufficient {
            ScrapInsufficient::Force => {
                let context = action.get("context").cloned().unwrap_or_else(|| json!({}));
                let created = odoo!(
                    self.client
                        .call(
                            super::rpc::Call::new("stock.warn.insufficient.qty.scrap", "create")
                                .arg("vals_list", json!([{}]))
                                .context(context)
                        )
                        .await
                );
                let wizard = match created {
                    Value::Array(ids) => ids.first().and_then(Value::as_i64).unwrap_or_default(),
                    other => other.as_i64().unwrap_or_default(),
                };
                odoo!(
                    self.client
                        .method("stock.warn.insufficient.qty.scrap", "action_done", &[wizard], None)
                        .await
                );
                Outcome::Delivered
            }
            ScrapInsufficient::Reject => {
                odoo!(self.client.method("stock.scrap", "unlink", &[scrap], None).await);
                job.entry.refs.remove(SCRAP);
                job.entry.step = 0;
                if let Err(e) = progress.save(&[job]).await {
                    return Outcome::retry(format!("cannot save progress: {e}"));
                }
                Outcome::reject(format!("Odoo: {title} (sinks.odoo.scrap_insufficient = \"reject\")"))
            }
        }
    }
}

impl Sink for OdooSink {
    fn batch_key(&self, job: &Job) -> Option<String> {
        // Unexpected parcels and dispositions are pickings we create: they batch together. RMA
        // receipts work on an existing picking and scraps on `stock.scrap`: one at a time.
        match &job.event.event {
            CaseEvent::ParcelReceived { rma: None, .. } => Some("transfer".into()),
            CaseEvent::ItemDisposed { disposition, .. } if *disposition != Disposition::Scrap => {
                Some("transfer".into())
            }
            _ => None,
        }
    }

    fn max_batch(&self) -> usize {
        self.config.max_batch
    }

    async fn deliver(&self, jobs: &mut [Job], progress: &Progress) -> Vec<Outcome> {
        if jobs.len() == 1 {
            return vec![self.deliver_one(&mut jobs[0], progress).await];
        }
        let mut plans = Vec::with_capacity(jobs.len());
        let mut early: Vec<Option<Outcome>> = Vec::with_capacity(jobs.len());
        for job in jobs.iter() {
            match self.plan(job).await {
                Ok(plan) => {
                    plans.push(Some(plan));
                    early.push(None);
                }
                Err(outcome) => {
                    plans.push(None);
                    early.push(Some(outcome));
                }
            }
        }
        let planned = self.transfers(jobs, plans, progress).await;
        early
            .into_iter()
            .zip(planned)
            .map(|(early, planned)| early.unwrap_or(planned))
            .collect()
    }

    async fn probe(&self) -> Result<(), String> {
        self.client.probe().await.map_err(|e| e.to_string())?;
        *self.mapping.lock().await = None;
        mapping::resolve(&self.client, &self.config)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

fn picking_values(plan: &TransferPlan) -> Value {
    let moves: Vec<Value> = plan
        .lines
        .iter()
        .map(|(product, qty)| {
            json!([0, 0, {
                "name": plan.origin, "product_id": product.id, "product_uom": product.uom,
                "product_uom_qty": qty, "location_id": plan.from, "location_dest_id": plan.to,
            }])
        })
        .collect();
    json!({
        "picking_type_id": plan.picking_type, "location_id": plan.from, "location_dest_id": plan.to,
        "origin": plan.origin, "move_ids": moves,
    })
}

fn ids(value: Option<&Value>) -> Vec<i64> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn fill(outcomes: Vec<Option<Outcome>>, rest: Outcome) -> Vec<Outcome> {
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| rest.clone()))
        .collect()
}

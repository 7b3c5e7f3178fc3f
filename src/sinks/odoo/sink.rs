//! The Odoo sink: the [`OdooSink`] type, what each event kind means in Odoo (routing and
//! planning), product lookup, and the [`Sink`] implementation the dispatcher drives. The step
//! machines live beside it: `rma.rs` (receipts for an RMA), `transfer.rs` (pickings we create:
//! unexpected parcels and dispositions, batched), `scrap.rs`.
//!
//! Every id learnt is saved in the entry's `refs` and made durable before the next call.

use serde_json::{json, Value};

use super::config::OdooConfig;
use super::landed::Landed;
use super::mapping::{self, many2one, Product, Products, Resolved};
use super::rpc::OdooClient;
use super::transfer::{ids, TransferLine, TransferPlan};
use super::PICKING;
use crate::delivery::{Job, Outcome, Progress, Sink};
use crate::domain::{Case, CaseEvent, Disposition, LineNo, SiteId};
use crate::store::EventRecord;

/// Forwards receipts and dispositions to one Odoo database.
#[derive(Debug)]
pub struct OdooSink {
    pub(super) config: OdooConfig,
    pub(super) site: SiteId,
    pub(super) client: OdooClient,
    pub(super) mapping: tokio::sync::Mutex<Option<Resolved>>,
    pub(super) products: Products,
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
        })
    }

    /// The deterministic reference of an event in Odoo.
    pub fn reference(&self, job: &Job) -> String {
        format!("RE/{}/{}", self.site, job.event.id)
    }

    pub(super) async fn mapping(&self) -> Result<Resolved, Outcome> {
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

    pub(super) async fn deliver_one(&self, job: &mut Job, progress: &Progress) -> Outcome {
        match job.event.event.clone() {
            CaseEvent::ParcelReceived { rma: Some(rma), .. } => self.receive_rma(job, progress, rma.as_str()).await,
            CaseEvent::ItemDisposed {
                disposition: Disposition::Scrap,
                ..
            } => {
                let mut outcomes = self.scraps(std::slice::from_mut(job), progress).await;
                outcomes.pop().unwrap_or_else(|| Outcome::retry("no outcome"))
            }
            CaseEvent::ParcelReceived { .. } | CaseEvent::ItemDisposed { .. } => {
                let plan = match self.plan(job, progress).await {
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

    /// Turns a receipt without RMA or a disposition into the transfer to make; `Err` is the
    /// entry's outcome when there is no transfer to make (a refusal, or nothing to move).
    pub(super) async fn plan(&self, job: &Job, progress: &Progress) -> Result<TransferPlan, Outcome> {
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
                    lines.push(TransferLine {
                        product: self.product_of(case, line.number).await?,
                        qty: line.received,
                        lots: Vec::new(),
                    });
                }
                Ok(TransferPlan {
                    origin,
                    picking_type: mapping.receipts_type,
                    from: mapping.customers,
                    to: mapping.quarantine,
                    lines,
                })
            }
            CaseEvent::ItemDisposed {
                line, qty, disposition, ..
            } => {
                let to = *mapping.dispositions.get(disposition).ok_or_else(|| {
                    Outcome::reject(format!(
                        "no Odoo location is configured for the disposition `{}` (sinks.odoo.dispositions)",
                        disposition.as_str()
                    ))
                })?;
                let product = self.product_of(case, *line).await?;
                let landed = self.landed(case, product, progress).await?;
                let from = disposition_source(landed.as_ref(), case, product, &mapping);
                if from == to {
                    return Err(Outcome::Settled {
                        note: format!(
                            "no transfer: the receipt put the units in location {from}, which is where `{}` puts them",
                            disposition.as_str()
                        ),
                    });
                }
                // Lots are chosen once, before the picking exists; afterwards Odoo holds them
                // (reserved by our own picking, they would look taken). A picking whose id was
                // not saved (create answer lost, or a kill before the save) is found by origin.
                let brought = landed.as_ref().map(|l| l.lots_of(product.id)).unwrap_or_default();
                let lots = if brought.is_empty() || self.picking_exists(job, &origin).await? {
                    Vec::new()
                } else {
                    self.choose_lots(case, *line, product, *qty, from, brought).await?
                };
                Ok(TransferPlan {
                    origin,
                    picking_type: mapping.internal_type,
                    from,
                    to,
                    lines: vec![TransferLine {
                        product,
                        qty: *qty,
                        lots,
                    }],
                })
            }
            other => Err(Outcome::reject(format!("{} makes no transfer", other.kind().as_str()))),
        }
    }

    /// Whether the job's transfer exists in Odoo: known from its refs, or found by its origin
    /// (backorders inherit `origin`; only ours has no `backorder_id`).
    async fn picking_exists(&self, job: &Job, origin: &str) -> Result<bool, Outcome> {
        if job.entry.refs.contains_key(PICKING) {
            return Ok(true);
        }
        let found = self
            .client
            .search_read(
                "stock.picking",
                json!([["origin", "=", origin], ["backorder_id", "=", false]]),
                &["id"],
            )
            .await
            .map_err(|e| e.outcome())?;
        Ok(!found.is_empty())
    }

    /// Where the case's receipt put its units of `product`: as the receipt recorded it, else as
    /// Odoo shows the done lines of the picking it delivered to; `None` when neither is known (a
    /// receipt delivered by an older version and since archived).
    pub(super) async fn landed(
        &self,
        case: &Case,
        product: Product,
        progress: &Progress,
    ) -> Result<Option<Landed>, Outcome> {
        let receipt = progress
            .delivered_receipt(case.id)
            .map_err(|e| Outcome::retry(format!("cannot read the case's receipt delivery: {e}")))?;
        let Some(receipt) = receipt else { return Ok(None) };
        if let Some(landed) = Landed::from_refs(&receipt.refs).filter(|l| l.source(product.id).is_some()) {
            return Ok(Some(landed));
        }
        let Some(picking) = receipt.refs.get(PICKING) else {
            return Ok(None);
        };
        let moves = self
            .client
            .search_read(
                "stock.move",
                json!([
                    ["picking_id", "=", picking],
                    ["product_id", "=", product.id],
                    ["state", "=", "done"]
                ]),
                &["move_line_ids"],
            )
            .await
            .map_err(|e| e.outcome())?;
        let line_ids: Vec<i64> = moves.iter().flat_map(|m| ids(m.get("move_line_ids"))).collect();
        if line_ids.is_empty() {
            return Ok(None);
        }
        let lines = self
            .client
            .read(
                "stock.move.line",
                &line_ids,
                &["product_id", "location_dest_id", "lot_id", "quantity"],
            )
            .await
            .map_err(|e| e.outcome())?;
        let landed = Landed::from_move_lines(&lines);
        Ok(landed.source(product.id).is_some().then_some(landed))
    }

    /// The serials (lots) a disposition of `qty` units moves: the line's own serial first, then
    /// the others the parcel brought, as long as they are still where the receipt put them.
    /// Fewer than `qty` left is a dead letter naming them, never a swap for another unit.
    pub(super) async fn choose_lots(
        &self,
        case: &Case,
        line: LineNo,
        product: Product,
        qty: u32,
        from: i64,
        brought: &[(i64, i64)],
    ) -> Result<Vec<i64>, Outcome> {
        let mut candidates: Vec<i64> = Vec::new();
        let serials = case.line(line).into_iter().flat_map(|l| {
            l.serial
                .iter()
                .chain(l.inspections.iter().rev().filter_map(|i| i.serial.as_ref()))
                .map(|s| s.as_str().to_owned())
                .collect::<Vec<_>>()
        });
        for serial in serials {
            let found = self
                .client
                .search_read(
                    "stock.lot",
                    json!([["name", "=", serial], ["product_id", "=", product.id]]),
                    &["id"],
                )
                .await
                .map_err(|e| e.outcome())?;
            candidates.extend(found.iter().filter_map(|r| r.get("id").and_then(Value::as_i64)));
        }
        for (lot, location) in brought {
            if *location == from && !candidates.contains(lot) {
                candidates.push(*lot);
            }
        }
        let quants = self
            .client
            .search_read(
                "stock.quant",
                json!([
                    ["lot_id", "in", candidates],
                    ["location_id", "=", from],
                    ["quantity", ">", 0]
                ]),
                &["lot_id", "quantity", "reserved_quantity"],
            )
            .await
            .map_err(|e| e.outcome())?;
        let free: Vec<i64> = quants
            .iter()
            .filter(|q| {
                let quantity = q.get("quantity").and_then(Value::as_f64).unwrap_or(0.0);
                let reserved = q.get("reserved_quantity").and_then(Value::as_f64).unwrap_or(0.0);
                quantity - reserved >= 1.0 - 1e-9
            })
            .filter_map(|q| q.get("lot_id").and_then(many2one))
            .collect();
        let chosen: Vec<i64> = candidates
            .iter()
            .copied()
            .filter(|lot| free.contains(lot))
            .take(qty as usize)
            .collect();
        if chosen.len() < qty as usize {
            let names = self
                .client
                .read("stock.lot", &candidates, &["name"])
                .await
                .map(|rows| {
                    rows.iter()
                        .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            return Err(Outcome::reject(format!(
                "location {from} holds {} of the {qty} serial(s) this parcel brought ({names}) free to move; they were moved or reserved since the receipt. Put them back (or correct the serial on the case), then replay this entry",
                chosen.len()
            )));
        }
        Ok(chosen)
    }

    /// The Odoo product of a case line: by SKU (`default_code`), by barcode, or the configured
    /// product for unidentified items.
    pub(super) async fn product_of(&self, case: &Case, number: LineNo) -> Result<Product, Outcome> {
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
}

/// Batch keys: jobs with the same key are delivered together.
const TRANSFER: &str = "transfer";
const SCRAPS: &str = "scrap";

impl Sink for OdooSink {
    const ORDERED: bool = true;

    /// Receipts of one RMA book on the same return picking and its backorders: one at a time,
    /// in the order the parcels were received (issue 12: a later parcel validated first leaves
    /// the earlier one's units on a backorder).
    fn order_key(&self, event: &EventRecord) -> Option<String> {
        match &event.event {
            CaseEvent::ParcelReceived { rma: Some(rma), .. } => Some(format!("rma:{rma}")),
            _ => None,
        }
    }

    fn batch_key(&self, job: &Job) -> Option<String> {
        // Unexpected parcels and dispositions are pickings we create: they batch together.
        // Scraps batch with scraps (found and created together, validated one by one). RMA
        // receipts work on an existing picking, each with its own wizards: one at a time.
        match &job.event.event {
            CaseEvent::ParcelReceived { rma: None, .. } => Some(TRANSFER.into()),
            CaseEvent::ItemDisposed {
                disposition: Disposition::Scrap,
                ..
            } => Some(SCRAPS.into()),
            CaseEvent::ItemDisposed { .. } => Some(TRANSFER.into()),
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
        if jobs.first().and_then(|job| self.batch_key(job)).as_deref() == Some(SCRAPS) {
            return self.scraps(jobs, progress).await;
        }
        let mut plans = Vec::with_capacity(jobs.len());
        let mut early: Vec<Option<Outcome>> = Vec::with_capacity(jobs.len());
        for job in jobs.iter() {
            match self.plan(job, progress).await {
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

/// Where a disposition takes its units from: where the case's receipt put them, else (a receipt
/// delivered by an older version and since archived) the configured receiving location.
pub(super) fn disposition_source(landed: Option<&Landed>, case: &Case, product: Product, mapping: &Resolved) -> i64 {
    landed
        .and_then(|l| l.source(product.id))
        .unwrap_or(if case.rma.is_some() {
            mapping.returns
        } else {
            mapping.quarantine
        })
}

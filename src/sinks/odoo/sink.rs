//! The Odoo sink: the [`OdooSink`] type, what each event kind means in Odoo (routing and
//! planning), product lookup, and the [`Sink`] implementation the dispatcher drives. The step
//! machines live beside it: `rma.rs` (receipts for an RMA), `transfer.rs` (pickings we create:
//! unexpected parcels and dispositions, batched), `scrap.rs`.
//!
//! Every id learnt is saved in the entry's `refs` and made durable before the next call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::config::OdooConfig;
use super::mapping::{self, Product, Products, Resolved};
use super::rpc::OdooClient;
use super::transfer::TransferPlan;
use crate::delivery::{Job, Outcome, Progress, Sink};
use crate::domain::{Case, CaseEvent, Disposition, LineNo, SiteId};

/// Forwards receipts and dispositions to one Odoo database.
#[derive(Debug)]
pub struct OdooSink {
    pub(super) config: OdooConfig,
    pub(super) site: SiteId,
    pub(super) client: OdooClient,
    pub(super) mapping: tokio::sync::Mutex<Option<Resolved>>,
    pub(super) products: Products,
    /// Receipts for one RMA touch the same picking (and its backorder): one at a time.
    pub(super) rma_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
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
    pub(super) async fn plan(&self, job: &Job) -> Result<TransferPlan, Outcome> {
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
            CaseEvent::ItemDisposed {
                line, qty, disposition, ..
            } => {
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

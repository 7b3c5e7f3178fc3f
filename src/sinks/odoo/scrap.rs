//! Scrap dispositions: a `stock.scrap` per disposition with `origin = RE/<site>/<event id>`, found
//! before it is created, then `action_validate`; Odoo's insufficient-quantity wizard is forced or
//! refused per `scrap_insufficient`.
//!
//! Pending scraps batch: one `search_read` and one list `create` for all of them, then one
//! `action_validate` each, because Odoo 17 validates one scrap per call (it may answer with a
//! wizard for that scrap alone). A scrap known from an earlier attempt has its state read (one
//! `read` for all) before it is validated again, because `action_validate` does not check the
//! state and would scrap twice; one found or created in this attempt already told its state.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::config::ScrapInsufficient;
use super::sink::{disposition_source, OdooSink};
use super::transfer::fill;
use super::SCRAP;
use crate::delivery::{Job, Outcome, Progress};
use crate::domain::CaseEvent;

impl OdooSink {
    /// Delivers scrap dispositions: one outcome per job, in order.
    pub(super) async fn scraps(&self, jobs: &mut [Job], progress: &Progress) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
        // The state of each scrap when this attempt found or created it; `None` when it comes
        // from an earlier attempt and must be read.
        let mut states: Vec<Option<String>> = vec![None; jobs.len()];
        if let Err(e) = self
            .find_or_create_scraps(jobs, &mut outcomes, &mut states, progress)
            .await
        {
            return fill(outcomes, e);
        }
        let unknown: Vec<usize> = (0..jobs.len())
            .filter(|i| outcomes[*i].is_none() && states[*i].is_none())
            .collect();
        if !unknown.is_empty() {
            let ids: Vec<i64> = unknown.iter().map(|i| jobs[*i].entry.refs[SCRAP]).collect();
            let rows = match self.client.read("stock.scrap", &ids, &["state"]).await {
                Ok(rows) => rows,
                Err(e) => return fill(outcomes, e.outcome()),
            };
            let by_id: HashMap<i64, String> = rows
                .iter()
                .filter_map(|r| Some((r.get("id")?.as_i64()?, r.get("state")?.as_str()?.to_owned())))
                .collect();
            for i in unknown {
                let scrap = jobs[i].entry.refs[SCRAP];
                match by_id.get(&scrap) {
                    Some(state) => states[i] = Some(state.clone()),
                    None => {
                        // Our draft scrap was removed (by us after a refusal, or by someone in
                        // Odoo): forget it so a replay creates a fresh one.
                        jobs[i].entry.refs.remove(SCRAP);
                        jobs[i].entry.step = 0;
                        let _ = progress.save(&[&jobs[i]]).await;
                        outcomes[i] = Some(Outcome::retry(format!(
                            "scrap {scrap} no longer exists in Odoo; will create it again"
                        )));
                    }
                }
            }
        }
        let mut delivered = Vec::with_capacity(jobs.len());
        for ((job, outcome), state) in jobs.iter_mut().zip(outcomes).zip(states) {
            delivered.push(match (outcome, state.as_deref()) {
                (Some(outcome), _) => outcome,
                (None, Some("done")) => Outcome::Delivered,
                (None, _) => self.validate_scrap(job, progress).await,
            });
        }
        delivered
    }

    /// Gives every job without a scrap id the scrap found by its origin, or one created for it
    /// (all created in one call), and saves the ids before anything else is done with them.
    async fn find_or_create_scraps(
        &self,
        jobs: &mut [Job],
        outcomes: &mut [Option<Outcome>],
        states: &mut [Option<String>],
        progress: &Progress,
    ) -> Result<(), Outcome> {
        let need: Vec<usize> = (0..jobs.len())
            .filter(|i| outcomes[*i].is_none() && !jobs[*i].entry.refs.contains_key(SCRAP))
            .collect();
        if need.is_empty() {
            return Ok(());
        }
        let mapping = self.mapping().await?;
        let origins: Vec<String> = need.iter().map(|i| self.reference(&jobs[*i])).collect();
        let found = self
            .client
            .search_read(
                "stock.scrap",
                json!([["origin", "in", origins]]),
                &["id", "state", "origin"],
            )
            .await
            .map_err(|e| e.outcome())?;
        let existing: HashMap<String, (i64, String)> = found
            .iter()
            .filter_map(|r| {
                let origin = r.get("origin")?.as_str()?.to_owned();
                Some((origin, (r.get("id")?.as_i64()?, r.get("state")?.as_str()?.to_owned())))
            })
            .collect();
        let (mut to_create, mut values) = (Vec::new(), Vec::new());
        for (&i, origin) in need.iter().zip(&origins) {
            if let Some((id, state)) = existing.get(origin) {
                jobs[i].entry.refs.insert(SCRAP.into(), *id);
                states[i] = Some(state.clone());
                continue;
            }
            let job = &jobs[i];
            let (Some(case), CaseEvent::ItemDisposed { line, qty, .. }) = (job.case.as_ref(), &job.event.event) else {
                outcomes[i] = Some(Outcome::retry("the case projection is missing"));
                continue;
            };
            let product = match self.product_of(case, *line).await {
                Ok(p) => p,
                Err(outcome) => {
                    outcomes[i] = Some(outcome);
                    continue;
                }
            };
            // From where the case's receipt put the units, like any disposition (`landed.rs`).
            let landed = match self.landed(case, product, progress).await {
                Ok(landed) => landed,
                Err(outcome) => {
                    outcomes[i] = Some(outcome);
                    continue;
                }
            };
            let from = disposition_source(landed.as_ref(), case, product, &mapping);
            let mut scrap = json!({
                "product_id": product.id, "product_uom_id": product.uom, "scrap_qty": qty,
                "location_id": from, "scrap_location_id": mapping.scrap, "origin": origin,
            });
            let brought = landed.as_ref().map(|l| l.lots_of(product.id)).unwrap_or_default();
            if !brought.is_empty() {
                // A scrap names one lot: serial-tracked units are scrapped one per disposition.
                let lots = match self.choose_lots(case, *line, product, *qty, from, brought).await {
                    Ok(lots) if lots.len() == 1 => lots,
                    Ok(_) => {
                        outcomes[i] = Some(Outcome::reject(format!(
                            "a stock.scrap names one serial; dispose of the {qty} serial-tracked units of line {line} one at a time"
                        )));
                        continue;
                    }
                    Err(outcome) => {
                        outcomes[i] = Some(outcome);
                        continue;
                    }
                };
                scrap["lot_id"] = json!(lots[0]);
            }
            values.push(scrap);
            to_create.push(i);
        }
        if !to_create.is_empty() {
            let ids = self
                .client
                .create("stock.scrap", values)
                .await
                .map_err(|e| e.outcome())?;
            for (&i, id) in to_create.iter().zip(ids) {
                jobs[i].entry.refs.insert(SCRAP.into(), id);
                states[i] = Some("draft".to_owned());
            }
        }
        let known: Vec<usize> = need
            .into_iter()
            .filter(|i| jobs[*i].entry.refs.contains_key(SCRAP))
            .collect();
        for &i in &known {
            jobs[i].entry.step = 1;
        }
        let touched: Vec<&Job> = known.iter().map(|i| &jobs[*i]).collect();
        progress
            .save(&touched)
            .await
            .map_err(|e| Outcome::retry(format!("cannot save progress: {e}")))
    }

    /// Validates the job's draft scrap, answering Odoo's insufficient-quantity wizard as
    /// configured.
    async fn validate_scrap(&self, job: &mut Job, progress: &Progress) -> Outcome {
        let scrap = job.entry.refs[SCRAP];
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
                let wizard = odoo!(
                    self.client
                        .create_wizard("stock.warn.insufficient.qty.scrap", context)
                        .await
                );
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

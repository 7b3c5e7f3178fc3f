//! Pickings we create ourselves — unexpected parcels (customers → quarantine) and disposition
//! transfers — found or created by `origin = RE/<site>/<event id>` and driven to `done`, many at
//! once: one `search_read` (excluding backorders, which inherit `origin`), one `create` with a
//! list, then one call per state change for the whole batch. A lost `create` answer is found by
//! the search on the retry, so no second picking is ever made.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::mapping::{many2one, Product};
use super::rpc::OdooError;
use super::sink::OdooSink;
use super::PICKING;
use crate::delivery::{Job, Outcome, Progress};

/// A transfer to create (or find) and complete for one job.
#[derive(Debug, Clone)]
pub(super) struct TransferPlan {
    pub(super) origin: String,
    pub(super) picking_type: i64,
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) lines: Vec<(Product, u32)>,
}

impl OdooSink {
    /// Finds or creates each job's picking, then drives all of them to `done` together.
    pub(super) async fn transfers(
        &self,
        jobs: &mut [Job],
        plans: Vec<Option<TransferPlan>>,
        progress: &Progress,
    ) -> Vec<Outcome> {
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
        let created = match self.find_or_create(jobs, &plans, &mut outcomes, progress).await {
            Ok(created) => created,
            Err(e) => return fill(outcomes, e),
        };
        for round in 0..6 {
            let active: Vec<usize> = (0..jobs.len()).filter(|i| outcomes[*i].is_none()).collect();
            if active.is_empty() {
                break;
            }
            let ids: Vec<i64> = active.iter().map(|i| jobs[*i].entry.refs[PICKING]).collect();
            // Pickings this call has just created are drafts: `create` answered, so reading
            // their state would only cost Odoo a call. Any other picking is read first.
            if round == 0 && active.iter().all(|i| created.contains(i)) {
                if let Err(e) = self.client.method("stock.picking", "action_confirm", &ids, None).await {
                    return fill(outcomes, e.outcome());
                }
                continue;
            }
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

    /// Finds each job's picking by origin or creates it; the indices of the jobs whose picking
    /// was created by this call.
    pub(super) async fn find_or_create(
        &self,
        jobs: &mut [Job],
        plans: &[Option<TransferPlan>],
        outcomes: &mut [Option<Outcome>],
        progress: &Progress,
    ) -> Result<Vec<usize>, Outcome> {
        let need: Vec<usize> = (0..jobs.len())
            .filter(|i| outcomes[*i].is_none() && !jobs[*i].entry.refs.contains_key(PICKING))
            .collect();
        if need.is_empty() {
            return Ok(Vec::new());
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
            .map_err(|e| Outcome::retry(format!("cannot save progress: {e}")))?;
        Ok(to_create)
    }

    /// Marks reserved moves picked and validates the pickings in one call each.
    pub(super) async fn pick_and_validate(
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
        // `True` is Odoo 17's answer when every picking given is done (anything short of that
        // answers with a wizard), so there is nothing left to read back.
        let validated = answer == Value::Bool(true);
        for (i, job) in jobs.iter().enumerate() {
            if outcomes[i].is_none() && ready.contains(&job.entry.refs[PICKING]) {
                outcomes[i] = Some(if validated {
                    Outcome::Delivered
                } else {
                    Outcome::reject(format!(
                        "validating picking {} opened a wizard: {}",
                        job.entry.refs[PICKING],
                        answer.get("res_model").and_then(Value::as_str).unwrap_or("unknown")
                    ))
                });
            }
        }
        Ok(())
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

pub(super) fn ids(value: Option<&Value>) -> Vec<i64> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

pub(super) fn fill(outcomes: Vec<Option<Outcome>>, rest: Outcome) -> Vec<Outcome> {
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| rest.clone()))
        .collect()
}

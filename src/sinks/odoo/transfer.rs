//! Pickings we create ourselves — unexpected parcels (customers → quarantine) and disposition
//! transfers — found or created by `origin = RE/<site>/<event id>` and driven to `done`, many at
//! once: one `search_read` (excluding backorders, which inherit `origin`), one `create` with a
//! list, then one call per state change for the whole batch. A lost `create` answer is found by
//! the search on the retry, so no second picking is ever made.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::landed::Landed;
use super::mapping::{many2one, Product};
use super::rpc::OdooError;
use super::sink::OdooSink;
use super::PICKING;
use crate::delivery::{Job, Outcome, Progress};
use crate::domain::CaseEvent;

/// A transfer to create (or find) and complete for one job.
#[derive(Debug, Clone)]
pub(super) struct TransferPlan {
    pub(super) origin: String,
    pub(super) picking_type: i64,
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) lines: Vec<TransferLine>,
}

/// One product of a transfer, with the lots (serials) it must move when it names them.
#[derive(Debug, Clone)]
pub(super) struct TransferLine {
    pub(super) product: Product,
    pub(super) qty: u32,
    /// Lots chosen by the disposition: each moved with one unit on its own move line, because
    /// left to itself Odoo reserves whichever serial it finds first (transcript 27).
    pub(super) lots: Vec<i64>,
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
        // Pickings `action_assign` was asked to reserve in this attempt: one still short after
        // it cannot be reserved from its source, and waiting will not change that.
        let mut assign_tried: HashSet<i64> = HashSet::new();
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
            let (mut draft, mut confirmed, mut assigned, mut stuck) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
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
                    Some(_) if assign_tried.contains(&id) => stuck.push(id),
                    Some(_) => confirmed.push(id),
                }
            }
            let step = if !draft.is_empty() {
                self.client
                    .method("stock.picking", "action_confirm", &draft, None)
                    .await
                    .map(drop)
            } else if !confirmed.is_empty() {
                assign_tried.extend(&confirmed);
                self.client
                    .method("stock.picking", "action_assign", &confirmed, None)
                    .await
                    .map(drop)
            } else if !assigned.is_empty() {
                match self.pick_and_validate(&assigned, &by_id, jobs, &mut outcomes).await {
                    Ok(short) => {
                        // Partly reserved: ask once more, then it is stuck like an unreserved one.
                        let (tried, untried): (Vec<i64>, Vec<i64>) =
                            short.into_iter().partition(|id| assign_tried.contains(id));
                        stuck.extend(tried);
                        assign_tried.extend(&untried);
                        if untried.is_empty() {
                            Ok(())
                        } else {
                            self.client
                                .method("stock.picking", "action_assign", &untried, None)
                                .await
                                .map(drop)
                        }
                    }
                    Err(e) => Err(e),
                }
            } else {
                Ok(())
            };
            if !stuck.is_empty() {
                self.explain_unreservable(&stuck, jobs, &mut outcomes).await;
            }
            if let Err(e) = step {
                return fill(outcomes, e.outcome());
            }
        }
        fill(
            outcomes,
            Outcome::retry("the picking did not reach `done`; will look again"),
        )
    }

    /// Dead-letters transfers whose source lacks the units, with what the source holds: a
    /// supervisor can act on that. Odoo would let us force the quantity and take the source
    /// negative (transcript 23); that is never done.
    async fn explain_unreservable(&self, stuck: &[i64], jobs: &[Job], outcomes: &mut [Option<Outcome>]) {
        let explanation = self.unreservable_sentences(stuck).await;
        for (i, job) in jobs.iter().enumerate() {
            let picking = job.entry.refs[PICKING];
            if outcomes[i].is_some() || !stuck.contains(&picking) {
                continue;
            }
            outcomes[i] = Some(match &explanation {
                Ok(sentences) => {
                    let what = sentences
                        .get(&picking)
                        .cloned()
                        .unwrap_or_else(|| format!("picking {picking} cannot be reserved from its source location"));
                    let rma = job.case.as_ref().and_then(|c| c.rma.as_ref());
                    let whence = match rma {
                        Some(rma) => format!("the receipt of RMA {rma} put the units there"),
                        None => "the receipt of this parcel put the units there".to_owned(),
                    };
                    Outcome::reject(format!(
                        "{what}; {whence}, and they were moved or used since. Odoo was not forced (that would make the stock negative): bring the units back (or correct the stock count) and replay this entry, or discard it"
                    ))
                }
                Err(e) => e.outcome(),
            });
        }
    }

    /// Per stuck picking: "`WH/Returns` holds 0 of [LAB-B] Widget; 1 needed", per move.
    async fn unreservable_sentences(&self, stuck: &[i64]) -> Result<HashMap<i64, String>, OdooError> {
        let moves = self
            .client
            .search_read(
                "stock.move",
                json!([["picking_id", "in", stuck]]),
                &["picking_id", "product_id", "location_id", "product_uom_qty", "quantity"],
            )
            .await?;
        let products: Vec<i64> = moves
            .iter()
            .filter_map(|m| m.get("product_id").and_then(many2one))
            .collect();
        let locations: Vec<i64> = moves
            .iter()
            .filter_map(|m| m.get("location_id").and_then(many2one))
            .collect();
        let quants = self
            .client
            .search_read(
                "stock.quant",
                json!([["product_id", "in", products], ["location_id", "in", locations]]),
                &["product_id", "location_id", "quantity", "reserved_quantity"],
            )
            .await?;
        let mut held: HashMap<(i64, i64), (f64, f64)> = HashMap::new();
        for q in &quants {
            let (Some(p), Some(l)) = (
                q.get("product_id").and_then(many2one),
                q.get("location_id").and_then(many2one),
            ) else {
                continue;
            };
            let entry = held.entry((p, l)).or_default();
            entry.0 += q.get("quantity").and_then(Value::as_f64).unwrap_or(0.0);
            entry.1 += q.get("reserved_quantity").and_then(Value::as_f64).unwrap_or(0.0);
        }
        let mut sentences: HashMap<i64, Vec<String>> = HashMap::new();
        for m in &moves {
            let demand = m.get("product_uom_qty").and_then(Value::as_f64).unwrap_or(0.0);
            let reserved = m.get("quantity").and_then(Value::as_f64).unwrap_or(0.0);
            if reserved + 1e-9 >= demand {
                continue;
            }
            let (Some(picking), Some(product), Some(location)) = (
                m.get("picking_id").and_then(many2one),
                m.get("product_id").and_then(many2one),
                m.get("location_id").and_then(many2one),
            ) else {
                continue;
            };
            let name = |field: &str| {
                m.get(field)
                    .and_then(|v| v.get(1))
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned()
            };
            let (on_hand, reserved_elsewhere) = held.get(&(product, location)).copied().unwrap_or_default();
            sentences.entry(picking).or_default().push(format!(
                "{} holds {on_hand} of {} ({} reserved by other transfers); this transfer needs {demand}",
                name("location_id"),
                name("product_id"),
                (reserved_elsewhere - reserved).max(0.0),
            ));
        }
        Ok(sentences.into_iter().map(|(k, v)| (k, v.join("; "))).collect())
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

    /// Marks reserved moves picked and validates the fully reserved pickings in one call;
    /// answers the pickings that are not fully reserved (the caller asks Odoo again or gives up).
    /// Receipts validated here record where their units landed, for their dispositions.
    pub(super) async fn pick_and_validate(
        &self,
        assigned: &[i64],
        pickings: &HashMap<i64, &Map<String, Value>>,
        jobs: &mut [Job],
        outcomes: &mut [Option<Outcome>],
    ) -> Result<Vec<i64>, OdooError> {
        let move_ids: Vec<i64> = assigned
            .iter()
            .flat_map(|id| ids(pickings.get(id).and_then(|r| r.get("move_ids"))))
            .collect();
        let moves = self
            .client
            .read(
                "stock.move",
                &move_ids,
                &["picking_id", "product_uom_qty", "quantity", "picked", "move_line_ids"],
            )
            .await?;
        let mut short: Vec<i64> = Vec::new();
        let mut to_pick = Vec::new();
        for m in &moves {
            let demand = m.get("product_uom_qty").and_then(Value::as_f64).unwrap_or(0.0);
            let reserved = m.get("quantity").and_then(Value::as_f64).unwrap_or(0.0);
            let picking = m.get("picking_id").and_then(many2one).unwrap_or_default();
            if reserved + 1e-9 < demand {
                if !short.contains(&picking) {
                    short.push(picking);
                }
            } else if m.get("picked") != Some(&Value::Bool(true)) {
                to_pick.extend(m.get("id").and_then(Value::as_i64));
            }
        }
        // A disposition moves what the receipt brought in; one not fully reserved is never
        // validated with what is there (Odoo would make a backorder, or go negative if forced).
        let ready: Vec<i64> = assigned.iter().copied().filter(|id| !short.contains(id)).collect();
        if ready.is_empty() {
            return Ok(short);
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
        if validated {
            self.record_landed(&ready, &moves, jobs, outcomes).await;
        }
        Ok(short)
    }

    /// Reads the done lines of the receipts just validated and records where their units
    /// landed (putaway rules may send them below the picking's destination). A failed read only
    /// costs the dispositions a lookup later (`OdooSink::landed`), so it is not an error.
    async fn record_landed(
        &self,
        ready: &[i64],
        moves: &[Map<String, Value>],
        jobs: &mut [Job],
        outcomes: &[Option<Outcome>],
    ) {
        let receipts: Vec<usize> = (0..jobs.len())
            .filter(|i| {
                outcomes[*i] == Some(Outcome::Delivered)
                    && ready.contains(&jobs[*i].entry.refs[PICKING])
                    && matches!(jobs[*i].event.event, CaseEvent::ParcelReceived { .. })
            })
            .collect();
        if receipts.is_empty() {
            return;
        }
        let mut lines_of: HashMap<i64, Vec<i64>> = HashMap::new();
        for m in moves {
            if let Some(picking) = m.get("picking_id").and_then(many2one) {
                lines_of.entry(picking).or_default().extend(ids(m.get("move_line_ids")));
            }
        }
        let wanted: Vec<i64> = receipts
            .iter()
            .flat_map(|i| lines_of.get(&jobs[*i].entry.refs[PICKING]).cloned().unwrap_or_default())
            .collect();
        let Ok(lines) = self
            .client
            .read(
                "stock.move.line",
                &wanted,
                &["product_id", "location_dest_id", "lot_id", "quantity"],
            )
            .await
        else {
            return;
        };
        let by_id: HashMap<i64, &Map<String, Value>> =
            lines.iter().filter_map(|l| Some((l.get("id")?.as_i64()?, l))).collect();
        for i in receipts {
            let picking = jobs[i].entry.refs[PICKING];
            let rows: Vec<Map<String, Value>> = lines_of
                .get(&picking)
                .into_iter()
                .flatten()
                .filter_map(|id| by_id.get(id).map(|row| (*row).clone()))
                .collect();
            Landed::from_move_lines(&rows).record(&mut jobs[i].entry.refs);
        }
    }
}

fn picking_values(plan: &TransferPlan) -> Value {
    let moves: Vec<Value> = plan
        .lines
        .iter()
        .map(|line| {
            let product = line.product;
            let mut values = json!({
                "name": plan.origin, "product_id": product.id, "product_uom": product.uom,
                "product_uom_qty": line.qty, "location_id": plan.from, "location_dest_id": plan.to,
            });
            if !line.lots.is_empty() {
                // Nested in the move, the lines reserve exactly these lots at create (transcript
                // 27, variant 2). They get no `picking_id`: read them through the move.
                let lines: Vec<Value> = line
                    .lots
                    .iter()
                    .map(|lot| {
                        json!([0, 0, {
                            "product_id": product.id, "product_uom_id": product.uom, "lot_id": lot,
                            "quantity": 1, "location_id": plan.from, "location_dest_id": plan.to,
                        }])
                    })
                    .collect();
                values["move_line_ids"] = json!(lines);
            }
            json!([0, 0, values])
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

//! Scrap dispositions: a `stock.scrap` with `origin = RE/<site>/<event id>`, found before it is
//! created, then `action_validate`; Odoo's insufficient-quantity wizard is forced or refused per
//! `scrap_insufficient`. The scrap's state is read before validating again, because Odoo's
//! `action_validate` does not check it and would scrap twice.

use serde_json::{json, Value};

use super::config::ScrapInsufficient;
use super::sink::OdooSink;
use super::SCRAP;
use crate::delivery::{Job, Outcome, Progress};
use crate::domain::CaseEvent;

impl OdooSink {
    pub(super) async fn scrap(&self, job: &mut Job, progress: &Progress) -> Outcome {
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

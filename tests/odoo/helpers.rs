//! The Odoo rig: a fake Odoo 17, a real store and ingest path, and a real dispatcher driving the
//! real Odoo sink, with a fast retry schedule so outages and faults play out in seconds.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use returns_edge::config::SinkConfig;
use returns_edge::delivery::retry::Schedule;
use returns_edge::delivery::{self, DispatcherOptions, SinkHandle};
use returns_edge::domain::*;
use returns_edge::ingest::{Ingest, Write};
use returns_edge::sinks::odoo::{OdooConfig, OdooSink};
use returns_edge::sinks::{SinkKind, SinkName};
use returns_edge::store::{DeliveryState, Store, StoreOptions};
use returns_edge::tokens::Caller;
use returns_edge_fakes::odoo::{FakeOdoo, FakeOdooOptions};
use serde_json::{json, Value};

pub const FAST: Schedule = Schedule {
    initial: Duration::from_millis(20),
    max: Duration::from_millis(200),
    multiplier: 2.0,
    jitter: 0.5,
};

#[allow(dead_code)] // `dir` and `task` live as long as the rig; `config` for tests that need it.
pub struct Rig {
    pub odoo: FakeOdoo,
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub ingest: Ingest,
    pub handle: SinkHandle,
    pub task: tokio::task::JoinHandle<()>,
    pub caller: Caller,
    pub config: OdooConfig,
    n: u32,
}

pub fn odoo_config(odoo: &FakeOdoo, secret_file: PathBuf, extra: &str) -> OdooConfig {
    let text = format!(
        "url = \"{}\"\ndatabase = \"{}\"\nlogin = \"{}\"\nsecret_file = \"{}\"\ntimeout_secs = 2\n{extra}",
        odoo.url(),
        odoo.db(),
        odoo.login(),
        secret_file.display()
    );
    toml::from_str(&text).expect("test odoo config")
}

pub async fn rig(extra_config: &str) -> Rig {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    rig_with(odoo, extra_config).await
}

pub async fn rig_with(odoo: FakeOdoo, extra_config: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("odoo-secret");
    std::fs::write(&secret, format!("{}\n", odoo.password())).unwrap();
    let config = odoo_config(&odoo, secret, extra_config);
    let site = SiteId::parse("site-a").unwrap();
    let store = Store::open(
        &dir.path().join("data"),
        &StoreOptions {
            cache_capacity_bytes: 8 << 20,
            site: Some(site.clone()),
        },
    )
    .unwrap();
    let sinks = vec![SinkConfig {
        name: SinkName::parse("odoo").unwrap(),
        kind: SinkKind::Odoo,
        odoo: Some(config.clone()),
        refund: None,
    }];
    let ingest = Ingest::new(store.clone(), site.clone(), Policy::default(), sinks);
    let sink = OdooSink::new(config.clone(), site).unwrap();
    let options = DispatcherOptions {
        concurrency: 4,
        retry: FAST,
        probe: FAST,
    };
    let (handle, task) = delivery::spawn("odoo".into(), sink, store.clone(), options);
    let caller = Caller {
        token: TokenId::parse("t").unwrap(),
        station: StationId::parse("dock-1").unwrap(),
        role: Role::Admin,
    };
    Rig {
        odoo,
        dir,
        store,
        ingest,
        handle,
        task,
        caller,
        config,
        n: 0,
    }
}

impl Rig {
    pub async fn write(&mut self, case: Option<CaseId>, command: Command) -> (CaseId, u64) {
        self.n += 1;
        let write = Write {
            caller: self.caller.clone(),
            idempotency_key: format!("k{}", self.n),
            fingerprint: format!("f{}", self.n),
            case,
            command,
        };
        let accepted = self.ingest.execute(write).await.expect("write accepted");
        let body: Value = serde_json::from_str(&accepted.body).unwrap();
        (
            CaseId::parse(body["case_id"].as_str().unwrap()).unwrap(),
            body["seq"].as_u64().unwrap(),
        )
    }

    /// Receives a parcel; `lines` are (SKU, qty).
    pub async fn receive(&mut self, rma: Option<&str>, lines: &[(&str, u32)]) -> (CaseId, u64) {
        let command = Command::Receive(ReceiveParcel {
            label: Barcode::parse(&format!("LABEL-{}", self.n + 1)).unwrap(),
            weight: None,
            scale: None,
            rma: rma.map(|r| RmaRef::parse(r).unwrap()),
            lines: lines
                .iter()
                .map(|(sku, qty)| NewLine {
                    sku: Some(Sku::parse(sku).unwrap()),
                    barcode: None,
                    qty: Qty::new(*qty).unwrap(),
                    serial: None,
                })
                .collect(),
            expected: None,
            expectations_known: false,
            received_at_ms: 0,
        });
        self.write(None, command).await
    }

    pub async fn inspect(&mut self, case: CaseId, line: u16) -> u64 {
        let command = Command::Inspect(Inspect {
            line: LineNo::new(line).unwrap(),
            qty: None,
            grade: Grade::parse("A").unwrap(),
            conditions: vec![],
            serial: None,
            notes: None,
            corrects: None,
        });
        self.write(Some(case), command).await.1
    }

    pub async fn dispose(&mut self, case: CaseId, line: u16, disposition: &str) -> u64 {
        let command = Command::Dispose(Dispose {
            line: LineNo::new(line).unwrap(),
            qty: None,
            disposition: Some(Disposition::parse(disposition).unwrap()),
        });
        self.write(Some(case), command).await.1
    }

    /// Receives, inspects and disposes line 1 of a parcel without RMA.
    pub async fn walk(&mut self, sku: &str, qty: u32, disposition: &str) -> (u64, u64) {
        let (case, received) = self.receive(None, &[(sku, qty)]).await;
        self.inspect(case, 1).await;
        (received, self.dispose(case, 1, disposition).await)
    }

    /// The dead letter's reason for an entry, if it is dead-lettered.
    pub fn dead_letter_reason(&self, seq: u64) -> Option<String> {
        self.store
            .delivery_status("odoo", seq)
            .unwrap()
            .filter(|s| s.state == DeliveryState::DeadLettered)
            .and_then(|s| s.reason)
    }

    pub fn state(&self, seq: u64) -> Option<DeliveryState> {
        self.store.delivery_status("odoo", seq).unwrap().map(|s| s.state)
    }

    /// Waits until every listed entry has left the pending state.
    pub async fn settled(&self, seqs: &[u64]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pending: Vec<u64> = seqs
                .iter()
                .copied()
                .filter(|s| self.state(*s) == Some(DeliveryState::Pending))
                .collect();
            if pending.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "entries still pending: {pending:?}; status {:?}; last errors {:?}",
                self.handle.status(),
                pending
                    .iter()
                    .map(|s| self.store.delivery_status("odoo", *s).unwrap())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn delivered(&self, seqs: &[u64]) {
        self.settled(seqs).await;
        for seq in seqs {
            let status = self.store.delivery_status("odoo", *seq).unwrap().unwrap();
            assert_eq!(status.state, DeliveryState::Delivered, "entry {seq}: {status:?}");
        }
    }

    pub fn reference(&self, seq: u64) -> String {
        let event = self.store.event(seq).unwrap().unwrap();
        format!("RE/site-a/{}", event.id)
    }

    /// Pickings we created for an event (by our origin), excluding backorders.
    pub fn pickings_for(&self, seq: u64) -> Vec<returns_edge_fakes::odoo::Picking> {
        let origin = self.reference(seq);
        self.odoo
            .pickings()
            .into_iter()
            .filter(|p| p.origin.as_deref() == Some(&origin))
            .collect()
    }

    /// Scraps we created for an event (by our origin).
    pub fn scraps_for(&self, seq: u64) -> Vec<returns_edge_fakes::odoo::Scrap> {
        let origin = self.reference(seq);
        self.odoo
            .scraps()
            .into_iter()
            .filter(|s| s.origin.as_deref() == Some(&origin))
            .collect()
    }

    pub fn committed_calls(&self, model: &str, method: &str) -> usize {
        self.odoo
            .committed()
            .iter()
            .filter(|m| m.model == model && m.method == method)
            .count()
    }
}

/// Runs the return wizard on a done delivery like a user would (transcript 04) and tags the
/// return picking with `rma` in `origin`. Returns the return picking's id.
pub async fn make_return(odoo: &FakeOdoo, delivery_picking: i64, rma: &str, quantities: Option<&[f64]>) -> i64 {
    let returns = odoo.ids().returns_location.unwrap();
    make_return_to(odoo, delivery_picking, rma, quantities, Some(returns)).await
}

/// As [`make_return`], with the wizard's location written (`Some`) or left at Odoo's default
/// (`None`: the delivery's source location, WH/Stock, as a user clicking *Return* gets it,
/// transcript 22).
pub async fn make_return_to(
    odoo: &FakeOdoo,
    delivery_picking: i64,
    rma: &str,
    quantities: Option<&[f64]>,
    location: Option<i64>,
) -> i64 {
    let context =
        json!({"active_id": delivery_picking, "active_ids": [delivery_picking], "active_model": "stock.picking"});
    let wizard = rpc(
        odoo,
        "stock.return.picking",
        "create",
        json!([{}]),
        json!({"context": context}),
    )
    .await;
    let wizard = wizard.as_i64().unwrap();
    if let Some(location) = location {
        rpc(
            odoo,
            "stock.return.picking",
            "write",
            json!([[wizard], {"location_id": location}]),
            json!({}),
        )
        .await;
    }
    if let Some(quantities) = quantities {
        let read = rpc(
            odoo,
            "stock.return.picking",
            "read",
            json!([[wizard], ["product_return_moves"]]),
            json!({}),
        )
        .await;
        let lines: Vec<i64> = read[0]["product_return_moves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        for (line, qty) in lines.iter().zip(quantities) {
            rpc(
                odoo,
                "stock.return.picking.line",
                "write",
                json!([[line], {"quantity": qty}]),
                json!({}),
            )
            .await;
        }
    }
    let action = rpc(
        odoo,
        "stock.return.picking",
        "create_returns",
        json!([[wizard]]),
        json!({"context": context}),
    )
    .await;
    let picking = action["res_id"].as_i64().unwrap();
    rpc(
        odoo,
        "stock.picking",
        "write",
        json!([[picking], {"origin": rma}]),
        json!({}),
    )
    .await;
    picking
}

pub async fn rpc(odoo: &FakeOdoo, model: &str, method: &str, args: Value, kwargs: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": "object", "method": "execute_kw",
        "args": [odoo.db(), odoo.uid(), odoo.password(), model, method, args, kwargs]}});
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/jsonrpc", odoo.url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        answer.get("error").is_none(),
        "setup call {model}.{method} failed: {answer}"
    );
    answer["result"].clone()
}

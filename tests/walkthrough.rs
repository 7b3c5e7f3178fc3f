//! Issue 5's "done when", as the README's walk-through shows it, over real HTTP against the real
//! server: a fake Odoo with an open return (a 1.25 kg product, sold at 89.90 USD), the RMA cache
//! synced from it, and the fake refund receiver verifying signatures and keys. A parcel that
//! weighs far less than expected is received, flagged `weight_mismatch`, held for a supervisor;
//! after the supervisor's decision exactly one signed refund reaches the receiver, and Odoo's
//! return is received.

use std::time::{Duration, Instant};

use returns_edge::app::App;
use returns_edge::config::{Config, FlagOverrides};
use returns_edge::domain::{Role, StationId};
use returns_edge::{ingest, tokens};
use returns_edge_fakes::odoo::{FakeOdoo, FakeOdooOptions, NewProduct, ReturnSpec};
use returns_edge_fakes::refund::{FakeRefund, FakeRefundOptions};
use serde_json::{json, Value};

struct Server {
    base: String,
    receiver: String,
    inspector: String,
    supervisor: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(odoo: &FakeOdoo, refund: &FakeRefund, dir: &std::path::Path) -> Server {
    let secret = dir.join("odoo-secret");
    std::fs::write(&secret, format!("{}\n", odoo.password())).unwrap();
    let key = dir.join("refund-key");
    std::fs::write(&key, "returns-edge-refund-test-key\n").unwrap();
    let text = format!(
        r#"site = "site-a"
[server]
listen = "127.0.0.1:0"
[store]
data_dir = "{data}"
[[sinks]]
name = "odoo"
kind = "odoo"
[sinks.odoo]
url = "{url}"
database = "{db}"
login = "{login}"
secret_file = "{secret}"
timeout_secs = 2
rma_cache = true
[[sinks]]
name = "refunds"
kind = "refund"
[sinks.refund]
url = "{refund}"
secret_file = "{key}"
"#,
        data = dir.join("data").display(),
        url = odoo.url(),
        db = odoo.db(),
        login = odoo.login(),
        secret = secret.display(),
        refund = refund.url(),
        key = key.display(),
    );
    let file = dir.join("returns-edge.toml");
    std::fs::write(&file, text).unwrap();
    let config = Config::load(Some(&file), [], &FlagOverrides::default()).unwrap();
    let app = App::build(&config).await.unwrap();
    let store = app.store().clone();
    let station = StationId::parse("dock-1").unwrap();
    let token = |role| {
        tokens::create(&store, station.clone(), role, ingest::now_ms())
            .unwrap()
            .token
    };
    let (receiver, inspector, supervisor) = (token(Role::Receiver), token(Role::Inspector), token(Role::Supervisor));
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    Server {
        base,
        receiver,
        inspector,
        supervisor,
        _stop: stop,
    }
}

impl Server {
    async fn post(&self, token: &str, path: &str, key: &str, body: Value) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let res = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_underweight_return_is_flagged_held_for_a_supervisor_then_refunded_exactly_once() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let refund = FakeRefund::start(FakeRefundOptions::default()).await;
    let mut kettle = NewProduct::new("Travel Kettle", "KETTLE-1", "4006381333931");
    kettle.weight = 1.25;
    let product = odoo.add_product(kettle);
    odoo.modify(|db| db.products.get_mut(product).unwrap().list_price = 89.90);
    odoo.set_quant(product, odoo.ids().stock_location, None, 10.0);
    let spec = ReturnSpec {
        rma: Some("RMA-1001".into()),
        client_order_ref: Some("PO-881".into()),
        return_tracking: None,
        delivery_tracking: None,
    };
    let open = odoo
        .add_return(odoo.ids().deco_addict, &[(product, 1.0)], &spec)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&odoo, &refund, dir.path()).await;

    // The cache has the return (synced at start); it answers without calling Odoo.
    until("the RMA cache", async || {
        server.get(&server.receiver, "/v1/rma/lookup?code=RMA-1001").await.0 == 200
    })
    .await;
    let (_, found) = server.get(&server.receiver, "/v1/rma/lookup?code=RMA-1001").await;
    assert_eq!(found["lines"][0]["unit_weight_g"], 1250, "{found}");

    // 1. Received at 300 g where 1250 g + 150 g packaging ± 140 g is expected.
    let (status, received) = server
        .post(
            &server.receiver,
            "/v1/parcels",
            "walk-1",
            json!({"station": "dock-1", "label": "RMA-1001", "weight_g": 300}),
        )
        .await;
    assert_eq!(status, 201, "{received}");
    assert_eq!(received["flags"], json!(["weight_mismatch"]));
    assert_eq!(received["rma"], "RMA-1001");
    let case = received["case_id"].as_str().unwrap().to_owned();
    let (_, view) = server.get(&server.receiver, &format!("/v1/cases/{case}")).await;
    let rules = &view["events"][0]["data"]["rules"];
    assert!(
        rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["decided"] == "weight_mismatch: 300 g weighed, 1400 g ± 140 g expected"),
        "{rules}"
    );

    // 2. Graded A: the refund is due but held by the open flag; disposing needs a supervisor.
    let (status, inspected) = server
        .post(
            &server.inspector,
            &format!("/v1/cases/{case}/inspections"),
            "walk-2",
            json!({"station": "dock-1", "line": 1, "grade": "A"}),
        )
        .await;
    assert_eq!(status, 201, "{inspected}");
    assert!(inspected.get("refund").is_none(), "held: {inspected}");
    let (status, _) = server
        .post(
            &server.inspector,
            &format!("/v1/cases/{case}/dispositions"),
            "walk-3",
            json!({"station": "dock-1", "line": 1}),
        )
        .await;
    assert_eq!(status, 403);

    // 3. The supervisor decides: the flag is cleared with a note, the refund is decided.
    let (status, cleared) = server
        .post(
            &server.supervisor,
            &format!("/v1/cases/{case}/flag-clearances"),
            "walk-4",
            json!({"station": "dock-1", "flag": "weight_mismatch", "note": "charger kept by customer, photo 3"}),
        )
        .await;
    assert_eq!(status, 201, "{cleared}");
    let decision = cleared["refund"]["decision_id"].as_str().unwrap().to_owned();
    assert_eq!(
        cleared["refund"]["lines"][0]["rule"]["decided"],
        "refund 100% by rule grade_A"
    );

    // 4. Exactly one signed refund with the decision as its key; Odoo's return is received.
    until("the refund", async || !refund.refunds().is_empty()).await;
    until("Odoo's receipt", async || {
        odoo.pickings()
            .iter()
            .any(|p| p.id == open.picking_id && p.state == "done")
    })
    .await;
    // A retried clearance (same key) replays the answer and decides nothing new.
    let (status, again) = server
        .post(
            &server.supervisor,
            &format!("/v1/cases/{case}/flag-clearances"),
            "walk-4",
            json!({"station": "dock-1", "flag": "weight_mismatch", "note": "charger kept by customer, photo 3"}),
        )
        .await;
    assert_eq!((status, &again), (201, &cleared));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refunds = refund.refunds();
    assert_eq!(refunds.len(), 1, "exactly one refund");
    assert_eq!(refunds[0].idempotency_key, decision);
    assert_eq!(refunds[0].body["rma"], "RMA-1001");
    assert_eq!(refunds[0].body["order"], json!(open.delivery.sale_order_name));
    assert_eq!(refunds[0].body["cleared_flags"], json!(["weight_mismatch"]));
    assert_eq!(refunds[0].body["total_minor"], 8990, "{}", refunds[0].body);
    assert_eq!(refunds[0].body["currency"], "USD", "{}", refunds[0].body);
    assert!(refund.violations().is_empty());
    assert!(
        refund.requests().iter().all(|r| r.status == 201),
        "{:?}",
        refund.requests()
    );
}

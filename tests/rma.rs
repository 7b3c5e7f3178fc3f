//! The RMA cache against the fake Odoo over loopback HTTP with a real store on disk: syncs
//! (first, incremental, removal, the watermark's own second, full refresh), returns received in
//! several parcels (Odoo's backorders, which carry no `return_id`), lookups by every kind of
//! code, Odoo down (answers from the cache, with a growing age), and the HTTP routes, readiness
//! and metrics of the real server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use returns_edge::app::App;
use returns_edge::config::{Config, FlagOverrides, SinkConfig};
use returns_edge::domain::{MatchedBy, Role, StationId};
use returns_edge::rma::{RmaCache, RmaError};
use returns_edge::sinks::odoo::{OdooConfig, RmaSource, SyncMode};
use returns_edge::sinks::{SinkKind, SinkName};
use returns_edge::store::{Store, StoreOptions};
use returns_edge_fakes::odoo::{FakeOdoo, FakeOdooOptions, NewProduct, OpenReturn, ReturnSpec};
use serde_json::{json, Value};

const UPS: &str = "1Z999AA10123456784";
/// A USPS IMpb as Odoo stores it; labels print it behind `420` + the ZIP.
const USPS: &str = "9101026837331000039521";
const USPS_SCANNED: &str = "420221539101026837331000039521";
/// An SSCC stored as the delivery's tracking value; scanned from GS1-128 as `(00)` + SSCC.
const SSCC: &str = "106141411234567897";

/// Milliseconds of a clock the test moves.
#[derive(Clone)]
struct TestClock(Arc<AtomicU64>);

impl TestClock {
    fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

struct Rig {
    odoo: FakeOdoo,
    store: Store,
    cache: RmaCache,
    clock: TestClock,
    widget: i64,
    partner: i64,
    _dir: tempfile::TempDir,
}

fn odoo_options() -> FakeOdooOptions {
    FakeOdooOptions {
        delivery_module: true,
        ..FakeOdooOptions::default()
    }
}

fn sink_config(odoo: &FakeOdoo, dir: &std::path::Path, extra: &str) -> OdooConfig {
    let secret = dir.join("odoo-secret");
    std::fs::write(&secret, format!("{}\n", odoo.password())).unwrap();
    let text = format!(
        "url = \"{}\"\ndatabase = \"{}\"\nlogin = \"{}\"\nsecret_file = \"{}\"\ntimeout_secs = 2\n\
         tracking_field = \"carrier_tracking_ref\"\n{extra}",
        odoo.url(),
        odoo.db(),
        odoo.login(),
        secret.display()
    );
    toml::from_str(&text).expect("test odoo config")
}

/// A product with a weight and stock for many sales, and a customer with personal data the
/// cache must not keep.
fn seed(odoo: &FakeOdoo) -> (i64, i64) {
    let mut product = NewProduct::new("Return Widget", "RW-1", "4006381333993");
    product.weight = 1.25;
    let widget = odoo.add_product(product);
    odoo.set_quant(widget, odoo.ids().stock_location, None, 1000.0);
    let partner = odoo.ids().deco_addict;
    odoo.modify(|db| {
        let p = db.partners.get_mut(partner).unwrap();
        p.email = Some("deco.addict@example.com".into());
        p.phone = Some("(603)-996-3829".into());
        p.street = Some("77 Santa Barbara Rd".into());
        p.city = Some("Pleasant Hill".into());
    });
    (widget, partner)
}

async fn rig() -> Rig {
    let odoo = FakeOdoo::start(odoo_options()).await;
    let (widget, partner) = seed(&odoo);
    let dir = tempfile::tempdir().unwrap();
    let config = sink_config(&odoo, dir.path(), "rma_cache = true\n");
    let store = Store::open(
        &dir.path().join("data"),
        &StoreOptions {
            cache_capacity_bytes: 8 << 20,
            site: None,
        },
    )
    .unwrap();
    let clock = TestClock(Arc::new(AtomicU64::new(1_800_000_000_000)));
    let ticks = clock.0.clone();
    let cache = RmaCache::new(
        store.clone(),
        Default::default(),
        Some(RmaSource::new(&config).unwrap()),
    )
    .with_clock(Arc::new(move || ticks.load(Ordering::SeqCst)));
    Rig {
        odoo,
        store,
        cache,
        clock,
        widget,
        partner,
        _dir: dir,
    }
}

impl Rig {
    fn add_return(&self, rma: &str, spec: ReturnSpec) -> OpenReturn {
        let spec = ReturnSpec {
            rma: Some(rma.to_owned()),
            ..spec
        };
        self.odoo
            .add_return(self.partner, &[(self.widget, 2.0)], &spec)
            .expect("a sale, its delivery and its return")
    }

    async fn incremental(&self) -> returns_edge::rma::SyncReport {
        let mode = self.cache.due_mode().unwrap();
        assert!(matches!(mode, SyncMode::Incremental { .. }), "{mode:?}");
        self.cache.sync(mode).await.expect("an incremental sync")
    }

    fn cached(&self, picking: i64) -> bool {
        self.store.rma_entry(picking).unwrap().is_some()
    }

    fn rma_of(&self, code: &str) -> Option<(String, MatchedBy)> {
        self.cache
            .lookup(code)
            .unwrap()
            .map(|m| (m.expected.rma.as_str().to_owned(), m.matched_by))
    }
}

async fn rpc(odoo: &FakeOdoo, model: &str, method: &str, args: Value) -> Value {
    rpc_kw(odoo, model, method, args, json!({})).await
}

async fn rpc_kw(odoo: &FakeOdoo, model: &str, method: &str, args: Value, kwargs: Value) -> Value {
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
    assert!(answer.get("error").is_none(), "{model}.{method}: {answer}");
    answer["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_fills_the_cache_with_what_a_station_needs_and_no_personal_data() {
    let rig = rig().await;
    let scanner = rig.odoo.ids().scanner;
    let made = rig
        .odoo
        .add_return(
            rig.partner,
            &[(rig.widget, 2.0), (scanner, 1.0)],
            &ReturnSpec {
                rma: Some("RMA-1001".into()),
                client_order_ref: Some("PO-77".into()),
                return_tracking: Some(UPS.into()),
                delivery_tracking: None,
            },
        )
        .unwrap();
    assert!(
        rig.cache.lookup("RMA-1001").unwrap().is_none(),
        "nothing before the first sync"
    );

    let report = rig.cache.sync(rig.cache.due_mode().unwrap()).await.unwrap();
    assert!(report.full, "the first sync is a full one");
    assert_eq!((report.applied.inserted, report.entries), (1, 1));

    let cached = rig
        .store
        .rma_entry(made.picking_id)
        .unwrap()
        .expect("the return is cached");
    let expected = &cached.expected;
    assert_eq!(expected.rma.as_str(), "RMA-1001");
    assert_eq!(expected.picking, made.picking_name);
    assert_eq!(expected.order.as_deref(), Some(made.delivery.sale_order_name.as_str()));
    assert_eq!(expected.customer_ref.as_deref(), Some("PO-77"));
    assert_eq!(expected.customer.as_deref(), Some("Deco Addict"));
    assert_eq!(expected.delivery.as_deref(), Some(made.delivery.picking_name.as_str()));
    assert!(expected.delivered_at_ms.is_some_and(|ms| ms > 1_700_000_000_000));
    assert_eq!(expected.tracking, [UPS]);
    assert_eq!(expected.currency.as_deref(), Some("USD"));
    let widget = expected.lines.iter().find(|l| l.product_id == rig.widget).unwrap();
    assert_eq!(widget.sku.as_ref().map(|s| s.as_str()), Some("RW-1"));
    assert_eq!(widget.barcode.as_ref().map(|b| b.as_str()), Some("4006381333993"));
    assert_eq!(
        (widget.qty, widget.unit_weight_g, widget.unit_price_minor),
        (2, Some(1250), Some(10_000))
    );
    assert!(!widget.serial_tracked && widget.serials.is_empty());
    let sold = expected.lines.iter().find(|l| l.product_id == scanner).unwrap();
    assert!(sold.serial_tracked);
    assert_eq!(sold.serials.len(), 1, "the serial the delivery shipped: {sold:?}");
    assert!(sold.serials[0].as_str().starts_with("SN-"), "{sold:?}");

    // Personal data: the customer's display name and their order reference, nothing else.
    let stored = format!("{cached:?}");
    for private in ["deco.addict@example.com", "996-3829", "Santa Barbara", "Pleasant Hill"] {
        assert!(
            !stored.contains(private),
            "`{private}` is in the stored record: {stored}"
        );
    }
    let report = rig.store.check(&[]).unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(report.records.contains(&("rma_returns", 1)), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_return_appears_and_validated_or_cancelled_ones_leave_at_the_next_sync() {
    let rig = rig().await;
    let first = rig.add_return("RMA-1", ReturnSpec::default());
    let second = rig.add_return("RMA-2", ReturnSpec::default());
    rig.cache.sync(SyncMode::Full).await.unwrap();
    assert!(rig.cached(first.picking_id) && rig.cached(second.picking_id));

    let third = rig.add_return("RMA-3", ReturnSpec::default());
    let report = rig.incremental().await;
    assert_eq!(report.applied.inserted, 1, "{report:?}");
    assert!(rig.cached(third.picking_id));
    assert_eq!(rig.rma_of("rma-3"), Some(("RMA-3".into(), MatchedBy::Rma)));

    // Received in full in Odoo (validated), and cancelled: both leave the cache.
    let answer = rpc(
        &rig.odoo,
        "stock.picking",
        "button_validate",
        json!([[first.picking_id]]),
    )
    .await;
    assert_eq!(answer, json!(true), "a full return validates without a wizard");
    assert_eq!(rig.odoo.picking_by_name(&first.picking_name).unwrap().state, "done");
    rpc(
        &rig.odoo,
        "stock.picking",
        "action_cancel",
        json!([[second.picking_id]]),
    )
    .await;
    let report = rig.incremental().await;
    assert_eq!(report.applied.removed, 2, "{report:?}");
    assert!(!rig.cached(first.picking_id) && !rig.cached(second.picking_id));
    assert!(rig.cached(third.picking_id));
    assert_eq!(rig.rma_of("RMA-1"), None);
    assert_eq!(rig.rma_of(&second.picking_name), None);
    assert!(rig.store.check(&[]).unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_written_in_the_watermarks_own_second_is_not_missed_nor_read_twice() {
    let rig = rig().await;
    let first = rig.add_return("RMA-10", ReturnSpec::default());
    rig.cache.sync(SyncMode::Full).await.unwrap();
    let watermark = rig.store.rma_meta().unwrap().watermark.expect("a watermark");

    // A return committed later within the same second as the watermark: Odoo shows the same
    // write_date (one-second resolution), which a `>` sync would skip for ever.
    let late = rig.add_return("RMA-11", ReturnSpec::default());
    let second = odoo_seconds(&watermark);
    rig.odoo
        .modify(|db| db.pickings.get_mut(late.picking_id).unwrap().write_date = second);
    assert_eq!(
        rig.odoo.picking_by_name(&first.picking_name).unwrap().write_date,
        second
    );
    let moves_read = rig.odoo.calls("stock.move", "search_read");
    let report = rig.incremental().await;
    assert!(rig.cached(late.picking_id), "{report:?}");
    assert_eq!(report.applied.inserted, 1);
    assert_eq!(rig.odoo.calls("stock.move", "search_read"), moves_read + 1);

    // Nothing changed since: the pickings of the watermark's second are seen again (>=) but
    // recognised by (id, write_date) and not read in full again.
    let moves_read = rig.odoo.calls("stock.move", "search_read");
    let report = rig.incremental().await;
    assert_eq!(report.applied, Default::default(), "{report:?}");
    assert!(report.unchanged >= 1, "{report:?}");
    assert_eq!(
        rig.odoo.calls("stock.move", "search_read"),
        moves_read,
        "unchanged returns are not re-read"
    );
}

/// Odoo's `YYYY-MM-DD HH:MM:SS` (UTC) as Unix seconds.
fn odoo_seconds(text: &str) -> i64 {
    let ms = returns_edge::sinks::odoo::sync::parse_datetime_ms(text).expect("an Odoo datetime");
    (ms / 1000) as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_refresh_removes_what_incremental_syncs_cannot_see() {
    let rig = rig().await;
    let kept = rig.add_return("RMA-20", ReturnSpec::default());
    let deleted = rig.add_return("RMA-21", ReturnSpec::default());
    rig.cache.sync(SyncMode::Full).await.unwrap();
    // Deleted in Odoo: no write_date moves, so no incremental sync can notice.
    rpc(&rig.odoo, "stock.picking", "unlink", json!([[deleted.picking_id]])).await;
    rig.incremental().await;
    assert!(
        rig.cached(deleted.picking_id),
        "incremental syncs cannot see a deletion"
    );

    let report = rig.cache.sync(SyncMode::Full).await.unwrap();
    assert_eq!((report.applied.removed, report.entries), (1, 1), "{report:?}");
    assert!(!rig.cached(deleted.picking_id) && rig.cached(kept.picking_id));
    assert!(rig.cache.lookup("RMA-21").unwrap().is_none());
    assert!(rig.store.check(&[]).unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_find_the_return_by_every_kind_of_code() {
    let rig = rig().await;
    let made = rig.add_return(
        "RMA-3001",
        ReturnSpec {
            client_order_ref: Some("po 4711/b".into()),
            return_tracking: Some(format!("{UPS}, {USPS}")),
            delivery_tracking: Some(SSCC.into()),
            ..ReturnSpec::default()
        },
    );
    let other = rig.add_return("RMA-3002", ReturnSpec::default());
    rig.cache.sync(SyncMode::Full).await.unwrap();

    let rma = |code: &str| rig.rma_of(code);
    let hit = |kind| Some(("RMA-3001".to_owned(), kind));
    assert_eq!(rma("RMA-3001"), hit(MatchedBy::Rma));
    assert_eq!(rma("  rma-3001 "), hit(MatchedBy::Rma), "trimmed and case-folded");
    assert_eq!(rma(&made.picking_name.to_lowercase()), hit(MatchedBy::ReturnPicking));
    assert_eq!(rma(&made.delivery.sale_order_name), hit(MatchedBy::Order));
    assert_eq!(rma("PO 4711/B"), hit(MatchedBy::CustomerRef));
    assert_eq!(rma(&made.delivery.picking_name), hit(MatchedBy::Delivery));
    assert_eq!(rma(UPS), hit(MatchedBy::Tracking));
    assert_eq!(rma(USPS_SCANNED), hit(MatchedBy::Tracking), "420 + ZIP is stripped");
    assert_eq!(rma(USPS), hit(MatchedBy::Tracking));
    assert_eq!(
        rma(&format!("\u{1d}00{SSCC}")),
        hit(MatchedBy::Tracking),
        "GS1-128 with FNC1"
    );
    assert_eq!(rma(&format!("00{SSCC}")), hit(MatchedBy::Tracking), "GS1 without FNC1");
    assert_eq!(
        rma(&other.picking_name),
        Some(("RMA-3002".into(), MatchedBy::ReturnPicking))
    );
    assert_eq!(rma("1Z999AA10123456785"), None, "a wrong check digit matches nothing");
    assert_eq!(rma("garbage-code"), None);
    let found = rig.cache.lookup(USPS_SCANNED).unwrap().unwrap();
    assert_eq!((found.code.as_str(), found.scanned_as), (USPS, "usps"));
    assert!(matches!(rig.cache.lookup(""), Err(RmaError::InvalidCode)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_odoo_down_lookups_answer_from_the_cache_with_a_growing_age() {
    let rig = rig().await;
    rig.add_return("RMA-40", ReturnSpec::default());
    rig.cache.sync(SyncMode::Full).await.unwrap();
    let synced_at = rig.cache.status().unwrap().age.synced_at_ms;

    rig.odoo.set_down(true);
    rig.clock.advance(90_000);
    let failed = rig.cache.sync(rig.cache.due_mode().unwrap()).await;
    assert!(matches!(failed, Err(RmaError::Odoo(_))), "{failed:?}");
    let found = rig.cache.lookup("RMA-40").unwrap().expect("still answered");
    assert_eq!(found.cache.synced_at_ms, synced_at);
    assert_eq!(found.cache.age_s(), Some(90));
    rig.clock.advance(30_000);
    assert_eq!(rig.cache.lookup("rma-40").unwrap().unwrap().cache.age_s(), Some(120));
    let status = rig.cache.status().unwrap();
    assert!(
        status.last_error.as_deref().is_some_and(|e| e.contains("502")),
        "{status:?}"
    );
    assert_eq!((status.syncs_ok, status.syncs_failed, status.entries), (1, 1, 1));

    rig.odoo.set_down(false);
    rig.cache.sync(rig.cache.due_mode().unwrap()).await.unwrap();
    let status = rig.cache.status().unwrap();
    assert_eq!((status.age.age_s(), status.last_error), (Some(0), None));
}

// ---- the real server ----

struct Server {
    base: String,
    client: reqwest::Client,
    receiver: String,
    supervisor: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(odoo: &FakeOdoo) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::load(None, [], &FlagOverrides::default()).unwrap();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.store.data_dir = dir.path().join("store");
        config.sinks.push(SinkConfig {
            name: SinkName::parse("odoo").unwrap(),
            kind: SinkKind::Odoo,
            odoo: Some(sink_config(
                odoo,
                dir.path(),
                "rma_cache = true\nrma_sync_interval_secs = 3600\n",
            )),
            refund: None,
        });
        let app = App::build(&config).await.unwrap();
        let base = format!("http://{}", app.local_addr());
        let store = app.store().clone();
        let (receiver, supervisor) = tokio::task::spawn_blocking(move || {
            let issue = |role| {
                returns_edge::tokens::create(&store, StationId::parse("dock-1").unwrap(), role, 1)
                    .unwrap()
                    .token
            };
            (issue(Role::Receiver), issue(Role::Supervisor))
        })
        .await
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Server {
            base,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            receiver,
            supervisor,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, String, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let kind = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = answer.text().await.unwrap();
        (status, kind, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn lookup(&self, code: &str) -> (u16, String, Value) {
        let code: String = code
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        self.get(&format!("/v1/rma/lookup?code={code}"), Some(&self.receiver))
            .await
    }

    async fn refresh(&self, token: &str) -> (u16, Value) {
        let answer = self
            .client
            .post(format!("{}/v1/rma/refresh", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap_or(Value::Null))
    }

    async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits for the syncer's first sync at start.
    async fn synced(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, _, ready) = self.get("/readyz", None).await;
            if ready["rma_cache"]["synced"] == json!(true) {
                return ready;
            }
            assert!(Instant::now() < deadline, "no first sync: {ready}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_lookups_offline_and_readyz_and_metrics_show_the_cache_age() {
    let mut odoo = FakeOdoo::start(odoo_options()).await;
    let (widget, partner) = seed(&odoo);
    let spec = ReturnSpec {
        rma: Some("RMA-5001".into()),
        return_tracking: Some(UPS.into()),
        ..ReturnSpec::default()
    };
    let made = odoo.add_return(partner, &[(widget, 1.0)], &spec).unwrap();
    let server = Server::start(&odoo).await;
    let ready = server.synced().await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["rma_cache"]["entries"], 1);

    let (status, _, found) = server.lookup(UPS).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        (found["rma"].as_str(), found["matched_by"].as_str()),
        (Some("RMA-5001"), Some("tracking"))
    );
    assert_eq!(found["picking"], made.picking_name);
    assert_eq!(found["lines"][0]["unit_weight_g"], 1250);
    assert!(
        found["cache"]["age_s"].is_u64() && found["cache"]["synced_at_ms"].is_u64(),
        "{found}"
    );

    // Odoo goes away: a refresh fails, lookups still answer, older; readiness stays.
    odoo.set_unreachable(true).await;
    let (status, problem) = server.refresh(&server.supervisor).await;
    assert_eq!(status, 503, "{problem}");
    let (status, _, again) = server.lookup("rma-5001").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["cache"]["synced_at_ms"], found["cache"]["synced_at_ms"]);
    assert!(
        again["cache"]["age_ms"].as_u64() > found["cache"]["age_ms"].as_u64(),
        "{again}"
    );
    let (status, _, ready) = server.get("/readyz", None).await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")), "{ready}");
    assert!(
        ready["rma_cache"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("unreachable")),
        "{ready}"
    );
    assert!(ready["rma_cache"]["age_s"].is_u64());
    let metrics = server.metrics().await;
    for line in [
        "returns_edge_rma_cache_entries 1",
        "returns_edge_rma_syncs_total{outcome=\"failed\"} 1",
        "returns_edge_rma_syncs_total{outcome=\"ok\"} 1",
        "returns_edge_rma_cache_age_seconds ",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in\n{metrics}");
    }
    // The dashboard and alerts may use these (tests/ops.rs checks them against this list).
    for name in returns_edge::metrics::RMA_NAMES {
        assert!(
            metrics.contains(&format!("\n{name}")),
            "{name} is not exposed:\n{metrics}"
        );
    }

    // A code nobody expects: 404 naming `code`, with the cache's age.
    let (status, kind, problem) = server.lookup("NOT-A-RETURN-42").await;
    assert_eq!((status, kind.as_str()), (404, "application/problem+json"), "{problem}");
    assert_eq!(problem["field"], "code");
    assert_eq!(problem["cache"]["synced_at_ms"], found["cache"]["synced_at_ms"]);
    for bad in ["/v1/rma/lookup", "/v1/rma/lookup?code=", "/v1/rma/lookup?code=%20%20"] {
        let (status, _, problem) = server.get(bad, Some(&server.receiver)).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (422, Some("code")),
            "{bad}: {problem}"
        );
    }
    let (status, _, problem) = server.lookup(&"7".repeat(129)).await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("code")), "{problem}");
    let (status, _, _) = server.get(&format!("/v1/rma/lookup?code={UPS}"), None).await;
    assert_eq!(status, 401);

    // Back online: only a supervisor may force a refresh; it brings the age back to zero.
    odoo.set_unreachable(false).await;
    let (status, _) = server.refresh(&server.receiver).await;
    assert_eq!(status, 403);
    let (status, refreshed) = server.refresh(&server.supervisor).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        (refreshed["entries"].as_u64(), refreshed["cache"]["age_s"].as_u64()),
        (Some(1), Some(0))
    );
    let (_, _, doc) = server.get("/openapi.json", None).await;
    assert!(doc["paths"]["/v1/rma/lookup"]["get"].is_object() && doc["paths"]["/v1/rma/refresh"]["post"].is_object());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_that_never_synced_does_not_make_the_server_unready_but_says_so() {
    let mut odoo = FakeOdoo::start(odoo_options()).await;
    odoo.set_unreachable(true).await;
    let server = Server::start(&odoo).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let (status, _, ready) = server.get("/readyz", None).await;
        assert_eq!(status, 200, "{ready}");
        if !ready["rma_cache"]["last_error"].is_null() {
            break ready;
        }
        assert!(Instant::now() < deadline, "the first sync never failed: {ready}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ready["rma_cache"]["synced"], false);
    assert!(
        ready["rma_cache"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("never synced")),
        "{ready}"
    );
    let (status, _, problem) = server.lookup(UPS).await;
    assert_eq!(status, 404);
    assert_eq!(problem["cache"]["synced_at_ms"], Value::Null);
    assert!(!server.metrics().await.contains("returns_edge_rma_cache_age_seconds "));
    server.stop().await;
}

// ---- returns received in several parcels ----

/// Receives `qty` units of the first open move of `picking` the way transcript 24 does: write
/// `quantity` and `picked`, `button_validate`, and when Odoo asks, create the backorder wizard
/// with the action's context and `process` it with that context again. The backorder made, if any.
async fn receive(odoo: &FakeOdoo, picking: i64, qty: f64) -> Option<i64> {
    let moves = rpc(
        odoo,
        "stock.move",
        "search_read",
        json!([
            [["picking_id", "=", picking], ["state", "not in", ["done", "cancel"]]],
            ["id"]
        ]),
    )
    .await;
    let first = moves[0]["id"].as_i64().expect("an open move");
    rpc(
        odoo,
        "stock.move",
        "write",
        json!([[first], {"quantity": qty, "picked": true}]),
    )
    .await;
    let action = rpc(odoo, "stock.picking", "button_validate", json!([[picking]])).await;
    if action != json!(true) {
        assert_eq!(action["res_model"], "stock.backorder.confirmation", "{action}");
        let context = json!({"context": action["context"].clone()});
        let wizard = rpc_kw(
            odoo,
            "stock.backorder.confirmation",
            "create",
            json!([{}]),
            context.clone(),
        )
        .await;
        let wizard = wizard.as_i64().or_else(|| wizard[0].as_i64()).expect("a wizard id");
        rpc_kw(
            odoo,
            "stock.backorder.confirmation",
            "process",
            json!([[wizard]]),
            context,
        )
        .await;
    }
    let backorders = rpc(
        odoo,
        "stock.picking",
        "search_read",
        json!([[["backorder_id", "=", picking]], ["id"]]),
    )
    .await;
    backorders
        .as_array()
        .and_then(|b| b.first())
        .and_then(|b| b["id"].as_i64())
}

/// What Odoo says about a backorder after a partial receipt (transcript 24): its original is
/// done and it points there, it inherited `origin` (the RMA here), and its `return_id` is false.
/// A fake that copied `return_id` would let these tests pass for the wrong reason.
async fn assert_like_odoo(odoo: &FakeOdoo, original: i64, backorder: i64, rma: &str) {
    let read = rpc(
        odoo,
        "stock.picking",
        "read",
        json!([[original, backorder], ["state", "origin", "return_id", "backorder_id"]]),
    )
    .await;
    let by_id = |id: i64| {
        read.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    };
    let (original, backorder) = (by_id(original), by_id(backorder));
    assert_eq!(original["state"], "done", "{original}");
    assert_eq!(
        backorder["return_id"],
        json!(false),
        "Odoo does not copy return_id: {backorder}"
    );
    assert_eq!(backorder["backorder_id"][0], original["id"], "{backorder}");
    assert_eq!(backorder["origin"], rma, "{backorder}");
}

/// The cached return the RMA label finds: its picking and widget units.
fn expected_units(rig: &Rig, rma: &str, widget: i64) -> Option<(i64, u32)> {
    let found = rig.cache.lookup(rma).unwrap()?;
    assert_eq!(found.matched_by, MatchedBy::Rma, "{found:?}");
    assert_eq!(found.expected.rma.as_str(), rma);
    let units = found
        .expected
        .lines
        .iter()
        .filter(|l| l.product_id == widget)
        .map(|l| l.qty)
        .sum();
    Some((found.expected.picking_id, units))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_in_two_parcels_stays_expected_by_its_rma_until_the_second_arrives() {
    let rig = rig().await;
    let made = rig.add_return("RMA-60", ReturnSpec::default());
    rig.cache.sync(SyncMode::Full).await.unwrap();
    assert_eq!(expected_units(&rig, "RMA-60", rig.widget), Some((made.picking_id, 2)));

    // The first parcel: 1 of 2 received, the rest goes to a backorder.
    let backorder = receive(&rig.odoo, made.picking_id, 1.0)
        .await
        .expect("a partial receipt makes a backorder");
    assert_like_odoo(&rig.odoo, made.picking_id, backorder, "RMA-60").await;

    // Odoo wrote the original and made the backorder in one transaction: the incremental sync
    // reads both at once and needs no read of the chain (one stock.picking read for the
    // returns, one for the deliveries).
    let pickings_read = rig.odoo.calls("stock.picking", "search_read");
    let report = rig.incremental().await;
    assert_eq!(
        (report.applied.inserted, report.applied.removed, report.entries),
        (1, 1, 1),
        "{report:?}"
    );
    assert_eq!(rig.odoo.calls("stock.picking", "search_read"), pickings_read + 2);
    assert!(!rig.cached(made.picking_id), "the done original left the cache");
    assert_eq!(
        expected_units(&rig, "RMA-60", rig.widget),
        Some((backorder, 1)),
        "the second parcel is expected, with what is left"
    );
    let cached = rig
        .store
        .rma_entry(backorder)
        .unwrap()
        .expect("the backorder is cached");
    let expected = &cached.expected;
    assert_eq!(expected.delivery.as_deref(), Some(made.delivery.picking_name.as_str()));
    assert!(expected.delivered_at_ms.is_some());
    assert_eq!(expected.order.as_deref(), Some(made.delivery.sale_order_name.as_str()));
    assert_eq!(expected.customer.as_deref(), Some("Deco Addict"));
    assert_eq!(expected.currency.as_deref(), Some("USD"));
    assert_eq!(expected.lines[0].unit_price_minor, Some(10_000));
    assert_eq!(expected.lines[0].unit_weight_g, Some(1250));
    assert_eq!(
        rig.rma_of(&made.delivery.picking_name),
        Some(("RMA-60".into(), MatchedBy::Delivery))
    );

    // A full refresh keeps it (the backorder is open although it has no return_id) without
    // reading it again.
    let report = rig.cache.sync(SyncMode::Full).await.unwrap();
    assert_eq!(
        (report.applied, report.unchanged, report.entries),
        (Default::default(), 1, 1),
        "{report:?}"
    );
    assert_eq!(expected_units(&rig, "RMA-60", rig.widget), Some((backorder, 1)));

    // The second parcel completes the return: nothing of it is expected any more.
    assert_eq!(
        receive(&rig.odoo, backorder, 1.0).await,
        None,
        "nothing left for a backorder"
    );
    let report = rig.incremental().await;
    assert_eq!((report.applied.removed, report.entries), (1, 0), "{report:?}");
    assert_eq!(rig.cache.lookup("RMA-60").unwrap(), None);
    let check = rig.store.check(&[]).unwrap();
    assert!(check.is_clean(), "{check}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_refresh_follows_backorders_of_backorders_to_their_return_in_one_read_per_level() {
    let rig = rig().await;
    let made = rig
        .odoo
        .add_return(
            rig.partner,
            &[(rig.widget, 3.0)],
            &ReturnSpec {
                rma: Some("RMA-70".into()),
                return_tracking: Some(UPS.into()),
                ..ReturnSpec::default()
            },
        )
        .unwrap();
    let other = rig.add_return("RMA-71", ReturnSpec::default());
    rig.cache.sync(SyncMode::Full).await.unwrap();
    let first = receive(&rig.odoo, made.picking_id, 1.0).await.expect("a backorder");
    let other_rest = receive(&rig.odoo, other.picking_id, 1.0).await.expect("a backorder");
    assert_like_odoo(&rig.odoo, made.picking_id, first, "RMA-70").await;

    // Two backorders whose returns are done (not in the read of open pickings): one read of
    // their parents for both, besides the latest write_date, the open pickings and deliveries.
    let pickings_read = rig.odoo.calls("stock.picking", "search_read");
    let report = rig.cache.sync(SyncMode::Full).await.unwrap();
    assert_eq!(expected_units(&rig, "RMA-70", rig.widget), Some((first, 2)));
    assert_eq!(expected_units(&rig, "RMA-71", rig.widget), Some((other_rest, 1)));
    assert_eq!(
        (report.applied.inserted, report.applied.removed, report.entries),
        (2, 2, 2),
        "{report:?}"
    );
    assert_eq!(rig.odoo.calls("stock.picking", "search_read"), pickings_read + 4);
    // The return label's tracking number is on the original only (Odoo does not copy it).
    assert_eq!(rig.rma_of(UPS), Some(("RMA-70".into(), MatchedBy::Tracking)));

    // The second parcel: a backorder of the backorder, still found by the RMA label.
    let second = receive(&rig.odoo, first, 1.0)
        .await
        .expect("a backorder of the backorder");
    assert_like_odoo(&rig.odoo, first, second, "RMA-70").await;
    let report = rig.cache.sync(SyncMode::Full).await.unwrap();
    assert_eq!((report.applied.inserted, report.applied.removed), (1, 1), "{report:?}");
    assert_eq!(expected_units(&rig, "RMA-70", rig.widget), Some((second, 1)));
    assert_eq!(rig.rma_of(UPS), Some(("RMA-70".into(), MatchedBy::Tracking)));
    let cached = rig.store.rma_entry(second).unwrap().unwrap();
    assert_eq!(
        cached.expected.delivery.as_deref(),
        Some(made.delivery.picking_name.as_str()),
        "the delivery of the root return"
    );

    // The last parcels: both returns complete, nothing expected.
    assert_eq!(receive(&rig.odoo, second, 1.0).await, None);
    assert_eq!(receive(&rig.odoo, other_rest, 1.0).await, None);
    let report = rig.cache.sync(SyncMode::Full).await.unwrap();
    assert_eq!((report.applied.removed, report.entries), (2, 0), "{report:?}");
    assert_eq!(rig.cache.lookup("RMA-70").unwrap(), None);
    assert_eq!(rig.cache.lookup("RMA-71").unwrap(), None);
    assert!(rig.store.check(&[]).unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_receipts_backorder_is_not_a_return() {
    let rig = rig().await;
    let ids = rig.odoo.ids();
    let receipt = rpc(
        &rig.odoo,
        "stock.picking",
        "create",
        json!([{
            "picking_type_id": ids.receipts_type,
            "partner_id": rig.partner,
            "location_id": ids.vendors_location,
            "location_dest_id": ids.stock_location,
            "origin": "P00042",
            "move_ids": [[0, 0, {"name": "P00042", "product_id": rig.widget, "product_uom_qty": 2,
                "location_id": ids.vendors_location, "location_dest_id": ids.stock_location}]],
        }]),
    )
    .await;
    let receipt = receipt.as_i64().or_else(|| receipt[0].as_i64()).unwrap();
    rpc(&rig.odoo, "stock.picking", "action_confirm", json!([[receipt]])).await;
    let made = rig.add_return("RMA-80", ReturnSpec::default());
    rig.cache.sync(SyncMode::Full).await.unwrap();
    let backorder = receive(&rig.odoo, receipt, 1.0).await.expect("a backorder");

    let report = rig.incremental().await;
    assert_eq!((report.entries, report.skipped.len()), (1, 0), "{report:?}");
    let report = rig.cache.sync(SyncMode::Full).await.unwrap();
    assert_eq!((report.entries, report.skipped.len()), (1, 0), "{report:?}");
    assert!(!rig.cached(backorder) && rig.cached(made.picking_id));
    assert_eq!(rig.cache.lookup("P00042").unwrap(), None);
}

//! The real server (in-process `App`, then the real binary) against the fake Odoo: operator
//! routes over HTTP, JSON-2 for Odoo 19, and SIGKILL of the binary between Odoo steps.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use returns_edge::app::App;
use returns_edge::config::{Config, FlagOverrides};
use returns_edge::domain::{Role, StationId};
use returns_edge::{ingest, tokens};
use returns_edge_fakes::odoo::{CallMatcher, FakeOdoo, FakeOdooOptions, Fault, FaultKind, OdooVersion, Protocols};
use serde_json::{json, Value};

use crate::helpers::make_return;

fn config_text(odoo: &FakeOdoo, dir: &Path, protocol: &str) -> String {
    let secret = dir.join("odoo-secret");
    let value = if protocol == "json2" {
        odoo.api_key().to_owned()
    } else {
        odoo.password()
    };
    std::fs::write(&secret, format!("{value}\n")).unwrap();
    format!(
        "site = \"site-a\"\n[server]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{}\"\n[log]\nlevel = \"debug\"\n\
         [[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n[sinks.odoo]\nurl = \"{}\"\ndatabase = \"{}\"\nprotocol = \"{protocol}\"\n\
         login = \"{}\"\nsecret_file = \"{}\"\ntimeout_secs = 1\n",
        dir.join("data").display(),
        odoo.url(),
        odoo.db(),
        odoo.login(),
        secret.display()
    )
}

struct InProcess {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    supervisor: String,
    inspector: String,
}

async fn start_app(odoo: &FakeOdoo, dir: &Path, protocol: &str) -> InProcess {
    let file = dir.join("returns-edge.toml");
    std::fs::write(&file, config_text(odoo, dir, protocol)).unwrap();
    let config = Config::load(Some(&file), [], &FlagOverrides::default()).unwrap();
    let app = App::build(&config).await.unwrap();
    let store = app.store().clone();
    let station = StationId::parse("dock-1").unwrap();
    let supervisor = tokens::create(&store, station.clone(), Role::Supervisor, ingest::now_ms())
        .unwrap()
        .token;
    let inspector = tokens::create(&store, station, Role::Inspector, ingest::now_ms())
        .unwrap()
        .token;
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    InProcess {
        addr,
        stop: Some(stop),
        supervisor,
        inspector,
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn post(addr: impl std::fmt::Display, token: &str, path: &str, key: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(addr: impl std::fmt::Display, token: &str, path: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_the_outbox_and_replay_or_discard_dead_letters_over_http() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let app = start_app(&odoo, dir.path(), "json_rpc").await;
    let (sup, insp) = (app.supervisor.clone(), app.inspector.clone());

    // Two parcels naming RMAs Odoo does not know: both dead-lettered with the reason.
    let mut cases = Vec::new();
    for (i, rma) in ["RMA-X1", "RMA-X2"].iter().enumerate() {
        let body =
            json!({"station": "dock-1", "label": format!("L{i}"), "rma": rma, "lines": [{"sku": "E-COM07", "qty": 1}]});
        let (status, answer) = post(app.addr, &sup, "/v1/parcels", &format!("p{i}"), body).await;
        assert_eq!(status, 201, "{answer}");
        cases.push(answer);
    }
    wait_for("two dead letters", async || {
        let (_, outbox) = get(app.addr, &insp, "/v1/outbox").await;
        outbox["sinks"][0]["dead_letters"] == 2
    })
    .await;
    let (status, _) = get(app.addr, &insp, "/v1/dead-letters").await;
    assert_eq!(status, 403, "dead letters are for supervisors");
    let (status, letters) = get(app.addr, &sup, "/v1/dead-letters?sink=odoo").await;
    assert_eq!(status, 200);
    let letters = letters.as_array().unwrap().clone();
    assert_eq!(letters.len(), 2);
    assert!(letters[0]["reason"].as_str().unwrap().contains("RMA-X1"), "{letters:?}");
    assert_eq!(letters[0]["event"]["kind"], "parcel_received");

    // The RMA is created in Odoo; the replay then delivers exactly once.
    let delivery = odoo.ids().deliveries[0].picking_id;
    let ret = make_return(&odoo, delivery, "RMA-X1", None).await;
    let id = letters[0]["id"].as_str().unwrap();
    let (status, _) = post(
        app.addr,
        &sup,
        &format!("/v1/dead-letters/{id}/replay"),
        "r1",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, again) = post(
        app.addr,
        &sup,
        &format!("/v1/dead-letters/{id}/replay"),
        "r2",
        json!({}),
    )
    .await;
    assert_eq!((status, again["field"].as_str()), (409, Some("id")));
    wait_for("the replayed receipt delivered", async || {
        odoo.pickings().iter().any(|p| p.id == ret && p.state == "done")
    })
    .await;
    let case_id = cases[0]["case_id"].as_str().unwrap();
    wait_for("the case view to say delivered", async || {
        let (_, case) = get(app.addr, &insp, &format!("/v1/cases/{case_id}")).await;
        case["delivery"][0]["state"] == "delivered"
    })
    .await;

    // The other is given up: discarded with a note, and the count drops to zero.
    let other = letters[1]["id"].as_str().unwrap();
    let res = reqwest::Client::new()
        .delete(format!(
            "http://{}/v1/dead-letters/{other}?note=customer%20kept%20it",
            app.addr
        ))
        .bearer_auth(&sup)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, outbox) = get(app.addr, &insp, "/v1/outbox").await;
    assert_eq!(outbox["sinks"][0]["dead_letters"], 0, "{outbox}");
    assert_eq!(outbox["sinks"][0]["pending"], 0, "{outbox}");
    let case_id = cases[1]["case_id"].as_str().unwrap();
    let (_, case) = get(app.addr, &insp, &format!("/v1/cases/{case_id}")).await;
    assert_eq!(case["delivery"][0]["state"], "discarded", "{case}");
    assert!(case["delivery"][0]["last_error"]
        .as_str()
        .unwrap()
        .contains("customer kept it"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_19_over_json_2_gets_the_same_stock_moves() {
    let odoo = FakeOdoo::start(FakeOdooOptions {
        version: OdooVersion::V19,
        protocols: Protocols::Json2,
        ..FakeOdooOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let app = start_app(&odoo, dir.path(), "json2").await;
    let body = json!({"station": "dock-1", "label": "L-19", "lines": [{"sku": "E-COM07", "qty": 2}]});
    let (status, answer) = post(app.addr, &app.supervisor, "/v1/parcels", "p19", body).await;
    assert_eq!(status, 201, "{answer}");
    let case = answer["case_id"].as_str().unwrap().to_owned();
    post(
        app.addr,
        &app.supervisor,
        &format!("/v1/cases/{case}/inspections"),
        "i19",
        json!({"station": "dock-1", "line": 1, "grade": "A"}),
    )
    .await;
    post(
        app.addr,
        &app.supervisor,
        &format!("/v1/cases/{case}/dispositions"),
        "d19",
        json!({"station": "dock-1", "line": 1, "disposition": "restock"}),
    )
    .await;
    wait_for("two done pickings over JSON-2", async || {
        odoo.pickings()
            .iter()
            .filter(|p| p.origin.as_deref().is_some_and(|o| o.starts_with("RE/site-a/")) && p.state == "done")
            .count()
            == 2
    })
    .await;
    assert!(
        odoo.mutations()
            .iter()
            .all(|m| format!("{:?}", m.protocol).contains("Json2")),
        "every call went over JSON-2"
    );
}

/// The real binary, killed with SIGKILL while Odoo is in the middle of each step (the effect is
/// committed, the answer not yet sent), restarted on the same store: exactly one effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_odoo_steps_then_restart_makes_each_effect_exactly_once() {
    let steps = [
        ("stock.picking", "create"),
        ("stock.picking", "action_confirm"),
        ("stock.move", "write"),
        ("stock.picking", "button_validate"),
    ];
    for (model, method) in steps {
        let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("returns-edge.toml");
        std::fs::write(&file, config_text(&odoo, dir.path(), "json_rpc")).unwrap();
        let token = create_token(&file);
        // The answer to this call comes only after we have killed the edge.
        odoo.inject(Fault {
            matcher: CallMatcher::call(model, method).once(),
            kind: FaultKind::Delay(Duration::from_secs(3)),
        });

        let mut server = Binary::start(&file);
        let body = json!({"station": "dock-1", "label": "L-KILL", "lines": [{"sku": "E-COM07", "qty": 1}]});
        let (status, answer) = post(&server.addr, &token, "/v1/parcels", "k1", body).await;
        assert_eq!(status, 201, "{answer}");
        wait_for(&format!("{model}.{method} to be called"), async || {
            odoo.calls(model, method) >= 1
        })
        .await;
        server.kill();
        let secret = odoo.password();
        assert!(!server.log().contains(&secret), "the Odoo password appeared in the log");

        let server = Binary::start(&file);
        wait_for("the outbox to drain after the restart", async || {
            let (_, outbox) = get(&server.addr, &token, "/v1/outbox").await;
            outbox["sinks"][0]["pending"] == 0
        })
        .await;
        let ours: Vec<_> = odoo
            .pickings()
            .into_iter()
            .filter(|p| p.origin.as_deref().is_some_and(|o| o.starts_with("RE/site-a/")))
            .collect();
        assert_eq!(ours.len(), 1, "{model}.{method}: exactly one picking: {ours:?}");
        assert_eq!(ours[0].state, "done", "{model}.{method}");
        assert_eq!(
            odoo.quant(odoo.ids().large_cabinet, odoo.ids().quarantine_location.unwrap()),
            1.0,
            "{model}.{method}"
        );
        drop(server);
    }
}

fn create_token(config: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_returns-edge"))
        .args([
            "token",
            "create",
            "--station",
            "dock-1",
            "--role",
            "supervisor",
            "--config",
        ])
        .arg(config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

struct Binary {
    child: Child,
    addr: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Binary {
    fn start(config: &Path) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_returns-edge"))
            .args(["serve", "--config"])
            .arg(config)
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listen=").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server did not report its address");
        Binary { child, addr, log }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        self.kill();
    }
}

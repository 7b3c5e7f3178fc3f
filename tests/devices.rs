//! Devices end to end: firmware-bridge simulators on real PTYs (reached through stable symlinks,
//! like `/dev/serial/by-id` links), the real serial transport inside the in-process `App`
//! configured from a TOML file, and stations' live streams read over a real socket (SSE).
//!
//! Waits are bounded by timeouts on what the stream delivers, never sleeps.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use firmware_bridge::scale::ScaleProtocol;
use firmware_bridge::scanner::Framing;
use firmware_bridge::sim::{ScaleSimConfig, ScaleSimulator, ScannerSimulator};
use returns_edge::app::App;
use returns_edge::config::{Config, FlagOverrides};
use returns_edge::domain::{Role, StationId};
use returns_edge::store::Store;
use returns_edge::{ingest, tokens};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(20);
const SCALE: &str = "dock-1-scale";
const SCANNER: &str = "dock-1-scanner";
const OTHER_SCANNER: &str = "dock-2-scanner";

/// The simulators plugged in for one test, and the server configured with their links.
struct Site {
    scale: ScaleSimulator,
    scanner: ScannerSimulator,
    other_scanner: ScannerSimulator,
    app: Server,
    _dir: tempfile::TempDir,
}

struct Server {
    addr: std::net::SocketAddr,
    store: Store,
    /// dock-1 and dock-2 receiver tokens.
    dock1: String,
    dock2: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

fn config_text(dir: &Path, links: &Links) -> String {
    format!(
        r#"site = "site-devices"
[server]
listen = "127.0.0.1:0"
[store]
data_dir = "{data}"
[device_settings]
stream_buffer = 16
keep_alive_secs = 1
[device_settings.classifier]
rma = {{ prefix = {{ prefix = "RMA", digits = 8 }} }}

[[devices]]
id = "{SCALE}"
station = "dock-1"
reconnect = {{ initial_ms = 20, max_ms = 200 }}
[devices.source]
kind = "serial_scale"
serial = {{ path = "{scale}" }}
scale = {{ protocol = "nci", poll_interval_ms = 50 }}

[[devices]]
id = "{SCANNER}"
station = "dock-1"
reconnect = {{ initial_ms = 20, max_ms = 200 }}
[devices.source]
kind = "serial_scanner"
serial = {{ path = "{scanner}" }}

[[devices]]
id = "{OTHER_SCANNER}"
station = "dock-2"
reconnect = {{ initial_ms = 20, max_ms = 200 }}
[devices.source]
kind = "serial_scanner"
serial = {{ path = "{other}" }}
"#,
        data = dir.join("data").display(),
        scale = links.scale.display(),
        scanner = links.scanner.display(),
        other = links.other_scanner.display(),
    )
}

struct Links {
    scale: PathBuf,
    scanner: PathBuf,
    other_scanner: PathBuf,
}

impl Site {
    /// Plugs in a dock-1 NCI scale showing `grams`, a dock-1 scanner and a dock-2 scanner, and
    /// starts the server with them.
    async fn start(grams: i64) -> Site {
        let dir = tempfile::tempdir().expect("a temp dir");
        let links = Links {
            scale: dir.path().join("usb-Scale_NCI-if00-port0"),
            scanner: dir.path().join("usb-Scanner_1-if00"),
            other_scanner: dir.path().join("usb-Scanner_2-if00"),
        };
        let scale = ScaleSimulator::start(ScaleSimConfig {
            initial_grams: grams,
            link: Some(links.scale.clone()),
            ..ScaleSimConfig::new(ScaleProtocol::Nci)
        })
        .expect("the scale simulator starts");
        let scanner = ScannerSimulator::start(Framing::Cr, Some(links.scanner.clone())).expect("a scanner");
        let other_scanner = ScannerSimulator::start(Framing::Cr, Some(links.other_scanner.clone())).expect("a scanner");
        let file = dir.path().join("returns-edge.toml");
        std::fs::write(&file, config_text(dir.path(), &links)).expect("write the config");
        let config = Config::load(Some(&file), [], &FlagOverrides::default()).expect("the config loads");
        let app = Server::start(&config).await;
        Site {
            scale,
            scanner,
            other_scanner,
            app,
            _dir: dir,
        }
    }
}

impl Server {
    async fn start(config: &Config) -> Server {
        let app = App::build(config).await.expect("the app builds");
        let store = app.store().clone();
        let token = |station: &str| {
            let station = StationId::parse(station).expect("a station id");
            tokens::create(&store, station, Role::Receiver, ingest::now_ms())
                .expect("a token")
                .token
        };
        let (dock1, dock2) = (token("dock-1"), token("dock-2"));
        let addr = app.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            store,
            dock1,
            dock2,
            client: reqwest::Client::builder().no_proxy().build().expect("a client"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stream(&self, token: &str, station: &str) -> EventStream {
        let response = self
            .client
            .get(format!("http://{}/v1/stations/{station}/stream", self.addr))
            .bearer_auth(token)
            .send()
            .await
            .expect("the stream opens");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "text/event-stream");
        EventStream {
            response,
            buffer: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// `POST /v1/parcels` as dock-1 (or as `token`): status and JSON body.
    async fn receive(&self, token: &str, key: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("http://{}/v1/parcels", self.addr))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("http://{}{path}", self.addr))
            .bearer_auth(&self.dock1)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// Stops the server; it must finish well within its grace period although streams are open.
    async fn stop(mut self) {
        let started = Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("the server stops within 5 s with streams open")
                .expect("the server task")
                .expect("the server shuts down cleanly");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

/// One SSE client reading a stream, keeping everything it saw for failure messages.
struct EventStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
    seen: Vec<(String, Value)>,
}

impl EventStream {
    /// The next event (`event:` name, `data:` JSON); comments (keep-alives) are skipped.
    /// `None` when the server ended the stream.
    async fn next_event(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let frame = String::from_utf8_lossy(&frame);
                let mut name = None;
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if let Some(name) = name {
                    let data: Value = serde_json::from_str(&data).expect("SSE data is JSON");
                    self.seen.push((name.clone(), data.clone()));
                    return Some((name, data));
                }
                continue;
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next event named `name` whose data satisfies `wanted`, within [`DEADLINE`].
    async fn wait_for(&mut self, name: &str, what: &str, mut wanted: impl FnMut(&Value) -> bool) -> Value {
        let found = tokio::time::timeout(DEADLINE, async {
            while let Some((event, data)) = self.next_event().await {
                if event == name && wanted(&data) {
                    return Some(data);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(data)) => data,
            Ok(None) => panic!("the stream ended before {what}; saw {:#?}", self.tail()),
            Err(_) => panic!("no {what} within {DEADLINE:?}; saw {:#?}", self.tail()),
        }
    }

    async fn wait_for_device(&mut self, device: &str, state: &str) {
        self.wait_for("device", &format!("{device} {state}"), |data| {
            data["device"] == device && data["state"] == state
        })
        .await;
    }

    async fn wait_for_weight(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.wait_for("weight", what, |data| data["device"] == SCALE && wanted(data))
            .await
    }

    /// The last 20 events other than weights, then the last 3 weights (scales report often),
    /// each cut to 200 characters.
    fn tail(&self) -> Vec<String> {
        let show = |(name, data): &(String, Value)| format!("{name} {data}").chars().take(200).collect::<String>();
        let others: Vec<_> = self
            .seen
            .iter()
            .filter(|(name, _)| name != "weight")
            .map(show)
            .collect();
        let weights: Vec<_> = self
            .seen
            .iter()
            .filter(|(name, _)| name == "weight")
            .map(show)
            .collect();
        let mut tail = others[others.len().saturating_sub(20)..].to_vec();
        tail.extend_from_slice(&weights[weights.len().saturating_sub(3)..]);
        tail
    }
}

fn parcel(scale: &str) -> Value {
    json!({ "station": "dock-1", "label": "1Z999AA10123456784", "scale": scale })
}

fn usable_grams(grams: i64) -> impl Fn(&Value) -> bool {
    move |data| data["grams"] == grams && data["usable"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_reaches_its_own_stations_stream_with_its_classification_and_no_other() {
    let site = Site::start(0).await;
    let mut dock1 = site.app.stream(&site.app.dock1, "dock-1").await;
    let mut dock2 = site.app.stream(&site.app.dock2, "dock-2").await;
    dock1.wait_for_device(SCANNER, "connected").await;
    dock2.wait_for_device(OTHER_SCANNER, "connected").await;

    site.scanner.scan("1Z999AA10123456784").expect("scan");
    let scan = dock1
        .wait_for("scan", "the UPS scan", |data| data["code"] == "1Z999AA10123456784")
        .await;
    assert_eq!(scan["device"], SCANNER);
    assert_eq!(scan["classification"]["kind"], "ups", "{scan}");
    assert_eq!(scan["classification"]["shipper"], "999AA1", "{scan}");
    site.scanner.scan("RMA00012345").expect("scan");
    let scan = dock1
        .wait_for("scan", "the RMA scan", |data| data["code"] == "RMA00012345")
        .await;
    assert_eq!(
        scan["classification"]["kind"], "rma",
        "the configured RMA pattern: {scan}"
    );

    // dock-1's scans are processed (they reached dock-1) before this one is even sent, so
    // dock-2 would have seen them before it.
    site.other_scanner.scan("MARKER-2").expect("scan");
    dock2
        .wait_for("scan", "dock-2's own scan", |data| data["code"] == "MARKER-2")
        .await;
    let foreign: Vec<_> = dock2
        .seen
        .iter()
        .filter(|(name, data)| name != "device" && data["device"] != OTHER_SCANNER)
        .collect();
    assert!(foreign.is_empty(), "dock-2 saw another station's events: {foreign:#?}");

    site.app.stop().await;
    assert_eq!(dock1.next_event().await, None, "the stream ends at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_naming_the_scale_records_exactly_the_stable_weight_streamed() {
    let site = Site::start(1733).await;
    let mut dock1 = site.app.stream(&site.app.dock1, "dock-1").await;
    let weight = dock1.wait_for_weight("a usable 1733 g", usable_grams(1733)).await;
    assert_eq!(
        (weight["resolution_g"].clone(), weight["stability"].clone()),
        (json!(1), json!("stable"))
    );

    let (status, answer) = site.app.receive(&site.app.dock1, "weigh-1", parcel(SCALE)).await;
    assert_eq!(status, 201, "{answer}");
    let case = site
        .app
        .get(&format!("/v1/cases/{}", answer["case_id"].as_str().unwrap()))
        .await;
    assert_eq!(
        (case["weight_g"].clone(), case["scale"].clone()),
        (json!(1733), json!(SCALE)),
        "{case}"
    );

    // A retry is answered from the store, not weighed again: even with the scale moving now.
    site.scale.set_motion(true).expect("motion");
    dock1
        .wait_for_weight("motion", |data| data["stability"] == "motion")
        .await;
    let (status, again) = site.app.receive(&site.app.dock1, "weigh-1", parcel(SCALE)).await;
    assert_eq!((status, &again), (201, &answer));

    // Both given: the station's weight is kept and the scale recorded, as before.
    let body = json!({ "station": "dock-1", "label": "1Z999AA10123456784", "scale": SCALE, "weight_g": 999 });
    let (status, answer) = site.app.receive(&site.app.dock1, "weigh-2", body).await;
    assert_eq!(status, 201, "{answer}");
    let case = site
        .app
        .get(&format!("/v1/cases/{}", answer["case_id"].as_str().unwrap()))
        .await;
    assert_eq!(
        (case["weight_g"].clone(), case["scale"].clone()),
        (json!(999), json!(SCALE))
    );
    site.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_naming_a_moving_or_overloaded_scale_is_refused_with_409_naming_scale() {
    let site = Site::start(1250).await;
    let mut dock1 = site.app.stream(&site.app.dock1, "dock-1").await;
    dock1.wait_for_weight("a usable 1250 g", usable_grams(1250)).await;
    let before = site.app.store.last_seq();

    site.scale.set_motion(true).expect("motion");
    let moving = dock1
        .wait_for_weight("motion", |data| data["stability"] == "motion")
        .await;
    assert_eq!(moving["usable"], false);
    let (status, problem) = site.app.receive(&site.app.dock1, "moving", parcel(SCALE)).await;
    assert_eq!((status, problem["field"].as_str()), (409, Some("scale")), "{problem}");
    assert!(
        problem["detail"].as_str().unwrap_or_default().contains("in motion"),
        "{problem}"
    );

    site.scale.set_motion(false).expect("stable");
    site.scale.set_overload(true).expect("overload");
    dock1
        .wait_for_weight("over capacity", |data| data["stability"] == "over_capacity")
        .await;
    let (status, problem) = site.app.receive(&site.app.dock1, "overloaded", parcel(SCALE)).await;
    assert_eq!((status, problem["field"].as_str()), (409, Some("scale")), "{problem}");
    assert!(
        problem["detail"].as_str().unwrap_or_default().contains("over capacity"),
        "{problem}"
    );

    for (token, scale, why) in [
        (&site.app.dock1, "no-such-scale", "no device"),
        (&site.app.dock1, SCANNER, "not a scale"),
        (&site.app.dock2, SCALE, "belongs to station `dock-1`"),
    ] {
        let station = if token == &site.app.dock1 { "dock-1" } else { "dock-2" };
        let body = json!({ "station": station, "label": "1Z999AA10123456784", "scale": scale });
        let (status, problem) = site.app.receive(token, &format!("unknown-{scale}"), body).await;
        // Well-formed, but this site has no such scale for this station: its state refuses it.
        assert_eq!((status, problem["field"].as_str()), (409, Some("scale")), "{problem}");
        assert!(
            problem["detail"].as_str().unwrap_or_default().contains(why),
            "{problem}"
        );
    }
    assert_eq!(site.app.store.last_seq(), before, "a refused receipt stores nothing");

    // The refusal is not remembered: the same key succeeds once the scale settles.
    site.scale.set_overload(false).expect("back in range");
    dock1.wait_for_weight("usable again", usable_grams(1250)).await;
    let (status, answer) = site.app.receive(&site.app.dock1, "moving", parcel(SCALE)).await;
    assert_eq!(status, 201, "{answer}");
    site.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugging_the_scale_streams_disconnected_and_plugging_it_back_resumes_readings() {
    let site = Site::start(1250).await;
    let mut dock1 = site.app.stream(&site.app.dock1, "dock-1").await;
    dock1.wait_for_weight("a usable 1250 g", usable_grams(1250)).await;

    site.scale.unplug().expect("unplug");
    dock1.wait_for_device(SCALE, "disconnected").await;
    let (status, problem) = site.app.receive(&site.app.dock1, "unplugged", parcel(SCALE)).await;
    assert_eq!((status, problem["field"].as_str()), (409, Some("scale")), "{problem}");
    let devices = site.app.get("/v1/devices").await;
    let scale = devices["devices"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["id"] == SCALE))
        .expect("the scale is listed")
        .clone();
    assert_eq!(
        (scale["connected"].clone(), scale["station"].clone()),
        (json!(false), json!("dock-1"))
    );

    site.scale.set_weight(1730).expect("weight");
    site.scale.plug().expect("plug");
    dock1.wait_for_device(SCALE, "connected").await;
    dock1
        .wait_for_weight("a usable 1730 g after replug", usable_grams(1730))
        .await;
    let (status, answer) = site.app.receive(&site.app.dock1, "replugged", parcel(SCALE)).await;
    assert_eq!(status, 201, "{answer}");
    // The CLI shows the same live state from the running server.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_returns-edge"))
        .args([
            "devices",
            "list",
            "--server",
            &format!("http://{}", site.app.addr),
            "--token",
            &site.app.dock1,
        ])
        .env_remove("RETURNS_EDGE_CONFIG")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let live = stdout
        .lines()
        .skip_while(|l| !l.starts_with("live state"))
        .find(|l| l.starts_with(SCALE));
    assert!(
        live.is_some_and(|l| l.contains("true") && l.contains("1730 g")),
        "{stdout}"
    );
    let devices = site.app.get("/v1/devices").await;
    let scale = &devices["devices"][0];
    assert_eq!(
        (scale["id"].clone(), scale["connected"].clone()),
        (json!(SCALE), json!(true))
    );
    assert_eq!(scale["last_reading"]["grams"], 1730);
    site.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_hold_back_another_and_is_told_what_it_lost() {
    let site = Site::start(0).await;
    // Opened and never read until the end: its socket buffers fill, then its own queue overflows.
    let mut slow = site.app.stream(&site.app.dock1, "dock-1").await;
    let mut fast = site.app.stream(&site.app.dock1, "dock-1").await;
    fast.wait_for_device(SCANNER, "connected").await;

    // About 12 MB of events (each carries its 4000-character code twice), far beyond what
    // loopback socket buffers hold. One scan at a time: the simulated line holds little more.
    let filler = "X".repeat(4_000);
    let scans = 1_500;
    for i in 0..scans {
        let code = format!("{i:05}{filler}");
        site.scanner.scan(&code).expect("scan");
        fast.wait_for("scan", &format!("scan {i} on the fast client"), |data| {
            data["code"] == code.as_str()
        })
        .await;
    }
    let received = fast.seen.iter().filter(|(name, _)| name == "scan").count();
    assert_eq!(received, scans, "the fast client lost scans");
    assert!(fast.seen.iter().all(|(name, _)| name != "lagged"));

    let lagged = slow
        .wait_for("lagged", "a lagged event on the slow client", |_| true)
        .await;
    assert!(lagged["missed"].as_u64().is_some_and(|missed| missed > 0), "{lagged}");
    site.scanner.scan("AFTER").expect("scan");
    slow.wait_for("scan", "the slow client catching up", |data| data["code"] == "AFTER")
        .await;
    site.app.stop().await;
}

#[test]
fn devices_list_shows_each_configured_device_and_the_serial_ports() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let links = Links {
        scale: dir.path().join("usb-Scale"),
        scanner: dir.path().join("usb-Scanner-present"),
        other_scanner: dir.path().join("usb-Scanner-missing"),
    };
    let _scanner = ScannerSimulator::start(Framing::Cr, Some(links.scanner.clone())).expect("a scanner");
    let file = dir.path().join("returns-edge.toml");
    std::fs::write(&file, config_text(dir.path(), &links)).expect("write the config");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_returns-edge"))
        .args(["devices", "list", "--config"])
        .arg(&file)
        .env_remove("RETURNS_EDGE_CONFIG")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |id: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with(id))
            .unwrap_or_else(|| panic!("no line for {id}: {stdout}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(line(SCALE)[1..4], ["dock-1", "serial_scale", "no"]);
    assert_eq!(line(SCANNER)[1..4], ["dock-1", "serial_scanner", "yes"]);
    assert!(
        line(SCANNER)[4..]
            .join(" ")
            .contains("usb-Scanner-present -> /dev/pts/"),
        "{stdout}"
    );
    assert_eq!(line(OTHER_SCANNER)[1..4], ["dock-2", "serial_scanner", "no"]);
    assert!(stdout.contains("configured devices: 3"), "{stdout}");
    assert!(stdout.contains("serial ports on this machine:"), "{stdout}");
}

//! Operations: `/metrics` over real HTTP under a small workload, JSON logs of the real binary
//! carrying request ids, and the deploy kit (install script, systemd unit, Containerfile, alert
//! rules and dashboard) checked against what the server really exposes.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use returns_edge::app::{App, SHUTDOWN_GRACE};
use returns_edge::config::{Config, FlagOverrides, SinkConfig};
use returns_edge::domain::{Role, StationId};
use returns_edge::sinks::{SinkKind, SinkName};
use returns_edge::store::Store;
use returns_edge::tokens;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_returns-edge");
const SINK: &str = "odoo";
const STATION: &str = "dock-1";
/// Metrics the dashboard and alerts use that the devices module exposes, not `src/metrics.rs`;
/// they only appear when devices are configured.
const DEVICE_METRICS: &[&str] = &[
    "returns_edge_device_connected",
    "returns_edge_device_last_reading_age_seconds",
];

fn checkout() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// /metrics

/// The real app on a loopback port, with an Odoo sink nobody answers (entries stay pending).
struct OpsApp {
    base: String,
    store: Store,
    token: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl OpsApp {
    async fn spawn() -> OpsApp {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut config = Config::load(None, [], &FlagOverrides::default()).expect("the embedded defaults load");
        config.server.listen = "127.0.0.1:0".parse().expect("a socket address");
        config.store.data_dir = dir.path().join("store");
        let secret = dir.path().join("odoo-secret");
        std::fs::write(&secret, "unused").expect("write the secret file");
        let odoo = format!(
            "url = \"http://127.0.0.1:1\"\ndatabase = \"db\"\nlogin = \"edge\"\nsecret_file = \"{}\"\n",
            secret.display()
        );
        config.sinks.push(SinkConfig {
            name: SinkName::parse(SINK).expect("a sink name"),
            kind: SinkKind::Odoo,
            odoo: Some(toml::from_str(&odoo).expect("an odoo sink config")),
            refund: None,
        });
        let app = App::build(&config).await.expect("the app builds");
        let base = format!("http://{}", app.local_addr());
        let store = app.store().clone();
        let token = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || {
                let station = StationId::parse(STATION).expect("a station id");
                tokens::create(&store, station, Role::Supervisor, 1)
                    .expect("a token is stored")
                    .token
            })
            .await
            .expect("token creation does not panic")
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
        OpsApp {
            base,
            store,
            token,
            client,
            stop: Some(stop),
            server,
            _dir: dir,
        }
    }

    async fn receive(&self, key: &str) -> Value {
        let body =
            json!({ "station": STATION, "label": format!("LBL-{key}"), "lines": [{ "sku": "SKU-1", "qty": 1 }] });
        self.write("/v1/parcels", key, body).await
    }

    async fn write(&self, path: &str, key: &str, body: Value) -> Value {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(res.status().as_u16(), 201, "POST {path}");
        res.json().await.expect("a JSON answer")
    }

    /// `GET /metrics` without a token.
    async fn scrape(&self) -> Scrape {
        let res = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(res.status().as_u16(), 200);
        let content_type = res.headers()["content-type"].to_str().unwrap_or_default().to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        Scrape(res.text().await.expect("a text body"))
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.await.expect("the server task").expect("a clean stop");
    }
}

/// One scrape in the Prometheus text format.
#[derive(Debug)]
struct Scrape(String);

impl Scrape {
    /// The value of the sample `name` whose labels include all of `labels`; summed when several match.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for line in self.0.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let (sample, label_text) = match series.split_once('{') {
                Some((sample, rest)) => (sample, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if sample != name {
                continue;
            }
            let have: Vec<(&str, &str)> = label_text
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k, v.trim_matches('"')))
                .collect();
            if labels.iter().all(|want| have.contains(want)) {
                let v: f64 = value.parse().expect("a numeric sample value");
                found = Some(found.unwrap_or(0.0) + v);
            }
        }
        found
    }

    /// Names of every sample in the scrape (histograms as `_bucket`, `_sum`, `_count`).
    fn sample_names(&self) -> BTreeSet<String> {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_owned())
            .collect()
    }
}

fn counter(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape.value(name, labels).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_under_a_small_workload_and_pending_matches_the_outbox() {
    let app = OpsApp::spawn().await;
    let parcels_201 = [("route", "/v1/parcels"), ("method", "POST"), ("status", "201")];
    let before = app.scrape().await;

    let mut cases = Vec::new();
    for i in 0..3 {
        cases.push(
            app.receive(&format!("k-{i}")).await["case_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    app.write(
        &format!("/v1/cases/{}/inspections", cases[0]),
        "insp-0",
        json!({ "station": STATION, "line": 1, "grade": "A" }),
    )
    .await;
    let unknown = app
        .client
        .get(format!("{}/no/such/route", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let after = app.scrape().await;

    assert_eq!(
        counter(&after, "returns_edge_http_requests_total", &parcels_201)
            - counter(&before, "returns_edge_http_requests_total", &parcels_201),
        3.0,
        "{}",
        after.0
    );
    let matched_only_by_template = [("route", "/v1/cases/{case_id}/inspections"), ("status", "201")];
    assert_eq!(
        counter(&after, "returns_edge_http_requests_total", &matched_only_by_template),
        1.0
    );
    assert_eq!(
        counter(
            &after,
            "returns_edge_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert!(
        !after.0.contains(&cases[0]),
        "route labels must be templates, never real ids"
    );
    assert_eq!(
        counter(&after, "returns_edge_events_total", &[("kind", "parcel_received")]),
        3.0
    );
    assert_eq!(
        counter(&after, "returns_edge_events_total", &[("kind", "item_inspected")]),
        1.0
    );
    assert_eq!(
        counter(&after, "returns_edge_events_total", &[("kind", "case_closed")]),
        0.0
    );
    assert!(
        counter(
            &after,
            "returns_edge_ingest_duration_seconds_count",
            &[("route", "/v1/parcels")]
        ) >= 3.0,
        "{}",
        after.0
    );
    let flushes = counter(&after, "returns_edge_store_flush_seconds_count", &[]);
    assert!(flushes > 0.0, "{}", after.0);
    assert!(counter(&after, "returns_edge_store_flush_batch_size_count", &[]) > 0.0);
    assert!(counter(&after, "returns_edge_store_flushes_total", &[]) >= flushes);
    assert!(counter(&after, "returns_edge_store_flush_waiters_total", &[]) >= 4.0);

    let store = app.store.clone();
    let counts = tokio::task::spawn_blocking(move || store.sink_counts(SINK))
        .await
        .unwrap()
        .expect("sink counts");
    assert_eq!(counts.pending, 3, "receipts are queued for odoo, inspections are not");
    assert_eq!(
        after.value("returns_edge_outbox_pending", &[("sink", SINK)]),
        Some(counts.pending as f64),
        "{}",
        after.0
    );
    assert_eq!(
        after.value("returns_edge_outbox_dead_letters", &[("sink", SINK)]),
        Some(0.0)
    );
    assert!(after
        .value("returns_edge_outbox_oldest_pending_age_seconds", &[("sink", SINK)])
        .is_some());
    assert!(after
        .value("returns_edge_sink_paused", &[("sink", SINK)])
        .is_some_and(|v| v == 0.0 || v == 1.0));
    assert_eq!(after.value("returns_edge_store_writable", &[]), Some(1.0));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_named_in_the_alerts_and_the_dashboard_is_exposed() {
    let app = OpsApp::spawn().await;
    let case = app.receive("k-1").await["case_id"].as_str().unwrap().to_owned();
    app.write(
        &format!("/v1/cases/{case}/inspections"),
        "insp-1",
        json!({ "station": STATION, "line": 1, "grade": "A" }),
    )
    .await;
    let scrape = app.scrape().await;
    let exposed = scrape.sample_names();
    for name in returns_edge::metrics::NAMES {
        let histogram = format!("{name}_count");
        assert!(
            exposed.contains(*name) || exposed.contains(&histogram),
            "{name} is declared in src/metrics.rs but not exposed:\n{}",
            scrape.0
        );
    }

    let alerts = std::fs::read_to_string(checkout().join("deploy/prometheus/alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(checkout().join("deploy/grafana/returns-edge.json")).unwrap();
    let dashboard_json: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(dashboard_json["panels"].as_array().is_some_and(|p| p.len() >= 10));
    for (file, text) in [("alerts.yml", &alerts), ("returns-edge.json", &dashboard)] {
        let used = metric_names(text);
        assert!(used.len() >= 4, "{file}: no metric names found");
        let missing: Vec<_> = used
            .iter()
            // Device and RMA cache metrics exist only with devices or an RMA cache configured:
            // the device hub is checked below, the cache's in tests/rma.rs against a real scrape.
            .filter(|n| {
                !exposed.contains(*n)
                    && !DEVICE_METRICS.contains(&n.as_str())
                    && !returns_edge::metrics::RMA_NAMES.contains(&n.as_str())
            })
            .collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics /metrics does not expose: {missing:?}"
        );
    }
    // The device metrics, from a hub with a scale as `/metrics` appends them.
    #[derive(serde::Deserialize)]
    struct Devices {
        devices: Vec<returns_edge::config::DeviceEntry>,
    }
    let devices: Devices = toml::from_str(
        "[[devices]]\nid = \"s\"\nstation = \"dock-1\"\n\
         source = { kind = \"serial_scale\", serial = { path = \"/dev/null-scale\" }, scale = { protocol = \"nci\" } }\n",
    )
    .expect("a device entry");
    let hub = returns_edge::devices::DeviceHub::new(&devices.devices, &Default::default());
    let device_text = hub.prometheus_text();
    for name in DEVICE_METRICS {
        assert!(
            device_text.contains(&format!("# TYPE {name} gauge\n")),
            "{name} is not exposed by the device hub:\n{device_text}"
        );
    }
    for alert in [
        "ReturnsEdgeDown",
        "ReturnsEdgeDeliveryBacklog",
        "ReturnsEdgeDeadLetters",
        "ReturnsEdgeSinkPaused",
        "ReturnsEdgeDeviceOffline",
        "ReturnsEdgeDiskAlmostFull",
        "ReturnsEdgeRmaCacheStale",
        "ReturnsEdgeWritesRefusedDiskFull",
        "ReturnsEdgeStoreSpaceLow",
        "ReturnsEdgeScaleSilent",
    ] {
        assert!(alerts.contains(&format!("alert: {alert}\n")), "missing alert {alert}");
    }
    assert!(alerts.contains("returns_edge_outbox_oldest_pending_age_seconds > 15 * 60"));
    assert!(alerts.contains("node_filesystem_avail_bytes"));
    app.stop().await;
}

/// Every `returns_edge_…` name in a text (a name followed by more name characters is one name).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("returns_edge_") {
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..len].trim_end_matches('_');
        if name.len() > "returns_edge_".len() {
            out.insert(name.to_owned());
        }
        rest = &tail[len..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// JSON logs of the real binary

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_of_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_remove("RETURNS_EDGE_CONFIG")
        .env("RETURNS_EDGE_LOG_FORMAT", "json")
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let mut seen = Vec::new();
    let addr = loop {
        let line = next_line(&lines, &mut child);
        let parsed = parse_log_line(&line);
        seen.push(parsed.clone());
        if let Some(addr) = parsed["fields"]["listen"].as_str() {
            break addr.to_owned();
        }
    };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let chosen = format!("ops-{}", std::process::id());
    let res = client
        .get(format!("http://{addr}/healthz"))
        .header("x-request-id", &chosen)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], chosen.as_str());
    let res = client.get(format!("http://{addr}/v1/events")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();

    let mut waiting: BTreeSet<String> = [chosen, generated].into();
    while !waiting.is_empty() {
        let line = next_line(&lines, &mut child);
        let parsed = parse_log_line(&line);
        if let Some(id) = parsed["span"]["request_id"].as_str() {
            waiting.remove(id);
        }
        seen.push(parsed);
    }
    stop(&mut child);
    for line in lines.try_iter() {
        seen.push(parse_log_line(&line));
    }
    assert!(seen.len() >= 4, "{seen:?}");
}

fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_line(lines: &mpsc::Receiver<String>, child: &mut Child) -> String {
    match lines.recv_timeout(Duration::from_secs(20)) {
        Ok(line) => line,
        Err(e) => {
            let _ = child.kill();
            panic!("no further log line from the server: {e}");
        }
    }
}

#[track_caller]
fn parse_log_line(line: &str) -> Value {
    let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    assert!(parsed["timestamp"].is_string() && parsed["level"].is_string(), "{line}");
    parsed
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    for _ in 0..(SHUTDOWN_GRACE.as_millis() / 50 * 2) {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------------
// deploy/install.sh

/// A directory of stand-ins for every command that could change the system; each logs its call.
fn stub_path(dir: &Path, commands: &[&str]) -> (String, PathBuf) {
    let bin = dir.join("stubs");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("stub-calls.log");
    for command in commands {
        let stub = bin.join(command);
        std::fs::write(
            &stub,
            format!("#!/bin/sh\necho \"{command} $*\" >> '{}'\n", log.display()),
        )
        .unwrap();
        let status = Command::new("chmod").arg("+x").arg(&stub).status().unwrap();
        assert!(status.success());
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    (path, log)
}

const SYSTEM_COMMANDS: &[&str] = &["groupadd", "useradd", "usermod", "chown", "systemctl", "udevadm"];
const FILE_COMMANDS: &[&str] = &["install", "mkdir", "cp", "mv", "chmod", "ln", "rm", "tee", "touch"];

fn install_sh() -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(checkout().join("deploy/install.sh"));
    cmd
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn install_script_parses_and_its_dry_run_changes_nothing() {
    let status = Command::new("bash")
        .arg("-n")
        .arg(checkout().join("deploy/install.sh"))
        .status()
        .unwrap();
    assert!(status.success(), "bash -n deploy/install.sh");

    let scratch = tempfile::tempdir().unwrap();
    let prefix = tempfile::tempdir().unwrap();
    let stubs: Vec<&str> = SYSTEM_COMMANDS.iter().chain(FILE_COMMANDS).copied().collect();
    let (path, log) = stub_path(scratch.path(), &stubs);
    let system_paths = [
        "/etc/returns-edge",
        "/etc/systemd/system/returns-edge.service",
        "/usr/local/bin/returns-edge",
    ];
    let existed: Vec<bool> = system_paths.iter().map(|p| Path::new(p).exists()).collect();

    for with_prefix in [true, false] {
        let mut cmd = install_sh();
        cmd.env("PATH", &path).arg("--dry-run").arg("--binary").arg(BIN);
        if with_prefix {
            cmd.arg("--prefix").arg(prefix.path());
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "--dry-run (prefix: {with_prefix}) failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for step in [
            "usermod",
            "returns-edge.service",
            "check-config",
            "daemon-reload",
            "enable",
        ] {
            assert!(
                stdout.contains(step),
                "the dry run does not mention `{step}`:\n{stdout}"
            );
        }
    }

    assert!(
        files_under(prefix.path()).is_empty(),
        "a dry run created {:?}",
        files_under(prefix.path())
    );
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(calls.is_empty(), "a dry run ran commands:\n{calls}");
    let exists: Vec<bool> = system_paths.iter().map(|p| Path::new(p).exists()).collect();
    assert_eq!(exists, existed, "a dry run changed {system_paths:?}");
}

#[test]
fn install_script_stages_files_under_a_prefix_and_never_overwrites_a_config() {
    let scratch = tempfile::tempdir().unwrap();
    let prefix = tempfile::tempdir().unwrap();
    let (path, log) = stub_path(scratch.path(), SYSTEM_COMMANDS);
    let run = || {
        let out = install_sh()
            .env("PATH", &path)
            .arg("--prefix")
            .arg(prefix.path())
            .arg("--binary")
            .arg(BIN)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "install.sh --prefix failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };

    let first = run();
    let root = prefix.path();
    let binary = root.join("usr/local/bin/returns-edge");
    assert_eq!(std::fs::read(&binary).unwrap().len(), std::fs::read(BIN).unwrap().len());
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/returns-edge.service")).unwrap();
    assert_eq!(
        unit,
        std::fs::read_to_string(checkout().join("deploy/systemd/returns-edge.service")).unwrap()
    );
    let config_path = root.join("etc/returns-edge/returns-edge.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    assert!(config.contains("data_dir = \"/var/lib/returns-edge\""), "{config}");
    assert!(
        first.contains(": ok"),
        "check-config did not run on the installed config:\n{first}"
    );
    let udev = checkout().join("deploy/udev");
    if udev.is_dir() {
        for rule in files_under(&udev)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        {
            let name = rule.file_name().unwrap();
            assert!(
                root.join("etc/udev/rules.d").join(name).is_file(),
                "{name:?} not installed"
            );
        }
    }

    let edited = format!("{config}\n# edited by the site's IT\n");
    std::fs::write(&config_path, &edited).unwrap();
    let second = run();
    assert_eq!(
        std::fs::read_to_string(&config_path).unwrap(),
        edited,
        "the config was overwritten"
    );
    assert!(second.contains("keeping the existing"), "{second}");

    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        calls.is_empty(),
        "--prefix must not change the system, but ran:\n{calls}"
    );
}

// ---------------------------------------------------------------------------------------------
// deploy/systemd and deploy/container

/// `key=value` lines of the unit, in order (repeated keys kept).
fn unit_keys() -> Vec<(String, String)> {
    let unit = std::fs::read_to_string(checkout().join("deploy/systemd/returns-edge.service")).unwrap();
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn the_systemd_unit_is_hardened_and_outlasts_the_shutdown_grace() {
    let keys = unit_keys();
    let has = |key: &str, value: &str| keys.iter().any(|(k, v)| k == key && v == value);
    let required = [
        ("User", "returns-edge"),
        ("StateDirectory", "returns-edge"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("SystemCallFilter", "@system-service"),
        ("DevicePolicy", "closed"),
        ("DeviceAllow", "char-ttyUSB rw"),
        ("DeviceAllow", "char-ttyACM rw"),
        ("DeviceAllow", "char-input r"),
        ("DeviceAllow", "char-hidraw r"),
        ("SupplementaryGroups", "dialout input"),
        (
            "ExecStart",
            "/usr/local/bin/returns-edge serve --config /etc/returns-edge/returns-edge.toml",
        ),
        ("Restart", "on-failure"),
    ];
    let missing: Vec<_> = required.iter().filter(|(k, v)| !has(k, v)).collect();
    assert!(missing.is_empty(), "the unit lacks {missing:?}");
    let families = keys
        .iter()
        .find(|(k, _)| k == "RestrictAddressFamilies")
        .map(|(_, v)| v.clone())
        .expect("RestrictAddressFamilies");
    assert!(
        families.contains("AF_INET") && !families.contains("AF_PACKET"),
        "{families}"
    );
    let stop: u64 = keys
        .iter()
        .find(|(k, _)| k == "TimeoutStopSec")
        .map(|(_, v)| v.trim_end_matches('s').parse().expect("TimeoutStopSec in seconds"))
        .expect("TimeoutStopSec");
    assert!(
        stop > SHUTDOWN_GRACE.as_secs(),
        "TimeoutStopSec={stop} must exceed the server's grace"
    );

    // Where systemd is installed, it must accept the unit (with the binary at a real path).
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let dir = tempfile::tempdir().unwrap();
        let unit = std::fs::read_to_string(checkout().join("deploy/systemd/returns-edge.service"))
            .unwrap()
            .replace("/usr/local/bin/returns-edge", BIN);
        let file = dir.path().join("returns-edge.service");
        std::fs::write(&file, unit).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "systemd-analyze verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Instructions of the Containerfile (continuation lines joined), as (INSTRUCTION, arguments).
fn container_instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(checkout().join("deploy/container/Containerfile")).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        current.push_str(line.trim_end_matches('\\'));
        current.push(' ');
        if !line.ends_with('\\') {
            let (op, args) = current.trim().split_once(' ').unwrap_or((current.trim(), ""));
            out.push((op.to_uppercase(), args.trim().to_owned()));
            current.clear();
        }
    }
    out
}

#[test]
fn the_containerfile_builds_in_stages_and_runs_unprivileged_with_the_store_in_a_volume() {
    // `docker build` needs a daemon and the network, which the test machine lacks; check the text.
    let instructions = container_instructions();
    let froms: Vec<usize> = (0..instructions.len())
        .filter(|&i| instructions[i].0 == "FROM")
        .collect();
    assert!(froms.len() >= 2, "multi-stage: {instructions:?}");
    assert!(
        instructions[froms[0]].1.to_lowercase().contains(" as builder"),
        "{:?}",
        instructions[froms[0]]
    );
    assert!(instructions[froms[0]].1.contains("rust"), "the builder is a Rust image");
    let runtime = &instructions[*froms.last().unwrap()..];
    assert!(instructions.last().unwrap().0 != "FROM");
    assert!(
        runtime[0].1.contains("debian") && runtime[0].1.contains("slim"),
        "{:?}",
        runtime[0]
    );
    let last = |op: &str| runtime.iter().rev().find(|(o, _)| o == op).map(|(_, a)| a.clone());
    let user = last("USER").expect("a USER in the runtime stage");
    assert!(
        !user.is_empty() && !user.starts_with("root") && !user.starts_with("0"),
        "USER {user}"
    );
    let volume = last("VOLUME").expect("a VOLUME");
    assert!(volume.contains("/var/lib/returns-edge"), "VOLUME {volume}");
    assert_eq!(last("EXPOSE").as_deref(), Some("8080"));
    let health = last("HEALTHCHECK").expect("a HEALTHCHECK");
    assert!(health.contains("/healthz"), "HEALTHCHECK {health}");
    assert!(
        runtime
            .iter()
            .any(|(o, a)| o == "COPY" && a.starts_with("--from=builder")),
        "the runtime stage copies the binary from the builder"
    );
    assert!(
        instructions.iter().any(|(o, a)| o == "RUN" && a.contains("--locked")),
        "the build uses Cargo.lock"
    );
}

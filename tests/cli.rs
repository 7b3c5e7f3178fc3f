//! The shipped binary as operators use it: check-config, tokens, serving on embedded defaults,
//! SIGKILL and SIGTERM of a real server process, plus the tidy check on module headers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_returns-edge");

fn bin(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    // These tests hammer the server from one token; the per-station limit is not under test here.
    cmd.current_dir(dir)
        .env_remove("RETURNS_EDGE_CONFIG")
        .env("NO_COLOR", "1")
        .env("RETURNS_EDGE_SERVER_RATE_LIMIT_PER_SECOND", "100000")
        .env("RETURNS_EDGE_SERVER_RATE_LIMIT_BURST", "100000");
    cmd
}

#[test]
fn check_config_names_the_bad_key_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "site = \"s1\"\n\n[server]\nlisten = \"127.0.0.1:8080\"\nmax_body_byte = 10\n",
    )
    .unwrap();
    let out = bin(dir.path()).arg("check-config").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 5") && stderr.contains("max_body_byte"),
        "{stderr}"
    );

    std::fs::write(&file, "site = \"s1\"\n[server]\nlisten = \"nowhere\"\n").unwrap();
    let out = bin(dir.path()).arg("check-config").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("line 3"), "{stderr}");

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/returns-edge.toml");
    let out = bin(dir.path()).arg("check-config").arg(&shipped).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn check_config_refuses_an_odoo_sink_without_a_location_for_a_disposition_the_policy_gives() {
    let dir = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/returns-edge.toml")).unwrap();
    let sink = "\n[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n[sinks.odoo]\nurl = \"https://erp.example.com\"\n\
                database = \"production\"\nlogin = \"returns-edge\"\nsecret_env = \"ODOO_SECRET\"\n";
    let file = dir.path().join("site.toml");

    // The shipped defaults, the embedded policy and an Odoo sink with the default map agree.
    std::fs::write(&file, format!("{shipped}{sink}")).unwrap();
    let out = bin(dir.path()).arg("check-config").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A site table naming one disposition keeps the others' defaults.
    std::fs::write(
        &file,
        format!("{shipped}{sink}[sinks.odoo.dispositions]\nrefurbish = \"WH/Repair\"\n"),
    )
    .unwrap();
    let out = bin(dir.path()).arg("check-config").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Grade F's suggestion mapped to nothing: refused, naming the key and what to add.
    std::fs::write(
        &file,
        format!("{shipped}{sink}[sinks.odoo.dispositions]\nrecycle = \"\"\n"),
    )
    .unwrap();
    let out = bin(dir.path()).arg("check-config").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("sinks[0].odoo.dispositions.recycle")
            && stderr.contains("grade F")
            && stderr.contains("recycle = \"WH/Recycle\""),
        "{stderr}"
    );
}

#[test]
fn token_create_prints_the_token_last_and_list_never_shows_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_token(dir.path(), &data, "dock-1", "inspector");
    assert!(token.starts_with("re1_"), "{token}");
    let secret = token.rsplit('_').next().unwrap();
    let list = bin(dir.path())
        .args(["token", "list", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("dock-1") && text.contains("inspector"), "{text}");
    assert!(!text.contains(secret));
    let stored = read_all_files(&data);
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is stored in clear"
    );

    let out = bin(dir.path())
        .args(["token", "create", "--station", "dock 1", "--role", "inspector"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--station"));
    let out = bin(dir.path())
        .args(["token", "create", "--station", "dock-1", "--role", "boss"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--role"));
}

#[tokio::test]
async fn a_revoked_token_is_refused_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_token(dir.path(), &data, "dock-1", "receiver");
    let id = token.split('_').nth(1).unwrap().to_owned();
    let out = bin(dir.path())
        .args(["token", "revoke", &id, "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = Server::start(dir.path(), &data);
    let res = server.receive(&token, "k1", "L1").await.unwrap();
    assert_eq!(res.0, 401);
    server.kill();
}

#[tokio::test]
async fn the_server_runs_on_embedded_defaults_with_its_store_under_data() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(dir.path(), Path::new("data"), "dock-1", "receiver");
    let mut child = bin(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = wait_for_listen(&mut child);
    let server = Server { child, addr };
    let (status, body) = server.receive(&token, "k1", "LABEL").await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert!(dir.path().join("data/db").exists(), "store should live in ./data");
    server.kill();
}

#[tokio::test]
async fn acknowledged_http_writes_survive_sigkill_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_token(dir.path(), &data, "dock-1", "receiver");
    let mut acked: Vec<(String, Value)> = Vec::new();
    let mut sent: Vec<String> = Vec::new();
    for round in 0..5u64 {
        let server = Server::start(dir.path(), &data);
        let mut tasks = Vec::new();
        for worker in 0..8 {
            let (addr, token) = (server.addr.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut acks = Vec::new();
                let mut keys = Vec::new();
                for i in 0.. {
                    let key = format!("r{round}-w{worker}-{i}");
                    keys.push(key.clone());
                    match post_parcel(&client, &addr, &token, &key, &key).await {
                        Ok((201, body)) => acks.push((key, body)),
                        Ok((status, body)) => panic!("unexpected {status}: {body}"),
                        Err(_) => break, // the server is gone
                    }
                }
                (acks, keys)
            }));
        }
        tokio::time::sleep(Duration::from_millis(100 + 70 * round)).await;
        server.kill();
        for task in tasks {
            let (acks, keys) = task.await.unwrap();
            acked.extend(acks);
            sent.extend(keys);
        }
    }
    assert!(
        acked.len() > 20,
        "too few writes acknowledged to prove anything: {}",
        acked.len()
    );
    let server = Server::start(dir.path(), &data);
    let client = reqwest::Client::new();
    for (key, first) in &acked {
        let (status, again) = post_parcel(&client, &server.addr, &token, key, key).await.unwrap();
        assert_eq!(status, 201);
        assert_eq!(&again, first, "{key}: acknowledged answer changed after the crash");
    }
    // Every request ever sent, retried: still exactly one event per key.
    for key in &sent {
        post_parcel(&client, &server.addr, &token, key, key).await.unwrap();
    }
    let mut labels = std::collections::HashMap::<String, u32>::new();
    let mut after = 0;
    loop {
        let page: Value = client
            .get(format!("http://{}/v1/events?after={after}&limit=1000", server.addr))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            break;
        }
        for e in events {
            *labels
                .entry(e["data"]["label"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        after = page["next_after"].as_u64().unwrap();
    }
    assert_eq!(
        labels.len(),
        sent.len(),
        "every sent key has exactly one event after retries"
    );
    assert!(labels.values().all(|&n| n == 1), "a parcel was recorded twice");
    server.kill();
}

#[tokio::test]
async fn sigterm_finishes_in_flight_work_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_token(dir.path(), &data, "dock-1", "receiver");
    let mut server = Server::start(dir.path(), &data);
    let (status, _) = server.receive(&token, "k1", "L1").await.unwrap();
    assert_eq!(status, 201);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    // The store was closed cleanly: it opens again with the write in it.
    let server = Server::start(dir.path(), &data);
    let (status, _) = server.receive(&token, "k1", "L1").await.unwrap();
    assert_eq!(status, 201);
    server.kill();
}

#[test]
fn every_source_file_starts_with_a_module_header() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    for dir in ["src", "firmware-bridge/src"] {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            if !text.trim_start().starts_with("//!") {
                missing.push(file.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files without a //! header saying what they own: {missing:?}"
    );
}

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path, data: &Path) -> Server {
        let mut child = bin(dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let addr = wait_for_listen(&mut child);
        Server { child, addr }
    }

    async fn receive(&self, token: &str, key: &str, label: &str) -> reqwest::Result<(u16, Value)> {
        post_parcel(&reqwest::Client::new(), &self.addr, token, key, label).await
    }

    fn kill(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

async fn post_parcel(
    client: &reqwest::Client,
    addr: &str,
    token: &str,
    key: &str,
    label: &str,
) -> reqwest::Result<(u16, Value)> {
    let res = client
        .post(format!("http://{addr}/v1/parcels"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({ "station": "dock-1", "label": label, "weight_g": 900 }))
        .send()
        .await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await?))
}

/// Reads the server's log until it says where it listens; keeps draining it afterwards.
fn wait_for_listen(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listen=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("server did not report its address")
}

fn create_token(dir: &Path, data: &Path, station: &str, role: &str) -> String {
    let out = bin(dir)
        .args(["token", "create", "--station", station, "--role", role, "--data-dir"])
        .arg(data)
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

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn read_all_files(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(read_all_files(&path));
        } else {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

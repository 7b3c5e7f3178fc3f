//! The shipped binary as operators use it: check-config (partial files, `--show`), tokens offline
//! and through a running server, serving on embedded defaults, SIGKILL and SIGTERM of a real
//! server process, plus the tidy check on module headers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use returns_edge::store::{TokenAction, TokenActor};
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
fn check_config_takes_a_partial_file_and_show_names_where_each_value_came_from_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.toml");
    std::fs::write(
        &file,
        "# dock west: only what differs\n[server]\nlisten = \"0.0.0.0:8080\"\n\n[[sinks]]\nname = \"odoo\"\n\
         kind = \"odoo\"\n[sinks.odoo]\nurl = \"https://edge:hunter2@erp.example.com\"\ndatabase = \"production\"\n\
         login = \"returns-edge\"\nsecret_env = \"ODOO_SECRET\"\n",
    )
    .unwrap();
    let out = bin(dir.path())
        .args(["check-config", "--show", "--data-dir", "/srv/returns-edge"])
        .arg(&file)
        .env("RETURNS_EDGE_LOG_LEVEL", "debug")
        .env("ODOO_SECRET", "the-odoo-password")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let source = |key: &str| {
        let line = shown
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("{key} is not shown:\n{shown}"));
        line.rsplit("# ").next().unwrap().to_owned()
    };
    assert_eq!(source("site"), "default", "the file has no site: the default one");
    assert_eq!(source("listen"), format!("file {}:3", file.display()));
    assert_eq!(source("level"), "env RETURNS_EDGE_LOG_LEVEL");
    assert_eq!(source("data_dir"), "flag --data-dir");
    assert_eq!(source("secret_env"), format!("file {}:12", file.display()));
    assert!(shown.contains("secret_env = \"ODOO_SECRET\""), "{shown}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("the-odoo-password"),
        "a secret is shown:\n{shown}"
    );

    // Partial or not, a typo is refused with its line and key.
    std::fs::write(&file, "[server]\nlisten = \"0.0.0.0:8080\"\nrate_limit_brust = 5\n").unwrap();
    let out = bin(dir.path()).arg("check-config").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("line 3") && stderr.contains("server.rate_limit_brust"),
        "{stderr}"
    );
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
async fn tokens_are_managed_through_the_running_server_and_a_revoked_one_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = create_token(dir.path(), &data, "hq", "admin");
    let admin_id = admin.split('_').nth(1).unwrap().to_owned();
    let server = Server::start(dir.path(), &data);
    let url = format!("http://{}", server.addr);

    // The server holds the store: the offline path refuses and says how to do it instead.
    let out = bin(dir.path())
        .args([
            "token",
            "create",
            "--station",
            "dock-1",
            "--role",
            "receiver",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--server"), "{stderr}");

    // Through the server, the admin token from the environment: no downtime.
    let out = bin(dir.path())
        .args([
            "token",
            "create",
            "--station",
            "dock-1",
            "--role",
            "receiver",
            "--server",
            &url,
        ])
        .env("RETURNS_EDGE_TOKEN", &admin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = last_line(&out.stdout);
    let id = token.split('_').nth(1).unwrap().to_owned();
    let secret = token.rsplit('_').next().unwrap().to_owned();
    assert_eq!(server.receive(&token, "k1", "L1").await.unwrap().0, 201);

    let list = token_cli(dir.path(), &["list", "--server", &url, "--token", &admin]);
    let row = list
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        row.contains("dock-1") && row.contains("receiver") && row.ends_with(" -"),
        "{row}"
    );
    assert!(!list.contains(&secret), "the list shows a secret");

    let revoked = token_cli(dir.path(), &["revoke", &id, "--server", &url, "--token", &admin]);
    assert_eq!(revoked.trim(), format!("revoked {id}"));
    // The very next request: no restart, no cache to expire.
    assert_eq!(server.receive(&token, "k2", "L2").await.unwrap().0, 401);
    let list = token_cli(dir.path(), &["list", "--server", &url, "--token", &admin]);
    let row = list.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(!row.ends_with(" -"), "not shown revoked: {row}");

    // Only an admin manages tokens; an unknown id is named.
    let other = bin(dir.path())
        .args([
            "token",
            "create",
            "--station",
            "dock-2",
            "--role",
            "supervisor",
            "--server",
            &url,
            "--token",
            &admin,
        ])
        .output()
        .unwrap();
    let supervisor = last_line(&other.stdout);
    let out = bin(dir.path())
        .args(["token", "list", "--server", &url, "--token", &supervisor])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("403") && stderr.contains("admin"),
        "{stderr}"
    );
    let out = bin(dir.path())
        .args(["token", "revoke", "000000000000", "--server", &url, "--token", &admin])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("no token with id 000000000000"),
        "{stderr}"
    );
    server.kill();

    // Each change and reading is in the audit trail, by whom; the refused listing is not.
    let store = returns_edge::store::Store::open(
        &data,
        &returns_edge::store::StoreOptions {
            cache_capacity_bytes: 8 << 20,
            site: None,
        },
    )
    .unwrap();
    let trail: Vec<String> = store
        .token_audit()
        .unwrap()
        .iter()
        .map(|record| {
            let by = match &record.by {
                TokenActor::Token { id, .. } if id.as_str() == admin_id => "admin".to_owned(),
                TokenActor::Token { id, .. } => id.to_string(),
                TokenActor::Cli { .. } => "cli".to_owned(),
            };
            let what = match &record.action {
                TokenAction::Created { station, role, .. } => format!("created {station} {role}"),
                TokenAction::Revoked { token } => format!("revoked {}", token.as_str() == id),
                TokenAction::Listed { tokens } => format!("listed {tokens}"),
            };
            format!("{by}: {what}")
        })
        .collect();
    assert_eq!(
        trail,
        [
            "cli: created hq admin",
            "admin: created dock-1 receiver",
            "admin: listed 2",
            "admin: revoked true",
            "admin: listed 2",
            "admin: created dock-2 supervisor",
        ]
    );
    store.close().unwrap();
}

#[tokio::test]
async fn only_an_admin_token_reaches_the_token_routes_whatever_the_request_carries() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = create_token(dir.path(), &data, "hq", "admin");
    let others: Vec<String> = ["receiver", "inspector", "supervisor"]
        .iter()
        .map(|role| create_token(dir.path(), &data, "dock-1", role))
        .collect();
    let server = Server::start(dir.path(), &data);
    let client = reqwest::Client::new();
    let base = format!("http://{}/v1/admin/tokens", server.addr);
    let valid = json!({ "station": "dock-3", "role": "receiver" }).to_string();
    let requests = [
        ("POST", base.clone(), "application/json", valid.clone()),
        ("POST", base.clone(), "application/json", "{\"station\": ".to_owned()),
        (
            "POST",
            base.clone(),
            "application/json",
            json!({ "station": 5, "colour": "red" }).to_string(),
        ),
        ("POST", base.clone(), "text/plain", valid.clone()),
        ("GET", base.clone(), "", String::new()),
        ("DELETE", format!("{base}/000000000000"), "", String::new()),
        ("DELETE", format!("{base}/not-a-token"), "", String::new()),
    ];
    let send = |method: &str, url: &str, content_type: &str, body: &str, bearer: Option<&str>| {
        let mut request = client.request(method.parse().unwrap(), url).body(body.to_owned());
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or_default())
        }
    };
    for (method, url, content_type, body) in &requests {
        for token in &others {
            let (status, problem) = send(method, url, content_type, body, Some(token)).await;
            assert_eq!(status, 403, "{method} {url} {body:?}: {problem}");
            assert_eq!(problem["field"], "Authorization", "{problem}");
        }
        for bearer in [None, Some("re1_nonsense")] {
            let (status, problem) = send(method, url, content_type, body, bearer).await;
            assert_eq!(status, 401, "{method} {url} {body:?} with {bearer:?}: {problem}");
        }
    }

    // The admin gets past authorization and meets the body's own checks, each naming its field.
    let (status, problem) = send("POST", &base, "application/json", "{\"station\": ", Some(&admin)).await;
    assert_eq!(status, 400, "{problem}");
    let bad = json!({ "station": "dock 3", "role": "receiver" }).to_string();
    let (status, problem) = send("POST", &base, "application/json", &bad, Some(&admin)).await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("station")), "{problem}");
    let bad = json!({ "station": "dock-3", "role": "boss" }).to_string();
    let (status, problem) = send("POST", &base, "application/json", &bad, Some(&admin)).await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("role")), "{problem}");
    let (status, problem) = send("DELETE", &format!("{base}/000000000000"), "", "", Some(&admin)).await;
    assert_eq!((status, problem["field"].as_str()), (404, Some("id")), "{problem}");
    let (status, created) = send("POST", &base, "application/json", &valid, Some(&admin)).await;
    assert_eq!(status, 201, "{created}");
    assert!(created["token"].as_str().unwrap().starts_with("re1_"), "{created}");
    let (status, listed) = send("GET", &base, "", "", Some(&admin)).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 5, "{listed}");
    assert!(listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t.get("token").is_none()));
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

/// The outbox and dead-letter commands work against a running server (no downtime), with the
/// server's own authorization: a receiver token may not read dead letters.
#[tokio::test]
async fn outbox_and_dead_letter_commands_work_through_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let supervisor = create_token(dir.path(), &data, "hq", "supervisor");
    let receiver = create_token(dir.path(), &data, "dock-1", "receiver");
    let server = Server::start(dir.path(), &data);
    let url = format!("http://{}", server.addr);
    let run = |args: &[&str], token: &str| {
        bin(dir.path())
            .args(args)
            .args(["--server", &url])
            .env("RETURNS_EDGE_TOKEN", token)
            .output()
            .unwrap()
    };

    let out = run(&["outbox", "status"], &supervisor);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("(no sinks configured)"),
        "{stdout}"
    );
    let out = run(&["dead-letters", "list"], &supervisor);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("no dead letters"), "{stdout}");

    let out = run(&["dead-letters", "replay", "odoo:7"], &supervisor);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("404"), "{stderr}");
    let out = run(
        &["dead-letters", "discard", "odoo:7", "--note", "booked by hand"],
        &supervisor,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("404"), "{stderr}");

    let out = run(&["dead-letters", "list"], &receiver);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("403"), "{stderr}");
    server.kill();
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

/// Runs `returns-edge token ARGS`, expecting success; its stdout.
fn token_cli(dir: &Path, args: &[&str]) -> String {
    let out = bin(dir).arg("token").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "token {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn last_line(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .last()
        .unwrap_or_default()
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

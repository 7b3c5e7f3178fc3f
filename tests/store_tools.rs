//! Store tools as operators use them, through the real binary: `store backup` (offline and from a
//! serving server), `store restore` (checksum, non-empty target, round trip to identical trees and
//! identical answers) and `store check` (clean on real writes, after concurrent backups and after
//! SIGKILLs; each corruption reported with its key and exit code 1).

#[path = "store/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use returns_edge::domain::{CaseId, Role, StationId};
use returns_edge::sinks::SinkKind;
use returns_edge::store::{Store, StoreOptions};
use serde_json::{json, Value};
use support::Harness;

const BIN: &str = env!("CARGO_BIN_EXE_returns-edge");
const SITE: &str = "site-a";
const TREES: [&str; 9] = [
    "meta",
    "tokens",
    "events",
    "cases",
    "case_events",
    "idempotency",
    "outbox",
    "dead_letters",
    "settled",
];

type Dump = BTreeMap<&'static str, Vec<(Vec<u8>, Vec<u8>)>>;

fn bin() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("RETURNS_EDGE_CONFIG")
        .env_remove("RETURNS_EDGE_TOKEN")
        .env("RETURNS_EDGE_SITE", SITE)
        .env("NO_COLOR", "1")
        // Writers here hammer the server from one token; the per-station limit is not under test.
        .env("RETURNS_EDGE_SERVER_RATE_LIMIT_PER_SECOND", "100000")
        .env("RETURNS_EDGE_SERVER_RATE_LIMIT_BURST", "100000");
    cmd
}

fn run(args: &[&str], paths: &[&Path]) -> Output {
    let mut cmd = bin();
    cmd.args(args);
    for p in paths {
        cmd.arg(p);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn backup(data: &Path, file: &Path) {
    let out = run(&["store", "backup", "--data-dir"], &[data, file]);
    assert!(out.status.success(), "{}", text(&out));
}

fn restore(data: &Path, file: &Path, force: bool) -> Output {
    let mut args = vec!["store", "restore"];
    if force {
        args.push("--force");
    }
    args.push("--data-dir");
    run(&args, &[data, file])
}

fn check(data: &Path, config: Option<&Path>) -> Output {
    let mut cmd = bin();
    cmd.args(["store", "check", "--data-dir"]).arg(data);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.output().unwrap()
}

/// Opens a closed store with raw sled. The threads of a store dropped a moment ago (or of a
/// child that just exited) may still hold the directory lock for a while on a loaded machine,
/// so the lock is waited for, as `Store::open` does; no flusher thread keeps it after the drop.
fn raw_sled(data: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match sled::Config::new().path(data).flush_every_ms(None).open() {
            Ok(db) => return db,
            Err(e) if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("cannot open {} with raw sled: {e}", data.display()),
        }
    }
}

/// Every record of every tree, read with raw sled (the store must be closed).
fn dump(data: &Path) -> Dump {
    let db = raw_sled(data);
    let mut out = Dump::new();
    for tree in TREES {
        let records = db
            .open_tree(tree)
            .unwrap()
            .iter()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect();
        out.insert(tree, records);
    }
    out
}

/// A store built by real writes: three cases at different stages, one odoo entry settled, one
/// nats entry dead-lettered, and an admin token. Returns the case ids and the token.
fn build_store(data: &Path) -> (Vec<CaseId>, String) {
    let h = Harness::open(data);
    let mut cases = Vec::new();
    for i in 0..3u16 {
        let received = h.receive(&format!("r{i}"), &format!("LABEL-{i}"), 2).unwrap();
        assert!(!received.replayed && received.seq > 0);
        if i > 0 {
            h.inspect(&format!("i{i}"), received.case_id, 1, "B").unwrap();
        }
        if i > 1 {
            h.dispose(&format!("d{i}"), received.case_id, 1, "restock").unwrap();
        }
        cases.push(received.case_id);
    }
    let store = h.ingest.store();
    let first = store.outbox_entry("odoo", 1).unwrap().unwrap();
    store.settle_delivered("odoo", &first, 1000).unwrap();
    let nats = store.outbox_entry("nats", 2).unwrap().unwrap();
    store.dead_letter("nats", &nats, "rejected in a test", 1000).unwrap();
    let token = returns_edge::tokens::create(store, StationId::parse("dock-1").unwrap(), Role::Admin, 1000)
        .unwrap()
        .token;
    store.close().unwrap();
    (cases, token)
}

fn odoo_config(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("odoo.toml");
    std::fs::write(
        &file,
        format!(
            "site = \"{SITE}\"\n[[sinks]]\nname = \"odoo\"\nkind = \"odoo\"\n[sinks.odoo]\nurl = \"http://127.0.0.1:9\"\n\
             database = \"d\"\nlogin = \"a\"\nsecret_env = \"RETURNS_EDGE_TEST_UNUSED\"\n"
        ),
    )
    .unwrap();
    file
}

#[tokio::test]
async fn backup_then_restore_gives_identical_trees_and_the_same_case_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, file) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("site.backup"),
    );
    let (cases, token) = build_store(&a);
    backup(&a, &file);
    let out = restore(&b, &file, false);
    assert!(out.status.success(), "{}", text(&out));
    let original = dump(&a);
    assert_eq!(original, dump(&b), "restored trees differ from the original");
    assert!(original["events"].len() >= 6 && original["settled"].len() == 1 && original["dead_letters"].len() == 1);
    let out = check(&b, None);
    assert!(out.status.success(), "{}", text(&out));

    let mut answers = Vec::new();
    for data in [&a, &b] {
        let server = Server::start(data);
        let client = reqwest::Client::new();
        let mut views = Vec::new();
        for case in &cases {
            let res = client
                .get(format!("http://{}/v1/cases/{case}", server.addr))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            views.push(res.json::<Value>().await.unwrap());
        }
        answers.push(views);
        server.kill();
    }
    assert_eq!(answers[0], answers[1]);
}

#[test]
fn the_offline_backup_is_verified_before_it_takes_its_name_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (a, file) = (dir.path().join("a"), dir.path().join("site.backup"));
    build_store(&a);
    // `FILE.partial` is the temporary name: a neighbour called `site.partial` is not touched.
    let neighbour = dir.path().join("site.partial");
    std::fs::write(&neighbour, "not ours").unwrap();
    let out = run(&["store", "backup", "--data-dir"], &[&a, &file]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("verified and written to") && stdout.contains(&file.display().to_string()),
        "{}",
        text(&out)
    );
    assert!(
        !dir.path().join("site.backup.partial").exists(),
        "the temporary file was left behind"
    );
    assert_eq!(std::fs::read_to_string(&neighbour).unwrap(), "not ours");
    let summary = returns_edge::store::backup::verify_file(&file).unwrap();
    assert!(summary.records > 0 && stdout.contains(&format!("{} records", summary.records)));
}

#[test]
fn a_backup_with_one_corrupted_byte_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (a, file) = (dir.path().join("a"), dir.path().join("site.backup"));
    build_store(&a);
    backup(&a, &file);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let restored = dir.path().join("restored");
    let before: BTreeSet<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = restore(&restored, &file, false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum"),
        "{}",
        text(&out)
    );
    let after: BTreeSet<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "a refused restore left something behind");

    // Truncated is refused the same way.
    std::fs::write(&file, &bytes[..middle]).unwrap();
    let out = restore(&restored, &file, false);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum"),
        "{}",
        text(&out)
    );
    assert!(!restored.exists());
}

#[test]
fn restore_into_a_non_empty_store_refuses_without_force_and_replaces_it_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let (a, other, file) = (
        dir.path().join("a"),
        dir.path().join("other"),
        dir.path().join("a.backup"),
    );
    build_store(&a);
    backup(&a, &file);
    {
        let h = Harness::open(&other);
        h.receive("x", "OTHER-LABEL", 1).unwrap();
        h.ingest.store().close().unwrap();
    }
    let untouched = dump(&other);
    let out = restore(&other, &file, false);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{}",
        text(&out)
    );
    assert_eq!(dump(&other), untouched, "a refused restore changed the store");

    let out = restore(&other, &file, true);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dump(&other), dump(&a));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn store_check_is_clean_on_real_writes_and_names_each_corrupted_key() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let (cases, _) = build_store(&a);
    let config = odoo_config(dir.path());
    let out = check(&a, Some(&config));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 problem(s)") && stdout.contains("events 6,"),
        "{stdout}"
    );

    // Corrupt three records with raw sled: an index entry, a pending outbox entry, a case value.
    let index_key = [cases[0].as_bytes().as_slice(), &1u64.to_be_bytes()].concat();
    let mut outbox_key = b"odoo\0".to_vec();
    outbox_key.extend_from_slice(&2u64.to_be_bytes()); // case 1's receipt, still pending
    {
        let db = raw_sled(&a);
        assert!(db
            .open_tree("case_events")
            .unwrap()
            .remove(&index_key)
            .unwrap()
            .is_some());
        assert!(db.open_tree("outbox").unwrap().remove(&outbox_key).unwrap().is_some());
        db.open_tree("cases")
            .unwrap()
            .insert(cases[2].as_bytes(), &b"\xc1garbage"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let out = check(&a, Some(&config));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        format!("problem: case_events {}", hex::encode(&index_key)),
        format!("problem: outbox {}", hex::encode(&outbox_key)),
        format!("problem: cases {}", hex::encode(cases[2].as_bytes())),
    ] {
        assert!(stdout.contains(&expected), "missing `{expected}` in:\n{stdout}");
    }
    assert!(stdout.contains("3 problem(s)"), "{stdout}");

    // The library report says the same, with both sinks' kinds.
    let store = Store::open(
        &a,
        &StoreOptions {
            cache_capacity_bytes: 8 << 20,
            site: None,
        },
    )
    .unwrap();
    let sinks: Vec<(String, SinkKind)> = support::sinks()
        .into_iter()
        .map(|s| (s.name.as_str().to_owned(), s.kind))
        .collect();
    let report = store.check(&sinks).unwrap();
    let trees: Vec<&str> = report.problems.iter().map(|p| p.tree).collect();
    assert_eq!(trees, ["cases", "case_events", "outbox"], "{report}");
    assert!(report.notes.is_empty(), "{report}");
    store.close().unwrap();

    // No store at all: exit code 2.
    let out = check(&dir.path().join("nothing"), None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_over_http_during_concurrent_writes_restores_to_a_store_check_finds_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, file) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("live.backup"),
    );
    let admin = create_token(&a, "admin");
    let receiver = create_token(&a, "receiver");
    let server = Server::start(&a);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (addr, token, stop, acked) = (server.addr.clone(), admin.clone(), stop.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("w{w}-{i}");
                let (status, body) = post_parcel(&client, &addr, &token, &key).await.unwrap();
                assert_eq!(status, 201, "{body}");
                acked.lock().unwrap().push(key);
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let acked_before: Vec<String> = acked.lock().unwrap().clone();
    let url = format!("http://{}", server.addr);
    let mut cmd = bin();
    cmd.args(["store", "backup", "--server", &url])
        .arg(&file)
        .env("RETURNS_EDGE_TOKEN", &admin);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let res = reqwest::Client::new()
        .get(format!("{url}/v1/admin/backup"))
        .bearer_auth(&receiver)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "only admins may download a backup");
    server.kill();
    assert!(
        acked_before.len() > 10,
        "too few writes before the backup: {}",
        acked_before.len()
    );
    assert!(
        acked.lock().unwrap().len() > acked_before.len(),
        "writes should go on while the backup is taken"
    );

    let out = restore(&b, &file, false);
    assert!(out.status.success(), "{}", text(&out));
    let out = check(&b, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let store = Store::open(
        &b,
        &StoreOptions {
            cache_capacity_bytes: 8 << 20,
            site: None,
        },
    )
    .unwrap();
    let station = StationId::parse("dock-1").unwrap();
    for key in &acked_before {
        let record = store.idempotency_record(&station, key).unwrap();
        let record = record.unwrap_or_else(|| panic!("{key} acknowledged before the backup is missing"));
        assert!(store.event(record.seq).unwrap().is_some());
    }
    store.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_check_is_clean_after_a_burst_of_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let token = create_token(&a, "admin");
    let mut acked = 0;
    for round in 0..6u64 {
        let server = Server::start(&a);
        let mut tasks = Vec::new();
        for w in 0..6 {
            let (addr, token) = (server.addr.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut n = 0;
                for i in 0.. {
                    let key = format!("r{round}-w{w}-{i}");
                    match post_parcel(&client, &addr, &token, &key).await {
                        Ok((201, _)) => n += 1,
                        Ok((status, body)) => panic!("unexpected {status}: {body}"),
                        Err(_) => break, // killed
                    }
                    if i % 2 == 1 {
                        // Some inspections too, so that projections are folds of several events.
                        let _ = inspect_last(&client, &addr, &token, &key).await;
                    }
                }
                n
            }));
        }
        tokio::time::sleep(Duration::from_millis(80 + 45 * round)).await;
        server.kill();
        for t in tasks {
            acked += t.await.unwrap();
        }
    }
    assert!(acked > 20, "too few acknowledged writes: {acked}");
    let out = check(&a, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 problem(s)"));
}

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let mut child = bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listen=").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server did not report its address");
        Server { child, addr }
    }

    fn kill(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

fn create_token(data: &Path, role: &str) -> String {
    let out = run(
        &["token", "create", "--station", "dock-1", "--role", role, "--data-dir"],
        &[data],
    );
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

async fn post_parcel(client: &reqwest::Client, addr: &str, token: &str, key: &str) -> reqwest::Result<(u16, Value)> {
    let res = client
        .post(format!("http://{addr}/v1/parcels"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({ "station": "dock-1", "label": key, "lines": [{"sku": "SKU-1", "qty": 2}] }))
        .send()
        .await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await?))
}

/// Inspects line 1 of the case the parcel `key` created (its answer is replayed by the key).
async fn inspect_last(client: &reqwest::Client, addr: &str, token: &str, key: &str) -> reqwest::Result<u16> {
    let (_, answer) = post_parcel(client, addr, token, key).await?;
    let case = answer["case_id"].as_str().unwrap_or_default().to_owned();
    let res = client
        .post(format!("http://{addr}/v1/cases/{case}/inspections"))
        .bearer_auth(token)
        .header("Idempotency-Key", format!("{key}-i"))
        .json(&json!({ "station": "dock-1", "line": 1, "grade": "A" }))
        .send()
        .await?;
    Ok(res.status().as_u16())
}

#[test]
fn store_archive_prunes_closed_delivered_cases_into_a_gzip_file_standard_tools_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (delivered, pending) = {
        let h = Harness::open(&data);
        let mut closed = Vec::new();
        for n in 0..2 {
            let case = h.receive(&format!("r{n}"), &format!("LABEL-{n}"), 1).unwrap().case_id;
            h.inspect(&format!("i{n}"), case, 1, "A").unwrap();
            h.dispose(&format!("d{n}"), case, 1, "restock").unwrap();
            h.close(&format!("c{n}"), case).unwrap();
            closed.push(case);
        }
        let store = h.ingest.store();
        for sink in ["odoo", "nats"] {
            for entry in store.outbox_entries(sink).unwrap() {
                if entry.case_id == closed[0] {
                    store.settle_delivered(sink, &entry, 1000).unwrap();
                }
            }
        }
        store.close().unwrap();
        (closed[0], closed[1])
    };

    let out = run(&["store", "archive", "--data-dir"], &[&data]);
    assert!(
        !out.status.success() && text(&out).contains("store.retention_days"),
        "retention is off by default: {}",
        text(&out)
    );
    let out = run(&["store", "archive", "--older-than", "0", "--data-dir"], &[&data]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("archived 1 case(s) with 4 event(s)"),
        "{}",
        text(&out)
    );
    let files: Vec<_> = std::fs::read_dir(data.join("archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].to_string_lossy().ends_with(".jsonl.gz"));

    // gzip and a JSON parser are all it takes to read an archive.
    let unzipped = Command::new("gzip").arg("-dc").arg(&files[0]).output().unwrap();
    assert!(unzipped.status.success());
    let lines: Vec<Value> = String::from_utf8(unzipped.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["header", "event", "event", "event", "event", "case"]);
    assert_eq!(lines[0]["site"], SITE);
    assert!(lines[1..5]
        .iter()
        .all(|l| l["record"]["case_id"] == delivered.to_string()));
    assert_eq!(lines[5]["case"]["closed"], true);

    let out = check(&data, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("may be archived"),
        "{}",
        text(&out)
    );
    let store = Store::open(
        &data,
        &StoreOptions {
            cache_capacity_bytes: 4 << 20,
            site: None,
        },
    )
    .unwrap();
    assert!(store.case(delivered).unwrap().is_none());
    assert_eq!(
        store.case_events(pending).unwrap().len(),
        4,
        "the undelivered case stays whole"
    );
    store.close().unwrap();
}

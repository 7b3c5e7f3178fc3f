//! Store promises: reopen keeps everything, group commit shares fsyncs, versions and sites are
//! guarded, and a SIGKILL at any moment loses nothing that was acknowledged.

mod crash;
mod model;
mod retention;
mod support;

use std::sync::atomic::Ordering;

use returns_edge::domain::{CaseState, SiteId};
use returns_edge::store::{Store, StoreError, StoreOptions};
use support::*;

#[test]
fn reopening_the_store_keeps_every_event_case_and_outbox_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (case_id, seqs) = {
        let h = Harness::open(dir.path());
        let received = h.receive("K1", "LABEL-1", 2).unwrap();
        let inspected = h.inspect("K2", received.case_id, 1, "B").unwrap();
        let disposed = h.dispose("K3", received.case_id, 1, "restock").unwrap();
        h.ingest.store().close().unwrap();
        (received.case_id, vec![received.seq, inspected.seq, disposed.seq])
    };
    let h = Harness::open(dir.path());
    let store = h.ingest.store();
    assert_eq!(store.last_seq(), 3);
    let case = store.case(case_id).unwrap().expect("case survives reopen");
    assert_eq!(case.state(), CaseState::Disposed);
    let events = store.case_events(case_id).unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
    // odoo wants the receipt and the disposition; nats wants all three.
    assert_eq!(
        store
            .outbox_entries("odoo")
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(store.outbox_entries("nats").unwrap().len(), 3);
    // A retry after the restart is answered from the stored record, without a new event.
    let again = h.receive("K1", "LABEL-1", 2).unwrap();
    assert!(again.replayed);
    assert_eq!(again.seq, 1);
    assert_eq!(store.last_seq(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_writes_share_far_fewer_than_sixty_four_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let store = h.ingest.store().clone();
    let before = store.sync_stats().syncs.load(Ordering::Relaxed);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let ingest = h.ingest.clone();
        let caller = h.caller.clone();
        tasks.push(tokio::spawn(async move {
            ingest
                .execute(receive_write(&caller, &format!("k{i}"), &format!("L{i}"), 1))
                .await
        }));
    }
    for task in tasks {
        let accepted = task.await.unwrap().unwrap();
        assert_eq!(accepted.status, 201);
    }
    let syncs = store.sync_stats().syncs.load(Ordering::Relaxed) - before;
    println!(
        "64 concurrent acknowledged writes took {syncs} fsyncs ({:.3} per write)",
        syncs as f64 / 64.0
    );
    assert_eq!(store.last_seq(), 64);
    assert!(syncs >= 1, "an acknowledged write must have been synced");
    assert!(
        syncs <= 16,
        "group commit should share syncs; got {syncs} for 64 writes"
    );
}

#[test]
fn every_acknowledged_write_waited_for_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let store = h.ingest.store().clone();
    let before = store.sync_stats().syncs.load(Ordering::Relaxed);
    for i in 0..5 {
        h.receive(&format!("k{i}"), "L", 1).unwrap();
    }
    // Sequential writers cannot share: one sync each, never zero.
    assert_eq!(store.sync_stats().syncs.load(Ordering::Relaxed) - before, 5);
}

#[test]
fn a_store_from_a_newer_schema_is_refused_with_instructions() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        let meta = db.open_tree("meta").unwrap();
        let record = rmp_serde::to_vec_named(&serde_json::json!({"v": 1, "data": {"SchemaVersion": 99}})).unwrap();
        meta.insert("schema_version", record).unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path(), &options("site-a")).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("Install the newer returns-edge"), "{err}");
}

#[test]
fn a_store_is_never_served_under_another_sites_name() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path(), &options("site-a")).unwrap().close().unwrap();
    let err = Store::open(dir.path(), &options("site-b")).unwrap_err();
    assert!(err.to_string().contains("belongs to site `site-a`"), "{err}");
}

#[test]
fn a_second_process_cannot_open_a_store_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path(), &options("site-a")).unwrap();
    // sled's lock is per process file description; a child process shows the real situation.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_returns-edge"))
        .args(["token", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already running"), "{stderr}");
}

#[test]
fn a_refused_command_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let received = h.receive("K1", "L", 1).unwrap();
    let sizes = h.ingest.store().tree_sizes();
    assert!(
        h.dispose("K2", received.case_id, 1, "restock").is_err(),
        "nothing inspected yet"
    );
    assert!(h.inspect("K3", received.case_id, 9, "A").is_err(), "no line 9");
    assert_eq!(h.ingest.store().tree_sizes(), sizes);
}

fn options(site: &str) -> StoreOptions {
    StoreOptions {
        cache_capacity_bytes: 8 << 20,
        site: Some(SiteId::parse(site).unwrap()),
    }
}

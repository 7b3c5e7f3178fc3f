//! Retention on a real sled store: only closed cases whose every entry is settled go, the archive
//! holds exactly what was pruned and decodes, `store check` stays clean, sequence numbers are
//! never reused, and a run interrupted between writing its archive and pruning is finished by the
//! next one without losing or duplicating an event.

use std::path::{Path, PathBuf};

use returns_edge::domain::CaseId;
use returns_edge::store::retention::{archive_file_name, read_archive, RetentionRun};
use returns_edge::store::Store;

use super::support::{sinks, Harness};

/// A case walked to `closed`: receipt, inspection, disposition, close; returns its seqs.
fn closed_case(h: &Harness, n: u32) -> (CaseId, Vec<u64>) {
    let received = h.receive(&format!("r{n}"), &format!("LABEL-{n}"), 1).unwrap();
    let case = received.case_id;
    let inspected = h.inspect(&format!("i{n}"), case, 1, "A").unwrap();
    let disposed = h.dispose(&format!("d{n}"), case, 1, "restock").unwrap();
    let closed = h.close(&format!("c{n}"), case).unwrap();
    (case, vec![received.seq, inspected.seq, disposed.seq, closed.seq])
}

/// Moves every pending entry of `case` to `settled` as delivered, for every sink, except the
/// entry `keep` (sink, seq), which the sink rejects instead (a dead letter) when `reject` is set.
fn deliver(store: &Store, case: CaseId, keep: Option<(&str, u64)>, reject: bool) {
    for sink in sinks() {
        let sink = sink.name.as_str();
        for entry in store.outbox_entries(sink).unwrap() {
            if entry.case_id != case {
                continue;
            }
            if keep == Some((sink, entry.seq)) {
                if reject {
                    store.dead_letter(sink, &entry, "refused by the sink", 2).unwrap();
                }
                continue;
            }
            store.settle_delivered(sink, &entry, 1).unwrap();
        }
    }
    store.durable_blocking().unwrap();
}

/// A run for which every event and idempotency record is old enough.
fn everything_old(archive_dir: &Path) -> RetentionRun {
    let now = returns_edge::ingest::now_ms();
    RetentionRun {
        archive_dir: archive_dir.to_owned(),
        cutoff_ms: now + 1,
        now_ms: now,
    }
}

fn assert_check_clean(store: &Store) {
    let sinks: Vec<_> = sinks().iter().map(|s| (s.name.as_str().to_owned(), s.kind)).collect();
    let report = store.check(&sinks).unwrap();
    assert!(report.is_clean(), "{report}");
}

fn archived_seqs(files: &[PathBuf]) -> Vec<u64> {
    let mut seqs = Vec::new();
    for file in files {
        let (_, events, _) = read_archive(file).unwrap();
        seqs.extend(events.iter().map(|e| e.record.seq));
    }
    seqs.sort_unstable();
    seqs
}

#[test]
fn only_closed_fully_delivered_cases_go_and_the_archive_holds_exactly_them() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let h = Harness::open(&dir.path().join("store"));
    let store = h.ingest.store().clone();

    let (delivered, delivered_seqs) = closed_case(&h, 1);
    let (undelivered, undelivered_seqs) = closed_case(&h, 2);
    let (dead, dead_seqs) = closed_case(&h, 3);
    let open = h.receive("r4", "LABEL-4", 1).unwrap().case_id;
    let (delivered_too, delivered_too_seqs) = closed_case(&h, 5);
    deliver(&store, delivered, None, false);
    deliver(&store, delivered_too, None, false);
    deliver(&store, open, None, false);
    // Case 2: all delivered but its last event for nats, still pending.
    deliver(&store, undelivered, Some(("nats", undelivered_seqs[3])), false);
    // Case 3: all delivered but its receipt for odoo, which odoo refused.
    deliver(&store, dead, Some(("odoo", dead_seqs[0])), true);
    assert_eq!(store.dead_letters(None).unwrap().len(), 1);
    let kept: Vec<_> = [undelivered, dead, open]
        .iter()
        .map(|c| (store.case(*c).unwrap(), store.case_events(*c).unwrap()))
        .collect();

    let summary = store.archive(&everything_old(&archive)).unwrap();

    assert_eq!(summary.cases, 2, "{summary:?}");
    let mut pruned: Vec<u64> = delivered_seqs.iter().chain(&delivered_too_seqs).copied().collect();
    pruned.sort_unstable();
    assert_eq!(
        archived_seqs(&summary.files),
        pruned,
        "the archive holds exactly the pruned events"
    );
    assert_eq!(summary.events, pruned.len() as u64);
    for seq in &pruned {
        assert!(store.event(*seq).unwrap().is_none(), "event {seq} is pruned");
        assert!(
            store.delivery_status("nats", *seq).unwrap().is_none(),
            "its settled entry too"
        );
    }
    assert!(store.case(delivered).unwrap().is_none() && store.case(delivered_too).unwrap().is_none());
    for ((case, events), id) in kept.iter().zip([undelivered, dead, open]) {
        assert_eq!(&store.case(id).unwrap(), case, "case {id} is untouched");
        assert_eq!(
            &store.case_events(id).unwrap(),
            events,
            "the events of case {id} are untouched"
        );
    }
    assert_eq!(store.archived_up_to().unwrap(), *pruned.last().unwrap());
    // Every idempotency record was older than the cutoff: all of them went, kept cases' too.
    assert!(store.idempotency_record(&h.caller.station, "r1").unwrap().is_none());
    assert!(store.idempotency_record(&h.caller.station, "r2").unwrap().is_none());
    assert_eq!(summary.idempotency_records, 17);
    assert_check_clean(&store);

    // The archive decodes to the stored records, with deliveries and the final projection.
    let (header, events, cases) = read_archive(&summary.files[0]).unwrap();
    assert_eq!((header.format, header.cases, header.events), (1, 2, 8));
    assert_eq!(header.site.as_deref(), Some("site-a"));
    assert_eq!(events[0].record.case_id, delivered);
    assert_eq!(events[0].deliveries.keys().collect::<Vec<_>>(), ["nats", "odoo"]);
    assert_eq!(cases.len(), 2);
    assert!(cases.iter().all(|c| c.case.closed));
    assert_eq!(
        summary.files[0].file_name().unwrap().to_str().unwrap(),
        archive_file_name(pruned[0], *pruned.last().unwrap())
    );
}

#[test]
fn nothing_younger_than_the_cutoff_goes() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(&dir.path().join("store"));
    let store = h.ingest.store().clone();
    let (case, _) = closed_case(&h, 1);
    deliver(&store, case, None, false);
    let run = RetentionRun {
        cutoff_ms: returns_edge::ingest::now_ms() - 60_000,
        ..everything_old(&dir.path().join("archive"))
    };
    let summary = store.archive(&run).unwrap();
    assert_eq!((summary.cases, summary.idempotency_records), (0, 0), "{summary:?}");
    assert!(store.case(case).unwrap().is_some());
    assert_eq!(store.archived_up_to().unwrap(), 0);
}

#[test]
fn sequence_numbers_are_never_reused_after_the_newest_events_were_archived() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    {
        let h = Harness::open(&data);
        let store = h.ingest.store().clone();
        let (case, seqs) = closed_case(&h, 1);
        deliver(&store, case, None, false);
        store.archive(&everything_old(&dir.path().join("archive"))).unwrap();
        assert_eq!(store.archived_up_to().unwrap(), seqs[3]);
        assert!(store.events(0, 10).unwrap().is_empty());
        store.close().unwrap();
    }
    let h = Harness::open(&data);
    assert_eq!(h.ingest.store().last_seq(), 4);
    let next = h.receive("r-after", "LABEL-9", 1).unwrap();
    assert_eq!(next.seq, 5, "the first event after a reopen follows the archived ones");
    assert_check_clean(h.ingest.store());
}

#[test]
fn a_run_interrupted_before_its_prune_is_finished_once_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let archive = dir.path().join("archive");
    let first_seqs = {
        let h = Harness::open(&data);
        let store = h.ingest.store().clone();
        let (case, seqs) = closed_case(&h, 1);
        deliver(&store, case, None, false);
        // A directory where the archive file goes makes the rename fail: the run stops after its
        // intent is durable and before anything is pruned, as a crash there would.
        let name = archive_file_name(seqs[0], seqs[3]);
        std::fs::create_dir_all(archive.join(&name).join("blocker")).unwrap();
        let err = store.archive(&everything_old(&archive)).unwrap_err();
        assert!(err.to_string().contains(&name), "{err}");
        assert_eq!(store.case_events(case).unwrap().len(), 4, "nothing was pruned");
        let report = store.check(&[]).unwrap();
        assert!(report.is_clean(), "{report}");
        assert!(report.to_string().contains("was interrupted"), "{report}");
        store.close().unwrap();
        // What a crash after the rename but before the prune would leave: a file of that name.
        std::fs::remove_dir_all(archive.join(&name)).unwrap();
        std::fs::write(archive.join(&name), b"left over by the interrupted run").unwrap();
        seqs
    };

    // After a restart, a second case became archivable: the redo must not mix it into the first
    // batch's file, and no event may end up in two files or none.
    let h = Harness::open(&data);
    let store = h.ingest.store().clone();
    let (second, second_seqs) = closed_case(&h, 2);
    deliver(&store, second, None, false);
    let summary = store.archive(&everything_old(&archive)).unwrap();
    assert_eq!(summary.files.len(), 2, "{summary:?}");
    assert_eq!(
        summary.files[0],
        archive.join(archive_file_name(first_seqs[0], first_seqs[3])),
        "the interrupted batch is redone first, under its own name, replacing the leftover"
    );
    let (_, first_events, _) = read_archive(&summary.files[0]).unwrap();
    assert_eq!(
        first_events.iter().map(|e| e.record.seq).collect::<Vec<_>>(),
        first_seqs
    );
    let all: Vec<u64> = first_seqs.iter().chain(&second_seqs).copied().collect();
    assert_eq!(archived_seqs(&summary.files), all, "every event once, none twice");
    assert!(store.events(0, 100).unwrap().is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the redo replaced the interrupted run's partial file: {leftovers:?}"
    );
    let report = store.check(&[]).unwrap();
    assert!(
        report.is_clean() && !report.to_string().contains("was interrupted"),
        "{report}"
    );
}

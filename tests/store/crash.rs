//! Crash test: this test binary re-executes itself as a child that writes through the real ingest
//! path and reports each acknowledged write on stdout; the parent SIGKILLs it at a random moment,
//! reopens the store and checks that every acknowledged write is there exactly once with its
//! outbox entries, and that no event (acknowledged or not) is missing its case or outbox entries.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use returns_edge::domain::{CaseEvent, CaseId};
use returns_edge::store::Store;

use crate::support::{sinks, Harness};

const CHILD_DIR: &str = "RETURNS_EDGE_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "RETURNS_EDGE_CRASH_CHILD_ROUND";
const WRITERS: usize = 8;

/// The child's body. In a normal test run the variable is unset and this returns at once.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let round: u32 = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let h = std::sync::Arc::new(Harness::open(Path::new(&dir)));
    println!("ready");
    let deadline = Instant::now() + Duration::from_secs(20);
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let h = h.clone();
            std::thread::spawn(move || {
                let mut i = 0u32;
                while Instant::now() < deadline {
                    let key = format!("r{round}-w{w}-{i}");
                    let received = h.receive(&format!("{key}-r"), &key, 2).unwrap();
                    ack(&format!("{key}-r"), received.seq, received.case_id);
                    let inspected = h.inspect(&format!("{key}-i"), received.case_id, 1, "A").unwrap();
                    ack(&format!("{key}-i"), inspected.seq, received.case_id);
                    let disposed = h.dispose(&format!("{key}-d"), received.case_id, 1, "restock").unwrap();
                    ack(&format!("{key}-d"), disposed.seq, received.case_id);
                    i += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn ack(key: &str, seq: u64, case: CaseId) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ack {key} {seq} {case}").unwrap();
    out.flush().unwrap();
}

#[test]
fn acknowledged_writes_survive_sigkill_at_random_moments() {
    if std::env::var(CHILD_DIR).is_ok() {
        return;
    }
    let rounds: u32 = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(50);
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    println!("crash test: {rounds} rounds, seed {seed} (replay with CRASH_SEED={seed})");
    let mut rng = XorShift(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut total_acks = 0usize;
    let mut checked_up_to = 0u64;
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash::crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.ends_with("ready") {
                    let _ = ready_tx.send(());
                } else if let Some(rest) = line.strip_prefix("ack ") {
                    let parts: Vec<&str> = rest.split(' ').collect();
                    // A line cut by the kill has fewer parts; it was never a complete ack.
                    if parts.len() == 3 {
                        acks.push((
                            parts[0].to_owned(),
                            parts[1].parse::<u64>().unwrap(),
                            parts[2].to_owned(),
                        ));
                    }
                }
            }
            acks
        });
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child did not start");
        std::thread::sleep(Duration::from_millis(rng.below(200) + 5));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        total_acks += acks.len();

        let h = Harness::open(dir.path());
        let store = h.ingest.store();
        for (key, seq, case) in &acks {
            let record = store
                .idempotency_record(&h.caller.station, key)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acknowledged {key} (seq {seq}) is lost"));
            assert_eq!(record.seq, *seq, "round {round}: {key} answered with another seq");
            let event = store
                .event(*seq)
                .unwrap()
                .unwrap_or_else(|| panic!("event {seq} of {key} is lost"));
            assert_eq!(event.case_id.to_string(), *case);
        }
        checked_up_to = check_invariants(store, checked_up_to, round);
        // A station retrying an acknowledged request after the crash gets the same answer.
        if let Some((key, seq, _)) = acks.iter().find(|(k, _, _)| k.ends_with("-r")) {
            let label = key.trim_end_matches("-r");
            let again = h.receive(key, label, 2).unwrap();
            assert!(
                again.replayed && again.seq == *seq,
                "round {round}: retry of {key} was not a replay"
            );
        }
        store.close().unwrap();
    }
    println!("crash test: {rounds} kills, {total_acks} acknowledged writes, all present exactly once");
    assert!(
        total_acks > rounds as usize,
        "the child should acknowledge writes before most kills"
    );
}

/// Checks every event after `after`: exactly once per label, with its case, index and outbox
/// entries. Returns the last sequence number checked.
fn check_invariants(store: &Store, after: u64, round: u32) -> u64 {
    let mut last = after;
    let mut labels: HashSet<String> = HashSet::new();
    let mut per_case: HashMap<CaseId, Vec<u64>> = HashMap::new();
    loop {
        let events = store.events(last, 1000).unwrap();
        if events.is_empty() {
            break;
        }
        for event in &events {
            last = event.seq;
            if let CaseEvent::ParcelReceived { label, .. } = &event.event {
                assert!(
                    labels.insert(label.to_string()),
                    "round {round}: parcel {label} recorded twice"
                );
            }
            assert!(
                store.case(event.case_id).unwrap().is_some(),
                "event {} has no case",
                event.seq
            );
            per_case.entry(event.case_id).or_default().push(event.seq);
            for sink in sinks() {
                let has = store.outbox_entry(sink.name.as_str(), event.seq).unwrap().is_some();
                assert_eq!(
                    has,
                    sink.kind.wants(event.event.kind()),
                    "round {round}: event {} and its {} outbox entry were not written together",
                    event.seq,
                    sink.name
                );
            }
        }
    }
    for (case, seqs) in per_case {
        let indexed: Vec<u64> = store.case_events(case).unwrap().iter().map(|e| e.seq).collect();
        for seq in seqs {
            assert!(
                indexed.contains(&seq),
                "round {round}: event {seq} missing from its case index"
            );
        }
        let projection = store.case(case).unwrap().unwrap();
        assert_eq!(
            projection.events as usize,
            indexed.len(),
            "round {round}: projection of {case} out of step"
        );
    }
    last
}

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

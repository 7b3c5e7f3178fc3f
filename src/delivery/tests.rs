//! Dispatcher tests against a scripted in-memory sink over a real store: ordering per case,
//! concurrency across cases, retries that never give up, dead letters that block their case until
//! replayed, sink-wide pauses lifted by a probe, and wake-up without polling (time is paused).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::config::SinkConfig;
use crate::domain::*;
use crate::ingest::{Ingest, Write};
use crate::sinks::{SinkKind, SinkName};
use crate::store::{DeliveryState, StoreOptions};
use crate::tokens::Caller;

#[derive(Clone, Default)]
struct Scripted {
    /// Outcomes to give, per sequence number, before answering Delivered.
    script: Arc<Mutex<HashMap<u64, VecDeque<Outcome>>>>,
    /// Every attempt, in order: (seq, outcome given).
    attempts: Arc<Mutex<Vec<(u64, Outcome)>>>,
    probe_ok: Arc<AtomicBool>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
    work: Duration,
    /// While closed, deliveries wait: lets a test pile up work without racing the dispatcher.
    gate: Option<Arc<tokio::sync::watch::Sender<bool>>>,
}

impl Scripted {
    fn then(&self, seq: u64, outcomes: impl IntoIterator<Item = Outcome>) {
        self.script.lock().unwrap().entry(seq).or_default().extend(outcomes);
    }

    fn delivered(&self) -> Vec<u64> {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, o)| *o == Outcome::Delivered)
            .map(|(s, _)| *s)
            .collect()
    }

    fn attempts_of(&self, seq: u64) -> usize {
        self.attempts.lock().unwrap().iter().filter(|(s, _)| *s == seq).count()
    }
}

impl Sink for Scripted {
    async fn deliver(&self, jobs: &mut [Job], _progress: &Progress) -> Vec<Outcome> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            let mut open = gate.subscribe();
            let _ = open.wait_for(|open| *open).await;
        }
        tokio::time::sleep(self.work).await;
        let mut out = Vec::new();
        for job in jobs.iter() {
            let seq = job.entry.seq;
            let outcome = self
                .script
                .lock()
                .unwrap()
                .get_mut(&seq)
                .and_then(VecDeque::pop_front)
                .unwrap_or(Outcome::Delivered);
            self.attempts.lock().unwrap().push((seq, outcome.clone()));
            out.push(outcome);
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        out
    }

    async fn probe(&self) -> Result<(), String> {
        if self.probe_ok.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("still down".into())
        }
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    ingest: Ingest,
    caller: Caller,
    sink: Scripted,
    handle: SinkHandle,
    n: u32,
}

async fn rig(work: Duration) -> Rig {
    rig_with(Scripted {
        work,
        ..Scripted::default()
    })
    .await
}

/// An ingest path over a temp store whose one sink, `test`, wants every event.
pub(super) fn temp_ingest() -> (tempfile::TempDir, Ingest) {
    let dir = tempfile::tempdir().unwrap();
    let site = SiteId::parse("s").unwrap();
    let store = Store::open(
        dir.path(),
        &StoreOptions {
            cache_capacity_bytes: 8 << 20,
            site: Some(site.clone()),
        },
    )
    .unwrap();
    let sinks = vec![SinkConfig {
        name: SinkName::parse("test").unwrap(),
        kind: SinkKind::Nats,
        odoo: None,
        refund: None,
    }];
    (dir, Ingest::new(store, site, Policy::default(), sinks))
}

pub(super) fn admin() -> Caller {
    Caller {
        token: TokenId::parse("t").unwrap(),
        station: StationId::parse("dock-1").unwrap(),
        role: Role::Admin,
    }
}

/// A parcel without RMA or lines: the smallest receipt.
pub(super) fn bare_receipt() -> Command {
    Command::Receive(ReceiveParcel {
        label: Barcode::parse("L").unwrap(),
        weight: None,
        scale: None,
        rma: None,
        lines: vec![],
        expected: None,
        expectations_known: false,
        received_at_ms: 0,
    })
}

async fn rig_with(sink: Scripted) -> Rig {
    let (dir, ingest) = temp_ingest();
    let options = DispatcherOptions {
        concurrency: 4,
        ..DispatcherOptions::default()
    };
    let (handle, _task) = spawn("test".into(), sink.clone(), ingest.store().clone(), options);
    Rig {
        _dir: dir,
        ingest,
        caller: admin(),
        sink,
        handle,
        n: 0,
    }
}

impl Rig {
    /// The sequence number the next write will get (every write here makes one event). Scripts
    /// must be in place before the write: the dispatcher picks an event up as soon as it is durable.
    fn next_seq(&self) -> u64 {
        u64::from(self.n) + 1
    }

    async fn write(&mut self, case: Option<CaseId>, command: Command) -> (CaseId, u64) {
        self.n += 1;
        let write = Write {
            caller: self.caller.clone(),
            idempotency_key: format!("k{}", self.n),
            fingerprint: format!("f{}", self.n),
            case,
            command,
        };
        let accepted = self.ingest.execute(write).await.unwrap();
        let body: serde_json::Value = serde_json::from_str(&accepted.body).unwrap();
        (
            CaseId::parse(body["case_id"].as_str().unwrap()).unwrap(),
            body["seq"].as_u64().unwrap(),
        )
    }

    async fn receive(&mut self) -> (CaseId, u64) {
        self.write(None, bare_receipt()).await
    }

    async fn inspect(&mut self, case: CaseId) -> u64 {
        let command = Command::Inspect(Inspect {
            line: LineNo::new(1).unwrap(),
            qty: None,
            grade: Grade::parse("A").unwrap(),
            conditions: vec![],
            serial: None,
            notes: None,
            corrects: None,
        });
        self.write(Some(case), command).await.1
    }

    /// Waits until `done` holds. Each round gives the real threads (writer, flusher) a moment of
    /// real time, then lets virtual time (paused) move on by at most 5 s, to the dispatcher's next
    /// timer if that comes first. Virtual time must not run ahead of real threads: a blocking
    /// task in flight keeps tokio from auto-advancing, so the two kinds of wait alternate.
    async fn until(&self, what: &str, mut done: impl FnMut(&Scripted) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while std::time::Instant::now() < deadline {
            if done(&self.sink) {
                return;
            }
            let _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(1))).await;
            if done(&self.sink) {
                return;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        panic!(
            "timed out waiting for: {what}; attempts: {:?}",
            self.sink.attempts.lock().unwrap()
        );
    }

    async fn paused(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.handle.status().paused.is_none() {
            assert!(std::time::Instant::now() < deadline, "the sink never paused");
            let _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(1))).await;
        }
    }

    fn state(&self, seq: u64) -> DeliveryState {
        self.ingest.store().delivery_status("test", seq).unwrap().unwrap().state
    }
}

#[tokio::test(start_paused = true)]
async fn every_durable_entry_is_delivered_once_and_settled() {
    let mut rig = rig(Duration::ZERO).await;
    let mut seqs = Vec::new();
    for _ in 0..10 {
        seqs.push(rig.receive().await.1);
    }
    rig.until("ten deliveries", |s| s.delivered().len() == 10).await;
    let mut delivered = rig.sink.delivered();
    delivered.sort();
    assert_eq!(delivered, seqs);
    for seq in seqs {
        assert_eq!(rig.state(seq), DeliveryState::Delivered);
    }
    assert_eq!(rig.ingest.store().sink_counts("test").unwrap().pending, 0);
}

#[tokio::test(start_paused = true)]
async fn a_case_is_delivered_in_order_while_other_cases_go_on() {
    // All three events exist before any delivery finishes: the gate holds the first attempts.
    let (gate, _) = tokio::sync::watch::channel(false);
    let gate = Arc::new(gate);
    let mut rig = rig_with(Scripted {
        gate: Some(gate.clone()),
        ..Scripted::default()
    })
    .await;
    rig.sink
        .then(rig.next_seq(), [Outcome::retry("flaky"), Outcome::retry("flaky")]);
    let (a, a1) = rig.receive().await;
    let a2 = rig.inspect(a).await;
    let (_, b1) = rig.receive().await;
    gate.send_replace(true);
    rig.until("all three", |s| s.delivered().len() == 3).await;
    let delivered = rig.sink.delivered();
    let pos = |seq| delivered.iter().position(|s| *s == seq).unwrap();
    assert!(pos(a1) < pos(a2), "the inspection overtook its receipt: {delivered:?}");
    assert!(pos(b1) < pos(a1), "case b waited for case a's retries: {delivered:?}");
    let attempts = rig.sink.attempts.lock().unwrap().clone();
    let first_a2 = attempts.iter().position(|(s, _)| *s == a2).unwrap();
    let last_a1 = attempts.iter().rposition(|(s, _)| *s == a1).unwrap();
    assert!(
        last_a1 < first_a2,
        "a2 was attempted before a1 was delivered: {attempts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn different_cases_are_delivered_concurrently_within_the_bound() {
    let (gate, _) = tokio::sync::watch::channel(false);
    let gate = Arc::new(gate);
    let mut rig = rig_with(Scripted {
        gate: Some(gate.clone()),
        ..Scripted::default()
    })
    .await;
    for _ in 0..12 {
        rig.receive().await;
    }
    rig.until("four deliveries running", |s| s.running.load(Ordering::SeqCst) == 4)
        .await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(rig.sink.max_running.load(Ordering::SeqCst), 4, "concurrency bound is 4");
    gate.send_replace(true);
    rig.until("twelve deliveries", |s| s.delivered().len() == 12).await;
    assert_eq!(rig.sink.max_running.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_backoff_and_never_given_up() {
    let mut rig = rig(Duration::ZERO).await;
    rig.sink
        .then(rig.next_seq(), (0..40).map(|_| Outcome::retry("connection refused")));
    let (_, seq) = rig.receive().await;
    let started = tokio::time::Instant::now();
    rig.until("delivered after 40 failures", |s| s.delivered() == vec![seq])
        .await;
    assert_eq!(rig.sink.attempts_of(seq), 41);
    // 40 retries capped at 5 min (±50%) take hours of (paused) time, not seconds.
    assert!(started.elapsed() > Duration::from_secs(3600), "{:?}", started.elapsed());
    assert_eq!(rig.state(seq), DeliveryState::Delivered);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_entry_blocks_its_case_until_replayed() {
    let mut rig = rig(Duration::ZERO).await;
    rig.sink
        .then(rig.next_seq(), [Outcome::reject("UserError: no such product")]);
    let (case, first) = rig.receive().await;
    rig.until("rejection", |s| s.attempts_of(first) == 1).await;
    let second = rig.inspect(case).await;
    let (_, other) = rig.receive().await;
    rig.until("other case delivered", |s| s.delivered().contains(&other))
        .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(rig.state(first), DeliveryState::DeadLettered);
    assert_eq!(
        rig.sink.attempts_of(second),
        0,
        "the later entry overtook the dead letter"
    );
    let letter = rig.ingest.store().dead_letter_record("test", first).unwrap().unwrap();
    assert!(letter.reason.contains("no such product"));

    assert!(rig.ingest.store().replay_dead_letter("test", first).unwrap());
    rig.handle.reload();
    rig.until("both delivered after replay", |s| {
        s.delivered().contains(&first) && s.delivered().contains(&second)
    })
    .await;
    let delivered = rig.sink.delivered();
    assert!(delivered.iter().position(|s| *s == first) < delivered.iter().position(|s| *s == second));
}

#[tokio::test(start_paused = true)]
async fn a_sink_wide_failure_pauses_the_sink_until_a_probe_succeeds() {
    let mut rig = rig(Duration::ZERO).await;
    rig.sink.then(
        rig.next_seq(),
        [Outcome::pause("AccessDenied: check the Odoo password")],
    );
    rig.receive().await;
    rig.paused().await;
    let (_, second) = rig.receive().await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let status = rig.handle.status();
    assert!(
        status
            .paused
            .as_ref()
            .is_some_and(|(why, _)| why.contains("AccessDenied")),
        "{status:?}"
    );
    assert_eq!(
        rig.sink.attempts_of(second),
        0,
        "a paused sink must not keep trying entries: {:?} {:?}",
        rig.sink.attempts.lock().unwrap(),
        rig.handle.status()
    );
    assert_eq!(
        rig.ingest.store().dead_letters(None).unwrap().len(),
        0,
        "a pause dead-letters nothing"
    );

    rig.sink.probe_ok.store(true, Ordering::SeqCst);
    rig.until("both delivered after the probe", |s| s.delivered().len() == 2)
        .await;
    assert!(rig.handle.status().paused.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_outage_of_days_drains_by_itself_once_the_sink_is_back() {
    let mut rig = rig(Duration::ZERO).await;
    rig.sink
        .then(rig.next_seq(), [Outcome::pause("Odoo unreachable: connection refused")]);
    let (_, first) = rig.receive().await;
    rig.paused().await;
    let mut backlog = vec![first];
    for _ in 0..20 {
        backlog.push(rig.receive().await.1);
    }
    // Three days of virtual time, an hour at a time; the probe keeps failing meanwhile.
    for _ in 0..72 {
        tokio::time::advance(Duration::from_secs(3600)).await;
        let _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(1))).await;
    }
    assert!(rig.handle.status().paused.is_some());
    assert_eq!(rig.sink.delivered().len(), 0);
    assert_eq!(
        rig.ingest.store().dead_letters(None).unwrap().len(),
        0,
        "an outage never dead-letters"
    );
    rig.sink.probe_ok.store(true, Ordering::SeqCst);
    rig.until("the whole backlog delivered", |s| s.delivered().len() == backlog.len())
        .await;
    for seq in backlog {
        assert_eq!(rig.state(seq), DeliveryState::Delivered);
    }
}

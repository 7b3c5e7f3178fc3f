//! The refund sink end to end: the real ingest path and store on disk, the real dispatcher
//! driving the real refund sink over loopback HTTP, and the fake receiver verifying every
//! signature and key (docs/architecture.md#refund-trigger-contract). Exactly one accepted decision
//! per key, replays after lost answers recognised, 409 delivered, 4xx dead-lettered, Retry-After
//! honoured, corrections linked.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use returns_edge::config::SinkConfig;
use returns_edge::delivery::retry::Schedule;
use returns_edge::delivery::{self, DispatcherOptions, SinkHandle};
use returns_edge::domain::*;
use returns_edge::ingest::{Ingest, Write};
use returns_edge::sinks::refund::{RefundConfig, RefundSink};
use returns_edge::sinks::{SinkKind, SinkName};
use returns_edge::store::{DeliveryState, Store, StoreOptions};
use returns_edge::tokens::Caller;
use returns_edge_fakes::refund::{FakeRefund, FakeRefundOptions, RefundFault, RefundFaultKind};
use serde_json::Value;

const FAST: Schedule = Schedule {
    initial: Duration::from_millis(20),
    max: Duration::from_millis(200),
    multiplier: 2.0,
    jitter: 0.5,
};

struct Rig {
    receiver: FakeRefund,
    _dir: tempfile::TempDir,
    key_file: PathBuf,
    store: Store,
    ingest: Ingest,
    handle: SinkHandle,
    _task: tokio::task::JoinHandle<()>,
    n: u32,
}

async fn rig() -> Rig {
    let receiver = FakeRefund::start(FakeRefundOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("refund-key");
    std::fs::write(&key_file, "returns-edge-refund-test-key\n").unwrap();
    let config: RefundConfig = toml::from_str(&format!(
        "url = \"{}\"\nsecret_file = \"{}\"\ntimeout_secs = 1\n",
        receiver.url(),
        key_file.display()
    ))
    .unwrap();
    config.validate().unwrap();
    let site = SiteId::parse("site-a").unwrap();
    let store = Store::open(
        &dir.path().join("data"),
        &StoreOptions {
            cache_capacity_bytes: 8 << 20,
            site: Some(site.clone()),
        },
    )
    .unwrap();
    let sinks = vec![SinkConfig {
        name: SinkName::parse("refunds").unwrap(),
        kind: SinkKind::Refund,
        odoo: None,
        refund: Some(config.clone()),
    }];
    let ingest = Ingest::new(store.clone(), site, Policy::default(), sinks);
    let options = DispatcherOptions {
        concurrency: 4,
        retry: FAST,
        probe: FAST,
    };
    let sink = RefundSink::new(config).unwrap();
    let (handle, task) = delivery::spawn("refunds".into(), sink, store.clone(), options);
    Rig {
        receiver,
        _dir: dir,
        key_file,
        store,
        ingest,
        handle,
        _task: task,
        n: 0,
    }
}

/// One 1 kg kettle at 100.00 EUR, delivered yesterday.
fn kettle() -> ExpectedReturn {
    let now = returns_edge::ingest::now_ms();
    ExpectedReturn {
        rma: RmaRef::parse("RMA-7").unwrap(),
        picking_id: 12,
        picking: "WH/IN/00012".into(),
        order: Some("S00042".into()),
        customer_ref: Some("PO-881".into()),
        customer: Some("Deco Addict".into()),
        delivery: Some("WH/OUT/00007".into()),
        delivered_at_ms: Some(now - 86_400_000),
        tracking: Vec::new(),
        currency: Some("EUR".into()),
        lines: vec![ExpectedLine {
            product_id: 5,
            sku: Some(Sku::parse("KETTLE").unwrap()),
            barcode: None,
            name: "Kettle".into(),
            qty: 1,
            serials: Vec::new(),
            serial_tracked: false,
            unit_weight_g: Some(1000),
            unit_price_minor: Some(10_000),
        }],
        write_date_ms: now,
    }
}

impl Rig {
    async fn write(&mut self, role: Role, case: Option<CaseId>, command: Command) -> Value {
        self.n += 1;
        let write = Write {
            caller: Caller {
                token: TokenId::parse("t").unwrap(),
                station: StationId::parse("dock-1").unwrap(),
                role,
            },
            idempotency_key: format!("k{}", self.n),
            fingerprint: format!("f{}", self.n),
            case,
            command,
        };
        let accepted = self.ingest.execute(write).await.expect("write accepted");
        serde_json::from_str(&accepted.body).unwrap()
    }

    async fn receive(&mut self, weight_g: u32) -> CaseId {
        let body = self
            .write(
                Role::Receiver,
                None,
                Command::Receive(ReceiveParcel {
                    label: Barcode::parse("1Z999AA10123456784").unwrap(),
                    weight: Some(Grams::new(weight_g).unwrap()),
                    scale: None,
                    rma: None,
                    lines: Vec::new(),
                    expected: Some(Box::new(kettle())),
                    expectations_known: true,
                    received_at_ms: returns_edge::ingest::now_ms(),
                }),
            )
            .await;
        CaseId::parse(body["case_id"].as_str().unwrap()).unwrap()
    }

    async fn inspect(&mut self, case: CaseId, grade: Grade, corrects: Option<EventId>) -> Value {
        let role = if corrects.is_some() {
            Role::Supervisor
        } else {
            Role::Inspector
        };
        self.write(
            role,
            Some(case),
            Command::Inspect(Inspect {
                line: LineNo::new(1).unwrap(),
                qty: None,
                grade,
                conditions: Vec::new(),
                serial: None,
                notes: None,
                corrects,
            }),
        )
        .await
    }

    /// Sequence numbers of the refund decisions recorded so far.
    fn decisions(&self) -> Vec<u64> {
        self.store
            .events(0, 1000)
            .unwrap()
            .into_iter()
            .filter(|e| e.event.kind() == EventKind::RefundDecided)
            .map(|e| e.seq)
            .collect()
    }

    fn state(&self, seq: u64) -> Option<DeliveryState> {
        self.store.delivery_status("refunds", seq).unwrap().map(|s| s.state)
    }

    async fn until(&self, what: &str, done: impl Fn(&Rig) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; sink {:?}; requests {:?}",
                self.handle.status(),
                self.receiver.requests()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn delivered(&self, seq: u64) {
        self.until("delivery", |r| r.state(seq) == Some(DeliveryState::Delivered))
            .await;
    }
}

#[tokio::test]
async fn one_graded_return_makes_exactly_one_signed_refund_with_the_decision_as_key() {
    let mut rig = rig().await;
    let case = rig.receive(1150).await;
    let answer = rig.inspect(case, Grade::B, None).await;
    assert_eq!(answer["refund"]["lines"][0]["percent"], 85, "{answer}");
    let decisions = rig.decisions();
    assert_eq!(decisions.len(), 1);
    rig.delivered(decisions[0]).await;

    let refunds = rig.receiver.refunds();
    assert_eq!(refunds.len(), 1, "exactly one accepted refund");
    let decision = rig.store.event(decisions[0]).unwrap().unwrap();
    assert_eq!(refunds[0].idempotency_key, decision.id.to_string());
    assert_eq!(answer["refund"]["decision_id"], decision.id.to_string());
    let body = &refunds[0].body;
    assert_eq!(body["decision_id"], decision.id.to_string());
    assert_eq!(body["case_id"], case.to_string());
    assert_eq!(body["site"], "site-a");
    assert_eq!(body["rma"], "RMA-7");
    assert_eq!(body["order"], "S00042");
    assert_eq!(body["return_picking"], "WH/IN/00012");
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["total_minor"], 8_500);
    assert_eq!(body["supersedes"], Value::Null);
    assert_eq!(body["lines"][0]["grade"], "B");
    assert_eq!(body["lines"][0]["rule"]["rule"], "grade_B_fee");
    assert_eq!(body["lines"][0]["rule"]["decided"], "refund 85% by rule grade_B_fee");
    assert!(rig.receiver.violations().is_empty());
    // Nothing else was posted.
    assert_eq!(rig.receiver.requests().len(), 1);
}

#[tokio::test]
async fn a_lost_answer_is_retried_with_the_same_key_and_body_and_the_409_counts_as_delivered() {
    let mut rig = rig().await;
    rig.receiver.inject(RefundFault::next(RefundFaultKind::CommitThenDrop));
    let case = rig.receive(1150).await;
    rig.inspect(case, Grade::A, None).await;
    let seq = rig.decisions()[0];
    rig.delivered(seq).await;
    let statuses: Vec<u16> = rig.receiver.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [0, 409], "dropped after recording, then recognised");
    assert_eq!(rig.receiver.refunds().len(), 1);
    assert!(rig.receiver.violations().is_empty(), "never two bodies for one key");
}

#[tokio::test]
async fn a_late_answer_times_out_and_the_retry_is_recognised() {
    let mut rig = rig().await;
    rig.receiver
        .inject(RefundFault::next(RefundFaultKind::Delay(Duration::from_secs(3))));
    let case = rig.receive(1150).await;
    rig.inspect(case, Grade::A, None).await;
    let seq = rig.decisions()[0];
    rig.delivered(seq).await;
    assert_eq!(rig.receiver.refunds().len(), 1);
    assert!(rig.receiver.violations().is_empty());
    let last = rig.receiver.requests().last().unwrap().status;
    assert_eq!(last, 409);
}

#[tokio::test]
async fn server_errors_retry_and_retry_after_is_honoured() {
    let mut rig = rig().await;
    rig.receiver.inject(RefundFault::next(RefundFaultKind::Http500));
    rig.receiver.inject(RefundFault {
        nth: Some(2),
        times: 1,
        kind: RefundFaultKind::TooManyRequests { retry_after_secs: 2 },
    });
    let case = rig.receive(1150).await;
    let started = Instant::now();
    rig.inspect(case, Grade::A, None).await;
    let seq = rig.decisions()[0];
    rig.until("the 429", |r| r.receiver.requests().iter().any(|q| q.status == 429))
        .await;
    let throttled_at = Instant::now();
    rig.delivered(seq).await;
    let statuses: Vec<u16> = rig.receiver.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [500, 429, 201],
        "no attempt between the 429 and its Retry-After"
    );
    assert!(
        throttled_at.elapsed() >= Duration::from_millis(1_900),
        "delivered {:?} after the 429, which asked for 2 s",
        throttled_at.elapsed()
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(rig.receiver.refunds().len(), 1);
}

#[tokio::test]
async fn a_4xx_refusal_is_dead_lettered_with_the_receivers_words_and_replays_once_fixed() {
    let mut rig = rig().await;
    rig.receiver
        .inject(RefundFault::next(RefundFaultKind::Refuse { status: 422 }));
    let case = rig.receive(1150).await;
    rig.inspect(case, Grade::A, None).await;
    let seq = rig.decisions()[0];
    rig.until("the dead letter", |r| r.state(seq) == Some(DeliveryState::DeadLettered))
        .await;
    let letters = rig.store.dead_letters(Some("refunds")).unwrap();
    assert_eq!(letters.len(), 1);
    let reason = &letters[0].1.reason;
    assert!(reason.contains("422") && reason.contains("amount exceeds"), "{reason}");
    assert!(rig.receiver.refunds().is_empty());

    // An operator replays it: the same key and body, accepted once.
    rig.store.replay_dead_letter("refunds", seq).unwrap();
    rig.handle.reload();
    rig.delivered(seq).await;
    assert_eq!(rig.receiver.refunds().len(), 1);
}

#[tokio::test]
async fn a_wrong_key_pauses_the_sink_and_a_fixed_key_file_resumes_it() {
    let mut rig = rig().await;
    rig.receiver.set_key(b"the-receivers-rotated-key");
    let case = rig.receive(1150).await;
    rig.inspect(case, Grade::A, None).await;
    let seq = rig.decisions()[0];
    rig.until("the pause", |r| r.handle.status().paused.is_some()).await;
    let (paused, _) = rig.handle.status().paused.unwrap();
    assert!(paused.contains("401") && paused.contains("HMAC key"), "{paused}");
    assert_eq!(rig.state(seq), Some(DeliveryState::Pending), "not dead-lettered");

    std::fs::write(&rig.key_file, "the-receivers-rotated-key\n").unwrap();
    rig.delivered(seq).await;
    assert_eq!(rig.receiver.refunds().len(), 1);
}

#[tokio::test]
async fn a_grade_correction_sends_a_second_decision_with_a_new_key_naming_the_first() {
    let mut rig = rig().await;
    let case = rig.receive(1150).await;
    let first = rig.inspect(case, Grade::A, None).await;
    let first_inspection = EventId::parse(first["event_id"].as_str().unwrap()).unwrap();
    let seq = rig.decisions()[0];
    rig.delivered(seq).await;

    rig.inspect(case, Grade::D, Some(first_inspection)).await;
    let decisions = rig.decisions();
    assert_eq!(decisions.len(), 2);
    rig.delivered(decisions[1]).await;

    let refunds = rig.receiver.refunds();
    assert_eq!(refunds.len(), 2);
    assert_ne!(refunds[0].idempotency_key, refunds[1].idempotency_key);
    assert_eq!(refunds[1].body["supersedes"], refunds[0].idempotency_key.as_str());
    assert_eq!(refunds[0].body["total_minor"], 10_000);
    assert_eq!(refunds[1].body["total_minor"], 3_000);
    assert!(rig.receiver.violations().is_empty());
}

#[tokio::test]
async fn an_underweight_parcel_is_held_until_a_supervisor_clears_it_then_refunded_once() {
    let mut rig = rig().await;
    let case = rig.receive(120).await;
    let answer = rig.inspect(case, Grade::A, None).await;
    assert_eq!(answer["flags"], serde_json::json!(["weight_mismatch"]));
    assert!(answer.get("refund").is_none(), "{answer}");
    assert!(rig.decisions().is_empty());

    let cleared = rig
        .write(
            Role::Supervisor,
            Some(case),
            Command::ClearFlag(ClearFlag {
                flag: Flag::WeightMismatch,
                note: Some(Notes::parse("customer kept the charger; photo on file").unwrap()),
            }),
        )
        .await;
    assert_eq!(
        cleared["refund"]["cleared_flags"],
        serde_json::json!(["weight_mismatch"])
    );
    let seq = rig.decisions()[0];
    rig.delivered(seq).await;
    let refunds = rig.receiver.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].body["cleared_flags"], serde_json::json!(["weight_mismatch"]));
}

/// The published receiver contract documents every field the sink sends.
#[tokio::test]
async fn every_field_sent_is_documented_in_the_receiver_openapi_file() {
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/refund-receiver.openapi.yaml"
    ))
    .unwrap();
    let mut rig = rig().await;
    let case = rig.receive(1150).await;
    rig.inspect(case, Grade::B, None).await;
    rig.delivered(rig.decisions()[0]).await;
    let body = rig.receiver.refunds()[0].body.clone();
    let line = body["lines"][0].clone();
    let keys = body
        .as_object()
        .unwrap()
        .keys()
        .chain(line.as_object().unwrap().keys())
        .chain(line["rule"].as_object().unwrap().keys())
        .cloned()
        .collect::<Vec<_>>();
    for key in keys {
        assert!(
            spec.contains(&format!("        {key}:")),
            "`{key}` is sent but not in the receiver's OpenAPI file"
        );
    }
    for header in [
        "Idempotency-Key",
        "X-Returns-Edge-Timestamp",
        "X-Returns-Edge-Signature",
    ] {
        assert!(spec.contains(&format!("name: {header}")), "{header}");
    }
}

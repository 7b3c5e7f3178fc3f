//! The fake refund receiver against the contract of docs/architecture.md#refund-trigger-contract:
//! signatures, idempotency keys (201, then 409 for the same body, 422 and a recorded violation for
//! another body) and the scripted faults a refund sink must survive.

use std::time::Duration;

use returns_edge_fakes::refund::{sign, FakeRefund, FakeRefundOptions, RefundFault, RefundFaultKind};
use serde_json::{json, Value};

const KEY: &[u8] = b"returns-edge-refund-test-key";

async fn post(url: &str, key: &[u8], idempotency_key: &str, body: &Value) -> reqwest::Result<reqwest::Response> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    post_at(url, key, idempotency_key, body, &now.to_string()).await
}

async fn post_at(
    url: &str,
    key: &[u8],
    idempotency_key: &str,
    body: &Value,
    timestamp: &str,
) -> reqwest::Result<reqwest::Response> {
    let raw = serde_json::to_vec(body).expect("json");
    reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client")
        .post(url)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", idempotency_key)
        .header("X-Returns-Edge-Timestamp", timestamp)
        .header("X-Returns-Edge-Signature", sign(key, timestamp, &raw))
        .body(raw)
        .send()
        .await
}

fn refund(case: &str, cents: u64) -> Value {
    json!({"case": case, "lines": [{"sku": "E-COM07", "qty": 1, "grade": "A"}], "refund": {"amount_cents": cents}, "event_ids": ["e1"]})
}

#[tokio::test]
async fn first_request_is_201_same_body_409_other_body_422_and_a_violation() {
    let receiver = FakeRefund::start(FakeRefundOptions::default()).await;
    let url = receiver.refunds_url();
    let first = post(&url, KEY, "k1", &refund("c1", 1000)).await.expect("answer");
    assert_eq!(first.status().as_u16(), 201);
    let again = post(&url, KEY, "k1", &refund("c1", 1000)).await.expect("answer");
    assert_eq!(again.status().as_u16(), 409);
    assert_eq!(
        again.json::<Value>().await.expect("json")["status"],
        "already processed"
    );
    let other = post(&url, KEY, "k1", &refund("c1", 999)).await.expect("answer");
    assert_eq!(other.status().as_u16(), 422);
    assert_eq!(receiver.refunds().len(), 1);
    let violations = receiver.violations();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].second_body["refund"]["amount_cents"], 999);
}

#[tokio::test]
async fn a_bad_signature_is_401_and_records_nothing() {
    let receiver = FakeRefund::start(FakeRefundOptions::default()).await;
    let answer = post(&receiver.refunds_url(), b"wrong key", "k2", &refund("c2", 10))
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 401);
    receiver.set_key(b"rotated");
    let answer = post(&receiver.refunds_url(), KEY, "k2", &refund("c2", 10))
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 401);
    assert!(receiver.refunds().is_empty());
}

#[tokio::test]
async fn faults_500_and_429_record_nothing_and_429_says_when_to_retry() {
    let receiver = FakeRefund::start(FakeRefundOptions::default()).await;
    let url = receiver.refunds_url();
    receiver.inject(RefundFault::next(RefundFaultKind::Http500));
    receiver.inject(RefundFault {
        nth: Some(2),
        times: 1,
        kind: RefundFaultKind::TooManyRequests { retry_after_secs: 7 },
    });
    assert_eq!(
        post(&url, KEY, "k3", &refund("c3", 1))
            .await
            .expect("answer")
            .status()
            .as_u16(),
        500
    );
    let limited = post(&url, KEY, "k3", &refund("c3", 1)).await.expect("answer");
    assert_eq!(limited.status().as_u16(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");
    assert!(receiver.refunds().is_empty());
    assert_eq!(
        post(&url, KEY, "k3", &refund("c3", 1))
            .await
            .expect("answer")
            .status()
            .as_u16(),
        201
    );
}

#[tokio::test]
async fn a_lost_answer_after_the_refund_is_recorded_makes_the_retry_a_409() {
    let receiver = FakeRefund::start(FakeRefundOptions::default()).await;
    let url = receiver.refunds_url();
    receiver.inject(RefundFault::next(RefundFaultKind::CommitThenDrop));
    let err = post(&url, KEY, "k4", &refund("c4", 5)).await.expect_err("no answer");
    assert!(err.status().is_none(), "{err}");
    assert_eq!(receiver.refunds().len(), 1);
    assert_eq!(
        post(&url, KEY, "k4", &refund("c4", 5))
            .await
            .expect("answer")
            .status()
            .as_u16(),
        409
    );
}

#[tokio::test]
async fn a_late_answer_times_out_although_the_refund_was_recorded() {
    let receiver = FakeRefund::start(FakeRefundOptions::default()).await;
    receiver.inject(RefundFault::next(RefundFaultKind::Delay(Duration::from_secs(10))));
    let err = post(&receiver.refunds_url(), KEY, "k5", &refund("c5", 5))
        .await
        .expect_err("timeout");
    assert!(err.is_timeout(), "{err}");
    assert_eq!(receiver.refunds().len(), 1);
    assert_eq!(receiver.refunds()[0].idempotency_key, "k5");
}

#[tokio::test]
async fn a_missing_key_is_400_and_a_down_receiver_503() {
    let receiver = FakeRefund::start(FakeRefundOptions::default()).await;
    let answer = post(&receiver.refunds_url(), KEY, "", &refund("c6", 5))
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 400);
    receiver.set_down(true);
    let answer = post(&receiver.refunds_url(), KEY, "k6", &refund("c6", 5))
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 503);
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn a_stale_timestamp_is_401_even_when_signed_and_a_refusal_fault_records_nothing() {
    let receiver = FakeRefund::start(FakeRefundOptions::default()).await;
    let url = receiver.refunds_url();
    let stale = post_at(&url, KEY, "k9", &refund("c9", 10), "1700000000")
        .await
        .expect("answer");
    assert_eq!(stale.status().as_u16(), 401);
    receiver.inject(RefundFault::next(RefundFaultKind::Refuse { status: 422 }));
    let refused = post(&url, KEY, "k9", &refund("c9", 10)).await.expect("answer");
    assert_eq!(refused.status().as_u16(), 422);
    assert!(receiver.refunds().is_empty());
    let accepted = post(&url, KEY, "k9", &refund("c9", 10)).await.expect("answer");
    assert_eq!(accepted.status().as_u16(), 201);
}

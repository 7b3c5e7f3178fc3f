//! A fake of the central refund trigger's receiver, per
//! docs/architecture.md#refund-trigger-contract: `POST /refunds` with a JSON body and the headers `Idempotency-Key`, `X-Returns-Edge-Timestamp` and
//! `X-Returns-Edge-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + body>`.
//!
//! Answers: 401 for a missing or bad signature; 400 for a missing key or a body that is not
//! JSON; 201 for the first request of a key (recorded); 409 `already processed` for the same key
//! with the same body; 422 for the same key with another body (recorded as a violation of the
//! contract: a key is never reused). Scripted faults: 500, 429 with `Retry-After`, a late answer,
//! an answer lost after the refund was recorded, and a 4xx refusal. Timestamps more than
//! `MAX_SKEW_SECS` away from the receiver's clock get 401. Keys are kept for the life of the fake.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::http::{cut_connection, ConnectionKill, Listener};

/// Largest difference between the signed timestamp and the receiver's clock.
pub const MAX_SKEW_SECS: u64 = 300;

/// How to start the fake receiver.
#[derive(Debug, Clone)]
pub struct FakeRefundOptions {
    /// The shared HMAC key.
    pub key: Vec<u8>,
}

impl Default for FakeRefundOptions {
    fn default() -> Self {
        Self {
            key: b"returns-edge-refund-test-key".to_vec(),
        }
    }
}

/// What a fault does to the request it hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundFaultKind {
    /// 500; nothing recorded.
    Http500,
    /// 429 with `Retry-After: <seconds>`; nothing recorded.
    TooManyRequests { retry_after_secs: u64 },
    /// Recorded at once, answered after this delay.
    Delay(Duration),
    /// Recorded, then the connection is closed without an answer.
    CommitThenDrop,
    /// This status (a 4xx refusal such as 400 or 422) with an error body; nothing recorded.
    Refuse { status: u16 },
}

/// A fault for the nth request from now on (1-based; `None`: the next), for `times` requests
/// (0: every one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFault {
    pub nth: Option<usize>,
    pub times: usize,
    pub kind: RefundFaultKind,
}

impl RefundFault {
    /// The next request only.
    pub fn next(kind: RefundFaultKind) -> Self {
        Self {
            nth: None,
            times: 1,
            kind,
        }
    }
}

/// A refund the receiver accepted (201).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRefund {
    pub idempotency_key: String,
    pub timestamp: String,
    pub body: Value,
    pub raw_body: Vec<u8>,
}

/// A key reused with another body.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyViolation {
    pub idempotency_key: String,
    pub first_body: Value,
    pub second_body: Value,
}

/// Every request, whatever its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub idempotency_key: Option<String>,
    pub status: u16,
}

#[derive(Debug)]
struct ArmedFault {
    first: usize,
    times: usize,
    seen: usize,
    fired: usize,
    kind: RefundFaultKind,
}

#[derive(Debug, Default)]
struct Ledger {
    by_key: BTreeMap<String, Vec<u8>>,
    refunds: Vec<ReceivedRefund>,
    violations: Vec<KeyViolation>,
    requests: Vec<RefundRequest>,
    faults: Vec<ArmedFault>,
}

#[derive(Debug)]
struct Receiver {
    key: Mutex<Vec<u8>>,
    ledger: Mutex<Ledger>,
    down: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running fake refund receiver on 127.0.0.1. Stops when dropped.
#[derive(Debug)]
pub struct FakeRefund {
    receiver: Arc<Receiver>,
    listener: Listener,
}

/// `sha256=<hex>` for `timestamp` and `body` under `key`: what a client must send.
pub fn sign(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = mac(key);
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    }
}

fn verify(key: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = mac(key);
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    // Constant time.
    mac.verify_slice(&expected).is_ok()
}

impl FakeRefund {
    /// Starts the receiver on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(options: FakeRefundOptions) -> FakeRefund {
        let receiver = Arc::new(Receiver {
            key: Mutex::new(options.key),
            ledger: Mutex::default(),
            down: AtomicBool::new(false),
        });
        let router = Router::new()
            .route("/refunds", post(refunds))
            .with_state(receiver.clone());
        match Listener::start(router).await {
            Ok(listener) => FakeRefund { receiver, listener },
            Err(error) => panic!("cannot bind a loopback port for the fake refund receiver: {error}"),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.listener.addr)
    }

    /// `http://127.0.0.1:PORT/refunds`.
    pub fn refunds_url(&self) -> String {
        format!("{}/refunds", self.url())
    }

    /// Changes the HMAC key (requests signed with the old one get 401).
    pub fn set_key(&self, key: &[u8]) {
        *lock(&self.receiver.key) = key.to_vec();
    }

    /// While down every request gets 503 and nothing is recorded.
    pub fn set_down(&self, down: bool) {
        self.receiver.down.store(down, Ordering::Relaxed);
    }

    /// Arms a fault.
    pub fn inject(&self, fault: RefundFault) {
        lock(&self.receiver.ledger).faults.push(ArmedFault {
            first: fault.nth.unwrap_or(1).max(1),
            times: fault.times,
            seen: 0,
            fired: 0,
            kind: fault.kind,
        });
    }

    /// Refunds accepted, in order.
    pub fn refunds(&self) -> Vec<ReceivedRefund> {
        lock(&self.receiver.ledger).refunds.clone()
    }

    /// Keys reused with another body.
    pub fn violations(&self) -> Vec<KeyViolation> {
        lock(&self.receiver.ledger).violations.clone()
    }

    /// Every request and its status (dropped answers show 0).
    pub fn requests(&self) -> Vec<RefundRequest> {
        lock(&self.receiver.ledger).requests.clone()
    }

    /// Stops the receiver and waits for it.
    pub async fn shutdown(self) {
        self.listener.shutdown().await;
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The canonical form of a JSON body, so that key order and whitespace do not make two bodies
/// different.
fn canonical(body: &[u8]) -> Vec<u8> {
    serde_json::from_slice::<Value>(body).map_or_else(|_| body.to_vec(), |v| v.to_string().into_bytes())
}

async fn refunds(
    State(receiver): State<Arc<Receiver>>,
    kill: Option<Extension<ConnectionKill>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = header_text(&headers, "idempotency-key");
    let record = |status: u16| {
        lock(&receiver.ledger).requests.push(RefundRequest {
            idempotency_key: key.clone(),
            status,
        });
    };
    if receiver.down.load(Ordering::Relaxed) {
        record(503);
        return answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "unavailable"}));
    }
    let fault = {
        let mut ledger = lock(&receiver.ledger);
        let mut hit = None;
        for armed in &mut ledger.faults {
            armed.seen += 1;
            let exhausted = armed.times != 0 && armed.fired >= armed.times;
            if hit.is_none() && armed.seen >= armed.first && !exhausted {
                armed.fired += 1;
                hit = Some(armed.kind.clone());
            }
        }
        ledger.faults.retain(|a| a.times == 0 || a.fired < a.times);
        hit
    };
    match &fault {
        Some(RefundFaultKind::Http500) => {
            record(500);
            return answer(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "internal error"}));
        }
        Some(RefundFaultKind::TooManyRequests { retry_after_secs }) => {
            record(429);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::RETRY_AFTER, retry_after_secs.to_string()),
                    (header::CONTENT_TYPE, "application/json".into()),
                ],
                json!({"error": "too many requests"}).to_string(),
            )
                .into_response();
        }
        Some(RefundFaultKind::Refuse { status }) => {
            record(*status);
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
            return answer(
                status,
                json!({"error": "refund refused: amount exceeds the order total"}),
            );
        }
        _ => {}
    }
    let (status, body_out) = decide(&receiver, key.as_deref(), &headers, &body);
    match fault {
        Some(RefundFaultKind::CommitThenDrop) => {
            record(0);
            cut_connection(kill).await
        }
        Some(RefundFaultKind::Delay(d)) => {
            record(status.as_u16());
            tokio::time::sleep(d).await;
            answer(status, body_out)
        }
        _ => {
            record(status.as_u16());
            answer(status, body_out)
        }
    }
}

/// Verifies and records one request.
fn decide(receiver: &Receiver, key: Option<&str>, headers: &HeaderMap, body: &[u8]) -> (StatusCode, Value) {
    let timestamp = header_text(headers, "x-returns-edge-timestamp");
    let signature = header_text(headers, "x-returns-edge-signature");
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return (StatusCode::UNAUTHORIZED, json!({"error": "missing signature"}));
    };
    if !verify(&lock(&receiver.key), &timestamp, body, &signature) {
        return (StatusCode::UNAUTHORIZED, json!({"error": "bad signature"}));
    }
    // As the published contract asks of receivers: a signature older or newer than five minutes
    // is refused, so a captured request cannot be replayed later.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match timestamp.parse::<u64>() {
        Ok(at) if at.abs_diff(now) <= MAX_SKEW_SECS => {}
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                json!({"error": "stale or malformed timestamp"}),
            )
        }
    }
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return (StatusCode::BAD_REQUEST, json!({"error": "missing Idempotency-Key"}));
    };
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return (StatusCode::BAD_REQUEST, json!({"error": "body is not JSON"}));
    };
    let mut ledger = lock(&receiver.ledger);
    let canonical_body = canonical(body);
    match ledger.by_key.get(key) {
        Some(first) if *first == canonical_body => (
            StatusCode::CONFLICT,
            json!({"status": "already processed", "idempotency_key": key}),
        ),
        Some(first) => {
            let first_body = serde_json::from_slice(first).unwrap_or(Value::Null);
            ledger.violations.push(KeyViolation {
                idempotency_key: key.to_owned(),
                first_body,
                second_body: parsed,
            });
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "Idempotency-Key reused with a different body", "idempotency_key": key}),
            )
        }
        None => {
            ledger.by_key.insert(key.to_owned(), canonical_body);
            ledger.refunds.push(ReceivedRefund {
                idempotency_key: key.to_owned(),
                timestamp,
                body: parsed,
                raw_body: body.to_vec(),
            });
            (
                StatusCode::CREATED,
                json!({"status": "accepted", "idempotency_key": key}),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_same_key_timestamp_and_body() {
        let sig = sign(b"k", "1700000000", b"{}");
        assert!(verify(b"k", "1700000000", b"{}", &sig));
        assert!(!verify(b"other", "1700000000", b"{}", &sig));
        assert!(!verify(b"k", "1700000001", b"{}", &sig));
        assert!(!verify(b"k", "1700000000", b"{ }", &sig));
        assert!(!verify(b"k", "1700000000", b"{}", "sha256=zz"));
    }
}

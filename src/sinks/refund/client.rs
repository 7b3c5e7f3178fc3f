//! One refund request: the JSON body built from the stored decision, the HMAC-SHA256 signature,
//! the POST, and the classification of the answer into an [`Outcome`] (docs/architecture.md#refund-trigger-contract):
//! 2xx and 409 are delivered; 408, 429, 5xx and transport errors retry (honouring
//! `Retry-After`); 401 and 403 pause the sink (a wrong key or clock fails every decision alike,
//! so one alert beats a dead letter per refund); any other 4xx dead-letters with the receiver's
//! words.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::config::RefundConfig;
use crate::delivery::Outcome;
use crate::domain::{Barcode, Case, CaseEvent, CaseId, EventId, Flag, RefundLine, RefundOn, RmaRef, SiteId, StationId};
use crate::sinks::common::{http_client, retry_after, Secret};
use crate::store::EventRecord;

/// The JSON body of `POST /refunds`, field for field what `deploy/refund-receiver.openapi.yaml`
/// publishes. Built only from the stored event and the case's receipt facts, which never
/// change, so a retry sends the same bytes.
#[derive(Debug, Serialize)]
pub struct RefundBody<'a> {
    /// The decision's id; also the `Idempotency-Key`.
    pub decision_id: EventId,
    /// The decision this one replaces, if a correction changed it.
    pub supersedes: Option<EventId>,
    pub site: &'a SiteId,
    pub case_id: CaseId,
    /// The station whose command made the decision due.
    pub station: &'a StationId,
    /// When the decision was recorded (Unix ms, UTC).
    pub decided_at_ms: u64,
    pub label: Option<&'a Barcode>,
    pub rma: Option<&'a RmaRef>,
    /// The sale order, when the return matched one.
    pub order: Option<&'a str>,
    /// Odoo's return picking, when the return matched one.
    pub return_picking: Option<&'a str>,
    pub basis: RefundOn,
    pub currency: Option<&'a str>,
    pub total_minor: Option<u64>,
    pub lines: &'a [RefundLine],
    /// Flags a supervisor cleared before the refund could be decided.
    pub cleared_flags: &'a [Flag],
}

impl<'a> RefundBody<'a> {
    /// The body for a `RefundDecided` event; `None` for any other event.
    pub fn new(event: &'a EventRecord, case: Option<&'a Case>) -> Option<Self> {
        let CaseEvent::RefundDecided { decision } = &event.event else {
            return None;
        };
        let expected = case.and_then(|c| c.expected.as_deref());
        Some(RefundBody {
            decision_id: event.id,
            supersedes: decision.supersedes,
            site: &event.site,
            case_id: event.case_id,
            station: &event.station,
            decided_at_ms: event.recorded_at_ms,
            label: case.map(|c| &c.label),
            rma: case.and_then(|c| c.rma.as_ref()),
            order: expected.and_then(|e| e.order.as_deref()),
            return_picking: expected.map(|e| e.picking.as_str()),
            basis: decision.basis,
            currency: decision.currency.as_deref(),
            total_minor: decision.total_minor,
            lines: &decision.lines,
            cleared_flags: &decision.cleared_flags,
        })
    }
}

/// `sha256=<hex HMAC-SHA256 of timestamp + "." + body>`: the `X-Returns-Edge-Signature` value.
pub fn signature(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    // Invariant: HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts refund decisions to one receiver.
#[derive(Debug)]
pub struct RefundClient {
    http: reqwest::Client,
    endpoint: String,
    timeout: Duration,
}

impl RefundClient {
    pub fn new(config: &RefundConfig) -> Result<Self, String> {
        let timeout = Duration::from_secs(config.timeout_secs);
        Ok(RefundClient {
            http: http_client(timeout, config.ca_file.as_ref(), "sinks.refund")?,
            endpoint: config.endpoint(),
            timeout,
        })
    }

    /// Sends one signed request; the timestamp is taken now, so every retry is freshly signed
    /// while key and body stay the same.
    pub async fn post(&self, key: &Secret, idempotency_key: &str, body: &[u8]) -> Outcome {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string();
        let request = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", idempotency_key)
            .header("X-Returns-Edge-Timestamp", &timestamp)
            .header(
                "X-Returns-Edge-Signature",
                signature(key.expose().as_bytes(), &timestamp, body),
            )
            .body(body.to_vec());
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Outcome::retry(format!(
                    "no answer from the refund receiver within {} s (it may have processed the \
                     decision; the retry carries the same Idempotency-Key)",
                    self.timeout.as_secs()
                ))
            }
            Err(e) => return Outcome::retry(format!("cannot reach the refund receiver: {}", error_chain(&e))),
        };
        let status = response.status().as_u16();
        let after = retry_after(&response);
        let text = response.text().await.unwrap_or_default();
        classify(status, after, &text)
    }
}

/// The outcome of the receiver's answer.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> Outcome {
    let said = excerpt(body);
    match status {
        200..=299 => Outcome::Delivered,
        // The receiver already processed this key with this body: the effect exists.
        409 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Retry {
            reason: format!("refund receiver answered {status}: {said}"),
            after: retry_after,
            scope: crate::delivery::RetryScope::Entry,
        },
        401 | 403 => Outcome::pause(format!(
            "refund receiver refused the signature ({status}: {said}); check sinks.refund's HMAC key \
             and this machine's clock"
        )),
        _ => Outcome::reject(format!("refund receiver refused the decision with {status}: {said}")),
    }
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "(empty answer)".into();
    }
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// The error and its sources ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_per_the_contract() {
        assert_eq!(classify(201, None, ""), Outcome::Delivered);
        assert_eq!(classify(200, None, "{}"), Outcome::Delivered);
        assert_eq!(classify(409, None, "already processed"), Outcome::Delivered);
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    classify(status, None, ""),
                    Outcome::Retry {
                        scope: crate::delivery::RetryScope::Entry,
                        ..
                    }
                ),
                "{status}"
            );
        }
        let Outcome::Retry { after, .. } = classify(429, Some(Duration::from_secs(7)), "slow down") else {
            panic!("429 retries");
        };
        assert_eq!(after, Some(Duration::from_secs(7)));
        for status in [401, 403] {
            assert!(
                matches!(
                    classify(status, None, ""),
                    Outcome::Retry {
                        scope: crate::delivery::RetryScope::Sink,
                        ..
                    }
                ),
                "{status}"
            );
        }
        for status in [400, 404, 410, 413, 422] {
            let Outcome::Reject { reason } = classify(status, None, "amount mismatch") else {
                panic!("{status} dead-letters");
            };
            assert!(
                reason.contains(&status.to_string()) && reason.contains("amount mismatch"),
                "{reason}"
            );
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: python3 -c 'import hmac,hashlib; print(hmac.new(
        // b"returns-edge-test-key", b"1790000000.{\"decision_id\":\"x\"}", hashlib.sha256).hexdigest())'
        assert_eq!(
            signature(b"returns-edge-test-key", "1790000000", br#"{"decision_id":"x"}"#),
            "sha256=559f6253d2d68bf974b5e9893ecfc51dff04d10968231d7a63ff147f325c7c15"
        );
    }
}

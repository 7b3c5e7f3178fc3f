//! Request extraction: bearer token → [`Caller`], `Idempotency-Key`, and strict JSON bodies whose
//! errors name the JSON path of the field at fault.
//!
//! Bodies are read as bytes first so that the same bytes give both the typed request and the
//! idempotency fingerprint (method, path and the body's canonical JSON: key order and whitespace
//! do not make a retry look like a different request).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::domain::Role;
use crate::tokens::{self, Caller, TokenError};

/// Longest Idempotency-Key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A verified caller of any role.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <station token>`"))?;
        let bearer = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| ApiError::unauthorized("expected `Authorization: Bearer <station token>`"))?
            .trim()
            .to_owned();
        // Inline, not on the blocking pool: the tokens tree is tiny and always in sled's cache, so
        // the lookup is a few microseconds, cheaper than the thread hop it would otherwise cost.
        match tokens::verify(state.ingest.store(), &bearer) {
            Ok(caller) => match state.limiter.check(&caller.token) {
                Ok(()) => Ok(Authenticated(caller)),
                Err(wait) => {
                    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    let mut e = ApiError::new(
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        "rate-limited",
                        "Too many requests from this station",
                        format!(
                            "station `{}` is over its request rate (server.rate_limit_per_second); retry after {seconds} s",
                            caller.station
                        ),
                    )
                    .with_field("Authorization");
                    e.retry_after_s = Some(seconds.max(1));
                    Err(e)
                }
            },
            Err(TokenError::Store(e)) => Err(e.into()),
            // One message for all refusals: a caller must not learn whether a token id exists.
            Err(_) => Err(ApiError::unauthorized("the station token is unknown or revoked")),
        }
    }
}

impl Authenticated {
    /// Refuses callers whose role does not include `required`.
    pub fn require(self, required: Role) -> Result<Caller, ApiError> {
        if self.0.role.includes(required) {
            Ok(self.0)
        } else {
            Err(ApiError::forbidden(
                Some("Authorization"),
                format!(
                    "this route needs the {} role; the token has {}",
                    required.as_str(),
                    self.0.role.as_str()
                ),
            ))
        }
    }
}

/// The `Idempotency-Key` header, required on every write.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let expected = format!("1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters (a UUID is a good choice)");
        let value = parts.headers.get("idempotency-key").ok_or_else(|| {
            ApiError::bad_request(
                "Idempotency-Key",
                format!("this header is required on writes: {expected}"),
            )
        })?;
        let key = value.to_str().unwrap_or_default();
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::bad_request("Idempotency-Key", format!("expected {expected}")));
        }
        Ok(IdempotencyKey(key.to_owned()))
    }
}

/// A JSON body parsed strictly into `T`, with its idempotency fingerprint.
#[derive(Debug)]
pub struct StrictJson<T> {
    pub value: T,
    pub fingerprint: String,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as `Content-Type: application/json`",
            )
            .with_field("Content-Type"));
        }
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    "Request body too large",
                    "the body exceeds server.max_body_bytes",
                )
                .with_field("body")
            } else {
                ApiError::bad_request("body", rejection.body_text())
            }
        })?;
        let (value, fingerprint) = parse_body(&method, &path, &bytes)?;
        Ok(StrictJson { value, fingerprint })
    }
}

/// Parses `bytes` into `T`, naming the JSON path of any error, and fingerprints the request.
pub fn parse_body<T: DeserializeOwned>(method: &Method, path: &str, bytes: &[u8]) -> Result<(T, String), ApiError> {
    let raw: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("body", format!("the body is not valid JSON: {e}")))?;
    let value = serde_path_to_error::deserialize::<_, T>(&raw).map_err(|e| {
        let inner = e.inner().to_string();
        let path = e.path().to_string();
        // serde_path_to_error's path already ends at an unknown field, but stops at the parent
        // of a missing one, which only the message names.
        let missing = inner.starts_with("missing field").then(|| field_in_message(&inner));
        let field = match (path.as_str(), missing) {
            ("." | "", Some(name)) => name,
            ("." | "", None) if inner.starts_with("unknown field") => field_in_message(&inner),
            ("." | "", None) => "body".to_owned(),
            (parent, Some(name)) => format!("{parent}.{name}"),
            (at, None) => at.to_owned(),
        };
        // Our value types report a bare expectation ("a barcode of …"); serde's own messages
        // ("invalid type: …, expected …", "unknown field …") already read as sentences.
        let plain = inner.contains("expected") || inner.contains("field `");
        let detail = if plain { inner } else { format!("expected {inner}") };
        ApiError::invalid(field.clone(), format!("field `{field}`: {detail}"))
    })?;
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    write_canonical(&raw, &mut hasher);
    Ok((value, hex::encode(hasher.finalize())))
}

/// serde names a missing or unknown top-level field only inside its message.
fn field_in_message(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_else(|| "body".to_owned())
}

/// Feeds JSON to the hasher with object keys sorted, independent of serde_json's map order.
fn write_canonical(value: &serde_json::Value, hasher: &mut Sha256) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hasher.update(serde_json::to_string(key).unwrap_or_default().as_bytes());
                hasher.update(b":");
                write_canonical(&map[key], hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        serde_json::Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                write_canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        a: u32,
        b: Option<Vec<Inner>>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        qty: u8,
    }

    #[test]
    fn key_order_and_whitespace_do_not_change_the_fingerprint() {
        let (_, one): (Probe, _) = parse_body(&Method::POST, "/x", br#"{"a":1,"b":[{"qty":2}]}"#).unwrap();
        let (_, two): (Probe, _) = parse_body(&Method::POST, "/x", b"{ \"b\": [ {\"qty\": 2} ],\n \"a\": 1 }").unwrap();
        let (_, other): (Probe, _) = parse_body(&Method::POST, "/x", br#"{"a":2}"#).unwrap();
        let (_, elsewhere): (Probe, _) = parse_body(&Method::POST, "/y", br#"{"a":1,"b":[{"qty":2}]}"#).unwrap();
        assert_eq!(one, two);
        assert_ne!(one, other);
        assert_ne!(one, elsewhere);
    }

    #[test]
    fn errors_name_the_json_path() {
        let err = parse_body::<Probe>(&Method::POST, "/x", br#"{"a":1,"b":[{"qty":300}]}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("b[0].qty"));
        let err = parse_body::<Probe>(&Method::POST, "/x", br#"{"b":null}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("a"));
        let err = parse_body::<Probe>(&Method::POST, "/x", br#"{"a":1,"zz":1}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("zz"));
        let err = parse_body::<Probe>(&Method::POST, "/x", br#"{"a":1,"b":[{"qty":1,"q":1}]}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("b[0].q"));
        let err = parse_body::<Probe>(&Method::POST, "/x", b"{\"a\":").unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
    }
}

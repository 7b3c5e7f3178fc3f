//! Request extraction: bearer token → [`Caller`] (and, with [`Authorized`], its role checked),
//! `Idempotency-Key`, query parameters and strict JSON bodies whose errors name the field at fault.
//!
//! Authorization comes before anything the request carries: axum runs extractors in argument order,
//! so every handler takes [`Authenticated`] or [`Authorized`] first and its path, query, key and body
//! after. A caller whose role does not include the route's learns 403 whatever the body says, and
//! nothing about the case or the body's validity.
//!
//! Bodies are read as bytes first so that the same bytes give both the typed request and the
//! idempotency fingerprint (method, path and the body's canonical JSON: key order and whitespace
//! do not make a retry look like a different request).

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::error::{ApiError, ProblemType};
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
                        ProblemType::RateLimited,
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

/// What a route requires of its caller's role, as a type so the requirement sits in the handler's
/// signature, before the extractors that read the request.
pub trait RequiredRole {
    const ROLE: Role;
}

/// The role markers of [`Authorized`].
pub mod role {
    use super::{RequiredRole, Role};

    /// Receives parcels.
    #[derive(Debug)]
    pub struct Receiver;
    /// Inspects, disposes and closes.
    #[derive(Debug)]
    pub struct Inspector;
    /// Clears flags, corrects, handles dead letters and refreshes the RMA cache.
    #[derive(Debug)]
    pub struct Supervisor;
    /// Takes backups.
    #[derive(Debug)]
    pub struct Admin;

    impl RequiredRole for Receiver {
        const ROLE: Role = Role::Receiver;
    }
    impl RequiredRole for Inspector {
        const ROLE: Role = Role::Inspector;
    }
    impl RequiredRole for Supervisor {
        const ROLE: Role = Role::Supervisor;
    }
    impl RequiredRole for Admin {
        const ROLE: Role = Role::Admin;
    }
}

/// A verified caller whose role includes `R`'s: 401 or 403 before the rest of the request is read.
#[derive(Debug)]
pub struct Authorized<R> {
    pub caller: Caller,
    required: PhantomData<R>,
}

impl<R: RequiredRole> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Authenticated::from_request_parts(parts, state)
            .await?
            .require(R::ROLE)?;
        Ok(Authorized {
            caller,
            required: PhantomData,
        })
    }
}

/// The query string as name-value pairs, for handlers that parse each parameter themselves so that
/// every refusal names the parameter (serde's own messages for a query do not).
#[derive(Debug, Default)]
pub struct QueryPairs(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::bad_request(
                    "query",
                    format!("the query string is not URL-encoded: {}", e.body_text()),
                )
            })?;
        Ok(QueryPairs(pairs))
    }
}

impl QueryPairs {
    /// Refuses a parameter not in `known` and one given twice, naming it.
    pub fn only(&self, known: &[&str]) -> Result<&Self, ApiError> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                let expected = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
                return Err(ApiError::invalid(
                    name.clone(),
                    format!("unknown query parameter `{name}`: expected only {expected}"),
                ));
            }
            if self.0[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::invalid(
                    name.clone(),
                    format!("query parameter `{name}` is given more than once"),
                ));
            }
        }
        Ok(self)
    }

    /// The raw value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// `name` parsed by `parse`, which says what it expected; a refusal names the parameter and
    /// quotes what was sent.
    pub fn parse<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|raw| {
                parse(raw).map_err(|expected| {
                    let shown: String = raw.chars().take(80).collect();
                    ApiError::invalid(
                        name,
                        format!(
                            "query parameter `{name}`: expected {expected}, found `{}`",
                            shown.escape_debug()
                        ),
                    )
                })
            })
            .transpose()
    }
}

/// The one path parameter `name` of a route, as sent. Not a typed `Path` so that a segment that
/// does not decode (invalid percent-encoding or UTF-8) is a 404 naming the parameter, like any
/// other segment that names nothing, rather than axum's plain-text 400.
pub fn path_param(
    extracted: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
    name: &str,
) -> Result<String, ApiError> {
    extracted.map(|axum::extract::Path(value)| value).map_err(|e| {
        ApiError::not_found(
            name,
            format!("the path segment `{name}` does not decode: {}", e.body_text()),
        )
    })
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

impl utoipa::IntoParams for IdempotencyKey {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::Required;
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_IDEMPOTENCY_KEY))
            .pattern(Some("^[!-~]+$"));
        vec![ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(
                "Names this request, per station: a retry with the same key and the same request gets the first answer \
                 again; the same key with another request is refused (409 `idempotency-key-reused`). \
                 1 to 255 visible ASCII characters; a UUID is a good choice.",
            ))
            .schema(Some(schema))
            .example(Some(serde_json::json!("0190b3a4-7c1e-7d2a-9f00-1a2b3c4d5e6f")))
            .build()]
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
                ProblemType::UnsupportedMediaType,
                "send the body as `Content-Type: application/json`",
            )
            .with_field("Content-Type"));
        }
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ProblemType::TooLarge, "the body exceeds server.max_body_bytes").with_field("body")
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
    let mut raw: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("body", format!("the body is not valid JSON: {e}")))?;
    whole_numbers_as_integers(&mut raw);
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

/// Turns numbers written with a zero fraction (`2.0`, `1e3`) into integers. JSON does not tell
/// them apart and JSON Schema calls `2.0` an integer, so a client that writes one (a Python or
/// JavaScript client may) is sending the integer; and a retry that spells it `2` is the same
/// request, so the fingerprint is taken after this.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            // Bounds written as floats: `u64::MAX as f64` rounds up to 2^64, which is out of range.
            const TWO_TO_64: f64 = 18_446_744_073_709_551_616.0;
            const MINUS_TWO_TO_63: f64 = -9_223_372_036_854_775_808.0;
            let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) else {
                return;
            };
            if (0.0..TWO_TO_64).contains(&f) {
                *value = serde_json::Value::from(f as u64);
            } else if (MINUS_TWO_TO_63..0.0).contains(&f) {
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
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
    fn a_whole_number_with_a_fraction_is_the_integer_and_the_same_request() {
        let (two, one): (Probe, _) = parse_body(&Method::POST, "/x", br#"{"a":2.0,"b":[{"qty":1e1}]}"#).unwrap();
        let (_, same): (Probe, _) = parse_body(&Method::POST, "/x", br#"{"a":2,"b":[{"qty":10}]}"#).unwrap();
        assert_eq!((two.a, one), (2, same));
        let err = parse_body::<Probe>(&Method::POST, "/x", br#"{"a":2.5}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("a"));
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

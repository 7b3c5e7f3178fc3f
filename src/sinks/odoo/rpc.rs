//! The Odoo client: one call shape ([`Call`]) sent over JSON-RPC (`/jsonrpc`, `execute_kw`) or
//! JSON-2 (`/json/2/<model>/<method>`), and the classification of every failure into a delivery
//! [`Outcome`], in one function ([`OdooError::outcome`]).
//!
//! JSON-RPC answers errors with HTTP 200 and an `error` object whose `data.name` is the Python
//! exception (see the transcripts 11–17): a 200 is not success until the body says so. The
//! password or API key lives in a [`Secret`] and is never logged.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::config::{OdooConfig, Protocol, Secret};
use crate::delivery::Outcome;
use crate::sinks::common::retry_after;

/// One remote call, independent of the transport.
#[derive(Debug, Clone)]
pub struct Call {
    pub model: &'static str,
    pub method: &'static str,
    /// Record ids for methods on records (`write`, `button_validate`…).
    pub ids: Option<Vec<i64>>,
    /// Parameters JSON-RPC passes by position (after ids) and JSON-2 by name.
    pub positional: Vec<(&'static str, Value)>,
    /// Parameters both pass by name.
    pub named: Vec<(&'static str, Value)>,
    pub context: Option<Value>,
}

impl Call {
    pub fn new(model: &'static str, method: &'static str) -> Self {
        Call {
            model,
            method,
            ids: None,
            positional: Vec::new(),
            named: Vec::new(),
            context: None,
        }
    }

    pub fn ids(mut self, ids: &[i64]) -> Self {
        self.ids = Some(ids.to_vec());
        self
    }

    pub fn arg(mut self, name: &'static str, value: Value) -> Self {
        self.positional.push((name, value));
        self
    }

    pub fn kwarg(mut self, name: &'static str, value: Value) -> Self {
        self.named.push((name, value));
        self
    }

    pub fn context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }
}

/// Why a call failed. [`OdooError::outcome`] decides what the delivery engine does about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OdooError {
    /// No connection could be made (refused, DNS, TLS): the whole sink is affected.
    #[error("Odoo unreachable: {0}")]
    Unreachable(String),
    /// No answer in time. The call may have taken effect; the step machine reads before it writes.
    #[error("Odoo did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection broke before an answer (possibly after the effect).
    #[error("connection to Odoo lost: {0}")]
    Transport(String),
    /// An HTTP status without an Odoo error body (proxy errors, JSON-2 statuses).
    #[error("Odoo answered HTTP {status}: {body}")]
    Http {
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    /// Odoo raised an exception; `name` is its Python class (`odoo.exceptions.UserError`).
    #[error("{name}: {message}")]
    Server {
        name: String,
        message: String,
        status: Option<u16>,
    },
    /// `common.login` answered `false`: wrong login or password.
    #[error("Odoo refused the login `{login}` on database `{database}`")]
    LoginRefused { login: String, database: String },
    /// The answer did not have the expected shape.
    #[error("unexpected answer from Odoo: {0}")]
    Protocol(String),
}

impl OdooError {
    /// The one place that turns an Odoo failure into a delivery outcome.
    pub fn outcome(&self) -> Outcome {
        match self {
            OdooError::Unreachable(_) => Outcome::pause(self.to_string()),
            OdooError::Timeout(_) | OdooError::Transport(_) | OdooError::Protocol(_) => {
                Outcome::retry(self.to_string())
            }
            OdooError::LoginRefused { .. } => Outcome::pause(format!("{self}; fix the sink's login or secret")),
            OdooError::Http {
                status, retry_after, ..
            } => match status {
                401 => Outcome::pause(format!("{self}; the API key was refused")),
                408 | 429 | 500..=599 => Outcome::Retry {
                    reason: self.to_string(),
                    after: *retry_after,
                    scope: crate::delivery::RetryScope::Entry,
                },
                _ => Outcome::reject(self.to_string()),
            },
            OdooError::Server { name, message, status } => classify_server(name, message, *status),
        }
    }
}

fn classify_server(name: &str, message: &str, status: Option<u16>) -> Outcome {
    let text = format!("{name}: {message}");
    let lower = message.to_ascii_lowercase();
    if name.ends_with("AccessDenied") || status == Some(401) {
        return Outcome::pause(format!("{text} (the sink's credentials were refused; fix the secret)"));
    }
    if name.contains("OperationalError") && lower.contains("does not exist") {
        return Outcome::pause(format!("{text} (check sinks.odoo.database)"));
    }
    if name.contains("SerializationFailure")
        || lower.contains("could not serialize access")
        || lower.contains("concurrent update")
        || name.contains("LockNotAvailable")
    {
        return Outcome::retry(text);
    }
    if name.ends_with("AccessError") {
        return Outcome::reject(format!("the Odoo user lacks a right: {message}"));
    }
    if name.ends_with("UserError") || name.ends_with("ValidationError") || name.ends_with("MissingError") {
        return Outcome::reject(text);
    }
    match status {
        Some(429) | Some(500..=599) if !name.starts_with("odoo.") && !name.starts_with("builtins.") => {
            Outcome::retry(text)
        }
        _ => Outcome::reject(text),
    }
}

/// A connection to one Odoo database.
#[derive(Debug)]
pub struct OdooClient {
    http: reqwest::Client,
    base: String,
    database: String,
    protocol: Protocol,
    login: String,
    secret: Secret,
    timeout: Duration,
    uid: tokio::sync::Mutex<Option<i64>>,
}

impl OdooClient {
    pub fn new(config: &OdooConfig, secret: Secret) -> Result<Self, String> {
        let timeout = Duration::from_secs(config.timeout_secs);
        let http = crate::sinks::common::http_client(timeout, config.ca_file.as_ref(), "sinks.odoo")?;
        Ok(OdooClient {
            http,
            base: config.url.trim_end_matches('/').to_owned(),
            database: config.database.clone(),
            protocol: config.protocol,
            login: config.login.clone().unwrap_or_default(),
            secret,
            timeout,
            uid: tokio::sync::Mutex::new(None),
        })
    }

    /// Runs one call, logging in first when JSON-RPC has no session yet.
    pub async fn call(&self, call: Call) -> Result<Value, OdooError> {
        match self.protocol {
            Protocol::JsonRpc => self.call_jsonrpc(call).await,
            Protocol::Json2 => self.call_json2(call).await,
        }
    }

    /// Checks the database is there and the credentials work.
    pub async fn probe(&self) -> Result<(), OdooError> {
        match self.protocol {
            Protocol::JsonRpc => {
                *self.uid.lock().await = None;
                self.uid().await.map(drop)
            }
            Protocol::Json2 => self
                .call(Call::new("res.users", "search_count").kwarg("domain", json!([])))
                .await
                .map(drop),
        }
    }

    pub async fn search_read(
        &self,
        model: &'static str,
        domain: Value,
        fields: &[&str],
    ) -> Result<Vec<Map<String, Value>>, OdooError> {
        let value = self
            .call(
                Call::new(model, "search_read")
                    .arg("domain", domain)
                    .kwarg("fields", json!(fields)),
            )
            .await?;
        records(value)
    }

    pub async fn read(
        &self,
        model: &'static str,
        ids: &[i64],
        fields: &[&str],
    ) -> Result<Vec<Map<String, Value>>, OdooError> {
        let value = self
            .call(Call::new(model, "read").ids(ids).kwarg("fields", json!(fields)))
            .await?;
        records(value)
    }

    /// Creates records from a list of values in one call; one id per value, in the same order.
    pub async fn create(&self, model: &'static str, values: Vec<Value>) -> Result<Vec<i64>, OdooError> {
        let count = values.len();
        let value = self
            .call(Call::new(model, "create").arg("vals_list", Value::Array(values)))
            .await?;
        created_ids(model, value, count)
    }

    /// Creates a wizard record (no values: Odoo computes them from `context`, which must be the
    /// context of the action that asked for the wizard) and returns its id.
    pub async fn create_wizard(&self, model: &'static str, context: Value) -> Result<i64, OdooError> {
        let created = self
            .call(
                Call::new(model, "create")
                    .arg("vals_list", json!([{}]))
                    .context(context),
            )
            .await?;
        let id = match &created {
            Value::Array(ids) => ids.first().and_then(Value::as_i64),
            other => other.as_i64(),
        };
        id.ok_or_else(|| shape("wizard create", &value_text(&created)))
    }

    pub async fn write(&self, model: &'static str, ids: &[i64], values: Value) -> Result<(), OdooError> {
        self.call(Call::new(model, "write").ids(ids).arg("vals", values))
            .await
            .map(drop)
    }

    /// Calls a public method on records (`action_confirm`, `button_validate`…).
    pub async fn method(
        &self,
        model: &'static str,
        method: &'static str,
        ids: &[i64],
        context: Option<Value>,
    ) -> Result<Value, OdooError> {
        let mut call = Call::new(model, method).ids(ids);
        call.context = context;
        self.call(call).await
    }

    async fn uid(&self) -> Result<i64, OdooError> {
        let mut uid = self.uid.lock().await;
        if let Some(uid) = *uid {
            return Ok(uid);
        }
        let body = json!({
            "jsonrpc": "2.0", "method": "call", "id": 1,
            "params": {"service": "common", "method": "login", "args": [self.database, self.login, self.secret.expose()]},
        });
        let result = self.post_jsonrpc(&body).await?;
        match result {
            Value::Number(n) if n.as_i64().is_some() => {
                *uid = n.as_i64();
                Ok(n.as_i64().unwrap_or_default())
            }
            Value::Bool(false) => Err(OdooError::LoginRefused {
                login: self.login.clone(),
                database: self.database.clone(),
            }),
            other => Err(shape("login", &value_text(&other))),
        }
    }

    async fn call_jsonrpc(&self, call: Call) -> Result<Value, OdooError> {
        let uid = self.uid().await?;
        let mut args = Vec::new();
        if let Some(ids) = &call.ids {
            args.push(json!(ids));
        }
        args.extend(call.positional.into_iter().map(|(_, v)| v));
        let mut kwargs: Map<String, Value> = call.named.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        if let Some(context) = call.context {
            kwargs.insert("context".into(), context);
        }
        let body = json!({
            "jsonrpc": "2.0", "method": "call", "id": 1,
            "params": {
                "service": "object", "method": "execute_kw",
                "args": [self.database, uid, self.secret.expose(), call.model, call.method, args, kwargs],
            },
        });
        let result = self.post_jsonrpc(&body).await;
        if let Err(OdooError::Server { name, .. }) = &result {
            if name.ends_with("AccessDenied") {
                // The password may have changed: log in again on the next call.
                *self.uid.lock().await = None;
            }
        }
        result
    }

    async fn post_jsonrpc(&self, body: &Value) -> Result<Value, OdooError> {
        let response = self
            .http
            .post(format!("{}/jsonrpc", self.base))
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let text = response.text().await.map_err(|e| self.transport(e))?;
        let parsed: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) => {
                return Err(OdooError::Http {
                    status,
                    body: excerpt(&text),
                    retry_after,
                })
            }
        };
        if let Some(error) = parsed.get("error") {
            return Err(server_error(error, None));
        }
        if !(200..300).contains(&status) {
            return Err(OdooError::Http {
                status,
                body: excerpt(&text),
                retry_after,
            });
        }
        jsonrpc_result(parsed).ok_or_else(|| shape("jsonrpc", &excerpt(&text)))
    }

    async fn call_json2(&self, call: Call) -> Result<Value, OdooError> {
        let mut body = Map::new();
        if let Some(ids) = call.ids {
            body.insert("ids".into(), json!(ids));
        }
        for (name, value) in call.positional.into_iter().chain(call.named) {
            body.insert(name.into(), value);
        }
        if let Some(context) = call.context {
            body.insert("context".into(), context);
        }
        let response = self
            .http
            .post(format!("{}/json/2/{}/{}", self.base, call.model, call.method))
            .bearer_auth(self.secret.expose())
            .header("X-Odoo-Database", &self.database)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let text = response.text().await.map_err(|e| self.transport(e))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|_| shape("json2", &excerpt(&text)));
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(error) if error.get("name").is_some() => Err(server_error(&json!({ "data": error }), Some(status))),
            _ => Err(OdooError::Http {
                status,
                body: excerpt(&text),
                retry_after,
            }),
        }
    }

    fn transport(&self, e: reqwest::Error) -> OdooError {
        if e.is_timeout() {
            OdooError::Timeout(self.timeout)
        } else if e.is_connect() {
            OdooError::Unreachable(format!("{}: {}", self.base, root_cause(&e)))
        } else {
            OdooError::Transport(root_cause(&e))
        }
    }
}

/// The `result` of a JSON-RPC answer without `error`. A method that returns `None` in Python
/// comes back from Odoo 17 with **no `result` key at all** (transcript 22,
/// `stock.quant.action_apply_inventory`): that is success with `null`, and retrying it as a
/// protocol error would repeat an effect that already happened. Only an answer that is not a
/// JSON-RPC response object at all is a shape error.
fn jsonrpc_result(parsed: Value) -> Option<Value> {
    let Value::Object(mut answer) = parsed else {
        return None;
    };
    match answer.remove("result") {
        Some(result) => Some(result),
        None if answer.contains_key("jsonrpc") || answer.contains_key("id") => Some(Value::Null),
        None => None,
    }
}

fn server_error(error: &Value, status: Option<u16>) -> OdooError {
    let data = error.get("data").unwrap_or(error);
    let name = data.get("name").and_then(Value::as_str).unwrap_or("unknown").to_owned();
    let message = data
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.get("message").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    OdooError::Server { name, message, status }
}

fn records(value: Value) -> Result<Vec<Map<String, Value>>, OdooError> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(map) => Ok(map),
                other => Err(shape("record", &value_text(&other))),
            })
            .collect(),
        other => Err(shape("records", &value_text(&other))),
    }
}

/// The ids a `create` of `count` records answered. Any other number is a protocol error: the
/// callers pair ids with their requests by position.
fn created_ids(model: &str, value: Value, count: usize) -> Result<Vec<i64>, OdooError> {
    let ids: Vec<i64> = match value {
        Value::Array(ids) => ids
            .iter()
            .map(|v| v.as_i64().ok_or_else(|| shape("create", &value_text(v))))
            .collect::<Result<_, _>>()?,
        Value::Number(n) => vec![n.as_i64().ok_or_else(|| shape("create", &n.to_string()))?],
        other => return Err(shape("create", &value_text(&other))),
    };
    if ids.len() != count {
        return Err(OdooError::Protocol(format!(
            "create on {model}: {} ids for {count} records",
            ids.len()
        )));
    }
    Ok(ids)
}

fn shape(what: &str, found: &str) -> OdooError {
    OdooError::Protocol(format!("{what}: {found}"))
}

fn value_text(value: &Value) -> String {
    excerpt(&value.to_string())
}

fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::RetryScope;

    fn server(name: &str, message: &str) -> Outcome {
        OdooError::Server {
            name: name.into(),
            message: message.into(),
            status: None,
        }
        .outcome()
    }

    #[test]
    fn an_answer_without_result_is_a_null_result_not_a_protocol_error() {
        // Transcript 22: `action_apply_inventory` returns None and the answer has no `result`.
        let none = serde_json::json!({"jsonrpc": "2.0", "id": 7});
        assert_eq!(jsonrpc_result(none), Some(Value::Null));
        let value = serde_json::json!({"jsonrpc": "2.0", "id": 7, "result": false});
        assert_eq!(jsonrpc_result(value), Some(Value::Bool(false)));
        assert_eq!(jsonrpc_result(serde_json::json!(["not", "json-rpc"])), None);
        assert_eq!(jsonrpc_result(serde_json::json!({"html": "proxy page"})), None);
    }

    #[test]
    fn error_payloads_are_classified_as_the_transcripts_demand() {
        assert!(matches!(
            server("odoo.exceptions.AccessDenied", "Access Denied"),
            Outcome::Retry {
                scope: RetryScope::Sink,
                ..
            }
        ));
        assert!(matches!(
            server("psycopg2.OperationalError", "FATAL:  database \"x\" does not exist"),
            Outcome::Retry {
                scope: RetryScope::Sink,
                ..
            }
        ));
        assert!(matches!(
            server(
                "psycopg2.errors.SerializationFailure",
                "could not serialize access due to concurrent update"
            ),
            Outcome::Retry {
                scope: RetryScope::Entry,
                ..
            }
        ));
        assert!(matches!(
            server("odoo.exceptions.UserError", "You may only return Done pickings."),
            Outcome::Reject { .. }
        ));
        assert!(matches!(
            server("odoo.exceptions.ValidationError", "Reference must be unique"),
            Outcome::Reject { .. }
        ));
        assert!(matches!(
            server("odoo.exceptions.MissingError", "Record does not exist"),
            Outcome::Reject { .. }
        ));
        match server(
            "odoo.exceptions.AccessError",
            "You are not allowed to create 'Model Data'",
        ) {
            Outcome::Reject { reason } => assert!(reason.contains("lacks a right") && reason.contains("Model Data")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_create_answers_one_id_per_record_or_is_a_protocol_error() {
        assert_eq!(created_ids("stock.scrap", json!([7, 8]), 2).unwrap(), [7, 8]);
        assert_eq!(created_ids("stock.scrap", json!(7), 1).unwrap(), [7]);
        for (answer, count) in [
            (json!([7]), 2),
            (json!(7), 2),
            (json!([]), 1),
            (json!([7, "x"]), 2),
            (json!(true), 1),
        ] {
            let err = created_ids("stock.scrap", answer.clone(), count).unwrap_err();
            assert!(matches!(err, OdooError::Protocol(_)), "{answer} for {count}: {err}");
            assert!(matches!(err.outcome(), Outcome::Retry { .. }), "{answer}");
        }
    }

    #[test]
    fn transport_failures_retry_and_never_reject() {
        assert!(matches!(
            OdooError::Timeout(Duration::from_secs(1)).outcome(),
            Outcome::Retry {
                scope: RetryScope::Entry,
                ..
            }
        ));
        assert!(matches!(
            OdooError::Unreachable("refused".into()).outcome(),
            Outcome::Retry {
                scope: RetryScope::Sink,
                ..
            }
        ));
        let busy = OdooError::Http {
            status: 429,
            body: String::new(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            busy.outcome(),
            Outcome::Retry {
                reason: busy.to_string(),
                after: Some(Duration::from_secs(7)),
                scope: RetryScope::Entry
            }
        );
        assert!(matches!(
            OdooError::Http {
                status: 502,
                body: String::new(),
                retry_after: None
            }
            .outcome(),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn the_secret_never_appears_in_debug_output() {
        let config: OdooConfig =
            toml::from_str("url = \"http://127.0.0.1:1\"\ndatabase = \"d\"\nlogin = \"admin\"\nsecret_env = \"X\"\n")
                .unwrap();
        let client = OdooClient::new(&config, Secret::new("hunter2-very-secret".into())).unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}

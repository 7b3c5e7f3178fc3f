//! The fake Odoo on the wire: the axum routes (`/jsonrpc`, `/web/webclient/version_info`, `/json/2/<model>/<method>`), and
//! the call pipeline every protocol goes through: count, fault, latency, one transaction
//! (rolled back on error), mutation log, answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use serde_json::{json, Map, Value};

use crate::http::{cut_connection, ConnectionKill};

use super::db::{wall_clock, Database};
use super::dispatch::{self, Invocation};
use super::error::{ErrorPayload, OdooError};
use super::faults::{FaultBook, FaultKind};
use super::latency::Latency;
use super::{Delivery as MutationDelivery, Mutation, OdooVersion, Protocol};

/// Locks a mutex, ignoring poisoning (a panicking test must not hide the state from the next
/// assertion).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the server was configured with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub version: OdooVersion,
    pub json_rpc: bool,
    pub json2: bool,
    pub database: String,
    pub latency: Latency,
}

/// The log of calls: counts per (model, method) and every state-changing call.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub counts: BTreeMap<(String, String), usize>,
    pub mutations: Vec<Mutation>,
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub db: Mutex<Database>,
    pub config: Config,
    pub faults: Mutex<FaultBook>,
    pub journal: Mutex<Journal>,
    pub down: AtomicBool,
    pub seq: AtomicU64,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/jsonrpc", post(jsonrpc))
        .route("/web/webclient/version_info", post(version_info))
        .route("/json/2/{model}/{method}", post(json2))
        .fallback(not_found)
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// The call pipeline
// ---------------------------------------------------------------------------------------------

/// How a call ends on the wire.
enum Outcome {
    Reply(Result<Value, OdooError>),
    Http500,
    Dropped,
}

/// What the mutation log should say about a call.
struct CallRecord {
    protocol: Protocol,
    model: String,
    method: String,
    ids: Vec<i64>,
    values: Value,
    mutating: bool,
    /// Records created (for the latency model).
    records: usize,
}

impl Shared {
    fn count(&self, model: &str, method: &str) {
        *lock(&self.journal)
            .counts
            .entry((model.to_owned(), method.to_owned()))
            .or_default() += 1;
    }

    /// One transaction: a copy is kept to roll back to when the call fails (keeping only what
    /// the attempt took from the sequences, which PostgreSQL never gives back), and the clock
    /// moves on only for calls that change state.
    fn transact(
        &self,
        mutating: bool,
        run: impl FnOnce(&mut Database) -> Result<Value, OdooError>,
    ) -> Result<Value, OdooError> {
        let mut db = lock(&self.db);
        if !mutating {
            return run(&mut db);
        }
        let backup = db.clone();
        db.begin(wall_clock());
        let result = run(&mut db);
        if result.is_err() {
            let failed = std::mem::replace(&mut *db, backup);
            db.keep_sequences_of(&failed);
        }
        result
    }

    fn log(&self, record: &CallRecord, response: Result<Value, ErrorPayload>, delivery: MutationDelivery) {
        if !record.mutating {
            return;
        }
        let committed = response.is_ok();
        let ids = match (&response, record.method.as_str()) {
            (Ok(Value::Number(n)), "create") => n.as_i64().into_iter().collect(),
            (Ok(Value::Array(items)), "create") => items.iter().filter_map(Value::as_i64).collect(),
            _ => record.ids.clone(),
        };
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.journal).mutations.push(Mutation {
            seq,
            protocol: record.protocol,
            model: record.model.clone(),
            method: record.method.clone(),
            ids,
            values: record.values.clone(),
            response,
            committed,
            delivery,
        });
    }

    /// Counts the call, applies a scripted fault and the latency model, runs the call in its
    /// transaction and logs it.
    async fn perform(
        &self,
        record: CallRecord,
        run: impl FnOnce(&mut Database) -> Result<Value, OdooError>,
    ) -> Outcome {
        self.count(&record.model, &record.method);
        let fault = lock(&self.faults).take(&record.model, &record.method);
        let latency = self
            .config
            .latency
            .for_call(&record.model, &record.method, record.records);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let (result, delivery) = match fault {
            Some(FaultKind::Http500) => {
                let payload = ErrorPayload {
                    name: "HTTP 500".into(),
                    message: "Internal Server Error".into(),
                    arguments: Vec::new(),
                    context: json!({}),
                    debug: String::new(),
                };
                self.log(&record, Err(payload), MutationDelivery::Answered);
                return Outcome::Http500;
            }
            Some(FaultKind::SerializationFailure) => (Err(OdooError::SerializationFailure), MutationDelivery::Answered),
            Some(FaultKind::AccessDenied) => (Err(OdooError::AccessDenied), MutationDelivery::Answered),
            Some(FaultKind::UserError(message)) => (Err(OdooError::User(message)), MutationDelivery::Answered),
            Some(FaultKind::Delay(d)) => (self.transact(record.mutating, run), MutationDelivery::Late(d)),
            Some(FaultKind::CommitThenDrop) => (self.transact(record.mutating, run), MutationDelivery::Dropped),
            None => (self.transact(record.mutating, run), MutationDelivery::Answered),
        };
        self.log(&record, result.clone().map_err(|e| e.payload()), delivery);
        match delivery {
            MutationDelivery::Answered => Outcome::Reply(result),
            MutationDelivery::Late(d) => {
                tokio::time::sleep(d).await;
                Outcome::Reply(result)
            }
            MutationDelivery::Dropped => Outcome::Dropped,
        }
    }
}

/// Records created by a `create` call: list entries and `(0, 0, vals)` commands.
fn created_records(method: &str, args: &[Value]) -> usize {
    fn nested(v: &Value) -> usize {
        match v {
            Value::Object(map) => map
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .filter(|c| c.as_array().and_then(|c| c.first()).and_then(Value::as_i64) == Some(0))
                .map(|c| 1 + c.get(2).map_or(0, nested))
                .sum(),
            _ => 0,
        }
    }
    if method != "create" {
        return 0;
    }
    match args.first() {
        Some(Value::Array(list)) => list.iter().map(|v| 1 + nested(v)).sum(),
        Some(v @ Value::Object(_)) => 1 + nested(v),
        _ => 1,
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn html_response(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

const BAD_GATEWAY: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad \
                           Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const INTERNAL_ERROR: &str = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal \
                              Server Error</h1>\n<p>The server encountered an internal error and was unable to \
                              complete your request. Either the server is overloaded or there is an error in the \
                              application.</p>\n";
const NOT_FOUND: &str = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The \
                         requested URL was not found on the server. If you entered the URL manually please check \
                         your spelling and try again.</p>\n";

async fn not_found(State(shared): State<Arc<Shared>>) -> Response {
    if shared.down.load(Ordering::Relaxed) {
        return html_response(StatusCode::BAD_GATEWAY, BAD_GATEWAY);
    }
    html_response(StatusCode::NOT_FOUND, NOT_FOUND)
}

/// Turns an outcome into a response; a dropped one cuts the connection and never answers.
async fn finish(
    outcome: Outcome,
    kill: Option<Extension<ConnectionKill>>,
    reply: impl FnOnce(Result<Value, OdooError>) -> Response,
) -> Response {
    match outcome {
        Outcome::Reply(result) => reply(result),
        Outcome::Http500 => html_response(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR),
        Outcome::Dropped => cut_connection(kill).await,
    }
}

/// A JSON-RPC answer. A method that returns Python's `None` (`stock.quant.action_apply_inventory`)
/// gets an answer with **no `result` key at all**, as Odoo's `_json_response` only sets `result`
/// when it is not `None` (transcript 22); the model code returns `Value::Null` for `None`.
fn rpc_reply(id: &Value, result: Result<Value, OdooError>) -> Response {
    let body = match result {
        Ok(Value::Null) => json!({"jsonrpc": "2.0", "id": id}),
        Ok(value) => json!({"jsonrpc": "2.0", "id": id, "result": value}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error.jsonrpc_error()}),
    };
    json_response(StatusCode::OK, &body)
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC
// ---------------------------------------------------------------------------------------------

async fn version_info(
    State(shared): State<Arc<Shared>>,
    kill: Option<Extension<ConnectionKill>>,
    body: Bytes,
) -> Response {
    if shared.down.load(Ordering::Relaxed) {
        return html_response(StatusCode::BAD_GATEWAY, BAD_GATEWAY);
    }
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .unwrap_or(Value::Null);
    let info = shared.config.version.version_info();
    let record = CallRecord {
        protocol: Protocol::JsonRpc,
        model: "web".into(),
        method: "version_info".into(),
        ids: Vec::new(),
        values: Value::Null,
        mutating: false,
        records: 0,
    };
    let outcome = shared.perform(record, |_| Ok(info)).await;
    finish(outcome, kill, |r| rpc_reply(&id, r)).await
}

async fn jsonrpc(State(shared): State<Arc<Shared>>, kill: Option<Extension<ConnectionKill>>, body: Bytes) -> Response {
    if shared.down.load(Ordering::Relaxed) {
        return html_response(StatusCode::BAD_GATEWAY, BAD_GATEWAY);
    }
    if !shared.config.json_rpc {
        return html_response(StatusCode::NOT_FOUND, NOT_FOUND);
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            let error = json!({"code": 200, "message": "Odoo Server Error", "data": {
                "name": "werkzeug.exceptions.BadRequest",
                "debug": super::error::DEBUG_PLACEHOLDER,
                "message": "400 Bad Request: Invalid JSON data",
                "arguments": ["400 Bad Request: Invalid JSON data"],
                "context": {},
            }});
            return json_response(StatusCode::OK, &json!({"jsonrpc": "2.0", "id": null, "error": error}));
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = request.get("params").cloned().unwrap_or_else(|| json!({}));
    let service = params.get("service").and_then(Value::as_str).unwrap_or("").to_owned();
    let method = params.get("method").and_then(Value::as_str).unwrap_or("").to_owned();
    let args = params
        .get("args")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let outcome = match service.as_str() {
        "common" => common(&shared, &method, args).await,
        "object" if method == "execute_kw" || method == "execute" => object(&shared, &method, args).await,
        "object" => Outcome::Reply(Err(OdooError::Key(format!("'{method}'")))),
        "db" => {
            let record = CallRecord {
                protocol: Protocol::JsonRpc,
                model: "db".into(),
                method: method.clone(),
                ids: Vec::new(),
                values: Value::Null,
                mutating: false,
                records: 0,
            };
            let (database, version) = (shared.config.database.clone(), shared.config.version);
            shared
                .perform(record, move |_| match method.as_str() {
                    "list" => Ok(json!([database])),
                    "server_version" => Ok(json!(version.serie())),
                    other => Err(OdooError::Key(format!("'exp_{other}'"))),
                })
                .await
        }
        other => Outcome::Reply(Err(OdooError::Key(format!("'{other}'")))),
    };
    finish(outcome, kill, |r| rpc_reply(&id, r)).await
}

async fn common(shared: &Arc<Shared>, method: &str, args: Vec<Value>) -> Outcome {
    let record = CallRecord {
        protocol: Protocol::JsonRpc,
        model: "common".into(),
        method: method.to_owned(),
        ids: Vec::new(),
        values: Value::Null,
        mutating: false,
        records: 0,
    };
    let (database, version) = (shared.config.database.clone(), shared.config.version);
    let method = method.to_owned();
    shared
        .perform(record, move |db| match method.as_str() {
            "version" => Ok(version.version_info()),
            "login" | "authenticate" => {
                let text = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or("").to_owned();
                if args.len() < 3 {
                    return Err(OdooError::Type(format!(
                        "exp_{method}() missing {} required positional arguments",
                        3 - args.len()
                    )));
                }
                if text(0) != database {
                    return Err(dispatch::unknown_database(&text(0)));
                }
                // A wrong password is `false`, not an error.
                Ok(dispatch::login(db, &text(1), &text(2)).map_or(Value::Bool(false), Value::from))
            }
            "about" => Ok(json!("See http://openerp.com")),
            other => Err(OdooError::Key(format!("'exp_{other}'"))),
        })
        .await
}

async fn object(shared: &Arc<Shared>, method: &str, args: Vec<Value>) -> Outcome {
    if args.len() < 5 {
        return Outcome::Reply(Err(OdooError::Type(format!(
            "{method}() missing {} required positional arguments",
            5 - args.len().min(5)
        ))));
    }
    let database = args[0].as_str().unwrap_or("").to_owned();
    let uid = args[1].as_i64().unwrap_or(0);
    let secret = args[2].as_str().unwrap_or("").to_owned();
    let model = args[3].as_str().unwrap_or("").to_owned();
    let model_method = args[4].as_str().unwrap_or("").to_owned();
    let (positional, kwargs) = if method == "execute_kw" {
        let positional = match args.get(5) {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        let kwargs = match args.get(6) {
            Some(Value::Object(k)) => k.clone(),
            _ => Map::new(),
        };
        (positional, kwargs)
    } else {
        (args[5..].to_vec(), Map::new())
    };
    let mutating = !dispatch::is_read_only(&model_method);
    let ids = match positional.first() {
        Some(Value::Array(items)) if model_method != "create" => items.iter().filter_map(Value::as_i64).collect(),
        Some(Value::Number(n)) => n.as_i64().into_iter().collect(),
        _ => Vec::new(),
    };
    let values = match model_method.as_str() {
        "create" => positional.first().cloned().unwrap_or(Value::Null),
        "write" => positional.get(1).cloned().unwrap_or(Value::Null),
        _ => Value::Object(kwargs.clone()),
    };
    let record = CallRecord {
        protocol: Protocol::JsonRpc,
        records: created_records(&model_method, &positional),
        model: model.clone(),
        method: model_method.clone(),
        ids,
        values,
        mutating,
    };
    let configured = shared.config.database.clone();
    shared
        .perform(record, move |db| {
            if database != configured {
                return Err(dispatch::unknown_database(&database));
            }
            dispatch::check_uid(db, uid, &secret)?;
            dispatch::execute(
                db,
                uid,
                Invocation {
                    model,
                    method: model_method,
                    ids: None,
                    args: positional,
                    kwargs,
                },
            )
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// JSON-2
// ---------------------------------------------------------------------------------------------

fn json2_error(error: &OdooError) -> Response {
    let status = StatusCode::from_u16(error.json2_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &json!(error.payload()))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim().to_owned())
}

async fn json2(
    State(shared): State<Arc<Shared>>,
    Path((model, method)): Path<(String, String)>,
    kill: Option<Extension<ConnectionKill>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if shared.down.load(Ordering::Relaxed) {
        return html_response(StatusCode::BAD_GATEWAY, BAD_GATEWAY);
    }
    if !shared.config.json2 {
        return html_response(StatusCode::NOT_FOUND, NOT_FOUND);
    }
    if let Some(db_name) = headers.get("x-odoo-database").and_then(|v| v.to_str().ok()) {
        if db_name != shared.config.database {
            let error = dispatch::unknown_database(db_name);
            return json_response(StatusCode::NOT_FOUND, &json!(error.payload()));
        }
    }
    let mut params: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => map,
            _ => {
                let error = OdooError::Value("Invalid JSON data: the body must be a JSON object".into());
                return json_response(StatusCode::BAD_REQUEST, &json!(error.payload()));
            }
        }
    };
    let key = bearer(&headers);
    let ids: Vec<i64> = match params.remove("ids") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_i64).collect(),
        Some(Value::Number(n)) => n.as_i64().into_iter().collect(),
        _ => Vec::new(),
    };
    let mutating = !dispatch::is_read_only(&method);
    let values = match method.as_str() {
        "create" => params.get("vals_list").cloned().unwrap_or(Value::Null),
        "write" => params.get("vals").cloned().unwrap_or(Value::Null),
        _ => Value::Object(params.clone()),
    };
    let create_args: Vec<Value> = params.get("vals_list").cloned().into_iter().collect();
    let record = CallRecord {
        protocol: Protocol::Json2,
        records: created_records(&method, &create_args),
        model: model.clone(),
        method: method.clone(),
        ids: ids.clone(),
        values,
        mutating,
    };
    let outcome = shared
        .perform(record, move |db| {
            let uid = key
                .as_deref()
                .and_then(|k| dispatch::api_key_user(db, k))
                .ok_or(OdooError::AccessDenied)?;
            dispatch::execute(
                db,
                uid,
                Invocation {
                    model,
                    method,
                    ids: Some(ids),
                    args: Vec::new(),
                    kwargs: params,
                },
            )
        })
        .await;
    finish(outcome, kill, |r| match r {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(error) => json2_error(&error),
    })
    .await
}

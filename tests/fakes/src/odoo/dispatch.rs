//! One model call, whatever the protocol: the checks Odoo makes in its order (private method,
//! unknown model, unknown method, ids, arguments, access rights) and the routing to the ORM and
//! stock code. JSON-RPC (`execute_kw` positional args and kwargs) and JSON-2 (`ids` and named
//! params) both build an [`Invocation`]; the answer is a `Result<Value, OdooError>` that each
//! protocol puts on the wire its own way. Authentication is in here too, so both share it.

use serde_json::{json, Map, Value};

use super::db::Database;
use super::error::OdooError;
use super::fields::Context;
use super::orm::{self, Env};
use super::schema::{ModelDef, NOT_EMULATED, ORM_METHODS};
use super::stock;

/// A call of `method` on `model`.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub model: String,
    pub method: String,
    /// Record ids, when the protocol carries them apart (JSON-2). For JSON-RPC they are the
    /// first positional argument of record methods.
    pub ids: Option<Vec<i64>>,
    /// Positional arguments (after the ids).
    pub args: Vec<Value>,
    /// Named arguments, `context` included.
    pub kwargs: Map<String, Value>,
}

/// Methods that take no records (`@api.model`).
const MODEL_METHODS: &[&str] = &[
    "search",
    "search_read",
    "search_count",
    "create",
    "fields_get",
    "name_search",
    "check_access_rights",
    "default_get",
    "check_object_reference",
];

/// Methods that change nothing: no transaction clock tick, no rollback copy, no mutation log.
pub fn is_read_only(method: &str) -> bool {
    matches!(
        method,
        "search"
            | "search_read"
            | "search_count"
            | "read"
            | "fields_get"
            | "name_search"
            | "check_access_rights"
            | "default_get"
            | "check_object_reference"
    )
}

/// The parameter names of a method, in positional order.
fn parameters(method: &str) -> &'static [&'static str] {
    match method {
        "search" => &["domain", "offset", "limit", "order"],
        "search_read" => &["domain", "fields", "offset", "limit", "order", "load"],
        "search_count" => &["domain", "limit"],
        "read" => &["fields", "load"],
        "create" => &["vals_list"],
        "write" => &["vals"],
        "fields_get" => &["allfields", "attributes"],
        "name_search" => &["name", "domain", "operator", "limit"],
        "check_access_rights" => &["operation", "raise_exception"],
        "export_data" => &["fields_to_export"],
        "default_get" => &["fields_list"],
        "check_object_reference" => &["module", "xml_id", "raise_on_access_error"],
        _ => &[],
    }
}

/// The operation an access right is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Read,
    Create,
    Write,
    Unlink,
}

fn operation(method: &str) -> Operation {
    match method {
        "create" => Operation::Create,
        "write" | "execute" => Operation::Write,
        "unlink" => Operation::Unlink,
        _ => Operation::Read,
    }
}

fn check_access(db: &Database, uid: i64, def: &ModelDef, op: Operation) -> Result<(), OdooError> {
    let group = if op == Operation::Read {
        def.acl.read
    } else {
        def.acl.write
    };
    let Some(group) = group else { return Ok(()) };
    if db.has_group(uid, group) {
        return Ok(());
    }
    let verb = match op {
        Operation::Read => "access",
        Operation::Create => "create",
        Operation::Write => "modify",
        Operation::Unlink => "delete",
    };
    Err(OdooError::Access(format!(
        "You are not allowed to {verb} '{}' ({}) records.\n\nThis operation is allowed for the following groups:\n\t- \
         {group}\n\nContact your administrator to request access if necessary.",
        def.description, def.name
    )))
}

/// Fields of `res.users` a user may write on their own record without Access Rights (Odoo's
/// `SELF_WRITEABLE_FIELDS`).
const SELF_WRITEABLE: &[&str] = &[
    "signature",
    "action_id",
    "company_id",
    "email",
    "name",
    "image_1920",
    "lang",
    "tz",
];

/// Whether the call is a user writing their own preferences, which Odoo allows to everyone.
fn own_preferences(def: &ModelDef, method: &str, uid: i64, ids: Option<&[i64]>, params: &Map<String, Value>) -> bool {
    def.name == "res.users"
        && method == "write"
        && ids == Some(&[uid][..])
        && params
            .get("vals")
            .and_then(Value::as_object)
            .is_some_and(|vals| vals.keys().all(|k| SELF_WRITEABLE.contains(&k.as_str())))
}

/// The record ids in an argument: `5` or `[5, 6]`.
fn parse_ids(value: &Value) -> Result<Vec<i64>, OdooError> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(|id| vec![id])
            .ok_or_else(|| OdooError::Value(format!("Invalid id {n}"))),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_i64().ok_or_else(|| OdooError::Value(format!("Invalid id {v}"))))
            .collect(),
        Value::Bool(false) | Value::Null => Ok(Vec::new()),
        other => Err(OdooError::Value(format!("Invalid ids {other}"))),
    }
}

fn string_list(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::Array(items) => Some(items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()),
        Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn usize_param(value: Option<&Value>) -> Option<usize> {
    value.and_then(Value::as_u64).map(|n| n as usize)
}

/// Runs an already authenticated call for user `uid`.
pub fn execute(db: &mut Database, uid: i64, inv: Invocation) -> Result<Value, OdooError> {
    let Invocation {
        model,
        method,
        ids,
        args,
        mut kwargs,
    } = inv;
    if method.starts_with('_') {
        return Err(OdooError::Access(format!(
            "Private methods (such as {method}) cannot be called remotely."
        )));
    }
    let def = orm::model_def(&model)?;
    if !ORM_METHODS.contains(&method.as_str()) && !def.methods.contains(&method.as_str()) {
        if NOT_EMULATED.contains(&method.as_str()) {
            return Err(OdooError::NotEmulated(format!(
                "returns-edge-fakes: {model}.{method} exists in Odoo but is not emulated"
            )));
        }
        return Err(OdooError::Attribute(format!(
            "The method '{method}' does not exist on the model '{model}'"
        )));
    }
    let ctx: Context = match kwargs.remove("context") {
        Some(Value::Object(c)) => c,
        _ => Context::new(),
    };
    let mut args = args;
    let record_ids = if MODEL_METHODS.contains(&method.as_str()) {
        None
    } else {
        Some(match ids {
            Some(ids) => ids,
            None if args.is_empty() => return Err(OdooError::Index("list index out of range".into())),
            None => parse_ids(&args.remove(0))?,
        })
    };
    let mut params = bind(def, &method, args, kwargs)?;
    check_module_fields(db, def, &method, &mut params)?;
    if !own_preferences(def, &method, uid, record_ids.as_deref(), &params) {
        check_access(db, uid, def, operation(&method))?;
    }
    db.uid = uid;
    let mut env = Env { db, uid, ctx };
    let ids = record_ids.unwrap_or_default();
    run(&mut env, def, &method, &ids, &params)
}

/// Fields of modules this database lacks (`carrier_tracking_ref` without `delivery`) behave as
/// in an Odoo without that module: named in `fields`, a `write` or a domain they are an
/// "Invalid field" `ValueError`; in `create` values they are ignored.
fn check_module_fields(
    db: &Database,
    def: &ModelDef,
    method: &str,
    params: &mut Map<String, Value>,
) -> Result<(), OdooError> {
    let missing = |field: &str| !db.field_installed(def.name, field);
    if let Some(Value::Array(fields)) = params.get("fields") {
        if let Some(bad) = fields.iter().filter_map(Value::as_str).find(|f| missing(f)) {
            return Err(OdooError::invalid_field(def.name, bad));
        }
    }
    if let Some(domain) = params.get("domain") {
        if let Some(leaf) = leaves(domain).into_iter().find(|leaf| {
            leaf[0]
                .as_str()
                .and_then(|path| path.split('.').next())
                .is_some_and(missing)
        }) {
            let field = leaf[0].as_str().unwrap_or_default();
            return Err(OdooError::Value(format!(
                "Invalid field {}.{field} in leaf {}",
                def.name,
                super::domain::leaf_repr(leaf)
            )));
        }
    }
    if let ("write", Some(Value::Object(vals))) = (method, params.get("vals")) {
        if let Some(bad) = vals.keys().find(|k| missing(k)) {
            return Err(OdooError::invalid_field(def.name, bad));
        }
    }
    match (method, params.get_mut("vals_list")) {
        ("create", Some(Value::Object(vals))) => vals.retain(|k, _| !missing(k)),
        ("create", Some(Value::Array(list))) => {
            for vals in list.iter_mut().filter_map(Value::as_object_mut) {
                vals.retain(|k, _| !missing(k));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The leaves (`[field, op, value]`) of a domain, whatever its nesting.
fn leaves(domain: &Value) -> Vec<&[Value]> {
    match domain {
        Value::Array(items) if items.len() == 3 && items[0].is_string() && items[1].is_string() => {
            vec![items.as_slice()]
        }
        Value::Array(items) => items.iter().flat_map(leaves).collect(),
        _ => Vec::new(),
    }
}

/// Binds positional and named arguments to the method's parameter names, with Python's
/// TypeErrors for the rest.
fn bind(
    def: &ModelDef,
    method: &str,
    args: Vec<Value>,
    kwargs: Map<String, Value>,
) -> Result<Map<String, Value>, OdooError> {
    let names = parameters(method);
    let class = if ORM_METHODS.contains(&method) {
        "BaseModel"
    } else {
        def.class
    };
    let mut bound = Map::new();
    if args.len() > names.len() {
        return Err(OdooError::Type(format!(
            "{class}.{method}() takes {} positional arguments but {} were given",
            names.len() + 1,
            args.len() + 1
        )));
    }
    for (name, value) in names.iter().zip(args) {
        bound.insert((*name).to_owned(), value);
    }
    for (key, value) in kwargs {
        // `args` is the pre-17 name of the domain parameter; Odoo still accepts it.
        let key = if key == "args" && names.contains(&"domain") {
            "domain".to_owned()
        } else {
            key
        };
        if !names.contains(&key.as_str()) {
            // search_read passes unknown keyword arguments down to _read_format.
            let target = if method == "search_read" {
                "BaseModel._read_format".to_owned()
            } else {
                format!("{class}.{method}")
            };
            return Err(OdooError::Type(format!(
                "{target}() got an unexpected keyword argument '{key}'"
            )));
        }
        if bound.contains_key(&key) {
            return Err(OdooError::Type(format!(
                "{class}.{method}() got multiple values for argument '{key}'"
            )));
        }
        bound.insert(key, value);
    }
    Ok(bound)
}

fn run(
    env: &mut Env<'_>,
    def: &ModelDef,
    method: &str,
    ids: &[i64],
    p: &Map<String, Value>,
) -> Result<Value, OdooError> {
    let model = def.name;
    let domain = p.get("domain").cloned().unwrap_or_else(|| json!([]));
    match method {
        "search" => {
            let found = orm::search(
                env,
                model,
                &domain,
                usize_param(p.get("offset")).unwrap_or(0),
                usize_param(p.get("limit")),
                p.get("order").and_then(Value::as_str),
            )?;
            Ok(json!(found))
        }
        "search_read" => {
            let fields = string_list(p.get("fields"));
            if let Some(f) = &fields {
                orm::check_fields(def, f)?;
            }
            let found = orm::search(
                env,
                model,
                &domain,
                usize_param(p.get("offset")).unwrap_or(0),
                usize_param(p.get("limit")),
                p.get("order").and_then(Value::as_str),
            )?;
            Ok(Value::Array(orm::read(env, model, &found, fields.as_deref())?))
        }
        "search_count" => {
            let found = orm::search(env, model, &domain, 0, usize_param(p.get("limit")), None)?;
            Ok(json!(found.len()))
        }
        "read" => {
            let fields = string_list(p.get("fields"));
            Ok(Value::Array(orm::read(env, model, ids, fields.as_deref())?))
        }
        "fields_get" => {
            let mut described = orm::fields_get(
                model,
                string_list(p.get("allfields")).as_deref(),
                string_list(p.get("attributes")).as_deref(),
            )?;
            // Fields of modules this database lacks are not described (`check_module_fields`).
            if let Value::Object(fields) = &mut described {
                fields.retain(|name, _| env.db.field_installed(model, name));
            }
            Ok(described)
        }
        "name_search" => orm::name_search(
            env,
            model,
            p.get("name").and_then(Value::as_str).unwrap_or(""),
            &domain,
            p.get("operator").and_then(Value::as_str).unwrap_or("ilike"),
            usize_param(p.get("limit")).unwrap_or(100),
        ),
        "check_access_rights" => {
            let op = match p.get("operation").and_then(Value::as_str).unwrap_or("read") {
                "create" => Operation::Create,
                "write" => Operation::Write,
                "unlink" => Operation::Unlink,
                _ => Operation::Read,
            };
            match check_access(env.db, env.uid, def, op) {
                Ok(()) => Ok(json!(true)),
                Err(e) if p.get("raise_exception").and_then(Value::as_bool).unwrap_or(true) => Err(e),
                Err(_) => Ok(json!(false)),
            }
        }
        "default_get" => {
            let wanted = string_list(p.get("fields_list")).unwrap_or_default();
            let mut out = Map::new();
            for name in wanted {
                if let Some(v) = env.ctx.get(&format!("default_{name}")) {
                    out.insert(name, v.clone());
                }
            }
            Ok(Value::Object(out))
        }
        "export_data" => {
            let columns = string_list(p.get("fields_to_export")).unwrap_or_default();
            orm::export_data(env, model, ids, &columns)
        }
        "check_object_reference" => orm::check_object_reference(
            env,
            p.get("module").and_then(Value::as_str).unwrap_or(""),
            p.get("xml_id").and_then(Value::as_str).unwrap_or(""),
        ),
        "create" => match p.get("vals_list") {
            Some(Value::Array(list)) => {
                let mut created = Vec::new();
                for vals in list {
                    created.push(orm::create(env, model, vals)?);
                }
                Ok(json!(created))
            }
            Some(vals @ Value::Object(_)) => Ok(json!(orm::create(env, model, vals)?)),
            _ => Err(OdooError::Type(format!(
                "{}.create() missing 1 required positional argument: 'vals_list'",
                def.class
            ))),
        },
        "write" => {
            let vals = p.get("vals").cloned().unwrap_or_else(|| json!({}));
            orm::write(env, model, ids, &vals)?;
            Ok(json!(true))
        }
        "unlink" => {
            orm::unlink(env, model, ids)?;
            Ok(json!(true))
        }
        other => {
            orm::require_existing(env, model, ids)?;
            stock::call(env, model, other, ids)
        }
    }
}

/// The uid of `login` if `secret` is its password or one of its API keys.
pub fn login(db: &Database, login: &str, secret: &str) -> Option<i64> {
    db.users
        .values()
        .find(|u| u.active && u.login == login && (u.password == secret || u.api_keys.iter().any(|k| k == secret)))
        .map(|u| u.id)
}

/// Checks `uid`/`secret` of an `execute_kw` (a wrong one is AccessDenied, never `false`).
pub fn check_uid(db: &Database, uid: i64, secret: &str) -> Result<(), OdooError> {
    match db.users.get(uid) {
        Some(u) if u.active && (u.password == secret || u.api_keys.iter().any(|k| k == secret)) => Ok(()),
        _ => Err(OdooError::AccessDenied),
    }
}

/// The user of a JSON-2 bearer key.
pub fn api_key_user(db: &Database, key: &str) -> Option<i64> {
    db.users
        .values()
        .find(|u| u.active && u.api_keys.iter().any(|k| k == key))
        .map(|u| u.id)
}

/// psycopg2's refusal of an unknown database, as Odoo relays it.
pub fn unknown_database(name: &str) -> OdooError {
    OdooError::Operational(format!(
        "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"{name}\" does not exist\n"
    ))
}

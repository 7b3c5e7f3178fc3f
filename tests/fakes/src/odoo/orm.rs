//! The generic ORM methods every model answers — `search`, `search_read`, `search_count`,
//! `read`, `fields_get`, `name_search`, `export_data`, `default_get` — plus `create`/`write`/
//! `unlink` routing (with context `default_*` values applied as Odoo does) and the simple models
//! (users, partners, locations, products, lots, external ids, settings). Stock semantics live in
//! `stock.rs`; wire formats live in the protocol modules.

use serde_json::{json, Map, Value};

use super::db::{Database, Location, Lot, ModelData, Partner, Product};
use super::domain::{self, Domain};
use super::error::{py_repr, OdooError};
use super::fields::{self, Context};
use super::schema::{self, FieldDef, ModelDef, Ty};
use super::stock;

/// One call's environment: the database inside its transaction, the user, the context.
#[derive(Debug)]
pub struct Env<'a> {
    pub db: &'a mut Database,
    pub uid: i64,
    pub ctx: Context,
}

/// The model definition, or Odoo's "Object … doesn't exist".
pub fn model_def(name: &str) -> Result<&'static ModelDef, OdooError> {
    schema::model(name).ok_or_else(|| OdooError::User(format!("Object {name} doesn't exist")))
}

/// `search`: ids matching the domain, ordered, paged.
pub fn search(
    env: &Env<'_>,
    model: &str,
    domain: &Value,
    offset: usize,
    limit: Option<usize>,
    order: Option<&str>,
) -> Result<Vec<i64>, OdooError> {
    let def = model_def(model)?;
    let parsed = Domain::parse(def, domain)?;
    let terms = domain::parse_order(def, order.unwrap_or(def.order))?;
    let active_test = env.ctx.get("active_test").and_then(Value::as_bool).unwrap_or(true);
    let filter_active = def.has_active && active_test && !parsed.mentions_active();
    let mut ids: Vec<i64> = env
        .db
        .ids(model)
        .unwrap_or_default()
        .into_iter()
        .filter(|id| !filter_active || fields::raw(env.db, model, *id, "active", &env.ctx) != Some(Value::Bool(false)))
        .filter(|id| parsed.matches(env.db, model, *id, &env.ctx))
        .collect();
    domain::sort(env.db, model, &mut ids, &terms, &env.ctx);
    let paged = ids.into_iter().skip(offset);
    Ok(match limit {
        Some(n) => paged.take(n).collect(),
        None => paged.collect(),
    })
}

/// Validates a `fields` list before any record is touched, as Odoo does.
pub fn check_fields(def: &ModelDef, names: &[String]) -> Result<(), OdooError> {
    match names.iter().find(|n| def.field(n).is_none()) {
        Some(bad) => Err(OdooError::invalid_field(def.name, bad)),
        None => Ok(()),
    }
}

/// The wire form of one field value: many2one as `[id, "display name"]` or `false`.
pub fn wire_value(db: &Database, fd: &FieldDef, raw: Value) -> Value {
    match (fd.ty, &raw) {
        (Ty::Many2one(comodel), Value::Number(n)) => match n.as_i64() {
            Some(id) => json!([id, fields::display_name(db, comodel, id)]),
            None => raw,
        },
        _ => raw,
    }
}

/// `read`: existing records only, in the order asked (a missing id is silently skipped).
pub fn read(env: &Env<'_>, model: &str, ids: &[i64], names: Option<&[String]>) -> Result<Vec<Value>, OdooError> {
    let def = model_def(model)?;
    let all: Vec<String>;
    let names = match names {
        Some(n) if !n.is_empty() => n,
        _ => {
            all = def
                .fields
                .iter()
                .filter(|f| env.db.field_installed(model, f.name))
                .map(|f| f.name.to_owned())
                .collect();
            &all
        }
    };
    check_fields(def, names)?;
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for id in ids {
        if !env.db.exists(model, *id) || seen.contains(id) {
            continue;
        }
        seen.push(*id);
        let mut record = Map::new();
        record.insert("id".to_owned(), json!(id));
        for name in names {
            if let Some(fd) = def.field(name) {
                let raw = fields::raw(env.db, model, *id, name, &env.ctx).unwrap_or(Value::Bool(false));
                record.insert(name.clone(), wire_value(env.db, fd, raw));
            }
        }
        out.push(Value::Object(record));
    }
    Ok(out)
}

/// `fields_get`: the requested fields (or all) with the requested attributes.
pub fn fields_get(
    model: &str,
    allfields: Option<&[String]>,
    attributes: Option<&[String]>,
) -> Result<Value, OdooError> {
    let def = model_def(model)?;
    let mut out = Map::new();
    for fd in def.fields {
        if allfields.is_some_and(|wanted| !wanted.is_empty() && !wanted.iter().any(|w| w == fd.name)) {
            continue;
        }
        let mut desc = Map::new();
        let mut put = |key: &str, value: Value| {
            if attributes.is_none_or(|a| a.is_empty() || a.iter().any(|x| x == key)) {
                desc.insert(key.to_owned(), value);
            }
        };
        put("type", json!(fd.ty.as_str()));
        put("string", json!(fd.string));
        put("readonly", json!(fd.readonly));
        put("required", json!(fd.required));
        // `display_name` is computed on every model.
        put("store", json!(fd.store && fd.name != "display_name"));
        if let Some(co) = fd.ty.comodel() {
            put("relation", json!(co));
            // Relational fields describe their domain: the declared text, else an empty list.
            put("domain", fd.domain.map_or_else(|| json!([]), |d| json!(d)));
        }
        out.insert(fd.name.to_owned(), Value::Object(desc));
    }
    Ok(Value::Object(out))
}

/// `name_search`: `[[id, display_name], …]` of records whose display name matches.
pub fn name_search(
    env: &Env<'_>,
    model: &str,
    name: &str,
    domain: &Value,
    operator: &str,
    limit: usize,
) -> Result<Value, OdooError> {
    let ids = search(env, model, domain, 0, None, None)?;
    let needle = Value::String(name.to_owned());
    let leaf = Domain::Leaf(domain::Leaf {
        path: vec!["id".to_owned()],
        op: operator.to_owned(),
        value: needle,
    });
    let hits: Vec<Value> = ids
        .into_iter()
        .filter(|id| name.is_empty() || leaf.matches(env.db, model, *id, &env.ctx))
        .take(limit)
        .map(|id| json!([id, fields::display_name(env.db, model, id)]))
        .collect();
    Ok(Value::Array(hits))
}

/// `export_data`: rows of strings; the `id` column is the external id, created on the fly
/// (`__export__.<table>_<id>_<hash>`) when the record has none, as Odoo does.
pub fn export_data(env: &mut Env<'_>, model: &str, ids: &[i64], columns: &[String]) -> Result<Value, OdooError> {
    let def = model_def(model)?;
    let mut rows = Vec::new();
    let existing: Vec<i64> = ids.iter().copied().filter(|id| env.db.exists(model, *id)).collect();
    for id in &existing {
        let mut row = Vec::new();
        for column in columns {
            if column == "id" {
                row.push(json!(external_id(env.db, model, *id)));
                continue;
            }
            let fd = def
                .field(column)
                .ok_or_else(|| OdooError::invalid_field(model, column))?;
            let raw = fields::raw(env.db, model, *id, column, &env.ctx).unwrap_or(Value::Bool(false));
            row.push(match (fd.ty, raw) {
                (Ty::Many2one(co), Value::Number(n)) => {
                    json!(fields::display_name(env.db, co, n.as_i64().unwrap_or(0)))
                }
                (_, other) => other,
            });
        }
        rows.push(Value::Array(row));
    }
    Ok(json!({"datas": rows}))
}

fn external_id(db: &mut Database, model: &str, id: i64) -> String {
    if let Some(d) = db.model_data.values().find(|d| d.model == model && d.res_id == id) {
        return format!("{}.{}", d.module, d.name);
    }
    let name = format!(
        "{}_{id}_{:08x}",
        model.replace('.', "_"),
        (id as u64).wrapping_mul(2_654_435_761) as u32
    );
    db.model_data.insert_with(|new_id| ModelData {
        id: new_id,
        module: "__export__".to_owned(),
        name: name.clone(),
        model: model.to_owned(),
        res_id: id,
        noupdate: false,
    });
    format!("__export__.{name}")
}

/// Context `default_<field>` values for fields the caller did not give: Odoo applies them to
/// every `create` of a model having that field (which is how wizards get their `pick_ids`).
pub fn apply_context_defaults(def: &ModelDef, vals: &mut Map<String, Value>, ctx: &Context) {
    for fd in def.fields {
        if let Some(value) = ctx.get(&format!("default_{}", fd.name)) {
            vals.entry(fd.name.to_owned()).or_insert_with(|| value.clone());
        }
    }
}

/// `create` of one record of any model.
pub fn create(env: &mut Env<'_>, model: &str, vals: &Value) -> Result<i64, OdooError> {
    let def = model_def(model)?;
    let Value::Object(given) = vals else {
        return Err(OdooError::Value(format!(
            "Invalid create values for {model}: {}",
            py_repr(vals)
        )));
    };
    let mut vals = given.clone();
    apply_context_defaults(def, &mut vals, &env.ctx);
    // Odoo ignores (with a warning in its log) unknown fields on create.
    vals.retain(|k, _| def.field(k).is_some());
    match model {
        "res.users" => create_user(env, &vals),
        "res.partner" => create_partner(env, &vals),
        "stock.location" => create_location(env, &vals),
        "product.product" => create_product(env, &vals),
        "stock.lot" => create_lot(env, &vals),
        "ir.model.data" => create_model_data(env, &vals),
        "ir.config_parameter" => {
            let key = req_text(def, &vals, "key")?;
            let value = opt_text(model, &vals, "value")?.unwrap_or_default();
            Ok(env
                .db
                .config_params
                .insert_with(|id| super::db::ConfigParam { id, key, value }))
        }
        "res.config.settings" => {
            let multi = boolean(&vals, "group_stock_multi_locations").unwrap_or(false);
            Ok(env.db.config_settings.insert_with(|id| super::db::ConfigSettings {
                id,
                group_stock_multi_locations: multi,
            }))
        }
        _ => stock::create(env, model, &vals),
    }
}

/// `write` of several records of any model; unknown fields are a `ValueError`.
pub fn write(env: &mut Env<'_>, model: &str, ids: &[i64], vals: &Value) -> Result<(), OdooError> {
    let def = model_def(model)?;
    let Value::Object(vals) = vals else {
        return Err(OdooError::Value(format!(
            "Invalid write values for {model}: {}",
            py_repr(vals)
        )));
    };
    if let Some(bad) = vals.keys().find(|k| def.field(k).is_none()) {
        return Err(OdooError::invalid_field(model, bad));
    }
    require_existing(env, model, ids)?;
    match model {
        "res.users" => write_users(env, ids, vals),
        "res.partner" => write_partner(env, ids, vals),
        "stock.location" => write_location(env, ids, vals),
        "product.product" => write_product(env, ids, vals),
        "stock.lot" => {
            for id in ids {
                let name = opt_text(model, vals, "name")?;
                let reference = opt_text(model, vals, "ref")?;
                let now = env.db.now;
                let lot = env
                    .db
                    .lots
                    .get_mut(*id)
                    .ok_or_else(|| OdooError::missing(model, ids, env.uid))?;
                if let Some(Some(name)) = vals.contains_key("name").then_some(name) {
                    lot.name = name;
                }
                if vals.contains_key("ref") {
                    lot.reference = reference;
                }
                lot.write_date = now;
            }
            Ok(())
        }
        "ir.model.data" => {
            for id in ids {
                let d = env
                    .db
                    .model_data
                    .get_mut(*id)
                    .ok_or_else(|| OdooError::missing(model, ids, env.uid))?;
                if let Some(v) = vals.get("res_id").and_then(Value::as_i64) {
                    d.res_id = v;
                }
                if let Some(v) = vals.get("noupdate").and_then(Value::as_bool) {
                    d.noupdate = v;
                }
            }
            Ok(())
        }
        "ir.config_parameter" => {
            for id in ids {
                if let Some(p) = env.db.config_params.get_mut(*id) {
                    if let Some(v) = vals.get("value").and_then(Value::as_str) {
                        v.clone_into(&mut p.value);
                    }
                }
            }
            Ok(())
        }
        _ => stock::write(env, model, ids, vals),
    }
}

/// `unlink` of several records of any model.
pub fn unlink(env: &mut Env<'_>, model: &str, ids: &[i64]) -> Result<(), OdooError> {
    model_def(model)?;
    require_existing(env, model, ids)?;
    match model {
        "ir.model.data" => {
            ids.iter().for_each(|id| {
                env.db.model_data.rows.remove(id);
            });
            Ok(())
        }
        "ir.config_parameter" => {
            ids.iter().for_each(|id| {
                env.db.config_params.rows.remove(id);
            });
            Ok(())
        }
        "stock.lot" => {
            ids.iter().for_each(|id| {
                env.db.lots.rows.remove(id);
            });
            Ok(())
        }
        _ => stock::unlink(env, model, ids),
    }
}

/// `MissingError` unless every id exists.
pub fn require_existing(env: &Env<'_>, model: &str, ids: &[i64]) -> Result<(), OdooError> {
    let missing: Vec<i64> = ids.iter().copied().filter(|id| !env.db.exists(model, *id)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(OdooError::missing(model, &missing, env.uid))
    }
}

// ---- value helpers: how Odoo converts JSON values for each field type ----

/// A many2one value: an id, or `false`/`null` for none.
pub fn opt_id(model: &str, vals: &Map<String, Value>, field: &str) -> Result<Option<i64>, OdooError> {
    match vals.get(field) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| OdooError::wrong_value(model, field, &vals[field])),
        Some(other) => Err(OdooError::wrong_value(model, field, other)),
    }
}

/// A many2one that must point at an existing record of `comodel`.
pub fn existing_id(
    env: &Env<'_>,
    model: &str,
    vals: &Map<String, Value>,
    field: &str,
    comodel: &str,
) -> Result<Option<i64>, OdooError> {
    match opt_id(model, vals, field)? {
        Some(id) if !env.db.exists(comodel, id) => Err(OdooError::missing(comodel, &[id], env.uid)),
        other => Ok(other),
    }
}

/// A char value: a string, `false` for none; numbers are converted as Python's `str()` would.
pub fn opt_text(model: &str, vals: &Map<String, Value>, field: &str) -> Result<Option<String>, OdooError> {
    match vals.get(field) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(OdooError::wrong_value(model, field, other)),
    }
}

/// A required char value (NOT NULL → ValidationError).
pub fn req_text(def: &ModelDef, vals: &Map<String, Value>, field: &str) -> Result<String, OdooError> {
    opt_text(def.name, vals, field)?.ok_or_else(|| not_null(def, field))
}

/// A float value (`false` reads as 0).
pub fn float(model: &str, vals: &Map<String, Value>, field: &str) -> Result<Option<f64>, OdooError> {
    match vals.get(field) {
        None => Ok(None),
        Some(Value::Null) | Some(Value::Bool(false)) => Ok(Some(0.0)),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| OdooError::wrong_value(model, field, &vals[field])),
        Some(other) => Err(OdooError::wrong_value(model, field, other)),
    }
}

/// A boolean value, by Python truthiness.
pub fn boolean(vals: &Map<String, Value>, field: &str) -> Option<bool> {
    vals.get(field).map(|v| match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    })
}

/// A selection value checked against its allowed values.
pub fn selection(
    model: &str,
    vals: &Map<String, Value>,
    field: &str,
    allowed: &[&str],
) -> Result<Option<String>, OdooError> {
    match vals.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(other) => Err(OdooError::wrong_value(model, field, other)),
    }
}

/// The NOT NULL ValidationError for `field` of `def`.
pub fn not_null(def: &ModelDef, field: &str) -> OdooError {
    let string = def.field(field).map_or(field, |f| f.string);
    OdooError::not_null(def.name, def.description, field, string)
}

/// One x2many command.
#[derive(Debug, Clone)]
pub enum Command {
    Create(Map<String, Value>),
    Update(i64, Map<String, Value>),
    Delete(i64),
    Unlink(i64),
    Link(i64),
    Clear,
    Set(Vec<i64>),
}

/// Parses x2many commands (`[[0, 0, {...}], [4, id], [6, 0, ids]]`) or a plain list of ids.
pub fn commands(model: &str, field: &str, value: &Value) -> Result<Vec<Command>, OdooError> {
    let bad = || OdooError::wrong_value(model, field, value);
    let Value::Array(items) = value else {
        return if matches!(value, Value::Bool(false) | Value::Null) {
            Ok(vec![Command::Clear])
        } else {
            Err(bad())
        };
    };
    if items.iter().all(Value::is_i64) {
        return Ok(vec![Command::Set(items.iter().filter_map(Value::as_i64).collect())]);
    }
    let mut out = Vec::new();
    for item in items {
        let Value::Array(cmd) = item else { return Err(bad()) };
        let code = cmd.first().and_then(Value::as_i64).ok_or_else(bad)?;
        let id = cmd.get(1).and_then(Value::as_i64).unwrap_or(0);
        let map = || cmd.get(2).and_then(Value::as_object).cloned().unwrap_or_default();
        out.push(match code {
            0 => Command::Create(map()),
            1 => Command::Update(id, map()),
            2 => Command::Delete(id),
            3 => Command::Unlink(id),
            4 => Command::Link(id),
            5 => Command::Clear,
            6 => Command::Set(
                cmd.get(2)
                    .and_then(Value::as_array)
                    .map_or_else(Vec::new, |ids| ids.iter().filter_map(Value::as_i64).collect()),
            ),
            _ => return Err(bad()),
        });
    }
    Ok(out)
}

/// Ids named by `Link`/`Set` commands (for many2many fields of wizards).
pub fn linked_ids(cmds: &[Command]) -> Vec<i64> {
    let mut ids = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Link(id) => ids.push(*id),
            Command::Set(set) => ids = set.clone(),
            Command::Clear => ids.clear(),
            Command::Unlink(id) | Command::Delete(id) => ids.retain(|x| x != id),
            Command::Create(_) | Command::Update(..) => {}
        }
    }
    ids
}

// ---- simple models ----

/// The groups after x2many commands on `groups_id`, starting from `current`.
fn apply_group_commands(env: &Env<'_>, current: &[i64], value: &Value) -> Result<Vec<i64>, OdooError> {
    let mut groups = current.to_vec();
    for cmd in commands("res.users", "groups_id", value)? {
        match cmd {
            Command::Link(id) if !groups.contains(&id) => groups.push(id),
            Command::Unlink(id) | Command::Delete(id) => groups.retain(|g| *g != id),
            Command::Set(ids) => groups = ids,
            Command::Clear => groups.clear(),
            Command::Create(_) | Command::Update(..) => {
                return Err(super::stock::not_emulated(
                    "creating or changing res.groups through groups_id",
                ))
            }
            Command::Link(_) => {}
        }
    }
    if let Some(bad) = groups.iter().find(|g| !env.db.groups.contains(**g)) {
        return Err(OdooError::missing("res.groups", &[*bad], env.uid));
    }
    Ok(groups)
}

fn check_unique_login(env: &Env<'_>, login: &str, except: i64) -> Result<(), OdooError> {
    if env.db.users.values().any(|u| u.id != except && u.login == login) {
        return Err(OdooError::Validation(
            "The operation cannot be completed: You can not have two users with the same login!".into(),
        ));
    }
    Ok(())
}

/// `res.users.create`: the user and its partner (named like the user, with the user's email).
/// Without `groups_id` a new user gets the default template's Internal User.
fn create_user(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "res.users";
    let def = model_def(m)?;
    let name = opt_text(m, vals, "name")?.ok_or_else(|| OdooError::Validation("Contacts require a name".to_owned()))?;
    let login = req_text(def, vals, "login")?;
    check_unique_login(env, &login, 0)?;
    let groups = match vals.get("groups_id") {
        Some(v) => apply_group_commands(env, &[], v)?,
        None => vec![super::seed::groups::INTERNAL_USER],
    };
    let now = env.db.now;
    let email = opt_text(m, vals, "email")?;
    let partner_id = env.db.partners.insert_with(|id| Partner {
        id,
        name: name.clone(),
        email,
        phone: None,
        mobile: None,
        reference: None,
        street: None,
        city: None,
        zip: None,
        is_company: false,
        parent_id: None,
        active: true,
        create_date: now,
        write_date: now,
    });
    let user = super::db::User {
        id: 0,
        name,
        login,
        password: opt_text(m, vals, "password")?.unwrap_or_default(),
        api_keys: Vec::new(),
        partner_id,
        tz: opt_text(m, vals, "tz")?.unwrap_or_else(|| "Europe/Brussels".into()),
        lang: opt_text(m, vals, "lang")?.unwrap_or_else(|| "en_US".into()),
        groups,
        active: boolean(vals, "active").unwrap_or(true),
        write_date: now,
    };
    Ok(env.db.users.insert_with(|id| super::db::User { id, ..user }))
}

/// `res.users.write`: `email` and `name` go to the partner too (they are the partner's fields).
fn write_users(env: &mut Env<'_>, ids: &[i64], vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "res.users";
    let def = model_def(m)?;
    for id in ids {
        let mut u = env
            .db
            .users
            .get(*id)
            .cloned()
            .ok_or_else(|| OdooError::missing(m, &[*id], env.uid))?;
        if vals.contains_key("login") {
            u.login = req_text(def, vals, "login")?;
            check_unique_login(env, &u.login, *id)?;
        }
        if vals.contains_key("name") {
            u.name =
                opt_text(m, vals, "name")?.ok_or_else(|| OdooError::Validation("Contacts require a name".into()))?;
        }
        if let Some(password) = opt_text(m, vals, "password")? {
            u.password = password;
        }
        for (field, slot) in [("tz", &mut u.tz), ("lang", &mut u.lang)] {
            if let Some(v) = opt_text(m, vals, field)? {
                *slot = v;
            }
        }
        if let Some(b) = boolean(vals, "active") {
            u.active = b;
        }
        if let Some(v) = vals.get("groups_id") {
            u.groups = apply_group_commands(env, &u.groups, v)?;
        }
        let now = env.db.now;
        u.write_date = now;
        let email = vals
            .contains_key("email")
            .then(|| opt_text(m, vals, "email"))
            .transpose()?;
        if let Some(p) = env.db.partners.get_mut(u.partner_id) {
            if let Some(email) = email {
                p.email = email;
            }
            if vals.contains_key("name") {
                p.name.clone_from(&u.name);
            }
            p.write_date = now;
        }
        env.db.users.rows.insert(*id, u);
    }
    Ok(())
}

fn create_partner(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "res.partner";
    let name = opt_text(m, vals, "name")?.ok_or_else(|| OdooError::Validation("Contacts require a name".to_owned()))?;
    let parent_id = existing_id(env, m, vals, "parent_id", m)?;
    let now = env.db.now;
    let partner = Partner {
        id: 0,
        name,
        email: opt_text(m, vals, "email")?,
        phone: opt_text(m, vals, "phone")?,
        mobile: opt_text(m, vals, "mobile")?,
        reference: opt_text(m, vals, "ref")?,
        street: opt_text(m, vals, "street")?,
        city: opt_text(m, vals, "city")?,
        zip: opt_text(m, vals, "zip")?,
        is_company: boolean(vals, "is_company").unwrap_or(false),
        parent_id,
        active: boolean(vals, "active").unwrap_or(true),
        create_date: now,
        write_date: now,
    };
    Ok(env.db.partners.insert_with(|id| Partner { id, ..partner }))
}

fn write_partner(env: &mut Env<'_>, ids: &[i64], vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "res.partner";
    for id in ids {
        let mut p = env
            .db
            .partners
            .get(*id)
            .cloned()
            .ok_or_else(|| OdooError::missing(m, &[*id], env.uid))?;
        if vals.contains_key("name") {
            p.name =
                opt_text(m, vals, "name")?.ok_or_else(|| OdooError::Validation("Contacts require a name".into()))?;
        }
        for (field, slot) in [
            ("email", &mut p.email),
            ("phone", &mut p.phone),
            ("mobile", &mut p.mobile),
            ("ref", &mut p.reference),
            ("street", &mut p.street),
            ("city", &mut p.city),
            ("zip", &mut p.zip),
        ] {
            if vals.contains_key(field) {
                *slot = opt_text(m, vals, field)?;
            }
        }
        if let Some(b) = boolean(vals, "active") {
            p.active = b;
        }
        if let Some(b) = boolean(vals, "is_company") {
            p.is_company = b;
        }
        if vals.contains_key("parent_id") {
            p.parent_id = existing_id(env, m, vals, "parent_id", m)?;
        }
        p.write_date = env.db.now;
        env.db.partners.rows.insert(*id, p);
    }
    Ok(())
}

const USAGES: &[&str] = &[
    "supplier",
    "view",
    "internal",
    "customer",
    "inventory",
    "production",
    "transit",
];

fn check_location_barcodes(env: &Env<'_>) -> Result<(), OdooError> {
    let mut seen: Vec<&str> = Vec::new();
    for l in env.db.locations.values() {
        if let Some(b) = l.barcode.as_deref() {
            if seen.contains(&b) {
                return Err(OdooError::Validation(
                    "The operation cannot be completed: The barcode for a location must be unique per company!".into(),
                ));
            }
            seen.push(b);
        }
    }
    Ok(())
}

fn create_location(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "stock.location";
    let def = model_def(m)?;
    let name = req_text(def, vals, "name")?;
    let parent_id = existing_id(env, m, vals, "location_id", m)?;
    let usage = selection(m, vals, "usage", USAGES)?.unwrap_or_else(|| "internal".to_owned());
    let now = env.db.now;
    let location = Location {
        id: 0,
        name,
        parent_id,
        usage,
        barcode: opt_text(m, vals, "barcode")?,
        return_location: boolean(vals, "return_location").unwrap_or(false),
        scrap_location: boolean(vals, "scrap_location").unwrap_or(false),
        active: boolean(vals, "active").unwrap_or(true),
        company_id: Some(env.db.company.id),
        create_date: now,
        write_date: now,
    };
    let id = env.db.locations.insert_with(|id| Location { id, ..location });
    check_location_barcodes(env)?;
    Ok(id)
}

fn write_location(env: &mut Env<'_>, ids: &[i64], vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "stock.location";
    let def = model_def(m)?;
    for id in ids {
        let mut l = env
            .db
            .locations
            .get(*id)
            .cloned()
            .ok_or_else(|| OdooError::missing(m, &[*id], env.uid))?;
        if vals.contains_key("name") {
            l.name = req_text(def, vals, "name")?;
        }
        if vals.contains_key("location_id") {
            l.parent_id = existing_id(env, m, vals, "location_id", m)?;
        }
        if let Some(u) = selection(m, vals, "usage", USAGES)? {
            l.usage = u;
        }
        if vals.contains_key("barcode") {
            l.barcode = opt_text(m, vals, "barcode")?;
        }
        if let Some(b) = boolean(vals, "return_location") {
            l.return_location = b;
        }
        if let Some(b) = boolean(vals, "scrap_location") {
            l.scrap_location = b;
        }
        if let Some(b) = boolean(vals, "active") {
            l.active = b;
        }
        l.write_date = env.db.now;
        env.db.locations.rows.insert(*id, l);
    }
    check_location_barcodes(env)
}

/// Odoo 17's barcode constraint on products, with its exact message.
fn check_product_barcodes(env: &Env<'_>, written: &[i64]) -> Result<(), OdooError> {
    let mut lines = Vec::new();
    let mut checked: Vec<&str> = Vec::new();
    for id in written {
        let Some(barcode) = env.db.products.get(*id).and_then(|p| p.barcode.as_deref()) else {
            continue;
        };
        if checked.contains(&barcode) {
            continue;
        }
        checked.push(barcode);
        let owners: Vec<String> = env
            .db
            .products
            .values()
            .filter(|p| p.active && p.barcode.as_deref() == Some(barcode))
            .map(|p| env.db.product_display_name(p.id))
            .collect();
        if owners.len() > 1 {
            lines.push(format!(
                "- Barcode \"{barcode}\" already assigned to product(s): {}",
                owners.join(", ")
            ));
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    Err(OdooError::Validation(format!(
        "Barcode(s) already assigned:\n\n{}\n\nNote: products that you don't have access to will not be shown above.",
        lines.join("\n")
    )))
}

const TRACKING: &[&str] = &["serial", "lot", "none"];
const PRODUCT_TYPES: &[&str] = &["consu", "service", "product"];

fn create_product(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "product.product";
    let def = model_def(m)?;
    let name = req_text(def, vals, "name")?;
    let detailed_type = selection(m, vals, "detailed_type", PRODUCT_TYPES)?
        .or(selection(m, vals, "type", PRODUCT_TYPES)?)
        .unwrap_or_else(|| "consu".to_owned());
    let now = env.db.now;
    let product = Product {
        id: 0,
        name,
        default_code: opt_text(m, vals, "default_code")?,
        barcode: opt_text(m, vals, "barcode")?,
        tracking: selection(m, vals, "tracking", TRACKING)?.unwrap_or_else(|| "none".to_owned()),
        detailed_type,
        weight: float(m, vals, "weight")?.unwrap_or(0.0),
        list_price: float(m, vals, "list_price")?.unwrap_or(1.0),
        uom_id: 1,
        active: boolean(vals, "active").unwrap_or(true),
        create_date: now,
        write_date: now,
    };
    let id = env.db.products.insert_with(|id| Product { id, ..product });
    check_product_barcodes(env, &[id])?;
    Ok(id)
}

fn write_product(env: &mut Env<'_>, ids: &[i64], vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "product.product";
    let def = model_def(m)?;
    for id in ids {
        let mut p = env
            .db
            .products
            .get(*id)
            .cloned()
            .ok_or_else(|| OdooError::missing(m, &[*id], env.uid))?;
        if vals.contains_key("name") {
            p.name = req_text(def, vals, "name")?;
        }
        if vals.contains_key("default_code") {
            p.default_code = opt_text(m, vals, "default_code")?;
        }
        if vals.contains_key("barcode") {
            p.barcode = opt_text(m, vals, "barcode")?;
        }
        if let Some(t) = selection(m, vals, "tracking", TRACKING)? {
            p.tracking = t;
        }
        if let Some(t) = selection(m, vals, "detailed_type", PRODUCT_TYPES)? {
            p.detailed_type = t;
        }
        if let Some(w) = float(m, vals, "weight")? {
            p.weight = w;
        }
        if let Some(w) = float(m, vals, "list_price")? {
            p.list_price = w;
        }
        if let Some(b) = boolean(vals, "active") {
            p.active = b;
        }
        p.write_date = env.db.now;
        env.db.products.rows.insert(*id, p);
    }
    check_product_barcodes(env, ids)
}

fn create_lot(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "stock.lot";
    let def = model_def(m)?;
    let name = req_text(def, vals, "name")?;
    let product_id =
        existing_id(env, m, vals, "product_id", "product.product")?.ok_or_else(|| not_null(def, "product_id"))?;
    if env
        .db
        .lots
        .values()
        .any(|l| l.name == name && l.product_id == product_id)
    {
        return Err(OdooError::Validation(format!(
            "The combination of serial number and product must be unique across a company.\nFollowing combination \
             contains duplicates:\n - Product: {}, Serial Number: {name}",
            env.db.product_display_name(product_id)
        )));
    }
    let reference = opt_text(m, vals, "ref")?;
    let now = env.db.now;
    Ok(env.db.lots.insert_with(|id| Lot {
        id,
        name,
        product_id,
        reference,
        create_date: now,
        write_date: now,
    }))
}

fn create_model_data(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "ir.model.data";
    let def = model_def(m)?;
    let module = req_text(def, vals, "module")?;
    let name = req_text(def, vals, "name")?;
    let model = req_text(def, vals, "model")?;
    if env.db.model_data.values().any(|d| d.module == module && d.name == name) {
        return Err(OdooError::Validation(format!(
            "The operation cannot be completed: duplicate key value violates unique constraint \
             \"ir_model_data_module_name_uniq_index\"\nDETAIL:  Key (module, name)=({module}, {name}) already exists.\n"
        )));
    }
    let res_id = opt_id(m, vals, "res_id")?.unwrap_or(0);
    let noupdate = boolean(vals, "noupdate").unwrap_or(false);
    Ok(env.db.model_data.insert_with(|id| ModelData {
        id,
        module,
        name,
        model,
        res_id,
        noupdate,
    }))
}

/// `ir.model.data.check_object_reference(module, xml_id)` → `[model, res_id]`.
pub fn check_object_reference(env: &Env<'_>, module: &str, xml_id: &str) -> Result<Value, OdooError> {
    env.db
        .model_data
        .values()
        .find(|d| d.module == module && d.name == xml_id)
        .map(|d| json!([d.model, d.res_id]))
        .ok_or_else(|| OdooError::Value(format!("External ID not found in the system: {module}.{xml_id}")))
}

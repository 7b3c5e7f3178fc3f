//! Search domains and orders: parsing Odoo's prefix-notation domains (`&`, `|`, `!`, implicit
//! AND, leaves `[field, operator, value]` with dotted paths like `picking_id.origin`), evaluating
//! them against records with Odoo's SQL semantics (a negative operator also matches NULL,
//! `= false` matches unset), and sorting by an `order` spec (NULLs last ascending, first
//! descending, as PostgreSQL). Errors carry Odoo's exact wording for unknown fields.

use std::cmp::Ordering;

use serde_json::Value;

use super::db::Database;
use super::error::{py_repr, OdooError};
use super::fields::{self, Context};
use super::schema::{self, ModelDef, Ty};

/// A parsed domain.
#[derive(Debug, Clone)]
pub enum Domain {
    Const(bool),
    Leaf(Leaf),
    Not(Box<Domain>),
    And(Vec<Domain>),
    Or(Vec<Domain>),
}

/// One `[path, operator, value]` term.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub path: Vec<String>,
    pub op: String,
    pub value: Value,
}

const OPERATORS: &[&str] = &[
    "=",
    "!=",
    "<>",
    "in",
    "not in",
    "like",
    "ilike",
    "not like",
    "not ilike",
    "=like",
    "=ilike",
    "<",
    ">",
    "<=",
    ">=",
    "child_of",
    "parent_of",
    "=?",
];

/// The Python repr of a leaf as a tuple, e.g. `('no_such_field', '=', 1)`.
pub(crate) fn leaf_repr(items: &[Value]) -> String {
    format!("({})", items.iter().map(py_repr).collect::<Vec<_>>().join(", "))
}

impl Domain {
    /// Parses and validates `value` (a JSON list) against `model`.
    pub fn parse(model: &ModelDef, value: &Value) -> Result<Domain, OdooError> {
        let items = match value {
            Value::Array(items) => items,
            Value::Null | Value::Bool(false) => return Ok(Domain::Const(true)),
            other => return Err(OdooError::Value(format!("Invalid domain {}", py_repr(other)))),
        };
        let mut stack: Vec<Domain> = Vec::new();
        for item in items.iter().rev() {
            match item {
                Value::String(op) if op == "&" || op == "|" => {
                    let (Some(a), Some(b)) = (stack.pop(), stack.pop()) else {
                        return Err(OdooError::Value(format!("Invalid domain {}", py_repr(value))));
                    };
                    stack.push(if op == "&" {
                        Domain::And(vec![a, b])
                    } else {
                        Domain::Or(vec![a, b])
                    });
                }
                Value::String(op) if op == "!" => {
                    let Some(a) = stack.pop() else {
                        return Err(OdooError::Value(format!("Invalid domain {}", py_repr(value))));
                    };
                    stack.push(Domain::Not(Box::new(a)));
                }
                Value::Array(term) if term.len() == 3 => stack.push(parse_leaf(model, term)?),
                other => return Err(OdooError::Value(format!("Invalid leaf {}", py_repr(other)))),
            }
        }
        stack.reverse();
        Ok(match stack.len() {
            0 => Domain::Const(true),
            1 => stack.pop().unwrap_or(Domain::Const(true)),
            _ => Domain::And(stack),
        })
    }

    /// Whether record `id` of `model` satisfies the domain.
    pub fn matches(&self, db: &Database, model: &str, id: i64, ctx: &Context) -> bool {
        match self {
            Domain::Const(b) => *b,
            Domain::Not(d) => !d.matches(db, model, id, ctx),
            Domain::And(ds) => ds.iter().all(|d| d.matches(db, model, id, ctx)),
            Domain::Or(ds) => ds.iter().any(|d| d.matches(db, model, id, ctx)),
            Domain::Leaf(leaf) => leaf_matches(db, model, id, &leaf.path, &leaf.op, &leaf.value, ctx),
        }
    }

    /// Whether any leaf is about the `active` field (then the implicit `active = True` is off).
    pub fn mentions_active(&self) -> bool {
        match self {
            Domain::Const(_) => false,
            Domain::Leaf(l) => l.path.first().is_some_and(|f| f == "active"),
            Domain::Not(d) => d.mentions_active(),
            Domain::And(ds) | Domain::Or(ds) => ds.iter().any(Domain::mentions_active),
        }
    }
}

fn parse_leaf(model: &ModelDef, term: &[Value]) -> Result<Domain, OdooError> {
    // Odoo's TRUE_LEAF (1, '=', 1) and FALSE_LEAF (0, '=', 1).
    if let (Some(a), Some("="), Some(1)) = (term[0].as_i64(), term[1].as_str(), term[2].as_i64()) {
        return Ok(Domain::Const(a == 1));
    }
    let (Some(path), Some(op)) = (term[0].as_str(), term[1].as_str()) else {
        return Err(OdooError::Value(format!("Invalid leaf {}", leaf_repr(term))));
    };
    let op = op.to_lowercase();
    if !OPERATORS.contains(&op.as_str()) {
        return Err(OdooError::Value(format!("Invalid leaf {}", leaf_repr(term))));
    }
    let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
    let mut current = model;
    for (i, segment) in segments.iter().enumerate() {
        let Some(fd) = current.field(segment) else {
            return Err(OdooError::Value(format!(
                "Invalid field {}.{segment} in leaf {}",
                current.name,
                leaf_repr(term)
            )));
        };
        if i + 1 < segments.len() {
            match fd.ty.comodel().and_then(schema::model) {
                Some(next) => current = next,
                None => {
                    return Err(OdooError::Value(format!(
                        "Invalid field {}.{} in leaf {}",
                        current.name,
                        segments[i + 1],
                        leaf_repr(term)
                    )))
                }
            }
        }
    }
    let op = if op == "<>" { "!=".to_owned() } else { op };
    Ok(Domain::Leaf(Leaf {
        path: segments,
        op,
        value: term[2].clone(),
    }))
}

fn leaf_matches(db: &Database, model: &str, id: i64, path: &[String], op: &str, value: &Value, ctx: &Context) -> bool {
    let Some(def) = schema::model(model) else { return false };
    let Some(fd) = def.field(&path[0]) else { return false };
    let raw = fields::raw(db, model, id, &path[0], ctx).unwrap_or(Value::Bool(false));
    if path.len() > 1 {
        let Some(comodel) = fd.ty.comodel() else { return false };
        return related_ids(&raw)
            .into_iter()
            .any(|rid| leaf_matches(db, comodel, rid, &path[1..], op, value, ctx));
    }
    match fd.ty {
        Ty::Many2one(comodel) | Ty::One2many(comodel) | Ty::Many2many(comodel) => {
            relational_matches(db, comodel, &related_ids(&raw), op, value)
        }
        _ if path[0] == "id" => relational_matches(db, model, &related_ids(&raw), op, value),
        _ => scalar_matches(&raw, op, value),
    }
}

fn related_ids(raw: &Value) -> Vec<i64> {
    match raw {
        Value::Number(n) => n.as_i64().into_iter().collect(),
        Value::Array(items) => items.iter().filter_map(Value::as_i64).collect(),
        _ => Vec::new(),
    }
}

fn is_unset(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Bool(false))
}

/// The ids a domain value names (`5`, `[5, 6]`), and whether it also names "unset" (`false`).
fn value_ids(value: &Value) -> (Vec<i64>, bool) {
    match value {
        Value::Array(items) => (
            items.iter().filter_map(Value::as_i64).collect(),
            items.iter().any(is_unset) || items.is_empty(),
        ),
        Value::Number(n) => (n.as_i64().into_iter().collect(), false),
        v if is_unset(v) => (Vec::new(), true),
        _ => (Vec::new(), false),
    }
}

fn relational_matches(db: &Database, comodel: &str, ids: &[i64], op: &str, value: &Value) -> bool {
    let names = || {
        ids.iter()
            .map(|id| fields::display_name(db, comodel, *id))
            .collect::<Vec<_>>()
    };
    match op {
        "=?" if is_unset(value) => true,
        "=" | "in" | "=?" => match value {
            Value::String(s) => names().iter().any(|n| n == s),
            _ => {
                let (wanted, unset) = value_ids(value);
                (unset && ids.is_empty()) || ids.iter().any(|id| wanted.contains(id))
            }
        },
        "!=" | "not in" => match value {
            Value::String(s) => !names().iter().any(|n| n == s),
            _ => {
                let (wanted, unset) = value_ids(value);
                if unset && wanted.is_empty() {
                    !ids.is_empty()
                } else {
                    !(ids.iter().any(|id| wanted.contains(id)) || (unset && ids.is_empty()))
                }
            }
        },
        "child_of" | "parent_of" => {
            let (roots, _) = value_ids(value);
            let family: Vec<i64> = if comodel == "stock.location" {
                if op == "child_of" {
                    roots.iter().flat_map(|r| db.location_subtree(*r)).collect()
                } else {
                    roots.iter().flat_map(|r| location_ancestors(db, *r)).collect()
                }
            } else {
                roots
            };
            ids.iter().any(|id| family.contains(id))
        }
        "like" | "ilike" | "=like" | "=ilike" => names().iter().any(|n| like(n, op, value)),
        "not like" | "not ilike" => !names().iter().any(|n| like(n, &op[4..], value)),
        _ => false,
    }
}

fn location_ancestors(db: &Database, id: i64) -> Vec<i64> {
    let mut out = vec![id];
    let mut current = id;
    while let Some(parent) = db.locations.get(current).and_then(|l| l.parent_id) {
        out.push(parent);
        current = parent;
    }
    out
}

fn scalar_matches(raw: &Value, op: &str, value: &Value) -> bool {
    match op {
        "=?" if is_unset(value) => true,
        "=" | "=?" => scalar_eq(raw, value),
        "!=" => !scalar_eq(raw, value),
        "in" => in_list(raw, value),
        "not in" => !in_list(raw, value),
        "like" | "ilike" | "=like" | "=ilike" => raw.as_str().is_some_and(|s| like(s, op, value)),
        // Odoo adds "OR field IS NULL" to negative operators.
        "not like" | "not ilike" => raw.as_str().is_none_or(|s| !like(s, &op[4..], value)),
        "<" | ">" | "<=" | ">=" => {
            if is_unset(raw) {
                return false;
            }
            let ord = compare_values(raw, value);
            match op {
                "<" => ord == Ordering::Less,
                ">" => ord == Ordering::Greater,
                "<=" => ord != Ordering::Greater,
                _ => ord != Ordering::Less,
            }
        }
        _ => false,
    }
}

fn scalar_eq(raw: &Value, value: &Value) -> bool {
    match (raw, value) {
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (r, v) if is_unset(v) => is_unset(r) || r.as_str() == Some(""),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(a), Value::String(b)) => b.parse::<f64>().ok() == a.as_f64(),
        (a, b) => a == b,
    }
}

fn in_list(raw: &Value, value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|v| scalar_eq(raw, v)),
        single => scalar_eq(raw, single),
    }
}

/// SQL LIKE: `like`/`ilike` wrap the value in `%…%`; `=like`/`=ilike` use it as the pattern.
/// The value's own `%` and `_` stay wildcards, as in Odoo.
fn like(text: &str, op: &str, value: &Value) -> bool {
    let needle = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return false,
    };
    let insensitive = op.ends_with("ilike");
    let pattern = if op.starts_with('=') {
        needle
    } else {
        format!("%{needle}%")
    };
    let (text, pattern) = if insensitive {
        (text.to_lowercase(), pattern.to_lowercase())
    } else {
        (text.to_owned(), pattern)
    };
    like_match(&text.chars().collect::<Vec<_>>(), &pattern.chars().collect::<Vec<_>>())
}

fn like_match(text: &[char], pattern: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|skip| like_match(&text[skip..], rest)),
        Some(('_', rest)) => !text.is_empty() && like_match(&text[1..], rest),
        Some((c, rest)) => text.first() == Some(c) && like_match(&text[1..], rest),
    }
}

/// Orders two field values: numbers numerically, strings lexically, false before true.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => match (x.first(), y.first()) {
            (Some(p), Some(q)) => compare_values(p, q),
            _ => x.len().cmp(&y.len()),
        },
        _ => Ordering::Equal,
    }
}

/// One `field [asc|desc]` term of an order spec.
#[derive(Debug, Clone)]
pub struct OrderTerm {
    pub field: String,
    pub descending: bool,
}

/// Parses `"date_done desc, id"` against `model`.
pub fn parse_order(model: &ModelDef, spec: &str) -> Result<Vec<OrderTerm>, OdooError> {
    let invalid = || {
        OdooError::Value(format!(
            "Invalid \"order\" specified ({spec}). A valid \"order\" specification is a comma-separated list of \
             valid field names (optionally followed by asc/desc for the direction)"
        ))
    };
    let mut terms = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let words: Vec<&str> = part.split_whitespace().collect();
        let field = words.first().ok_or_else(invalid)?;
        let descending = match words.get(1).map(|w| w.to_lowercase()) {
            None => false,
            Some(w) if w == "asc" => false,
            Some(w) if w == "desc" => true,
            Some(_) => return Err(invalid()),
        };
        if model.field(field).is_none() && !matches!(*field, "sequence" | "priority" | "factor" | "result_package_id") {
            return Err(invalid());
        }
        terms.push(OrderTerm {
            field: (*field).to_owned(),
            descending,
        });
    }
    Ok(terms)
}

/// Sorts ids by the order terms; unknown sort fields (`sequence` on models without one) and ties
/// fall back to id order.
pub fn sort(db: &Database, model: &str, ids: &mut [i64], terms: &[OrderTerm], ctx: &Context) {
    let keys: Vec<(i64, Vec<Value>)> = ids
        .iter()
        .map(|id| {
            let values = terms
                .iter()
                .map(|t| fields::raw(db, model, *id, &t.field, ctx).unwrap_or(Value::Null))
                .collect::<Vec<_>>();
            (*id, values)
        })
        .collect();
    let mut keyed = keys;
    keyed.sort_by(|(ia, a), (ib, b)| {
        for (t, (x, y)) in terms.iter().zip(a.iter().zip(b.iter())) {
            // Booleans sort as values; "unset" is only NULL for non-boolean fields.
            let x_null = x.is_null() || (*x == Value::Bool(false) && !y.is_boolean());
            let y_null = y.is_null() || (*y == Value::Bool(false) && !x.is_boolean());
            let ord = match (x_null, y_null) {
                (true, true) => Ordering::Equal,
                // PostgreSQL: NULLS LAST ascending, NULLS FIRST descending.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_values(x, y),
            };
            let ord = if t.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        ia.cmp(ib)
    });
    for (slot, (id, _)) in ids.iter_mut().zip(keyed) {
        *slot = id;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_follows_sql() {
        assert!(like("<p>RET-EVT-1</p>", "ilike", &Value::from("ret-evt-1")));
        assert!(!like("abc", "like", &Value::from("B")));
        assert!(like("abc", "=like", &Value::from("a_c")));
        assert!(!like("abc", "=like", &Value::from("b")));
    }

    #[test]
    fn unknown_fields_are_refused_with_odoo_wording() {
        let picking = schema::model("stock.picking").unwrap();
        let err = Domain::parse(picking, &serde_json::json!([["no_such_field", "=", 1]])).unwrap_err();
        assert_eq!(
            err.message(),
            "Invalid field stock.picking.no_such_field in leaf ('no_such_field', '=', 1)"
        );
    }
}

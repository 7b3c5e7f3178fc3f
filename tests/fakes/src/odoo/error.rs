//! The errors the fake Odoo raises, with the exact `name` and message shapes of Odoo 17
//! (`odoo.exceptions.*`, `builtins.*`, `psycopg2.*`), and their two wire forms: the JSON-RPC
//! `error` object (always HTTP 200, `code` 200, `message` "Odoo Server Error") and the JSON-2
//! body with a real HTTP status. Nothing here decides *when* an error happens: that is the
//! model code's job.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The traceback placeholder the transcripts carry instead of a real one.
pub const DEBUG_PLACEHOLDER: &str = "<traceback removed>";

/// One error as Odoo raises it. The variant decides `data.name` and the JSON-2 status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OdooError {
    /// Wrong password, unknown uid or revoked key on a call that needs a session (never on
    /// `common.login`, which answers `false`). JSON-2: 401.
    #[error("Access Denied")]
    AccessDenied,
    /// ACL refusals and private methods. JSON-2: 403.
    #[error("{0}")]
    Access(String),
    /// Business refusals (`UserError`), also unknown models. JSON-2: 422 (404 for an unknown model).
    #[error("{0}")]
    User(String),
    /// Constraints: SQL unique constraints, barcodes, negative quantities. JSON-2: 422.
    #[error("{0}")]
    Validation(String),
    /// Writing or acting on ids that do not exist. JSON-2: 404.
    #[error("{0}")]
    Missing(String),
    /// An unknown public method (`builtins.AttributeError`). JSON-2: 404.
    #[error("{0}")]
    Attribute(String),
    /// Invalid fields, leaves, orders and values (`builtins.ValueError`). JSON-2: 500.
    #[error("{0}")]
    Value(String),
    /// Unexpected keyword arguments (`builtins.TypeError`). JSON-2: 500.
    #[error("{0}")]
    Type(String),
    /// Positional arguments missing (`builtins.IndexError`). JSON-2: 500.
    #[error("{0}")]
    Index(String),
    /// Unknown service or common method (`builtins.KeyError`). JSON-2: 500.
    #[error("{0}")]
    Key(String),
    /// An unknown database (`psycopg2.OperationalError`). JSON-2: 500.
    #[error("{0}")]
    Operational(String),
    /// A concurrent update (`psycopg2.errors.SerializationFailure`), after Odoo's own retries.
    /// Only produced by fault injection. JSON-2: 500.
    #[error("could not serialize access due to concurrent update")]
    SerializationFailure,
    /// A real Odoo method this fake does not emulate (`builtins.NotImplementedError`), so that a
    /// test never mistakes a gap of the fake for Odoo behaviour. JSON-2: 500.
    #[error("{0}")]
    NotEmulated(String),
}

/// The `data` object of a JSON-RPC error, which is also the JSON-2 error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorPayload {
    /// The Python class, e.g. `odoo.exceptions.UserError`: what clients classify on.
    pub name: String,
    /// The human message.
    pub message: String,
    /// The exception's args: the message again, as Odoo sends it.
    pub arguments: Vec<Value>,
    /// Always `{}` in the transcripts.
    pub context: Value,
    /// The traceback (a placeholder here).
    pub debug: String,
}

impl OdooError {
    /// The Python class name Odoo reports in `data.name`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AccessDenied => "odoo.exceptions.AccessDenied",
            Self::Access(_) => "odoo.exceptions.AccessError",
            Self::User(_) => "odoo.exceptions.UserError",
            Self::Validation(_) => "odoo.exceptions.ValidationError",
            Self::Missing(_) => "odoo.exceptions.MissingError",
            Self::Attribute(_) => "builtins.AttributeError",
            Self::Value(_) => "builtins.ValueError",
            Self::Type(_) => "builtins.TypeError",
            Self::Index(_) => "builtins.IndexError",
            Self::Key(_) => "builtins.KeyError",
            Self::Operational(_) => "psycopg2.OperationalError",
            Self::SerializationFailure => "psycopg2.errors.SerializationFailure",
            Self::NotEmulated(_) => "builtins.NotImplementedError",
        }
    }

    /// The message exactly as Odoo puts it in `data.message` (psycopg2 messages end with a newline).
    pub fn message(&self) -> String {
        match self {
            Self::SerializationFailure => "could not serialize access due to concurrent update\n".to_owned(),
            other => other.to_string(),
        }
    }

    /// The payload shared by both protocols.
    pub fn payload(&self) -> ErrorPayload {
        let message = self.message();
        ErrorPayload {
            name: self.name().to_owned(),
            arguments: vec![Value::String(message.clone())],
            message,
            context: json!({}),
            debug: DEBUG_PLACEHOLDER.to_owned(),
        }
    }

    /// The JSON-RPC `error` member: Odoo 17 answers every one of these with HTTP 200 and code 200.
    pub fn jsonrpc_error(&self) -> Value {
        json!({"code": 200, "message": "Odoo Server Error", "data": self.payload()})
    }

    /// The HTTP status of this error on the JSON-2 API.
    pub fn json2_status(&self) -> u16 {
        match self {
            Self::AccessDenied => 401,
            Self::Access(_) => 403,
            Self::Missing(_) | Self::Attribute(_) => 404,
            Self::User(msg) if msg.starts_with("Object ") && msg.ends_with(" doesn't exist") => 404,
            Self::User(_) | Self::Validation(_) => 422,
            _ => 500,
        }
    }

    /// `MissingError` for records that do not exist, in Odoo's exact wording.
    pub fn missing(model: &str, ids: &[i64], uid: i64) -> Self {
        Self::Missing(format!(
            "Record does not exist or has been deleted.\n(Record: {model}{}, User: {uid})",
            py_tuple(ids)
        ))
    }

    /// `ValueError` for `ensure_one()` on zero or several records.
    pub fn expected_singleton(model: &str, ids: &[i64]) -> Self {
        Self::Value(format!("Expected singleton: {model}{}", py_tuple(ids)))
    }

    /// The `ValidationError` Odoo builds from a NOT NULL violation on create.
    pub fn not_null(model: &str, description: &str, field: &str, field_string: &str) -> Self {
        Self::Validation(format!(
            "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n- Delete: another \
             model requires the record being deleted. If possible, archive it instead.\n\nModel: {description} \
             ({model})\nField: {field_string} ({field})\n"
        ))
    }

    /// `ValueError` for an invalid field name on read/write.
    pub fn invalid_field(model: &str, field: &str) -> Self {
        Self::Value(format!("Invalid field '{field}' on model '{model}'"))
    }

    /// `ValueError` for a value of the wrong type.
    pub fn wrong_value(model: &str, field: &str, value: &Value) -> Self {
        Self::Value(format!("Wrong value for {model}.{field}: {}", py_repr(value)))
    }
}

/// Python's repr of a tuple of ids: `(5,)`, `(1, 2)`, `()`.
pub fn py_tuple(ids: &[i64]) -> String {
    match ids {
        [one] => format!("({one},)"),
        many => format!("({})", many.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// Python's repr of a JSON value, as Odoo messages show leaves and values.
pub fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            (None, Some(f)) => f.to_string(),
            _ => n.to_string(),
        },
        Value::String(s) => py_str(s),
        Value::Array(items) => format!("[{}]", items.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's repr of a string: single quotes unless the text holds one and no double quote.
fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_match_python() {
        assert_eq!(py_repr(&json!(["no_such_field", "=", 1])), "['no_such_field', '=', 1]");
        assert_eq!(py_repr(&json!(1.0)), "1.0");
        assert_eq!(py_repr(&json!(false)), "False");
        assert_eq!(py_repr(&json!("it's")), "\"it's\"");
        assert_eq!(py_tuple(&[99999999]), "(99999999,)");
        assert_eq!(py_tuple(&[1, 2]), "(1, 2)");
    }

    #[test]
    fn missing_error_reads_like_odoo() {
        let e = OdooError::missing("stock.picking", &[99999999], 2);
        assert_eq!(
            e.message(),
            "Record does not exist or has been deleted.\n(Record: stock.picking(99999999,), User: 2)"
        );
        assert_eq!(e.name(), "odoo.exceptions.MissingError");
    }
}

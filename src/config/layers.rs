//! Configuration layers before typing: the embedded defaults, the site's file, the environment,
//! merged as TOML tables, with the layer (and file line) that last set every key.
//!
//! Merging happens on untyped tables so that serde's `deny_unknown_fields` still judges the
//! result: a typo in a partial file is refused exactly as in a complete one. A table in a later
//! layer merges into the earlier one key by key; anything else replaces what was there, arrays
//! included — a site's `[[sinks]]` or `[[devices]]` is its whole list, never spliced element by
//! element into the defaults' (an element's position says nothing about which default it meant).
//!
//! The sources serve two readers: errors, which name the file and line (or the variable) that
//! set the key at fault, and `check-config --show`, which prints every value with its source.
//! Nothing here reads a secret: the configuration only names where secrets are (`secret_file`,
//! `secret_env`); `--show` masks anything that looks like one anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{ConfigError, DEFAULT_TOML};

const ENV_PREFIX: &str = "RETURNS_EDGE_";

/// `RETURNS_EDGE_*` variables that are not configuration keys: they belong to the CLI.
const NOT_CONFIG_VARS: [&str; 2] = ["RETURNS_EDGE_CONFIG", "RETURNS_EDGE_TOKEN"];

/// Keys that have no value in the embedded defaults but may still come from the environment.
const KEYS_WITHOUT_DEFAULT: [&[&str]; 1] = [&["policy", "file"]];

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A key path as errors and `--show` write it: `sinks[0].odoo.url`.
pub fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) if out.is_empty() => out.push_str(key),
            Seg::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The inverse of [`dotted`], for keys that validation names as text.
pub fn parse_dotted(text: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in text.split('.') {
        let (key, indexes) = part.split_once('[').map_or((part, ""), |(k, rest)| (k, rest));
        if !key.is_empty() {
            out.push(Seg::Key(key.to_owned()));
        }
        for index in indexes.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The embedded `config/returns-edge.toml`.
    Default,
    /// The site's file; `line` is 1-based, `None` when the key has no place of its own in the text.
    File { path: PathBuf, line: Option<usize> },
    /// A `RETURNS_EDGE_…` environment variable.
    Env { var: String },
    /// A command-line flag.
    Flag { flag: &'static str },
}

impl Source {
    /// The source as an error message starts: "site.toml line 4", "environment variable …".
    pub fn origin(&self) -> String {
        match self {
            Source::Default => "the embedded defaults".to_owned(),
            Source::File { path, line: Some(line) } => format!("{} line {line}", path.display()),
            Source::File { path, line: None } => path.display().to_string(),
            Source::Env { var } => format!("environment variable {var}"),
            Source::Flag { flag } => format!("flag {flag}"),
        }
    }
}

/// The form `--show` prints: `default`, `file site.toml:4`, `env VAR`, `flag --listen`.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line: Some(line) } => write!(f, "file {}:{line}", path.display()),
            Source::File { path, line: None } => write!(f, "file {}", path.display()),
            Source::Env { var } => write!(f, "env {var}"),
            Source::Flag { flag } => write!(f, "flag {flag}"),
        }
    }
}

/// The merged table and the source of every key in it (tables and array elements included).
#[derive(Debug, Clone)]
pub struct Layered {
    pub(super) table: toml::Table,
    sources: BTreeMap<Vec<Seg>, Source>,
}

impl Layered {
    /// Defaults, then `file` (its path and text), then `env`. Syntax errors name the file's line;
    /// an unknown `RETURNS_EDGE_*` variable is refused by name.
    pub fn build(
        file: Option<(&Path, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Layered, ConfigError> {
        let mut table: toml::Table = toml::from_str(DEFAULT_TOML).map_err(|e| ConfigError::Parse {
            origin: "embedded defaults".to_owned(),
            message: e.to_string(),
        })?;
        let mut layered = Layered {
            sources: BTreeMap::new(),
            table: toml::Table::new(),
        };
        layered.mark(&table, &mut Vec::new(), &|_| Source::Default);
        if let Some((path, text)) = file {
            let parse_error = |message: String| ConfigError::Parse {
                origin: path.display().to_string(),
                message,
            };
            let over: toml::Table = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
            let doc = toml_edit::ImDocument::parse(text).map_err(|e| parse_error(e.to_string()))?;
            layered.mark(&over, &mut Vec::new(), &|key| Source::File {
                path: path.to_owned(),
                line: line_of(&doc, text, key),
            });
            merge(&mut table, over);
        }
        layered.table = table;
        layered.apply_env(env)?;
        Ok(layered)
    }

    /// Sets a key from a command-line flag (after typing: flags are typed by clap already).
    pub fn set_flag(&mut self, path: &[&str], flag: &'static str, value: toml::Value) {
        let path: Vec<Seg> = path.iter().map(|k| Seg::Key((*k).to_owned())).collect();
        if let Some((Seg::Key(leaf), parents)) = path.split_last() {
            let mut cursor = &mut self.table;
            for seg in parents {
                let Seg::Key(key) = seg else { return };
                let entry = cursor
                    .entry(key.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let toml::Value::Table(next) = entry else { return };
                cursor = next;
            }
            cursor.insert(leaf.clone(), value);
        }
        self.sources.insert(path, Source::Flag { flag });
    }

    /// The source of `path`, or of its nearest ancestor that has one (a key deep inside a value
    /// that a custom deserializer reads, or a key that is missing from its table).
    pub fn source_of(&self, path: &[Seg]) -> Source {
        (0..=path.len())
            .rev()
            .find_map(|len| self.sources.get(&path[..len]))
            .cloned()
            .unwrap_or(Source::Default)
    }

    /// An error about `path`, placed at the layer (file line, variable, flag) that set it.
    pub fn error_at(&self, path: &[Seg], message: impl Into<String>) -> ConfigError {
        ConfigError::At {
            origin: self.source_of(path).origin(),
            key: if path.is_empty() {
                "(top level)".to_owned()
            } else {
                dotted(path)
            },
            message: message.into(),
        }
    }

    /// The effective configuration as TOML, every value followed by its source, secrets masked.
    pub fn render(&self, file: Option<&Path>) -> String {
        let layers = match file {
            Some(path) => format!("embedded defaults < {} < environment < flags", path.display()),
            None => "embedded defaults < environment < flags".to_owned(),
        };
        let mut out = format!(
            "# Effective configuration ({layers}); each value names where it came from.\n\
             # Keys of [[sinks]] and [[devices]] entries that are not shown take their documented defaults.\n"
        );
        self.render_table(&mut out, &self.table, &mut Vec::new());
        out
    }

    fn render_table(&self, out: &mut String, table: &toml::Table, path: &mut Vec<Seg>) {
        for (key, value) in table {
            if is_section(value) {
                continue;
            }
            path.push(Seg::Key(key.clone()));
            let line = format!("{} = {}", bare_or_quoted(key), masked(key, value));
            out.push_str(&with_source(line, &self.source_of(path)));
            path.pop();
        }
        if path == &[Seg::Key("policy".into())] && !table.contains_key("file") {
            out.push_str("# file is not set: the embedded return policy (config/policy.toml) applies\n");
        }
        for (key, value) in table {
            path.push(Seg::Key(key.clone()));
            match value {
                toml::Value::Table(inner) => {
                    out.push('\n');
                    out.push_str(&with_source(format!("[{}]", header(path)), &self.source_of(path)));
                    self.render_table(out, inner, path);
                }
                toml::Value::Array(items) if is_section(value) => {
                    for (i, item) in items.iter().enumerate() {
                        let toml::Value::Table(inner) = item else { continue };
                        path.push(Seg::Index(i));
                        out.push('\n');
                        out.push_str(&with_source(format!("[[{}]]", header(path)), &self.source_of(path)));
                        self.render_table(out, inner, path);
                        path.pop();
                    }
                }
                _ => {}
            }
            path.pop();
        }
    }

    /// Records `source` for every key of `table` (and below) under `path`.
    fn mark(&mut self, table: &toml::Table, path: &mut Vec<Seg>, source: &dyn Fn(&[Seg]) -> Source) {
        for (key, value) in table {
            path.push(Seg::Key(key.clone()));
            self.mark_value(value, path, source);
            path.pop();
        }
    }

    fn mark_value(&mut self, value: &toml::Value, path: &mut Vec<Seg>, source: &dyn Fn(&[Seg]) -> Source) {
        self.sources.insert(path.clone(), source(path));
        match value {
            toml::Value::Table(inner) => self.mark(inner, path, source),
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    self.mark_value(item, path, source);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// Applies `RETURNS_EDGE_*` variables. A value is read as TOML when it parses as one
    /// (numbers, booleans, arrays) and as a plain string otherwise, so
    /// `RETURNS_EDGE_SERVER_LISTEN=0.0.0.0:80` needs no quotes; where the default is a string it
    /// stays one (a site called `2024` is not a number). Unknown `RETURNS_EDGE_*` variables are
    /// refused: a typo must not be ignored.
    fn apply_env(&mut self, env: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
        let known = env_vars();
        // A sink may keep its secret in a RETURNS_EDGE_… variable; that name is not a typo.
        let mut secret_vars = BTreeSet::new();
        collect_strings_named(&self.table, "secret_env", &mut secret_vars);
        let mut env: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        env.sort();
        for (var, raw) in env {
            let Some(path) = known.get(&var) else {
                if var.ends_with("_FILE") || NOT_CONFIG_VARS.contains(&var.as_str()) || secret_vars.contains(&var) {
                    continue;
                }
                let names: Vec<&str> = known.keys().map(String::as_str).collect();
                return Err(ConfigError::Env {
                    var,
                    message: format!("not a configuration variable; known ones are {}", names.join(", ")),
                });
            };
            let (leaf, parents) = path.split_last().expect("env paths have at least one key");
            let mut cursor = &mut self.table;
            for key in parents {
                let entry = cursor
                    .entry(key.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let toml::Value::Table(next) = entry else {
                    return Err(ConfigError::Env {
                        var,
                        message: format!("`{key}` is not a table in the configuration file"),
                    });
                };
                cursor = next;
            }
            let value = match cursor.get(leaf) {
                Some(toml::Value::String(_)) | None => toml::Value::String(raw),
                Some(_) => match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
                    Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(raw)),
                    Err(_) => toml::Value::String(raw),
                },
            };
            cursor.insert(leaf.clone(), value);
            let segs: Vec<Seg> = path.iter().map(|k| Seg::Key(k.clone())).collect();
            self.sources.insert(segs, Source::Env { var });
        }
        Ok(())
    }
}

/// The environment variables this build understands, with the key each overrides: one per leaf
/// of the embedded defaults, plus the keys that have no default.
pub fn env_vars() -> BTreeMap<String, Vec<String>> {
    let defaults: toml::Table = toml::from_str(DEFAULT_TOML).unwrap_or_default();
    let mut out = BTreeMap::new();
    collect_leaves(&defaults, &mut Vec::new(), &mut out);
    for path in KEYS_WITHOUT_DEFAULT {
        let path: Vec<String> = path.iter().map(|k| (*k).to_owned()).collect();
        out.insert(var_name(&path), path);
    }
    out
}

fn var_name(path: &[String]) -> String {
    format!("{ENV_PREFIX}{}", path.join("_").to_uppercase())
}

fn collect_leaves(table: &toml::Table, path: &mut Vec<String>, out: &mut BTreeMap<String, Vec<String>>) {
    for (key, value) in table {
        path.push(key.clone());
        match value {
            toml::Value::Table(inner) => collect_leaves(inner, path, out),
            _ => {
                out.insert(var_name(path), path.clone());
            }
        }
        path.pop();
    }
}

fn collect_strings_named(value: &toml::Table, name: &str, out: &mut BTreeSet<String>) {
    for (key, value) in value {
        match value {
            toml::Value::String(s) if key == name => {
                out.insert(s.clone());
            }
            toml::Value::Table(inner) => collect_strings_named(inner, name, out),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        collect_strings_named(inner, name, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Lays `over` onto `base`; see the module docs for what merges and what replaces.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_inner)), toml::Value::Table(over_inner)) => merge(base_inner, over_inner),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// A table, or a non-empty array of tables: printed as its own section.
fn is_section(value: &toml::Value) -> bool {
    match value {
        toml::Value::Table(_) => true,
        toml::Value::Array(items) => !items.is_empty() && items.iter().all(toml::Value::is_table),
        _ => false,
    }
}

/// A section header names keys only: `[sinks.odoo]` after `[[sinks]]` means the last sink.
fn header(path: &[Seg]) -> String {
    let keys: Vec<String> = path
        .iter()
        .filter_map(|seg| match seg {
            Seg::Key(key) => Some(bare_or_quoted(key)),
            Seg::Index(_) => None,
        })
        .collect();
    keys.join(".")
}

fn bare_or_quoted(key: &str) -> String {
    let bare = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_owned()
    } else {
        toml::Value::String(key.to_owned()).to_string()
    }
}

fn with_source(line: String, source: &Source) -> String {
    format!("{line:<48} # {source}\n")
}

/// The value as `--show` prints it. The configuration holds no secrets by design (only
/// `secret_file` and `secret_env`, which say where one is), and unknown keys are refused before
/// anything is shown; this masks what would be one anyway — a key named like a secret, or a
/// password written into a URL — so that pasting `--show` into a ticket is always safe.
fn masked(key: &str, value: &toml::Value) -> toml::Value {
    match value {
        _ if names_a_secret(key) => toml::Value::String("<masked>".to_owned()),
        toml::Value::String(text) => toml::Value::String(without_url_password(text)),
        toml::Value::Array(items) => toml::Value::Array(items.iter().map(|item| masked("", item)).collect()),
        toml::Value::Table(inner) => toml::Value::Table(inner.iter().map(|(k, v)| (k.clone(), masked(k, v))).collect()),
        other => other.clone(),
    }
}

/// `secret_file` and `secret_env` name where a secret is, not the secret: they are shown.
fn names_a_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let pointer = ["_file", "_env", "_path", "_dir"].iter().any(|end| key.ends_with(end));
    let secret = ["secret", "password", "passwd", "token", "api_key", "apikey", "hmac"]
        .iter()
        .any(|word| key.contains(word));
    secret && !pointer
}

fn without_url_password(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &text[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_len].rfind('@') else {
        return text.to_owned();
    };
    let user = rest[..at].split(':').next().unwrap_or_default();
    format!("{}{user}:<masked>{}", &text[..authority_start], &rest[at..])
}

/// The 1-based line of the deepest part of `path` found in the parsed file: the key itself, or
/// the header of the table or array element it sits in.
fn line_of(doc: &toml_edit::ImDocument<&str>, text: &str, path: &[Seg]) -> Option<usize> {
    let mut node = Node::Item(doc.as_item());
    let mut span: Option<Range<usize>> = None;
    for seg in path {
        let Some((next, next_span)) = node.child(seg) else {
            break;
        };
        node = next;
        span = next_span.or(span);
    }
    span.map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1)
}

/// A place in toml_edit's tree: array-of-tables elements are `Table`s, array elements `Value`s.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a toml_edit::Item),
    Table(&'a toml_edit::Table),
    Value(&'a toml_edit::Value),
}

impl<'a> Node<'a> {
    fn child(self, seg: &Seg) -> Option<(Node<'a>, Option<Range<usize>>)> {
        use toml_edit::{Item, Value};
        let in_table = |t: &'a dyn toml_edit::TableLike, key: &str| {
            t.get_key_value(key)
                .map(|(k, item)| (Node::Item(item), k.span().or_else(|| item.span())))
        };
        match (self, seg) {
            (Node::Item(Item::Table(t)) | Node::Table(t), Seg::Key(key)) => in_table(t, key),
            (Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)), Seg::Key(key)) => {
                in_table(t, key)
            }
            (Node::Item(Item::ArrayOfTables(a)), Seg::Index(i)) => a.get(*i).map(|t| (Node::Table(t), t.span())),
            (Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)), Seg::Index(i)) => {
                a.get(*i).map(|v| (Node::Value(v), v.span()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layered(text: &str, env: &[(&str, &str)]) -> Layered {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Layered::build(Some((Path::new("site.toml"), text)), env).unwrap()
    }

    fn key(text: &str) -> Vec<Seg> {
        parse_dotted(text)
    }

    #[test]
    fn dotted_keys_round_trip() {
        for text in [
            "site",
            "server.listen",
            "sinks[0].odoo.url",
            "devices[12].source",
            "a[1][2].b",
        ] {
            assert_eq!(dotted(&parse_dotted(text)), text);
        }
    }

    #[test]
    fn a_partial_file_keeps_every_default_it_does_not_name_and_each_key_knows_its_line() {
        let layers = layered("# only what changes\n[server]\nlisten = \"0.0.0.0:8080\"\n", &[]);
        assert_eq!(layers.table["site"].as_str(), Some("site-1"));
        assert_eq!(layers.table["server"]["listen"].as_str(), Some("0.0.0.0:8080"));
        assert_eq!(layers.table["server"]["max_body_bytes"].as_integer(), Some(65536));
        assert_eq!(
            layers.source_of(&key("server.listen")),
            Source::File {
                path: "site.toml".into(),
                line: Some(3)
            }
        );
        assert_eq!(layers.source_of(&key("server.max_body_bytes")), Source::Default);
        assert_eq!(layers.source_of(&key("server")).to_string(), "file site.toml:2");
    }

    #[test]
    fn arrays_of_tables_are_replaced_whole_and_tables_merge_key_by_key() {
        let mut base: toml::Table =
            toml::from_str("[[sinks]]\nname = \"a\"\nx = 1\n[[sinks]]\nname = \"b\"\n[t]\nk = 1\nl = 2\n").unwrap();
        let over: toml::Table = toml::from_str("[[sinks]]\nname = \"c\"\n[t]\nl = 3\n").unwrap();
        merge(&mut base, over);
        let expected: toml::Table = toml::from_str("[[sinks]]\nname = \"c\"\n[t]\nk = 1\nl = 3\n").unwrap();
        assert_eq!(base, expected);
    }

    #[test]
    fn lines_are_found_in_headers_inline_tables_and_array_elements() {
        let text = "site = \"s\"\n\n[[sinks]]\nname = \"a\"\n[[sinks]]\nname = \"b\"\n[sinks.odoo]\nurl = \"x\"\n\
                    [sinks.odoo.dispositions]\nrestock = \"WH\"\n[[devices]]\nsource = { kind = \"k\", serial = { path = \"/p\" } }\n";
        let layers = layered(text, &[]);
        let line = |k: &str| match layers.source_of(&key(k)) {
            Source::File { line, .. } => line,
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(line("site"), Some(1));
        assert_eq!(line("sinks[1]"), Some(5));
        assert_eq!(line("sinks[1].name"), Some(6));
        assert_eq!(line("sinks[1].odoo.url"), Some(8));
        assert_eq!(line("sinks[1].odoo.dispositions.restock"), Some(10));
        assert_eq!(line("devices[0].source.serial.path"), Some(12));
        // A key no layer set takes the place of the nearest ancestor that one did.
        assert_eq!(line("sinks[1].odoo.timeout_secs"), Some(7));
    }

    #[test]
    fn the_environment_overrides_the_file_and_keeps_string_keys_strings() {
        let layers = layered(
            "site = \"s\"\n",
            &[
                ("RETURNS_EDGE_SITE", "2024"),
                ("RETURNS_EDGE_STORE_CACHE_CAPACITY_MB", "16"),
                ("RETURNS_EDGE_POLICY_FILE", "/etc/p.toml"),
                ("RETURNS_EDGE_TOKEN", "re1_x"),
                ("RETURNS_EDGE_CONFIG", "/etc/c.toml"),
            ],
        );
        assert_eq!(layers.table["site"].as_str(), Some("2024"));
        assert_eq!(layers.table["store"]["cache_capacity_mb"].as_integer(), Some(16));
        assert_eq!(layers.table["policy"]["file"].as_str(), Some("/etc/p.toml"));
        assert_eq!(layers.source_of(&key("site")).to_string(), "env RETURNS_EDGE_SITE");
    }

    #[test]
    fn a_sinks_secret_variable_is_not_taken_for_a_typo_but_a_typo_is_refused() {
        let text =
            "[[sinks]]\nname = \"o\"\nkind = \"odoo\"\n[sinks.odoo]\nsecret_env = \"RETURNS_EDGE_ODOO_SECRET\"\n";
        let env = [("RETURNS_EDGE_ODOO_SECRET".to_owned(), "pw".to_owned())];
        assert!(Layered::build(Some((Path::new("f"), text)), env).is_ok());
        let env = [("RETURNS_EDGE_SERVER_LISTN".to_owned(), "x".to_owned())];
        let err = Layered::build(Some((Path::new("f"), text)), env).unwrap_err();
        assert!(err.to_string().contains("RETURNS_EDGE_SERVER_LISTN"), "{err}");
    }

    #[test]
    fn show_names_every_source_and_masks_what_looks_like_a_secret() {
        let text = "[server]\nlisten = \"0.0.0.0:8080\"\n[[sinks]]\nname = \"o\"\n[sinks.odoo]\n\
                    url = \"https://edge:hunter2@erp.example.com/odoo\"\nsecret_env = \"ODOO_SECRET\"\napi_key = \"k-123\"\n";
        let mut layers = layered(text, &[("RETURNS_EDGE_STORE_CACHE_CAPACITY_MB", "16")]);
        layers.set_flag(&["store", "data_dir"], "--data-dir", toml::Value::String("/srv".into()));
        let shown = layers.render(Some(Path::new("site.toml")));
        for line in [
            "site = \"site-1\"",
            "listen = \"0.0.0.0:8080\"",
            "cache_capacity_mb = 16",
            "data_dir = \"/srv\"",
            "secret_env = \"ODOO_SECRET\"",
            "[[sinks]]",
            "[sinks.odoo]",
            "# file is not set",
        ] {
            assert!(shown.contains(line), "{line} missing:\n{shown}");
        }
        let source_of = |needle: &str| {
            let line = shown.lines().find(|l| l.starts_with(needle)).unwrap();
            line.rsplit("# ").next().unwrap().to_owned()
        };
        assert_eq!(source_of("site ="), "default");
        assert_eq!(source_of("listen ="), "file site.toml:2");
        assert_eq!(
            source_of("cache_capacity_mb ="),
            "env RETURNS_EDGE_STORE_CACHE_CAPACITY_MB"
        );
        assert_eq!(source_of("data_dir ="), "flag --data-dir");
        assert!(!shown.contains("hunter2") && !shown.contains("k-123"), "{shown}");
        assert!(shown.contains("https://edge:<masked>@erp.example.com/odoo"), "{shown}");
        // What --show prints is TOML again (comments aside).
        toml::from_str::<toml::Table>(&shown).unwrap_or_else(|e| panic!("{e}\n{shown}"));
    }
}

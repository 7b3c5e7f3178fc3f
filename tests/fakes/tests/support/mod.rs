//! Replays recorded Odoo 17 transcripts (copies of `shared/odoo17/` in `tests/transcripts/`)
//! against a fake Odoo over real HTTP and compares every answer with the recorded one. The fake
//! hands out other ids and document numbers than the lab server did, so the replayer keeps a
//! map from recorded to fake ids (per model) and names: it rewrites ids in requests, and learns
//! the map from answers, failing when an answer maps a recorded id to two fake ones (or the
//! reverse). Everything else — keys, states, quantities, wizard actions, error names and
//! messages — must be equal. Dates must be dates.
//!
//! The session has two parts: the lab was restored to a snapshot before `22_…` (see
//! [`RESTORED_BEFORE`]), so replaying a file of the second part starts from that snapshot.
//! From 22 on, calls are made by several users (`[admin]`, `[returns-edge]`,
//! `[returns-noemail]` in the notes): the recorded requests carry each user's uid and password,
//! and the replayer maps uids like any other id (learnt from `common.login` and
//! `res.users.create` answers).

// Each test binary uses part of this module.
#![allow(dead_code)]

pub mod rpc;

use std::collections::HashMap;
use std::path::PathBuf;

use returns_edge_fakes::odoo::{groups, FakeOdoo, FakeOdooOptions, NewUser, Seed};
use serde_json::{Map, Value};

/// The files of one lab session, in the order they were recorded.
pub const SESSION: &[&str] = &[
    "00_setup",
    "01_login",
    "02_find_delivery",
    "03_sale_order_deliver",
    "04_create_return",
    "05_receive_partial_backorder",
    "06_receive_partial_cancel_backorder",
    "07_disposition_restock",
    "08_disposition_scrap",
    "09_disposition_quarantine",
    "10_idempotency",
    "11_error_wrong_password",
    "12_error_access",
    "13_error_usererror",
    "14_error_validationerror",
    "15_error_no_such_method",
    "16_error_private_method",
    "17_error_misc",
    "18_barcode_lot_lookup",
    "20_timing",
    "21_lot_tracked_return",
    "22_return_default_location",
    "23_transfer_insufficient_stock",
    "24_backorder_fields",
    "25_two_parcels_one_return",
    "26_create_returns_user_without_email",
    "27_lot_tracked_disposition",
];

/// The file before which the lab was restored to a snapshot: its ids and document numbers
/// start again where 03 had them (S00025, WH/OUT/00012, WH/IN/00007), the first delivery asks
/// the SMS question again ("first delivery of the company since reset"), and the snapshot held
/// what 00_setup and 09 had made (WH/Returns 34, WH/Quarantine 35, WH/Refurbish 36) plus a user
/// `returns-edge` (uid 8: Internal User and Inventory Administrator, with an email, without
/// accounting rights). See [`Replayer::restored_lab`].
pub const RESTORED_BEFORE: &str = "22_return_default_location";

/// Values that depend on demo data the fake does not copy (other open deliveries, other
/// warehouses): the numbers under these keys are not compared at these steps.
const SEED_DEPENDENT: &[(&str, usize, &str)] = &[
    // 230 reserved on WH/Stock by demo deliveries the fake does not have.
    ("07_disposition_restock", 8, "reserved_quantity"),
    // 697 on hand across the demo's other warehouse; the fake has one warehouse.
    ("18_barcode_lot_lookup", 2, "qty_available"),
];

/// The model a field's ids belong to, for the fields the transcripts use.
pub fn key_model(key: &str) -> Option<&'static str> {
    Some(match key {
        "partner_id" | "default_partner_id" => "res.partner",
        "product_id" | "default_product_id" => "product.product",
        "picking_type_id" | "search_default_picking_type_id" => "stock.picking.type",
        "location_id"
        | "location_dest_id"
        | "default_location_id"
        | "scrap_location_id"
        | "original_location_id"
        | "parent_location_id"
        | "default_location_src_id"
        | "default_location_dest_id"
        | "location" => "stock.location",
        "create_uid" | "write_uid" => "res.users",
        "groups_id" => "res.groups",
        "picking_id"
        | "backorder_id"
        | "return_id"
        | "picking_ids"
        | "backorder_ids"
        | "button_validate_picking_ids"
        | "default_pick_ids"
        | "pick_ids" => "stock.picking",
        "move_ids" | "move_id" | "origin_returned_move_id" => "stock.move",
        "move_line_ids" => "stock.move.line",
        "sale_id" => "sale.order",
        "order_line" | "sale_line_id" => "sale.order.line",
        "product_uom" | "uom_id" | "product_uom_id" => "uom.uom",
        "company_id" => "res.company",
        "lot_id" => "stock.lot",
        "product_return_moves" => "stock.return.picking.line",
        "default_scrap_id" | "scrap_id" => "stock.scrap",
        "warehouse_id" => "stock.warehouse",
        _ => return None,
    })
}

/// One recorded exchange.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub endpoint: String,
    pub status: u16,
    pub note: String,
    pub request: Value,
    pub response: Value,
}

/// The recorded exchanges of one file.
pub fn transcript(name: &str) -> Vec<Exchange> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/transcripts")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    entries
        .into_iter()
        .map(|e| Exchange {
            endpoint: e["endpoint"].as_str().unwrap_or_default().to_owned(),
            status: e["http_status"].as_u64().unwrap_or(0) as u16,
            note: e["note"].as_str().unwrap_or_default().to_owned(),
            request: e["request"].clone(),
            response: e["response"].clone(),
        })
        .collect()
}

/// A piece of a string: text, a document name (`WH/IN/00007`, `S00025`, `SP/00001`) or a date.
#[derive(Debug, PartialEq)]
enum Token {
    Text(String),
    Name(String),
    Date,
}

fn digits(s: &[char], from: usize, n: usize) -> bool {
    s.len() >= from + n && s[from..from + n].iter().all(char::is_ascii_digit)
}

fn tokens(s: &str) -> Vec<Token> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..].iter().take(8).collect();
        let name_len = ["WH/IN/", "WH/OUT/", "WH/INT/", "SP/"]
            .iter()
            .find(|p| rest.starts_with(**p) && digits(&chars, i + p.len(), 5))
            .map(|p| p.len() + 5)
            .or_else(|| {
                let boundary = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
                (boundary && chars[i] == 'S' && digits(&chars, i + 1, 5)).then_some(6)
            });
        let is_date = digits(&chars, i, 4)
            && chars.get(i + 4) == Some(&'-')
            && digits(&chars, i + 5, 2)
            && chars.get(i + 7) == Some(&'-')
            && digits(&chars, i + 8, 2)
            && chars.get(i + 10) == Some(&' ')
            && digits(&chars, i + 11, 2);
        if let Some(len) = name_len {
            if !text.is_empty() {
                out.push(Token::Text(std::mem::take(&mut text)));
            }
            out.push(Token::Name(chars[i..i + len].iter().collect()));
            i += len;
        } else if is_date && chars.len() >= i + 19 {
            if !text.is_empty() {
                out.push(Token::Text(std::mem::take(&mut text)));
            }
            out.push(Token::Date);
            i += 19;
        } else {
            text.push(chars[i]);
            i += 1;
        }
    }
    if !text.is_empty() {
        out.push(Token::Text(text));
    }
    out
}

/// A fake Odoo and the recorded-to-fake maps.
pub struct Replayer {
    pub odoo: FakeOdoo,
    client: reqwest::Client,
    ids: HashMap<(String, i64), i64>,
    reverse: HashMap<(String, i64), i64>,
    names: HashMap<String, String>,
    /// The file and step being replayed, for messages and relaxations.
    here: (String, usize),
}

impl Replayer {
    /// A fake seeded like the lab server was when the session started.
    pub async fn new() -> Replayer {
        let odoo = FakeOdoo::start(FakeOdooOptions {
            seed: Seed::Odoo17Demo,
            ..FakeOdooOptions::default()
        })
        .await;
        let mut replayer = Replayer {
            odoo,
            client: reqwest::Client::new(),
            ids: HashMap::new(),
            reverse: HashMap::new(),
            names: HashMap::new(),
            here: (String::new(), 0),
        };
        // The seed reuses the lab's ids for the demo records the transcripts touch.
        let seeded: &[(&str, &[i64])] = &[
            ("res.users", &[2, 6]),
            (
                "res.groups",
                &[groups::INTERNAL_USER, groups::STOCK_USER, groups::STOCK_MANAGER],
            ),
            ("res.company", &[1]),
            ("res.partner", &[1, 3, 7, 10, 11, 12]),
            ("stock.location", &[1, 2, 3, 4, 5, 7, 8, 14, 15, 16, 17, 18]),
            ("stock.picking.type", &[1, 2, 5]),
            ("product.product", &[5, 17, 18, 20, 31, 36]),
            ("stock.lot", &[2, 3, 4]),
            ("uom.uom", &[1]),
            ("stock.warehouse", &[1]),
        ];
        for (model, ids) in seeded {
            for id in *ids {
                replayer.ids.insert(((*model).to_owned(), *id), *id);
                replayer.reverse.insert(((*model).to_owned(), *id), *id);
            }
        }
        replayer
    }

    /// The lab as it was restored before [`RESTORED_BEFORE`]: a fresh fake, 00_setup replayed,
    /// the two locations 09 had made, and the `returns-edge` user (whose recorded uid the
    /// replayer learns from its `common.login`).
    pub async fn restored_lab() -> Replayer {
        let mut replayer = Replayer::new().await;
        replayer.replay("00_setup").await;
        let view = 7;
        let quarantine = replayer.odoo.add_location("Quarantine", view, "internal", None);
        let refurbish = replayer
            .odoo
            .add_location("Refurbish", view, "internal", Some("WH-REFURB"));
        for (recorded, fake) in [(35, quarantine), (36, refurbish)] {
            replayer.learn_id("stock.location", recorded, fake, "snapshot");
        }
        replayer
            .odoo
            .add_user(&NewUser::inventory_manager("returns-edge", "Returns Edge"));
        replayer
    }

    /// Replays the session's files up to and including `last` (from the snapshot when `last`
    /// comes after it).
    pub async fn replay_through(last: &str) -> Replayer {
        let position = |name: &str| SESSION.iter().position(|f| *f == name);
        let Some(end) = position(last) else {
            panic!("{last} is not a file of the session");
        };
        let restored = position(RESTORED_BEFORE).unwrap_or(SESSION.len());
        let (mut replayer, start) = if end >= restored {
            (Replayer::restored_lab().await, restored)
        } else {
            (Replayer::new().await, 0)
        };
        for file in &SESSION[start..=end] {
            replayer.replay(file).await;
        }
        replayer
    }

    /// Replays every exchange of one file.
    pub async fn replay(&mut self, file: &str) {
        for (step, exchange) in transcript(file).into_iter().enumerate() {
            self.here = (file.to_owned(), step);
            self.exchange(&exchange).await;
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!("{} step {}: {what}", self.here.0, self.here.1)
    }

    /// The fake id for a recorded one (unknown ids, like 99999999, stay as they are).
    fn fake_id(&self, model: &str, id: i64) -> i64 {
        self.ids.get(&(model.to_owned(), id)).copied().unwrap_or(id)
    }

    async fn exchange(&mut self, exchange: &Exchange) {
        let path = exchange.endpoint.trim_start_matches("POST ").to_owned();
        let mut request = exchange.request.clone();
        let (model, method) = self.rewrite_request(&mut request);
        let answer = self
            .client
            .post(format!("{}{path}", self.odoo.url()))
            .json(&request)
            .send()
            .await
            .unwrap_or_else(|e| self.fail(format!("no answer: {e}")));
        let status = answer.status().as_u16();
        let body: Value = answer
            .json()
            .await
            .unwrap_or_else(|e| self.fail(format!("answer is not JSON: {e}")));
        if status != exchange.status {
            self.fail(format!("HTTP {status}, recorded {}", exchange.status));
        }
        let (recorded, got) = (&exchange.response, &body);
        self.same(&recorded["jsonrpc"], &got["jsonrpc"], None, "jsonrpc");
        self.same(&recorded["id"], &got["id"], None, "id");
        match (
            recorded.get("result"),
            got.get("result"),
            recorded.get("error"),
            got.get("error"),
        ) {
            (Some(r), Some(g), None, None) => self.result(r, g, &model, &method),
            (None, None, Some(r), Some(g)) => self.same(r, g, None, "error"),
            // A method that returned `None`: Odoo sends neither `result` nor `error`.
            (None, None, None, None) => {}
            _ => self.fail(format!("recorded {recorded}\n got {got}\n ({})", exchange.note)),
        }
    }

    /// Rewrites recorded ids into fake ids; returns the (model, method) called.
    fn rewrite_request(&self, request: &mut Value) -> (String, String) {
        let params = &mut request["params"];
        let service = params["service"].as_str().unwrap_or("").to_owned();
        let method = params["method"].as_str().unwrap_or("").to_owned();
        if service != "object" {
            return (service, method);
        }
        let Some(args) = params["args"].as_array_mut() else {
            return (service, method);
        };
        if let Some(uid) = args.get(1).and_then(Value::as_i64) {
            args[1] = Value::from(self.fake_id("res.users", uid));
        }
        let model = args.get(3).and_then(Value::as_str).unwrap_or("").to_owned();
        let model_method = args.get(4).and_then(Value::as_str).unwrap_or("").to_owned();
        if let Some(Value::Array(positional)) = args.get_mut(5) {
            match model_method.as_str() {
                "create" => {
                    if let Some(first) = positional.first_mut() {
                        match first {
                            Value::Array(list) => list.iter_mut().for_each(|v| self.rewrite_vals(&model, v)),
                            v => self.rewrite_vals(&model, v),
                        }
                    }
                }
                "search" | "search_read" | "search_count" => {
                    if let Some(domain) = positional.first_mut() {
                        self.rewrite_domain(&model, domain);
                    }
                }
                "check_object_reference" | "fields_get" => {}
                _ => {
                    if let Some(ids) = positional.first_mut() {
                        self.rewrite_ref(&model, ids);
                    }
                    if model_method == "write" {
                        if let Some(vals) = positional.get_mut(1) {
                            self.rewrite_vals(&model, vals);
                        }
                    }
                }
            }
        }
        if let Some(Value::Object(kwargs)) = args.get_mut(6) {
            if let Some(Value::Object(ctx)) = kwargs.get_mut("context") {
                self.rewrite_context(ctx);
            }
        }
        (model, model_method)
    }

    fn rewrite_ref(&self, model: &str, value: &mut Value) {
        match value {
            Value::Number(n) => {
                if let Some(id) = n.as_i64() {
                    *value = Value::from(self.fake_id(model, id));
                }
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    match item {
                        // A command: [code, id, vals] or [6, 0, ids].
                        Value::Array(cmd) => {
                            let code = cmd.first().and_then(Value::as_i64).unwrap_or(-1);
                            if code == 6 {
                                if let Some(ids) = cmd.get_mut(2) {
                                    self.rewrite_ref(model, ids);
                                }
                            } else if let Some(id) = cmd.get_mut(1) {
                                if code != 0 {
                                    self.rewrite_ref(model, id);
                                }
                            }
                            if let Some(vals @ Value::Object(_)) = cmd.get_mut(2) {
                                self.rewrite_vals(model, vals);
                            }
                        }
                        other => self.rewrite_ref(model, other),
                    }
                }
            }
            _ => {}
        }
    }

    fn rewrite_vals(&self, model: &str, vals: &mut Value) {
        let Value::Object(map) = vals else { return };
        let target = map.get("model").and_then(Value::as_str).map(str::to_owned);
        for (key, value) in map.iter_mut() {
            let co = if model == "ir.model.data" && key == "res_id" {
                target.as_deref()
            } else {
                key_model(key)
            };
            if let Some(co) = co {
                self.rewrite_ref(co, value);
            }
        }
    }

    fn rewrite_domain(&self, model: &str, domain: &mut Value) {
        let Value::Array(leaves) = domain else { return };
        let target = leaves
            .iter()
            .find(|l| l.get(0).and_then(Value::as_str) == Some("model"))
            .and_then(|l| l.get(2))
            .and_then(Value::as_str)
            .map(str::to_owned);
        for leaf in leaves.iter_mut() {
            let Value::Array(term) = leaf else { continue };
            if term.len() != 3 {
                continue;
            }
            let field = term[0].as_str().unwrap_or("").to_owned();
            let co = match field.as_str() {
                "id" => Some(model),
                "res_id" if model == "ir.model.data" => target.as_deref(),
                f if f.contains('.') => None,
                f => key_model(f),
            };
            if let Some(co) = co {
                self.rewrite_ref(co, &mut term[2]);
            }
        }
    }

    fn rewrite_context(&self, ctx: &mut Map<String, Value>) {
        let active_model = ctx.get("active_model").and_then(Value::as_str).map(str::to_owned);
        for (key, value) in ctx.iter_mut() {
            let co = match key.as_str() {
                "active_id" | "active_ids" => active_model.as_deref(),
                k => key_model(k),
            };
            if let Some(co) = co {
                self.rewrite_ref(co, value);
            }
        }
    }

    /// Compares a `result` according to what was called.
    fn result(&mut self, recorded: &Value, got: &Value, model: &str, method: &str) {
        match method {
            "create" | "search" => self.same(recorded, got, Some(model), "result"),
            // `common.login`/`authenticate` answer a uid (or false).
            "login" | "authenticate" if model == "common" => self.same(recorded, got, Some("res.users"), "result"),
            "check_object_reference" => {
                let target = recorded[0].as_str().unwrap_or("").to_owned();
                self.same(&recorded[0], &got[0], None, "result[0]");
                self.same(&recorded[1], &got[1], Some(&target), "result[1]");
            }
            "read" | "search_read" => {
                let (Value::Array(r), Value::Array(g)) = (recorded, got) else {
                    return self.same(recorded, got, None, "result");
                };
                if r.len() != g.len() {
                    self.fail(format!(
                        "{} records, recorded {}:\n got {got}\n recorded {recorded}",
                        g.len(),
                        r.len()
                    ));
                }
                for (i, (rr, gg)) in r.iter().zip(g).enumerate() {
                    self.record(rr, gg, model, &format!("result[{i}]"));
                }
            }
            _ => self.same(recorded, got, None, "result"),
        }
    }

    /// Compares one record: `id` is of the called model, other keys by their field's model.
    fn record(&mut self, recorded: &Value, got: &Value, model: &str, path: &str) {
        let (Value::Object(r), Value::Object(g)) = (recorded, got) else {
            return self.same(recorded, got, None, path);
        };
        self.same_keys(r, g, path);
        for (key, rv) in r {
            let field_model = if key == "id" { Some(model) } else { key_model(key) };
            self.same(rv, &g[key], field_model, &format!("{path}.{key}"));
        }
    }

    fn same_keys(&self, r: &Map<String, Value>, g: &Map<String, Value>, path: &str) {
        let mut rk: Vec<&String> = r.keys().collect();
        let mut gk: Vec<&String> = g.keys().collect();
        rk.sort();
        gk.sort();
        if rk != gk {
            self.fail(format!("{path}: keys {gk:?}, recorded {rk:?}"));
        }
    }

    fn learn_id(&mut self, model: &str, recorded: i64, got: i64, path: &str) {
        let key = (model.to_owned(), recorded);
        match self.ids.get(&key) {
            Some(known) if *known == got => {}
            Some(known) => self.fail(format!(
                "{path}: {model} {recorded} is {known} here, but {got} was answered"
            )),
            None => {
                if let Some(other) = self.reverse.get(&(model.to_owned(), got)) {
                    self.fail(format!(
                        "{path}: {model} {got} already stands for recorded {other}, not {recorded}"
                    ));
                }
                self.ids.insert(key, got);
                self.reverse.insert((model.to_owned(), got), recorded);
            }
        }
    }

    fn same_string(&mut self, recorded: &str, got: &str, path: &str) {
        let (r, g) = (tokens(recorded), tokens(got));
        let shape_ok = r.len() == g.len()
            && r.iter().zip(&g).all(|pair| {
                matches!(pair, (Token::Name(_), Token::Name(_)) | (Token::Date, Token::Date))
                    || matches!(pair, (Token::Text(a), Token::Text(b)) if a == b)
            });
        if !shape_ok {
            self.fail(format!("{path}: {got:?}, recorded {recorded:?}"));
        }
        for pair in r.iter().zip(&g) {
            if let (Token::Name(a), Token::Name(b)) = pair {
                match self.names.get(a) {
                    Some(known) if known == b => {}
                    Some(known) => self.fail(format!("{path}: {a} is {known} here, but {b} was answered")),
                    None => {
                        self.names.insert(a.clone(), b.clone());
                    }
                }
            }
        }
    }

    /// Compares two values; numbers under an id-bearing key are ids of `model`.
    fn same(&mut self, recorded: &Value, got: &Value, model: Option<&str>, path: &str) {
        let relaxed = SEED_DEPENDENT.iter().any(|(file, step, key)| {
            *file == self.here.0 && *step == self.here.1 && path.ends_with(&format!(".{key}"))
        });
        match (recorded, got) {
            (Value::Number(r), Value::Number(g)) => match (model, r.as_i64(), g.as_i64()) {
                (Some(m), Some(r), Some(g)) => self.learn_id(m, r, g, path),
                _ if relaxed => {}
                _ if r.as_f64() == g.as_f64() => {}
                _ => self.fail(format!("{path}: {g}, recorded {r}")),
            },
            (Value::String(r), Value::String(g)) => self.same_string(r, g, path),
            (Value::Array(r), Value::Array(g)) => {
                if r.len() != g.len() {
                    self.fail(format!("{path}: {got}, recorded {recorded}"));
                }
                // A many2one pair [id, name], a list of ids, or a command [4, id].
                let is_command = r.first().and_then(Value::as_i64) == Some(4) && r.len() == 2 && model.is_some();
                for (i, (rv, gv)) in r.iter().zip(g).enumerate() {
                    let item_model = if is_command && i == 0 { None } else { model };
                    self.same(rv, gv, item_model, &format!("{path}[{i}]"));
                }
            }
            (Value::Object(r), Value::Object(g)) => {
                self.same_keys(r, g, path);
                let res_model = r.get("res_model").and_then(Value::as_str).map(str::to_owned);
                let active_model = r.get("active_model").and_then(Value::as_str).map(str::to_owned);
                for (key, rv) in r {
                    let key_m = match key.as_str() {
                        "res_id" => res_model.as_deref(),
                        "active_id" | "active_ids" => active_model.as_deref(),
                        k => key_model(k),
                    };
                    self.same(rv, &g[key], key_m, &format!("{path}.{key}"));
                }
            }
            (r, g) if r == g => {}
            _ => self.fail(format!("{path}: {got}, recorded {recorded}")),
        }
    }
}

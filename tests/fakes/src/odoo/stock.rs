//! Odoo 17 stock semantics: pickings and their moves and move lines (reservation, `quantity` as
//! the sum of move lines, `picked`), `button_validate` with its pre-validation wizards (SMS,
//! backorder), backorders that inherit `origin`, returns built by `stock.return.picking`, scraps
//! with the insufficient-quantity wizard, quants and inventory adjustments, writes on done moves
//! (and the accounting right they need), the email a chatter post needs, and sale orders that
//! create deliveries.
//! Every function here follows the Odoo 17 source or the recorded transcripts; where the fake
//! departs from Odoo it says so. Nothing here knows about HTTP or JSON-RPC.

use serde_json::{json, Map, Value};

use super::db::{
    BackorderLine, BackorderWizard, Database, Move, MoveLine, Picking, Quant, ReturnLine, ReturnWizard, SaleLine,
    SaleOrder, Scrap, ScrapWarning, SmsWizard,
};
use super::error::OdooError;
use super::fields::{self, Context};
use super::orm::{
    boolean, commands, existing_id, float, linked_ids, model_def, not_null, opt_id, opt_text, Command, Env,
};

/// Quantities below this are zero (Odoo rounds Units to 0.01).
const EPS: f64 = 1e-6;

/// View ids of the wizard actions, as the transcripts show them.
const VIEW_BACKORDER: i64 = 843;
const VIEW_SMS: i64 = 1102;
const VIEW_SCRAP_WARNING: i64 = 851;

pub fn not_emulated(what: &str) -> OdooError {
    OdooError::NotEmulated(format!("returns-edge-fakes: {what} is not emulated"))
}

/// Routes `create` for the stock and sale models.
pub fn create(env: &mut Env<'_>, model: &str, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    match model {
        "stock.picking" => create_picking(env, vals),
        "stock.move" => create_move(env, vals, None),
        "stock.move.line" => create_move_line(env, vals),
        "stock.scrap" => create_scrap(env, vals),
        "stock.return.picking" => create_return_wizard(env, vals),
        "stock.return.picking.line" => create_return_line(env, vals),
        "stock.backorder.confirmation" => create_backorder_wizard(env, vals),
        "confirm.stock.sms" => {
            let pick_ids = match vals.get("pick_ids") {
                Some(v) => linked_ids(&commands(model, "pick_ids", v)?),
                None => Vec::new(),
            };
            Ok(env.db.sms_wizards.insert_with(|id| SmsWizard { id, pick_ids }))
        }
        "stock.warn.insufficient.qty.scrap" => create_scrap_warning(env, vals),
        "stock.quant" => create_quant(env, vals),
        "sale.order" => create_sale_order(env, vals),
        other => Err(not_emulated(&format!("{other}.create"))),
    }
}

/// Routes `write` for the stock and sale models.
pub fn write(env: &mut Env<'_>, model: &str, ids: &[i64], vals: &Map<String, Value>) -> Result<(), OdooError> {
    match model {
        "stock.picking" => ids.iter().try_for_each(|id| write_picking(env, *id, vals)),
        "stock.move" => ids.iter().try_for_each(|id| write_move(env, *id, vals)),
        "stock.move.line" => ids.iter().try_for_each(|id| write_move_line(env, *id, vals)),
        "stock.scrap" => ids.iter().try_for_each(|id| write_scrap(env, *id, vals)),
        "stock.quant" => write_quant(env, ids, vals),
        "stock.picking.type" => ids.iter().try_for_each(|id| write_picking_type(env, *id, vals)),
        "stock.return.picking" => ids.iter().try_for_each(|id| write_return_wizard(env, *id, vals)),
        "stock.return.picking.line" => ids.iter().try_for_each(|id| write_return_line(env, *id, vals)),
        "stock.backorder.confirmation.line" => {
            for id in ids {
                if let (Some(b), Some(line)) = (boolean(vals, "to_backorder"), env.db.backorder_lines.get_mut(*id)) {
                    line.to_backorder = b;
                }
            }
            Ok(())
        }
        "sale.order" => {
            for id in ids {
                let m = "sale.order";
                let (client_ref, origin) = (opt_text(m, vals, "client_order_ref")?, opt_text(m, vals, "origin")?);
                let now = env.db.now;
                if let Some(o) = env.db.sale_orders.get_mut(*id) {
                    if vals.contains_key("client_order_ref") {
                        o.client_order_ref = client_ref;
                    }
                    if vals.contains_key("origin") {
                        o.origin = origin;
                    }
                    o.write_date = now;
                }
            }
            Ok(())
        }
        other => Err(not_emulated(&format!("{other}.write"))),
    }
}

/// Routes `unlink` for the stock and sale models.
pub fn unlink(env: &mut Env<'_>, model: &str, ids: &[i64]) -> Result<(), OdooError> {
    match model {
        "stock.picking" => {
            for id in ids {
                let moves = env.db.picking_moves(*id);
                cancel_moves(env.db, &moves)?;
                for m in moves {
                    remove_move(env.db, m);
                }
                env.db.pickings.rows.remove(id);
            }
            Ok(())
        }
        "stock.move" => {
            if ids.iter().any(|id| {
                env.db
                    .moves
                    .get(*id)
                    .is_some_and(|m| !matches!(m.state.as_str(), "draft" | "cancel"))
            }) {
                return Err(OdooError::User("You can only delete draft or cancelled moves.".into()));
            }
            for id in ids {
                let picking = env.db.moves.get(*id).and_then(|m| m.picking_id);
                remove_move(env.db, *id);
                if let Some(p) = picking {
                    refresh_picking_state(env.db, p);
                }
            }
            Ok(())
        }
        "stock.move.line" => {
            for id in ids {
                let Some(line) = env.db.move_lines.get(*id).cloned() else {
                    continue;
                };
                if let Some(m) = line.move_id.and_then(|m| env.db.moves.get(m)) {
                    if m.state == "done" {
                        return Err(OdooError::User(
                            "You can not delete product moves if the picking is done. You can only correct the done \
                             quantities."
                                .into(),
                        ));
                    }
                }
                env.db.move_lines.rows.remove(id);
                if let Some(m) = line.move_id {
                    after_quantity_change(env.db, m);
                }
            }
            Ok(())
        }
        "stock.scrap" => {
            if ids
                .iter()
                .any(|id| env.db.scraps.get(*id).is_some_and(|s| s.state == "done"))
            {
                return Err(OdooError::User("You cannot delete a scrap which is done.".into()));
            }
            ids.iter().for_each(|id| {
                env.db.scraps.rows.remove(id);
            });
            Ok(())
        }
        "stock.return.picking" => {
            for id in ids {
                env.db.return_wizards.rows.remove(id);
                env.db.return_lines.retain(|l| l.wizard_id != *id);
            }
            Ok(())
        }
        "stock.return.picking.line" => {
            ids.iter().for_each(|id| {
                env.db.return_lines.rows.remove(id);
            });
            Ok(())
        }
        "stock.backorder.confirmation" => {
            for id in ids {
                env.db.backorder_wizards.rows.remove(id);
                env.db.backorder_lines.retain(|l| l.wizard_id != *id);
            }
            Ok(())
        }
        "confirm.stock.sms" => {
            ids.iter().for_each(|id| {
                env.db.sms_wizards.rows.remove(id);
            });
            Ok(())
        }
        "stock.warn.insufficient.qty.scrap" => {
            ids.iter().for_each(|id| {
                env.db.scrap_warnings.rows.remove(id);
            });
            Ok(())
        }
        other => Err(not_emulated(&format!("{other}.unlink"))),
    }
}

/// Runs a model-specific public method (`button_validate`, `process`, `create_returns`…).
pub fn call(env: &mut Env<'_>, model: &str, method: &str, ids: &[i64]) -> Result<Value, OdooError> {
    match (model, method) {
        ("stock.picking", "action_confirm") => {
            action_confirm(env.db, ids);
            Ok(json!(true))
        }
        ("stock.picking", "action_assign") => action_assign(env.db, ids).map(|()| json!(true)),
        ("stock.picking", "button_validate") => button_validate(env, ids),
        ("stock.picking", "action_cancel") => {
            for id in ids {
                let moves = env.db.picking_moves(*id);
                cancel_moves(env.db, &moves)?;
                refresh_picking_state(env.db, *id);
            }
            Ok(json!(true))
        }
        ("stock.picking", "do_unreserve") => {
            for id in ids {
                for m in env.db.picking_moves(*id) {
                    if !matches!(
                        env.db.moves.get(m).map(|m| m.state.as_str()),
                        Some("done" | "cancel" | "draft")
                    ) {
                        remove_lines(env.db, m);
                        set_move_state(env.db, m, "confirmed");
                    }
                }
                refresh_picking_state(env.db, *id);
            }
            Ok(json!(true))
        }
        ("stock.scrap", "action_validate") => scrap_action_validate(env, ids),
        ("stock.quant", "action_apply_inventory") => apply_inventory(env, ids),
        ("stock.scrap", "do_scrap") => {
            ids.iter().try_for_each(|id| do_scrap(env.db, *id))?;
            Ok(json!(true))
        }
        ("stock.warn.insufficient.qty.scrap", "action_done") => {
            let id = ensure_one(model, ids)?;
            let scrap = env.db.scrap_warnings.get(id).map(|w| w.scrap_id).unwrap_or(0);
            // Odoo does not look at the scrap's state here: forcing twice scraps twice.
            do_scrap(env.db, scrap)?;
            Ok(json!(true))
        }
        ("stock.warn.insufficient.qty.scrap", "action_cancel") => {
            // Discarding the warning deletes the draft scrap (unless `not_unlink_on_discard`).
            let id = ensure_one(model, ids)?;
            if !env
                .ctx
                .get("not_unlink_on_discard")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                if let Some(scrap) = env.db.scrap_warnings.get(id).map(|w| w.scrap_id) {
                    unlink(env, "stock.scrap", &[scrap])?;
                }
            }
            Ok(json!(true))
        }
        ("stock.return.picking", "create_returns") => create_returns(env, ids),
        ("stock.backorder.confirmation", "process") => backorder_process(env, ids),
        ("stock.backorder.confirmation", "process_cancel_backorder") => backorder_process_cancel(env, ids),
        ("confirm.stock.sms", "send_sms") | ("confirm.stock.sms", "dont_send_sms") => {
            ensure_one(model, ids)?;
            if !env.db.company.has_received_warning_stock_sms {
                env.db.company.has_received_warning_stock_sms = true;
                if method == "dont_send_sms" {
                    env.db.company.stock_move_sms_validation = false;
                }
            }
            // Without `button_validate_picking_ids` in the context this validates nothing and
            // still answers True.
            let pickings = context_ids(&env.ctx, "button_validate_picking_ids");
            button_validate(env, &pickings)
        }
        ("sale.order", "action_confirm") => {
            for id in ids {
                confirm_sale_order(env.db, *id)?;
            }
            Ok(json!(true))
        }
        ("res.config.settings", "execute") => Ok(json!({"type": "ir.actions.client", "tag": "reload"})),
        (m, name) => Err(not_emulated(&format!("{m}.{name}"))),
    }
}

fn ensure_one(model: &str, ids: &[i64]) -> Result<i64, OdooError> {
    match ids {
        [one] => Ok(*one),
        other => Err(OdooError::expected_singleton(model, other)),
    }
}

/// Ids from a context key (`[1, 2]` or `1`).
fn context_ids(ctx: &Context, key: &str) -> Vec<i64> {
    match ctx.get(key) {
        Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_i64).collect(),
        Some(Value::Number(n)) => n.as_i64().into_iter().collect(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Pickings
// ---------------------------------------------------------------------------------------------

/// The next name of a picking type's sequence (`WH/IN/00007`).
pub fn next_picking_name(db: &mut Database, type_id: i64) -> String {
    match db.picking_types.get_mut(type_id) {
        Some(t) => {
            let name = format!("{}{:05}", t.prefix, t.next_number);
            t.next_number += 1;
            name
        }
        None => "/".to_owned(),
    }
}

fn check_picking_name_unique(db: &Database, id: i64, name: &str) -> Result<(), OdooError> {
    if db.pickings.values().any(|p| p.id != id && p.name == name) {
        return Err(OdooError::Validation(
            "The operation cannot be completed: Reference must be unique per company!".into(),
        ));
    }
    Ok(())
}

/// `stock.picking.type.write` of its settings (names, default locations, the return type and
/// return location, backorder and lot policies). Its sequence is not emulated.
fn write_picking_type(env: &mut Env<'_>, id: i64, vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "stock.picking.type";
    let def = model_def(m)?;
    if vals.contains_key("sequence_code") || vals.contains_key("code") {
        return Err(not_emulated("changing the code or sequence of a stock.picking.type"));
    }
    let mut t = env
        .db
        .picking_types
        .get(id)
        .cloned()
        .ok_or_else(|| OdooError::missing(m, &[id], env.uid))?;
    if vals.contains_key("name") {
        t.name = super::orm::req_text(def, vals, "name")?;
    }
    for (field, slot) in [
        ("default_location_src_id", &mut t.default_location_src_id),
        ("default_location_dest_id", &mut t.default_location_dest_id),
        ("default_location_return_id", &mut t.default_location_return_id),
    ] {
        if vals.contains_key(field) {
            *slot = existing_id(env, m, vals, field, "stock.location")?;
        }
    }
    if vals.contains_key("return_picking_type_id") {
        t.return_picking_type_id = existing_id(env, m, vals, "return_picking_type_id", m)?;
    }
    if let Some(policy) = super::orm::selection(m, vals, "create_backorder", &["ask", "always", "never"])? {
        t.create_backorder = policy;
    }
    for (field, slot) in [
        ("use_create_lots", &mut t.use_create_lots),
        ("use_existing_lots", &mut t.use_existing_lots),
        ("active", &mut t.active),
    ] {
        if let Some(b) = boolean(vals, field) {
            *slot = b;
        }
    }
    if let Some(seq) = vals.get("sequence").and_then(Value::as_i64) {
        t.sequence = seq;
    }
    t.write_date = env.db.now;
    env.db.picking_types.rows.insert(id, t);
    Ok(())
}

/// Odoo stores Html sanitized: plain text comes back wrapped in a paragraph.
fn sanitize_html(text: Option<String>) -> Option<String> {
    text.map(|t| {
        if t.trim_start().starts_with('<') {
            t
        } else {
            format!("<p>{t}</p>")
        }
    })
}

/// The values of a new picking, before its moves.
#[derive(Debug, Clone)]
pub struct PickingSpec {
    pub name: Option<String>,
    pub picking_type_id: i64,
    pub location_id: i64,
    pub location_dest_id: i64,
    pub origin: Option<String>,
    pub partner_id: Option<i64>,
    pub sale_id: Option<i64>,
    pub backorder_id: Option<i64>,
    pub return_id: Option<i64>,
}

/// Inserts a draft picking, naming it from its type's sequence unless a name is given.
pub fn new_picking(db: &mut Database, spec: PickingSpec) -> Result<i64, OdooError> {
    let name = match spec.name.filter(|n| n != "/") {
        Some(n) => n,
        None => next_picking_name(db, spec.picking_type_id),
    };
    check_picking_name_unique(db, 0, &name)?;
    let now = db.now;
    Ok(db.pickings.insert_with(|id| Picking {
        id,
        name,
        origin: spec.origin,
        note: None,
        partner_id: spec.partner_id,
        picking_type_id: spec.picking_type_id,
        location_id: spec.location_id,
        location_dest_id: spec.location_dest_id,
        state: "draft".into(),
        backorder_id: spec.backorder_id,
        return_id: spec.return_id,
        sale_id: spec.sale_id,
        scheduled_date: now,
        date_done: None,
        priority: "0".into(),
        move_type: "direct".into(),
        user_id: None,
        create_uid: db.uid,
        carrier_tracking_ref: None,
        create_date: now,
        write_date: now,
    }))
}

fn create_picking(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "stock.picking";
    let def = model_def(m)?;
    let type_id = existing_id(env, m, vals, "picking_type_id", "stock.picking.type")?
        .ok_or_else(|| not_null(def, "picking_type_id"))?;
    let ptype = env
        .db
        .picking_types
        .get(type_id)
        .cloned()
        .ok_or_else(|| OdooError::missing("stock.picking.type", &[type_id], env.uid))?;
    // `_compute_location_id`: the type's defaults, else the partner's vendor (source) and
    // customer (destination) locations — Receipts have no default source and Delivery Orders
    // no default destination in Odoo 17.
    let location_id = existing_id(env, m, vals, "location_id", "stock.location")?
        .or(ptype.default_location_src_id)
        .or_else(|| location_of_usage(env.db, "supplier"))
        .ok_or_else(|| not_null(def, "location_id"))?;
    let location_dest_id = existing_id(env, m, vals, "location_dest_id", "stock.location")?
        .or(ptype.default_location_dest_id)
        .or_else(|| location_of_usage(env.db, "customer"))
        .ok_or_else(|| not_null(def, "location_dest_id"))?;
    let spec = PickingSpec {
        name: opt_text(m, vals, "name")?,
        picking_type_id: type_id,
        location_id,
        location_dest_id,
        origin: opt_text(m, vals, "origin")?,
        partner_id: existing_id(env, m, vals, "partner_id", "res.partner")?,
        sale_id: None,
        backorder_id: existing_id(env, m, vals, "backorder_id", m)?,
        return_id: existing_id(env, m, vals, "return_id", m)?,
    };
    let id = new_picking(env.db, spec)?;
    let note = sanitize_html(opt_text(m, vals, "note")?);
    let user_id = opt_id(m, vals, "user_id")?;
    let tracking = opt_text(m, vals, "carrier_tracking_ref")?;
    if let Some(p) = env.db.pickings.get_mut(id) {
        p.note = note;
        p.user_id = user_id;
        p.carrier_tracking_ref = tracking;
        if let Some(Value::String(prio)) = vals.get("priority") {
            p.priority.clone_from(prio);
        }
        if let Some(Value::String(mt)) = vals.get("move_type") {
            p.move_type.clone_from(mt);
        }
    }
    for field in ["move_ids", "move_ids_without_package"] {
        if let Some(v) = vals.get(field) {
            apply_move_commands(env, id, &commands(m, field, v)?)?;
        }
    }
    if let Some(v) = vals.get("move_line_ids") {
        apply_picking_line_commands(env, id, &commands(m, "move_line_ids", v)?)?;
    }
    autoconfirm_picking(env.db, id);
    refresh_picking_state(env.db, id);
    Ok(id)
}

/// The first location of a usage (`customer`, `supplier`): the partner locations a picking
/// falls back to (the fake has one company and no partner-specific locations).
fn location_of_usage(db: &Database, usage: &str) -> Option<i64> {
    db.locations.values().find(|l| l.usage == usage).map(|l| l.id)
}

/// `_autoconfirm_picking` after a picking is created: draft moves that already have a quantity
/// (from nested `move_line_ids`, or move lines given on the picking) are confirmed at once — so
/// such a picking is `assigned` before any `action_confirm` (transcript 27, variants 2 and 2b).
fn autoconfirm_picking(db: &mut Database, picking_id: i64) {
    if db
        .pickings
        .get(picking_id)
        .is_some_and(|p| matches!(p.state.as_str(), "done" | "cancel"))
    {
        return;
    }
    let drafts: Vec<i64> = db
        .picking_moves(picking_id)
        .into_iter()
        .filter(|m| db.moves[m].state == "draft" && db.move_quantity(*m).abs() > EPS)
        .collect();
    confirm_moves(db, &drafts);
}

/// `move_line_ids` commands on a picking ("Detailed Operations"): a new line is attached to a
/// move of the picking with the same product (first those still short of their demand), or
/// Odoo makes a move for it, "New Move:<product>" with a demand of 0.
fn apply_picking_line_commands(env: &mut Env<'_>, picking_id: i64, cmds: &[Command]) -> Result<(), OdooError> {
    for cmd in cmds {
        match cmd {
            Command::Create(vals) => {
                let mut vals = vals.clone();
                vals.insert("picking_id".into(), json!(picking_id));
                create_move_line(env, &vals)?;
            }
            Command::Update(id, vals) => write_move_line(env, *id, vals)?,
            Command::Delete(id) => unlink(env, "stock.move.line", &[*id])?,
            other => return Err(not_emulated(&format!("stock.picking.move_line_ids command {other:?}"))),
        }
    }
    Ok(())
}

fn apply_move_commands(env: &mut Env<'_>, picking_id: i64, cmds: &[Command]) -> Result<(), OdooError> {
    for cmd in cmds {
        match cmd {
            Command::Create(vals) => {
                create_move(env, vals, Some(picking_id))?;
            }
            Command::Update(id, vals) => write_move(env, *id, vals)?,
            Command::Delete(id) => unlink(env, "stock.move", &[*id])?,
            Command::Unlink(id) => {
                if let Some(m) = env.db.moves.get_mut(*id) {
                    m.picking_id = None;
                }
            }
            Command::Link(id) => {
                if let Some(m) = env.db.moves.get_mut(*id) {
                    m.picking_id = Some(picking_id);
                }
            }
            Command::Clear | Command::Set(_) => {
                let keep = if let Command::Set(ids) = cmd {
                    ids.clone()
                } else {
                    Vec::new()
                };
                for m in env.db.picking_moves(picking_id) {
                    if !keep.contains(&m) {
                        unlink(env, "stock.move", &[m])?;
                    }
                }
                for id in keep {
                    if let Some(m) = env.db.moves.get_mut(id) {
                        m.picking_id = Some(picking_id);
                    }
                }
            }
        }
    }
    Ok(())
}

fn write_picking(env: &mut Env<'_>, id: i64, vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "stock.picking";
    let mut p = env
        .db
        .pickings
        .get(id)
        .cloned()
        .ok_or_else(|| OdooError::missing(m, &[id], env.uid))?;
    if vals.contains_key("origin") {
        p.origin = opt_text(m, vals, "origin")?;
    }
    if vals.contains_key("note") {
        p.note = sanitize_html(opt_text(m, vals, "note")?);
    }
    if vals.contains_key("partner_id") {
        p.partner_id = existing_id(env, m, vals, "partner_id", "res.partner")?;
    }
    if vals.contains_key("user_id") {
        p.user_id = opt_id(m, vals, "user_id")?;
    }
    if vals.contains_key("carrier_tracking_ref") {
        p.carrier_tracking_ref = opt_text(m, vals, "carrier_tracking_ref")?;
    }
    if let Some(Value::String(name)) = vals.get("name") {
        check_picking_name_unique(env.db, id, name)?;
        p.name.clone_from(name);
    }
    if let Some(t) = existing_id(env, m, vals, "picking_type_id", "stock.picking.type")? {
        p.picking_type_id = t;
    }
    if let Some(Value::String(prio)) = vals.get("priority") {
        p.priority.clone_from(prio);
    }
    if vals.contains_key("backorder_id") {
        p.backorder_id = existing_id(env, m, vals, "backorder_id", m)?;
    }
    let new_src = existing_id(env, m, vals, "location_id", "stock.location")?;
    let new_dest = existing_id(env, m, vals, "location_dest_id", "stock.location")?;
    p.location_id = new_src.unwrap_or(p.location_id);
    p.location_dest_id = new_dest.unwrap_or(p.location_dest_id);
    p.write_date = env.db.now;
    env.db.pickings.rows.insert(id, p);
    // Odoo propagates the picking's locations to its moves that are not done yet.
    if new_src.is_some() || new_dest.is_some() {
        for move_id in env.db.picking_moves(id) {
            let now = env.db.now;
            let Some(mv) = env.db.moves.get_mut(move_id) else {
                continue;
            };
            if matches!(mv.state.as_str(), "done" | "cancel") {
                continue;
            }
            if let Some(src) = new_src {
                mv.location_id = src;
            }
            if let Some(dest) = new_dest {
                mv.location_dest_id = dest;
            }
            mv.write_date = now;
            if let Some(dest) = new_dest {
                env.db
                    .move_lines
                    .update_where(|l| l.move_id == Some(move_id), |line| line.location_dest_id = dest);
            }
        }
    }
    for field in ["move_ids", "move_ids_without_package"] {
        if let Some(v) = vals.get(field) {
            apply_move_commands(env, id, &commands(m, field, v)?)?;
        }
    }
    if let Some(v) = vals.get("move_line_ids") {
        apply_picking_line_commands(env, id, &commands(m, "move_line_ids", v)?)?;
    }
    if vals.contains_key("move_ids") || vals.contains_key("move_ids_without_package") {
        autoconfirm_picking(env.db, id);
    }
    refresh_picking_state(env.db, id);
    Ok(())
}

/// Odoo 17's picking state from its moves (move_type `direct`).
pub fn refresh_picking_state(db: &mut Database, picking_id: i64) {
    let moves = db.picking_moves(picking_id);
    let states: Vec<String> = moves
        .iter()
        .filter_map(|m| db.moves.get(*m))
        .map(|m| m.state.clone())
        .collect();
    let state = if states.is_empty() || states.iter().any(|s| s == "draft") {
        "draft"
    } else if states.iter().all(|s| s == "cancel") {
        "cancel"
    } else if states.iter().all(|s| s == "done" || s == "cancel") {
        "done"
    } else if states.iter().any(|s| s == "assigned" || s == "partially_available") {
        "assigned"
    } else if states.iter().any(|s| s == "waiting") {
        "waiting"
    } else {
        "confirmed"
    };
    let now = db.now;
    if let Some(p) = db.pickings.get_mut(picking_id) {
        if p.state != state {
            p.state = state.to_owned();
            p.write_date = now;
        }
    }
}

/// `action_confirm`: draft moves are confirmed and, the reservation method being "at
/// confirmation", reserved at once.
pub fn action_confirm(db: &mut Database, picking_ids: &[i64]) {
    for pid in picking_ids {
        let drafts: Vec<i64> = db
            .picking_moves(*pid)
            .into_iter()
            .filter(|m| db.moves.get(*m).is_some_and(|m| m.state == "draft"))
            .collect();
        confirm_moves(db, &drafts);
        refresh_picking_state(db, *pid);
    }
}

/// `action_assign`: confirms drafts, then reserves; a picking with nothing to reserve (done,
/// cancelled or empty) is a UserError.
pub fn action_assign(db: &mut Database, picking_ids: &[i64]) -> Result<(), OdooError> {
    let drafts: Vec<i64> = picking_ids
        .iter()
        .copied()
        .filter(|p| db.pickings.get(*p).is_some_and(|p| p.state == "draft"))
        .collect();
    action_confirm(db, &drafts);
    let moves: Vec<i64> = picking_ids
        .iter()
        .flat_map(|p| db.picking_moves(*p))
        .filter(|m| {
            db.moves
                .get(*m)
                .is_some_and(|m| !matches!(m.state.as_str(), "draft" | "cancel" | "done"))
        })
        .collect();
    if moves.is_empty() {
        return Err(OdooError::User("Nothing to check the availability for.".into()));
    }
    for m in moves {
        reserve_move(db, m);
    }
    for p in picking_ids {
        refresh_picking_state(db, *p);
    }
    Ok(())
}

/// `button_validate`, following Odoo 17 step by step.
pub fn button_validate(env: &mut Env<'_>, picking_ids: &[i64]) -> Result<Value, OdooError> {
    let db = &mut *env.db;
    // Draft pickings are confirmed and their empty moves get their demand as quantity.
    let drafts: Vec<i64> = picking_ids
        .iter()
        .copied()
        .filter(|p| db.pickings.get(*p).is_some_and(|p| p.state == "draft"))
        .collect();
    action_confirm(db, &drafts);
    for pid in &drafts {
        for m in db.picking_moves(*pid) {
            let demand = db.moves.get(m).map_or(0.0, |m| m.product_uom_qty);
            if db.move_quantity(m).abs() < EPS && demand.abs() > EPS {
                set_move_quantity(db, m, demand);
            }
        }
    }
    if !ctx_flag(&env.ctx, "skip_sanity_check") {
        sanity_check(db, picking_ids)?;
    }
    let mut ctx = env.ctx.clone();
    if context_ids(&ctx, "button_validate_picking_ids").is_empty() {
        ctx.insert("button_validate_picking_ids".into(), json!(picking_ids));
    }
    // _pre_action_done_hook: nothing picked but quantities set → everything is picked.
    for pid in picking_ids {
        let moves = db.picking_moves(*pid);
        let has_quantity = moves.iter().any(|m| db.move_quantity(*m).abs() > EPS);
        let has_pick = moves
            .iter()
            .any(|m| db.moves.get(*m).is_some_and(|m| !m.scrapped && m.picked));
        if has_quantity && !has_pick {
            for m in &moves {
                set_move_picked(db, *m, true);
            }
        }
    }
    if !ctx_flag(&ctx, "skip_backorder") {
        let to_backorder = check_backorder(db, picking_ids);
        if !to_backorder.is_empty() {
            let mut action_ctx = ctx.clone();
            action_ctx.insert("default_show_transfers".into(), json!(picking_ids.len() > 1));
            action_ctx.insert(
                "default_pick_ids".into(),
                Value::Array(to_backorder.iter().map(|p| json!([4, p])).collect()),
            );
            return Ok(json!({
                "name": "Create Backorder?",
                "type": "ir.actions.act_window",
                "view_mode": "form",
                "res_model": "stock.backorder.confirmation",
                "views": [[VIEW_BACKORDER, "form"]],
                "view_id": VIEW_BACKORDER,
                "target": "new",
                "context": action_ctx,
            }));
        }
    }
    // stock_sms: the first validation of a delivery to a partner with a phone asks about SMS.
    if !ctx_flag(&ctx, "skip_sms") {
        let to_confirm: Vec<i64> = picking_ids
            .iter()
            .copied()
            .filter(|p| needs_sms_confirmation(db, *p))
            .collect();
        if !to_confirm.is_empty() {
            let wizard = db.sms_wizards.insert_with(|id| SmsWizard {
                id,
                pick_ids: to_confirm.clone(),
            });
            return Ok(json!({
                "name": "SMS",
                "type": "ir.actions.act_window",
                "view_mode": "form",
                "res_model": "confirm.stock.sms",
                "views": [[VIEW_SMS, "form"]],
                "view_id": VIEW_SMS,
                "target": "new",
                "res_id": wizard,
                "context": ctx,
            }));
        }
    }
    let mut not_to_backorder: Vec<i64> = picking_ids
        .iter()
        .copied()
        .filter(|p| picking_type_of(db, *p).is_some_and(|t| t.create_backorder == "never"))
        .collect();
    for p in context_ids(&ctx, "picking_ids_not_to_backorder") {
        if picking_type_of(db, p).is_some_and(|t| t.create_backorder != "always") && !not_to_backorder.contains(&p) {
            not_to_backorder.push(p);
        }
    }
    let to_backorder: Vec<i64> = picking_ids
        .iter()
        .copied()
        .filter(|p| !not_to_backorder.contains(p))
        .collect();
    action_done(db, &not_to_backorder, true)?;
    action_done(db, &to_backorder, false)?;
    Ok(json!(true))
}

fn ctx_flag(ctx: &Context, key: &str) -> bool {
    ctx.get(key)
        .is_some_and(|v| !matches!(v, Value::Bool(false) | Value::Null))
}

fn picking_type_of(db: &Database, picking_id: i64) -> Option<&super::db::PickingType> {
    db.pickings
        .get(picking_id)
        .and_then(|p| db.picking_types.get(p.picking_type_id))
}

fn needs_sms_confirmation(db: &Database, picking_id: i64) -> bool {
    let Some(p) = db.pickings.get(picking_id) else {
        return false;
    };
    let outgoing = picking_type_of(db, picking_id).is_some_and(|t| t.code == "outgoing");
    let reachable = p
        .partner_id
        .and_then(|id| db.partners.get(id))
        .is_some_and(|partner| partner.phone.is_some() || partner.mobile.is_some());
    outgoing && db.company.stock_move_sms_validation && !db.company.has_received_warning_stock_sms && reachable
}

/// `_sanity_check`: no moves, no quantities (which includes an already-done picking: validating
/// twice is a UserError), or picked tracked lines without a lot.
fn sanity_check(db: &Database, picking_ids: &[i64]) -> Result<(), OdooError> {
    let mut without_moves = Vec::new();
    let mut without_quantities = false;
    let mut products_without_lots: Vec<i64> = Vec::new();
    for pid in picking_ids {
        let moves = db.picking_moves(*pid);
        let lines: Vec<&MoveLine> = db.move_lines.values().filter(|l| l.picking_id == Some(*pid)).collect();
        if moves.is_empty() && lines.is_empty() {
            without_moves.push(*pid);
        }
        if moves
            .iter()
            .filter(|m| {
                db.moves
                    .get(**m)
                    .is_some_and(|m| !matches!(m.state.as_str(), "done" | "cancel"))
            })
            .all(|m| db.move_quantity(*m).abs() < EPS)
        {
            without_quantities = true;
        }
        let uses_lots = picking_type_of(db, *pid).is_some_and(|t| t.use_create_lots || t.use_existing_lots);
        if uses_lots {
            for l in lines {
                let tracked = db.products.get(l.product_id).is_some_and(|p| p.tracking != "none");
                let missing =
                    tracked && l.picked && l.quantity.abs() > EPS && l.lot_id.is_none() && l.lot_name.is_none();
                if missing && !products_without_lots.contains(&l.product_id) {
                    products_without_lots.push(l.product_id);
                }
            }
        }
    }
    if picking_ids.len() <= 1 {
        if !without_moves.is_empty() {
            return Err(OdooError::User(
                "You can’t validate an empty transfer. Please add some products to move before proceeding.".into(),
            ));
        }
        if without_quantities && !picking_ids.is_empty() {
            return Err(OdooError::User(
                "You cannot validate a transfer if no quantities are reserved. To force the transfer, encode quantities."
                    .into(),
            ));
        }
        if !products_without_lots.is_empty() {
            let names: Vec<String> = products_without_lots
                .iter()
                .map(|p| db.product_display_name(*p))
                .collect();
            return Err(OdooError::User(format!(
                "You need to supply a Lot/Serial number for products {}.",
                names.join(", ")
            )));
        }
    } else if !without_moves.is_empty() {
        let names: Vec<String> = without_moves
            .iter()
            .filter_map(|p| db.pickings.get(*p))
            .map(|p| p.name.clone())
            .collect();
        return Err(OdooError::User(format!(
            "Transfers {}: Please add some items to move.",
            names.join(", ")
        )));
    }
    Ok(())
}

/// `_check_backorder`: pickings (with create_backorder "ask") having a move with demand that is
/// not picked, or picked short.
fn check_backorder(db: &Database, picking_ids: &[i64]) -> Vec<i64> {
    picking_ids
        .iter()
        .copied()
        .filter(|pid| picking_type_of(db, *pid).is_some_and(|t| t.create_backorder == "ask"))
        .filter(|pid| {
            db.picking_moves(*pid)
                .iter()
                .filter_map(|m| db.moves.get(*m))
                .filter(|m| m.state != "cancel")
                .any(|m| {
                    let picked_qty = if m.picked { db.move_quantity(m.id) } else { 0.0 };
                    (m.product_uom_qty.abs() > EPS && !m.picked) || picked_qty < m.product_uom_qty - EPS
                })
        })
        .collect()
}

/// `_action_done` of pickings: cancel what is not picked (only with `cancel_backorder`), split
/// short moves (only without it), move the stock, then put the rest in a backorder that
/// inherits the picking's `origin`.
fn action_done(db: &mut Database, picking_ids: &[i64], cancel_backorder: bool) -> Result<(), OdooError> {
    for pid in picking_ids {
        let moves: Vec<i64> = db
            .picking_moves(*pid)
            .into_iter()
            .filter(|m| {
                db.moves
                    .get(*m)
                    .is_some_and(|m| !matches!(m.state.as_str(), "done" | "cancel"))
            })
            .collect();
        let drafts: Vec<i64> = moves.iter().copied().filter(|m| db.moves[m].state == "draft").collect();
        confirm_moves(db, &drafts);
        let mut todo = Vec::new();
        for m in &moves {
            let (picked, demand) = (db.moves[m].picked, db.moves[m].product_uom_qty);
            if picked {
                // Lines not picked of a picked move are dropped.
                let unpicked: Vec<i64> = db
                    .move_lines
                    .values()
                    .filter(|l| l.move_id == Some(*m) && !l.picked)
                    .map(|l| l.id)
                    .collect();
                unpicked.iter().for_each(|l| {
                    db.move_lines.rows.remove(l);
                });
            }
            let qty = db.move_quantity(*m);
            if qty <= EPS || !picked {
                if demand.abs() < EPS || cancel_backorder {
                    cancel_moves(db, &[*m])?;
                }
                continue;
            }
            // Extra quantity: Odoo merges an extra move and the demand grows to what was done —
            // but not for a move without demand (a line added on the picking), which stays at 0
            // (`_create_extra_move`; transcript 27).
            if qty > demand + EPS && demand.abs() > EPS {
                if let Some(mv) = db.moves.get_mut(*m) {
                    mv.product_uom_qty = qty;
                }
            }
            todo.push(*m);
        }
        if !cancel_backorder {
            for m in &todo {
                let qty = db.move_quantity(*m);
                let demand = db.moves[m].product_uom_qty;
                if qty < demand - EPS {
                    split_move(db, *m, demand - qty);
                }
            }
        }
        moves_done(db, &todo)?;
        let now = db.now;
        if let Some(p) = db.pickings.get_mut(*pid) {
            p.date_done = Some(now);
            p.priority = "0".into();
            p.write_date = now;
        }
        refresh_picking_state(db, *pid);
        if !cancel_backorder {
            create_backorder(db, *pid)?;
        }
    }
    Ok(())
}

/// `message_post` as the current user needs the user's email: without one Odoo refuses with a
/// UserError, and the whole call is rolled back (transcript 26: `create_returns`, which posts
/// the origin link on the new picking; making a backorder posts a note too).
fn check_author_email(db: &Database) -> Result<(), OdooError> {
    if db.user_email(db.uid).is_none() {
        return Err(OdooError::User(
            "Unable to send message, please configure the sender's email address.".into(),
        ));
    }
    Ok(())
}

/// Splits `qty` off a move into a new confirmed move of the same picking (the backorder's).
fn split_move(db: &mut Database, move_id: i64, qty: f64) -> i64 {
    let now = db.now;
    let original = db.moves[&move_id].clone();
    if let Some(m) = db.moves.get_mut(move_id) {
        m.product_uom_qty -= qty;
        m.write_date = now;
    }
    db.moves.insert_with(|id| Move {
        id,
        product_uom_qty: qty,
        state: "confirmed".into(),
        picked: false,
        create_date: now,
        write_date: now,
        date: now,
        ..original
    })
}

/// `_create_backorder`: moves not done or cancelled go to a copy of the picking (same origin,
/// partner, type and locations; `backorder_id` set), which is then reserved.
fn create_backorder(db: &mut Database, picking_id: i64) -> Result<Option<i64>, OdooError> {
    let rest: Vec<i64> = db
        .picking_moves(picking_id)
        .into_iter()
        .filter(|m| !matches!(db.moves[m].state.as_str(), "done" | "cancel"))
        .collect();
    if rest.is_empty() {
        return Ok(None);
    }
    let original = db.pickings[&picking_id].clone();
    let backorder = new_picking(
        db,
        PickingSpec {
            name: None,
            picking_type_id: original.picking_type_id,
            location_id: original.location_id,
            location_dest_id: original.location_dest_id,
            origin: original.origin.clone(),
            partner_id: original.partner_id,
            sale_id: original.sale_id,
            backorder_id: Some(picking_id),
            return_id: None,
        },
    )?;
    // "The backorder … has been created." is posted on the original as the current user.
    check_author_email(db)?;
    let now = db.now;
    if let Some(b) = db.pickings.get_mut(backorder) {
        b.scheduled_date = original.scheduled_date;
        b.note.clone_from(&original.note);
    }
    for m in &rest {
        if let Some(mv) = db.moves.get_mut(*m) {
            mv.picking_id = Some(backorder);
            mv.picked = false;
            mv.write_date = now;
        }
        db.move_lines.update_where(
            |l| l.move_id == Some(*m),
            |line| {
                line.picking_id = Some(backorder);
                line.picked = false;
            },
        );
    }
    refresh_picking_state(db, picking_id);
    refresh_picking_state(db, backorder);
    if db.pickings[&backorder].state != "draft" {
        action_assign(db, &[backorder]).or_else(|e| match e {
            OdooError::User(_) => Ok(()),
            other => Err(other),
        })?;
    }
    Ok(Some(backorder))
}

// ---------------------------------------------------------------------------------------------
// Moves and move lines
// ---------------------------------------------------------------------------------------------

/// The values of a new move.
#[derive(Debug, Clone)]
pub struct MoveSpec {
    pub name: String,
    pub origin: Option<String>,
    pub product_id: i64,
    pub product_uom_qty: f64,
    pub location_id: i64,
    pub location_dest_id: i64,
    pub picking_id: Option<i64>,
    pub partner_id: Option<i64>,
    pub sale_line_id: Option<i64>,
}

/// Inserts a draft move.
pub fn new_move(db: &mut Database, spec: MoveSpec) -> i64 {
    let now = db.now;
    let picking_type_id = spec
        .picking_id
        .and_then(|p| db.pickings.get(p))
        .map(|p| p.picking_type_id);
    let uom = db.products.get(spec.product_id).map_or(1, |p| p.uom_id);
    db.moves.insert_with(|id| Move {
        id,
        name: spec.name,
        origin: spec.origin,
        description_picking: None,
        product_id: spec.product_id,
        product_uom_qty: spec.product_uom_qty,
        product_uom: uom,
        picked: false,
        state: "draft".into(),
        location_id: spec.location_id,
        location_dest_id: spec.location_dest_id,
        picking_id: spec.picking_id,
        picking_type_id,
        partner_id: spec.partner_id,
        origin_returned_move_id: None,
        move_orig_ids: Vec::new(),
        to_refund: false,
        sale_line_id: spec.sale_line_id,
        scrapped: false,
        scrap_id: None,
        is_inventory: false,
        sequence: 10,
        procure_method: "make_to_stock".into(),
        date: now,
        create_date: now,
        write_date: now,
    })
}

fn create_move(env: &mut Env<'_>, vals: &Map<String, Value>, picking: Option<i64>) -> Result<i64, OdooError> {
    let m = "stock.move";
    let def = model_def(m)?;
    let picking_id = match picking {
        Some(p) => Some(p),
        None => existing_id(env, m, vals, "picking_id", "stock.picking")?,
    };
    let parent = picking_id.and_then(|p| env.db.pickings.get(p)).cloned();
    let product_id =
        existing_id(env, m, vals, "product_id", "product.product")?.ok_or_else(|| not_null(def, "product_id"))?;
    let name = opt_text(m, vals, "name")?.ok_or_else(|| not_null(def, "name"))?;
    let location_id = existing_id(env, m, vals, "location_id", "stock.location")?
        .or(parent.as_ref().map(|p| p.location_id))
        .ok_or_else(|| not_null(def, "location_id"))?;
    let location_dest_id = existing_id(env, m, vals, "location_dest_id", "stock.location")?
        .or(parent.as_ref().map(|p| p.location_dest_id))
        .ok_or_else(|| not_null(def, "location_dest_id"))?;
    let id = new_move(
        env.db,
        MoveSpec {
            name,
            origin: opt_text(m, vals, "origin")?,
            product_id,
            product_uom_qty: float(m, vals, "product_uom_qty")?.unwrap_or(1.0),
            location_id,
            location_dest_id,
            picking_id,
            partner_id: existing_id(env, m, vals, "partner_id", "res.partner")?,
            sale_line_id: existing_id(env, m, vals, "sale_line_id", "sale.order.line")?,
        },
    );
    let description = opt_text(m, vals, "description_picking")?;
    let to_refund = boolean(vals, "to_refund").unwrap_or(false);
    let returned = existing_id(env, m, vals, "origin_returned_move_id", m)?;
    let sequence = vals.get("sequence").and_then(Value::as_i64);
    if let Some(mv) = env.db.moves.get_mut(id) {
        mv.description_picking = description;
        mv.to_refund = to_refund;
        mv.origin_returned_move_id = returned;
        if let Some(s) = sequence {
            mv.sequence = s;
        }
    }
    if let Some(q) = float(m, vals, "quantity")? {
        set_move_quantity(env.db, id, q);
    }
    // Nested `move_line_ids` lines belong to the move only: without a `picking_id` in their own
    // values they get none, so the picking's `move_line_ids` does not list them (transcript 27).
    if let Some(v) = vals.get("move_line_ids") {
        apply_move_line_commands(env, id, &commands(m, "move_line_ids", v)?)?;
    }
    if let Some(picked) = boolean(vals, "picked") {
        set_move_picked(env.db, id, picked);
    }
    // A move added to a confirmed picking is confirmed (and reserved) at once, as Odoo's
    // `_autoconfirm_picking` does.
    if let Some(p) = parent {
        if !matches!(p.state.as_str(), "draft" | "done" | "cancel") {
            confirm_moves(env.db, &[id]);
        }
        refresh_picking_state(env.db, p.id);
    }
    Ok(id)
}

/// `move_line_ids` commands on a move.
fn apply_move_line_commands(env: &mut Env<'_>, move_id: i64, cmds: &[Command]) -> Result<(), OdooError> {
    for cmd in cmds {
        match cmd {
            Command::Create(vals) => {
                let mut vals = vals.clone();
                vals.insert("move_id".into(), json!(move_id));
                create_move_line(env, &vals)?;
            }
            Command::Update(id, vals) => write_move_line(env, *id, vals)?,
            Command::Delete(id) => unlink(env, "stock.move.line", &[*id])?,
            Command::Clear | Command::Set(_) => {
                let keep = if let Command::Set(ids) = cmd {
                    ids.clone()
                } else {
                    Vec::new()
                };
                let doomed: Vec<i64> = env
                    .db
                    .move_lines_of(move_id)
                    .into_iter()
                    .filter(|l| !keep.contains(l))
                    .collect();
                unlink(env, "stock.move.line", &doomed)?;
                if keep.iter().any(|l| !env.db.move_lines_of(move_id).contains(l)) {
                    return Err(not_emulated("moving stock.move.line records to another move"));
                }
            }
            Command::Unlink(_) | Command::Link(_) => {
                return Err(not_emulated("moving stock.move.line records to another move"))
            }
        }
    }
    Ok(())
}

/// The AccessError a user without accounting rights meets when a done move of a storable
/// product changes quantity: `stock_account` revalues it and reads journal entries
/// (`account.move`), which an Inventory Administrator may not (transcript 25).
fn check_revaluation_rights(db: &Database, uid: i64, product_id: i64) -> Result<(), OdooError> {
    let storable = db
        .products
        .get(product_id)
        .is_some_and(|p| p.detailed_type == "product");
    let allowed = super::seed::groups::READ_JOURNAL_ENTRIES;
    let groups = db.user_groups(uid);
    if !storable || allowed.iter().any(|g| groups.contains(g)) {
        return Ok(());
    }
    let names: Vec<String> = allowed
        .iter()
        .filter_map(|g| db.groups.get(*g))
        .map(|g| format!("\t- {}", g.full_name()))
        .collect();
    Err(OdooError::Access(format!(
        "You are not allowed to access 'Journal Entry' (account.move) records.\n\nThis operation is allowed for the \
         following groups:\n{}\n\nContact your administrator to request access if necessary.",
        names.join("\n")
    )))
}

fn write_move(env: &mut Env<'_>, id: i64, vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "stock.move";
    let mv = env
        .db
        .moves
        .get(id)
        .cloned()
        .ok_or_else(|| OdooError::missing(m, &[id], env.uid))?;
    let now = env.db.now;
    let mut new = mv.clone();
    if vals.contains_key("name") {
        new.name = opt_text(m, vals, "name")?.unwrap_or_default();
    }
    if vals.contains_key("origin") {
        new.origin = opt_text(m, vals, "origin")?;
    }
    if vals.contains_key("description_picking") {
        new.description_picking = opt_text(m, vals, "description_picking")?;
    }
    // On a done move the demand is only a number: changing it moves nothing.
    if let Some(q) = float(m, vals, "product_uom_qty")? {
        new.product_uom_qty = q;
    }
    if let Some(l) = existing_id(env, m, vals, "location_id", "stock.location")? {
        new.location_id = l;
    }
    if let Some(l) = existing_id(env, m, vals, "location_dest_id", "stock.location")? {
        new.location_dest_id = l;
    }
    if vals.contains_key("picking_id") {
        new.picking_id = existing_id(env, m, vals, "picking_id", "stock.picking")?;
    }
    if let Some(b) = boolean(vals, "to_refund") {
        new.to_refund = b;
    }
    if let Some(s) = vals.get("sequence").and_then(Value::as_i64) {
        new.sequence = s;
    }
    if let Some(p) = existing_id(env, m, vals, "product_id", "product.product")? {
        new.product_id = p;
    }
    new.write_date = now;
    let dest_changed = new.location_dest_id != mv.location_dest_id;
    env.db.moves.rows.insert(id, new.clone());
    if dest_changed && mv.state != "done" {
        let dest = new.location_dest_id;
        env.db
            .move_lines
            .update_where(|l| l.move_id == Some(id), |line| line.location_dest_id = dest);
    }
    if let Some(q) = float(m, vals, "quantity")? {
        if mv.state == "done" {
            // Writing the quantity a done move already has changes nothing and answers True (a
            // retried or late receipt does not notice); another quantity really moves stock
            // again, after the accounting check (transcript 25).
            if (q - env.db.move_quantity(id)).abs() > EPS {
                check_revaluation_rights(env.db, env.uid, mv.product_id)?;
                set_done_move_quantity(env.db, id, q);
            }
        } else {
            set_move_quantity(env.db, id, q);
        }
    }
    if let Some(v) = vals.get("move_line_ids") {
        apply_move_line_commands(env, id, &commands(m, "move_line_ids", v)?)?;
    }
    if let Some(picked) = boolean(vals, "picked") {
        set_move_picked(env.db, id, picked);
    }
    after_quantity_change(env.db, id);
    for p in [mv.picking_id, new.picking_id].into_iter().flatten() {
        refresh_picking_state(env.db, p);
    }
    Ok(())
}

/// `stock.move.line.create`. The line belongs to its `move_id`, and to a picking only when
/// `picking_id` is given (Odoo does not take it from the move). A line given with a picking and
/// no move is attached to a move of that picking with the same product (those still short of
/// their demand first), or Odoo makes one for it: "New Move:<product>", demand 0. A line taking
/// from an internal location reserves there, on a quant created at 0 when there is none.
fn create_move_line(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "stock.move.line";
    let def = model_def(m)?;
    let picking_id = existing_id(env, m, vals, "picking_id", "stock.picking")?;
    let given_move = existing_id(env, m, vals, "move_id", "stock.move")?;
    let product_id = existing_id(env, m, vals, "product_id", "product.product")?
        .or_else(|| given_move.map(|mv| env.db.moves[&mv].product_id))
        .ok_or_else(|| not_null(def, "product_id"))?;
    let quantity = float(m, vals, "quantity")?.unwrap_or(0.0);
    let move_id = match (given_move, picking_id) {
        (Some(mv), _) => mv,
        (None, Some(pid)) => move_for_picking_line(env, pid, product_id, vals)?,
        (None, None) => return Err(not_emulated("a stock.move.line without move_id nor picking_id")),
    };
    let mv = env.db.moves[&move_id].clone();
    if mv.state == "done" {
        return Err(not_emulated("adding a move line to a done move"));
    }
    let lot_id = existing_id(env, m, vals, "lot_id", "stock.lot")?;
    let lot_name = opt_text(m, vals, "lot_name")?;
    let location_id = existing_id(env, m, vals, "location_id", "stock.location")?.unwrap_or(mv.location_id);
    let location_dest_id =
        existing_id(env, m, vals, "location_dest_id", "stock.location")?.unwrap_or(mv.location_dest_id);
    // `picked` defaults to the move's when the line is created for a move.
    let picked = boolean(vals, "picked").unwrap_or(given_move.is_some() && mv.picked);
    let now = env.db.now;
    let id = env.db.move_lines.insert_with(|id| MoveLine {
        id,
        move_id: Some(move_id),
        picking_id: if given_move.is_some() {
            picking_id
        } else {
            mv.picking_id
        },
        product_id,
        quantity,
        picked,
        location_id,
        location_dest_id,
        lot_id,
        lot_name,
        date: now,
        write_date: now,
    });
    ensure_reservation_quant(env.db, id);
    after_line_change(env.db, move_id);
    Ok(id)
}

/// The move a picking-level line without `move_id` goes to (see [`create_move_line`]).
fn move_for_picking_line(
    env: &mut Env<'_>,
    picking_id: i64,
    product_id: i64,
    vals: &Map<String, Value>,
) -> Result<i64, OdooError> {
    let picking = env.db.pickings[&picking_id].clone();
    if picking.state == "done" {
        return Err(not_emulated("adding a move line to a done picking"));
    }
    let mut same: Vec<i64> = env
        .db
        .picking_moves(picking_id)
        .into_iter()
        .filter(|m| env.db.moves[m].product_id == product_id)
        .collect();
    // Python's stable `sorted(key=quantity < product_qty, reverse=True)`: short moves first.
    same.sort_by_key(|m| env.db.move_quantity(*m) >= env.db.moves[m].product_uom_qty);
    if let Some(first) = same.first() {
        return Ok(*first);
    }
    let mid = new_move(
        env.db,
        MoveSpec {
            // `_prepare_stock_move_vals`: no space after the colon (transcript 27).
            name: format!("New Move:{}", env.db.product_display_name(product_id)),
            origin: None,
            product_id,
            product_uom_qty: 0.0,
            location_id: picking.location_id,
            location_dest_id: picking.location_dest_id,
            picking_id: Some(picking_id),
            partner_id: picking.partner_id,
            sale_line_id: None,
        },
    );
    let picked = boolean(vals, "picked").unwrap_or(false);
    let now = env.db.now;
    if let Some(mv) = env.db.moves.get_mut(mid) {
        mv.picked = picked;
        // The move takes the picking's state: a draft picking confirms it later
        // (`_autoconfirm_picking`), a confirmed one has it confirmed at once.
        if !matches!(picking.state.as_str(), "draft" | "cancel") {
            mv.state = "confirmed".into();
            mv.write_date = now;
        }
    }
    Ok(mid)
}

fn write_move_line(env: &mut Env<'_>, id: i64, vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "stock.move.line";
    let line = env
        .db
        .move_lines
        .get(id)
        .cloned()
        .ok_or_else(|| OdooError::missing(m, &[id], env.uid))?;
    let move_done = line
        .move_id
        .and_then(|mv| env.db.moves.get(mv))
        .is_some_and(|mv| mv.state == "done");
    if move_done {
        return write_done_move_line(env, &line, vals);
    }
    let mut new = line.clone();
    if let Some(q) = float(m, vals, "quantity")? {
        new.quantity = q;
    }
    if let Some(b) = boolean(vals, "picked") {
        new.picked = b;
    }
    if vals.contains_key("lot_id") {
        new.lot_id = existing_id(env, m, vals, "lot_id", "stock.lot")?;
    }
    if vals.contains_key("lot_name") {
        new.lot_name = opt_text(m, vals, "lot_name")?;
    }
    if let Some(l) = existing_id(env, m, vals, "location_id", "stock.location")? {
        new.location_id = l;
    }
    if let Some(l) = existing_id(env, m, vals, "location_dest_id", "stock.location")? {
        new.location_dest_id = l;
    }
    if vals.contains_key("picking_id") {
        new.picking_id = existing_id(env, m, vals, "picking_id", "stock.picking")?;
    }
    new.write_date = env.db.now;
    env.db.move_lines.rows.insert(id, new);
    ensure_reservation_quant(env.db, id);
    if let Some(mv) = line.move_id {
        after_line_change(env.db, mv);
    }
    Ok(())
}

/// A write on a done move line: `picked` and `quantity` (which moves stock again, after the
/// accounting check, like a done move's quantity); changing its lot or locations is not emulated.
fn write_done_move_line(env: &mut Env<'_>, line: &MoveLine, vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "stock.move.line";
    if [
        "lot_id",
        "lot_name",
        "location_id",
        "location_dest_id",
        "product_id",
        "move_id",
    ]
    .iter()
    .any(|k| vals.contains_key(*k))
    {
        return Err(not_emulated("changing the lot or locations of a done stock.move.line"));
    }
    let now = env.db.now;
    if let Some(q) = float(m, vals, "quantity")? {
        let delta = q - line.quantity;
        if delta.abs() > EPS {
            check_revaluation_rights(env.db, env.uid, line.product_id)?;
            update_quant(env.db, line.product_id, line.location_id, line.lot_id, -delta);
            update_quant(env.db, line.product_id, line.location_dest_id, line.lot_id, delta);
            if let Some(l) = env.db.move_lines.get_mut(line.id) {
                l.quantity = q;
                l.write_date = now;
            }
        }
    }
    if let Some(b) = boolean(vals, "picked") {
        if let Some(l) = env.db.move_lines.get_mut(line.id) {
            l.picked = b;
            l.write_date = now;
        }
    }
    Ok(())
}

/// After move lines changed: the move's `picked` follows its lines, then its state.
fn after_line_change(db: &mut Database, move_id: i64) {
    let lines: Vec<bool> = db
        .move_lines
        .values()
        .filter(|l| l.move_id == Some(move_id))
        .map(|l| l.picked)
        .collect();
    let now = db.now;
    if let Some(mv) = db.moves.get_mut(move_id) {
        mv.picked = !lines.is_empty() && lines.iter().all(|p| *p);
        mv.write_date = now;
    }
    after_quantity_change(db, move_id);
}

/// After a move's quantity changed: its reservation state, and its picking's state.
fn after_quantity_change(db: &mut Database, move_id: i64) {
    refresh_move_state(db, move_id);
    if let Some(p) = db.moves.get(move_id).and_then(|m| m.picking_id) {
        refresh_picking_state(db, p);
    }
}

fn set_move_state(db: &mut Database, move_id: i64, state: &str) {
    let now = db.now;
    if let Some(m) = db.moves.get_mut(move_id) {
        if m.state != state {
            state.clone_into(&mut m.state);
            m.write_date = now;
        }
    }
}

/// A confirmed move's state from what it holds (`_recompute_state`): assigned when its quantity
/// covers the demand (a demand of 0 is always covered), partially available, or confirmed.
fn refresh_move_state(db: &mut Database, move_id: i64) {
    let Some(mv) = db.moves.get(move_id) else { return };
    if !matches!(
        mv.state.as_str(),
        "confirmed" | "partially_available" | "assigned" | "waiting"
    ) {
        return;
    }
    let qty = db.move_quantity(move_id);
    let state = if qty >= mv.product_uom_qty - EPS {
        "assigned"
    } else if qty > EPS {
        "partially_available"
    } else {
        "confirmed"
    };
    set_move_state(db, move_id, state);
}

/// Adds a move line for `qty` of the move's product from `location_id` (the move's picking,
/// destination and `picked`), reserving on a quant there when the move does not bypass
/// reservation.
fn add_line(db: &mut Database, move_id: i64, qty: f64, location_id: i64, lot_id: Option<i64>) -> i64 {
    let now = db.now;
    let mv = db.moves[&move_id].clone();
    let id = db.move_lines.insert_with(|id| MoveLine {
        id,
        move_id: Some(move_id),
        picking_id: mv.picking_id,
        product_id: mv.product_id,
        quantity: qty,
        picked: mv.picked,
        location_id,
        location_dest_id: mv.location_dest_id,
        lot_id,
        lot_name: None,
        date: now,
        write_date: now,
    });
    ensure_reservation_quant(db, id);
    id
}

/// An open line taking a storable product from an internal location reserves it on the quant
/// of (product, location, lot) — even more than the quant holds: Odoo then creates that quant
/// with quantity 0 (transcript 23: quantity 0, reserved 1; the validation takes it to -1).
fn ensure_reservation_quant(db: &mut Database, line_id: i64) {
    let Some(line) = db.move_lines.get(line_id).cloned() else {
        return;
    };
    let Some(mv) = line.move_id.and_then(|m| db.moves.get(m)).cloned() else {
        return;
    };
    let open = !matches!(mv.state.as_str(), "done" | "cancel");
    let reserves = !bypasses_reservation(
        db,
        &Move {
            location_id: line.location_id,
            ..mv
        },
    );
    let exists = db
        .quants
        .values()
        .any(|q| q.product_id == line.product_id && q.location_id == line.location_id && q.lot_id == line.lot_id);
    if open && reserves && line.quantity.abs() > EPS && !exists {
        update_quant(db, line.product_id, line.location_id, line.lot_id, 0.0);
    }
}

/// The quantities of the lines to add for `qty` more of a move's product: one line, or one line
/// per unit for a serial-tracked product (Odoo's `_set_quantity_done_prepare_vals`).
fn new_line_quantities(db: &Database, product_id: i64, qty: f64) -> Vec<f64> {
    let serial = db.products.get(product_id).is_some_and(|p| p.tracking == "serial");
    if serial && qty >= 1.0 - EPS {
        let units = (qty + EPS).floor() as usize;
        let mut out = vec![1.0; units];
        let rest = qty - units as f64;
        if rest > EPS {
            out.push(rest);
        }
        out
    } else {
        vec![qty]
    }
}

/// Writing `stock.move.quantity` on an open move, as Odoo 17's `_set_quantity` does: more than
/// the lines hold goes to a new line (from the move's source location, without a lot — Odoo
/// does not pick a lot for it); less is taken from the lines, newest first, deleting the lines
/// it empties.
pub fn set_move_quantity(db: &mut Database, move_id: i64, qty: f64) {
    let current = db.move_quantity(move_id);
    let now = db.now;
    if qty < current - EPS {
        let mut excess = current - qty;
        let mut lines = db.move_lines_of(move_id);
        lines.sort_unstable();
        for l in lines.into_iter().rev() {
            if excess <= EPS {
                break;
            }
            let Some(line) = db.move_lines.get_mut(l) else { continue };
            let take = line.quantity.min(excess);
            if take <= EPS {
                continue;
            }
            excess -= take;
            if (line.quantity - take).abs() <= EPS {
                db.move_lines.rows.remove(&l);
            } else {
                line.quantity -= take;
                line.write_date = now;
            }
        }
    } else if qty > current + EPS {
        let (product, location) = (db.moves[&move_id].product_id, db.moves[&move_id].location_id);
        for part in new_line_quantities(db, product, qty - current) {
            add_line(db, move_id, part, location, None);
        }
    }
    if let Some(m) = db.moves.get_mut(move_id) {
        m.write_date = now;
    }
    after_quantity_change(db, move_id);
}

/// Writing another quantity on a **done** move (the caller checked the accounting rights): more
/// adds done lines (no lot) and moves that stock at once; less is taken from the lines, newest
/// first, which stay done with what is left — possibly 0 (transcript 25). The demand does not
/// change.
fn set_done_move_quantity(db: &mut Database, move_id: i64, qty: f64) {
    let current = db.move_quantity(move_id);
    let now = db.now;
    let mv = db.moves[&move_id].clone();
    if qty > current + EPS {
        for part in new_line_quantities(db, mv.product_id, qty - current) {
            let line = add_line(db, move_id, part, mv.location_id, None);
            if let Some(l) = db.move_lines.get_mut(line) {
                l.picked = true;
            }
            update_quant(db, mv.product_id, mv.location_id, None, -part);
            update_quant(db, mv.product_id, mv.location_dest_id, None, part);
        }
    } else if qty < current - EPS {
        let mut excess = current - qty;
        let mut lines = db.move_lines_of(move_id);
        lines.sort_unstable();
        for l in lines.into_iter().rev() {
            if excess <= EPS {
                break;
            }
            let line = db.move_lines[&l].clone();
            let take = line.quantity.min(excess);
            if take <= EPS {
                continue;
            }
            excess -= take;
            update_quant(db, line.product_id, line.location_id, line.lot_id, take);
            update_quant(db, line.product_id, line.location_dest_id, line.lot_id, -take);
            if let Some(x) = db.move_lines.get_mut(l) {
                x.quantity -= take;
                x.write_date = now;
            }
        }
    }
    if let Some(m) = db.moves.get_mut(move_id) {
        m.write_date = now;
    }
}

/// Writing `stock.move.picked`: every move line follows.
fn set_move_picked(db: &mut Database, move_id: i64, picked: bool) {
    let now = db.now;
    if let Some(m) = db.moves.get_mut(move_id) {
        m.picked = picked;
        m.write_date = now;
    }
    db.move_lines
        .update_where(|l| l.move_id == Some(move_id), |line| line.picked = picked);
}

/// `_action_confirm` then reservation ("at confirmation").
pub fn confirm_moves(db: &mut Database, move_ids: &[i64]) {
    for m in move_ids {
        if db.moves.get(*m).is_some_and(|mv| mv.state == "draft") {
            set_move_state(db, *m, "confirmed");
            reserve_move(db, *m);
        }
    }
}

fn bypasses_reservation(db: &Database, mv: &Move) -> bool {
    let storable = db
        .products
        .get(mv.product_id)
        .is_some_and(|p| p.detailed_type == "product");
    !matches!(db.usage(mv.location_id), "internal" | "transit") || !storable
}

/// `_action_assign` of one move. From a non-internal location (customers, vendors) everything
/// is available at once; a return takes the lots of the move it returns (so a lot-tracked return
/// comes with `lot_id` and `lot_name` prefilled). From stock, free quants are reserved in quant
/// order, with their lots and sub-locations.
pub fn reserve_move(db: &mut Database, move_id: i64) {
    let Some(mv) = db.moves.get(move_id).cloned() else {
        return;
    };
    if !matches!(mv.state.as_str(), "confirmed" | "partially_available" | "waiting") {
        return;
    }
    let mut need = mv.product_uom_qty - db.move_quantity(move_id);
    if need > EPS {
        if bypasses_reservation(db, &mv) {
            for (lot, qty) in origin_lots(db, &mv) {
                if need <= EPS {
                    break;
                }
                let take = qty.min(need);
                let line = add_line(db, move_id, take, mv.location_id, Some(lot));
                let lot_name = db.lots.get(lot).map(|l| l.name.clone());
                if let Some(l) = db.move_lines.get_mut(line) {
                    l.lot_name = lot_name;
                }
                need -= take;
            }
            if need > EPS {
                add_line(db, move_id, need, mv.location_id, None);
            }
        } else {
            let scope = db.location_subtree(mv.location_id);
            let quants: Vec<(i64, i64, Option<i64>, f64)> = db
                .quants
                .values()
                .filter(|q| q.product_id == mv.product_id && scope.contains(&q.location_id))
                .map(|q| {
                    (
                        q.id,
                        q.location_id,
                        q.lot_id,
                        q.quantity - fields::reserved_quantity(db, q.id),
                    )
                })
                .collect();
            for (_, location, lot, free) in quants {
                if need <= EPS {
                    break;
                }
                if free <= EPS {
                    continue;
                }
                let take = free.min(need);
                add_line(db, move_id, take, location, lot);
                need -= take;
            }
        }
    }
    refresh_move_state(db, move_id);
}

/// The lots and quantities of the done lines of the moves a move comes from.
fn origin_lots(db: &Database, mv: &Move) -> Vec<(i64, f64)> {
    let mut origins = mv.move_orig_ids.clone();
    if let Some(r) = mv.origin_returned_move_id {
        if !origins.contains(&r) {
            origins.push(r);
        }
    }
    db.move_lines
        .values()
        .filter(|l| l.move_id.is_some_and(|m| origins.contains(&m)))
        .filter(|l| {
            l.move_id
                .and_then(|m| db.moves.get(m))
                .is_some_and(|m| m.state == "done")
        })
        .filter_map(|l| l.lot_id.map(|lot| (lot, l.quantity)))
        .collect()
}

fn remove_lines(db: &mut Database, move_id: i64) {
    db.move_lines.retain(|l| l.move_id != Some(move_id));
}

fn remove_move(db: &mut Database, move_id: i64) {
    remove_lines(db, move_id);
    db.moves.rows.remove(&move_id);
    db.moves.update_where(
        |other| other.move_orig_ids.contains(&move_id),
        |other| other.move_orig_ids.retain(|m| *m != move_id),
    );
}

/// `_action_cancel`: a done move cannot be cancelled (so a done picking cannot be cancelled or
/// deleted); others lose their reservation.
fn cancel_moves(db: &mut Database, move_ids: &[i64]) -> Result<(), OdooError> {
    if move_ids
        .iter()
        .any(|m| db.moves.get(*m).is_some_and(|m| m.state == "done" && !m.scrapped))
    {
        return Err(OdooError::User(
            "You cannot cancel a stock move that has been set to 'Done'. Create a return in order to reverse the \
             moves which took place."
                .into(),
        ));
    }
    for m in move_ids {
        if db.moves.get(*m).is_some_and(|m| m.state != "done") {
            remove_lines(db, *m);
            set_move_state(db, *m, "cancel");
        }
    }
    Ok(())
}

/// Adds `delta` to the quant of (product, location, lot), creating it when needed.
pub fn update_quant(db: &mut Database, product_id: i64, location_id: i64, lot_id: Option<i64>, delta: f64) {
    let now = db.now;
    let found = db
        .quants
        .values()
        .find(|q| q.product_id == product_id && q.location_id == location_id && q.lot_id == lot_id)
        .map(|q| q.id);
    match found {
        Some(id) => {
            if let Some(q) = db.quants.get_mut(id) {
                q.quantity += delta;
                q.write_date = now;
            }
        }
        None => {
            db.quants.insert_with(|id| Quant {
                id,
                product_id,
                location_id,
                lot_id,
                quantity: delta,
                inventory_quantity: 0.0,
                inventory_quantity_set: false,
                in_date: now,
                write_date: now,
            });
        }
    }
}

/// Marks moves done: lots are resolved (a new `lot_name` creates the lot), tracked products
/// without a lot are refused, quants move from each line's source to its destination.
fn moves_done(db: &mut Database, move_ids: &[i64]) -> Result<(), OdooError> {
    let now = db.now;
    let mut without_lot: Vec<i64> = Vec::new();
    for m in move_ids {
        let mv = db.moves[m].clone();
        let tracking = db
            .products
            .get(mv.product_id)
            .map(|p| p.tracking.clone())
            .unwrap_or_default();
        for l in db.move_lines_of(*m) {
            let line = db.move_lines[&l].clone();
            if line.quantity.abs() <= EPS {
                db.move_lines.rows.remove(&l);
                continue;
            }
            if tracking == "none" {
                continue;
            }
            if tracking == "serial" && line.quantity > 1.0 + EPS {
                return Err(OdooError::User(
                    "You can only process 1.0 Units of products with unique serial number.".into(),
                ));
            }
            if line.lot_id.is_none() {
                match line.lot_name.clone() {
                    Some(name) => {
                        let found = db
                            .lots
                            .values()
                            .find(|x| x.name == name && x.product_id == mv.product_id)
                            .map(|x| x.id);
                        let lot = match found {
                            Some(existing) => existing,
                            None => db.lots.insert_with(|id| super::db::Lot {
                                id,
                                name,
                                product_id: mv.product_id,
                                reference: None,
                                create_date: now,
                                write_date: now,
                            }),
                        };
                        if let Some(x) = db.move_lines.get_mut(l) {
                            x.lot_id = Some(lot);
                        }
                    }
                    None if !without_lot.contains(&mv.product_id) => without_lot.push(mv.product_id),
                    None => {}
                }
            }
        }
    }
    if !without_lot.is_empty() {
        let names: Vec<String> = without_lot
            .iter()
            .map(|p| format!("- {}", db.product_display_name(*p)))
            .collect();
        return Err(OdooError::User(format!(
            "You need to supply a Lot/Serial Number for product:\n{}",
            names.join("\n")
        )));
    }
    for m in move_ids {
        for l in db.move_lines_of(*m) {
            let line = db.move_lines[&l].clone();
            update_quant(db, line.product_id, line.location_id, line.lot_id, -line.quantity);
            update_quant(db, line.product_id, line.location_dest_id, line.lot_id, line.quantity);
            if let Some(x) = db.move_lines.get_mut(l) {
                x.date = now;
                x.write_date = now;
            }
        }
        if let Some(mv) = db.moves.get_mut(*m) {
            mv.state = "done".into();
            mv.date = now;
            mv.write_date = now;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Quants and inventory adjustments
// ---------------------------------------------------------------------------------------------

/// Odoo's `_is_inventory_mode`: context `inventory_mode` and an Inventory User. Only then may
/// quants be created and counted over RPC.
fn inventory_mode(env: &Env<'_>) -> bool {
    ctx_flag(&env.ctx, "inventory_mode") && env.db.has_group(env.uid, "Inventory/User")
}

/// The fields inventory mode lets through (`_get_inventory_fields_create`/`_write`).
const INVENTORY_FIELDS: &[&str] = &[
    "product_id",
    "location_id",
    "lot_id",
    "inventory_quantity",
    "inventory_quantity_auto_apply",
    "inventory_diff_quantity",
    "inventory_quantity_set",
];

/// The inventory-loss location (`property_stock_inventory`: Virtual Locations/Inventory
/// adjustment), where the stock an adjustment adds comes from.
fn inventory_loss_location(db: &Database) -> Option<i64> {
    db.locations
        .values()
        .find(|l| l.usage == "inventory" && !l.scrap_location)
        .map(|l| l.id)
}

/// `stock.quant.create` in inventory mode (the only way the fake emulates): counts a quantity
/// on the quant of (product, location, lot) — the existing one, or a new one at 0 — to be
/// applied by `action_apply_inventory` (or at once with `inventory_quantity_auto_apply`).
/// Answers the quant's id.
fn create_quant(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "stock.quant";
    let def = model_def(m)?;
    let counted = vals.contains_key("inventory_quantity") || vals.contains_key("inventory_quantity_auto_apply");
    if !inventory_mode(env) || !counted {
        return Err(not_emulated(
            "stock.quant.create outside inventory mode (context inventory_mode and inventory_quantity)",
        ));
    }
    if vals
        .keys()
        .any(|k| !INVENTORY_FIELDS.contains(&k.as_str()) && k != "company_id")
    {
        return Err(OdooError::User(
            "Quant's creation is restricted, you can't do this operation.".into(),
        ));
    }
    let product_id =
        existing_id(env, m, vals, "product_id", "product.product")?.ok_or_else(|| not_null(def, "product_id"))?;
    let location_id =
        existing_id(env, m, vals, "location_id", "stock.location")?.ok_or_else(|| not_null(def, "location_id"))?;
    let lot_id = existing_id(env, m, vals, "lot_id", "stock.lot")?;
    let find = |db: &Database| {
        db.quants
            .values()
            .find(|q| q.product_id == product_id && q.location_id == location_id && q.lot_id == lot_id)
            .map(|q| q.id)
    };
    if find(env.db).is_none() {
        update_quant(env.db, product_id, location_id, lot_id, 0.0);
    }
    let id = find(env.db).ok_or_else(|| not_emulated("a quant that vanished"))?;
    count_quants(env, &[id], vals)?;
    Ok(id)
}

/// Sets the counted quantity of quants (`inventory_quantity`, or `inventory_quantity_auto_apply`
/// which applies it at once).
fn count_quants(env: &mut Env<'_>, ids: &[i64], vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "stock.quant";
    let auto = float(m, vals, "inventory_quantity_auto_apply")?;
    let counted = auto.or(float(m, vals, "inventory_quantity")?).unwrap_or(0.0);
    let now = env.db.now;
    for id in ids {
        if let Some(q) = env.db.quants.get_mut(*id) {
            q.inventory_quantity = counted;
            q.inventory_quantity_set = true;
            q.write_date = now;
        }
    }
    if auto.is_some() {
        apply_inventory(env, ids)?;
    }
    Ok(())
}

/// `stock.quant.write`: only counting in inventory mode is emulated. Odoo ignores counts on
/// inventory-loss quants.
fn write_quant(env: &mut Env<'_>, ids: &[i64], vals: &Map<String, Value>) -> Result<(), OdooError> {
    let counting = vals.contains_key("inventory_quantity") || vals.contains_key("inventory_quantity_auto_apply");
    if !inventory_mode(env) || !counting {
        return Err(not_emulated("stock.quant.write outside inventory mode"));
    }
    if ids.iter().any(|id| {
        env.db
            .quants
            .get(*id)
            .is_some_and(|q| env.db.usage(q.location_id) == "inventory")
    }) {
        return Ok(());
    }
    if vals.keys().any(|k| !INVENTORY_FIELDS.contains(&k.as_str())) {
        return Err(OdooError::User(
            "Quant's editing is restricted, you can't do this operation.".into(),
        ));
    }
    count_quants(env, ids, vals)
}

/// `action_apply_inventory`: for every counted quant, a done move of the difference between the
/// inventory-loss location and the quant's location ("Product Quantity Updated"), then the
/// count is cleared. Needs Inventory Administrator. Returns Python's `None` — on the wire, a
/// JSON-RPC answer without `result` (transcript 22).
fn apply_inventory(env: &mut Env<'_>, ids: &[i64]) -> Result<Value, OdooError> {
    let quants: Vec<Quant> = ids.iter().filter_map(|id| env.db.quants.get(*id)).cloned().collect();
    let untracked_count = quants.iter().any(|q| {
        let tracked = env.db.products.get(q.product_id).is_some_and(|p| p.tracking != "none");
        tracked && q.lot_id.is_none() && q.quantity.abs() < EPS && (q.inventory_quantity - q.quantity).abs() > EPS
    });
    if untracked_count {
        return Err(not_emulated(
            "the stock.track.confirmation wizard (counting a tracked product without a lot)",
        ));
    }
    if !env.db.has_group(env.uid, "Inventory/Administrator") {
        return Err(OdooError::User(
            "Only a stock manager can validate an inventory adjustment.".into(),
        ));
    }
    let loss = inventory_loss_location(env.db).ok_or_else(|| not_emulated("an inventory without a loss location"))?;
    for q in quants.iter().filter(|q| q.inventory_quantity_set) {
        let diff = q.inventory_quantity - q.quantity;
        if diff.abs() < EPS {
            continue;
        }
        let (from, to) = if diff > 0.0 {
            (loss, q.location_id)
        } else {
            (q.location_id, loss)
        };
        let mid = new_move(
            env.db,
            MoveSpec {
                name: "Product Quantity Updated".into(),
                origin: None,
                product_id: q.product_id,
                product_uom_qty: diff.abs(),
                location_id: from,
                location_dest_id: to,
                picking_id: None,
                partner_id: None,
                sale_line_id: None,
            },
        );
        if let Some(mv) = env.db.moves.get_mut(mid) {
            mv.is_inventory = true;
            mv.picked = true;
            mv.state = "confirmed".into();
        }
        add_line(env.db, mid, diff.abs(), from, q.lot_id);
        moves_done(env.db, &[mid])?;
    }
    let now = env.db.now;
    for q in &quants {
        if let Some(x) = env.db.quants.get_mut(q.id) {
            x.inventory_quantity = 0.0;
            x.inventory_quantity_set = false;
            x.write_date = now;
        }
    }
    Ok(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// Backorder and SMS wizards
// ---------------------------------------------------------------------------------------------

fn create_backorder_wizard(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "stock.backorder.confirmation";
    let pick_ids = match vals.get("pick_ids") {
        Some(v) => linked_ids(&commands(m, "pick_ids", v)?),
        None => Vec::new(),
    };
    let show_transfers = boolean(vals, "show_transfers").unwrap_or(false);
    let wizard = env.db.backorder_wizards.insert_with(|id| BackorderWizard {
        id,
        pick_ids: pick_ids.clone(),
        show_transfers,
    });
    for p in pick_ids {
        env.db.backorder_lines.insert_with(|id| BackorderLine {
            id,
            wizard_id: wizard,
            picking_id: p,
            to_backorder: true,
        });
    }
    Ok(wizard)
}

/// `process`: validates the pickings named by the *call's* context `button_validate_picking_ids`
/// (with `skip_backorder`); without that key it does nothing and answers True.
fn backorder_process(env: &mut Env<'_>, ids: &[i64]) -> Result<Value, OdooError> {
    let not_to_do: Vec<i64> = env
        .db
        .backorder_lines
        .values()
        .filter(|l| ids.contains(&l.wizard_id) && !l.to_backorder)
        .map(|l| l.picking_id)
        .collect();
    let to_validate = context_ids(&env.ctx, "button_validate_picking_ids");
    if to_validate.is_empty() {
        return Ok(json!(true));
    }
    env.ctx.insert("skip_backorder".into(), json!(true));
    if !not_to_do.is_empty() {
        env.ctx.insert("picking_ids_not_to_backorder".into(), json!(not_to_do));
    }
    button_validate(env, &to_validate)
}

/// `process_cancel_backorder`: the same, marking the wizard's *own* `pick_ids` (from its create
/// context `default_pick_ids`) as not to backorder — a wizard created without that context
/// cancels nothing and a backorder is made after all.
fn backorder_process_cancel(env: &mut Env<'_>, ids: &[i64]) -> Result<Value, OdooError> {
    let to_validate = context_ids(&env.ctx, "button_validate_picking_ids");
    if to_validate.is_empty() {
        return Ok(json!(true));
    }
    let pick_ids: Vec<i64> = ids
        .iter()
        .filter_map(|w| env.db.backorder_wizards.get(*w))
        .flat_map(|w| w.pick_ids.clone())
        .collect();
    env.ctx.insert("skip_backorder".into(), json!(true));
    env.ctx.insert("picking_ids_not_to_backorder".into(), json!(pick_ids));
    button_validate(env, &to_validate)
}

// ---------------------------------------------------------------------------------------------
// Returns
// ---------------------------------------------------------------------------------------------

/// What can still be returned of a done move: its quantity less the returns already reserved
/// or done.
fn returnable_quantity(db: &Database, move_id: i64) -> f64 {
    let mut qty = db.move_quantity(move_id);
    for dest in db.move_dest_ids(move_id) {
        let Some(d) = db.moves.get(dest) else { continue };
        if d.origin_returned_move_id != Some(move_id) {
            continue;
        }
        if matches!(d.state.as_str(), "partially_available" | "assigned" | "done") {
            qty -= db.move_quantity(dest);
        }
    }
    (qty * 100.0).round() / 100.0
}

/// Fields whose presence in create values suppresses the wizard's compute (the recorded trap:
/// `location_id` in the create values gives a wizard without lines).
const RETURN_COMPUTED: &[&str] = &[
    "product_return_moves",
    "move_dest_exists",
    "parent_location_id",
    "original_location_id",
    "location_id",
];

fn create_return_wizard(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "stock.return.picking";
    if context_ids(&env.ctx, "active_ids").len() > 1 {
        return Err(OdooError::User("You may only return one picking at a time.".into()));
    }
    let mut picking_id = existing_id(env, m, vals, "picking_id", "stock.picking")?;
    if picking_id.is_none() && env.ctx.get("active_model").and_then(Value::as_str) == Some("stock.picking") {
        picking_id = env
            .ctx
            .get("active_id")
            .and_then(Value::as_i64)
            .filter(|id| env.db.pickings.contains(*id));
    }
    let computed_given = RETURN_COMPUTED.iter().any(|f| vals.contains_key(*f));
    let wizard = ReturnWizard {
        id: 0,
        picking_id,
        location_id: existing_id(env, m, vals, "location_id", "stock.location")?,
        original_location_id: existing_id(env, m, vals, "original_location_id", "stock.location")?,
        parent_location_id: existing_id(env, m, vals, "parent_location_id", "stock.location")?,
        move_dest_exists: boolean(vals, "move_dest_exists").unwrap_or(false),
    };
    let id = env.db.return_wizards.insert_with(|id| ReturnWizard { id, ..wizard });
    if computed_given {
        if let Some(v) = vals.get("product_return_moves") {
            for cmd in commands(m, "product_return_moves", v)? {
                if let Command::Create(line) = cmd {
                    let mut line = line.clone();
                    line.insert("wizard_id".into(), json!(id));
                    create_return_line(env, &line)?;
                }
            }
        }
        return Ok(id);
    }
    // `_compute_moves_locations`, which also runs (and fails) without a picking.
    let Some(pid) = picking_id else {
        return Err(OdooError::expected_singleton("stock.picking", &[]));
    };
    let picking = env.db.pickings[&pid].clone();
    if picking.state != "done" {
        return Err(OdooError::User("You may only return Done pickings.".into()));
    }
    let mut lines = 0;
    let mut move_dest_exists = false;
    for mid in env.db.picking_moves(pid) {
        let mv = env.db.moves[&mid].clone();
        if mv.state == "cancel" || mv.scrapped {
            continue;
        }
        if !env.db.move_dest_ids(mid).is_empty() {
            move_dest_exists = true;
        }
        let quantity = returnable_quantity(env.db, mid);
        let uom_id = env.db.products.get(mv.product_id).map_or(1, |p| p.uom_id);
        env.db.return_lines.insert_with(|lid| ReturnLine {
            id: lid,
            wizard_id: id,
            product_id: mv.product_id,
            quantity,
            uom_id,
            move_id: Some(mid),
            to_refund: true,
        });
        lines += 1;
    }
    if lines == 0 {
        return Err(OdooError::User(
            "No products to return (only lines in Done state and not fully returned yet can be returned).".into(),
        ));
    }
    let return_type = picking_type_of(env.db, pid)
        .and_then(|t| t.return_picking_type_id)
        .unwrap_or(picking.picking_type_id);
    let return_dest = env
        .db
        .picking_types
        .get(return_type)
        .and_then(|t| t.default_location_dest_id);
    // `_compute_moves_locations`: the returned picking type's `default_location_return_id`,
    // else the return type's default destination when it is a return location, else the
    // returned picking's source — WH/Stock for a delivery, since Receipts default to WH/Stock,
    // which is not a return location (transcript 22): left at its default, a return lands in
    // sellable stock, not in WH/Returns.
    let type_return_location = picking_type_of(env.db, pid).and_then(|t| t.default_location_return_id);
    let location_id = match (type_return_location, return_dest) {
        (Some(location), _) => location,
        (None, Some(dest)) if env.db.locations.get(dest).is_some_and(|l| l.return_location) => dest,
        _ => picking.location_id,
    };
    let parent = env.db.warehouse.view_location_id;
    if let Some(w) = env.db.return_wizards.get_mut(id) {
        w.move_dest_exists = move_dest_exists;
        w.parent_location_id = Some(parent);
        w.original_location_id = Some(picking.location_id);
        w.location_id = Some(location_id);
    }
    Ok(id)
}

fn write_return_wizard(env: &mut Env<'_>, id: i64, vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "stock.return.picking";
    let location = existing_id(env, m, vals, "location_id", "stock.location")?;
    if let (Some(l), Some(w)) = (location, env.db.return_wizards.get_mut(id)) {
        w.location_id = Some(l);
    }
    if let Some(v) = vals.get("product_return_moves") {
        for cmd in commands(m, "product_return_moves", v)? {
            match cmd {
                Command::Update(line, vals) => write_return_line(env, line, &vals)?,
                Command::Delete(line) | Command::Unlink(line) => {
                    env.db.return_lines.rows.remove(&line);
                }
                Command::Create(vals) => {
                    let mut vals = vals.clone();
                    vals.insert("wizard_id".into(), json!(id));
                    create_return_line(env, &vals)?;
                }
                Command::Clear => env.db.return_lines.retain(|l| l.wizard_id != id),
                Command::Link(_) | Command::Set(_) => {}
            }
        }
    }
    Ok(())
}

fn create_return_line(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "stock.return.picking.line";
    let def = model_def(m)?;
    let wizard_id =
        existing_id(env, m, vals, "wizard_id", "stock.return.picking")?.ok_or_else(|| not_null(def, "wizard_id"))?;
    let product_id =
        existing_id(env, m, vals, "product_id", "product.product")?.ok_or_else(|| not_null(def, "product_id"))?;
    let line = ReturnLine {
        id: 0,
        wizard_id,
        product_id,
        quantity: float(m, vals, "quantity")?.unwrap_or(0.0),
        uom_id: 1,
        move_id: existing_id(env, m, vals, "move_id", "stock.move")?,
        to_refund: boolean(vals, "to_refund").unwrap_or(true),
    };
    Ok(env.db.return_lines.insert_with(|id| ReturnLine { id, ..line }))
}

fn write_return_line(env: &mut Env<'_>, id: i64, vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "stock.return.picking.line";
    let quantity = float(m, vals, "quantity")?;
    let to_refund = boolean(vals, "to_refund");
    let line = env
        .db
        .return_lines
        .get_mut(id)
        .ok_or_else(|| OdooError::missing(m, &[id], 2))?;
    if let Some(q) = quantity {
        line.quantity = q;
    }
    if let Some(b) = to_refund {
        line.to_refund = b;
    }
    Ok(())
}

/// `create_returns`: a new incoming picking (the return type of the delivery's type) named
/// "Return of <name>", one move per non-zero line copying the returned move (origin, sale line),
/// confirmed and reserved; answers the act_window with `res_id`.
fn create_returns(env: &mut Env<'_>, ids: &[i64]) -> Result<Value, OdooError> {
    let mut last: Option<(i64, i64)> = None;
    for wid in ids {
        let wizard = env.db.return_wizards[wid].clone();
        let Some(pid) = wizard.picking_id else {
            return Err(OdooError::expected_singleton("stock.picking", &[]));
        };
        let original = env.db.pickings[&pid].clone();
        let return_type = picking_type_of(env.db, pid)
            .and_then(|t| t.return_picking_type_id)
            .unwrap_or(original.picking_type_id);
        let new_id = new_picking(
            env.db,
            PickingSpec {
                name: None,
                picking_type_id: return_type,
                location_id: original.location_dest_id,
                location_dest_id: wizard.location_id.unwrap_or(original.location_id),
                origin: Some(format!("Return of {}", original.name)),
                partner_id: original.partner_id,
                sale_id: original.sale_id,
                backorder_id: None,
                return_id: Some(pid),
            },
        )?;
        // The origin link is posted on the new picking right after it is made: a user without
        // email fails here, after the picking id and its WH/IN number are taken.
        check_author_email(env.db)?;
        let mut returned = 0;
        let lines: Vec<ReturnLine> = env
            .db
            .return_lines
            .values()
            .filter(|l| l.wizard_id == *wid)
            .cloned()
            .collect();
        for line in lines {
            let Some(orig_move) = line.move_id else {
                return Err(OdooError::User(
                    "You have manually created product lines, please delete them to proceed.".into(),
                ));
            };
            if line.quantity.abs() < EPS {
                continue;
            }
            returned += 1;
            let om = env.db.moves[&orig_move].clone();
            let mid = new_move(
                env.db,
                MoveSpec {
                    name: om.name.clone(),
                    origin: om.origin.clone(),
                    product_id: line.product_id,
                    product_uom_qty: line.quantity,
                    location_id: om.location_dest_id,
                    location_dest_id: wizard.location_id.unwrap_or(om.location_id),
                    picking_id: Some(new_id),
                    partner_id: om.partner_id,
                    sale_line_id: om.sale_line_id,
                },
            );
            if let Some(mv) = env.db.moves.get_mut(mid) {
                mv.origin_returned_move_id = Some(orig_move);
                mv.move_orig_ids = vec![orig_move];
                mv.to_refund = line.to_refund;
                mv.description_picking.clone_from(&om.description_picking);
            }
        }
        if returned == 0 {
            return Err(OdooError::User("Please specify at least one non-zero quantity.".into()));
        }
        action_confirm(env.db, &[new_id]);
        action_assign(env.db, &[new_id])?;
        last = Some((new_id, return_type));
    }
    let (new_id, return_type) = last.ok_or_else(|| OdooError::expected_singleton("stock.return.picking", &[]))?;
    let partner = ids
        .first()
        .and_then(|w| env.db.return_wizards.get(*w))
        .and_then(|w| w.picking_id)
        .and_then(|p| env.db.pickings.get(p))
        .and_then(|p| p.partner_id);
    let mut ctx = env.ctx.clone();
    ctx.insert(
        "default_partner_id".into(),
        partner.map_or(Value::Bool(false), Value::from),
    );
    ctx.insert("search_default_picking_type_id".into(), json!(return_type));
    for key in [
        "draft",
        "assigned",
        "confirmed",
        "ready",
        "planning_issues",
        "available",
    ] {
        ctx.insert(format!("search_default_{key}"), json!(false));
    }
    Ok(json!({
        "name": "Returned Picking",
        "view_mode": "form,tree,calendar",
        "res_model": "stock.picking",
        "res_id": new_id,
        "type": "ir.actions.act_window",
        "context": ctx,
    }))
}

// ---------------------------------------------------------------------------------------------
// Scraps
// ---------------------------------------------------------------------------------------------

fn create_scrap(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "stock.scrap";
    let def = model_def(m)?;
    let product_id =
        existing_id(env, m, vals, "product_id", "product.product")?.ok_or_else(|| not_null(def, "product_id"))?;
    let scrap_location = env.db.locations.values().find(|l| l.scrap_location).map(|l| l.id);
    let scrap = Scrap {
        id: 0,
        name: opt_text(m, vals, "name")?.unwrap_or_else(|| "New".into()),
        origin: opt_text(m, vals, "origin")?,
        product_id,
        product_uom_id: env.db.products.get(product_id).map_or(1, |p| p.uom_id),
        scrap_qty: float(m, vals, "scrap_qty")?.unwrap_or(1.0),
        location_id: existing_id(env, m, vals, "location_id", "stock.location")?
            .unwrap_or(env.db.warehouse.lot_stock_id),
        scrap_location_id: existing_id(env, m, vals, "scrap_location_id", "stock.location")?
            .or(scrap_location)
            .ok_or_else(|| not_null(def, "scrap_location_id"))?,
        lot_id: existing_id(env, m, vals, "lot_id", "stock.lot")?,
        picking_id: existing_id(env, m, vals, "picking_id", "stock.picking")?,
        state: "draft".into(),
        date_done: None,
        create_date: env.db.now,
        write_date: env.db.now,
    };
    Ok(env.db.scraps.insert_with(|id| Scrap { id, ..scrap }))
}

fn write_scrap(env: &mut Env<'_>, id: i64, vals: &Map<String, Value>) -> Result<(), OdooError> {
    let m = "stock.scrap";
    let mut s = env
        .db
        .scraps
        .get(id)
        .cloned()
        .ok_or_else(|| OdooError::missing(m, &[id], env.uid))?;
    if vals.contains_key("origin") {
        s.origin = opt_text(m, vals, "origin")?;
    }
    if let Some(q) = float(m, vals, "scrap_qty")? {
        s.scrap_qty = q;
    }
    if let Some(l) = existing_id(env, m, vals, "location_id", "stock.location")? {
        s.location_id = l;
    }
    if let Some(l) = existing_id(env, m, vals, "scrap_location_id", "stock.location")? {
        s.scrap_location_id = l;
    }
    if vals.contains_key("lot_id") {
        s.lot_id = existing_id(env, m, vals, "lot_id", "stock.lot")?;
    }
    s.write_date = env.db.now;
    env.db.scraps.rows.insert(id, s);
    Ok(())
}

/// `action_validate`: enough stock in exactly that location (and lot) → scrapped, True;
/// otherwise the insufficient-quantity wizard action and the scrap stays draft. Odoo does not
/// check the scrap's state: validating a done scrap scraps again.
fn scrap_action_validate(env: &mut Env<'_>, ids: &[i64]) -> Result<Value, OdooError> {
    let id = ensure_one("stock.scrap", ids)?;
    let scrap = env.db.scraps[&id].clone();
    if scrap.scrap_qty.abs() < EPS {
        return Err(OdooError::User("You can only enter positive quantities.".into()));
    }
    let storable = env
        .db
        .products
        .get(scrap.product_id)
        .is_some_and(|p| p.detailed_type == "product");
    let mut ctx = Context::new();
    ctx.insert("location".into(), json!(scrap.location_id));
    ctx.insert("strict".into(), json!(true));
    if let Some(lot) = scrap.lot_id {
        ctx.insert("lot_id".into(), json!(lot));
    }
    let available = fields::qty_available(env.db, scrap.product_id, &ctx);
    if !storable || available >= scrap.scrap_qty - EPS {
        do_scrap(env.db, id)?;
        return Ok(json!(true));
    }
    let mut action_ctx = env.ctx.clone();
    action_ctx.insert("default_product_id".into(), json!(scrap.product_id));
    action_ctx.insert("default_location_id".into(), json!(scrap.location_id));
    action_ctx.insert("default_scrap_id".into(), json!(id));
    action_ctx.insert("default_quantity".into(), json!(scrap.scrap_qty));
    action_ctx.insert("default_product_uom_name".into(), json!("Units"));
    Ok(json!({
        "name": format!("{}: Insufficient Quantity To Scrap", env.db.product_display_name(scrap.product_id)),
        "view_mode": "form",
        "res_model": "stock.warn.insufficient.qty.scrap",
        "view_id": VIEW_SCRAP_WARNING,
        "type": "ir.actions.act_window",
        "context": action_ctx,
        "target": "new",
    }))
}

/// `do_scrap`: names the scrap from the SP sequence, creates its done move from the source to
/// the scrap location (stock may go negative).
pub fn do_scrap(db: &mut Database, scrap_id: i64) -> Result<(), OdooError> {
    let Some(scrap) = db.scraps.get(scrap_id).cloned() else {
        return Err(OdooError::missing("stock.scrap", &[scrap_id], 2));
    };
    if scrap.scrap_qty < -EPS {
        return Err(OdooError::Validation("You can not enter negative quantities.".into()));
    }
    let name = format!("SP/{:05}", db.scrap_sequence);
    db.scrap_sequence += 1;
    let origin = scrap
        .origin
        .clone()
        .or_else(|| {
            scrap
                .picking_id
                .and_then(|p| db.pickings.get(p))
                .map(|p| p.name.clone())
        })
        .unwrap_or_else(|| name.clone());
    let mid = new_move(
        db,
        MoveSpec {
            name: name.clone(),
            origin: Some(origin),
            product_id: scrap.product_id,
            product_uom_qty: scrap.scrap_qty,
            location_id: scrap.location_id,
            location_dest_id: scrap.scrap_location_id,
            picking_id: None,
            partner_id: None,
            sale_line_id: None,
        },
    );
    if let Some(mv) = db.moves.get_mut(mid) {
        mv.scrapped = true;
        mv.scrap_id = Some(scrap_id);
        mv.picked = true;
        mv.state = "confirmed".into();
    }
    let line = add_line(db, mid, scrap.scrap_qty, scrap.location_id, scrap.lot_id);
    if let Some(l) = db.move_lines.get_mut(line) {
        l.picked = true;
    }
    moves_done(db, &[mid])?;
    let now = db.now;
    if let Some(s) = db.scraps.get_mut(scrap_id) {
        s.name = name;
        s.state = "done".into();
        s.date_done = Some(now);
        s.write_date = now;
    }
    Ok(())
}

fn create_scrap_warning(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "stock.warn.insufficient.qty.scrap";
    let def = model_def(m)?;
    let scrap_id = existing_id(env, m, vals, "scrap_id", "stock.scrap")?.ok_or_else(|| not_null(def, "scrap_id"))?;
    let warning = ScrapWarning {
        id: 0,
        scrap_id,
        product_id: existing_id(env, m, vals, "product_id", "product.product")?,
        location_id: existing_id(env, m, vals, "location_id", "stock.location")?,
        quantity: float(m, vals, "quantity")?.unwrap_or(0.0),
        product_uom_name: opt_text(m, vals, "product_uom_name")?,
    };
    Ok(env.db.scrap_warnings.insert_with(|id| ScrapWarning { id, ..warning }))
}

// ---------------------------------------------------------------------------------------------
// Sale orders
// ---------------------------------------------------------------------------------------------

fn create_sale_order(env: &mut Env<'_>, vals: &Map<String, Value>) -> Result<i64, OdooError> {
    let m = "sale.order";
    let def = model_def(m)?;
    let partner_id =
        existing_id(env, m, vals, "partner_id", "res.partner")?.ok_or_else(|| not_null(def, "partner_id"))?;
    let name = format!("S{:05}", env.db.sale_sequence);
    env.db.sale_sequence += 1;
    let now = env.db.now;
    let order = SaleOrder {
        id: 0,
        name,
        state: "draft".into(),
        partner_id,
        client_order_ref: opt_text(m, vals, "client_order_ref")?,
        origin: opt_text(m, vals, "origin")?,
        date_order: now,
        create_date: now,
        write_date: now,
    };
    let id = env.db.sale_orders.insert_with(|id| SaleOrder { id, ..order });
    if let Some(v) = vals.get("order_line") {
        for cmd in commands(m, "order_line", v)? {
            let Command::Create(line) = cmd else { continue };
            let lm = "sale.order.line";
            let product_id = existing_id(env, lm, &line, "product_id", "product.product")?
                .ok_or_else(|| not_null(model_def(lm).unwrap_or(def), "product_id"))?;
            let qty = float(lm, &line, "product_uom_qty")?.unwrap_or(1.0);
            let name = opt_text(lm, &line, "name")?.unwrap_or_else(|| env.db.product_display_name(product_id));
            // Odoo computes the price from the pricelist; without one it is the product's sales price.
            let price_unit = match float(lm, &line, "price_unit")? {
                Some(price) => price,
                None => env.db.products.get(product_id).map_or(0.0, |p| p.list_price),
            };
            env.db.sale_lines.insert_with(|lid| SaleLine {
                id: lid,
                order_id: id,
                product_id,
                name,
                product_uom_qty: qty,
                price_unit,
                write_date: now,
            });
        }
    }
    Ok(id)
}

/// `action_confirm` of a sale order: state `sale` and a reserved delivery from WH/Stock to the
/// customers' location, one move per line.
pub fn confirm_sale_order(db: &mut Database, order_id: i64) -> Result<Option<i64>, OdooError> {
    let order = db
        .sale_orders
        .get(order_id)
        .cloned()
        .ok_or_else(|| OdooError::missing("sale.order", &[order_id], 2))?;
    if order.state != "draft" {
        return Err(OdooError::User(
            "Some orders are not in a state requiring confirmation.".into(),
        ));
    }
    let now = db.now;
    if let Some(o) = db.sale_orders.get_mut(order_id) {
        o.state = "sale".into();
        o.write_date = now;
    }
    let out_type = db.warehouse.out_type_id;
    let ptype = db.picking_types.get(out_type).cloned();
    let customers = db
        .locations
        .values()
        .find(|l| l.usage == "customer")
        .map(|l| l.id)
        .unwrap_or(0);
    let lines: Vec<SaleLine> = db
        .sale_lines
        .values()
        .filter(|l| l.order_id == order_id)
        .cloned()
        .collect();
    let storable: Vec<SaleLine> = lines
        .into_iter()
        .filter(|l| {
            db.products
                .get(l.product_id)
                .is_some_and(|p| p.detailed_type != "service")
        })
        .collect();
    if storable.is_empty() {
        return Ok(None);
    }
    let picking = new_picking(
        db,
        PickingSpec {
            name: None,
            picking_type_id: out_type,
            location_id: ptype
                .as_ref()
                .and_then(|t| t.default_location_src_id)
                .unwrap_or(db.warehouse.lot_stock_id),
            location_dest_id: ptype
                .as_ref()
                .and_then(|t| t.default_location_dest_id)
                .unwrap_or(customers),
            origin: Some(order.name.clone()),
            partner_id: Some(order.partner_id),
            sale_id: Some(order_id),
            backorder_id: None,
            return_id: None,
        },
    )?;
    let (src, dest) = (
        db.pickings[&picking].location_id,
        db.pickings[&picking].location_dest_id,
    );
    for line in storable {
        new_move(
            db,
            MoveSpec {
                name: line.name.clone(),
                origin: Some(order.name.clone()),
                product_id: line.product_id,
                product_uom_qty: line.product_uom_qty,
                location_id: src,
                location_dest_id: dest,
                picking_id: Some(picking),
                partner_id: Some(order.partner_id),
                sale_line_id: Some(line.id),
            },
        );
    }
    action_confirm(db, &[picking]);
    Ok(Some(picking))
}

//! Field values: what each field of each record reads as, stored or computed (`complete_name`,
//! `picking_type_code`, `qty_available`, `move_ids`, `reference`, `qty_delivered`…), and every
//! record's display name. Values are *raw* here — a many2one is its id or `false` — and `orm.rs`
//! turns them into the wire form (`[id, "display name"]`). Nothing here changes the database.

use serde_json::{json, Map, Value};

use super::db::{format_timestamp, Database, Timestamp, COMPANY_CURRENCY, CURRENCIES};

/// A call's context (`{"lang": …, "active_id": …}`).
pub type Context = Map<String, Value>;

fn text(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Bool(false), |s| Value::String(s.clone()))
}

fn m2o(v: Option<i64>) -> Value {
    v.map_or(Value::Bool(false), Value::from)
}

fn ts(t: Timestamp) -> Value {
    Value::String(format_timestamp(t))
}

fn opt_ts(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Bool(false), ts)
}

fn float(x: f64) -> Value {
    json!(x)
}

/// The raw value of `field` on record `id` of `model`; `None` when the record or field is unknown.
pub fn raw(db: &Database, model: &str, id: i64, field: &str, ctx: &Context) -> Option<Value> {
    if field == "id" {
        return db.exists(model, id).then(|| Value::from(id));
    }
    if field == "display_name" {
        return db.exists(model, id).then(|| Value::String(display_name(db, model, id)));
    }
    match model {
        "res.company" => company(db, field),
        "res.users" => users(db, id, field),
        "res.groups" => {
            let g = db.groups.get(id)?;
            match field {
                "name" => Some(json!(g.name)),
                "full_name" => Some(json!(display_name(db, "res.groups", id))),
                _ => None,
            }
        }
        "res.partner" => partner(db, id, field),
        "uom.uom" => match field {
            "name" => Some(json!("Units")),
            "rounding" => Some(json!(0.01)),
            _ => None,
        },
        "res.currency" => currency(id, field),
        "stock.warehouse" => warehouse(db, field),
        "stock.location" => location(db, id, field),
        "stock.picking.type" => picking_type(db, id, field),
        "product.product" => product(db, id, field, ctx),
        "stock.lot" => lot(db, id, field),
        "stock.quant" => quant(db, id, field),
        "sale.order" => sale_order(db, id, field),
        "sale.order.line" => sale_line(db, id, field),
        "stock.picking" => picking(db, id, field),
        "stock.move" => stock_move(db, id, field),
        "stock.move.line" => move_line(db, id, field),
        "stock.scrap" => scrap(db, id, field),
        "stock.return.picking" => return_wizard(db, id, field),
        "stock.return.picking.line" => return_line(db, id, field),
        "stock.backorder.confirmation" => {
            let w = db.backorder_wizards.get(id)?;
            match field {
                "pick_ids" => Some(json!(w.pick_ids)),
                "show_transfers" => Some(json!(w.show_transfers)),
                "backorder_confirmation_line_ids" => Some(json!(db
                    .backorder_lines
                    .values()
                    .filter(|l| l.wizard_id == id)
                    .map(|l| l.id)
                    .collect::<Vec<_>>())),
                _ => None,
            }
        }
        "stock.backorder.confirmation.line" => {
            let l = db.backorder_lines.get(id)?;
            match field {
                "backorder_confirmation_id" => Some(json!(l.wizard_id)),
                "picking_id" => Some(json!(l.picking_id)),
                "to_backorder" => Some(json!(l.to_backorder)),
                _ => None,
            }
        }
        "confirm.stock.sms" => {
            let w = db.sms_wizards.get(id)?;
            match field {
                "pick_ids" => Some(json!(w.pick_ids)),
                "company_id" => Some(json!(db.company.id)),
                _ => None,
            }
        }
        "stock.warn.insufficient.qty.scrap" => {
            let w = db.scrap_warnings.get(id)?;
            match field {
                "product_id" => Some(m2o(w.product_id)),
                "location_id" => Some(m2o(w.location_id)),
                "scrap_id" => Some(json!(w.scrap_id)),
                "quantity" => Some(float(w.quantity)),
                "product_uom_name" => Some(text(&w.product_uom_name)),
                _ => None,
            }
        }
        "ir.model.data" => {
            let d = db.model_data.get(id)?;
            match field {
                "module" => Some(json!(d.module)),
                "name" => Some(json!(d.name)),
                "complete_name" => Some(json!(format!("{}.{}", d.module, d.name))),
                "model" => Some(json!(d.model)),
                "res_id" => Some(json!(d.res_id)),
                "noupdate" => Some(json!(d.noupdate)),
                _ => None,
            }
        }
        "ir.config_parameter" => {
            let p = db.config_params.get(id)?;
            match field {
                "key" => Some(json!(p.key)),
                "value" => Some(json!(p.value)),
                _ => None,
            }
        }
        "res.config.settings" => {
            let s = db.config_settings.get(id)?;
            match field {
                "group_stock_multi_locations" => Some(json!(s.group_stock_multi_locations)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn company(db: &Database, field: &str) -> Option<Value> {
    let c = &db.company;
    Some(match field {
        "name" => json!(c.name),
        "partner_id" => json!(c.partner_id),
        "write_date" => ts(c.write_date),
        _ => return None,
    })
}

fn users(db: &Database, id: i64, field: &str) -> Option<Value> {
    let u = db.users.get(id)?;
    Some(match field {
        "name" => json!(u.name),
        "login" => json!(u.login),
        "password" => json!(""),
        "partner_id" => json!(u.partner_id),
        "email" => text(&db.partners.get(u.partner_id).and_then(|p| p.email.clone())),
        "groups_id" => json!(db.user_groups(id)),
        // A portal or public user is "shared": not an Internal User.
        "share" => json!(!db.user_groups(id).contains(&super::seed::groups::INTERNAL_USER)),
        "company_id" => json!(db.company.id),
        "tz" => json!(u.tz),
        "lang" => json!(u.lang),
        "active" => json!(u.active),
        "write_date" => ts(u.write_date),
        _ => return None,
    })
}

fn partner(db: &Database, id: i64, field: &str) -> Option<Value> {
    let p = db.partners.get(id)?;
    Some(match field {
        "name" => json!(p.name),
        "complete_name" => json!(display_name(db, "res.partner", id)),
        "email" => text(&p.email),
        "phone" => text(&p.phone),
        "mobile" => text(&p.mobile),
        "ref" => text(&p.reference),
        "street" => text(&p.street),
        "city" => text(&p.city),
        "zip" => text(&p.zip),
        "is_company" => json!(p.is_company),
        "parent_id" => m2o(p.parent_id),
        "company_id" => Value::Bool(false),
        "active" => json!(p.active),
        "create_date" => ts(p.create_date),
        "write_date" => ts(p.write_date),
        _ => return None,
    })
}

fn currency(id: i64, field: &str) -> Option<Value> {
    let (_, name, symbol, decimals) = CURRENCIES.iter().find(|c| c.0 == id)?;
    Some(match field {
        "name" => json!(name),
        "symbol" => json!(symbol),
        "decimal_places" => json!(decimals),
        "rounding" => json!(10f64.powi(-(*decimals as i32))),
        "active" => json!(true),
        _ => return None,
    })
}

fn warehouse(db: &Database, field: &str) -> Option<Value> {
    let w = &db.warehouse;
    Some(match field {
        "name" => json!(w.name),
        "code" => json!(w.code),
        "company_id" => json!(db.company.id),
        "view_location_id" => json!(w.view_location_id),
        "lot_stock_id" => json!(w.lot_stock_id),
        "in_type_id" => json!(w.in_type_id),
        "out_type_id" => json!(w.out_type_id),
        "int_type_id" => json!(w.int_type_id),
        _ => return None,
    })
}

fn location(db: &Database, id: i64, field: &str) -> Option<Value> {
    let l = db.locations.get(id)?;
    Some(match field {
        "name" => json!(l.name),
        "complete_name" => json!(db.location_complete_name(id)),
        "location_id" => m2o(l.parent_id),
        "child_ids" => json!(db
            .locations
            .values()
            .filter(|c| c.parent_id == Some(id))
            .map(|c| c.id)
            .collect::<Vec<_>>()),
        "usage" => json!(l.usage),
        "barcode" => text(&l.barcode),
        "return_location" => json!(l.return_location),
        "scrap_location" => json!(l.scrap_location),
        "active" => json!(l.active),
        "company_id" => m2o(l.company_id),
        "warehouse_id" => m2o(db
            .location_subtree(db.warehouse.view_location_id)
            .contains(&id)
            .then_some(db.warehouse.id)),
        "create_date" => ts(l.create_date),
        "write_date" => ts(l.write_date),
        _ => return None,
    })
}

fn picking_type(db: &Database, id: i64, field: &str) -> Option<Value> {
    let t = db.picking_types.get(id)?;
    Some(match field {
        "name" => json!(t.name),
        "code" => json!(t.code),
        "sequence_code" => json!(t.sequence_code),
        "sequence" => json!(t.sequence),
        "default_location_src_id" => m2o(t.default_location_src_id),
        "default_location_dest_id" => m2o(t.default_location_dest_id),
        "warehouse_id" => m2o(t.warehouse_id),
        "return_picking_type_id" => m2o(t.return_picking_type_id),
        "default_location_return_id" => m2o(t.default_location_return_id),
        "create_backorder" => json!(t.create_backorder),
        "use_create_lots" => json!(t.use_create_lots),
        "use_existing_lots" => json!(t.use_existing_lots),
        "active" => json!(t.active),
        "company_id" => json!(db.company.id),
        "write_date" => ts(t.write_date),
        _ => return None,
    })
}

/// `qty_available`: internal stock, limited by the context's `location` (with its children, or
/// exactly that location with `strict`) and `lot_id`, as Odoo's context-dependent compute does.
pub fn qty_available(db: &Database, product_id: i64, ctx: &Context) -> f64 {
    let lot = ctx.get("lot_id").and_then(Value::as_i64);
    let scope: Option<Vec<i64>> = match ctx.get("location") {
        Some(Value::Number(n)) => n.as_i64().map(|loc| {
            if ctx.get("strict").and_then(Value::as_bool).unwrap_or(false) {
                vec![loc]
            } else {
                db.location_subtree(loc)
            }
        }),
        Some(Value::Array(ids)) => Some(
            ids.iter()
                .filter_map(Value::as_i64)
                .flat_map(|loc| db.location_subtree(loc))
                .collect(),
        ),
        _ => None,
    };
    db.quants
        .values()
        .filter(|q| q.product_id == product_id)
        .filter(|q| lot.is_none() || q.lot_id == lot)
        .filter(|q| match &scope {
            Some(locs) => locs.contains(&q.location_id),
            None => db.usage(q.location_id) == "internal",
        })
        .map(|q| q.quantity)
        .sum()
}

fn product(db: &Database, id: i64, field: &str, ctx: &Context) -> Option<Value> {
    let p = db.products.get(id)?;
    Some(match field {
        "name" => json!(p.name),
        "default_code" => text(&p.default_code),
        "barcode" => text(&p.barcode),
        "tracking" => json!(p.tracking),
        "detailed_type" => json!(p.detailed_type),
        "type" => json!(if p.detailed_type == "product" {
            "product"
        } else {
            p.detailed_type.as_str()
        }),
        "weight" => float(p.weight),
        "list_price" => float(p.list_price),
        "uom_id" | "uom_po_id" => json!(p.uom_id),
        "qty_available" => float(qty_available(db, id, ctx)),
        "free_qty" => {
            let reserved: f64 = db
                .quants
                .values()
                .filter(|q| q.product_id == id && db.usage(q.location_id) == "internal")
                .map(|q| reserved_quantity(db, q.id))
                .sum();
            float(qty_available(db, id, ctx) - reserved)
        }
        "active" => json!(p.active),
        "company_id" => Value::Bool(false),
        "priority" => json!("0"),
        "create_date" => ts(p.create_date),
        "write_date" => ts(p.write_date),
        _ => return None,
    })
}

fn lot(db: &Database, id: i64, field: &str) -> Option<Value> {
    let l = db.lots.get(id)?;
    Some(match field {
        "name" => json!(l.name),
        "product_id" => json!(l.product_id),
        "ref" => text(&l.reference),
        "product_qty" => float(
            db.quants
                .values()
                .filter(|q| q.lot_id == Some(id) && db.usage(q.location_id) == "internal")
                .map(|q| q.quantity)
                .sum(),
        ),
        "quant_ids" => json!(db
            .quants
            .values()
            .filter(|q| q.lot_id == Some(id))
            .map(|q| q.id)
            .collect::<Vec<_>>()),
        "company_id" => json!(db.company.id),
        "create_date" => ts(l.create_date),
        "write_date" => ts(l.write_date),
        _ => return None,
    })
}

/// What open move lines hold of a quant: lines of moves not done or cancelled, taking this
/// product (and lot) from this internal location.
pub fn reserved_quantity(db: &Database, quant_id: i64) -> f64 {
    let Some(q) = db.quants.get(quant_id) else { return 0.0 };
    if db.usage(q.location_id) != "internal" {
        return 0.0;
    }
    db.move_lines
        .values()
        .filter(|l| l.product_id == q.product_id && l.location_id == q.location_id && l.lot_id == q.lot_id)
        .filter(|l| {
            l.move_id
                .and_then(|m| db.moves.get(m))
                .is_some_and(|m| !matches!(m.state.as_str(), "done" | "cancel"))
        })
        .map(|l| l.quantity)
        .sum()
}

fn quant(db: &Database, id: i64, field: &str) -> Option<Value> {
    let q = db.quants.get(id)?;
    Some(match field {
        "product_id" => json!(q.product_id),
        "location_id" => json!(q.location_id),
        "lot_id" => m2o(q.lot_id),
        "quantity" => float(q.quantity),
        "reserved_quantity" => float(reserved_quantity(db, id)),
        "available_quantity" => float(q.quantity - reserved_quantity(db, id)),
        "inventory_quantity" => float(q.inventory_quantity),
        "inventory_quantity_set" => json!(q.inventory_quantity_set),
        "inventory_diff_quantity" => float(if q.inventory_quantity_set {
            q.inventory_quantity - q.quantity
        } else {
            0.0
        }),
        "company_id" => json!(db.company.id),
        "in_date" => ts(q.in_date),
        "write_date" => ts(q.write_date),
        _ => return None,
    })
}

/// `delivery_status` of a sale order from its outgoing pickings.
fn delivery_status(db: &Database, order_id: i64) -> Value {
    let pickings: Vec<_> = db
        .pickings
        .values()
        .filter(|p| p.sale_id == Some(order_id) && p.state != "cancel")
        .filter(|p| {
            db.picking_types
                .get(p.picking_type_id)
                .is_some_and(|t| t.code == "outgoing")
        })
        .collect();
    if pickings.is_empty() {
        return Value::Bool(false);
    }
    let done = pickings.iter().filter(|p| p.state == "done").count();
    json!(if done == 0 {
        "pending"
    } else if done == pickings.len() {
        "full"
    } else {
        "partial"
    })
}

fn sale_order(db: &Database, id: i64, field: &str) -> Option<Value> {
    let o = db.sale_orders.get(id)?;
    let pickings = || {
        db.pickings
            .values()
            .filter(|p| p.sale_id == Some(id))
            .map(|p| p.id)
            .collect::<Vec<_>>()
    };
    Some(match field {
        "name" => json!(o.name),
        "state" => json!(o.state),
        "partner_id" => json!(o.partner_id),
        "client_order_ref" => text(&o.client_order_ref),
        "origin" => text(&o.origin),
        // Odoo 17 takes it from the pricelist, else the company; the fake has no pricelists.
        "currency_id" => json!(COMPANY_CURRENCY),
        "date_order" => ts(o.date_order),
        "order_line" => json!(db
            .sale_lines
            .values()
            .filter(|l| l.order_id == id)
            .map(|l| l.id)
            .collect::<Vec<_>>()),
        "picking_ids" => json!(pickings()),
        "delivery_count" => json!(pickings().len()),
        "delivery_status" => delivery_status(db, id),
        "company_id" => json!(db.company.id),
        "warehouse_id" => json!(db.warehouse.id),
        "create_date" => ts(o.create_date),
        "write_date" => ts(o.write_date),
        _ => return None,
    })
}

/// `qty_delivered`, as `sale_stock` computes it from the done moves of the line (not to an
/// inventory location): a move to a customer counts up (unless it is a return that does not
/// update the order), any other move with `to_refund` counts down — so a return received in
/// several parts (backorders keep `to_refund`) or with more than was delivered can take it
/// below zero (transcript 25).
pub fn qty_delivered(db: &Database, line_id: i64) -> f64 {
    db.moves
        .values()
        .filter(|m| m.sale_line_id == Some(line_id) && m.state == "done")
        .filter(|m| db.usage(m.location_dest_id) != "inventory")
        .map(|m| {
            let qty = db.move_quantity(m.id);
            if db.usage(m.location_dest_id) == "customer" {
                if m.origin_returned_move_id.is_none() || m.to_refund {
                    qty
                } else {
                    0.0
                }
            } else if m.to_refund {
                -qty
            } else {
                0.0
            }
        })
        .sum()
}

fn sale_line(db: &Database, id: i64, field: &str) -> Option<Value> {
    let l = db.sale_lines.get(id)?;
    Some(match field {
        "order_id" => json!(l.order_id),
        "product_id" => json!(l.product_id),
        "name" => json!(l.name),
        "product_uom_qty" => float(l.product_uom_qty),
        "price_unit" => float(l.price_unit),
        "currency_id" => json!(COMPANY_CURRENCY),
        "qty_delivered" => float(qty_delivered(db, id)),
        "product_uom" => json!(1),
        "move_ids" => json!(db
            .moves
            .values()
            .filter(|m| m.sale_line_id == Some(id))
            .map(|m| m.id)
            .collect::<Vec<_>>()),
        "state" => json!(db
            .sale_orders
            .get(l.order_id)
            .map(|o| o.state.clone())
            .unwrap_or_default()),
        "write_date" => ts(l.write_date),
        _ => return None,
    })
}

fn picking(db: &Database, id: i64, field: &str) -> Option<Value> {
    let p = db.pickings.get(id)?;
    Some(match field {
        "name" => json!(p.name),
        "origin" => text(&p.origin),
        "note" => text(&p.note),
        "partner_id" => m2o(p.partner_id),
        "picking_type_id" => json!(p.picking_type_id),
        "picking_type_code" => {
            json!(db
                .picking_types
                .get(p.picking_type_id)
                .map(|t| t.code.clone())
                .unwrap_or_default())
        }
        "location_id" => json!(p.location_id),
        "location_dest_id" => json!(p.location_dest_id),
        "state" => json!(p.state),
        "move_ids" | "move_ids_without_package" => json!(db.picking_moves(id)),
        "move_line_ids" => {
            json!(db
                .move_lines
                .values()
                .filter(|l| l.picking_id == Some(id))
                .map(|l| l.id)
                .collect::<Vec<_>>())
        }
        "backorder_id" => m2o(p.backorder_id),
        "backorder_ids" => {
            json!(db
                .pickings
                .values()
                .filter(|b| b.backorder_id == Some(id))
                .map(|b| b.id)
                .collect::<Vec<_>>())
        }
        "return_id" => m2o(p.return_id),
        "return_ids" => {
            json!(db
                .pickings
                .values()
                .filter(|r| r.return_id == Some(id))
                .map(|r| r.id)
                .collect::<Vec<_>>())
        }
        // Only pickings made by the return wizard: a backorder of a return has no `return_id`
        // (transcript 24), so it is not counted.
        "return_count" => json!(db.pickings.values().filter(|r| r.return_id == Some(id)).count()),
        "scheduled_date" => ts(p.scheduled_date),
        "date_deadline" => Value::Bool(false),
        "date_done" => opt_ts(p.date_done),
        "priority" => json!(p.priority),
        "move_type" => json!(p.move_type),
        "sale_id" => m2o(p.sale_id),
        "user_id" => m2o(p.user_id),
        "carrier_tracking_ref" if db.delivery_module => text(&p.carrier_tracking_ref),
        "company_id" => json!(db.company.id),
        "is_locked" => json!(true),
        "create_uid" => json!(p.create_uid),
        "create_date" => ts(p.create_date),
        "write_date" => ts(p.write_date),
        _ => return None,
    })
}

fn stock_move(db: &Database, id: i64, field: &str) -> Option<Value> {
    let m = db.moves.get(id)?;
    Some(match field {
        "name" => json!(m.name),
        "reference" => json!(match m.picking_id.and_then(|p| db.pickings.get(p)) {
            Some(p) => p.name.clone(),
            None => m
                .scrap_id
                .and_then(|s| db.scraps.get(s))
                .map_or_else(|| m.name.clone(), |s| s.name.clone()),
        }),
        "origin" => text(&m.origin),
        "description_picking" => text(&m.description_picking),
        "product_id" => json!(m.product_id),
        "product_uom_qty" | "product_qty" => float(m.product_uom_qty),
        "quantity" => float(db.move_quantity(id)),
        "product_uom" => json!(m.product_uom),
        "picked" => json!(m.picked),
        "state" => json!(m.state),
        "location_id" => json!(m.location_id),
        "location_dest_id" => json!(m.location_dest_id),
        "picking_id" => m2o(m.picking_id),
        "picking_type_id" => m2o(m.picking_type_id),
        "partner_id" => m2o(m.partner_id),
        "origin_returned_move_id" => m2o(m.origin_returned_move_id),
        "returned_move_ids" => json!(db
            .moves
            .values()
            .filter(|r| r.origin_returned_move_id == Some(id))
            .map(|r| r.id)
            .collect::<Vec<_>>()),
        "move_orig_ids" => json!(m.move_orig_ids),
        "move_dest_ids" => json!(db.move_dest_ids(id)),
        "to_refund" => json!(m.to_refund),
        "sale_line_id" => m2o(m.sale_line_id),
        "move_line_ids" => json!(db.move_lines_of(id)),
        "lot_ids" => {
            let mut lots: Vec<i64> = db
                .move_lines
                .values()
                .filter(|l| l.move_id == Some(id))
                .filter_map(|l| l.lot_id)
                .collect();
            lots.sort_unstable();
            lots.dedup();
            json!(lots)
        }
        "scrapped" => json!(m.scrapped),
        "scrap_id" => m2o(m.scrap_id),
        "is_inventory" => json!(m.is_inventory),
        "sequence" => json!(m.sequence),
        "procure_method" => json!(m.procure_method),
        "date" => ts(m.date),
        "company_id" => json!(db.company.id),
        "create_date" => ts(m.create_date),
        "write_date" => ts(m.write_date),
        _ => return None,
    })
}

fn move_line(db: &Database, id: i64, field: &str) -> Option<Value> {
    let l = db.move_lines.get(id)?;
    let parent = l.move_id.and_then(|m| db.moves.get(m));
    Some(match field {
        "move_id" => m2o(l.move_id),
        "picking_id" => m2o(l.picking_id),
        "product_id" => json!(l.product_id),
        "quantity" => float(l.quantity),
        "picked" => json!(l.picked),
        "location_id" => json!(l.location_id),
        "location_dest_id" => json!(l.location_dest_id),
        "lot_id" => m2o(l.lot_id),
        "lot_name" => text(&l.lot_name),
        "product_uom_id" => json!(1),
        "state" => json!(parent.map_or("draft", |m| m.state.as_str())),
        "reference" => match parent {
            Some(m) => stock_move(db, m.id, "reference")?,
            None => Value::Bool(false),
        },
        "date" => ts(l.date),
        "company_id" => json!(db.company.id),
        "write_date" => ts(l.write_date),
        _ => return None,
    })
}

fn scrap(db: &Database, id: i64, field: &str) -> Option<Value> {
    let s = db.scraps.get(id)?;
    Some(match field {
        "name" => json!(s.name),
        "origin" => text(&s.origin),
        "product_id" => json!(s.product_id),
        "product_uom_id" => json!(s.product_uom_id),
        "scrap_qty" => float(s.scrap_qty),
        "location_id" => json!(s.location_id),
        "scrap_location_id" => json!(s.scrap_location_id),
        "lot_id" => m2o(s.lot_id),
        "picking_id" => m2o(s.picking_id),
        "state" => json!(s.state),
        "date_done" => opt_ts(s.date_done),
        "move_ids" => json!(db
            .moves
            .values()
            .filter(|m| m.scrap_id == Some(id))
            .map(|m| m.id)
            .collect::<Vec<_>>()),
        "company_id" => json!(db.company.id),
        "create_date" => ts(s.create_date),
        "write_date" => ts(s.write_date),
        _ => return None,
    })
}

fn return_wizard(db: &Database, id: i64, field: &str) -> Option<Value> {
    let w = db.return_wizards.get(id)?;
    Some(match field {
        "picking_id" => m2o(w.picking_id),
        "product_return_moves" => {
            json!(db
                .return_lines
                .values()
                .filter(|l| l.wizard_id == id)
                .map(|l| l.id)
                .collect::<Vec<_>>())
        }
        "location_id" => m2o(w.location_id),
        "original_location_id" => m2o(w.original_location_id),
        "parent_location_id" => m2o(w.parent_location_id),
        "move_dest_exists" => json!(w.move_dest_exists),
        "company_id" => json!(db.company.id),
        _ => return None,
    })
}

fn return_line(db: &Database, id: i64, field: &str) -> Option<Value> {
    let l = db.return_lines.get(id)?;
    Some(match field {
        "wizard_id" => json!(l.wizard_id),
        "product_id" => json!(l.product_id),
        "quantity" => float(l.quantity),
        "uom_id" => json!(l.uom_id),
        "move_id" => m2o(l.move_id),
        "to_refund" => json!(l.to_refund),
        _ => return None,
    })
}

/// The display name of a record, as many2one pairs show it.
pub fn display_name(db: &Database, model: &str, id: i64) -> String {
    match model {
        "res.company" => db.company.name.clone(),
        "res.users" => db.users.get(id).map(|u| u.name.clone()).unwrap_or_default(),
        // Odoo 17 shows groups as "Category / Name".
        "res.groups" => db
            .groups
            .get(id)
            .map(|g| format!("{} / {}", g.category, g.name))
            .unwrap_or_default(),
        "res.partner" => match db.partners.get(id) {
            Some(p) => match p.parent_id.and_then(|parent| db.partners.get(parent)) {
                Some(parent) if !p.is_company => format!("{}, {}", parent.name, p.name),
                _ => p.name.clone(),
            },
            None => String::new(),
        },
        "uom.uom" => "Units".to_owned(),
        "res.currency" => CURRENCIES
            .iter()
            .find(|c| c.0 == id)
            .map(|c| c.1.to_owned())
            .unwrap_or_default(),
        "stock.warehouse" => db.warehouse.name.clone(),
        "stock.location" => db.location_complete_name(id),
        "stock.picking.type" => match db.picking_types.get(id) {
            Some(t) => match t.warehouse_id {
                Some(_) => format!("{}: {}", db.warehouse.name, t.name),
                None => t.name.clone(),
            },
            None => String::new(),
        },
        "product.product" => db.product_display_name(id),
        "stock.lot" => db.lots.get(id).map(|l| l.name.clone()).unwrap_or_default(),
        "stock.quant" => db
            .quants
            .get(id)
            .map(|q| {
                let lot = q
                    .lot_id
                    .and_then(|l| db.lots.get(l))
                    .map(|l| format!(" - {}", l.name))
                    .unwrap_or_default();
                format!("{}{lot}", db.location_complete_name(q.location_id))
            })
            .unwrap_or_default(),
        "sale.order" => db.sale_orders.get(id).map(|o| o.name.clone()).unwrap_or_default(),
        "sale.order.line" => match db.sale_lines.get(id) {
            Some(l) => {
                let order = db.sale_orders.get(l.order_id);
                let partner = order
                    .map(|o| display_name(db, "res.partner", o.partner_id))
                    .unwrap_or_default();
                format!(
                    "{} - {} ({partner})",
                    order.map(|o| o.name.as_str()).unwrap_or(""),
                    l.name
                )
            }
            None => String::new(),
        },
        "stock.picking" => db.pickings.get(id).map(|p| p.name.clone()).unwrap_or_default(),
        "stock.move" => match db.moves.get(id) {
            // Odoo 17: "<picking origin>/<product code>: <source name>><destination name>".
            Some(m) => {
                let origin = m
                    .picking_id
                    .and_then(|p| db.pickings.get(p))
                    .and_then(|p| p.origin.clone())
                    .map(|o| format!("{o}/"))
                    .unwrap_or_default();
                let code = db
                    .products
                    .get(m.product_id)
                    .and_then(|p| p.default_code.clone())
                    .map(|c| format!("{c}: "))
                    .unwrap_or_default();
                let name = |loc: i64| db.locations.get(loc).map(|l| l.name.clone()).unwrap_or_default();
                format!("{origin}{code}{}>{}", name(m.location_id), name(m.location_dest_id))
            }
            None => String::new(),
        },
        "stock.move.line" => db
            .move_lines
            .get(id)
            .map(|l| db.product_display_name(l.product_id))
            .unwrap_or_default(),
        "stock.scrap" => db.scraps.get(id).map(|s| s.name.clone()).unwrap_or_default(),
        "ir.model.data" => db
            .model_data
            .get(id)
            .map(|d| format!("{}.{}", d.module, d.name))
            .unwrap_or_default(),
        "ir.config_parameter" => db.config_params.get(id).map(|p| p.key.clone()).unwrap_or_default(),
        "stock.return.picking.line" => db
            .return_lines
            .get(id)
            .map(|l| db.product_display_name(l.product_id))
            .unwrap_or_default(),
        other => format!("{other},{id}"),
    }
}

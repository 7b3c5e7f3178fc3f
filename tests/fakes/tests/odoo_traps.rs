//! The traps a sink author meets on Odoo 17, reproduced by the fake: retries that are not
//! idempotent (validating or scrapping twice), wizard calls that silently do nothing without
//! the action's context, backorders that inherit `origin`, returns that only offer what is
//! left, lot-tracked products without a lot. Taken from the transcripts' notes and Odoo 17's
//! source; each test names the behaviour.

mod support;

use returns_edge_fakes::odoo::{FakeOdoo, FakeOdooOptions};
use serde_json::{json, Value};
use support::rpc::Rpc;

async fn warehouse() -> (FakeOdoo, Rpc) {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&odoo);
    (odoo, rpc)
}

fn active(picking: i64) -> Value {
    json!({"context": {"active_id": picking, "active_ids": [picking], "active_model": "stock.picking"}})
}

/// Creates the return of a done delivery into WH/Returns; answers the return picking id.
async fn return_of(rpc: &Rpc, delivery: i64) -> i64 {
    let wizard = rpc
        .call("stock.return.picking", "create", json!([{}]), active(delivery))
        .await;
    rpc.call(
        "stock.return.picking",
        "write",
        json!([[wizard], {"location_id": 34}]),
        json!({}),
    )
    .await;
    let action = rpc
        .call(
            "stock.return.picking",
            "create_returns",
            json!([[wizard]]),
            active(delivery),
        )
        .await;
    action["res_id"].as_i64().expect("res_id")
}

async fn read_one(rpc: &Rpc, model: &str, id: i64, fields: Value) -> Value {
    rpc.call(model, "read", json!([[id]]), json!({"fields": fields})).await[0].clone()
}

async fn first_move(rpc: &Rpc, picking: i64) -> i64 {
    read_one(rpc, "stock.picking", picking, json!(["move_ids"])).await["move_ids"][0]
        .as_i64()
        .expect("a move")
}

#[tokio::test]
async fn validating_a_done_picking_again_is_a_user_error_not_a_no_op() {
    let (odoo, rpc) = warehouse().await;
    let picking = return_of(&rpc, odoo.ids().deliveries[1].picking_id).await;
    assert_eq!(
        rpc.call("stock.picking", "button_validate", json!([[picking]]), json!({}))
            .await,
        json!(true)
    );
    let again = rpc
        .fail("stock.picking", "button_validate", json!([[picking]]), json!({}))
        .await;
    assert_eq!(again["name"], "odoo.exceptions.UserError");
    assert_eq!(
        again["message"],
        "You cannot validate a transfer if no quantities are reserved. To force the transfer, encode quantities."
    );
    let assign = rpc
        .fail("stock.picking", "action_assign", json!([[picking]]), json!({}))
        .await;
    assert_eq!(assign["message"], "Nothing to check the availability for.");
    let cancel = rpc
        .fail("stock.picking", "action_cancel", json!([[picking]]), json!({}))
        .await;
    assert_eq!(cancel["name"], "odoo.exceptions.UserError");
    let unlink = rpc.fail("stock.picking", "unlink", json!([[picking]]), json!({})).await;
    assert_eq!(unlink["name"], "odoo.exceptions.UserError");
}

async fn partial_receipt(odoo: &FakeOdoo, rpc: &Rpc) -> (i64, Value) {
    let picking = return_of(rpc, odoo.ids().deliveries[0].picking_id).await;
    let mv = first_move(rpc, picking).await;
    rpc.call(
        "stock.move",
        "write",
        json!([[mv], {"quantity": 1, "picked": true}]),
        json!({}),
    )
    .await;
    let action = rpc
        .call("stock.picking", "button_validate", json!([[picking]]), json!({}))
        .await;
    assert_eq!(action["res_model"], "stock.backorder.confirmation");
    (picking, action["context"].clone())
}

#[tokio::test]
async fn backorder_process_without_the_call_context_answers_true_and_does_nothing() {
    let (odoo, rpc) = warehouse().await;
    let (picking, ctx) = partial_receipt(&odoo, &rpc).await;
    let wizard = rpc
        .call(
            "stock.backorder.confirmation",
            "create",
            json!([{}]),
            json!({"context": ctx}),
        )
        .await;
    let done = rpc
        .call("stock.backorder.confirmation", "process", json!([[wizard]]), json!({}))
        .await;
    assert_eq!(done, json!(true));
    assert_eq!(
        read_one(&rpc, "stock.picking", picking, json!(["state"])).await["state"],
        "assigned"
    );
    // With the context it works.
    rpc.call(
        "stock.backorder.confirmation",
        "process",
        json!([[wizard]]),
        json!({"context": ctx}),
    )
    .await;
    assert_eq!(
        read_one(&rpc, "stock.picking", picking, json!(["state"])).await["state"],
        "done"
    );
}

#[tokio::test]
async fn a_backorder_wizard_created_without_context_makes_a_backorder_even_when_cancelling_it() {
    let (odoo, rpc) = warehouse().await;
    let (picking, ctx) = partial_receipt(&odoo, &rpc).await;
    let wizard = rpc
        .call("stock.backorder.confirmation", "create", json!([{}]), json!({}))
        .await;
    rpc.call(
        "stock.backorder.confirmation",
        "process_cancel_backorder",
        json!([[wizard]]),
        json!({"context": ctx}),
    )
    .await;
    let backorders = rpc
        .call(
            "stock.picking",
            "search",
            json!([[["backorder_id", "=", picking]]]),
            json!({}),
        )
        .await;
    assert_eq!(
        backorders.as_array().map(Vec::len),
        Some(1),
        "no default_pick_ids at create → nothing cancelled"
    );
}

#[tokio::test]
async fn cancelling_the_backorder_keeps_the_demand_and_moves_only_the_done_quantity() {
    let (odoo, rpc) = warehouse().await;
    let (picking, ctx) = partial_receipt(&odoo, &rpc).await;
    let wizard = rpc
        .call(
            "stock.backorder.confirmation",
            "create",
            json!([{}]),
            json!({"context": ctx}),
        )
        .await;
    rpc.call(
        "stock.backorder.confirmation",
        "process_cancel_backorder",
        json!([[wizard]]),
        json!({"context": ctx}),
    )
    .await;
    let moves = rpc
        .call(
            "stock.move",
            "search_read",
            json!([[["picking_id", "=", picking]]]),
            json!({"fields": ["product_uom_qty", "quantity", "state"]}),
        )
        .await;
    // Read `quantity` on done moves: `product_uom_qty` is still the demand.
    assert_eq!(moves[0]["product_uom_qty"], json!(4.0));
    assert_eq!(moves[0]["quantity"], json!(1.0));
    assert_eq!(moves[0]["state"], "done");
    assert_eq!(odoo.quant(odoo.ids().large_cabinet, 34), 1.0);
}

#[tokio::test]
async fn dont_send_sms_without_the_action_context_validates_nothing() {
    let (odoo, rpc) = warehouse().await;
    let order = rpc
        .call(
            "sale.order",
            "create",
            json!([{"partner_id": 10, "order_line": [[0, 0, {"product_id": 17, "product_uom_qty": 1}]]}]),
            json!({}),
        )
        .await;
    rpc.call("sale.order", "action_confirm", json!([[order]]), json!({}))
        .await;
    let picking = read_one(&rpc, "sale.order", order.as_i64().unwrap_or(0), json!(["picking_ids"])).await
        ["picking_ids"][0]
        .as_i64()
        .expect("a delivery");
    let action = rpc
        .call("stock.picking", "button_validate", json!([[picking]]), json!({}))
        .await;
    assert_eq!(action["res_model"], "confirm.stock.sms");
    let answer = rpc
        .call(
            "confirm.stock.sms",
            "dont_send_sms",
            json!([[action["res_id"]]]),
            json!({}),
        )
        .await;
    assert_eq!(answer, json!(true));
    assert_eq!(
        read_one(&rpc, "stock.picking", picking, json!(["state"])).await["state"],
        "assigned"
    );
    // The question is never asked again: a plain validation now completes.
    assert_eq!(
        rpc.call("stock.picking", "button_validate", json!([[picking]]), json!({}))
            .await,
        json!(true)
    );
    assert!(odoo.inspect(|db| db.company.has_received_warning_stock_sms));
}

#[tokio::test]
async fn a_return_wizard_without_the_active_context_is_a_singleton_error() {
    let (_odoo, rpc) = warehouse().await;
    let error = rpc.fail("stock.return.picking", "create", json!([{}]), json!({})).await;
    assert_eq!(
        (error["name"].as_str(), error["message"].as_str()),
        (Some("builtins.ValueError"), Some("Expected singleton: stock.picking()"))
    );
}

#[tokio::test]
async fn the_location_trap_gives_a_wizard_that_cannot_create_returns() {
    let (odoo, rpc) = warehouse().await;
    let delivery = odoo.ids().deliveries[0].picking_id;
    let wizard = rpc
        .call(
            "stock.return.picking",
            "create",
            json!([{"location_id": 34}]),
            active(delivery),
        )
        .await;
    let error = rpc
        .fail(
            "stock.return.picking",
            "create_returns",
            json!([[wizard]]),
            active(delivery),
        )
        .await;
    assert_eq!(error["message"], "Please specify at least one non-zero quantity.");
}

#[tokio::test]
async fn a_second_return_of_the_same_delivery_offers_only_what_is_left() {
    let (odoo, rpc) = warehouse().await;
    let delivery = odoo.ids().deliveries[0].picking_id;
    let wizard = rpc
        .call("stock.return.picking", "create", json!([{}]), active(delivery))
        .await;
    let lines = read_one(
        &rpc,
        "stock.return.picking",
        wizard.as_i64().unwrap_or(0),
        json!(["product_return_moves"]),
    )
    .await;
    let line = lines["product_return_moves"][0].clone();
    rpc.call(
        "stock.return.picking.line",
        "write",
        json!([[line], {"quantity": 1}]),
        json!({}),
    )
    .await;
    rpc.call(
        "stock.return.picking",
        "create_returns",
        json!([[wizard]]),
        active(delivery),
    )
    .await;
    let second = rpc
        .call("stock.return.picking", "create", json!([{}]), active(delivery))
        .await;
    let lines = rpc
        .call(
            "stock.return.picking.line",
            "search_read",
            json!([[["wizard_id", "=", second]]]),
            json!({"fields": ["quantity"]}),
        )
        .await;
    assert_eq!(
        lines[0]["quantity"],
        json!(3.0),
        "4 delivered, 1 already being returned"
    );
}

#[tokio::test]
async fn validating_a_done_scrap_again_scraps_again() {
    let (odoo, rpc) = warehouse().await;
    let (cabinet, stock) = (odoo.ids().large_cabinet, odoo.ids().stock_location);
    let before = odoo.quant(cabinet, stock);
    let scrap = rpc
        .call(
            "stock.scrap",
            "create",
            json!([{"product_id": cabinet, "scrap_qty": 1, "location_id": stock, "origin": "RE/x"}]),
            json!({}),
        )
        .await;
    rpc.call("stock.scrap", "action_validate", json!([[scrap]]), json!({}))
        .await;
    rpc.call("stock.scrap", "action_validate", json!([[scrap]]), json!({}))
        .await;
    assert_eq!(
        odoo.quant(cabinet, stock),
        before - 2.0,
        "Odoo does not check the scrap's state"
    );
    // And a move search by origin finds the scrap moves, which have no picking.
    let moves = rpc
        .call(
            "stock.move",
            "search_read",
            json!([[["origin", "=", "RE/x"]]]),
            json!({"fields": ["picking_id", "scrapped"]}),
        )
        .await;
    assert_eq!(moves.as_array().map(Vec::len), Some(2));
    assert_eq!(moves[0]["picking_id"], json!(false));
}

#[tokio::test]
async fn create_takes_a_list_for_batching_and_answers_a_list() {
    let (_odoo, rpc) = warehouse().await;
    let picking = rpc
        .call(
            "stock.picking",
            "create",
            json!([{"picking_type_id": 5, "origin": "RE/batch"}]),
            json!({}),
        )
        .await;
    let vals = json!({"name": "RE/batch", "product_id": 17, "product_uom_qty": 1, "picking_id": picking});
    assert!(rpc
        .call("stock.move", "create", json!([vals.clone()]), json!({}))
        .await
        .is_i64());
    let ids = rpc
        .call("stock.move", "create", json!([[vals.clone(), vals]]), json!({}))
        .await;
    assert_eq!(ids.as_array().map(Vec::len), Some(2));
    // Moves without a name are refused, as `name` is required on stock.move in 17.
    let error = rpc
        .fail(
            "stock.move",
            "create",
            json!([{"product_id": 17, "picking_id": picking}]),
            json!({}),
        )
        .await;
    assert_eq!(error["name"], "odoo.exceptions.ValidationError");
}

#[tokio::test]
async fn a_lot_tracked_receipt_without_a_lot_is_refused_and_a_lot_name_creates_the_lot() {
    let (odoo, rpc) = warehouse().await;
    let cable = odoo.ids().cable_box;
    let picking = rpc
        .call("stock.picking", "create", json!([{"picking_type_id": 1, "move_ids": [[0, 0, {"name": "in", "product_id": cable, "product_uom_qty": 2}]]}]), json!({}))
        .await;
    rpc.call("stock.picking", "action_confirm", json!([[picking]]), json!({}))
        .await;
    let error = rpc
        .fail("stock.picking", "button_validate", json!([[picking]]), json!({}))
        .await;
    assert_eq!(
        error["message"],
        "You need to supply a Lot/Serial Number for product:\n- [FURN_5555] Cable Management Box"
    );
    let line = rpc
        .call(
            "stock.move.line",
            "search",
            json!([[["picking_id", "=", picking]]]),
            json!({}),
        )
        .await[0]
        .clone();
    rpc.call(
        "stock.move.line",
        "write",
        json!([[line], {"lot_name": "CM-BOX-00099", "picked": true}]),
        json!({}),
    )
    .await;
    assert_eq!(
        rpc.call("stock.picking", "button_validate", json!([[picking]]), json!({}))
            .await,
        json!(true)
    );
    assert!(odoo
        .lots()
        .iter()
        .any(|l| l.name == "CM-BOX-00099" && l.product_id == cable));
}

#[tokio::test]
async fn the_warehouse_seed_has_returnable_done_deliveries() {
    let (odoo, rpc) = warehouse().await;
    let ids = odoo.ids().clone();
    assert_eq!(ids.deliveries.len(), 3);
    for d in &ids.deliveries {
        let p = read_one(
            &rpc,
            "stock.picking",
            d.picking_id,
            json!(["state", "origin", "picking_type_code", "sale_id"]),
        )
        .await;
        assert_eq!(
            (p["state"].as_str(), p["picking_type_code"].as_str()),
            (Some("done"), Some("outgoing"))
        );
        assert_eq!(p["origin"], json!(d.sale_order_name));
    }
    let found = rpc
        .call(
            "stock.picking",
            "search_read",
            json!([[
                ["picking_type_code", "=", "outgoing"],
                ["state", "=", "done"],
                ["sale_id", "!=", false]
            ]]),
            json!({"fields": ["name"], "order": "date_done desc"}),
        )
        .await;
    assert_eq!(found.as_array().map(Vec::len), Some(3));
    let by_barcode = rpc
        .call(
            "product.product",
            "search",
            json!([[["barcode", "=", "4006381333931"]]]),
            json!({}),
        )
        .await;
    assert_eq!(by_barcode, json!([ids.large_cabinet]));
    let serial_line = odoo
        .move_lines()
        .into_iter()
        .find(|l| l.product_id == ids.scanner)
        .expect("a serial delivered");
    assert!(serial_line.lot_id.is_some());
}

//! The traps a sink author meets on Odoo 17, reproduced by the fake: retries that are not
//! idempotent (validating or scrapping twice), wizard calls that silently do nothing without
//! the action's context, backorders that inherit `origin`, returns that only offer what is
//! left, lot-tracked products without a lot; and from 22–27: returns left at the wizard's
//! default, rights (accounting, an email to post with), inventory adjustments, move lines given
//! on the picking. Taken from the transcripts' notes and Odoo 17's source; each test names the
//! behaviour.

mod support;

use returns_edge_fakes::odoo::{FakeOdoo, FakeOdooOptions, NewUser};
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

#[tokio::test]
async fn a_return_goes_where_the_returned_type_sends_returns_before_the_wizard_default() {
    let (odoo, rpc) = warehouse().await;
    let ids = odoo.ids().clone();
    let delivery = ids.deliveries[0].picking_id;
    let wizard = rpc
        .call("stock.return.picking", "create", json!([{}]), active(delivery))
        .await
        .as_i64()
        .expect("a wizard");
    let read = read_one(&rpc, "stock.return.picking", wizard, json!(["location_id"])).await;
    assert_eq!(
        read["location_id"][0],
        json!(ids.stock_location),
        "the delivery's source"
    );
    rpc.call(
        "stock.picking.type",
        "write",
        json!([[ids.delivery_type], {"default_location_return_id": ids.returns_location}]),
        json!({}),
    )
    .await;
    let wizard = rpc
        .call("stock.return.picking", "create", json!([{}]), active(delivery))
        .await
        .as_i64()
        .expect("a wizard");
    let read = read_one(&rpc, "stock.return.picking", wizard, json!(["location_id"])).await;
    assert_eq!(read["location_id"][0], json!(ids.returns_location));
}

#[tokio::test]
async fn a_user_without_email_can_validate_but_not_make_a_backorder() {
    let (odoo, admin) = warehouse().await;
    let uid = odoo.add_user(&NewUser::inventory_manager("no-mail", "No Mail").without_email());
    let user = Rpc::as_user(&odoo, uid, "no-mail");
    let picking = return_of(&admin, odoo.ids().deliveries[0].picking_id).await;
    let mv = first_move(&user, picking).await;
    user.call(
        "stock.move",
        "write",
        json!([[mv], {"quantity": 1, "picked": true}]),
        json!({}),
    )
    .await;
    let action = user
        .call("stock.picking", "button_validate", json!([[picking]]), json!({}))
        .await;
    let ctx = json!({"context": action["context"].clone()});
    let wizard = user
        .call("stock.backorder.confirmation", "create", json!([{}]), ctx.clone())
        .await;
    let error = user
        .fail("stock.backorder.confirmation", "process", json!([[wizard]]), ctx)
        .await;
    assert_eq!(error["name"], "odoo.exceptions.UserError");
    assert_eq!(
        error["message"],
        "Unable to send message, please configure the sender's email address."
    );
    let state = read_one(&user, "stock.picking", picking, json!(["state"])).await;
    assert_eq!(state["state"], "assigned", "rolled back");
    // Validating everything makes no backorder, so no message: that works.
    let other = return_of(&admin, odoo.ids().deliveries[1].picking_id).await;
    assert_eq!(
        user.call("stock.picking", "button_validate", json!([[other]]), json!({}))
            .await,
        json!(true)
    );
}

#[tokio::test]
async fn changing_a_done_move_needs_accounting_rights_and_moves_stock_again() {
    let (odoo, admin) = warehouse().await;
    let returns = odoo.ids().returns_location.expect("WH/Returns");
    let cabinet = odoo.ids().large_cabinet;
    let picking = return_of(&admin, odoo.ids().deliveries[0].picking_id).await;
    admin
        .call("stock.picking", "button_validate", json!([[picking]]), json!({}))
        .await;
    let mv = first_move(&admin, picking).await;
    let before = odoo.quant_of(cabinet, returns, None);
    let clerk = odoo.add_user(&NewUser::inventory_manager("clerk", "Clerk"));
    let clerk = Rpc::as_user(&odoo, clerk, "clerk");
    let same = clerk
        .call(
            "stock.move",
            "write",
            json!([[mv], {"quantity": 4, "picked": true}]),
            json!({}),
        )
        .await;
    assert_eq!(same, json!(true), "the quantity it has: a no-op");
    let error = clerk
        .fail("stock.move", "write", json!([[mv], {"quantity": 5}]), json!({}))
        .await;
    assert_eq!(error["name"], "odoo.exceptions.AccessError");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("You are not allowed to access 'Journal Entry' (account.move) records."));
    let line = read_one(&admin, "stock.move", mv, json!(["move_line_ids"])).await["move_line_ids"][0].clone();
    let error = clerk
        .fail("stock.move.line", "write", json!([[line], {"quantity": 3}]), json!({}))
        .await;
    assert_eq!(error["name"], "odoo.exceptions.AccessError");
    assert_eq!(odoo.quant_of(cabinet, returns, None), before);
    let accountant = odoo.add_user(&NewUser::inventory_manager("accountant", "Accountant").with_accounting());
    let accountant = Rpc::as_user(&odoo, accountant, "accountant");
    accountant
        .call("stock.move", "write", json!([[mv], {"quantity": 5}]), json!({}))
        .await;
    assert_eq!(odoo.quant_of(cabinet, returns, None), before + 1.0);
    let read = read_one(
        &admin,
        "stock.move",
        mv,
        json!(["product_uom_qty", "quantity", "state"]),
    )
    .await;
    assert_eq!(
        (
            read["product_uom_qty"].as_f64(),
            read["quantity"].as_f64(),
            read["state"].as_str()
        ),
        (Some(4.0), Some(5.0), Some("done"))
    );
}

#[tokio::test]
async fn inventory_adjustments_need_inventory_mode_and_a_manager_and_answer_no_result() {
    let (odoo, admin) = warehouse().await;
    let (cabinet, quarantine) = (
        odoo.ids().large_cabinet,
        odoo.ids().quarantine_location.expect("seeded"),
    );
    let counted = json!([{"product_id": cabinet, "location_id": quarantine, "inventory_quantity": 3}]);
    let error = admin.fail("stock.quant", "create", counted.clone(), json!({})).await;
    assert_eq!(error["name"], "builtins.NotImplementedError", "outside inventory mode");
    let mode = json!({"context": {"inventory_mode": true}});
    let demo = Rpc::as_user(&odoo, odoo.ids().demo_uid, "demo");
    let quant = demo.call("stock.quant", "create", counted.clone(), mode.clone()).await;
    let error = demo
        .fail("stock.quant", "action_apply_inventory", json!([quant]), mode.clone())
        .await;
    assert_eq!(
        error["message"],
        "Only a stock manager can validate an inventory adjustment."
    );
    let again = admin.call("stock.quant", "create", counted, mode.clone()).await;
    assert_eq!(again, quant, "counting again counts on the same quant");
    let body = json!({"jsonrpc": "2.0", "method": "call", "id": 9, "params": {
        "service": "object", "method": "execute_kw",
        "args": [admin.db, admin.uid, admin.password, "stock.quant", "action_apply_inventory", [[quant]], mode]}});
    let answer: Value = admin.send(&body).await.expect("answer").json().await.expect("json");
    assert_eq!(answer, json!({"jsonrpc": "2.0", "id": 9}), "None: no result key at all");
    assert_eq!(odoo.quant_of(cabinet, quarantine, None), 3.0);
}

#[tokio::test]
async fn a_move_line_given_on_the_picking_makes_a_move_without_demand() {
    let (odoo, rpc) = warehouse().await;
    let ids = odoo.ids().clone();
    let returns = ids.returns_location.expect("seeded");
    let picking = rpc
        .call(
            "stock.picking",
            "create",
            json!([{"picking_type_id": ids.internal_type, "location_id": ids.stock_location, "location_dest_id": returns,
                "move_line_ids": [[0, 0, {"product_id": ids.large_cabinet, "quantity": 2,
                    "location_id": ids.stock_location, "location_dest_id": returns}]]}]),
            json!({}),
        )
        .await
        .as_i64()
        .expect("a picking");
    let read = read_one(
        &rpc,
        "stock.picking",
        picking,
        json!(["state", "move_ids", "move_line_ids"]),
    )
    .await;
    assert_eq!(read["state"], "assigned", "confirmed by the create itself");
    let mv = read["move_ids"][0].as_i64().expect("a move");
    let fields = json!(["name", "product_uom_qty", "quantity"]);
    let made = read_one(&rpc, "stock.move", mv, fields.clone()).await;
    assert_eq!(made["name"], "New Move:[E-COM07] Large Cabinet");
    assert_eq!(
        (made["product_uom_qty"].as_f64(), made["quantity"].as_f64()),
        (Some(0.0), Some(2.0))
    );
    assert_eq!(
        rpc.call("stock.picking", "button_validate", json!([[picking]]), json!({}))
            .await,
        json!(true),
        "no backorder question for a move without demand"
    );
    let done = read_one(&rpc, "stock.move", mv, fields).await;
    assert_eq!(done["product_uom_qty"].as_f64(), Some(0.0));
    assert_eq!(odoo.quant_of(ids.large_cabinet, returns, None), 2.0);
}

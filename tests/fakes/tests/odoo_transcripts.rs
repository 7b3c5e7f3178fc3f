//! The fake Odoo against the real Odoo 17 transcripts: each test replays the lab session up to
//! and including one file, over real HTTP, and every answer must have the recorded shape,
//! states, quantities, wizard actions and error payloads (ids and document numbers may differ,
//! consistently). Then a few assertions on the fake's state check what the answers imply.
//! From 22 on, the files replay from the lab's restored snapshot (see `support::RESTORED_BEFORE`),
//! so the fake's document numbers are the recorded ones.

mod support;

use returns_edge_fakes::odoo::{FakeOdoo, Picking};
use serde_json::json;
use support::rpc::Rpc;
use support::Replayer;

/// The product with this internal reference.
fn product(odoo: &FakeOdoo, code: &str) -> i64 {
    odoo.inspect(|db| {
        db.products
            .values()
            .find(|p| p.default_code.as_deref() == Some(code))
            .map(|p| p.id)
    })
    .unwrap_or_else(|| panic!("no product {code}"))
}

/// The location called `complete_name` (`WH/Returns`).
fn location(odoo: &FakeOdoo, complete_name: &str) -> i64 {
    odoo.inspect(|db| {
        db.locations
            .ids()
            .into_iter()
            .find(|id| db.location_complete_name(*id) == complete_name)
    })
    .unwrap_or_else(|| panic!("no location {complete_name}"))
}

fn picking(odoo: &FakeOdoo, name: &str) -> Picking {
    odoo.picking_by_name(name)
        .unwrap_or_else(|| panic!("no picking {name}"))
}

/// `qty_delivered` of the sale lines of `product`, as Odoo answers it.
async fn qty_delivered(odoo: &FakeOdoo, product: i64) -> Vec<f64> {
    let found = Rpc::new(odoo)
        .call(
            "sale.order.line",
            "search_read",
            json!([[["product_id", "=", product]]]),
            json!({"fields": ["qty_delivered"], "order": "id"}),
        )
        .await;
    found
        .as_array()
        .map(|lines| lines.iter().filter_map(|l| l["qty_delivered"].as_f64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn setup_creates_the_returns_location_like_odoo() {
    let r = Replayer::replay_through("00_setup").await;
    assert!(r
        .odoo
        .inspect(|db| db.locations.values().any(|l| l.name == "Returns" && l.return_location)));
}

#[tokio::test]
async fn login_answers_like_odoo() {
    Replayer::replay_through("01_login").await;
}

#[tokio::test]
async fn a_sale_delivery_asks_about_sms_once_then_validates() {
    let r = Replayer::replay_through("03_sale_order_deliver").await;
    assert!(r.odoo.inspect(|db| db.company.has_received_warning_stock_sms));
    assert_eq!(r.odoo.quant(17, 8), 496.0, "4 of 500 left WH/Stock");
}

#[tokio::test]
async fn the_return_wizard_and_its_location_trap_behave_like_odoo() {
    let r = Replayer::replay_through("04_create_return").await;
    let trap_wizard_has_lines = r.odoo.inspect(|db| db.return_lines.values().any(|l| l.wizard_id == 1));
    assert!(
        !trap_wizard_has_lines,
        "location_id in create values must leave the wizard without lines"
    );
}

#[tokio::test]
async fn a_partial_receipt_with_backorder_behaves_like_odoo() {
    let r = Replayer::replay_through("05_receive_partial_backorder").await;
    let origin = "RET-EVT-e282643e-76b6-488d-9c62-891923c0db4b";
    let with_origin: Vec<_> = r
        .odoo
        .pickings()
        .into_iter()
        .filter(|p| p.origin.as_deref() == Some(origin))
        .collect();
    assert_eq!(with_origin.len(), 2, "the backorder inherits origin");
}

#[tokio::test]
async fn a_partial_receipt_without_backorder_behaves_like_odoo() {
    Replayer::replay_through("06_receive_partial_cancel_backorder").await;
}

#[tokio::test]
async fn a_restock_transfer_behaves_like_odoo() {
    Replayer::replay_through("07_disposition_restock").await;
}

#[tokio::test]
async fn scraps_and_the_insufficient_quantity_wizard_behave_like_odoo() {
    let r = Replayer::replay_through("08_disposition_scrap").await;
    assert_eq!(r.odoo.quant(31, 34), -1.0, "forcing the scrap takes stock negative");
}

#[tokio::test]
async fn quarantine_locations_and_transfers_behave_like_odoo() {
    Replayer::replay_through("09_disposition_quarantine").await;
}

#[tokio::test]
async fn idempotency_lookups_and_external_ids_behave_like_odoo() {
    Replayer::replay_through("10_idempotency").await;
}

#[tokio::test]
async fn error_payloads_match_odoo() {
    // 11 wrong password, 12 AccessError, 13 UserError, 14 ValidationError, 15 AttributeError,
    // 16 private method, 17 unknown model/field/kwarg/database.
    Replayer::replay_through("17_error_misc").await;
}

#[tokio::test]
async fn barcode_and_lot_lookups_behave_like_odoo() {
    Replayer::replay_through("18_barcode_lot_lookup").await;
}

#[tokio::test]
async fn the_timing_calls_and_list_create_behave_like_odoo() {
    Replayer::replay_through("20_timing").await;
}

#[tokio::test]
async fn a_lot_tracked_return_comes_with_its_lot_like_odoo() {
    let r = Replayer::replay_through("21_lot_tracked_return").await;
    let returned = r.odoo.inspect(|db| {
        db.quants
            .values()
            .filter(|q| q.product_id == 36 && q.location_id == 34)
            .map(|q| (q.lot_id, q.quantity))
            .collect::<Vec<_>>()
    });
    assert_eq!(returned, vec![(Some(3), 1.0)]);
}

#[tokio::test]
async fn a_return_left_at_the_wizard_default_lands_in_sellable_stock_like_odoo() {
    let r = Replayer::replay_through("22_return_default_location").await;
    let (tx_a, stock, returns) = (
        product(&r.odoo, "TX-A"),
        location(&r.odoo, "WH/Stock"),
        location(&r.odoo, "WH/Returns"),
    );
    // Case 1, nothing written on the wizard: WH/Stock; case 2, WH/Returns written: WH/Returns.
    assert_eq!(picking(&r.odoo, "WH/IN/00007").location_dest_id, stock);
    assert_eq!(picking(&r.odoo, "WH/IN/00008").location_dest_id, returns);
    assert_eq!(
        r.odoo.quant_of(tx_a, stock, None),
        19.0,
        "20 counted, 2 delivered, 1 back"
    );
    assert_eq!(r.odoo.quant_of(tx_a, returns, None), 1.0);
    // The count became a done inventory move from the inventory-loss location.
    let counted = r
        .odoo
        .moves()
        .into_iter()
        .filter(|m| m.is_inventory && m.product_id == tx_a);
    assert_eq!(
        counted.map(|m| (m.state, m.location_dest_id)).collect::<Vec<_>>(),
        vec![("done".to_owned(), stock)]
    );
    assert!(
        r.odoo.quants().iter().all(|q| !q.inventory_quantity_set),
        "the count is cleared"
    );
}

#[tokio::test]
async fn a_transfer_out_of_an_empty_location_is_refused_until_forced_then_goes_negative_like_odoo() {
    let r = Replayer::replay_through("23_transfer_insufficient_stock").await;
    let (tx_c, stock, returns) = (
        product(&r.odoo, "TX-C"),
        location(&r.odoo, "WH/Stock"),
        location(&r.odoo, "WH/Returns"),
    );
    assert_eq!(picking(&r.odoo, "WH/INT/00001").state, "done");
    assert_eq!(r.odoo.quant_of(tx_c, returns, None), -1.0);
    assert_eq!(r.odoo.reserved_of(tx_c, returns, None), 0.0);
    assert_eq!(r.odoo.quant_of(tx_c, stock, None), 11.0);
    let refused = r
        .odoo
        .mutations()
        .into_iter()
        .filter(|m| m.method == "button_validate" && !m.committed)
        .count();
    assert_eq!(refused, 1, "the first validation was a rolled-back UserError");
}

#[tokio::test]
async fn a_backorder_of_a_return_keeps_origin_and_refund_but_not_return_id_like_odoo() {
    let r = Replayer::replay_through("24_backorder_fields").await;
    let (delivery, original, backorder) = (
        picking(&r.odoo, "WH/OUT/00014"),
        picking(&r.odoo, "WH/IN/00009"),
        picking(&r.odoo, "WH/IN/00010"),
    );
    assert_eq!(original.return_id, Some(delivery.id));
    assert_eq!((backorder.return_id, backorder.backorder_id), (None, Some(original.id)));
    assert_eq!(backorder.origin, original.origin);
    assert_eq!(backorder.location_dest_id, original.location_dest_id);
    let moves = r.odoo.moves();
    let back_move = moves
        .iter()
        .find(|m| m.picking_id == Some(backorder.id))
        .expect("a move");
    let delivered = moves
        .iter()
        .find(|m| m.picking_id == Some(delivery.id))
        .expect("a move");
    assert_eq!(back_move.origin_returned_move_id, Some(delivered.id));
    assert!(back_move.to_refund);
    let returns: Vec<_> = r
        .odoo
        .pickings()
        .into_iter()
        .filter(|p| p.return_id == Some(delivery.id))
        .collect();
    assert_eq!(returns.len(), 1, "return_ids lists only the original");
    assert_eq!(
        qty_delivered(&r.odoo, product(&r.odoo, "TX-A")).await.last(),
        Some(&0.0)
    );
}

#[tokio::test]
async fn the_second_parcel_closes_the_return_and_done_moves_take_writes_like_odoo() {
    let r = Replayer::replay_through("25_two_parcels_one_return").await;
    let (tx_a, tx_b, returns) = (
        product(&r.odoo, "TX-A"),
        product(&r.odoo, "TX-B"),
        location(&r.odoo, "WH/Returns"),
    );
    assert_eq!(r.odoo.quant_of(tx_a, returns, None), 5.0, "1 (22) + 2 (24) + 2 (25)");
    assert_eq!(r.odoo.quant_of(tx_b, returns, None), 1.0);
    let original = picking(&r.odoo, "WH/IN/00011");
    let tx_a_move = r
        .odoo
        .moves()
        .into_iter()
        .find(|m| m.picking_id == Some(original.id) && m.product_id == tx_a)
        .expect("the TX-A move");
    let lines: Vec<f64> = r
        .odoo
        .move_lines()
        .into_iter()
        .filter(|l| l.move_id == Some(tx_a_move.id))
        .map(|l| l.quantity)
        .collect();
    assert_eq!(lines, vec![1.0, 0.0], "the admin's undo leaves a done line at 0");
    assert_eq!((tx_a_move.state.as_str(), tx_a_move.product_uom_qty), ("done", 1.0));
    let refused: Vec<_> = r
        .odoo
        .mutations()
        .into_iter()
        .filter(|m| m.method == "write" && !m.committed)
        .map(|m| m.response.err().map(|e| e.name).unwrap_or_default())
        .collect();
    assert_eq!(refused, vec!["odoo.exceptions.AccessError".to_owned()]);
    let delivered = qty_delivered(&r.odoo, tx_a).await;
    assert_eq!(delivered.last(), Some(&0.0));
}

#[tokio::test]
async fn create_returns_by_a_user_without_email_is_refused_but_uses_up_a_number_like_odoo() {
    let r = Replayer::replay_through("26_create_returns_user_without_email").await;
    assert!(r.odoo.picking_by_name("WH/IN/00013").is_none(), "rolled back");
    let uid = r.odoo.inspect(|db| {
        db.users
            .values()
            .find(|u| u.login == "returns-noemail")
            .map(|u| (u.id, db.user_email(u.id).map(str::to_owned)))
    });
    let (uid, email) = uid.expect("the user made by res.users.create");
    assert_eq!(email.as_deref(), Some("returns-noemail@example.com"));
    let made = picking(&r.odoo, "WH/IN/00014");
    assert_eq!(made.create_uid, uid);
    let refused = r
        .odoo
        .mutations()
        .into_iter()
        .find(|m| m.method == "create_returns" && !m.committed)
        .and_then(|m| m.response.err())
        .expect("the refused create_returns");
    assert_eq!(
        refused.message,
        "Unable to send message, please configure the sender's email address."
    );
}

#[tokio::test]
async fn serials_are_reserved_moved_and_asked_for_like_odoo() {
    let r = Replayer::replay_through("27_lot_tracked_disposition").await;
    let (tx_sn, returns, refurbish) = (
        product(&r.odoo, "TX-SN"),
        location(&r.odoo, "WH/Returns"),
        location(&r.odoo, "WH/Refurbish"),
    );
    let lot = |name: &str| {
        r.odoo
            .lots()
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.id)
            .unwrap_or_else(|| panic!("no lot {name}"))
    };
    let serials = [lot("TX-SN-0001"), lot("TX-SN-0002"), lot("TX-SN-0003")];
    let at = |location: i64| -> Vec<(Option<i64>, f64, f64)> { r.odoo.quants_at(tx_sn, location) };
    assert_eq!(
        at(refurbish),
        vec![
            (Some(serials[0]), 1.0, 0.0),
            (Some(serials[1]), 1.0, 0.0),
            (Some(serials[2]), 1.0, 0.0)
        ]
    );
    // Emptied quants stay at 0, the lot-less one of the forced variant 3 included.
    assert_eq!(
        at(returns),
        vec![
            (Some(serials[0]), 0.0, 0.0),
            (Some(serials[1]), 0.0, 0.0),
            (None, 0.0, 0.0),
            (Some(serials[2]), 0.0, 0.0)
        ]
    );
    // Variant 2: the nested line has no picking; variant 2b: a move without demand.
    let nested = r
        .odoo
        .move_lines()
        .into_iter()
        .find(|l| l.lot_id == Some(serials[1]) && l.location_dest_id == refurbish)
        .expect("the nested line");
    assert_eq!(nested.picking_id, None);
    let made = r
        .odoo
        .moves()
        .into_iter()
        .find(|m| m.name == "New Move:[TX-SN] TX Serial Widget")
        .expect("the move Odoo made");
    assert_eq!((made.product_uom_qty, made.state.as_str()), (0.0, "done"));
    assert_eq!(r.odoo.move_quantity(made.id), 1.0);
    assert_eq!(picking(&r.odoo, "WH/INT/00004").state, "cancel");
}

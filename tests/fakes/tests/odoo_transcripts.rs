//! The fake Odoo against the real Odoo 17 transcripts: each test replays the lab session up to
//! and including one file, over real HTTP, and every answer must have the recorded shape,
//! states, quantities, wizard actions and error payloads (ids and document numbers may differ,
//! consistently). Then a few assertions on the fake's state check what the answers imply.

mod support;

use support::Replayer;

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

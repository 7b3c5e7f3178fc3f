//! The seeding and reading helpers `FakeOdoo` offers the sink's end-to-end tests beyond the
//! transcripts: serial-tracked stock, returns left at the wizard's default location, users
//! without an email or without accounting rights, quants per (product, location, lot). Each
//! test checks that a helper leaves the fake as the RPC path would.

mod support;

use returns_edge_fakes::odoo::{FakeOdoo, FakeOdooOptions, NewProduct, NewUser, ReturnSpec, ReturnTo};
use serde_json::json;
use support::rpc::Rpc;

#[tokio::test]
async fn serials_seeded_in_a_location_are_reserved_one_per_line() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let returns = odoo.ids().returns_location.expect("seeded");
    let product = odoo.add_product(NewProduct::new("Serial Widget", "SW-1", "4000000000017").tracked("serial"));
    let lots = odoo.add_serials(product, returns, &["SW-0001", "SW-0002"]);
    assert_eq!(
        odoo.quants_at(product, returns),
        vec![(Some(lots[0]), 1.0, 0.0), (Some(lots[1]), 1.0, 0.0)]
    );
    let rpc = Rpc::new(&odoo);
    let picking = rpc
        .call(
            "stock.picking",
            "create",
            json!([{"picking_type_id": odoo.ids().internal_type, "location_id": returns,
                "location_dest_id": odoo.ids().stock_location,
                "move_ids": [[0, 0, {"name": "restock", "product_id": product, "product_uom_qty": 1}]]}]),
            json!({}),
        )
        .await;
    rpc.call("stock.picking", "action_confirm", json!([picking]), json!({}))
        .await;
    // The first serial in the location, chosen by Odoo; no lot_name.
    assert_eq!(odoo.reserved_of(product, returns, Some(lots[0])), 1.0);
    assert_eq!(odoo.reserved_of(product, returns, Some(lots[1])), 0.0);
    assert_eq!(odoo.quant_of(product, returns, Some(lots[0])), 1.0);
}

#[tokio::test]
async fn a_return_left_at_the_wizard_default_comes_back_into_stock() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let ids = odoo.ids().clone();
    let spec = ReturnSpec {
        rma: Some("RMA-7".into()),
        client_order_ref: None,
        return_tracking: None,
        delivery_tracking: None,
    };
    let open = odoo
        .add_return_to(
            ids.deco_addict,
            &[(ids.large_cabinet, 1.0)],
            &spec,
            ReturnTo::WizardDefault,
        )
        .expect("a return");
    let picking = odoo.picking_by_name(&open.picking_name).expect("the return");
    assert_eq!(picking.location_dest_id, ids.stock_location);
    assert_eq!(picking.origin.as_deref(), Some("RMA-7"));
    let returns = ids.returns_location.expect("seeded");
    let into_returns = odoo
        .add_return_to(
            ids.deco_addict,
            &[(ids.large_cabinet, 1.0)],
            &spec,
            ReturnTo::Location(returns),
        )
        .expect("a return");
    let picking = odoo.picking_by_name(&into_returns.picking_name).expect("the return");
    assert_eq!(picking.location_dest_id, returns);
}

#[tokio::test]
async fn added_users_log_in_and_their_email_can_be_taken_away() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let uid = odoo.add_user(&NewUser::inventory_manager("returns-edge", "Returns Edge"));
    let rpc = Rpc::as_user(&odoo, uid, "returns-edge");
    let login = rpc
        .common("login", json!([odoo.db(), "returns-edge", "returns-edge"]))
        .await;
    assert_eq!(login["result"], json!(uid));
    let read = rpc
        .call(
            "res.users",
            "read",
            json!([[uid]]),
            json!({"fields": ["email", "share"]}),
        )
        .await;
    assert_eq!(read[0]["email"], "returns-edge@example.com");
    assert_eq!(read[0]["share"], false);
    // Not an Access Rights administrator: cannot make users, may change their own email.
    let error = rpc
        .fail("res.users", "create", json!([{"name": "X", "login": "x"}]), json!({}))
        .await;
    assert_eq!(error["name"], "odoo.exceptions.AccessError");
    rpc.call(
        "res.users",
        "write",
        json!([[uid], {"email": "edge@example.com"}]),
        json!({}),
    )
    .await;
    assert_eq!(
        odoo.inspect(|db| db.user_email(uid).map(str::to_owned)).as_deref(),
        Some("edge@example.com")
    );
    odoo.set_user_email(uid, None);
    assert_eq!(odoo.inspect(|db| db.user_email(uid).map(str::to_owned)), None);
}

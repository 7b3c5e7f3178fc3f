//! Fields the RMA cache reads that the transcripts do not show but Odoo 17 has: sale order
//! prices and currencies, and `carrier_tracking_ref`, which exists only with Odoo's `delivery`
//! module (an "Invalid field" error without it, as on the lab server). Also the `add_return`
//! helper: a return made the way a user makes it.

mod support;

use returns_edge_fakes::odoo::{FakeOdoo, FakeOdooOptions, ReturnSpec};
use serde_json::{json, Value};
use support::rpc::Rpc;

#[tokio::test]
async fn sale_lines_have_prices_and_orders_a_currency_with_its_decimals() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&odoo);
    let order = odoo.ids().deliveries[0].sale_order_id;
    let lines = rpc
        .call(
            "sale.order.line",
            "search_read",
            json!([[["order_id", "=", order]]]),
            json!({"fields": ["price_unit", "currency_id"]}),
        )
        .await;
    assert!(lines[0]["price_unit"].as_f64().is_some_and(|p| p > 0.0), "{lines}");
    let read = rpc
        .call(
            "sale.order",
            "read",
            json!([[order]]),
            json!({"fields": ["currency_id"]}),
        )
        .await;
    let currency = &read[0]["currency_id"];
    assert_eq!(currency[1], "USD", "a many2one pair: {currency}");
    let currencies = rpc
        .call(
            "res.currency",
            "read",
            json!([[currency[0].clone()]]),
            json!({"fields": ["name", "decimal_places"]}),
        )
        .await;
    assert_eq!(currencies[0]["decimal_places"], 2);
    let created = rpc
        .call(
            "sale.order",
            "create",
            json!([{"partner_id": odoo.ids().deco_addict,
                "order_line": [[0, 0, {"product_id": odoo.ids().pedal_bin, "product_uom_qty": 1, "price_unit": 12.5}]]}]),
            json!({}),
        )
        .await;
    let line = rpc
        .call(
            "sale.order.line",
            "search_read",
            json!([[["order_id", "=", created]]]),
            json!({"fields": ["price_unit"]}),
        )
        .await;
    assert_eq!(line[0]["price_unit"], 12.5);
}

#[tokio::test]
async fn carrier_tracking_ref_exists_only_with_the_delivery_module() {
    let without = FakeOdoo::start(FakeOdooOptions::default()).await;
    let rpc = Rpc::new(&without);
    let picking = without.ids().deliveries[0].picking_id;
    let error = rpc
        .fail(
            "stock.picking",
            "read",
            json!([[picking]]),
            json!({"fields": ["name", "carrier_tracking_ref"]}),
        )
        .await;
    assert_eq!(error["name"], "builtins.ValueError", "{error}");
    assert!(error["message"].as_str().unwrap().contains("carrier_tracking_ref"));
    let error = rpc
        .fail(
            "stock.picking",
            "search_read",
            json!([[["carrier_tracking_ref", "=", "1Z"]]]),
            json!({"fields": ["name"]}),
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Invalid field stock.picking.carrier_tracking_ref"),
        "{error}"
    );
    let all = rpc.call("stock.picking", "read", json!([[picking]]), json!({})).await;
    assert!(all[0].get("carrier_tracking_ref").is_none(), "not among all fields");
    let described = rpc.call("stock.picking", "fields_get", json!([]), json!({})).await;
    assert!(described.get("carrier_tracking_ref").is_none() && described.get("origin").is_some());

    let with = FakeOdoo::start(FakeOdooOptions {
        delivery_module: true,
        ..FakeOdooOptions::default()
    })
    .await;
    let rpc = Rpc::new(&with);
    let picking = with.ids().deliveries[0].picking_id;
    rpc.call(
        "stock.picking",
        "write",
        json!([[picking], {"carrier_tracking_ref": "1Z999AA10123456784"}]),
        json!({}),
    )
    .await;
    let found = rpc
        .call(
            "stock.picking",
            "search_read",
            json!([[["carrier_tracking_ref", "=", "1Z999AA10123456784"]]]),
            json!({"fields": ["carrier_tracking_ref"]}),
        )
        .await;
    assert_eq!(
        found,
        json!([{"id": picking, "carrier_tracking_ref": "1Z999AA10123456784"}])
    );
}

#[tokio::test]
async fn add_return_opens_a_return_of_a_fresh_delivery_tagged_as_asked() {
    let odoo = FakeOdoo::start(FakeOdooOptions {
        delivery_module: true,
        ..FakeOdooOptions::default()
    })
    .await;
    let rpc = Rpc::new(&odoo);
    let spec = ReturnSpec {
        rma: Some("RMA-1".into()),
        client_order_ref: Some("PO-9".into()),
        return_tracking: Some("1Z999AA10123456784".into()),
        delivery_tracking: Some("9400111201080805483016".into()),
    };
    let made = odoo
        .add_return(odoo.ids().azure_interior, &[(odoo.ids().pedal_bin, 1.0)], &spec)
        .unwrap();
    let read = rpc
        .call(
            "stock.picking",
            "read",
            json!([[made.picking_id]]),
            json!({"fields": ["origin", "state", "picking_type_code", "return_id", "sale_id", "carrier_tracking_ref"]}),
        )
        .await;
    let picking = &read[0];
    assert_eq!(picking["origin"], "RMA-1");
    assert_eq!(picking["picking_type_code"], "incoming");
    assert!(
        !matches!(picking["state"].as_str(), Some("done" | "cancel")),
        "{picking}"
    );
    assert_eq!(picking["return_id"][0], made.delivery.picking_id);
    assert_eq!(picking["sale_id"][0], made.delivery.sale_order_id);
    assert_eq!(picking["carrier_tracking_ref"], "1Z999AA10123456784");
    let order: Value = rpc
        .call(
            "sale.order",
            "read",
            json!([[made.delivery.sale_order_id]]),
            json!({"fields": ["client_order_ref"]}),
        )
        .await;
    assert_eq!(order[0]["client_order_ref"], "PO-9");
}

//! The JSON-2 API of the fake (Odoo 19): bearer keys, named parameters, real HTTP statuses and
//! the `{name, message, arguments, context, debug}` error body, on the same model code as
//! JSON-RPC — so a whole return can be received through it.

use returns_edge_fakes::odoo::{FakeOdoo, FakeOdooOptions, OdooVersion};
use serde_json::{json, Value};

struct Json2 {
    client: reqwest::Client,
    url: String,
    key: String,
}

impl Json2 {
    fn new(odoo: &FakeOdoo) -> Json2 {
        Json2 {
            client: reqwest::Client::new(),
            url: odoo.url(),
            key: odoo.api_key().to_owned(),
        }
    }

    async fn post(&self, model: &str, method: &str, body: Value) -> (u16, Value) {
        let answer = self
            .client
            .post(format!("{}/json/2/{model}/{method}", self.url))
            .header("Authorization", format!("bearer {}", self.key))
            .header("X-Odoo-Database", "returns_lab")
            .json(&body)
            .send()
            .await
            .expect("answer");
        let status = answer.status().as_u16();
        (status, answer.json().await.expect("json body"))
    }
}

async fn odoo19() -> FakeOdoo {
    FakeOdoo::start(FakeOdooOptions {
        version: OdooVersion::V19,
        ..FakeOdooOptions::default()
    })
    .await
}

#[tokio::test]
async fn named_parameters_and_plain_results() {
    let odoo = odoo19().await;
    let api = Json2::new(&odoo);
    let (status, found) = api
        .post(
            "stock.location",
            "search_read",
            json!({"domain": [["barcode", "=", "WH-RETURNS"]], "fields": ["complete_name"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(found, json!([{"id": 34, "complete_name": "WH/Returns"}]));
    let (status, ids) = api
        .post(
            "res.partner",
            "create",
            json!({"vals_list": [{"name": "Return Co"}, {"name": "Return Co 2"}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ids.as_array().map(Vec::len), Some(2));
    let (status, written) = api
        .post("res.partner", "write", json!({"ids": ids, "vals": {"city": "Gent"}}))
        .await;
    assert_eq!((status, written), (200, json!(true)));
}

#[tokio::test]
async fn errors_have_real_statuses_and_the_odoo_error_body() {
    let odoo = odoo19().await;
    let api = Json2::new(&odoo);
    let cases = [
        ("no.such.model", "search", json!({}), 404, "odoo.exceptions.UserError"),
        (
            "stock.picking",
            "does_not_exist",
            json!({"ids": [1]}),
            404,
            "builtins.AttributeError",
        ),
        (
            "stock.picking",
            "_action_done",
            json!({"ids": [1]}),
            403,
            "odoo.exceptions.AccessError",
        ),
        (
            "stock.picking",
            "write",
            json!({"ids": [99999999], "vals": {"origin": "x"}}),
            404,
            "odoo.exceptions.MissingError",
        ),
        (
            "stock.picking",
            "read",
            json!({"ids": [1], "fields": ["nope"]}),
            500,
            "builtins.ValueError",
        ),
        (
            "product.product",
            "write",
            json!({"ids": [18], "vals": {"barcode": "4006381333931"}}),
            422,
            "odoo.exceptions.ValidationError",
        ),
    ];
    for (model, method, body, want_status, want_name) in cases {
        let (status, error) = api.post(model, method, body).await;
        assert_eq!(
            (status, error["name"].as_str()),
            (want_status, Some(want_name)),
            "{model}.{method}: {error}"
        );
        assert!(error["message"].is_string() && error["arguments"].is_array() && error["debug"].is_string());
        assert_eq!(error["context"], json!({}));
    }
}

#[tokio::test]
async fn a_bad_key_is_401_and_another_database_is_404() {
    let odoo = odoo19().await;
    let api = Json2 {
        key: "wrong".into(),
        ..Json2::new(&odoo)
    };
    let (status, error) = api.post("res.partner", "search", json!({})).await;
    assert_eq!(
        (status, error["name"].as_str()),
        (401, Some("odoo.exceptions.AccessDenied"))
    );
    let answer = reqwest::Client::new()
        .post(format!("{}/json/2/res.partner/search", odoo.url()))
        .bearer_auth(odoo.api_key())
        .header("X-Odoo-Database", "other")
        .json(&json!({}))
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 404);
}

#[tokio::test]
async fn odoo_17_has_no_json2() {
    let odoo = FakeOdoo::start(FakeOdooOptions::default()).await;
    let (status, _) = {
        let answer = reqwest::Client::new()
            .post(format!("{}/json/2/res.partner/search", odoo.url()))
            .bearer_auth(odoo.api_key())
            .json(&json!({}))
            .send()
            .await
            .expect("answer");
        (answer.status().as_u16(), ())
    };
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_partial_return_is_received_through_json2_with_the_same_wizards() {
    let odoo = odoo19().await;
    let api = Json2::new(&odoo);
    let delivery = odoo.ids().deliveries[0].picking_id;
    let ctx = json!({"active_id": delivery, "active_ids": [delivery], "active_model": "stock.picking"});
    let (_, wizard) = api
        .post(
            "stock.return.picking",
            "create",
            json!({"vals_list": [{}], "context": ctx}),
        )
        .await;
    let wizard = wizard[0].clone();
    api.post(
        "stock.return.picking",
        "write",
        json!({"ids": [wizard], "vals": {"location_id": 34}}),
    )
    .await;
    let (status, action) = api
        .post(
            "stock.return.picking",
            "create_returns",
            json!({"ids": [wizard], "context": ctx}),
        )
        .await;
    assert_eq!(status, 200);
    let picking = action["res_id"].clone();
    let (_, moves) = api
        .post(
            "stock.move",
            "search_read",
            json!({"domain": [["picking_id", "=", picking]], "fields": ["product_uom_qty"]}),
        )
        .await;
    let first = moves[0]["id"].clone();
    api.post(
        "stock.move",
        "write",
        json!({"ids": [first], "vals": {"quantity": 1, "picked": true}}),
    )
    .await;
    let (_, action) = api
        .post("stock.picking", "button_validate", json!({"ids": [picking]}))
        .await;
    assert_eq!(action["res_model"], "stock.backorder.confirmation");
    let ctx = action["context"].clone();
    let (_, confirm) = api
        .post(
            "stock.backorder.confirmation",
            "create",
            json!({"vals_list": [{}], "context": ctx}),
        )
        .await;
    let (status, done) = api
        .post(
            "stock.backorder.confirmation",
            "process",
            json!({"ids": confirm, "context": ctx}),
        )
        .await;
    assert_eq!((status, done), (200, json!(true)));
    let (_, pickings) = api
        .post(
            "stock.picking",
            "search_read",
            json!({"domain": [["backorder_id", "=", picking]], "fields": ["state", "origin"]}),
        )
        .await;
    assert_eq!(pickings.as_array().map(Vec::len), Some(1));
    assert_eq!(pickings[0]["state"], "assigned");
    assert_eq!(odoo.quant(odoo.ids().large_cabinet, 34), 1.0);
}
